"""Fast checks of the grader's stages on their own (no kernel, no root): the typed outcome, the
notebook passes, the unjailed twin of the jail, and the vocabulary read from nbgrader's settings."""

import json

import nbformat
import pytest

from coursetools import ROOT, checks, grade, outcome, passes, sandbox, vocabulary
from coursetools.outcome import Outcome

CHAPTER = "01-neuron"


def test_outcomes_read_back_as_they_were_written():
    for text in ["graded", "needs manual grading: a: reason with colons", "graded by hand: pasted code",
                 "not graded", "no submission"]:
        again = Outcome.parse(text).text
        checks.assert_true(again == text, f"{text!r} came back as {again!r}")
    checks.assert_true(Outcome.manual("x").awaits_human and Outcome(outcome.BY_HAND, "y").by_hand,
                       "the kinds must be told apart")
    with pytest.raises(ValueError):
        Outcome.parse("passed")


def test_the_grader_failing_is_not_shown_as_the_students_fault():
    reason = Outcome.manual(f"{outcome.GRADER_ERROR} KeyError: 'x'").student_reason()
    checks.assert_true("grader itself failed" in reason and "KeyError" not in reason, reason)
    shown = Outcome.manual("missing notebook a.ipynb").student_reason()
    checks.assert_true(shown == "missing notebook a.ipynb", "a reason about the submission is shown as it is")


@pytest.fixture(scope="module")
def source():
    [src] = grade.load_source(ROOT, CHAPTER).notebooks
    return src


def test_a_deleted_test_cell_comes_back_and_forged_metadata_goes(source, tmp_path):
    nb = nbformat.from_dict(json.loads(json.dumps(source.nb)))
    gid = next(iter(source.tests))
    nb.cells = [c for c in nb.cells if vocabulary.grade_id(c) != gid]
    nb.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade": True, "points": 99,
                                                                              "grade_id": "forged"}}))
    path = tmp_path / f"{source.name}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    restored = passes.apply(passes.BEFORE_RUN, path, source)
    ids = [vocabulary.grade_id(c) for c in restored.cells]
    checks.assert_true(gid in ids and "forged" not in ids, f"grade ids after the passes: {ids}")


def test_a_notebook_in_nbformat_3_needs_a_human(tmp_path):
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps({"nbformat": 3, "worksheets": []}), encoding="utf-8")
    with pytest.raises(outcome.ManualGrading, match="nbformat 3"):
        passes.ReadNotebook()(path)


def test_outputs_are_capped():
    cell = nbformat.v4.new_code_cell("print()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x\n" * 5000)]
    nb = passes.apply(passes.AFTER_RUN, nbformat.v4.new_notebook(cells=[cell]), None)
    text = nb.cells[0].outputs[0]["text"]
    checks.assert_true(text.count("\n") <= passes.CapOutputs.cell_lines + 1 and "more lines cut" in text,
                       f"{text.count(chr(10))} lines kept")


def test_the_unjailed_twin_runs_commands_as_they_are():
    jail = sandbox.NoJail()
    with jail.workdir() as folder:
        checks.assert_true(folder.is_dir(), "workdir() must give a folder")
        jail.prepare(folder)
        argv = ["python", "-c", "1"]
        checks.assert_true(jail.wrap(argv, folder) == argv, "the unjailed wrap must not change a command")
        jail.cleanup()
    checks.assert_true(not folder.exists(), "the folder must go with the context")


def test_delimiters_are_nbgraders():
    d = vocabulary.delimiters()
    checks.assert_true((d.begin_solution, d.end_hidden_tests) == ("BEGIN SOLUTION", "END HIDDEN TESTS"),
                       f"read {d}")
