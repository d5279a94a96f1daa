// The ipywidgets bundle finds its icon fonts next to the address RequireJS gives its
// module, which by default is relative to the page. Point that module path at the
// vendored copy beside this file, so the fonts load from this site at any page depth.
(function () {
  var here = document.currentScript.src;
  var base = here.slice(0, here.lastIndexOf("/") + 1) + "html-manager";
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": base } });
})();
