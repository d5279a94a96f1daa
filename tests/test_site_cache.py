"""The site's execution cache follows the library code the cells import (fast, no build)."""

from coursetools import site


def library(tmp_path, text):
    root = tmp_path / "nnlib"
    root.mkdir(exist_ok=True)
    (root / "activations.py").write_text(text, encoding="utf-8")
    return root


def test_cache_moves_when_the_library_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(site, "ROOT", tmp_path)
    cache = tmp_path / "cache"
    before = site.execution_cache(cache, [library(tmp_path, "def relu(z):\n    return z\n")])
    before.mkdir(parents=True)
    (before / "global.db").write_text("cached outputs of the old code")
    assert site.execution_cache(cache, [tmp_path / "nnlib"]) == before, "unchanged code kept its cache"
    after = site.execution_cache(cache, [library(tmp_path, "def relu(z):\n    return z * (z > 0)\n")])
    assert after != before, "a changed nnlib must not reuse the cached outputs"
    assert not before.exists(), "the stale cache is removed"

