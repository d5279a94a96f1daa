"""Feedback pages whose math renders with no network and no script.

nbgrader's feedback template loads MathJax 2 from a CDN when a student opens the page, so a
page read offline (students get it as a single file, by e-mail or download) shows raw TeX.
:class:`OfflineMathExporter` is the exporter ``nbgrader_config.py`` gives ``GenerateFeedback``
(so both ``nbgrader generate_feedback`` and ``python -m coursetools grade`` use it): it renders
nbgrader's own feedback template without the MathJax loader (``templates/feedback_offline``),
then typesets every formula into inline SVG with the MathJax the site vendors
(``site/node_modules/mathjax``, run by Node as ``npm ci --prefix site`` installed it). The page
stays one self-contained file and shows the same math whatever the reader's connection.
Widget outputs (the chapters' demos) become a line of text: see :func:`without_widgets`.
nbconvert's BeautifulSoup pass over the whole page is skipped (``typeset.js`` makes its edits),
and its sanitizer's answers are remembered per process (:data:`clean_html`).
"""

import contextlib
import copy
import functools
import multiprocessing.util
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import nbgrader
from jinja2 import BytecodeCache
from nbconvert import filters
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbformat import NotebookNode

from .. import ROOT

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
TEMPLATE_NAME = "feedback_offline"
TYPESET_JS = HERE / "typeset.js"
# The folder of nbgrader's own "feedback" template, which ours extends.
NBGRADER_TEMPLATES = str(Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates")
MATHJAX = ROOT / "site" / "node_modules" / "mathjax"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = "(an interactive demo: run the notebook in Jupyter to use it)"


class FeedbackError(RuntimeError):
    """The formulas of a feedback page could not be typeset."""


TIMEOUT = 120  # seconds for one page


class Typesetter:
    """One Node process running ``typeset.js``, which typesets page after page.

    Node and MathJax load once for a whole grading run (once per worker process) instead of once
    per page; each page still gets a TeX input and an SVG output of its own (see ``typeset.js``),
    so it comes out byte for byte as a process of its own would write it.
    """

    def __init__(self, mathjax=MATHJAX):
        node = shutil.which("node")
        if node is None or not (mathjax / "es5" / "node-main.js").exists():
            raise FeedbackError(f"typesetting feedback needs Node.js and MathJax in {mathjax} "
                                f"(node: {node or 'not found'}); run `npm ci --prefix site`")
        self.mathjax, self.pid = mathjax, os.getpid()
        # stderr to a file, not a pipe: nobody reads it until something fails, and a full pipe would
        # stall Node.
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (open for the process's life)
        self.proc = subprocess.Popen([node, str(TYPESET_JS), str(mathjax)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.errors)
        # Closed at exit, in a pool's worker too (multiprocessing runs its finalizers, not atexit).
        self._finalizer = multiprocessing.util.Finalize(self, Typesetter._close, (self.proc,),
                                                        exitpriority=10)

    def alive(self):
        return self.proc.poll() is None and self.pid == os.getpid()

    def typeset(self, page, timeout=TIMEOUT):
        body = page.encode("utf-8")
        try:
            self.proc.stdin.write(b"%d\n" % len(body) + body)
            self.proc.stdin.flush()
            kind, text = self._read_reply(time.monotonic() + timeout)
        except (OSError, ValueError, FeedbackError) as exc:
            self.close()
            stderr = b""
            with contextlib.suppress(OSError, ValueError):
                self.errors.seek(0)
                stderr = self.errors.read()
            raise FeedbackError(f"MathJax could not typeset the page ({exc}; exit {self.proc.returncode}): "
                                f"{stderr.decode('utf-8', 'replace')[-2000:]}") from None
        if kind != "ok":
            raise FeedbackError(f"MathJax could not typeset the page: {text[-2000:]}")
        return text

    def _read_exactly(self, n, deadline):
        out = bytearray()
        fd = self.proc.stdout.fileno()
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FeedbackError(f"no answer within {TIMEOUT} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, min(n - len(out), 1 << 20))
                if not chunk:
                    raise FeedbackError("Node ended")
                out += chunk
        return bytes(out)

    def _read_reply(self, deadline):
        header = b""
        while not header.endswith(b"\n"):
            header += self._read_exactly(1, deadline)
            if len(header) > 40:
                raise FeedbackError(f"malformed reply {header[:40]!r}")
        kind, _, length = header.decode("ascii").strip().partition(" ")
        return kind, self._read_exactly(int(length), deadline).decode("utf-8")

    def close(self):
        self._finalizer()

    @staticmethod
    def _close(proc):
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_typesetters = {}


def typeset(page, mathjax=MATHJAX):
    """``page`` (an HTML document) with every TeX formula replaced by MathJax's SVG output.

    The first call in a process starts its :class:`Typesetter`; later calls reuse it (a process
    forked from this one starts its own).
    """
    server = _typesetters.get(mathjax)
    if server is None or not server.alive():
        server = _typesetters[mathjax] = Typesetter(mathjax)
    return server.typeset(page)


def without_widgets(nb):
    """A copy of ``nb`` whose widget outputs are a line of text.

    A widget needs a live kernel, or widget state saved in the notebook, and graded notebooks have
    neither; for each one nbconvert writes an empty box and a script that needs jQuery, which the
    page does not load, so the reader gets nothing but an error in the console.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in output.get("data", {}):
                output.data = NotebookNode({"text/plain": WIDGET_NOTE})
    return nb


class CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates kept in memory for the process.

    nbgrader makes a new exporter, hence a new Jinja environment, for every student; without this
    each of them compiles the same templates again. A template is looked up by its name, file and
    the checksum of its source, as Jinja's own caches do, so an edited template is compiled anew.
    """

    def __init__(self):
        self.code = {}

    def get_bucket(self, environment, name, filename, source):
        # Sync and async environments compile a template differently.
        return super().get_bucket(environment, f"{environment.is_async}:{name}", filename, source)

    def load_bytecode(self, bucket):
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket):
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED = CompiledTemplates()


# nbconvert's sanitizer (bleach) of a highlighted code cell, which is about half the time of a
# page: the class's notebooks share most of their cells, so a worker cleans each one once. The
# filter is a function of its text alone, so a remembered answer is the one it would give again.
clean_html = functools.lru_cache(maxsize=4096)(filters.clean_html)


class OfflineMathExporter(HTMLExporter):
    """nbconvert's HTML exporter, whose pages come out with their math already typeset."""

    def default_filters(self):
        yield from super().default_filters()
        yield ("clean_html", clean_html)

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = COMPILED
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        """HTMLExporter's page without its BeautifulSoup pass, whose edits ``typeset.js`` makes."""
        nb = without_widgets(nb)
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name"))
        resources = self._init_resources(resources)
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        output, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return typeset(output), resources
