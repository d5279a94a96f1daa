"""The built site in a real browser, with every other host blocked.

The site is built once per session (the same build as ``make site``; an unchanged
book rebuilds from the execution cache in seconds), served on 127.0.0.1 and every
page is loaded once in headless Chromium. Each test then checks one property of
all the recorded visits and names the pages that break it.
"""

import functools
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml

from coursetools import ROOT, site

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("site")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
MAX_PAGE_BYTES = 2 * 1024 * 1024
SCREENSHOTS = ROOT / "_build" / "screenshots"


@dataclass
class Visit:
    page: str
    console_errors: list = field(default_factory=list)
    failed_requests: list = field(default_factory=list)
    external_requests: list = field(default_factory=list)
    local_paths: set = field(default_factory=set)
    report: dict = field(default_factory=dict)


# One evaluation per page gathers everything the tests check, after MathJax has typeset.
INSPECT_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  const article = document.querySelector("article") || document.body;
  const prose = article.cloneNode(true);
  prose.querySelectorAll("pre, code, script, style, mjx-container").forEach(e => e.remove());
  const demos = [];
  document.querySelectorAll(".nn-demo").forEach(demo => {
    const frame = demo.querySelector("img.nn-demo-frame");
    demo.querySelectorAll("input[type=range]").forEach(input => {
      const before = frame.src;
      const old = input.value;
      input.value = String(Number(input.value) === Number(input.max) ? input.min : input.max);
      input.dispatchEvent(new Event("input", {bubbles: true}));
      demos.push({demo: demo.id, control: input.dataset.control, changed: frame.src !== before});
      input.value = old;
      input.dispatchEvent(new Event("input", {bubbles: true}));
    });
  });
  return {
    math: document.querySelectorAll(".math").length,
    typeset: document.querySelectorAll("mjx-container").length,
    raw_math: ["\\\\(", "\\\\[", "$$"].filter(s => prose.innerText.includes(s)),
    broken_images: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80)),
    traceback: document.body.innerText.includes("Traceback (most recent call last)"),
    widget_state: document.querySelectorAll('script[type$="widget-state+json"]').length,
    widget_views: document.querySelectorAll('script[type$="widget-view+json"]').length,
    widgets_rendered: document.querySelectorAll(".jupyter-widgets").length,
    demos: demos,
    nav_links: Array.from(document.querySelectorAll("nav a[href]")).map(a => a.href),
  };
}"""


def toc_chapter_pages():
    """Site paths of the chapters listed in _toc.yml, e.g. 'chapters/01-neuron/01-neuron.html'."""
    data = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [f"{ch['file']}.html" for part in data.get("parts", []) for ch in part.get("chapters", [])]


@pytest.fixture(scope="session")
def built_site():
    try:
        return site.build_book()
    except site.SiteError as exc:
        pytest.fail(f"the site does not build: {exc}")


@pytest.fixture(scope="session")
def base_url(built_site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(built_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def site_pages(outdir):
    skip = ("_static", "_sources", "_images")
    return sorted(p.relative_to(outdir).as_posix() for p in outdir.rglob("*.html")
                  if p.relative_to(outdir).parts[0] not in skip)


def visit(context, base_url, page):
    record = Visit(page)
    tab = context.new_page()
    tab.on("console", lambda m: m.type == "error" and record.console_errors.append(m.text))
    tab.on("pageerror", lambda exc: record.console_errors.append(str(exc)))
    tab.on("requestfailed", lambda r: record.failed_requests.append(f"{r.url} ({r.failure})"))
    tab.on("response", lambda r: r.status >= 400 and record.failed_requests.append(f"{r.url} ({r.status})"))

    def route(r):
        url = urlsplit(r.request.url)
        if url.scheme in ("data", "blob") or url.hostname == "127.0.0.1":
            if url.hostname == "127.0.0.1":
                record.local_paths.add(url.path)
            return r.continue_()
        record.external_requests.append(r.request.url)
        return r.abort()

    tab.route("**/*", route)
    tab.goto(urljoin(base_url, page), wait_until="load")
    tab.wait_for_load_state("networkidle")
    record.report = tab.evaluate(INSPECT_JS)
    if page in toc_chapter_pages()[:1]:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / (Path(page).stem + ".png")))
    tab.close()
    return record


@pytest.fixture(scope="session")
def visits(built_site, base_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        try:
            yield {page: visit(context, base_url, page) for page in site_pages(built_site)}
        finally:
            browser.close()


def offenders(visits, problem):
    """'page: problem' for every visit where ``problem(visit)`` is non-empty."""
    return [f"{page}: {found}" for page, v in visits.items() if (found := problem(v))]


def test_no_console_errors(visits):
    assert not offenders(visits, lambda v: v.console_errors)


def test_no_failed_requests(visits):
    assert not offenders(visits, lambda v: v.failed_requests)


def test_no_request_leaves_the_machine(visits):
    assert not offenders(visits, lambda v: v.external_requests)


def test_math_is_typeset(visits):
    untypeset = offenders(visits, lambda v: v.report["math"] and not v.report["typeset"])
    assert not untypeset, "pages with math but no MathJax output"
    assert not offenders(visits, lambda v: v.report["raw_math"]), "raw TeX delimiters in the page text"


def test_every_image_loads(visits):
    assert not offenders(visits, lambda v: v.report["broken_images"])


def test_no_traceback(visits):
    assert not offenders(visits, lambda v: v.report["traceback"])


def test_widgets_render_from_embedded_state(visits):
    def unrendered(v):
        r = v.report
        return r["widget_views"] and not (r["widget_state"] and r["widgets_rendered"])

    assert not offenders(visits, unrendered)


def test_every_demo_slider_changes_the_frame(visits):
    assert not offenders(visits, lambda v: [d for d in v.report["demos"] if not d["changed"]])


def test_every_chapter_is_reachable_from_the_index(visits, base_url):
    seen, todo = set(), ["index.html"]
    while todo:
        page = todo.pop()
        if page in seen or page not in visits:
            continue
        seen.add(page)
        for href in visits[page].report["nav_links"]:
            url = urlsplit(href)
            if url.hostname == "127.0.0.1":
                todo.append(url.path.lstrip("/") or "index.html")
    missing = [p for p in toc_chapter_pages() if p not in seen]
    assert not missing, f"chapters not reachable from the navigation of index.html: {missing}"


def test_pages_are_small(visits, built_site):
    def oversize(v):
        # The theme, MathJax and the widget manager under _static/ are shared by all pages.
        paths = {p for p in v.local_paths if not p.startswith("/_static/") and p != "/searchindex.js"}
        paths.add("/" + v.page)
        size = sum((built_site / p.lstrip("/")).stat().st_size for p in paths
                   if (built_site / p.lstrip("/")).is_file())
        return f"{size / 1e6:.2f} MB" if size > MAX_PAGE_BYTES else ""

    assert not offenders(visits, oversize)
