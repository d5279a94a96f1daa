"""Tooling of the course: release generation, site build, grading and checks.

Kept apart from :mod:`nnlib`, which knows nothing about nbgrader or Jupyter Book.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
CHAPTERS = ROOT / "chapters"


def chapter_slugs(source=SOLUTIONS):
    """Chapter folder names in order, e.g. ['01-neuron', '02-layer', ...]."""
    return sorted(p.name for p in source.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def notebook_path(slug, source=SOLUTIONS):
    return source / slug / f"{slug}.ipynb"
