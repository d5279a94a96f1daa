"""Grading a class on several machines with Dask distributed: ``grade --scheduler tcp://HOST:PORT``.

What runs where.
* The client is the ordinary ``python -m coursetools grade`` process, on the machine that holds the
  course folder and reaches the gradebook. It reads every submission's files and the assignment's
  source folder, ships them to the scheduler as plain bytes (the source once, broadcast to every
  worker; each submission in its own task), collects the results, and alone writes ``autograded/``,
  the gradebook (in sorted student order, as a local run does), the feedback and ``grades.csv``.
  Feedback runs here, in a local pool of ``--jobs`` processes: nbgrader's converter reads the
  gradebook and the autograded notebooks, which the workers need not see.
* The scheduler (``dask scheduler``) only hands out tasks; any machine the others reach will do.
* Each worker (``dask worker tcp://HOST:PORT --nthreads 1``, as root with bubblewrap, the course's
  Python environment and this repository's ``nnlib`` and ``coursetools`` on its ``PYTHONPATH``)
  runs one task per submission: it lays the shipped files out in a private temporary course of its
  own, grades it with :func:`coursetools.grade.grade_submission` in its sandbox (a jail uid claimed
  per worker thread, as ``--jobs`` workers claim one each, BLAS pinned to one thread), and returns
  the same plain-data result a local worker returns. It needs no course folder and no gradebook.

Before any student is graded the client checks that the scheduler answers, that it has workers,
and that every worker runs the same ``coursetools`` and ``nnlib`` code as the client and (unless
``--no-sandbox``) can start a jailed kernel; any failure stops the run naming the address or the
worker. A worker lost during a task (its machine died) is retried by Dask on another worker; a
task that still fails makes that submission "needs manual grading: worker failed (...)", as a
crashed local worker does, and the class goes on.
"""

import ast
import atexit
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import ROOT

CONNECT_TIMEOUT = 10   # seconds to reach the scheduler
WORKER_WAIT = 30       # seconds to wait for the scheduler's first worker


class ClusterError(RuntimeError):
    """The Dask cluster cannot grade: unreachable scheduler, no workers, a worker unlike the client."""


# ---------------------------------------------------------------------------- shipping files


def pack_tree(folder):
    """{relative path: bytes} of every file under ``folder`` (the assignment's source folder)."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not {".ipynb_checkpoints", "__pycache__"} & set(p.relative_to(folder).parts)}


def pack_submission(folder):
    """{name: bytes, or None for a folder} of the top level of a submission folder.

    Exactly what grading looks at: the notebooks (and any name ending in ``.ipynb``), and the files
    it copies beside them (``timestamp.txt``, data files under 8 MB).
    """
    from .grade import MAX_EXTRA_BYTES

    out = {}
    for item in sorted(Path(folder).iterdir()):
        if item.is_file():
            if item.suffix == ".ipynb" or item.stat().st_size < MAX_EXTRA_BYTES:
                out[item.name] = item.read_bytes()
        elif item.is_dir():
            out[item.name] = None
    return out


def config_text(config):
    """An ``nbgrader_config.py`` that sets the literal values of ``config`` (the course's, as loaded
    on the client), for a worker's temporary course: the client's file may load others by paths
    that exist only on the client. Values that are not literals (classes) are left out; the
    worker only grades, and grading reads only literal settings. The gradebook's URL (which may
    hold a password) and the course's root stay on the client: workers never open the gradebook."""
    lines = ["# The nbgrader settings of the client's course, as literals (coursetools.cluster).",
             "c = get_config()  # noqa: F821"]
    for section, values in sorted(config.items()):
        if not hasattr(values, "items"):
            continue
        for key, value in sorted(values.items()):
            try:
                literal = ast.literal_eval(repr(value)) == value
            except (ValueError, SyntaxError):
                literal = False
            if literal and (section, key) not in {("CourseDirectory", "db_url"), ("CourseDirectory", "root")}:
                lines.append(f"c.{section}.{key} = {value!r}")
    return "\n".join(lines) + "\n"


def unpack(files, folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = folder / name
        if data is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


# ---------------------------------------------------------------------------- on a worker

_local = threading.local()


def _worker_setup(jailed):
    """Once per worker thread: one BLAS thread here and in the kernels; a jail of its own."""
    from . import sandbox

    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if not getattr(_local, "pinned", False):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        _local.pinned = True
    if not jailed:
        return sandbox.NoJail()
    if getattr(_local, "jail", None) is None:
        # Per thread, not per process: a worker started with --nthreads 2 runs two kernels at once,
        # and the cleanup after one submission (kill_uid) must not kill the other's.
        _local.jail = sandbox.Jail(sandbox.claim_uid())
        atexit.register(_local.jail.close)  # its fork server, and its spool's mount
    return _local.jail


# The sources this worker process has parsed, by their content: once per run, as a local run does.
_sources, _sources_lock = {}, threading.Lock()


def loaded_source(source, assignment):
    """``source`` ({"solutions": the assignment's source folder, "config": the course's settings})
    parsed by :func:`coursetools.grade.load_source`, once per worker process and shipped source."""
    from . import grade

    digest = hashlib.sha256(assignment.encode() + b"\0" + source["config"].encode())
    for name in sorted(source["solutions"]):
        digest.update(b"\0" + name.encode() + b"\0" + (source["solutions"][name] or b"/"))
    key = digest.hexdigest()
    with _sources_lock:
        if key not in _sources:
            with tempfile.TemporaryDirectory(prefix="coursetools-dask-source-") as tmp:
                course = Path(tmp)
                (course / "nbgrader_config.py").write_text(source["config"], encoding="utf-8")
                unpack(source["solutions"], course / "solutions" / assignment)
                _sources[key] = grade.load_source(course, assignment)
        return _sources[key]


def grade_task(source, files, assignment, student, timeout, jailed):
    """One submission, on a worker: the result :func:`coursetools.grade.grade_submission` returns."""
    from . import grade

    jail = _worker_setup(jailed)
    loaded = loaded_source(source, assignment)
    with tempfile.TemporaryDirectory(prefix="coursetools-dask-") as tmp:
        unpack(files, Path(tmp) / "submitted" / student / assignment)
        return grade.grade_submission(tmp, student, loaded, timeout, jail)


def code_digest():
    """What a worker must share with the client for equal grades: the code of nnlib and coursetools,
    and the versions of Python, numpy and nbgrader."""
    import nbgrader
    import numpy

    versions = f"{sys.version_info[:2]} numpy {numpy.__version__} nbgrader {nbgrader.__version__}"
    digest = hashlib.sha256(versions.encode())
    for package in ("nnlib", "coursetools"):
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def worker_report(jailed):
    """A worker's answer to the client's check: its code digest, and why it cannot jail (or None)."""
    from . import sandbox

    problem = None
    if jailed:
        try:
            sandbox.check()
        except sandbox.SandboxError as exc:
            problem = str(exc)
    return {"digest": code_digest(), "root": str(ROOT), "sandbox": problem}


# ---------------------------------------------------------------------------- the client


class Remote:
    """A connection to a Dask scheduler whose workers have been checked; use as a context manager."""

    def __init__(self, address, jailed=True):
        from distributed import Client
        from distributed.comm import get_address_host_port, parse_address
        from distributed.comm.registry import get_backend

        self.address, self.jailed = address, jailed
        try:
            # A bad scheme or a missing port fails here, before a Client exists (one half-built
            # would hang the exit for 20 s).
            get_backend(parse_address(address)[0])
            get_address_host_port(address)
            self.client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            self._check_workers()
        except BaseException:
            self.close()
            raise

    def _check_workers(self):
        try:
            self.client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError:
            raise ClusterError(f"the Dask scheduler at {self.address} has no workers (waited "
                               f"{WORKER_WAIT} s); start them with "
                               f"`dask worker {self.address} --nthreads 1`") from None
        workers = sorted(self.client.scheduler_info(n_workers=-1)["workers"])
        futures = {w: self.client.submit(worker_report, self.jailed, workers=[w], allow_other_workers=False,
                                         pure=False, key=f"coursetools-check-{i}-{time.time_ns()}")
                   for i, w in enumerate(workers)}
        mine = code_digest()
        for worker, future in futures.items():
            try:
                report = future.result(timeout=180)
            except Exception as exc:
                raise ClusterError(f"Dask worker {worker} failed its check: "
                                   f"{type(exc).__name__}: {exc}") from None
            if report["digest"] != mine:
                raise ClusterError(f"Dask worker {worker} runs other code than this client (nnlib and "
                                   f"coursetools from {report['root']}, digest {report['digest']}; here "
                                   f"{ROOT}, {mine}): give every machine the same checkout and Python "
                                   "packages")
            if report["sandbox"]:
                raise ClusterError(f"Dask worker {worker} cannot run the grading sandbox: "
                                   f"{report['sandbox']}")
        self.workers = workers

    def grade(self, course, assignment, students, timeout, progress, config):
        """{student: grade_submission's result, or the exception its task ended with}.

        ``config`` is the course's nbgrader configuration (its literal settings go to the workers).
        """
        from distributed import as_completed
        from tqdm import tqdm

        course = Path(course)
        source = {"solutions": pack_tree(course / "solutions" / assignment), "config": config_text(config)}
        # In a list: a scattered dict would become one future per entry, keyed by its bare name, and
        # two classes on one scheduler would share them. A list's item is keyed by its content.
        [source] = self.client.scatter([source], broadcast=True)
        futures = {}
        for student in students:
            # Scattered, not put into the task: a notebook of megabytes would bloat the task graph.
            [files] = self.client.scatter([pack_submission(course / "submitted" / student / assignment)])
            future = self.client.submit(grade_task, source, files, assignment, student, timeout, self.jailed,
                                        pure=False, key=f"grade-{assignment}-{student}-{time.time_ns()}")
            futures[future] = student
        out = {}
        done = as_completed(futures, loop=self.client.loop)
        for future in tqdm(done, total=len(futures), desc="grading", unit="student", disable=not progress,
                           file=sys.stderr):
            try:
                out[futures[future]] = future.result()
            except Exception as exc:
                out[futures[future]] = exc
            future.release()
        return out

    def close(self):
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------- a cluster on this machine


class LocalProcesses:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, for the tests and the benchmark.

    Each is a separate process started with the ``dask`` command, as on real machines; the scheduler
    listens on a free port (it writes the address to a scheduler file). ``env`` is given to every
    process (PYTHONPATH, so that workers import this checkout's coursetools).
    """

    def __init__(self, folder, env=None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env = {**(env or os.environ), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                    "MKL_NUM_THREADS": "1"}
        self.procs, self.address = [], None

    def _start(self, name, args):
        log = (self.folder / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs.append((name, proc))
        return proc

    def start_scheduler(self):
        import json

        file = self.folder / "scheduler.json"
        self._start("scheduler", [*_dask(), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(file)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if file.exists():
                try:
                    self.address = json.loads(file.read_text())["address"]
                    return self.address
                except (ValueError, KeyError):
                    pass
            self._alive()
            time.sleep(0.1)
        raise ClusterError(f"dask scheduler did not start in 60 s; see {self.folder / 'scheduler.log'}")

    def start_worker(self, name):
        return self._start(name, [*_dask(), "worker", self.address, "--nthreads", "1", "--nworkers", "1",
                                  "--host", "127.0.0.1", "--no-dashboard", "--name", name,
                                  "--death-timeout", "60", "--local-directory", str(self.folder / name)])

    def wait_for_workers(self, n, timeout=120):
        from distributed import Client

        with Client(self.address, timeout=CONNECT_TIMEOUT, set_as_default=False) as client:
            deadline = time.monotonic() + timeout
            while len(client.scheduler_info(n_workers=-1)["workers"]) < n:
                self._alive()
                if time.monotonic() > deadline:
                    raise ClusterError(f"fewer than {n} dask workers after {timeout} s; "
                                       f"logs in {self.folder}")
                time.sleep(0.2)

    def _alive(self):
        for name, proc in self.procs:
            if proc.poll() is not None:
                log = (self.folder / f"{name}.log").read_text(errors="replace")[-2000:]
                raise ClusterError(f"dask {name} exited with {proc.returncode}:\n{log}")

    def stop(self, name=None):
        """Stop one process (by name) or all of them, workers first; each by its own process group."""
        chosen = [(n, p) for n, p in self.procs if name in (None, n)]
        for n, proc in sorted(chosen, key=lambda item: item[0] == "scheduler"):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            self.procs.remove((n, proc))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.folder / "dask-scratch-space", ignore_errors=True)


def _dask():
    """The ``dask`` command of this Python environment."""
    found = Path(sys.executable).with_name("dask")
    return [str(found)] if found.exists() else [shutil.which("dask") or "dask"]
