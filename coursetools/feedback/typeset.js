// Typeset the TeX of an HTML page once, when it is written: reads the page on stdin and writes
// it to stdout with every formula replaced by MathJax's SVG output, so the page needs neither
// a network nor a script to show its math (feedback is handed out as a single file).
// Usage: node typeset.js <path of the mathjax package>   (site/node_modules/mathjax)
"use strict";

const page = require("fs").readFileSync(0, "utf8");

require(process.argv[2]).init({
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
  startup: {document: page},
// init() resolves once MathJax is loaded; the page's first typeset (which may wait for
// extensions) is startup.promise.
}).then((MathJax) => MathJax.startup.promise.then(() => MathJax)).then((MathJax) => {
  const adaptor = MathJax.startup.adaptor;
  const doc = MathJax.startup.document;
  process.stdout.write(adaptor.doctype(doc.document) + "\n" + adaptor.outerHTML(adaptor.root(doc.document)));
}).catch((err) => {
  process.stderr.write(`typeset.js: ${err.stack || err}\n`);
  process.exit(1);
});
