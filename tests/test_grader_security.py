"""The exploit and fault bank (tests/grader_bank) against ``python -m coursetools grade``.

One class of the synthetic chapter, every case a student, graded in one sandboxed run on two
workers: each case must get its expected outcome, nothing hidden may leak into what the grader
writes, and the honest students and the gradebook must come out unharmed.
"""

import csv
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from coursetools import course, grade, notebook_path
from tests.grader_bank.cases import CASES, CHAPTER, HELPER, SIGMOID

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.xdist_group("grader-security")]

EXAMPLE = Path(__file__).parent / "grading" / "example"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
FULL = 6.0


def forbid_nnlib(solutions):
    """The synthetic chapter as a real chapter is: it imports nnlib for its demos, has a helper cell
    (a constant), and both exercises are marked ``# nnlib: forbidden``."""
    import nbformat

    path = notebook_path(CHAPTER, solutions)
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.source.startswith(("def sigmoid(", "def sigmoid_grad(")):
            marker = "    ### BEGIN SOLUTION"
            cell.source = cell.source.replace(marker, "    # nnlib: forbidden\n" + marker)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells[first].source += "\nfrom nnlib import activations, network"
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(HELPER))
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grader-bank")
    shutil.copytree(EXAMPLE / CHAPTER, tmp / "solutions" / CHAPTER)
    forbid_nnlib(tmp / "solutions")
    c = course.create(tmp / "course", [CHAPTER], tmp / "solutions")
    from tests.grader_bank.cases import submit

    for case in CASES:
        submit(c, case)
    statuses = grade.grade_all(c.root, CHAPTER, jobs=2, timeout=15, progress=False, feedback=True)
    grade.export_csv(c.root)
    return c, statuses


def total(c, student):
    with c.gradebook() as gb:
        return gb.find_submission(CHAPTER, student).score


@pytest.mark.parametrize("case", CASES, ids=[case.student for case in CASES])
def test_case_outcome(graded, case):
    c, statuses = graded
    status, score = statuses[case.student], total(c, case.student)
    if case.expect == "manual":
        assert status.startswith("needs manual grading"), f"{case.student}: {status}"
        assert score == 0
    elif case.expect == "capped":
        assert score <= 0 or status.startswith("needs manual"), f"{case.student}: {status}, {score}"
    else:
        assert status == grade.GRADED, f"{case.student}: {status}"
        assert score == (FULL if case.expect == "full" else 0.0), f"{case.student}: scored {score}"


@pytest.mark.parametrize("case", [c for c in CASES if c.reason], ids=[c.student for c in CASES if c.reason])
def test_integrity_reason_names_the_route(graded, case):
    _, statuses = graded
    assert case.reason in statuses[case.student], f"{case.student}: {statuses[case.student]}"


def test_manual_reasons_name_the_problem(graded):
    _, statuses = graded
    assert SIGMOID + ": the answer cell: uses nnlib.activations.sigmoid" in statuses["imports-nnlib"]
    assert "nnlib.activations" in statuses["importlib-nnlib"]
    assert "nnlib.activations" in statuses["dunder-import"]
    assert "nbformat 3" in statuses["nbformat3"]
    assert "invalid JSON" in statuses["invalid-json"]
    assert "missing notebook" in statuses["missing"] and "found" in statuses["renamed"]
    assert "extra notebook" in statuses["extra"]
    assert "limit" in statuses["loop-after-def"]
    assert "kernel died" in statuses["kill-self"]


def hidden_lines(c):
    nb = c.solution(CHAPTER)
    return {line.strip() for cell in nb.cells for region in HIDDEN.findall(cell.source)
            for line in region.splitlines() if len(line.strip()) > 3} | {"BEGIN HIDDEN TESTS",
                                                                          "BEGIN SOLUTION"}


def output_text(c, student):
    path = notebook_path(CHAPTER, c.root / "autograded" / student)
    if not path.exists():
        return ""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return json.dumps([cell.get("outputs", []) for cell in nb["cells"]], ensure_ascii=False)


def test_nothing_hidden_leaks(graded):
    c, _ = graded
    leaks = hidden_lines(c)
    problems = []
    for case in CASES:
        texts = {"outputs": output_text(c, case.student)}
        feedback = notebook_path(CHAPTER, c.root / "feedback" / case.student).with_suffix(".html")
        if feedback.exists():
            texts["feedback"] = feedback.read_text(encoding="utf-8")
        problems += [f"{case.student} {where}: {line!r}" for where, text in texts.items()
                     for line in leaks if json.dumps(line)[1:-1] in text or line in text]
    assert not problems, "\n".join(problems)
    assert (c.root / "feedback" / "reference").is_dir()


def test_outputs_are_capped(graded):
    c, _ = graded
    for student in ("huge-line", "huge-image"):
        size = notebook_path(CHAPTER, c.root / "autograded" / student).stat().st_size
        assert size < 3 << 20, f"{student}: autograded notebook of {size} bytes"


def test_sandbox_held(graded):
    c, _ = graded
    assert "CONNECTED" not in output_text(c, "network")
    assert "no network" in output_text(c, "network")
    assert "disk refused" in output_text(c, "fill-disk")
    server = output_text(c, "reach-fork-server")
    assert server.count("server untouched") == 3 and "REACHED" not in server
    reading = output_text(c, "read-source")
    assert "nbgrader" not in reading and "gradebook.db" not in reading


def test_gradebook_and_honest_students_unharmed(graded):
    c, _ = graded
    db = sqlite3.connect(c.root / "gradebook.db")
    assert db.execute("SELECT COUNT(*) FROM grade WHERE extra_credit IS NOT NULL AND extra_credit != 0"
                      ).fetchone()[0] == 0
    assert total(c, "reference") == FULL and total(c, "zoë-ünïcode-名前") == FULL
    with (c.root / "grades.csv").open(newline="", encoding="utf-8") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert set(rows) == {case.student for case in CASES}
    assert rows["reference"]["status"] == "graded" and float(rows["reference"]["score"]) == FULL
    assert rows["invalid-json"]["status"].startswith("needs manual grading")
