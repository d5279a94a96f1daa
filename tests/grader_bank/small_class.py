"""A small class of the synthetic chapter for the infrastructure tests (PostgreSQL, Dask).

Four students: the reference answers, the untouched release, one bug (a sign slip in the
sigmoid's gradient: its tests fail, the sigmoid's pass) and one broken notebook (invalid JSON, so
it needs manual grading). Each has a ``timestamp.txt``.
"""

import csv
import shutil
import socket
from pathlib import Path

from coursetools import course
from tests.grader_bank.cases import CHAPTER, GRAD, RIGHT, SIGMOID

EXAMPLE = Path(__file__).resolve().parents[1] / "grading" / "example"
STUDENTS = ("reference", "untouched", "one-bug", "broken")
STAMP = "2026-05-31 10:00:00 UTC"
BAD_GRAD = "def sigmoid_grad(z):\n    s = sigmoid(z)\n    return s * (1 + s)\n"  # a sign slip


def solutions(tmp):
    """The synthetic chapter's source, copied under ``tmp`` (once)."""
    folder = Path(tmp) / "solutions"
    if not (folder / CHAPTER).exists():
        shutil.copytree(EXAMPLE / CHAPTER, folder / CHAPTER)
    return folder


def new_class(root, tmp, db=None):
    """A course in the new folder ``root`` (gradebook in ``db`` if given) with the four students."""
    c = course.create(root, [CHAPTER], solutions(tmp), db=db)
    answers = {"reference": {SIGMOID: RIGHT, GRAD[0]: GRAD[1]}, "untouched": {},
               "one-bug": {SIGMOID: RIGHT, GRAD[0]: BAD_GRAD}, "broken": {}}
    for student in STUDENTS:
        path = c.submit(student, CHAPTER, answers[student])
        if student == "broken":
            path.write_text("{not json", encoding="utf-8")
        (path.parent / "timestamp.txt").write_text(STAMP + "\n", encoding="utf-8")
    return c


def scores(c):
    """{student: {grade id: (auto score, manual score, needs manual grade)}} from the gradebook."""
    with c.gradebook() as gb:
        out = {}
        for student in STUDENTS:
            nb = gb.find_submission_notebook(CHAPTER, CHAPTER, student)
            out[student] = {g.name: (g.auto_score, g.manual_score, g.needs_manual_grade) for g in nb.grades}
        return out


def read_csv(path):
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on (a server given it starts right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
