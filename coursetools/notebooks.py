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

The markers and delimiters themselves live in :mod:`coursetools.vocabulary`.
"""

import json
import re

import nbformat

from . import vocabulary

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
    """vocabulary.ANSWER, vocabulary.TEST or None, from the cell's text alone (the markers)."""
    if cell.cell_type != "code":
        return None
    delimiters = vocabulary.delimiters()
    if delimiters.marker(delimiters.begin_solution) in cell.source:
        return vocabulary.ANSWER
    first_line = vocabulary.first_line(cell.source)
    if vocabulary.test_header(first_line):
        return vocabulary.TEST
    if first_line.startswith(vocabulary.TEST_MARK):
        raise NotebookError(
            f"malformed test header {first_line!r}: expected '# TESTS <grade-id> <points>'"
        )
    return None


def uses_answers(cell):
    """True for a code cell marked to run the student's answers (first line ``# USES YOUR CODE``)."""
    return cell.cell_type == "code" and vocabulary.uses_your_code(cell.source)


def nbgrader_metadata(cell, slug):
    role = cell_role(cell)
    if role == vocabulary.ANSWER:
        names = DEF.findall(cell.source)
        if not names:
            raise NotebookError(f"{slug}: an answer cell defines no function or class:\n{cell.source[:200]}")
        return {"grade": False, "solution": True, "locked": False,
                "grade_id": f"{slug}-{names[0]}", "schema_version": 3}
    if role == vocabulary.TEST:
        m = vocabulary.test_header(cell.source)
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
            role = vocabulary.role(cell)
            out.append((meta["grade_id"], role, meta.get("points", 0)))
    return out


def exercises(nb):
    """[(answer grade ids, test grade ids)]: an exercise is a run of answer cells and the
    test cells that follow them, up to the next answer cell (e.g. six derivative
    functions graded together by one visible and one hidden test cell)."""
    groups = []
    for grade_id, role, _ in graded_cells(nb):
        if role == vocabulary.ANSWER and (not groups or groups[-1][1]):
            groups.append(([], []))
        if not groups:
            raise NotebookError(f"test cell {grade_id!r} comes before any answer cell")
        groups[-1][0 if role == vocabulary.ANSWER else 1].append(grade_id)
    return [(tuple(answers), tuple(tests)) for answers, tests in groups]
