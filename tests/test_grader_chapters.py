"""``python -m coursetools grade`` on every real chapter: the hardened grader grades like nbgrader.

One temporary course holds every chapter with exercises; each chapter is graded in one sandboxed
run on two workers, with three kinds of students: ``reference`` (the solutions typed in) must get
full marks, ``untouched`` (the release as handed out) zero, and a student per chosen bug of the
chapter's bank must lose exactly the test cells the bank says it breaks. That is what plain
``nbgrader autograde`` gives them (``tests/test_grading.py`` checks each bank against it), so the
grader's per-cell scores equal nbgrader's. The chosen bugs include one that relies on in-place
semantics across the sandbox (07: a gradient check that perturbs a copy of the parameter).
"""

import pytest

from coursetools import bugs, chapter_slugs, course, grade, notebook_path, notebooks

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.xdist_group("grader-chapters")]

# Bugs graded besides each bank's first one: they exercise what crosses the sandbox by reference.
EXTRA_BUGS = {"07-gradient-check": ["perturbs a copy of the parameter, so the score never changes"]}


def chapters():
    return [slug for slug in chapter_slugs()
            if course.answer_ids(notebooks.read(notebook_path(slug)))]


CHAPTERS = chapters()


def chosen_bugs(chapter):
    bank = bugs.load(chapter)
    extra = EXTRA_BUGS.get(chapter, [])
    return [bug for i, bug in enumerate(bank) if i == 0 or bug.name in extra]


def student(bug):
    return "bug-" + "".join(ch if ch.isalnum() else "-" for ch in bug.name)[:40]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    c = course.create(tmp_path_factory.mktemp("chapters") / "course", CHAPTERS)
    statuses = {}
    for chapter in CHAPTERS:
        c.submit("reference", chapter, c.reference_answers(chapter))
        c.submit("untouched", chapter, {})
        for bug in chosen_bugs(chapter):
            c.submit(student(bug), chapter, c.bug_answers(chapter, bug))
        statuses[chapter] = grade.grade_all(c.root, chapter, jobs=2, progress=False)
    return c, statuses


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_grades_like_nbgrader(graded, chapter):
    c, statuses = graded
    problems = [f"{s}: {status}" for s, status in statuses[chapter].items() if status != grade.GRADED]
    assert not problems, "\n".join(problems)
    tests = bugs.test_cells(c.solution(chapter))
    expected = {"reference": dict(tests), "untouched": dict.fromkeys(tests, 0.0)}
    for bug in chosen_bugs(chapter):
        expected[student(bug)] = {gid: 0.0 if gid in bug.breaks else pts for gid, pts in tests.items()}
    for name, want in expected.items():
        got = {gid: score for gid, (score, _) in c.cell_scores(name, chapter).items()}
        assert got == want, f"{chapter} {name}: scored {got}, nbgrader gives {want}"
