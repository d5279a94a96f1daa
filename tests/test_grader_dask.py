"""``grade --scheduler``: a class graded through a real Dask cluster equals a local run.

A ``dask scheduler`` and two ``dask worker`` processes (``--nthreads 1``, this checkout on their
PYTHONPATH) are started as separate processes on 127.0.0.1, on free ports; the small class (reference,
untouched, one bug, one broken notebook) is graded through them in the sandbox and, in a copy of the
same course, by an ordinary local run. Statuses, every cell's score, grades.csv and the feedback
pages must agree, both workers must have graded, and the cluster is shut down at the end. A
scheduler that does not answer, or has no worker, stops the run before anyone is graded, naming the
address.
"""

import shutil

import pytest

from coursetools import ROOT, cluster, course, grade, outcome
from coursetools.__main__ import main as cli_main
from coursetools.execute import kernel_env
from tests.grader_bank.cases import CHAPTER
from tests.grader_bank.small_class import STUDENTS, free_port, new_class, read_csv, scores

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grader-dask")]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A course with the small class, never graded; tests grade copies of it."""
    tmp = tmp_path_factory.mktemp("grader-dask")
    return new_class(tmp / "pristine", tmp)


def copy(c, root):
    shutil.copytree(c.root, root)
    return course.Course(root)


def nothing_graded(c):
    return not (c.root / "autograded").exists() and not (c.root / "feedback").exists()


@pytest.fixture(scope="module")
def graded(pristine, tmp_path_factory):
    """(local course, its statuses, Dask course, its statuses, the no-worker error, tasks per worker)."""
    tmp = tmp_path_factory.mktemp("grader-dask-runs")
    local, remote = copy(pristine, tmp / "local"), copy(pristine, tmp / "remote")
    env = {**kernel_env(), "PYTHONPATH": str(ROOT)}
    with cluster.LocalProcesses(tmp / "dask", env) as procs:
        address = procs.start_scheduler()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(cluster, "WORKER_WAIT", 2)
            with pytest.raises(grade.GradeError) as no_workers:
                grade.grade_all(remote.root, CHAPTER, progress=False, scheduler=address)
        assert nothing_graded(remote)
        procs.start_worker("worker-1")
        procs.start_worker("worker-2")
        procs.wait_for_workers(2)
        statuses = grade.grade_all(remote.root, CHAPTER, jobs=2, timeout=60, progress=False, feedback=True,
                                   scheduler=address)
        from distributed import Client

        with Client(address, set_as_default=False) as client:
            # The grading tasks each worker ran to the end, from its state machine's log of transitions
            # (key, start, recommended, final, ...): a task stolen by the other worker is logged on both,
            # but finishes on one. A lambda travels by value.
            tasks = client.run(lambda dask_worker: sorted({
                entry[0] for entry in dask_worker.state.log
                if isinstance(entry[0], str) and entry[0].startswith("grade-") and len(entry) > 3
                and entry[1] == "executing" and entry[3] == "memory"}))
    grade.export_csv(remote.root)
    local_statuses = grade.grade_all(local.root, CHAPTER, jobs=2, timeout=60, progress=False, feedback=True)
    grade.export_csv(local.root)
    return local, local_statuses, remote, statuses, str(no_workers.value), tasks


@pytest.mark.sandbox
def test_grades_equal_a_local_run(graded):
    local, local_statuses, remote, statuses, _, _ = graded
    assert statuses == local_statuses
    assert statuses["reference"] == grade.GRADED and statuses["broken"].startswith(outcome.MANUAL)
    assert scores(remote) == scores(local)
    assert read_csv(remote.root / "grades.csv") == read_csv(local.root / "grades.csv")
    for student in STUDENTS:
        page = remote.root / "feedback" / student / CHAPTER / f"{CHAPTER}.html"
        assert page.read_text(encoding="utf-8") == (local.root / page.relative_to(remote.root)).read_text(
            encoding="utf-8"), student


@pytest.mark.sandbox
def test_both_workers_graded(graded):
    *_, tasks = graded
    assert len(tasks) == 2, tasks
    assert all(keys for keys in tasks.values()), f"a worker graded nothing: {tasks}"
    assert sum(len(keys) for keys in tasks.values()) == len(STUDENTS)


@pytest.mark.sandbox
def test_no_workers_is_named(graded):
    _, _, _, _, message, _ = graded
    assert "the Dask scheduler at tcp://127.0.0.1:" in message and "has no workers" in message
    assert "dask worker tcp://127.0.0.1:" in message


def test_unreachable_scheduler(pristine, tmp_path, capsys, monkeypatch):
    c = copy(pristine, tmp_path / "course")
    address = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 2)
    code = cli_main(["grade", CHAPTER, "--course", str(c.root), "--scheduler", address])
    err = capsys.readouterr().err
    assert code == 2 and f"grade: cannot reach the Dask scheduler at {address}: " in err, err
    assert nothing_graded(c)
    code = cli_main(["grade", CHAPTER, "--course", str(c.root), "--scheduler", "127.0.0.1"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the Dask scheduler at 127.0.0.1: missing port" in err, err
    assert nothing_graded(c)
