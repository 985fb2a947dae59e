// Render the site's math with KaTeX, served from this site (assets/katex/, see
// docs/hooks/katex_assets.py). Material's `document$` emits on the first load and again after
// every instant navigation, so math on pages reached by a click is rendered too.
//
// - Markdown pages and docstrings: pymdownx.arithmatex (generic mode) wraps each formula in an
//   `.arithmatex` element as \( ... \) or \[ ... \]. Headings keep the \( ... \) in the navigation
//   and the table of contents, without the wrapper.
// - Notebook pages (mkdocs-jupyter): markdown cells keep the raw $ ... $ and $$ ... $$.
//
// throwOnError: false shows a malformed formula as a red `.katex-error` instead of stopping the
// rest of the page; tests/test_site.py fails on any `.katex-error`.
(function () {
  "use strict";

  var ARITHMATEX = {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  };

  var NOTEBOOK = {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code"],
    throwOnError: false,
  };

  function render() {
    document.querySelectorAll(".arithmatex").forEach(function (element) {
      renderMathInElement(element, ARITHMATEX);
    });
    // A formula in a heading reaches the navigation and table of contents as raw \( ... \).
    document.querySelectorAll(".md-sidebar").forEach(function (element) {
      renderMathInElement(element, ARITHMATEX);
    });
    document
      .querySelectorAll(".jupyter-wrapper .jp-RenderedMarkdown")
      .forEach(function (element) {
        renderMathInElement(element, NOTEBOOK);
      });
  }

  document$.subscribe(render);
})();
