"""Bug banks: realistic student mistakes, applied to the reference solutions.

A bank lives in ``tests/grading/bugs/<chapter>.toml`` (see AUTHORING.md). Each bug
is a textual edit of one answer cell's solution region; ``breaks`` lists the test
cells that must fail with it, every other test cell must still pass.
"""

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import ROOT, notebooks, vocabulary

BANKS = ROOT / "tests" / "grading" / "bugs"


@functools.cache
def solution_patterns():
    """(the region between the solution markers, a whole marker line), from the configured
    delimiters. Whole lines, so that an indented marker does not leave its indentation in front of
    the next line."""
    d = vocabulary.delimiters()
    begin, end = (re.escape(d.marker(x)) for x in (d.begin_solution, d.end_solution))
    return (re.compile(f"{begin}\n(.*?){end}", re.S),
            re.compile(f"^[ \t]*(?:{begin}|{end})[ \t]*(?:\n|$)", re.M))


@dataclass(frozen=True)
class Bug:
    chapter: str
    name: str
    exercise: str
    find: str
    replace: str
    breaks: tuple


def load(chapter, banks=BANKS):
    path = Path(banks) / f"{chapter}.toml"
    if not path.exists():
        return []
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    bugs = []
    for i, entry in enumerate(data.get("bug", [])):
        missing = {"name", "exercise", "find", "replace", "breaks"} - set(entry)
        if missing:
            raise ValueError(f"{path}: bug #{i + 1} lacks {sorted(missing)}")
        bugs.append(Bug(chapter, entry["name"], entry["exercise"], entry["find"],
                        entry["replace"], tuple(entry["breaks"])))
    return bugs


def answer_code(cell):
    """The solution cell as a student would have written it: marker lines removed, indentation kept."""
    return solution_patterns()[1].sub("", cell.source).rstrip() + "\n"


def apply(nb, bug):
    """Return a copy of the solution notebook ``nb`` with ``bug`` applied to its answer cell.

    The edit must match exactly once inside the solution region, so that a bank
    cannot silently go stale when the solution is rewritten.
    """
    nb = notebooks.nbformat.from_dict(nb)
    for cell in nb.cells:
        if vocabulary.grade_id(cell) != bug.exercise:
            continue
        match = solution_patterns()[0].search(cell.source)
        region = match.group(1)
        count = region.count(bug.find)
        if count != 1:
            raise ValueError(f"{bug.chapter}: bug {bug.name!r}: {bug.find!r} occurs {count} times "
                             f"in the solution of {bug.exercise}, expected exactly once")
        start, end = match.span(1)
        cell.source = cell.source[:start] + region.replace(bug.find, bug.replace) + cell.source[end:]
        return nb
    raise ValueError(f"{bug.chapter}: bug {bug.name!r}: no answer cell {bug.exercise!r}")


def test_cells(nb):
    """{grade_id: points} of the test cells."""
    return {gid: pts for gid, role, pts in notebooks.graded_cells(nb) if role == vocabulary.TEST}


def dry_run(nb, cwd):
    """Execute ``nb`` (answers filled in); return {grade id: error message} of the test cells that raised.

    A quick check for authors; the grading tests use real nbgrader instead.
    """
    from nbclient import NotebookClient

    from .execute import kernel_env

    nb = notebooks.nbformat.from_dict(nb)
    for cell in nb.cells:
        if vocabulary.role(cell) == vocabulary.ANSWER:
            cell.source = answer_code(cell)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(cwd)}}).execute(env=kernel_env())
    failed = {}
    for cell in nb.cells:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if vocabulary.role(cell) == vocabulary.TEST and errors:
            failed[vocabulary.grade_id(cell)] = f"{errors[0].ename}: {errors[0].evalue}"
    return failed


def main(argv=None):
    """``python -m coursetools.bugs 01-neuron``: dry-run every bug of a chapter's bank."""
    import argparse

    from . import notebook_path, release

    parser = argparse.ArgumentParser(prog="python -m coursetools.bugs")
    parser.add_argument("chapter")
    args = parser.parse_args(argv)
    release.stamp_sources([args.chapter])
    path = notebook_path(args.chapter)
    nb = notebooks.read(path)
    ok = True
    for bug in load(args.chapter):
        failed = dry_run(apply(nb, bug), path.parent)
        good = set(failed) == set(bug.breaks)
        ok &= good
        verdict = "ok " if good else "BAD"
        print(f"{verdict} {bug.name}: failed {sorted(failed)}, expected {sorted(bug.breaks)}")
        for grade_id, message in failed.items():
            print(f"      {grade_id}: {message}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
