"""Build the course site with Jupyter Book 1, offline and with strict checks.

``build()`` makes the public site from the student release (``chapters/``) into
``_build/html``; ``build(instructor=True)`` makes the same book from ``solutions/``
into ``_build/instructor``. Both:

* refuse to build a stale release (the site must show what students download);
* copy the vendored JavaScript (MathJax, RequireJS, the ipywidgets HTML manager,
  installed by ``npm ci --prefix site``) into ``site/vendor``, which ``_config.yml``
  serves from ``_static/``, so no page needs another host;
* run the notebooks (cached under ``_build/.jupyter_cache``, in a folder named after a
  digest of the code the cells import, see :func:`execution_cache`) with static demos and
  one BLAS thread, with Sphinx warnings as errors;
* scan the built pages for tracebacks and fail naming the page.
"""

import hashlib
import os
import re
import shutil
import sys
import time

import yaml

from . import ROOT

BUILD = ROOT / "_build"
CACHE = BUILD / ".jupyter_cache"
# What the cells import besides numpy and matplotlib. jupyter-cache keys a notebook on its
# cells' code only, so a change here must move the cache, or the site shows stale outputs.
CELL_LIBRARIES = (ROOT / "nnlib", ROOT / "coursetools" / "checks.py")
NODE_MODULES = ROOT / "site" / "node_modules"
VENDOR = ROOT / "site" / "vendor"

# (package folder in node_modules, folder under site/vendor, patterns left out)
VENDORED = (
    # MathJax: the tex-chtml component and what it loads on demand (TeX extensions,
    # fonts, menu, accessibility); the other combined components are never used.
    ("mathjax/es5", "mathjax", ("*svg*", "mml-*", "tex-mml-*", "tex-chtml-full*", "node-main.js")),
    ("requirejs", "requirejs", ("bin", "*.md", "package.json")),
    ("@jupyter-widgets/html-manager/dist", "html-manager", ("*.map", "embed.js*", "libembed-amd.js")),
)

# Signs that a notebook cell failed while the site was built.
ERROR_SIGNS = (
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'class="[^"]*\boutput (?:traceback|error)\b'),
    re.compile(r'class="[^"]*\boutput stderr\b[^"]*"[^>]*>(?:(?!</div>).)*?\b\w*(?:Error|Exception)\b:',
               re.S),
)


class SiteError(RuntimeError):
    """The site cannot be built or a built page is broken; the message says which and why."""


def kernel_env():
    """Environment of the kernels that run the chapters for the site."""
    from .execute import kernel_env as base

    env = base()
    env["NNLIB_STATIC_DEMOS"] = "1"
    return env


def vendor_assets(node_modules=NODE_MODULES, vendor=VENDOR):
    """Copy the vendored JavaScript from ``node_modules`` into ``vendor`` (idempotent)."""
    for package, target, skip in VENDORED:
        source = node_modules / package
        if not source.is_dir():
            raise SiteError(f"{source} is missing: run `make install` (npm ci --prefix site) first")
        dest = vendor / target
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*skip))


def instructor_toc(toc=ROOT / "_toc.yml", out=BUILD / "instructor-toc.yml"):
    """Write a copy of the toc whose chapters point at ``solutions/``; return its path."""
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))

    def retarget(node):
        if isinstance(node, dict):
            return {k: ("solutions/" + v.removeprefix("chapters/") if k == "file" else retarget(v))
                    for k, v in node.items()}
        if isinstance(node, list):
            return [retarget(item) for item in node]
        return node

    out.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(retarget(data), sort_keys=False)
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    return out


def instructor_excludes(config=ROOT / "_config.yml"):
    """The public site's exclude_patterns with the release excluded instead of the solutions."""
    patterns = yaml.safe_load(config.read_text(encoding="utf-8"))["exclude_patterns"]
    return ["chapters" if p == "solutions" else p for p in patterns]


def source_digest(paths=CELL_LIBRARIES):
    """A digest of every Python file under ``paths`` (names and contents)."""
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for path in files:
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def execution_cache(cache=CACHE, paths=CELL_LIBRARIES):
    """The execution cache for the current library sources; caches of older sources are removed."""
    current = cache / f"libraries-{source_digest(paths)}"
    if cache.is_dir():
        for old in cache.glob("libraries-*"):
            if old != current:
                shutil.rmtree(old)
    return current


def run_sphinx(outdir, overrides=None, toc=ROOT / "_toc.yml"):
    """Jupyter Book's own build, with warnings as errors, nitpicky and keep-going."""
    from jupyter_book.sphinx import build_sphinx

    confoverrides = {"external_toc_path": toc.relative_to(ROOT).as_posix(), "nitpicky": True,
                     "latex_individualpages": False, "nb_execution_cache_path": str(execution_cache()),
                     **(overrides or {})}
    saved = dict(os.environ)
    # The kernels inherit this process's environment; restore it for callers (tests).
    os.environ.update(kernel_env())
    try:
        status = build_sphinx(ROOT, outdir, noconfig=True, path_config=str(ROOT / "_config.yml"),
                              confoverrides=confoverrides, doctreedir=BUILD / f".doctrees-{outdir.name}",
                              warningiserror=True, keep_going=True, builder="html")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if status != 0:
        raise SiteError(f"the Sphinx build into {outdir} failed ({status}); see the warnings above")


def broken_pages(outdir):
    """[(page, reason)] for every built page that shows a failed cell."""
    found = []
    for page in sorted(outdir.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for sign in ERROR_SIGNS:
            if sign.search(text):
                found.append((page.relative_to(outdir).as_posix(), f"matches {sign.pattern!r}"))
                break
    return found


def check_release():
    from . import release

    problems = release.stale()
    if problems:
        raise SiteError("chapters/ is stale, the site would not show the current release:\n  "
                        + "\n  ".join(problems) + "\nrun `make release` (python -m coursetools release)")


def build_book(instructor=False):
    """Build one edition of the book; return its output folder. Raises SiteError."""
    check_release()
    vendor_assets()
    if instructor:
        outdir = BUILD / "instructor"
        overrides = {"html_title": "Neural Networks and Backpropagation (instructor edition)",
                     "exclude_patterns": instructor_excludes()}
        run_sphinx(outdir, overrides, toc=instructor_toc())
    else:
        outdir = BUILD / "html"
        run_sphinx(outdir)
    broken = broken_pages(outdir)
    if broken:
        raise SiteError("pages show failed cells:\n  " + "\n  ".join(f"{p}: {why}" for p, why in broken))
    return outdir


def build(instructor=False):
    """``python -m coursetools site [--instructor]``: build, report the time; exit status."""
    start = time.perf_counter()
    try:
        outdir = build_book(instructor)
    except SiteError as exc:
        print(f"site: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    print(f"site: built {outdir.relative_to(ROOT)}/index.html in {seconds:.1f} s")
    return 0
