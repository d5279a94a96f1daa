"""Reading, writing and stamping the chapter notebooks.

Authors mark exercises in plain text, and :func:`stamp` derives nbgrader's cell
metadata from the markers, so the metadata can never drift from the source:

* a code cell containing ``### BEGIN SOLUTION`` is an answer cell, graded by the
  tests; its grade id is ``<chapter>-<first function defined in it>``;
* a code cell whose first line is ``# TESTS <grade-id> <points>`` is an autograded
  test cell (hidden parts sit between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS``);
* a code cell whose first line is ``# USES YOUR CODE`` runs the student's answers (a gradient
  check, a training loop): it is an ordinary cell of the source, and the release tags it like
  the graded cells, since there it meets the stubs;
* every other cell carries no nbgrader metadata.
"""

import json
import re

import nbformat

SOLUTION_BEGIN = "### BEGIN SOLUTION"
TEST_HEADER = re.compile(r"^# TESTS (?P<grade_id>[A-Za-z0-9_.-]+) (?P<points>\d+(?:\.\d+)?)\s*$")
USES_ANSWERS = "# USES YOUR CODE"
DEF = re.compile(r"^(?:def|class) (\w+)", re.M)


class NotebookError(ValueError):
    """A chapter notebook breaks the authoring rules; the message names file and cell."""


def read(path):
    try:
        return nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise NotebookError(f"{path}: no such notebook") from None
    except (json.JSONDecodeError, nbformat.reader.NotJSONError) as exc:
        raise NotebookError(f"{path}: not a valid notebook (invalid JSON: {exc})") from None


def dumps(nb):
    """Canonical JSON text, so regenerating an unchanged notebook gives identical bytes."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write(nb, path):
    nbformat.validate(nb)
    text = dumps(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def cell_role(cell):
    """'solution', 'tests' or None, from the cell's text alone."""
    if cell.cell_type != "code":
        return None
    if SOLUTION_BEGIN in cell.source:
        return "solution"
    first_line = cell.source.split("\n", 1)[0]
    if TEST_HEADER.match(first_line):
        return "tests"
    if first_line.startswith("# TESTS"):
        raise NotebookError(
            f"malformed test header {first_line!r}: expected '# TESTS <grade-id> <points>'"
        )
    return None


def uses_answers(cell):
    """True for a code cell marked to run the student's answers (first line ``# USES YOUR CODE``)."""
    return cell.cell_type == "code" and cell.source.split("\n", 1)[0].strip() == USES_ANSWERS


def nbgrader_metadata(cell, slug):
    role = cell_role(cell)
    if role == "solution":
        names = DEF.findall(cell.source)
        if not names:
            raise NotebookError(f"{slug}: an answer cell defines no function or class:\n{cell.source[:200]}")
        return {"grade": False, "solution": True, "locked": False,
                "grade_id": f"{slug}-{names[0]}", "schema_version": 3}
    if role == "tests":
        m = TEST_HEADER.match(cell.source.split("\n", 1)[0])
        points = float(m["points"])
        return {"grade": True, "solution": False, "locked": True, "grade_id": m["grade_id"],
                "points": int(points) if points.is_integer() else points, "schema_version": 3}
    return None


def stamp(nb, slug):
    """Set nbgrader metadata on every cell from its markers; return the notebook."""
    seen = set()
    for index, cell in enumerate(nb.cells):
        try:
            meta = nbgrader_metadata(cell, slug)
        except NotebookError as exc:
            raise NotebookError(f"{slug}, cell {index}: {exc}") from None
        cell.metadata.pop("nbgrader", None)
        if meta is None:
            continue
        if meta["grade_id"] in seen:
            raise NotebookError(f"{slug}, cell {index}: grade id {meta['grade_id']!r} is used twice")
        seen.add(meta["grade_id"])
        cell.metadata["nbgrader"] = meta
    return nb


def graded_cells(nb):
    """[(grade_id, role, points)] of the answer and test cells, in order."""
    out = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta:
            role = "solution" if meta.get("solution") else "tests"
            out.append((meta["grade_id"], role, meta.get("points", 0)))
    return out


def exercises(nb):
    """[(answer grade ids, test grade ids)]: an exercise is a run of answer cells and the
    test cells that follow them, up to the next answer cell (e.g. six derivative
    functions graded together by one visible and one hidden test cell)."""
    groups = []
    for grade_id, role, _ in graded_cells(nb):
        if role == "solution" and (not groups or groups[-1][1]):
            groups.append(([], []))
        if not groups:
            raise NotebookError(f"test cell {grade_id!r} comes before any answer cell")
        groups[-1][0 if role == "solution" else 1].append(grade_id)
    return [(tuple(answers), tuple(tests)) for answers, tests in groups]
