"""The HTML report's style sheet and script (inline: the report is one file that loads nothing).

The script only reads the page: marks (``[data-seqs]``), findings (``li.finding``), the expected
windows (``[data-finding]``) and each scenario's entries (``script.entries``, JSON). It writes text
with ``textContent`` only. Clicking a finding (or opening ``#s0-r5-f0``) highlights the marks of
its entries and its expected window; clicking a mark (or opening ``#s0-e42``) highlights that entry
and shows it below the timeline; hovering a mark shows its entry.
"""

from __future__ import annotations

__all__ = ["SCRIPT", "STYLE"]

STYLE = """
:root { --ink: #1d232a; --muted: #5f6b76; --line: #d8dee4; --bg: #fff; --soft: #f5f7f9; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 64px; font: 14px/1.45 system-ui, "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 18px; margin: 0 0 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
code { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
code.rule, table.evidence td.kind code { white-space: nowrap; }
.zoom { float: right; font-size: 12px; color: var(--muted); } .zoom button { font-size: 12px; margin-left: 2px; }
.outcome { font-weight: 600; padding: 6px 10px; border-radius: 4px; display: inline-block; margin: 6px 0; }
.outcome.failed { background: #fde8e8; color: #9b1c1c; } .outcome.passed { background: #e6f4ea; color: #1e6b33; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
.verdict { display: inline-block; min-width: 84px; text-align: center; border-radius: 3px; padding: 0 6px; font-size: 12px; font-weight: 600; }
.verdict.pass { background: #e6f4ea; color: #1e6b33; } .verdict.fail { background: #d62728; color: #fff; }
.verdict.error { background: #6a1b9a; color: #fff; } .verdict.inconclusive { background: #fff4d6; color: #7a5a00; }
.verdict.not-applicable { background: var(--soft); color: var(--muted); }
section.scenario { border-top: 3px solid var(--line); margin-top: 28px; padding-top: 14px; }
.meta { color: var(--muted); margin: 0 0 8px; }
ol.findings { margin: 0; padding-left: 20px; } li.finding { cursor: pointer; padding: 1px 4px; border-radius: 3px; }
li.finding:hover, li.finding:focus { background: #eef5fc; outline: none; } li.finding.sel { background: #ffe9a8; }
li.finding .when, li.finding .window, .params, .reason { color: var(--muted); font-size: 12px; }
.seqs a { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; margin-right: 3px; }
figure.timeline { margin: 8px 0; overflow-x: auto; border: 1px solid var(--line); border-radius: 4px; padding: 6px; }
figcaption { color: var(--muted); font-size: 12px; margin-bottom: 4px; }
svg.timeline { display: block; font: 10px "DejaVu Sans", sans-serif; }
.lane-bg { fill: #fff; } .lane-bg.odd { fill: #f6f8fa; }
.lane-label { font-size: 11px; font-weight: 600; fill: var(--ink); } .lane-detail { font-size: 9.5px; fill: var(--muted); }
.grid { stroke: #e3e7eb; stroke-width: 1; } .tick { fill: var(--muted); text-anchor: middle; } .tick.start { text-anchor: start; }
.span { fill: #c9d3dc; } .span.open { fill: #a9c7e4; }
.gap { stroke: #d62728; stroke-width: 1.5; stroke-dasharray: 3 2; } .gap-label { fill: #d62728; font-size: 9px; text-anchor: middle; }
.end-label { font-size: 9px; fill: #333; }
.density { fill: #7f8c99; opacity: .55; }
.mark { fill: #888; } .mark:hover { stroke: #000; stroke-width: 1; }
.mark.ok { fill: #3a9a57; } .mark.redirect { fill: #7a9a4c; } .mark.client-error { fill: #e08a00; } .mark.rate-limited { fill: #e8b100; }
.mark.server-error, .mark.error { fill: #d62728; } .mark.broken { fill: #6a1b9a; } .mark.slow { fill: #1f77b4; }
.mark.stream, .mark.open { fill: #2ca02c; } .mark.pending { fill: #fff; stroke: #888; }
.mark.in { fill: #1f6fb4; } .mark.out { fill: #6b7680; } .mark.ping { fill: #9aa5b1; } .mark.pong { fill: #5da5e0; }
.mark.close { fill: #222; } .mark.reset, .mark.reject { fill: #d62728; } .mark.timeout, .mark.lost { fill: #e377c2; }
.mark.suppressed { fill: #fff; stroke: #888; stroke-width: 1; } .mark.faulted { fill: #ff7f0e; } .mark.replay { fill: #9467bd; }
.mark.auth { fill: #8c564b; } .mark.fault { fill: #d62728; opacity: .7; } .mark.fault-edge { fill: #d62728; }
.mark.step { fill: #444; } .mark.run { fill: #000; } .mark.observe { fill: #9467bd; } .mark.info { fill: #b0b7bf; }
.mark.hl { stroke: #ffb000; stroke-width: 3; paint-order: stroke; }
.hatch-bg { fill: rgba(214, 39, 40, .05); } .hatch-line { stroke: rgba(214, 39, 40, .28); stroke-width: 2; }
.band.fault { stroke: rgba(214, 39, 40, .35); stroke-width: .5; } .band-label { font-size: 9px; pointer-events: none; }
.band-label.fault { fill: #a31515; font-style: italic; }
.band.expected { fill: rgba(31, 119, 180, .10); stroke: #1f77b4; stroke-width: 1; stroke-dasharray: 4 2; pointer-events: none; }
.band.expected.sel { fill: rgba(31, 119, 180, .28); stroke-width: 2; stroke-dasharray: none; }
.band-label.expected { fill: #1f5d8c; display: none; } .band-label.expected.sel { display: inline; }
.band.finding { stroke: #d62728; stroke-width: 1; stroke-dasharray: 2 3; opacity: .5; pointer-events: none; }
.band.finding.sel { opacity: 1; stroke-width: 2; stroke-dasharray: none; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); margin-top: 6px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; border: 1px solid #0002; }
.pinned { white-space: pre-wrap; font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; background: var(--soft); padding: 6px 8px; border-radius: 3px; margin-top: 6px; }
.pinned:empty { display: none; }
.notes { color: #7a5a00; font-size: 12px; margin: 4px 0; }
table.evidence { width: 100%; } table.evidence td { font-size: 12px; } table.evidence tr:target, table.evidence tr.sel { background: #ffe9a8; }
#tip { position: fixed; z-index: 10; max-width: 560px; white-space: pre-wrap; pointer-events: none; background: #1d232a; color: #fff;
       font: 11.5px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; padding: 6px 8px; border-radius: 4px; box-shadow: 0 2px 8px #0004; }
"""

SCRIPT = """
(function () {
  "use strict";
  var entries = {}, bySeq = {};
  document.querySelectorAll("script.entries").forEach(function (block) {
    entries[block.dataset.scenario] = JSON.parse(block.textContent);
  });
  document.querySelectorAll("section.scenario").forEach(function (section) {
    var index = section.dataset.index, map = bySeq[index] = {};
    section.querySelectorAll("[data-seqs]").forEach(function (mark) {
      mark.dataset.seqs.split(" ").forEach(function (seq) { (map[seq] = map[seq] || []).push(mark); });
    });
  });
  var tip = document.getElementById("tip");
  // the marks' <title> (for readers without the script) becomes the heading of the richer tooltip below
  document.querySelectorAll("svg.timeline [data-seqs], svg.timeline .density").forEach(function (mark) {
    var title = mark.querySelector("title");
    if (title) { mark.dataset.title = title.textContent; title.remove(); }
  });

  function describe(index, seq) {
    var e = (entries[index] || {})[seq];
    if (!e) { return "entry " + seq; }
    var where = [e[4], e[5], e[6]].filter(function (x) { return x; }).join("  ");
    return "#" + seq + "  " + e[1] + " (" + e[2] + ")  " + e[3] + "\\n" + e[0] + (where ? "\\n" + where : "") + "\\n" + e[7];
  }
  function clear() {
    document.querySelectorAll(".hl, .sel").forEach(function (el) { el.classList.remove("hl", "sel"); });
  }
  function highlight(index, seqs) {
    var count = 0;
    seqs.forEach(function (seq) {
      (bySeq[index][seq] || []).forEach(function (mark) { mark.classList.add("hl"); count += 1; });
      var row = document.getElementById("s" + index + "-e" + seq);
      if (row) { row.classList.add("sel"); }
    });
    return count;
  }
  function selectFinding(id, scroll) {
    var item = document.getElementById(id);
    if (!item || !item.classList.contains("finding")) { return; }
    var index = item.closest("section.scenario").dataset.index;
    clear();
    item.classList.add("sel");
    highlight(index, item.dataset.seqs ? item.dataset.seqs.split(" ") : []);
    document.querySelectorAll('[data-finding="' + id + '"]').forEach(function (el) { el.classList.add("sel"); });
    var pinned = document.getElementById("s" + index + "-pinned");
    pinned.textContent = item.dataset.text || "";
    if (scroll) { document.getElementById("s" + index + "-timeline").scrollIntoView({block: "nearest"}); }
  }
  function selectEntry(index, seq) {
    if (!bySeq[index]) { return; }
    clear();
    highlight(index, [seq]);
    document.getElementById("s" + index + "-pinned").textContent = describe(index, seq);
  }
  function route() {
    var hash = decodeURIComponent(location.hash.slice(1)), m;
    if ((m = /^s(\\d+)-r\\d+-f\\d+$/.exec(hash))) { selectFinding(hash, false); }
    else if ((m = /^s(\\d+)-e(\\d+)$/.exec(hash))) { selectEntry(m[1], m[2]); }
  }
  document.addEventListener("click", function (event) {
    var mark = event.target.closest("[data-seqs]"), item = event.target.closest("li.finding");
    if (mark) {
      var index = mark.closest("section.scenario").dataset.index, seq = mark.dataset.seqs.split(" ")[0];
      history.replaceState(null, "", "#s" + index + "-e" + seq);
      selectEntry(index, seq);
    } else if (item && !event.target.closest("a")) {
      history.replaceState(null, "", "#" + item.id);
      selectFinding(item.id, true);
    }
  });
  document.addEventListener("keydown", function (event) {
    var item = event.target.closest && event.target.closest("li.finding");
    if (item && event.key === "Enter") { history.replaceState(null, "", "#" + item.id); selectFinding(item.id, true); }
  });
  document.addEventListener("mouseover", function (event) {
    var mark = event.target.closest("[data-seqs], .density");
    if (!mark) { tip.hidden = true; return; }
    var index = mark.closest("section.scenario").dataset.index;
    var seqs = mark.dataset.seqs ? mark.dataset.seqs.split(" ") : [];
    tip.textContent = [mark.dataset.title || ""].concat(seqs.map(function (seq) { return describe(index, seq); })).join("\\n\\n");
    tip.hidden = false;
    var x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    var y = event.clientY + 16 + tip.offsetHeight > window.innerHeight ? event.clientY - tip.offsetHeight - 8 : event.clientY + 16;
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  });
  // zoom the time axis only: the plot's x positions and widths scale, the lane labels and mark sizes stay
  function zoom(svg, factor) {
    var left = Number(svg.dataset.left), plot = Number(svg.dataset.plot), right = Number(svg.dataset.right);
    var total = left + plot * factor + right;
    svg.setAttribute("viewBox", "0 0 " + total + " " + svg.viewBox.baseVal.height);
    svg.setAttribute("width", String(total));
    svg.querySelectorAll("rect, line, text").forEach(function (el) {
      if (el.closest("defs") || el.closest(".legend") || /lane-label|lane-detail|start/.test(el.getAttribute("class") || "")) { return; }
      if (el.classList.contains("lane-bg")) { el.setAttribute("width", String(total)); return; }
      ["x", "x1", "x2", "width"].forEach(function (name) {
        if (!el.hasAttribute(name)) { return; }
        var key = "z" + name;
        if (el.dataset[key] === undefined) { el.dataset[key] = el.getAttribute(name); }
        var value = Number(el.dataset[key]);
        if (name !== "width") { value = left + (value - left) * factor; }
        else if (!el.classList.contains("mark") || value > 3) { value = value * factor; }
        el.setAttribute(name, value.toFixed(1));
      });
    });
    svg.dataset.zoom = String(factor);
  }
  document.querySelectorAll(".zoom button").forEach(function (button) {
    button.addEventListener("click", function () { zoom(document.getElementById(button.dataset.target), Number(button.dataset.zoom)); });
  });
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "1";
})();
"""
