"""What a student sees around a test cell, in a real kernel: short failures, a passed line, and a
warning for an answer that imports nnlib where it is forbidden (coursetools.checks' IPython hook)."""

import re

import nbformat
import pytest
from nbclient import NotebookClient

from coursetools import ROOT
from coursetools.checks import forbidden_warnings
from coursetools.execute import kernel_env, sanitize

pytestmark = pytest.mark.slow  # starts a kernel

MARK = "# nnlib: forbidden (numpy only here: the autograder flags an import of nnlib)\n"
BAD_SIGMOID = MARK + "import numpy as np\nfrom nnlib.activations import sigmoid\n"
GOOD_SIGMOID = MARK + "import numpy as np\n\n\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-np.asarray(z)))\n"
TEST_SIGMOID = ("# TESTS sigmoid-visible 1\nfrom coursetools.checks import assert_close\n\n"
                "print('checking sigmoid')\nassert_close(sigmoid(0.0), 0.5, 'sigmoid(0)')\n")
# The cells run in this order in one kernel; each key names a cell the tests look at.
CELLS = {
    "bad answer": BAD_SIGMOID,
    "test of bad answer": TEST_SIGMOID,
    "good answer": GOOD_SIGMOID,
    "test of good answer": TEST_SIGMOID,
    "failing test": ("# TESTS sigmoid-shape 1\nfrom coursetools.checks import assert_close\n\n"
                     "assert_close(sigmoid(1.0), [0.5, 0.5], 'sigmoid(1)', hint='σ keeps the shape of z')\n"),
    "hidden test in the release": "# TESTS sigmoid-hidden 2",
    "ordinary cell": "x = sigmoid(2.0)\n",
    "answer defined by exec": "exec('def double(v):\\n    return 2 * v')\n",
    "test of exec answer": "# TESTS double-visible 1\nassert double(2) == 4\n",
    "reload": "import importlib\n\nimport coursetools.checks\n\nimportlib.reload(coursetools.checks);\n",
    "test after reload": "# TESTS reloaded-visible 1\nassert sigmoid(0.0) == 0.5\n",
}


@pytest.fixture(scope="module")
def outputs():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS.values()])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT)}}).execute(env=kernel_env())
    sanitize(nb)  # merge stream chunks, as stored outputs are
    return dict(zip(CELLS, (cell.outputs for cell in nb.cells), strict=True))


def stream(outs, name):
    return "".join(o.text for o in outs if o.output_type == "stream" and o.name == name)


def passed_lines(outs):
    return re.findall(r"^✓ .*$", stream(outs, "stdout"), re.M)



def test_a_failing_check_shows_its_message_alone(outputs):
    (error,) = [o for o in outputs["failing test"] if o.output_type == "error"]
    assert error.ename == "ExerciseError"  # still an error: nbgrader fails the cell on it
    shown = "\n".join(error.traceback).splitlines()
    assert 1 <= len(shown) <= 2, shown
    assert shown[0] == error.evalue.splitlines()[0]
    assert shown[0] == "sigmoid(1): has shape (), expected (2,)", shown
    assert shown[-1] == "Hint: σ keeps the shape of z"


def test_a_passing_test_cell_says_so_after_its_own_output(outputs):
    assert stream(outputs["test of good answer"], "stdout") == "checking sigmoid\n✓ sigmoid-visible passed\n"


@pytest.mark.parametrize("cell", ["failing test", "hidden test in the release", "ordinary cell",
                                  "good answer"])
def test_no_passed_line_where_nothing_passed(outputs, cell):
    assert passed_lines(outputs[cell]) == []


def test_an_answer_importing_nnlib_where_forbidden_is_warned_about(outputs):
    warning = stream(outputs["test of bad answer"], "stderr")
    assert warning.startswith("⚠ sigmoid-visible: sigmoid comes from a cell marked '# nnlib: forbidden'")
    assert "line 3: nnlib.activations" in warning and "manual grading" in warning
    assert passed_lines(outputs["test of bad answer"]) == ["✓ sigmoid-visible passed"]


def test_a_good_answer_gets_no_warning(outputs):
    assert stream(outputs["test of good answer"], "stderr") == ""


def test_an_answer_without_a_readable_source_is_passed_over(outputs):
    outs = outputs["test of exec answer"]
    assert stream(outs, "stderr") == ""
    assert passed_lines(outs) == ["✓ double-visible passed"]


def test_a_reimported_checks_module_reports_once(outputs):
    assert passed_lines(outputs["test after reload"]) == ["✓ reloaded-visible passed"]


def test_the_warning_follows_the_latest_definition():
    history = ["", BAD_SIGMOID, TEST_SIGMOID]
    assert [w.split(" ")[0] for w in forbidden_warnings(TEST_SIGMOID, history)] == ["sigmoid"]
    assert forbidden_warnings(TEST_SIGMOID, [*history, GOOD_SIGMOID, TEST_SIGMOID]) == []
    unmarked = BAD_SIGMOID.replace(MARK, "")
    assert forbidden_warnings(TEST_SIGMOID, ["", unmarked, TEST_SIGMOID]) == []
