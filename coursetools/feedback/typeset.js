// Typeset the TeX of HTML pages when they are written: every formula is replaced by MathJax's SVG
// output, so a page needs neither a network nor a script to show its math (feedback is handed out
// as a single file). It also makes the two edits nbconvert's HTMLExporter makes after its template
// (see accessible() below), so the exporter can skip its own BeautifulSoup pass.
// Usage: node typeset.js <path of the mathjax package>   (site/node_modules/mathjax)
// One process serves many pages, so that Node and MathJax load once per grading run, not once per
// page. Each request on stdin is "<byte length>\n<page>", each reply on stdout is
// "ok <byte length>\n<typeset page>" or "error <byte length>\n<message>"; the process ends at the
// end of its input. Every page gets a TeX input and an SVG output of its own, made from the same
// configuration, so one page's macros (\newcommand), equation numbers or glyph cache never reach
// the next: a page comes out as a process of its own would write it.
"use strict";

const CONFIG = {
  // Nothing to report on stderr for components that carry no version number (liteDOM).
  loader: {load: ["input/tex", "output/svg", "adaptors/liteDOM"], versionWarnings: false},
  // The delimiters and options of nbconvert's MathJax configuration, which authors wrote for.
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "ams",
    // \require would load any named extension, and a missing one aborts the whole page; the
    // extensions the notation needs are loaded on first use anyway (autoload).
    packages: {"[-]": ["require"]},
  },
  // One definition per glyph for the whole page, not one per use.
  svg: {fontCache: "global"},
  // No page at start-up: each request makes its own document.
  startup: {typeset: false},
};

function typesetter(MathJax) {
  const {mathjax} = MathJax._.mathjax;
  const {TeX} = MathJax._.input.tex_ts;
  const {SVG} = MathJax._.output.svg_ts;
  const adaptor = MathJax.startup.adaptor;
  // The merged configuration, as the start-up code hands it to its own input and output jax.
  const tex = MathJax.config.tex;
  const svg = MathJax.config.svg;
  return (page) => {
    const doc = mathjax.document(page, {
      ...MathJax.config.options,
      InputJax: new TeX(tex),
      OutputJax: new SVG(svg),
    });
    // An extension loaded on first use makes render() throw a retry: render again once it is in.
    return mathjax.handleRetriesFor(() => doc.render()).then(() => {
      const root = adaptor.root(doc.document);
      accessible(adaptor, root, false);
      return adaptor.doctype(doc.document) + "\n" + adaptor.outerHTML(root);
    });
  };
}

// What nbconvert's HTMLExporter does to a page after its template (with BeautifulSoup, which
// cost a Python worker more than the rest of the page): a text for every image that has none,
// and the cells' inputs and outputs made reachable by keyboard. MathJax has parsed the page
// anyway, and adds neither images nor cells.
const NO_ALT = "No description has been provided for this image";
const FOCUSABLE = ["jp-Cell-inputWrapper", "jp-OutputArea-output"];

function accessible(adaptor, node, inNotebook) {
  for (const child of adaptor.childNodes(node)) {
    const kind = adaptor.kind(child);
    if (kind.startsWith("#")) continue;  // text and comments
    if (kind === "img" && !adaptor.hasAttribute(child, "alt")) adaptor.setAttribute(child, "alt", NO_ALT);
    if (inNotebook && kind === "div" && FOCUSABLE.some((name) => adaptor.hasClass(child, name))) {
      adaptor.setAttribute(child, "tabindex", "0");
    }
    accessible(adaptor, child, inNotebook || adaptor.hasClass(child, "jp-Notebook"));
  }
}

function reply(kind, text) {
  const body = Buffer.from(text, "utf8");
  process.stdout.write(`${kind} ${body.length}\n`);
  process.stdout.write(body);
}

function serve(typeset) {
  let pending = Buffer.alloc(0);
  let queue = Promise.resolve();
  process.stdin.on("data", (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const newline = pending.indexOf(10);
      if (newline < 0) return;
      const length = Number(pending.subarray(0, newline).toString("ascii"));
      if (!Number.isInteger(length) || length < 0) {
        process.stderr.write("typeset.js: malformed request\n");
        process.exit(2);
      }
      if (pending.length < newline + 1 + length) return;
      const page = pending.subarray(newline + 1, newline + 1 + length).toString("utf8");
      pending = pending.subarray(newline + 1 + length);
      queue = queue.then(() => typeset(page)).then(
        (out) => reply("ok", out),
        (err) => reply("error", String((err && err.stack) || err)));
    }
  });
  process.stdin.on("end", () => queue.then(() => process.stdout.end()));
}

require(process.argv[2]).init(CONFIG).then((MathJax) => serve(typesetter(MathJax))).catch((err) => {
  process.stderr.write(`typeset.js: ${err.stack || err}\n`);
  process.exit(1);
});
