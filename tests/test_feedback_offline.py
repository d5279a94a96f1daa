"""Feedback pages show their math with no network, from a single file.

One student's 01-neuron (a bug in one exercise, so the page carries a failure message as well as
the chapter's formulas) is autograded in a throwaway course; its feedback page, written both by
``nbgrader generate_feedback`` and by the hardened grader's ``write_feedback``, is copied alone
into an empty folder and opened from ``file://`` in headless Chromium, every other request
refused. See coursetools/feedback/.
"""

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter

from coursetools import bugs, course, feedback, grade, notebook_path

pytestmark = pytest.mark.slow

CHAPTER = "01-neuron"
STUDENT = "alice"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# nbgrader's page is ~0.3 MB (mostly Bootstrap and notebook CSS); the typeset math adds ~0.1 MB.
MAX_PAGE_BYTES = 1024 * 1024

INSPECT_JS = """() => {
  const prose = document.body.cloneNode(true);
  prose.querySelectorAll("pre, code, script, style, mjx-container").forEach(e => e.remove());
  const formulas = Array.from(document.querySelectorAll("mjx-container"));
  return {
    formulas: formulas.length,
    drawn: formulas.filter(f => f.querySelector("svg use, svg path") &&
                                f.getBoundingClientRect().width > 0).length,
    tex_errors: document.querySelectorAll('mjx-container [data-mml-node="merror"]').length,
    raw_tex: (prose.innerText.match(/\\$[^$\\n]+\\$|\\\\\\(|\\\\\\[/g) || []).slice(0, 5),
    scripts: document.scripts.length,
    score: document.querySelector(".panel-heading h4").innerText,
  };
}"""


@pytest.fixture(scope="module")
def feedback_pages(tmp_path_factory):
    """{writer: the feedback page it wrote, alone in a folder} for one graded submission."""
    c = course.create(tmp_path_factory.mktemp("course"), [CHAPTER])
    bug = bugs.load(CHAPTER)[0]
    c.submit(STUDENT, CHAPTER, c.bug_answers(CHAPTER, bug))
    c.nbgrader("autograde", CHAPTER)
    page = notebook_path(CHAPTER, c.root / "feedback" / STUDENT).with_suffix(".html")
    pages = {}
    for writer in ("nbgrader generate_feedback", "coursetools.grade.write_feedback"):
        if writer.startswith("nbgrader"):
            c.nbgrader("generate_feedback", CHAPTER, "--force")
        else:
            assert grade.write_feedback(str(c.root), CHAPTER, STUDENT) is None
        alone = tmp_path_factory.mktemp("inbox") / page.name
        shutil.copy(page, alone)
        page.unlink()
        pages[writer] = alone
    return pages


def open_offline(page_path):
    """(every URL the page requested, console errors, INSPECT_JS's report) for a page on disk.

    In a thread of its own: Playwright's sync API refuses a thread in which an asyncio loop runs,
    and the kernel clients of earlier tests in the same worker may leave one running.
    """
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_open_offline, page_path).result()


def _open_offline(page_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(service_workers="block")
        tab = context.new_page()
        requests, errors = [], []
        tab.on("request", lambda r: requests.append(r.url))
        tab.on("console", lambda m: m.type == "error" and errors.append(m.text))
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        # Nothing but the page itself may load, from any host or any file beside it.
        url = page_path.as_uri()
        context.route("**/*", lambda r: r.continue_() if r.request.url == url else r.abort())
        tab.goto(url, wait_until="load")
        tab.wait_for_load_state("networkidle")
        report = tab.evaluate(INSPECT_JS)
        browser.close()
    return [u for u in requests if u != url], errors, report


@pytest.mark.parametrize("writer", ["nbgrader generate_feedback", "coursetools.grade.write_feedback"])
def test_feedback_renders_math_offline(feedback_pages, writer):
    page = feedback_pages[writer]
    outside, errors, report = open_offline(page)
    assert outside == [], f"{writer}: the page asked for {outside}"
    assert errors == [], f"{writer}: console errors {errors}"
    assert report["formulas"] > 20, f"{writer}: only {report['formulas']} typeset formulas: {report}"
    assert report["drawn"] == report["formulas"], f"{writer}: formulas drawn empty: {report}"
    assert report["tex_errors"] == 0, f"{writer}: MathJax could not parse some TeX: {report}"
    assert report["raw_tex"] == [], f"{writer}: raw TeX left on the page: {report['raw_tex']}"
    assert report["scripts"] == 0, f"{writer}: the page runs scripts, it needs none: {report}"
    assert re.search(r"Score: [\d.]+ / [\d.]+", report["score"]), report
    size = page.stat().st_size
    assert size < MAX_PAGE_BYTES, f"{writer}: {size} bytes, over the {MAX_PAGE_BYTES} budget"


def test_typeset_waits_for_extensions_and_leaves_code_alone():
    # \color loads an extension on first use (the typeset must wait for it); \require{nope} must not abort.
    page = ("<html><head></head><body><p>$w^\\top x$ and $\\color{red}{y}$ and $\\require{nope} z$</p>"
            "<pre>price = '$5 and $6'</pre></body></html>")
    out = feedback.typeset(page)
    assert out.count("<mjx-container") == 3
    assert "price = '$5 and $6'" in out


def test_widget_outputs_become_a_note():
    view = {feedback.WIDGET_VIEW: {"model_id": "0f", "version_major": 2, "version_minor": 0},
            "text/plain": "VBox(children=(...))"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "Demo()", outputs=[nbformat.v4.new_output("display_data", data=view)])])
    (output,) = feedback.without_widgets(nb).cells[0].outputs
    assert output.data == {"text/plain": feedback.WIDGET_NOTE}
    assert feedback.WIDGET_VIEW in nb.cells[0].outputs[0].data, "the notebook itself must not change"


def test_one_typesetter_writes_each_page_as_a_process_of_its_own_would():
    # A run typesets every page in one Node process: a page must not inherit anything from the ones
    # before it (a \newcommand, an equation number, the glyphs already in the SVG cache).
    defines = ("<html><body><p>$$\\newcommand{\\foo}{x^2}\\foo \\tag{1}$$ \\begin{equation}a=b"
               "\\end{equation} $\\boldsymbol{W}$</p></body></html>")
    uses = "<html><body><p>$\\foo$ \\begin{equation}c=d\\end{equation} $x^2$</p></body></html>"
    fresh = []
    for page in (defines, uses):
        alone = feedback.Typesetter()
        fresh.append(alone.typeset(page))
        alone.close()
    shared = feedback.Typesetter()
    try:
        reused = [shared.typeset(page) for page in (defines, uses, defines)]
    finally:
        shared.close()
    assert reused == [fresh[0], fresh[1], fresh[0]], "a page typeset after others came out different"
    assert shared.proc.returncode == 0, "the typesetter must end at the end of its input"


class _Elements(HTMLParser):
    """A page as its elements and text: attribute order, class spacing and blank text left out."""

    def __init__(self, page):
        super().__init__(convert_charrefs=True)
        self.events = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.events.append((tag, sorted((k, " ".join((v or "").split())) for k, v in attrs)))

    def handle_endtag(self, tag):
        self.events.append(("/" + tag,))

    def handle_data(self, data):
        if data.strip():
            self.events.append((" ".join(data.split()),))


def test_page_without_the_soup_pass_is_nbconverts_page():
    # OfflineMathExporter skips HTMLExporter's BeautifulSoup pass and makes its edits (alt text,
    # keyboard focus) in typeset.js: if nbconvert changes what it does to a page, this fails.
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("The score $s = U^\\top a$, and\n\n$$J = \\max(0, 1 - s + s_c)$$"),
        nbformat.v4.new_code_cell("plot()", outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
            nbformat.v4.new_output("stream", text="J = 0.25\n")]),
    ])
    ours, _ = feedback.OfflineMathExporter(template_name="lab").from_notebook_node(nb)
    theirs, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    assert _Elements(ours).events == _Elements(feedback.typeset(theirs)).events
    assert 'alt="No description has been provided for this image"' in ours
    assert ours.count('tabindex="0"') == 4  # both cells' inputs and the code cell's two outputs
