"""``python -m coursetools grade``: sandboxed, parallel, tamper-proof autograding on nbgrader.

Threat model. A submission is hostile code. It may patch anything in its own kernel (numpy,
builtins, IPython input transformers and hooks), read any file it can reach, write or delete
files, kill processes, fork without end, fill memory, disk or the output, open connections, hang,
or be a broken file (invalid JSON, nbformat 3, missing, renamed or extra notebooks, deleted or
edited test cells). It must not be able to: raise its own score above what its functions earn, see
the source notebook, the gradebook or other students' files, change anyone's grade, stop the run,
or put solutions or hidden tests into what students get back. The instructor's files and this
process are trusted; the machine's kernel and bubblewrap are assumed sound.

Stages. A run (:func:`grade_all`) goes through them in this order, each in a home of its own:
1. load the source once (:func:`load_source`: the source notebooks parsed, their test cells, answer
   cells, helper cells and clean-room plans, and the course's execute settings); forked workers
   inherit it, a Dask worker loads the source folder it is sent;
2. check and restore each submitted notebook: the ordered passes of :data:`passes.BEFORE_RUN`
   (read and validate, restore the source's test cells and metadata), the one home of the
   defences on the file itself; the words nbgrader and the course use for cells (roles, grade
   ids, markers, delimiters) are in :mod:`coursetools.vocabulary`;
3. run (:func:`grade_notebook`, :func:`execute`): the kernel in the worker's jail
   (:class:`sandbox.Jail`, or :class:`sandbox.NoJail` with ``--no-sandbox``), the clean room,
   the judge; then :data:`passes.AFTER_RUN` (outputs capped);
4. record (:func:`record`): one writer, in a fixed order: autograded notebooks, the
   :class:`outcome.Outcome` in the status file, scores and late penalties in the gradebook;
5. feedback and export (:func:`write_feedback`, :func:`write_page`, :func:`export_csv`,
   :func:`summary`).

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
* Integrity (:mod:`coursetools.cleanroom`): the functions of answers marked ``# nnlib: forbidden``
  are called not in the kernel but in a second jailed process, the clean room, built only from the
  submission's answer cells and the source's helper cells, where nnlib, autograd and coursetools do
  not exist; their points come from there. Any way the student's code reached for the reference (an
  import, a module or function or nnlib object from another cell, a rebinding or patch of the graded
  function after its answer cell, an open of the reference's files) is named in the manual reason.
* Failures: anything that goes wrong with one submission (unreadable notebook, kernel death,
  timeout, a result the grader cannot check, a route to the reference from an answer marked
  ``# nnlib: forbidden``, an unreadable ``timestamp.txt``) raises :class:`outcome.ManualGrading`,
  and the submission's :class:`outcome.Outcome` becomes "needs manual grading: <reason>"; its test
  cells then score nothing automatically (its scores stay empty in grades.csv, never 0), and the
  run goes on. :func:`grade_by_hand` (``grade-manual``) resolves it: the total goes
  into the gradebook as nbgrader manual scores, and later runs keep it rather than regrade it.
* Parallelism: workers (one BLAS thread each, one jail uid each, forked after the heavy imports)
  grade submissions and return results; only the parent writes autograded notebooks and the
  gradebook, in a fixed order, so the grades equal a sequential run's. Outputs are capped by bytes
  and lines per cell and per notebook.
* Feedback: once every grade is written, the same workers run nbgrader's ``GenerateFeedback``
  converter, one student each (they only read the gradebook); ``ClearHiddenTests`` is always among
  its preprocessors, and the tracebacks the judge writes hold only the exception and its message.
  A submission awaiting a human (or graded by hand) gets instead a page written here from its status
  alone (:func:`write_page`): the reason and what happens next, no notebook, so no test. Grades go
  to ``grades.csv``: timestamp, due date, raw score, late penalty, score, status, one column per test.
  The grader's own record of each submission's status lives in ``autograded/.coursetools/``.
* Deadlines: the submission's ``timestamp.txt`` is read as ``nbgrader autograde`` reads it, and the
  course's configured ``LateSubmissionPlugin`` sets each notebook's late penalty from the gradebook's
  due date and timestamp, with nbgrader's own clamping, once the scores are in: the penalties equal
  plain nbgrader's. A submission graded by hand (:func:`grade_by_hand`) gets the same rule.
* Quiet: kernels write to /dev/null (ipykernel's banner, and any student writing to fd 1), nbgrader's
  loggers report errors only, SQLAlchemy's warnings about nbgrader's schema are muted where the
  gradebook is open, and the run ends with one table (student, score, max, late penalty, status),
  the rows of ``grades.csv``.
"""

import contextlib
import csv
import glob
import html
import json
import logging
import multiprocessing
import multiprocessing.util
import os
import queue
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from . import cleanroom, database, judge, notebooks, passes, release, sandbox, vocabulary
from .execute import kernel_env
from .outcome import (
    BY_HAND,
    GRADED,
    GRADER_ERROR,
    NO_SUBMISSION,
    NOT_GRADED,
    WORKER_FAILED,
    ManualGrading,
    Outcome,
)

# The grader's record of each submission: autograded/.coursetools/<assignment>/<student>.json. nbgrader
# globs autograded/*/<assignment>, which skips dot-folders, so it is neither taken for a student nor
# copied into anyone's feedback/; and it is ignored by git with autograded/.
STATUS_DIR = ".coursetools"
# Files a student put beside a notebook up to this size are copied into the kernel's folder (data,
# timestamp.txt); larger ones are ignored, in a local run and on a Dask worker alike.
MAX_EXTRA_BYTES = 8 << 20
# nbgrader's converters and plugins log every step at info and warning level; a class of hundreds
# would drown the summary, which already reports what they warn about (late penalties).
NBGRADER_LOG = logging.getLogger("coursetools.grade.nbgrader")
NBGRADER_LOG.setLevel(logging.ERROR)


class GradeError(RuntimeError):
    """The grading run cannot start: bad course folder, unknown assignment, no sandbox."""


# ---------------------------------------------------------------------------- the source


@dataclass
class SourceNotebook:
    name: str
    nb: dict
    tests: dict = field(default_factory=dict)      # grade id -> test cell
    answers: dict = field(default_factory=dict)    # grade id -> answer cell
    prelude: judge.Prelude = field(default_factory=judge.Prelude)  # imports, helper cells, answer names
    room: judge.RoomPlan = field(default_factory=judge.RoomPlan)  # the clean room of forbidden answers


@dataclass(frozen=True)
class Source:
    """What every submission of one assignment is graded against, loaded once per run."""

    assignment: str
    notebooks: list          # of SourceNotebook, in file order
    settings: tuple          # the course's execute_settings


def load_source(course, assignment):
    """The assignment's source notebooks, parsed, and the course's settings for running them."""
    folder = Path(course) / "solutions" / assignment
    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        raise GradeError(f"no source notebooks in {folder}")
    out = []
    for path in paths:
        nb = notebooks.read(path)
        src = SourceNotebook(path.stem, nb)
        for cell in nb.cells:
            kind = vocabulary.role(cell)
            if kind == vocabulary.TEST:
                src.tests[vocabulary.grade_id(cell)] = cell
            elif kind == vocabulary.ANSWER:
                src.answers[vocabulary.grade_id(cell)] = cell
        src.prelude = judge.trusted_prelude(nb)
        src.room = judge.room_plan(nb)
        out.append(src)
    return Source(assignment, out, execute_settings(course))


# ---------------------------------------------------------------------------- one submission


class SandboxedKernelManager:
    """Factory for a jupyter kernel manager whose kernel ``jail`` starts (:meth:`sandbox.Jail.launch`)."""

    @staticmethod
    def create(private, jail):
        from jupyter_client.asynchronous import AsyncKernelClient
        from jupyter_client.connect import port_names
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_client.provisioning import LocalProvisioner

        class Provisioner(LocalProvisioner):
            async def launch_kernel(self, cmd, **kwargs):
                jail.give(self.parent.connection_file)  # the jailed uid must read its ports
                self.process = jail.launch(cmd, private, **LocalProvisioner._scrub_kwargs(kwargs))
                # An unjailed kernel leads a session of its own, signalled as a group as jupyter_client
                # does; a jailed one alone (the jail's cleanup kills the rest of its uid).
                self.pgid = self.process.pid if isinstance(self.process, subprocess.Popen) else None
                self.pid, self.cwd = self.process.pid, str(private)
                # A client that connects before the kernel has bound its sockets waits out zmq's
                # reconnect interval and a kernel_info round or two: connect once they exist.
                info = self.connection_info
                sockets = [Path(f"{info['ip']}-{info[name]}") for name in port_names]
                await _until(lambda: self.process.poll() is not None or all(p.exists() for p in sockets))
                return info

            async def kill(self, restart=False):
                await super().kill(restart)
                # jupyter_client then polls for the death every 0.1 s; it is seen at the first poll.
                await _until(lambda: self.process is None or self.process.poll() is not None)

        class Client(AsyncKernelClient):
            async def wait_for_ready(self, timeout=None):
                """jupyter_client's wait (a kernel_info reply, then one IOPub message to show that IOPub
                is connected) without its last step, which listens to IOPub until it has been silent
                for 0.2 s: every kernel start paid those 0.2 s, and nbclient, like the judge, reads
                only the messages of its own requests."""
                timeout = timeout or 60
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    self.kernel_info()
                    with contextlib.suppress(queue.Empty):
                        reply = await self.shell_channel.get_msg(timeout=1)
                        if reply["msg_type"] == "kernel_info_reply":
                            await self.iopub_channel.get_msg(timeout=0.2)
                            self._handle_kernel_info_reply(reply)
                            return
                    if not await self.is_alive():
                        raise RuntimeError("Kernel died before replying to kernel_info")
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

        class Manager(AsyncKernelManager):
            async def _async_pre_start_kernel(self, **kw):
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
                if self.provisioner is None:
                    self.provisioner = Provisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                   parent=self)
                return await super()._async_pre_start_kernel(**kw)

        # IPC sockets in the kernel's own folder: no TCP port, and no path shared with another kernel.
        return Manager(kernel_name="python3", transport="ipc", ip=str(private / "kernel-ipc"),
                       connection_file=str(private / "kernel.json"), client_factory=Client)


async def _until(condition, timeout=30.0, interval=0.002):
    """Return once ``condition()`` holds, or after ``timeout`` seconds (the caller's own checks follow)."""
    import asyncio

    for _ in range(int(timeout / interval)):
        if condition():
            return
        await asyncio.sleep(interval)


def execute_settings(course):
    """(skip_cells_with_tag, extra_arguments) of nbgrader's ``Execute``, as the course configures it."""
    from nbgrader.preprocessors import Execute

    settings = Execute(config=course_config(course))
    return settings.skip_cells_with_tag, list(settings.extra_arguments)


def execute(nb, src, private, jail, timeout, settings):
    """Run the student's cells in a kernel in ``jail`` and judge the test cells here; return scores.

    ``settings`` are the course's :func:`execute_settings`, as ``nbgrader autograde`` would apply them.

    The functions of forbidden answers are called in the clean room instead (see
    :mod:`coursetools.cleanroom`), which starts now, beside the kernel, in a folder of its own.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    skip_tag, extra_arguments = settings
    # Killed at the end rather than asked to shut down: nothing of its state is needed any more.
    client = NotebookClient(nb, timeout=timeout, startup_timeout=60, kernel_name="python3",
                            allow_errors=True, skip_cells_with_tag=skip_tag, shutdown_kernel="immediate",
                            km=SandboxedKernelManager.create(private, jail),
                            extra_arguments=extra_arguments,
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

    def query(code):
        """A JSON object the kernel computes with the wire module (``_cg_wire``), or None."""
        outputs = judge.kernel_call(client, f"{judge.KERNEL_SETUP}\n{code}", timeout, lambda _: "{}")
        return judge.parse_display(outputs)

    def fetch(name):
        reply = query(f"_cg_wire.kernel_display(_cg_wire.global_value(globals(), {name!r}))")
        return reply or {"missing": True}

    room = None
    helpers = list(src.room.helpers)

    def helpers_before(position):
        cells = [{"label": "helper", "code": code, "helper": True} for i, code in helpers if i < position]
        helpers[:] = [(i, code) for i, code in helpers if i >= position]
        return cells

    stack = contextlib.ExitStack()
    try:
        if src.room.answers:
            folder = stack.enter_context(jail.workdir())
            jail.prepare(folder)  # matplotlib's font list, for an answer cell that plots
            room = cleanroom.CleanRoom(folder, jail, fetch, timeout)
            stack.callback(room.close)
        verdicts = judge.Judge(src.prelude, call, room.call if room else None)
        # The kernel's own stdout and stderr (ipykernel's banner, a student's os.write(1, ...)) would
        # land in the grader's terminal: what the student prints reaches the notebook through IOPub.
        with client.setup_kernel(env=kernel_env(), cwd=str(private), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                gid = vocabulary.grade_id(cell)
                if gid not in src.tests:
                    client.execute_cell(cell, index)
                    if room is not None and gid in src.room.answers:
                        # The room runs the answer cell in the state the kernel ran it in.
                        position, graded = src.room.answers[gid]
                        scratch(f"{judge.KERNEL_SETUP}\n_cg_wire.record_bindings(globals(), {graded!r}, "
                                "_cg_wire.BINDINGS)")
                        answer = {"label": gid, "code": cell.source, "helper": False}
                        cells = [*helpers_before(position), answer]
                        manual += [f"{gid}: {route}" for route in room.load(cells, src.room.imports)]
                    continue
                scratch(judge.KERNEL_SETUP)
                if room is not None:
                    more = helpers_before(src.room.positions.get(gid, len(src.nb.cells)))
                    if more:
                        manual += [f"{gid}: {route}" for route in room.load(more, src.room.imports)]
                    moved = (query("_cg_wire.kernel_display({'rebound': _cg_wire.rebound(globals(), "
                                   "_cg_wire.BINDINGS)})") or {}).get("rebound") or []
                    for name in moved if isinstance(moved, list) else []:
                        reason = (f"{gid}: {str(name)[:60]} was rebound or patched after its answer cell "
                                  "(another cell replaced it)")
                        if reason.split(": ", 1)[1] not in " ".join(manual):
                            manual.append(reason)
                outputs, passed, limit = verdicts.run_test(cell.source)
                cell.outputs = [nbformat.from_dict(o) for o in outputs]
                scores[gid] = float(cell.metadata.nbgrader["points"]) if passed else 0.0
                if limit:
                    manual.append(f"{gid}: {limit}")
    except CellTimeoutError:
        raise ManualGrading(f"a cell ran longer than the {timeout} s limit") from None
    except DeadKernelError as exc:
        if "clean room" in str(exc):
            raise ManualGrading(str(exc)) from None
        raise ManualGrading("the kernel died (killed, out of memory or over a limit)") from None
    finally:
        stack.close()  # the room stops before its folder goes
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


def submission_timestamp(folder):
    """The time in ``timestamp.txt``, read as ``nbgrader autograde`` reads it: none if absent or empty."""
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8").strip()
        return parse_utc(text) if text else None
    except (ValueError, OverflowError) as exc:  # dateutil's ParserError and UnicodeDecodeError included
        raise ManualGrading(f"timestamp.txt is not a time nbgrader can read ({str(exc)[:120]})") from None


def grade_submission(course, student, source, timeout=120, jail=None):
    """Grade one student's assignment against the loaded ``source``; never raises for a problem of
    the submission itself. ``jail`` defaults to :class:`sandbox.Jail` with the base uid."""
    if jail is None:
        jail = sandbox.Jail(sandbox.BASE_UID)
        try:
            return grade_submission(course, student, source, timeout, jail)
        finally:
            jail.close()
    folder = Path(course) / "submitted" / student / source.assignment
    result = {"student": student, "outcome": Outcome(GRADED), "notebooks": {}, "timestamp": None}
    try:
        result["timestamp"] = submission_timestamp(folder)
        expected_notebooks(folder, source.notebooks)
        for src in source.notebooks:
            result["notebooks"][src.name] = grade_notebook(folder, src, timeout, jail, source.settings)
    except ManualGrading as exc:
        result["outcome"] = Outcome.manual(str(exc))
    except Exception as exc:  # a grader bug must not stop the class either
        result["outcome"] = Outcome.manual(f"{GRADER_ERROR} {type(exc).__name__}: {str(exc)[:300]}")
    if not result["outcome"].graded:
        result["notebooks"] = {name: {**entry, "scores": {}} for name, entry in result["notebooks"].items()}
    return result


def grade_notebook(folder, src, timeout, jail, settings):
    """Check and restore one notebook (:data:`passes.BEFORE_RUN`), run it in a fresh folder of
    ``jail``, bound what it printed (:data:`passes.AFTER_RUN`); its text and its scores."""
    nb = passes.apply(passes.BEFORE_RUN, folder / f"{src.name}.ipynb", src)
    with jail.workdir() as workdir:
        try:
            # The student's own files beside the notebook, never the notebook folder itself.
            for item in folder.iterdir():
                if item.is_file() and item.suffix != ".ipynb" and item.stat().st_size < MAX_EXTRA_BYTES:
                    shutil.copy(item, workdir / item.name)
            jail.prepare(workdir)
            scores = execute(nb, src, workdir, jail, timeout, settings)
        finally:
            jail.cleanup()
    return {"nb": notebooks.dumps(passes.apply(passes.AFTER_RUN, nb, src)), "scores": scores}


# ---------------------------------------------------------------------------- the run


# Each forked worker's jail and the run's source, set once by _init_worker.
_worker = {}


def _init_worker(jails, free, source):
    """Take one of the run's ``jails`` (its index from the queue ``free``) for this worker."""
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    _worker["jail"] = jails[free.get()]
    # A pool worker ends through multiprocessing's exit functions, not atexit: the fork server stops
    # and the spool is unmounted there.
    multiprocessing.util.Finalize(None, _worker["jail"].close, exitpriority=10)
    # Inherited through the fork, not pickled: the source is parsed once per run, not per student.
    _worker["source"] = source


def _grade_in_worker(course, student, timeout):
    return grade_submission(course, student, _worker["source"], timeout, _worker["jail"])


def _preload(feedback=False):
    """Import what the workers need once, here, before they fork, rather than once in each of them.

    Beyond the grading machinery: IPython (jupyter_client imports it to find the kernel's spec),
    numpy and pyplot (the imports of most chapters' preludes, which the judge runs here), and with
    ``feedback`` nbconvert's HTML exporter and what it renders with. About 1.5 s of CPU per worker.
    """
    import IPython  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import nbclient  # noqa: F401
    import nbgrader.api  # noqa: F401
    import nbgrader.converters  # noqa: F401
    import numpy  # noqa: F401
    from jupyter_client import manager  # noqa: F401

    if feedback:
        import bs4  # noqa: F401
        import nbconvert.exporters.html  # noqa: F401
        import nbconvert.filters.markdown_mistune  # noqa: F401
        import nbgrader.preprocessors  # noqa: F401
        import pygments.formatters.html  # noqa: F401
        import pygments.lexers.python  # noqa: F401

        from . import feedback as _  # noqa: F401


def check_course(course, assignment, db=None):
    """The resolved course folder; a GradeError naming what is missing if it cannot be graded.

    The gradebook is opened here, once, before anything else happens: an unreachable database, a
    bad URL or a missing driver stop the run before any student is graded.
    """
    course = Path(course).resolve()
    if not (course / "solutions" / assignment).is_dir():
        raise GradeError(f"{course}: no assignment {assignment!r} in solutions/")
    url, course_id = gradebook_url(course, db)
    hint = f"nbgrader generate_assignment {assignment}" + (f" --db {database.redact(url)}" if db else "")
    try:
        database.check(url, course_id, assignment, hint)
    except database.DatabaseError as exc:
        raise GradeError(f"{course}: {exc}") from None
    return course


def grade_all(course, assignment, students=None, jobs=None, timeout=120, jailed=True, progress=True,
              feedback=False, db=None, scheduler=None):
    """Grade ``students`` (default: every folder of ``submitted/``); return {student: status}.

    A submission graded by hand keeps that grade and is not run again (``grade_by_hand`` replaces it).
    With ``feedback``, the same workers then write each student's feedback, once every grade is in
    the gradebook (feedback reads the gradebook; only this process writes it); a submission that
    awaits a human gets a page saying why instead. ``db`` is the gradebook's database URL (default:
    the course's configuration, else its gradebook.db). With ``scheduler`` (a Dask scheduler's
    address) the submissions are graded on that cluster's workers (:mod:`coursetools.cluster`) and
    ``jobs`` local processes write the feedback; the gradebook is written here either way.
    """
    course = check_course(course, assignment, db)
    submitted = course / "submitted"
    if not submitted.is_dir():
        raise GradeError(f"{submitted}: no such folder; submissions go in submitted/<student>/{assignment}/")
    students = sorted(students or (p.name for p in submitted.iterdir() if (p / assignment).is_dir()))
    unknown = [s for s in students if not (submitted / s / assignment).is_dir()]
    if unknown:
        raise GradeError(f"no submission of {assignment} by {', '.join(unknown)} "
                         f"(expected {submitted / unknown[0] / assignment})")
    kept = {s: outcome for s in students if (outcome := outcome_of(course, assignment, s)).by_hand}
    todo = [s for s in students if s not in kept]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    with contextlib.ExitStack() as stack:
        # Started before this process's own imports and checks, which they overlap.
        jails = _worker_jails(stack, jobs, jailed, start=not scheduler)
        _preload(feedback)
        # Only local workers grade from it; a Dask worker loads the source folder it is sent.
        source = None if scheduler else load_source(course, assignment)
        remote = None
        if scheduler:
            from . import cluster

            try:  # the scheduler answers, has workers, and each runs this code and can jail a kernel
                remote = cluster.Remote(scheduler, jailed)
            except cluster.ClusterError as exc:
                raise GradeError(str(exc)) from None
        elif jailed:
            sandbox.check()
        if remote:
            with remote:
                results = remote.grade(course, assignment, todo, timeout, progress, course_config(course))
        # Forked after the Dask client (and its event-loop thread) has closed; in a Dask run it only
        # writes feedback.
        with _pool(jails, source) as pool:
            if not remote:
                results = _in_workers(pool, _grade_in_worker, todo, (str(course),), (timeout,), "grading",
                                      progress)
            for student, result in results.items():
                if isinstance(result, Exception):
                    results[student] = {"student": student, "notebooks": {}, "timestamp": None,
                                        "outcome": Outcome.manual(f"{WORKER_FAILED} ({result})")}
            late = LatePenalties(course)
            with gradebook(course, db) as gb:  # one writer, in a fixed order
                for student in todo:
                    record(gb, course, assignment, results[student], late)
            if feedback:
                _feedback(pool, course, assignment, todo, results, db, progress)
    return {s: (kept.get(s) or results[s]["outcome"]).text for s in students}


def _worker_jails(stack, jobs, jailed, start):
    """One jail per worker, closed with ``stack``; with ``start``, their fork servers start now.

    One uid per worker, so that one student's fork bomb cannot take another's process quota. The
    jails are made here and forked into the workers: each worker stops its own server when it ends,
    and this process, which started them, reaps them.
    """
    if jailed and start:
        sandbox.check_tools()  # its message, rather than a failed mount's
    jails = []
    for _ in range(jobs):
        jails.append(sandbox.Jail(sandbox.claim_uid()) if jailed else sandbox.NoJail())
        stack.callback(jails[-1].close)
        if start:
            jails[-1].start(kernel_env())
    return jails


def _pool(jails, source):
    """A pool of forked workers, one per jail (each takes its own, see :func:`_init_worker`)."""
    context = multiprocessing.get_context("fork")
    free = context.SimpleQueue()
    for index in range(len(jails)):
        free.put(index)
    return ProcessPoolExecutor(len(jails), mp_context=context, initializer=_init_worker,
                               initargs=(jails, free, source))


def _feedback(pool, course, assignment, todo, results, db, progress):
    """Each graded student's feedback written by the pool; a page saying why for the others."""
    graded = [s for s in todo if results[s]["outcome"].graded]
    failed = _in_workers(pool, write_feedback, graded, (str(course), assignment), (db,), "feedback",
                         progress)
    errors = [f"{s}: {e}" for s, e in failed.items() if e is not None]
    for student in todo:
        if not results[student]["outcome"].graded:
            write_page(course, assignment, student)
    if errors:
        raise GradeError("feedback failed for " + "; ".join(errors))


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


def course_config(course):
    """The course's nbgrader configuration (late-penalty plugin, feedback preprocessors...)."""
    return release.nbgrader_config(course) if (Path(course) / "nbgrader_config.py").exists() else Config()


def gradebook_url(course, db=None):
    """(database URL, course id) of the course's gradebook, as nbgrader's own commands there read them:
    ``db`` (``--db``), else ``CourseDirectory.db_url`` in the course's nbgrader_config.py, else
    ``sqlite:///<course>/gradebook.db``; the course id from the course's configuration."""
    directory = database.course_directory(Path(course).resolve(), course_config(course), db)
    return directory.db_url, directory.course_id


@contextlib.contextmanager
def gradebook(course, db=None):
    """The course's nbgrader gradebook (:func:`gradebook_url`), open, SQLAlchemy's schema warnings muted."""
    with database.open_gradebook(*gradebook_url(course, db)) as gb:
        yield gb


class LatePenalties:
    """nbgrader's late-penalty rule for submissions in an open gradebook.

    What autograde's ``AssignLatePenalties`` preprocessor does per notebook, with its configured
    plugin (``LateSubmissionPlugin`` or ``AssignLatePenalties.plugin_class``) and its clamping of the
    plugin's answer to [0, score]; only its per-notebook gradebook connection (over a second to
    open) is left out, in favour of the one the caller holds.
    """

    def __init__(self, course):
        from nbgrader.preprocessors import AssignLatePenalties

        self._pp = AssignLatePenalties(config=course_config(course), log=NBGRADER_LOG)
        self._pp.init_plugin()

    def assign(self, gb, submission, student):
        gb.db.commit()  # the scores and lateness the rule reads are SQL expressions over the saved rows
        for notebook in submission.notebooks:
            notebook.late_submission_penalty = None
            if submission.total_seconds_late > 0:
                penalty = self._pp.plugin_inst.late_submission_penalty(student, notebook.score,
                                                                       submission.total_seconds_late)
                if penalty is not None:
                    notebook.late_submission_penalty = self._pp._check_late_penalty(notebook, penalty)
        gb.db.commit()


def record(gb, course, assignment, result, late):
    """Write one student's autograded notebooks, status, timestamp, scores and late penalty."""
    student = result["student"]
    out_dir = Path(course) / "autograded" / student / assignment
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    for name, entry in result["notebooks"].items():
        if "nb" in entry:
            (out_dir / f"{name}.ipynb").write_text(entry["nb"], encoding="utf-8")
    write_status(course, assignment, student, {"status": result["outcome"].text})
    graded = result["outcome"].graded
    gb.update_or_create_student(student)
    # As autograde: without a timestamp.txt the gradebook keeps the timestamp it had.
    stamp = {"timestamp": result["timestamp"]} if result.get("timestamp") else {}
    submission = gb.update_or_create_submission(assignment, student, **stamp)
    for notebook in submission.notebooks:
        scores = result["notebooks"].get(notebook.name, {}).get("scores", {})
        for grade in notebook.grades:
            grade.auto_score = scores.get(grade.name) if graded else None
            grade.needs_manual_grade = grade.auto_score is None
    late.assign(gb, submission, student)


def status_path(course, assignment, student):
    return Path(course) / "autograded" / STATUS_DIR / assignment / f"{student}.json"


def read_status(course, assignment, student):
    """The grader's record of a submission: {"status": ...}, plus "by_hand" once resolved by hand."""
    path = status_path(course, assignment, student)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"status": NOT_GRADED}


def write_status(course, assignment, student, status):
    path = status_path(course, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(status, ensure_ascii=False), encoding="utf-8")


def outcome_of(course, assignment, student):
    return Outcome.parse(read_status(course, assignment, student)["status"])


# ---------------------------------------------------------------------------- what the run reports


COLUMNS = ["assignment", "student_id", "timestamp", "duedate", "raw_score", "late_penalty", "score",
           "max_score", "status"]


def cell_column(notebook, grade_id):
    return f"{notebook}:{grade_id}"


def cell_columns(gb):
    return [cell_column(nb.name, cell.name) for assignment in gb.assignments
            for nb in assignment.notebooks for cell in nb.grade_cells]


def grade_row(gb, course, assignment, student):
    """One submission as grades.csv and the summary show it: scores are left empty while it awaits a
    human, and the score is nbgrader export's (raw score less the late penalty, never below 0)."""
    from nbgrader.api import MissingEntry

    row = {"assignment": assignment.name, "student_id": student, "duedate": assignment.duedate or "",
           "max_score": assignment.max_score}
    try:
        sub = gb.find_submission(assignment.name, student)
    except MissingEntry:
        return {**row, "timestamp": "", "raw_score": 0.0, "late_penalty": 0.0, "score": 0.0,
                "status": NO_SUBMISSION}
    outcome = outcome_of(course, assignment.name, student)
    row.update(timestamp=sub.timestamp or "", status=outcome.text)
    if outcome.awaits_human:
        return row
    row.update(raw_score=sub.score, late_penalty=sub.late_submission_penalty,
               score=max(0.0, sub.score - sub.late_submission_penalty))
    # A hand grade is one total: how it is split over the cells is bookkeeping, not a test result.
    if not outcome.by_hand:
        row.update({cell_column(nb.name, g.name): g.score for nb in sub.notebooks for g in nb.grades})
    return row


def export_csv(course, path=None, db=None):
    """grades.csv: one row per student × assignment, with late penalty, status and per-test scores."""
    path = Path(path or Path(course) / "grades.csv")
    with gradebook(course, db) as gb, path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS + cell_columns(gb), restval="")
        writer.writeheader()
        for assignment in gb.assignments:
            for student in gb.students:
                writer.writerow(grade_row(gb, course, assignment, student.id))
    return path


def summary(course, assignment, students, db=None):
    """The run's table: student, score, max, late penalty, status (empty scores: awaiting a human)."""
    with gradebook(course, db) as gb:
        rows = [grade_row(gb, course, gb.find_assignment(assignment), s) for s in students]
    table = [["student", "score", "max", "late penalty", "status"]]
    table += [[r["student_id"], *(_number(r.get(k, "")) for k in ("score", "max_score", "late_penalty")),
               r["status"]] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(line, widths)), line[4]]).rstrip()
                     for line in table)


def _number(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------- feedback


def write_feedback(course, assignment, student, db=None):
    """nbgrader's feedback for one student's autograded notebooks; None, or why it failed.

    The converter's ``CourseDirectory.db_url`` is the run's database (``db``, else the course's), so
    its ``GetGrades`` step reads the scores this process wrote.
    """
    from nbgrader.converters import GenerateFeedback
    from nbgrader.preprocessors import ClearHiddenTests

    config = course_config(course)
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = glob.escape(student)  # nbgrader globs for it
    config.BaseConverter.force = True
    coursedir = database.course_directory(course, config, db, NBGRADER_LOG)
    converter = GenerateFeedback(coursedir=coursedir, config=config, log=NBGRADER_LOG)
    # The autograded test cells are the source's, hidden tests included: whatever the course's
    # configuration says, they never reach the student.
    steps = [import_item(p) if isinstance(p, str) else p for p in converter.preprocessors]
    converter.preprocessors = steps + ([] if ClearHiddenTests in steps else [ClearHiddenTests])
    try:
        converter.start()
    except Exception as exc:  # nbgrader raises NbGraderException and logs the details
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return None


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{assignment}: feedback for {student}</title></head>
<body>
<h1>{assignment}: feedback for {student}</h1>
<p><strong>{headline}</strong></p>
<p>{detail}</p>
<p>{next}</p>
</body></html>
"""


def write_page(course, assignment, student):
    """The feedback page of a submission nbgrader's feedback cannot describe: one awaiting a human, or
    one graded by hand. It says only what the status says (no notebook, so no test, hidden or not)."""
    status = read_status(course, assignment, student)
    names = [p.stem for p in sorted((Path(course) / "solutions" / assignment).glob("*.ipynb"))]
    if "by_hand" in status:
        hand = status["by_hand"]
        text = {"headline": f"Graded by hand: {hand['score']:g} out of {hand['max_score']:g}"
                            + (f", less a late penalty of {hand['late_penalty']:g}." if hand["late_penalty"]
                               else "."),
                "detail": f"Instructor's note: {hand['reason']}",
                "next": "This is your grade for this assignment."}
    else:
        text = {"headline": "Your submission could not be graded automatically; it will be graded by hand.",
                "detail": f"Reason: {Outcome.parse(status['status']).student_reason()}",
                "next": "What happens next: an instructor will grade it by hand, and this page will then "
                        "show your grade. You need not do anything unless they ask you to resubmit."}
    folder = Path(course) / "feedback" / student / assignment
    shutil.rmtree(folder, ignore_errors=True)  # an earlier automatic feedback would show a stale score
    folder.mkdir(parents=True)
    page = PAGE.format(assignment=html.escape(assignment), student=html.escape(student),
                       **{k: html.escape(v) for k, v in text.items()})
    for name in names:
        (folder / f"{name}.html").write_text(page, encoding="utf-8")


# ---------------------------------------------------------------------------- grading by hand


def grade_by_hand(course, assignment, student, score, reason, force=False, db=None):
    """Resolve ``student``'s submission by hand with a total ``score`` (before any late penalty).

    The score goes into nbgrader's gradebook as the test cells' manual scores (filled in notebook
    order, each up to its points; nbgrader's totals, formgrader and export then agree), the late
    penalty is assigned again by the course's rule, and the student's page says so. A submission that
    does not await a human (graded automatically, or by hand already) is only replaced with
    ``force``. Returns the grades.csv row of the submission and the status it replaced.
    """
    from nbgrader.api import MissingEntry

    course = check_course(course, assignment, db)
    if not reason.strip():
        raise GradeError("the reason is empty; it is recorded and shown to the student")
    before = outcome_of(course, assignment, student)
    with gradebook(course, db) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            raise GradeError(f"{student} has no graded submission of {assignment}; run "
                             f"`python -m coursetools grade {assignment} {student}` first") from None
        if not 0 <= score <= sub.max_score:
            raise GradeError(f"score {score:g} is outside 0 to {sub.max_score:g}, the points of {assignment}")
        if not before.awaits_human and not force:
            raise GradeError(f"{student}'s {assignment} is not awaiting a human (status: {before.text}; "
                             f"score {sub.score - sub.late_submission_penalty:g}); --force replaces that "
                             "grade")
        left = score
        for notebook in sub.notebooks:
            for grade in notebook.grades:
                grade.manual_score = min(left, grade.max_score)
                grade.needs_manual_grade = False
                left -= grade.manual_score
        LatePenalties(course).assign(gb, sub, student)
        hand = {"score": score, "max_score": sub.max_score, "late_penalty": sub.late_submission_penalty,
                "reason": reason.strip(), "replaced": before.text}
    write_status(course, assignment, student,
                 {"status": Outcome(BY_HAND, reason.strip()).text, "by_hand": hand})
    write_page(course, assignment, student)
    return before.text


# ---------------------------------------------------------------------------- commands


def main(args):
    course = Path(args.course).resolve()
    try:
        statuses = grade_all(course, args.assignment, args.students, args.jobs, args.timeout,
                             jailed=not args.no_sandbox, feedback=not args.grades_only, db=args.db,
                             scheduler=args.scheduler)
    except (GradeError, sandbox.SandboxError) as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    print(summary(course, args.assignment, list(statuses), args.db))
    outcomes = [Outcome.parse(text) for text in statuses.values()]
    auto = sum(o.graded for o in outcomes)
    waiting = sum(o.awaits_human for o in outcomes)
    print(f"\ngraded {auto} of {len(statuses)} submissions automatically; "
          f"{waiting} {'awaits' if waiting == 1 else 'await'} a human")
    if waiting:
        print(f"resolve one with: python -m coursetools grade-manual {args.assignment} <student> "
              "--score X --reason TEXT")
    if args.grades_only:
        shown = database.redact(gradebook_url(course, args.db)[0])
        print(f"grades in {shown} (no feedback, no CSV: --grades-only)")
    else:
        print(f"grades in {export_csv(course, db=args.db)}, feedback in {course / 'feedback'}")
    return 0


def main_export(args):
    course = Path(args.course).resolve()
    try:
        url, course_id = gradebook_url(course, args.db)
        database.check(url, course_id, None, "nbgrader generate_assignment <assignment>")
    except database.DatabaseError as exc:
        print(f"export: {course}: {exc}", file=sys.stderr)
        return 2
    print(f"grades of {database.redact(url)} in {export_csv(course, args.to, args.db)}")
    return 0


def main_manual(args):
    course = Path(args.course).resolve()
    try:
        before = grade_by_hand(course, args.assignment, args.student, args.score, args.reason, args.force,
                               args.db)
    except GradeError as exc:
        print(f"grade-manual: {exc}", file=sys.stderr)
        return 2
    print(summary(course, args.assignment, [args.student], args.db))
    print(f"\nreplaced: {before}")
    print(f"grades in {export_csv(course, db=args.db)}, feedback in {course / 'feedback' / args.student}")
    return 0
