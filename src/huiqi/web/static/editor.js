// The programme editor (officer's authoring page): line numbers beside each text, the lines with a problem
// marked in the gutter (the problem as the mark's title), and a problem's link moving the caret to its line.
// No library: the problems come from the server (htmx swaps #problems as the officer types).
(function () {
  "use strict";
  function marksFor(part) {
    var marks = {};
    document.querySelectorAll('.problems li[data-part="' + part + '"]').forEach(function (li) {
      var line = parseInt(li.getAttribute("data-line"), 10);
      if (line > 0) {
        marks[line] = (marks[line] ? marks[line] + "\n" : "") + li.getAttribute("data-message");
      }
    });
    return marks;
  }
  function drawGutter(area) {
    var gutter = document.getElementById(area.getAttribute("data-gutter"));
    if (!gutter) { return; }
    var marks = marksFor(area.getAttribute("data-part"));
    var n = area.value.split("\n").length;
    var frag = document.createDocumentFragment();
    for (var i = 1; i <= n; i++) {
      var span = document.createElement("span");
      span.textContent = String(i);
      if (marks[i]) { span.className = "bad"; span.title = marks[i]; }
      frag.appendChild(span);
      frag.appendChild(document.createTextNode("\n"));
    }
    gutter.textContent = "";
    gutter.appendChild(frag);
    gutter.scrollTop = area.scrollTop;
  }
  function drawAll() { document.querySelectorAll("textarea.code").forEach(drawGutter); }
  function setup() {
    document.querySelectorAll("textarea.code").forEach(function (area) {
      area.addEventListener("input", function () { drawGutter(area); });
      area.addEventListener("scroll", function () {
        var gutter = document.getElementById(area.getAttribute("data-gutter"));
        if (gutter) { gutter.scrollTop = area.scrollTop; }
      });
    });
    drawAll();
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.goto") : null;
    if (!link) { return; }
    event.preventDefault();
    var area = document.querySelector('textarea.code[data-part="' + link.getAttribute("data-part") + '"]');
    if (!area) { return; }
    var line = parseInt(link.getAttribute("data-line"), 10);
    var start = 0;
    for (var i = 1; i < line; i++) {
      var next = area.value.indexOf("\n", start);
      if (next < 0) { break; }
      start = next + 1;
    }
    var end = area.value.indexOf("\n", start);
    area.focus();
    area.setSelectionRange(start, end < 0 ? area.value.length : end);
    var height = parseFloat(window.getComputedStyle(area).lineHeight) || 18;
    area.scrollTop = Math.max(0, (line - 4) * height);
  });
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setup); } else { setup(); }
  document.addEventListener("htmx:afterSwap", drawAll);
})();
