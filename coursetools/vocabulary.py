"""The words the course and nbgrader agree on, in one place: cell roles, grade ids, markers.

* nbgrader's cell roles, read from a cell's ``nbgrader`` metadata (:func:`role`, :func:`grade_id`):
  an answer cell (``solution``), a test cell (``grade`` without ``solution``), anything else;
* the solution and hidden-test delimiters, read from the configured ``ClearSolutions`` and
  ``ClearHiddenTests`` preprocessors (:func:`delimiters`), written ``### <delimiter>`` in a source;
* the course's own markers, on a code cell's first line: ``# TESTS <grade-id> <points>`` (a test
  cell), ``# USES YOUR CODE`` (a cell that runs the answers); and, anywhere in an answer cell,
  ``# nnlib: forbidden`` (the answer may not reach the reference).

Only the standard library at import time: :mod:`coursetools.checks` imports this in student kernels.
"""

import functools
import re
from dataclasses import dataclass
from pathlib import Path

# The two graded roles, named as notebooks.cell_role and the tests have always named them.
ANSWER = "solution"
TEST = "tests"
TEST_HEADER = re.compile(r"^# TESTS (?P<grade_id>[A-Za-z0-9_.-]+) (?P<points>\d+(?:\.\d+)?)\s*$")
TEST_MARK = "# TESTS"
USES_YOUR_CODE = "# USES YOUR CODE"
FORBIDDEN_MARK = re.compile(r"^\s*#\s*nnlib:\s*forbidden\b", re.M)
# The comment an author writes in front of nbgrader's delimiters in a source cell.
DELIMITER_PREFIX = "### "


def role(cell):
    """ANSWER, TEST or None, from the cell's nbgrader metadata."""
    meta = cell.metadata.get("nbgrader") or {}
    if meta.get("solution"):
        return ANSWER
    if meta.get("grade"):
        return TEST
    return None


def grade_id(cell):
    return (cell.metadata.get("nbgrader") or {}).get("grade_id")


def first_line(text):
    return text.split("\n", 1)[0]


def test_header(text):
    """The match of a cell text's ``# TESTS`` header (groups grade_id, points), else None."""
    return TEST_HEADER.match(first_line(text))


def uses_your_code(text):
    return first_line(text).strip() == USES_YOUR_CODE


def forbids_nnlib(text):
    return bool(FORBIDDEN_MARK.search(text))


@dataclass(frozen=True)
class Delimiters:
    begin_solution: str
    end_solution: str
    begin_hidden_tests: str
    end_hidden_tests: str

    def marker(self, delimiter):
        return DELIMITER_PREFIX + delimiter


@functools.cache
def delimiters(root=None):
    """The delimiters of the course at ``root`` (default: this repository), as its
    nbgrader_config.py configures nbgrader's ``ClearSolutions`` and ``ClearHiddenTests``."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions
    from traitlets.config import Config

    from . import ROOT
    from .release import nbgrader_config

    root = Path(root or ROOT)
    config = nbgrader_config(root) if (root / "nbgrader_config.py").exists() else Config()
    solutions, hidden = ClearSolutions(config=config), ClearHiddenTests(config=config)
    return Delimiters(solutions.begin_solution_delimeter, solutions.end_solution_delimeter,
                      hidden.begin_test_delimeter, hidden.end_test_delimeter)
