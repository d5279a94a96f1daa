"""The grader's defences on a submitted notebook, as an ordered list of notebook → notebook passes.

Each pass is one small class in the style of nbgrader's preprocessors: configured by plain
attributes, called as ``notebook = step(notebook, source)``, and raising
:class:`ManualGrading` when the submission cannot be graded automatically. :data:`BEFORE_RUN`
turns what a student handed in into what the kernel may run; :data:`AFTER_RUN` bounds what the run
left in it before it is stored. A new defence is a new class in one of the two lists.
"""

import copy
import json

import nbformat

from . import vocabulary
from .outcome import ManualGrading


class ReadNotebook:
    """Path → notebook: valid JSON, nbformat 4, and valid against nbformat's schema."""

    def __call__(self, path, src=None):
        try:
            text = path.read_text(encoding="utf-8")
            version = json.loads(text).get("nbformat")
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
            raise ManualGrading(f"{path.name} is not a valid notebook (invalid JSON: {exc})") from None
        if version != 4:
            raise ManualGrading(f"{path.name} is in nbformat {version}; only nbformat 4 is graded")
        try:
            nb = nbformat.reads(text, as_version=4)
            nbformat.validate(nb)
        except Exception as exc:  # nbformat raises several unrelated types for a corrupt notebook
            raise ManualGrading(f"{path.name} is not a valid notebook: {str(exc)[:300]}") from None
        return nb


class RestoreSourceCells:
    """The source's test cells (by grade id; deleted ones re-added in place) and the source's
    metadata on the answer cells; any other nbgrader metadata a student wrote is dropped."""

    def __call__(self, nb, src):
        known = {**src.answers, **src.tests}
        seen, cells = set(), []
        for cell in nb.cells:
            gid = vocabulary.grade_id(cell)
            cell.metadata.pop("nbgrader", None)
            if gid in known and gid not in seen and cell.cell_type == known[gid].cell_type:
                seen.add(gid)
                if gid in src.tests:
                    cell = copy.deepcopy(src.tests[gid])
                cell.metadata["nbgrader"] = copy.deepcopy(known[gid].metadata["nbgrader"])
            cells.append(cell)
        order = [c.metadata["nbgrader"]["grade_id"] for c in src.nb.cells if "nbgrader" in c.metadata]
        for i, gid in enumerate(order):
            if gid in seen or gid not in src.tests:
                continue
            before = set(order[:i])
            at = max((k + 1 for k, c in enumerate(cells)
                      if vocabulary.grade_id(c) in before), default=len(cells))
            cells.insert(at, copy.deepcopy(src.tests[gid]))
            seen.add(gid)
        nb.cells = cells
        return nb


class CapOutputs:
    """Trim every cell's outputs to the per-cell budget, and the notebook to its own: a student who
    prints without end must not fill the disk, the gradebook's notebooks or the feedback page."""

    cell_bytes = 64 << 10
    cell_lines = 1000
    notebook_bytes = 2 << 20

    def __call__(self, nb, src=None):
        budget = self.notebook_bytes
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            kept, used = [], 0
            for out in cell.outputs:
                size = len(json.dumps(out))
                if out.get("output_type") == "stream":
                    out["text"] = self.trim_text(out["text"])
                    size = len(json.dumps(out))
                if used + size > min(self.cell_bytes, budget) and out.get("output_type") != "error":
                    kept.append(nbformat.v4.new_output(
                        "stream", name="stdout", text=f"[output of {size} bytes removed by the grader]\n"))
                    continue
                kept.append(out)
                used += size
            cell.outputs = [nbformat.from_dict(o) for o in kept]
            budget = max(0, budget - used)
        return nb

    def trim_text(self, text):
        if len(text) > self.cell_bytes:
            cut = len(text) - self.cell_bytes
            text = text[:self.cell_bytes] + f"\n[... {cut} more characters cut by the grader]\n"
        lines = text.splitlines(keepends=True)
        if len(lines) > self.cell_lines:
            text = "".join(lines[:self.cell_lines]) + f"[... {len(lines) - self.cell_lines} more lines cut]\n"
        return text


# The first step reads the file; every later one maps a notebook to a notebook.
BEFORE_RUN = [ReadNotebook(), RestoreSourceCells()]
AFTER_RUN = [CapOutputs()]


def apply(steps, item, src):
    for step in steps:
        item = step(item, src)
    return item
