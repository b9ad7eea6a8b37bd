// A table wider than a small screen scrolls inside its own box (style.css); such a box must be reachable by
// the keyboard (WCAG 2.1.1), so it joins the tab order while it scrolls.
(function () {
  function mark() {
    document.querySelectorAll("main table").forEach(function (t) {
      if (t.scrollWidth > t.clientWidth + 1) {
        t.tabIndex = 0;
      } else {
        t.removeAttribute("tabindex");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", mark);
  window.addEventListener("resize", mark);
  document.addEventListener("htmx:afterSettle", mark);
})();
