"""End-to-end autograding with the real nbgrader, on a synthetic class per chapter.

For each chapter a temporary course (coursetools.course) is graded with
``nbgrader autograde``: ``reference`` (the solutions typed in) must get full
marks, ``untouched`` (the release as handed out) zero, and one student per bug
of the chapter's bank must lose exactly the test cells the bank says it breaks,
each failing with a readable message. One chapter also goes through
``nbgrader generate_feedback`` and ``nbgrader export``.

``tests/grading/example/`` holds a small synthetic chapter with its own bank, so
the pipeline is tested even where no real chapter has a bank yet.
"""

import csv
import html
import re
import time
from pathlib import Path

import pytest

from coursetools import SOLUTIONS, bugs, chapter_slugs, course, notebook_path, notebooks

EXAMPLE = Path(__file__).parent / "grading" / "example"
SYNTHETIC = "00-synthetic"
MIN_BUGS_PER_EXERCISE = 3
ANSI = re.compile(r"\x1b\[[0-9;]*m")
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def has_exercises(slug):
    nb = notebooks.read(notebook_path(slug))
    return any(notebooks.cell_role(cell) == "solution" for cell in nb.cells)


def graded_chapters():
    """(chapter, solutions folder, banks folder): the synthetic chapter, then every chapter with
    a bug bank or an exercise."""
    banked = {p.stem for p in bugs.BANKS.glob("*.toml")}
    real = [s for s in chapter_slugs() if s in banked or has_exercises(s)]
    return [(SYNTHETIC, EXAMPLE, EXAMPLE)] + [(s, SOLUTIONS, bugs.BANKS) for s in real]


CHAPTERS = graded_chapters()
# Feedback and export are checked once, on the first real chapter that has bugs to report.
FEEDBACK_CHAPTER = next((ch for ch, _, banks in CHAPTERS[1:] if (banks / f"{ch}.toml").exists()), SYNTHETIC)


def stamped_solution(chapter, solutions):
    return notebooks.stamp(notebooks.read(notebook_path(chapter, solutions)), chapter)


# ---------------------------------------------------------------------------- the bug banks


def bank_problems(chapter, solutions, banks):
    nb = stamped_solution(chapter, solutions)
    exercises = course.answer_ids(nb)
    tests = bugs.test_cells(nb)
    bank = bugs.load(chapter, banks)
    problems = []
    for bug in bank:
        where = f"bug {bug.name!r}"
        if bug.exercise not in exercises:
            problems.append(f"{where}: exercise {bug.exercise!r} is not an answer cell; they are {exercises}")
            continue
        unknown = sorted(set(bug.breaks) - set(tests))
        if unknown or not bug.breaks:
            problems.append(f"{where}: breaks {list(bug.breaks)}: {unknown or 'empty'} not among the "
                            f"test cells {sorted(tests)}")
        try:
            bugs.apply(nb, bug)
        except ValueError as exc:
            problems.append(str(exc))
    for answers, _ in notebooks.exercises(nb):
        count = sum(bug.exercise in answers for bug in bank)
        if count < MIN_BUGS_PER_EXERCISE:
            problems.append(f"exercise {' + '.join(answers)} has {count} bugs in the bank, "
                            f"at least {MIN_BUGS_PER_EXERCISE} are needed")
    return problems


@pytest.mark.parametrize("chapter,solutions,banks", CHAPTERS, ids=[c[0] for c in CHAPTERS])
def test_bug_bank_fits_the_notebook(chapter, solutions, banks):
    problems = bank_problems(chapter, solutions, banks)
    assert not problems, f"{banks}/{chapter}.toml:\n  " + "\n  ".join(problems)


def test_every_bank_has_a_chapter():
    orphans = sorted({p.stem for p in bugs.BANKS.glob("*.toml")} - set(chapter_slugs()))
    assert not orphans, f"bug banks without a chapter in solutions/: {orphans}"


# ---------------------------------------------------------------------------- grading


def enrol_class(c, chapter, bank):
    """Submit the synthetic class; return {student: (what they are, set of test cells they must fail)}."""
    tests = set(bugs.test_cells(c.solution(chapter)))
    c.submit("reference", chapter, c.reference_answers(chapter))
    c.submit("untouched", chapter, {})
    expected = {"reference": ("the reference solution", set()), "untouched": ("the release untouched", tests)}
    for i, bug in enumerate(bank, 1):
        student = f"bug-{i:02d}"
        c.submit(student, chapter, c.bug_answers(chapter, bug))
        expected[student] = (f"bug {bug.name!r} in {bug.exercise}", set(bug.breaks))
    return expected


def error_outputs(nb):
    """{grade id: [error outputs]} of the test cells of an autograded notebook."""
    return {cell.metadata.nbgrader.grade_id: [o for o in cell.outputs if o.output_type == "error"]
            for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")}


def student_problems(c, chapter, student, what, broken):
    scores = c.cell_scores(student, chapter)
    errors = error_outputs(c.autograded(student, chapter))
    problems = []
    for cell, (score, max_score) in sorted(scores.items()):
        want = 0.0 if cell in broken else max_score
        if score != want:
            problems.append(f"{student} ({what}): {cell} scored {score}/{max_score}, expected {want}")
        if cell in broken and student != "untouched":
            problems += message_problems(student, what, cell, errors[cell])
    return problems


def message_problems(student, what, cell, errors):
    """A failing test must say why: a non-empty message, shown in the traceback the student reads."""
    if not errors:
        return [f"{student} ({what}): {cell} lost its points without an error output"]
    shown = ANSI.sub("", "\n".join(errors[-1].traceback))
    message = errors[-1].evalue.strip()
    if not message or message not in shown:
        return [f"{student} ({what}): {cell} fails with {errors[-1].ename} and no readable message:\n{shown}"]
    return []


def expected_total(c, chapter, broken):
    return sum(p for cell, p in bugs.test_cells(c.solution(chapter)).items() if cell not in broken)


def html_text(path):
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def hidden_only_lines(c, chapter):
    """Lines of the hidden tests that occur nowhere in the release, not even inside a longer line
    (so finding one in the feedback is a leak)."""
    handed_out = "\n".join(cell.source for cell in c.release(chapter).cells)
    hidden = {line.strip() for cell in c.solution(chapter).cells for region in HIDDEN.findall(cell.source)
              for line in region.splitlines()}
    return {line for line in hidden if len(line) > 3 and line not in handed_out}


def feedback_problems(c, chapter, expected):
    c.nbgrader("generate_feedback", chapter)
    leaks = hidden_only_lines(c, chapter) | {"### BEGIN HIDDEN TESTS"}
    problems = []
    for student, (what, broken) in expected.items():
        path = notebook_path(chapter, c.root / "feedback" / student).with_suffix(".html")
        if not path.exists():
            problems.append(f"no feedback for {student}: {path} is missing")
            continue
        text = html_text(path)
        problems += [f"feedback of {student} shows hidden test source: {line!r}"
                     for line in sorted(leaks) if line in text]
        if student.startswith("bug-"):
            errors = error_outputs(c.autograded(student, chapter))
            messages = [errors[cell][-1].evalue.strip() for cell in broken if errors[cell]]
            if not any(m and m in text for m in messages):
                problems.append(f"feedback of {student} ({what}) lacks its failure messages {messages}")
    return problems


def export_problems(c, chapter, expected):
    c.nbgrader("export")
    with (c.root / "grades.csv").open(newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["assignment"] == chapter]
    problems = []
    if sorted(r["student_id"] for r in rows) != sorted(expected):
        problems.append(f"grades.csv has rows for {sorted(r['student_id'] for r in rows)}, "
                        f"expected one per student {sorted(expected)}")
    for row in rows:
        want = expected_total(c, chapter, expected[row["student_id"]][1])
        if float(row["score"]) != want:
            problems.append(f"grades.csv: {row['student_id']} has score {row['score']}, expected {want}")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("chapter,solutions,banks", CHAPTERS, ids=[c[0] for c in CHAPTERS])
def test_autograde_synthetic_class(chapter, solutions, banks, tmp_path, capsys):
    start = time.perf_counter()
    c = course.create(tmp_path / "course", [chapter], solutions)
    expected = enrol_class(c, chapter, bugs.load(chapter, banks))
    c.nbgrader("autograde", chapter)
    problems = []
    for student, (what, broken) in expected.items():
        problems += student_problems(c, chapter, student, what, broken)
        with c.gradebook() as gb:
            total = gb.find_submission(chapter, student).score
        want = expected_total(c, chapter, broken)
        if total != want:
            problems.append(f"{student} ({what}): total {total}, expected {want}")
    if chapter == FEEDBACK_CHAPTER:
        problems += feedback_problems(c, chapter, expected)
        problems += export_problems(c, chapter, expected)
    with capsys.disabled():
        print(f"\n[grading] {chapter}: {len(expected)} students in {time.perf_counter() - start:.1f} s")
    assert not problems, f"{chapter}:\n  " + "\n  ".join(problems)
