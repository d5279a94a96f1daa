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
"""

import copy
import shutil
import subprocess
from pathlib import Path

import nbgrader
from nbconvert.exporters import HTMLExporter
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


def typeset(page, mathjax=MATHJAX):
    """``page`` (an HTML document) with every TeX formula replaced by MathJax's SVG output."""
    node = shutil.which("node")
    if node is None or not (mathjax / "es5" / "node-main.js").exists():
        raise FeedbackError(f"typesetting feedback needs Node.js and MathJax in {mathjax} "
                            f"(node: {node or 'not found'}); run `npm ci --prefix site`")
    proc = subprocess.run([node, str(TYPESET_JS), str(mathjax)], input=page, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)
    if proc.returncode != 0:
        raise FeedbackError(f"MathJax could not typeset the page (exit {proc.returncode}): "
                            f"{proc.stderr[-2000:]}")
    return proc.stdout


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


class OfflineMathExporter(HTMLExporter):
    """nbconvert's HTML exporter, whose pages come out with their math already typeset."""

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(without_widgets(nb), resources, **kw)
        return typeset(output), resources
