"""Generate the student release ``chapters/`` from ``solutions/`` with nbgrader.

``solutions/`` is the single source. :func:`generate` stamps nbgrader metadata
into the sources, runs nbgrader's own ``generate_assignment`` on every chapter,
then tags the answer and test cells of the release so that the site build skips
them (no traceback from a stub on any page) and nbval expects them to raise.
"""

import filecmp
import logging
import shutil
import tempfile
from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

from . import CHAPTERS, ROOT, SOLUTIONS, chapter_slugs, notebook_path, notebooks

RELEASE_TAGS = ("raises-exception", "skip-execution")


def nbgrader_config(root=ROOT):
    """The repository's nbgrader_config.py as a traitlets Config."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def stamp_sources(slugs, check=False):
    """Stamp nbgrader metadata into the solution notebooks; return the slugs that changed."""
    changed = []
    for slug in slugs:
        path = notebook_path(slug)
        nb = notebooks.read(path)
        before = notebooks.dumps(nb)
        notebooks.stamp(nb, slug)
        if notebooks.dumps(nb) != before:
            changed.append(slug)
            if not check:
                notebooks.write(nb, path)
    return changed


def _run_nbgrader(slug, source_root, release_dir):
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    config = nbgrader_config()
    config.CourseDirectory.root = str(source_root.parent)
    config.CourseDirectory.source_directory = source_root.name
    config.CourseDirectory.release_directory = str(release_dir)
    config.GenerateAssignment.no_database = True
    config.SaveCells.enabled = False
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = slug
    app = GenerateAssignment(coursedir=coursedir, config=config)
    app.force = True
    app.log.setLevel(logging.ERROR)
    app.start()


def release_into(source_root, slugs, out):
    """Run nbgrader on each chapter of ``source_root`` and tag the release in ``out``."""
    for slug in slugs:
        _run_nbgrader(slug, Path(source_root), Path(out))
        path = notebook_path(slug, Path(out))
        notebooks.write(tag_release(notebooks.read(path)), path)


def tag_release(nb):
    """Mark answer and test cells, and the cells that use the answers, for the site (skip) and
    nbval (expected to raise): in the release they meet the stubs.

    Outputs and run-specific metadata (the Python version that last executed the
    source) are dropped, so the release depends on the source text alone.
    """
    nb.metadata = {k: v for k, v in nb.metadata.items() if k == "kernelspec"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if cell.cell_type == "code" and ("nbgrader" in cell.metadata or notebooks.uses_answers(cell)):
            tags = list(cell.metadata.get("tags", []))
            tags += [t for t in RELEASE_TAGS if t not in tags]
            cell.metadata["tags"] = tags
    return nb


def generate(slugs=None, out=CHAPTERS):
    """Write the release of ``slugs`` (default: every chapter) into ``out``."""
    slugs = chapter_slugs() if slugs is None else list(slugs)
    stamp_sources(slugs)
    release_into(SOLUTIONS, slugs, out)
    return slugs


def stale(slugs=None):
    """Differences between ``chapters/`` and a fresh release, as readable lines (empty: up to date)."""
    slugs = chapter_slugs() if slugs is None else list(slugs)
    problems = [f"solutions/{s}: nbgrader metadata is not stamped" for s in stamp_sources(slugs, check=True)]
    with tempfile.TemporaryDirectory() as tmp:
        # Stamp a copy so that checking never writes to solutions/.
        source = Path(tmp) / "solutions"
        shutil.copytree(SOLUTIONS, source)
        for slug in slugs:
            path = notebook_path(slug, source)
            notebooks.write(notebooks.stamp(notebooks.read(path), slug), path)
        fresh = Path(tmp) / "release"
        release_into(source, slugs, fresh)
        for slug in slugs:
            ours, theirs = notebook_path(slug, CHAPTERS), notebook_path(slug, fresh)
            if not ours.exists():
                problems.append(f"chapters/{slug}: missing")
            elif not filecmp.cmp(ours, theirs, shallow=False):
                problems.append(f"chapters/{slug}: differs from a fresh release of solutions/{slug}")
    if CHAPTERS.exists():
        extra = {p.name for p in CHAPTERS.iterdir() if p.is_dir()} - set(slugs)
        problems += [f"chapters/{name}: has no source in solutions/" for name in sorted(extra)]
    return problems
