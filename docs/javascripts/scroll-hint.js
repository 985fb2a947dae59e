// A box whose content is wider than the column scrolls sideways inside the box: a wide table
// (Material wraps each in `.md-typeset__scrollwrap`) or a wide notebook plot. This marks such a
// box so that extra.css can say so: `dld-scrolls` while it overflows, `dld-more-left` and
// `dld-more-right` while there is more to see on that side. The marks follow scrolling and any
// change of size (a resized window, math rendered by KaTeX, an image loaded).
(function () {
  "use strict";

  var SELECTOR = ".md-typeset__scrollwrap, .jupyter-wrapper .jp-RenderedImage";
  var watched = new WeakSet();

  function mark(box) {
    var hidden = box.scrollWidth - box.clientWidth;
    var scrolls = hidden > 1;
    box.classList.toggle("dld-scrolls", scrolls);
    box.classList.toggle("dld-more-left", scrolls && box.scrollLeft > 1);
    box.classList.toggle("dld-more-right", scrolls && box.scrollLeft < hidden - 1);
  }

  var resized = new ResizeObserver(function (entries) {
    entries.forEach(function (entry) {
      var box = entry.target.closest(SELECTOR) || entry.target;
      mark(box);
    });
  });

  function watch() {
    document.querySelectorAll(SELECTOR).forEach(function (box) {
      if (watched.has(box)) return;
      watched.add(box);
      box.addEventListener("scroll", function () { mark(box); }, { passive: true });
      resized.observe(box);
      if (box.firstElementChild) resized.observe(box.firstElementChild);
      mark(box);
    });
  }

  // Material wraps the tables when a page is shown, also after instant navigation; wrap first,
  // then look (the next frame).
  document$.subscribe(function () {
    requestAnimationFrame(watch);
  });
})();
