"""``python -m coursetools grade`` and ``grade-manual`` as an instructor runs them.

One small class of the synthetic chapter, with a due date and nbgrader's ``penalty_method = "zero"``:
on-time, late and unstamped submissions, one broken notebook and one unreadable ``timestamp.txt``.
The same course is graded by plain ``nbgrader autograde`` + ``export`` and by the hardened command,
at the same time; deadlines must come out identical, and what the commands print and write (summary
table, grades.csv, feedback pages, manual resolution) is checked as the instructor reads it.
Kernels run unjailed (``--no-sandbox``: every submission here is trusted code; the jail has
tests/test_grader_security.py), so this needs neither root nor bubblewrap.
"""

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursetools import ROOT, course
from coursetools.__main__ import main as cli_main
from coursetools.execute import kernel_env
from tests.grader_bank.cases import CHAPTER, GRAD, RIGHT, SIGMOID

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grader-cli")]

EXAMPLE = Path(__file__).parent / "grading" / "example"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
DUE = "2026-06-01 12:00:00 UTC"
STAMPS = {"on-time": "2026-05-31 10:00:00 UTC", "late": "2026-11-01 12:00:00 UTC", "no-stamp": None}
BROKEN, BAD_STAMP = "broken", "bad-stamp"
FULL = 6.0


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def table(stdout):
    """The summary table's rows, {student: {column: text}}, cut at the header's column starts."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("student "))
    names = re.findall(r"\S+(?: \S+)*", lines[header])
    starts = [lines[header].index(name) for name in names] + [None]
    rows = {}
    for line in lines[header + 1:]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:])]
        rows[cells[0]] = dict(zip(names, cells))
    return rows


def new_class(tmp):
    shutil.copytree(EXAMPLE / CHAPTER, tmp / "solutions" / CHAPTER)
    c = course.create(tmp / "course", [CHAPTER], tmp / "solutions")
    with (c.root / "nbgrader_config.py").open("a", encoding="utf-8") as fh:
        fh.write('c.LateSubmissionPlugin.penalty_method = "zero"\n')
    with c.gradebook() as gb:
        gb.update_or_create_assignment(CHAPTER, duedate=DUE)
    for student, stamp in STAMPS.items():
        path = c.submit(student, CHAPTER, {SIGMOID: RIGHT, GRAD[0]: GRAD[1]})
        if stamp:
            (path.parent / "timestamp.txt").write_text(stamp + "\n", encoding="utf-8")
    return c


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(course, plain nbgrader's grades.csv rows, the grade command's result, its grades.csv rows)."""
    tmp = tmp_path_factory.mktemp("grader-cli")
    c = new_class(tmp)
    plain = course.Course(tmp / "plain")
    shutil.copytree(c.root, plain.root)
    c.submit(BROKEN, CHAPTER, {}).write_text("{not json", encoding="utf-8")
    (c.root / "submitted" / BROKEN / CHAPTER / "timestamp.txt").write_text(STAMPS["late"], encoding="utf-8")
    path = c.submit(BAD_STAMP, CHAPTER, {SIGMOID: RIGHT})
    (path.parent / "timestamp.txt").write_text("the day before the deadline", encoding="utf-8")
    # Options between the assignment and the students, as the README's usage line reads.
    ours = subprocess.Popen([sys.executable, "-m", "coursetools", "grade", CHAPTER, "--course", str(c.root),
                             "--jobs", "2", "--timeout", "60", "--no-sandbox", *STAMPS, BROKEN, BAD_STAMP],
                            cwd=ROOT, env=kernel_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        plain.nbgrader("autograde", CHAPTER)
        plain.nbgrader("export", "--to", "grades.csv")
    finally:
        stdout, stderr = ours.communicate(timeout=300)
    result = subprocess.CompletedProcess(ours.args, ours.returncode, stdout, stderr)
    assert result.returncode == 0, stderr[-3000:]
    return c, read_csv(plain.root / "grades.csv"), result, read_csv(c.root / "grades.csv")


def test_deadlines_as_plain_nbgrader(graded):
    _, plain, _, ours = graded
    assert float(plain["late"]["late_submission_penalty"]) == FULL  # the comparison means something
    for student in STAMPS:
        theirs, mine = plain[student], ours[student]
        assert mine["timestamp"] == theirs["timestamp"], student
        assert mine["duedate"] == theirs["duedate"] != "", student
        for our_key, key in [("raw_score", "raw_score"), ("late_penalty", "late_submission_penalty"),
                             ("score", "score"), ("max_score", "max_score")]:
            assert float(mine[our_key]) == float(theirs[key]), f"{student} {our_key}"


def test_summary_table(graded):
    _, _, result, _ = graded
    rows = table(result.stdout)
    assert list(rows) == sorted([*STAMPS, BROKEN, BAD_STAMP])
    assert rows["late"] == {"student": "late", "score": "0", "max": "6", "late penalty": "6",
                            "status": "graded"}
    assert rows["on-time"]["score"] == "6" and rows["on-time"]["late penalty"] == "0"
    assert rows[BROKEN]["score"] == "" and rows[BROKEN]["max"] == "6"
    assert rows[BROKEN]["status"].startswith("needs manual grading:")
    assert "invalid JSON" in rows[BROKEN]["status"]
    assert "timestamp.txt is not a time" in rows[BAD_STAMP]["status"]
    assert "python -m coursetools grade-manual" in result.stdout


def test_output_is_quiet(graded):
    _, _, result, _ = graded
    both = result.stdout + result.stderr
    for noise in ("Ctrl-C", "ipython kernel", "Warning", "WARNING", "[INFO]"):
        assert noise not in both, f"{noise!r} in the output:\n{both[-3000:]}"


def test_csv_columns(graded):
    c, _, _, ours = graded
    with c.gradebook() as gb:
        tests = [f"{CHAPTER}:{cell.name}" for cell in gb.find_notebook(CHAPTER, CHAPTER).grade_cells]
    late = ours["late"]
    assert all(late[column] != "" for column in tests) and sum(float(late[t]) for t in tests) == FULL
    assert (late["raw_score"], late["late_penalty"], late["score"], late["status"]) == ("6.0", "6.0", "0.0",
                                                                                          "graded")
    broken = ours[BROKEN]
    assert [broken[k] for k in ("raw_score", "late_penalty", "score", *tests)] == [""] * (3 + len(tests))
    assert broken["status"].startswith("needs manual grading") and broken["max_score"] == "6.0"


def test_feedback_for_every_student(graded):
    c, _, _, _ = graded
    feedback = c.root / "feedback"
    assert sorted(p.relative_to(feedback).as_posix() for p in feedback.rglob("*") if p.is_file()) == sorted(
        f"{s}/{CHAPTER}/{CHAPTER}.html" for s in [*STAMPS, BROKEN, BAD_STAMP])
    page = (feedback / BROKEN / CHAPTER / f"{CHAPTER}.html").read_text(encoding="utf-8")
    assert "could not be graded automatically" in page and "invalid JSON" in page
    assert "What happens next" in page
    hidden = [line.strip() for cell in c.solution(CHAPTER).cells for region in HIDDEN.findall(cell.source)
              for line in region.splitlines() if len(line.strip()) > 3]
    assert hidden and not [line for line in hidden if line in page]


def run(capsys, *args):
    """``python -m coursetools <args>`` in this process (no start-up cost): exit code, stdout, stderr."""
    try:
        code = cli_main(list(args))
    except SystemExit as exc:  # argparse's errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_grade_manual(graded, capsys):
    c, _, _, _ = graded
    where = ("--course", str(c.root))
    code, out, err = run(capsys, "grade-manual", CHAPTER, BROKEN, "--score", "4",
                         "--reason", "pasted code works", *where)
    assert code == 0, err
    # The hand grade is late like the notebook: the course's rule ("zero") takes all of it.
    assert table(out)[BROKEN] == {"student": BROKEN, "score": "0", "max": "6", "late penalty": "4",
                                  "status": "graded by hand: pasted code works"}
    row = read_csv(c.root / "grades.csv")[BROKEN]
    assert (row["raw_score"], row["late_penalty"], row["score"]) == ("4.0", "4.0", "0.0")
    page = (c.root / "feedback" / BROKEN / CHAPTER / f"{CHAPTER}.html").read_text(encoding="utf-8")
    assert "Graded by hand: 4 out of 6" in page and "pasted code works" in page

    code, _, err = run(capsys, "grade-manual", CHAPTER, BROKEN, "--score", "6", "--reason", "again", *where)
    assert code == 2 and "not awaiting a human" in err and "--force" in err
    assert read_csv(c.root / "grades.csv")[BROKEN]["raw_score"] == "4.0"  # never overwritten silently
    code, _, err = run(capsys, "grade-manual", CHAPTER, BAD_STAMP, "--score", "9", "--reason", "x", *where)
    assert code == 2 and "score 9 is outside 0 to 6" in err
    code, _, err = run(capsys, "grade-manual", CHAPTER, "nobody", "--score", "1", "--reason", "x", *where)
    assert code == 2 and "nobody has no graded submission" in err

    code, out, err = run(capsys, "grade", CHAPTER, *where, "--no-sandbox", BROKEN)
    assert code == 0, err
    assert table(out)[BROKEN]["status"] == "graded by hand: pasted code works"
    assert read_csv(c.root / "grades.csv")[BROKEN]["raw_score"] == "4.0"


def test_bad_arguments_are_named(graded, capsys):
    c, _, _, _ = graded
    code, _, err = run(capsys, "grade", CHAPTER, "--jobs", "1", "--no-sandbox", "erin", "--course",
                       str(c.root))
    assert code == 2 and f"no submission of {CHAPTER} by erin" in err
    code, _, err = run(capsys, "grade", CHAPTER, "--jobs", "1", "erin", "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err
