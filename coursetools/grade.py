"""``python -m coursetools grade``: sandboxed, parallel, tamper-proof autograding on nbgrader.

Threat model. A submission is hostile code. It may patch anything in its own kernel (numpy,
builtins, IPython input transformers and hooks), read any file it can reach, write or delete
files, kill processes, fork without end, fill memory, disk or the output, open connections, hang,
or be a broken file (invalid JSON, nbformat 3, missing, renamed or extra notebooks, deleted or
edited test cells). It must not be able to: raise its own score above what its functions earn, see
the source notebook, the gradebook or other students' files, change anyone's grade, stop the run,
or put solutions or hidden tests into what students get back. The instructor's files and this
process are trusted; the machine's kernel and bubblewrap are assumed sound.

Design.
* Isolation (:mod:`coursetools.sandbox`): each submission's kernel runs jailed in bubblewrap as an
  unprivileged uid, with no network, rlimits, and a private size-capped tmpfs as its only writable
  folder (its copy of the notebook's folder, its IPC sockets). The source, the gradebook and every
  other submission are simply not in its file system, and its PID namespace hides every process.
* Judgement (:mod:`coursetools.judge`): the student's kernel runs the student's notebook, test cells
  excepted; each test cell, taken from the source notebook by grade id (so deleted or edited tests
  come back as written), runs in this trusted worker process, next to the source notebook's own
  helper cells (executed here from the source, never the submission). The student's functions are
  remote: arguments go to the kernel as data (numbers, arrays, numpy Generators by state, nnlib's
  NERWindows/WindowScorer/MLP by value), the raw results come back as data (no pickle, no code),
  the final contents of array and Generator arguments are written back in place, and a test's own
  function passed as an argument is called back here over the kernel's stdin channel. The
  comparison with ``nnlib`` happens here, with untouched numpy and builtins. A tampered kernel can
  only make its own functions return something, which is what a wrong answer does anyway.
* Failures: anything that goes wrong with one submission (unreadable notebook, kernel death,
  timeout, a result the grader cannot check, a forbidden ``nnlib`` import in a cell marked
  ``# nnlib: forbidden``) makes that submission "needs manual grading: <reason>"; its test cells
  then score nothing automatically, and the run goes on.
* Parallelism: workers (one BLAS thread each, one jail uid each, forked after the heavy imports)
  grade submissions and return results; only the parent writes autograded notebooks and the
  gradebook, in a fixed order, so the grades equal a sequential run's. Outputs are capped by bytes
  and lines per cell and per notebook.
* Feedback: once every grade is written, the same workers run nbgrader's ``GenerateFeedback``
  converter, one student each (they only read the gradebook); ``ClearHiddenTests`` is always among
  its preprocessors, and the tracebacks the judge writes hold only the exception and its message.
  Grades go to ``grades.csv`` with a status column.
"""

import copy
import csv
import glob
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from . import judge, notebooks, release, sandbox
from .execute import kernel_env

MAX_CELL_BYTES = 64 << 10
MAX_CELL_LINES = 1000
MAX_NOTEBOOK_BYTES = 2 << 20
STATUS_FILE = "coursetools-status.json"
GRADED = "graded"


class GradeError(RuntimeError):
    """The grading run cannot start: bad course folder, unknown assignment, no sandbox."""


class ManualGrading(Exception):
    """This submission needs a human; the message is the reason."""


# ---------------------------------------------------------------------------- the source


@dataclass
class SourceNotebook:
    name: str
    nb: dict
    tests: dict = field(default_factory=dict)      # grade id -> test cell
    answers: dict = field(default_factory=dict)    # grade id -> answer cell
    prelude: judge.Prelude = field(default_factory=judge.Prelude)  # imports, helper cells, answer names


def load_source(course, assignment):
    folder = Path(course) / "solutions" / assignment
    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        raise GradeError(f"no source notebooks in {folder}")
    out = []
    for path in paths:
        nb = notebooks.read(path)
        src = SourceNotebook(path.stem, nb)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                src.tests[meta["grade_id"]] = cell
            elif meta.get("solution"):
                src.answers[meta["grade_id"]] = cell
        src.prelude = judge.trusted_prelude(nb)
        out.append(src)
    return out


# ---------------------------------------------------------------------------- one submission


def read_submission(path):
    try:
        text = path.read_text(encoding="utf-8")
        version = json.loads(text).get("nbformat")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise ManualGrading(f"{path.name} is not a valid notebook (invalid JSON: {exc})") from None
    if version != 4:
        raise ManualGrading(f"{path.name} is in nbformat {version}; only nbformat 4 is graded")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several unrelated types for a corrupt notebook
        raise ManualGrading(f"{path.name} is not a valid notebook: {str(exc)[:300]}") from None
    return nb


def restore_graded_cells(nb, src):
    """The submission with the source's test cells (by grade id, deleted ones re-added in place)
    and the source's metadata on its answer cells; other nbgrader metadata is dropped."""
    known = {**src.answers, **src.tests}
    seen, cells = set(), []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell.metadata.pop("nbgrader", None)
        if gid in known and gid not in seen and cell.cell_type == known[gid].cell_type:
            seen.add(gid)
            if gid in src.tests:
                cell = copy.deepcopy(src.tests[gid])
            cell.metadata["nbgrader"] = copy.deepcopy(known[gid].metadata["nbgrader"])
        cells.append(cell)
    order = [c.metadata["nbgrader"]["grade_id"] for c in src.nb.cells if "nbgrader" in c.metadata]
    for i, gid in enumerate(order):
        if gid in seen or gid not in src.tests:
            continue
        before = set(order[:i])
        at = max((k + 1 for k, c in enumerate(cells)
                  if c.metadata.get("nbgrader", {}).get("grade_id") in before), default=len(cells))
        cells.insert(at, copy.deepcopy(src.tests[gid]))
        seen.add(gid)
    nb.cells = cells
    return nb


def forbidden_reasons(nb, src):
    reasons = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in src.answers and judge.forbids_nnlib(src.answers[gid].source):
            found = judge.forbidden_imports(cell.source)
            if found:
                reasons.append(f"imports nnlib in {gid} ({'; '.join(found[:3])})")
    return reasons


def cap_outputs(nb):
    """Trim every cell's outputs to the per-cell budget, and the notebook to its own."""
    budget = MAX_NOTEBOOK_BYTES
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept, used = [], 0
        for out in cell.outputs:
            size = len(json.dumps(out))
            if out.get("output_type") == "stream":
                out["text"] = _trim_text(out["text"])
                size = len(json.dumps(out))
            if used + size > min(MAX_CELL_BYTES, budget) and out.get("output_type") != "error":
                kept.append(nbformat.v4.new_output("stream", name="stdout",
                                                   text=f"[output of {size} bytes removed by the grader]\n"))
                continue
            kept.append(out)
            used += size
        cell.outputs = [nbformat.from_dict(o) for o in kept]
        budget = max(0, budget - used)
    return nb


def _trim_text(text):
    if len(text) > MAX_CELL_BYTES:
        cut = len(text) - MAX_CELL_BYTES
        text = text[:MAX_CELL_BYTES] + f"\n[... {cut} more characters cut by the grader]\n"
    lines = text.splitlines(keepends=True)
    if len(lines) > MAX_CELL_LINES:
        text = "".join(lines[:MAX_CELL_LINES]) + f"[... {len(lines) - MAX_CELL_LINES} more lines cut]\n"
    return text


class SandboxedKernelManager:
    """Factory for a jupyter kernel manager whose kernel starts in the jail (see :mod:`sandbox`)."""

    @staticmethod
    def create(private, uid, jailed):
        from jupyter_client.manager import AsyncKernelManager

        class Manager(AsyncKernelManager):
            def format_kernel_cmd(self, extra_arguments=None):
                cmd = super().format_kernel_cmd(extra_arguments)
                if not jailed:
                    return cmd
                os.chown(self.connection_file, uid, uid)  # the jailed uid must read its ports
                return sandbox.wrap(cmd, private, uid)

        # IPC sockets in the kernel's own folder: no TCP port, and no path shared with another kernel.
        return Manager(kernel_name="python3", transport="ipc", ip=str(private / "kernel-ipc"),
                       connection_file=str(private / "kernel.json"))


def execute(nb, src, private, uid, jailed, timeout):
    """Run the student's cells in a jailed kernel and judge the test cells here; return scores."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    config = release.nbgrader_config()
    client = NotebookClient(nb, timeout=timeout, startup_timeout=60, kernel_name="python3",
                            allow_errors=True, skip_cells_with_tag=config.Execute.skip_cells_with_tag,
                            km=SandboxedKernelManager.create(private, uid, jailed),
                            extra_arguments=list(config.Execute.extra_arguments),
                            resources={"metadata": {"path": str(private)}})
    scores, manual = {}, []

    def scratch(code):
        # nbclient stores an executed cell back at its index: run grader cells in a notebook of their own.
        client.nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        try:
            return client.execute_cell(client.nb.cells[0], 0, store_history=False).outputs
        finally:
            client.nb = nb

    def call(name, request, answer):
        # Straight through the kernel client: a call may ask back for the grader's functions (stdin).
        code = f"_cg_call({name!r}, {request!r})"
        return judge.parse_reply(judge.kernel_call(client, code, timeout, answer))

    verdicts = judge.Judge(src.prelude, call)

    try:
        with client.setup_kernel(env=kernel_env(), cwd=str(private)):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if gid not in src.tests:
                    client.execute_cell(cell, index)
                    continue
                scratch(judge.CODEC)
                outputs, passed, limit = verdicts.run_test(cell.source)
                cell.outputs = [nbformat.from_dict(o) for o in outputs]
                scores[gid] = float(cell.metadata.nbgrader["points"]) if passed else 0.0
                if limit:
                    manual.append(f"{gid}: {limit}")
    except CellTimeoutError:
        raise ManualGrading(f"a cell ran longer than the {timeout} s limit") from None
    except DeadKernelError:
        raise ManualGrading("the kernel died (killed, out of memory or over a limit)") from None
    if manual:
        raise ManualGrading("; ".join(manual))
    return scores


def expected_notebooks(folder, sources):
    found = sorted(p.name for p in folder.glob("*.ipynb")) if folder.is_dir() else []
    wanted = [f"{s.name}.ipynb" for s in sources]
    missing = [n for n in wanted if n not in found]
    extra = [n for n in found if n not in wanted]
    if missing:
        raise ManualGrading(f"missing notebook {', '.join(missing)}"
                            + (f" (found {', '.join(extra)} instead)" if extra else ""))
    if extra:
        raise ManualGrading(f"extra notebook {', '.join(extra)} next to the assignment's")


def grade_submission(course, assignment, student, timeout=120, jailed=True, uid=sandbox.BASE_UID):
    """Grade one student's assignment; never raises for a problem of the submission itself."""
    sources = load_source(course, assignment)
    folder = Path(course) / "submitted" / student / assignment
    result = {"student": student, "status": GRADED, "notebooks": {}}
    try:
        expected_notebooks(folder, sources)
        for src in sources:
            result["notebooks"][src.name] = grade_notebook(folder, src, timeout, jailed, uid)
    except ManualGrading as exc:
        result["status"] = f"needs manual grading: {exc}"
    except Exception as exc:  # a grader bug must not stop the class either
        result["status"] = f"needs manual grading: grader error {type(exc).__name__}: {str(exc)[:300]}"
    if result["status"] != GRADED:
        result["notebooks"] = {name: {**entry, "scores": {}} for name, entry in result["notebooks"].items()}
    return result


def grade_notebook(folder, src, timeout, jailed, uid):
    nb = restore_graded_cells(read_submission(folder / f"{src.name}.ipynb"), src)
    reasons = forbidden_reasons(nb, src)
    if reasons:
        raise ManualGrading("; ".join(reasons))
    private = sandbox.PrivateDir(uid) if jailed else None
    workdir = private.path if jailed else Path(tempfile.mkdtemp(prefix="coursetools-grade-"))
    try:
        # The student's own files beside the notebook, never the notebook folder itself.
        for item in folder.iterdir():
            if item.is_file() and item.suffix != ".ipynb" and item.stat().st_size < (8 << 20):
                shutil.copy(item, workdir / item.name)
        if jailed:
            sandbox.seed_caches(workdir)
            for item in workdir.iterdir():
                os.chown(item, uid, uid)
        scores = execute(nb, src, workdir, uid, jailed, timeout)
    finally:
        if jailed:
            sandbox.kill_uid(uid)
            private.close()
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return {"nb": notebooks.dumps(cap_outputs(nb)), "scores": scores}


# ---------------------------------------------------------------------------- the run


_uid = None


def _init_worker():
    global _uid
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # One uid per worker, so that one student's fork bomb cannot take another's process quota.
    _uid = sandbox.claim_uid()


def _grade_in_worker(course, assignment, student, timeout, jailed):
    return grade_submission(course, assignment, student, timeout, jailed, _uid)


def _preload():
    """Import what the workers need once, here, before they fork, rather than once in each of them."""
    import nbclient  # noqa: F401
    import nbgrader.api  # noqa: F401
    import nbgrader.converters  # noqa: F401
    from jupyter_client import manager  # noqa: F401


def grade_all(course, assignment, students=None, jobs=None, timeout=120, jailed=True, progress=True,
              feedback=False):
    """Grade ``students`` (default: every folder of ``submitted/``); return {student: status}.

    With ``feedback``, the same workers then write each student's feedback, once every grade is in
    the gradebook (feedback reads the gradebook; only this process writes it).
    """
    course = Path(course).resolve()
    if not (course / "solutions" / assignment).is_dir():
        raise GradeError(f"{course}: no assignment {assignment!r} in solutions/")
    if not (course / "gradebook.db").exists():
        raise GradeError(f"{course}: no gradebook.db; run `nbgrader generate_assignment {assignment}` first")
    if jailed:
        sandbox.check()
    submitted = course / "submitted"
    students = sorted(students or (p.name for p in submitted.iterdir() if (p / assignment).is_dir()))
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(students) or 1))
    _preload()
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                             initializer=_init_worker) as pool:
        results = _in_workers(pool, _grade_in_worker, students, (str(course), assignment),
                              (timeout, jailed), "grading", progress)
        for student, result in results.items():
            if isinstance(result, Exception):
                results[student] = {"student": student, "notebooks": {},
                                    "status": f"needs manual grading: worker failed ({result})"}
        with gradebook(course) as gb:  # one writer, in a fixed order
            for student in students:
                record(gb, course, assignment, results[student])
        if feedback:
            with_notebooks = [s for s in students if results[s]["notebooks"]]
            failed = _in_workers(pool, write_feedback, with_notebooks, (str(course), assignment), (),
                                 "feedback", progress)
            errors = [f"{s}: {e}" for s, e in failed.items() if e is not None]
            if errors:
                raise GradeError("feedback failed for " + "; ".join(errors))
    return {s: results[s]["status"] for s in students}


def _in_workers(pool, function, students, before, after, desc, progress):
    """{student: function(*before, student, *after)} from the pool, or the exception it raised."""
    from concurrent.futures import as_completed

    from tqdm import tqdm

    futures = {pool.submit(function, *before, s, *after): s for s in students}
    out = {}
    for future in tqdm(as_completed(futures), total=len(futures), desc=desc, unit="student",
                       disable=not progress, file=sys.stderr):
        try:
            out[futures[future]] = future.result()
        except Exception as exc:
            out[futures[future]] = exc
    return out


def gradebook(course):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}",
                     course_id=release.nbgrader_config().CourseDirectory.course_id)


def record(gb, course, assignment, result):
    """Write one student's autograded notebooks, status and scores (``gb``: the open gradebook)."""
    student = result["student"]
    out_dir = Path(course) / "autograded" / student / assignment
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    for name, entry in result["notebooks"].items():
        if "nb" in entry:
            (out_dir / f"{name}.ipynb").write_text(entry["nb"], encoding="utf-8")
    (out_dir / STATUS_FILE).write_text(json.dumps({"status": result["status"]}, ensure_ascii=False),
                                       encoding="utf-8")
    graded = result["status"] == GRADED
    gb.update_or_create_student(student)
    submission = gb.update_or_create_submission(assignment, student)
    for notebook in submission.notebooks:
        scores = result["notebooks"].get(notebook.name, {}).get("scores", {})
        for grade in notebook.grades:
            grade.auto_score = scores.get(grade.name) if graded else None
            grade.needs_manual_grade = grade.auto_score is None
    gb.db.commit()


def status_of(course, assignment, student):
    path = Path(course) / "autograded" / student / assignment / STATUS_FILE
    return json.loads(path.read_text(encoding="utf-8"))["status"] if path.exists() else "not graded"


def export_csv(course, path=None):
    """grades.csv: one row per student × assignment, with the grading status."""
    path = Path(path or Path(course) / "grades.csv")
    with gradebook(course) as gb, path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["assignment", "student_id", "score", "max_score", "status"])
        for assignment in gb.assignments:
            for student in gb.students:
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except Exception:  # nbgrader raises MissingEntry: no submission
                    writer.writerow([assignment.name, student.id, 0.0, assignment.max_score, "no submission"])
                    continue
                writer.writerow([assignment.name, student.id, sub.score, assignment.max_score,
                                 status_of(course, assignment.name, student.id)])
    return path


def write_feedback(course, assignment, student):
    """nbgrader's feedback for one student's autograded notebooks; None, or why it failed."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import ClearHiddenTests

    config = release.nbgrader_config(course) if (Path(course) / "nbgrader_config.py").exists() else Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = glob.escape(student)  # nbgrader globs for it
    config.BaseConverter.force = True
    converter = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)
    # The autograded test cells are the source's, hidden tests included: whatever the course's
    # configuration says, they never reach the student.
    steps = [import_item(p) if isinstance(p, str) else p for p in converter.preprocessors]
    converter.preprocessors = steps + ([] if ClearHiddenTests in steps else [ClearHiddenTests])
    try:
        converter.start()
    except Exception as exc:  # nbgrader raises NbGraderException and logs the details
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return None


def main(args):
    course = Path(args.course).resolve()
    try:
        statuses = grade_all(course, args.assignment, args.students, args.jobs, args.timeout,
                             jailed=not args.no_sandbox, feedback=not args.grades_only)
    except (GradeError, sandbox.SandboxError) as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    manual = {s: st for s, st in statuses.items() if st != GRADED}
    for student, status in manual.items():
        print(f"{student}: {status}")
    done = f"graded {len(statuses) - len(manual)} of {len(statuses)} submissions automatically"
    if args.grades_only:
        print(f"{done}; grades in {course / 'gradebook.db'} (no feedback, no CSV: --grades-only)")
    else:
        print(f"{done}; grades in {export_csv(course)}, feedback in {course / 'feedback'}")
    return 0
