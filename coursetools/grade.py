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
  come back as written), runs in this trusted worker process. The student's functions are remote:
  arguments go to the kernel as data, the raw results come back as data (no pickle), and the
  comparison with ``nnlib`` happens here, with untouched numpy and builtins. A tampered kernel can
  only make its own functions return something, which is what a wrong answer does anyway.
* Failures: anything that goes wrong with one submission (unreadable notebook, kernel death,
  timeout, a result the grader cannot check, a forbidden ``nnlib`` import in a cell marked
  ``# nnlib: forbidden``) makes that submission "needs manual grading: <reason>"; its test cells
  then score nothing automatically, and the run goes on.
* Parallelism: workers (one BLAS thread each) grade submissions and return results; only the parent
  writes autograded notebooks and the gradebook, in a fixed order, so the grades equal a sequential
  run's. Outputs are capped by bytes and lines per cell and per notebook.
* Feedback comes from nbgrader's ``generate_feedback`` (hidden tests cleared; the tracebacks the
  judge writes hold only the exception and its message), grades go to ``grades.csv`` with a status
  column.
"""

import copy
import csv
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
    prelude: str = ""


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
        plain = [c.source for c in nb.cells if c.cell_type == "code" and "nbgrader" not in c.metadata]
        src.prelude = judge.import_prelude(plain)
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

    def call(name, request):
        return judge.parse_reply(scratch(f"_cg_call({name!r}, {request!r})"))

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
                outputs, passed, limit = judge.run_test(cell.source, src.prelude, call)
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


_slots = None


def _init_worker(slots):
    global _slots
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    _slots = slots.get()


def _grade_in_worker(course, assignment, student, timeout, jailed):
    return grade_submission(course, assignment, student, timeout, jailed, sandbox.BASE_UID + 1 + _slots)


def grade_all(course, assignment, students=None, jobs=None, timeout=120, jailed=True, progress=True):
    """Grade ``students`` (default: every folder of ``submitted/``); return {student: status}."""
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
    ctx = multiprocessing.get_context("fork")
    slots = ctx.Queue()
    for slot in range(jobs):
        slots.put(slot)
    results = {}
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(slots,)) as pool:
        futures = {pool.submit(_grade_in_worker, str(course), assignment, s, timeout, jailed): s
                   for s in students}
        for future in _progress(futures, progress):
            student = futures[future]
            try:
                results[student] = future.result()
            except Exception as exc:
                results[student] = {"student": student, "notebooks": {},
                                    "status": f"needs manual grading: worker failed ({exc})"}
    for student in students:  # one writer, in a fixed order
        record(course, assignment, results[student])
    return {s: results[s]["status"] for s in students}


def _progress(futures, enabled):
    from concurrent.futures import as_completed

    from tqdm import tqdm

    return tqdm(as_completed(futures), total=len(futures), desc="grading", unit="student",
                disable=not enabled, file=sys.stderr)


def gradebook(course):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}",
                     course_id=release.nbgrader_config().CourseDirectory.course_id)


def record(course, assignment, result):
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
    with gradebook(course) as gb:
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


def feedback(course, assignment):
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force"],
                          cwd=course, env=kernel_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise GradeError(f"nbgrader generate_feedback failed:\n{proc.stderr[-2000:]}")


def main(args):
    course = Path(args.course).resolve()
    try:
        statuses = grade_all(course, args.assignment, args.students, args.jobs, args.timeout,
                             jailed=not args.no_sandbox)
        feedback(course, args.assignment)
    except (GradeError, sandbox.SandboxError) as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    path = export_csv(course)
    manual = {s: st for s, st in statuses.items() if st != GRADED}
    for student, status in manual.items():
        print(f"{student}: {status}")
    print(f"graded {len(statuses) - len(manual)} of {len(statuses)} submissions automatically; "
          f"grades in {path}, feedback in {course / 'feedback'}")
    return 0
