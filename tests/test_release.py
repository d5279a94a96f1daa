"""The student release: up to date, listed in the toc, and free of solutions.

The rules are checked on the real chapters and, so that they hold even before a
chapter exists, on a small synthetic chapter released into a temporary folder.
"""

import re

import nbformat
import pytest
import yaml

from coursetools import CHAPTERS, ROOT, SOLUTIONS, chapter_slugs, notebook_path, notebooks, release
from coursetools.notebooks import NotebookError

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def toc_chapters():
    data = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [ch["file"] for part in data.get("parts", []) for ch in part.get("chapters", [])
            if ch["file"].startswith("chapters/")]


def solution_slugs():
    return chapter_slugs(SOLUTIONS) if SOLUTIONS.is_dir() else []


def release_slugs():
    return chapter_slugs(CHAPTERS) if CHAPTERS.is_dir() else []


def code_cell(source, tags=()):
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def toy_chapter():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Toy\n\nSquare a number."),
        code_cell("def square(x):\n    '''x squared.'''\n    ### BEGIN SOLUTION\n    secret_answer = x * x\n"
                  "    return secret_answer\n    ### END SOLUTION"),
        code_cell("# TESTS toy-visible 1\nassert square(2) == 4"),
        code_cell("# TESTS toy-hidden 2\n### BEGIN HIDDEN TESTS\nassert square(3) == 9  # hidden_marker\n"
                  "### END HIDDEN TESTS"),
        code_cell("# USES YOUR CODE\nprint([square(x) for x in range(4)])"),
    ]
    return nb


@pytest.fixture(scope="module")
def toy_release(tmp_path_factory):
    """(source, release) notebooks of the toy chapter, released with the real tooling."""
    root = tmp_path_factory.mktemp("toy")
    source = notebooks.stamp(toy_chapter(), "toy")
    notebooks.write(source, notebook_path("toy", root / "solutions"))
    release.release_into(root / "solutions", ["toy"], root / "release")
    return source, notebooks.read(notebook_path("toy", root / "release"))


def leaked_lines(source_nb, release_nb):
    """Lines of solution or hidden-test regions that survive in the release's graded cells."""
    released = {c.metadata["nbgrader"]["grade_id"]: c.source for c in release_nb.cells
                if "nbgrader" in c.metadata}
    leaks = []
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        outside = set(SOLUTION.sub("", HIDDEN.sub("", cell.source)).splitlines())
        secret = [line for region in SOLUTION.findall(cell.source) + HIDDEN.findall(cell.source)
                  for line in region.splitlines() if line.strip() and line not in outside]
        kept = set(released.get(meta["grade_id"], "").splitlines())
        leaks += [f"{meta['grade_id']}: {line.strip()}" for line in secret if line in kept]
    return leaks


def release_problems(source_nb, release_nb):
    problems = leaked_lines(source_nb, release_nb)
    for index, cell in enumerate(release_nb.cells):
        if "BEGIN SOLUTION" in cell.source or "BEGIN HIDDEN TESTS" in cell.source:
            problems.append(f"cell {index}: a solution or hidden-test marker survives")
        if cell.cell_type == "code" and ("nbgrader" in cell.metadata or notebooks.uses_answers(cell)):
            missing = set(release.RELEASE_TAGS) - set(cell.metadata.get("tags", []))
            if missing:
                problems.append(f"cell {index}: graded cell or cell using the answers lacks tags "
                                f"{sorted(missing)}")
    return problems


# -- the toy chapter: the rules themselves -------------------------------------------------------


def test_toy_release_has_no_solution_and_is_tagged(toy_release):
    source, released = toy_release
    assert not release_problems(source, released)
    text = "\n".join(c.source for c in released.cells)
    assert "secret_answer" not in text and "hidden_marker" not in text
    assert "raise NotImplementedError()" in text


def test_a_cell_using_the_answers_is_tagged_only_in_the_release(toy_release):
    source, released = toy_release
    assert not source.cells[-1].metadata.get("tags"), "the source runs it, so outputs are stored"
    assert set(release.RELEASE_TAGS) <= set(released.cells[-1].metadata["tags"])
    assert "nbgrader" not in released.cells[-1].metadata, "it is not graded"


def test_a_leak_is_detected(toy_release):
    source, released = toy_release
    leaky = nbformat.from_dict(released)
    leaky.cells[1].source = source.cells[1].source.replace("### BEGIN SOLUTION\n", "")
    assert any("secret_answer" in p for p in release_problems(source, leaky))


def test_stamping_is_idempotent():
    once = notebooks.dumps(notebooks.stamp(toy_chapter(), "toy"))
    twice = notebooks.dumps(notebooks.stamp(nbformat.reads(once, as_version=4), "toy"))
    assert once == twice


def test_malformed_test_header_names_the_cell():
    nb = toy_chapter()
    nb.cells[2].source = "# TESTS toy-visible\nassert True"
    with pytest.raises(NotebookError, match=r"toy, cell 2: malformed test header"):
        notebooks.stamp(nb, "toy")


def test_duplicate_grade_id_names_the_cell():
    nb = toy_chapter()
    nb.cells[3].source = "# TESTS toy-visible 2\nassert True"
    with pytest.raises(NotebookError, match=r"toy, cell 3: grade id 'toy-visible' is used twice"):
        notebooks.stamp(nb, "toy")


# -- the real chapters ---------------------------------------------------------------------------


def test_toc_lists_exactly_the_chapters():
    listed = toc_chapters()
    expected = [f"chapters/{slug}/{slug}" for slug in solution_slugs()]
    assert sorted(listed) == sorted(expected), (
        f"_toc.yml and solutions/ disagree: not in the toc {sorted(set(expected) - set(listed))}, "
        f"in the toc without a solution {sorted(set(listed) - set(expected))}")


@pytest.mark.slow
def test_release_is_not_stale():
    problems = release.stale()
    assert not problems, "\n".join(problems) + "\nrun `make release`"


@pytest.mark.parametrize("slug", solution_slugs())
def test_solution_stamping_is_idempotent(slug):
    nb = notebooks.read(notebook_path(slug))
    once = notebooks.dumps(notebooks.stamp(nb, slug))
    assert notebooks.dumps(notebooks.stamp(nbformat.reads(once, as_version=4), slug)) == once


@pytest.mark.parametrize("slug", release_slugs())
def test_release_has_no_solution_and_is_tagged(slug):
    source = notebooks.stamp(notebooks.read(notebook_path(slug)), slug)
    problems = release_problems(source, notebooks.read(notebook_path(slug, CHAPTERS)))
    assert not problems, f"chapters/{slug}:\n" + "\n".join(problems)


def test_reference_answers_respect_their_forbidden_imports():
    """An answer cell marked `# nnlib: forbidden` must be solvable, and solved, without nnlib:
    the hardened grader sends any import of it to manual grading."""
    from coursetools import bugs, forbidden, vocabulary

    offenders = []
    for slug in chapter_slugs():
        for cell in notebooks.read(notebook_path(slug)).cells:
            if cell.cell_type == "code" and notebooks.cell_role(cell) == "solution" \
                    and vocabulary.forbids_nnlib(cell.source):
                found = forbidden.forbidden_imports(bugs.answer_code(cell))
                if found:
                    offenders.append(f"{slug}: {found}")
    assert not offenders, offenders
