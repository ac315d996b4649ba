"""The HTML report: one self-contained file (inline style, script and SVG; it loads nothing).

For the run: the client's command, the outcome and the totals. Per scenario: how it ran, its rules
(verdict, severity, targeted, parameters, findings or the reason for no verdict), the timeline
picture drawn from the scenario's saved journal (:mod:`.timeline`, :mod:`.svg`), and the journal
entries the findings name. Every finding links to its entries: clicking it highlights their marks
and its expected window; ``#s<scenario>-r<rule>-f<finding>`` and ``#s<scenario>-e<seq>`` are
links to a finding and to an entry. A Content-Security-Policy allows no network at all and only
this script (by its hash). Everything that comes from the journal or the client is escaped.

A pure function of the :class:`~conformance.model.Report` and the journal files it names.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from html import escape
from typing import Any

from mockserver.core.journal import Entry, Journal

from ..evidence import Evidence
from ..model import Finding, Report, RuleResult, ScenarioResult
from .assets import SCRIPT, STYLE
from .svg import clock_text, relative, timeline_svg
from .timeline import EntryView, Timeline, build

__all__ = ["FINDINGS_SHOWN", "html_report"]

#: Findings listed per rule (the JSON report has them all).
FINDINGS_SHOWN = 50
DOT = " \u00b7 "
LEGEND = (
    ("ok", "2xx"),
    ("client-error", "4xx"),
    ("rate-limited", "429"),
    ("server-error", "5xx / mock error"),
    ("broken", "reset, empty, truncated, malformed"),
    ("stream", "stream opened"),
    ("open", "connection opened"),
    ("in", "frame from the client"),
    ("out", "frame to the client"),
    ("ping", "ping"),
    ("pong", "pong"),
    ("close", "close (code, by whom)"),
    ("reset", "reset / refused"),
    ("suppressed", "kept off the wire"),
    ("fault", "fault applied"),
)


def _json_script(value: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``<``, ``>`` or ``&`` (so no ``</script>``), ASCII only."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; img-src data:; base-uri 'none'; form-action 'none'"
    )


def _when(t: float | None, t0: float | None) -> str:
    if t is None:
        return ""
    return f"{relative(t - t0)} ({clock_text(t)})" if t0 is not None else clock_text(t)


def _load(scenario: ScenarioResult) -> tuple[list[Entry] | None, str]:
    if not scenario.journal:
        return None, "no journal was saved for this scenario"
    try:
        return Journal.load_jsonl(scenario.journal), ""
    except FileNotFoundError:
        return None, f"the journal {scenario.journal} is not there any more"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"the journal {scenario.journal} could not be read: {exc}"


def _finding(finding: Finding, anchor: str, prefix: str, t0: float | None) -> str:
    parts = [f'<span class="msg">{escape(finding.message)}</span>']
    text = [finding.message]
    if finding.vtime is not None:
        parts.append(f'<span class="when">at {escape(_when(finding.vtime, t0))}</span>')
    if finding.expected is not None:
        window = finding.expected
        span = f"expected {_when(window.start, t0)} \u2026 {_when(window.end, t0)}" + (f": {window.label}" if window.label else "")
        parts.append(f'<span class="window">{escape(span)}</span>')
        text.append(span)
    if finding.seqs:
        links = " ".join(f'<a href="#{prefix}-e{seq}">{seq}</a>' for seq in finding.seqs)
        parts.append(f'<span class="seqs">entries {links}</span>')
    seqs = " ".join(str(s) for s in finding.seqs)
    return (
        f'<li class="finding" id="{anchor}" tabindex="0" data-seqs="{seqs}" data-text="{escape(" / ".join(text))}">'
        + " ".join(parts)
        + "</li>"
    )


def _params(params: Mapping[str, Any]) -> str:
    if not params:
        return ""
    return '<div class="params">' + escape(", ".join(f"{k}={v!r}" for k, v in params.items())) + "</div>"


def _rule_row(rule: RuleResult, j: int, prefix: str, t0: float | None) -> str:
    cells = [
        f'<td><span class="verdict {rule.verdict}">{rule.verdict}</span></td>',
        f"<td>{rule.severity}</td>",
        f'<td><code class="rule" title="{escape(rule.description)}">{escape(rule.id)}</code>{_params(rule.params)}</td>',
        f"<td>{'targeted' if rule.targeted else ''}</td>",
    ]
    body = []
    if rule.findings:
        shown = rule.findings[:FINDINGS_SHOWN]
        items = "".join(_finding(f, f"{prefix}-r{j}-f{k}", prefix, t0) for k, f in enumerate(shown))
        more = len(rule.findings) - len(shown)
        body.append(f'<ol class="findings">{items}</ol>')
        if more:
            body.append(f'<div class="reason">\u2026 and {more} more findings (the JSON report has them all)</div>')
    if rule.reason:
        body.append(f'<div class="reason">{escape(rule.reason)}</div>')
    cells.append(f"<td>{''.join(body)}</td>")
    return f'<tr class="rule {rule.verdict}" id="{prefix}-r{j}" data-rule="{escape(rule.id)}">' + "".join(cells) + "</tr>"


def _legend() -> str:
    items = "".join(
        f'<span><svg width="10" height="10" aria-hidden="true"><rect class="swatch mark {cls}" width="10" height="10"/></svg> {escape(text)}</span>'
        for cls, text in LEGEND
    )
    return (
        f'<div class="legend">{items}<span><svg width="18" height="10" aria-hidden="true"><line class="gap" x1="0" x2="18" y1="5" y2="5"/></svg> '
        "reconnect gap</span><span>hatched: a fault window</span><span>dashed outline: a failed rule's expected window</span>"
        "<span>marks above a lane's middle: from the client; below: to the client</span></div>"
    )


def _entry_row(view: EntryView, prefix: str, t0: float) -> str:
    where = " ".join(x for x in (view.session, view.conn, view.principal) if x)
    return (
        f'<tr id="{prefix}-e{view.seq}"><td>{view.seq}</td><td>{escape(_when(view.vtime, t0))}</td><td class="kind"><code>{escape(view.kind)}</code></td>'
        f"<td>{escape(view.direction)}</td><td>{escape(view.api)}</td><td>{escape(where)}</td><td><code>{escape(view.summary)}</code></td></tr>"
    )


def _entries_json(timeline: Timeline) -> dict[str, list[Any]]:
    return {
        str(seq): [_when(v.vtime, timeline.t0), v.kind, v.direction, v.api, v.session, v.conn, v.principal, v.summary]
        for seq, v in timeline.entries.items()
    }


def _timeline(scenario: ScenarioResult, entries: list[Entry], prefix: str, index: int) -> Iterator[str]:
    timeline = build(entries, scenario.rules, start=scenario.start, duration=scenario.duration)
    marks = sum(len(lane.marks) for lane in timeline.lanes)
    yield f'<h3>Timeline</h3><figure class="timeline" id="{prefix}-timeline">'
    yield (
        f"<figcaption>{len(timeline.lanes)} lanes, {marks} marks for {timeline.total} journal entries, "
        f"{escape(clock_text(timeline.t0))} to {escape(clock_text(timeline.t1))} UTC (virtual, {escape(relative(timeline.t1 - timeline.t0)[1:])}). "
        "Click a finding to see its entries and expected window; hover a mark to see its entry.</figcaption>"
    )
    yield (
        '<div class="zoom">zoom'
        + "".join(f'<button type="button" data-target="{prefix}-svg" data-zoom="{z}">\u00d7{z}</button>' for z in (1, 2, 4, 8))
        + "</div>"
    )
    for note in timeline.notes:
        yield f'<p class="notes">{escape(note)}</p>'
    yield timeline_svg(timeline, prefix)
    yield _legend()
    yield f'<div class="pinned" id="{prefix}-pinned"></div></figure>'
    named = sorted({s for rule in scenario.rules for f in rule.findings for s in f.seqs})
    rows = [_entry_row(timeline.entries[seq], prefix, timeline.t0) for seq in named if seq in timeline.entries]
    if rows:
        yield (
            f'<details class="evidence" open><summary>The journal entries the findings name ({len(rows)})</summary>'
            '<table class="evidence"><thead><tr><th>seq</th><th>when</th><th>kind</th><th>dir</th><th>api</th><th>session, connection, principal</th>'
            f"<th>data</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
        )
    yield f'<script type="application/json" class="entries" data-scenario="{index}">{_json_script(_entries_json(timeline))}</script>'


def _scenario(scenario: ScenarioResult, index: int) -> str:
    prefix = f"s{index}"
    entries, problem = _load(scenario)
    t0 = scenario.start
    if entries and t0 is None:
        t0 = Evidence(entries).start
    counts: dict[str, int] = {}
    for rule in scenario.rules:
        counts[rule.verdict] = counts.get(rule.verdict, 0) + 1
    badges = " ".join(f'<span class="verdict {v}">{n} {v}</span>' for v, n in counts.items())
    how = "stopped at the end" if scenario.client_exit is None else f"exited {scenario.client_exit}"
    meta = [f"speed x{scenario.speed:g}", f"warp {scenario.warp}", f"client {how}"]
    if scenario.start is not None:
        meta.append(f"virtual start {clock_text(scenario.start)} UTC")
    if scenario.duration is not None:
        meta.append(f"{relative(scenario.duration)[1:]} long")
    out = [
        f'<section class="scenario" id="{prefix}" data-index="{index}" data-scenario="{escape(scenario.id)}">',
        f"<h2>{escape(scenario.id)} {badges}</h2>",
        f'<p class="meta">{escape(DOT.join(meta))}'
        + (f"{DOT}journal <code>{escape(scenario.journal)}</code>" if scenario.journal else "")
        + "</p>",
    ]
    if scenario.error:
        out.append(f'<p class="outcome failed">the client could not be graded: {escape(scenario.error)}</p>')
    out.append(
        '<table class="rules"><thead><tr><th>verdict</th><th>severity</th><th>rule</th><th>targeted</th>'
        "<th>findings (click one: its entries on the timeline) or why no verdict</th></tr></thead><tbody>"
    )
    out += [_rule_row(rule, j, prefix, t0) for j, rule in enumerate(scenario.rules)]
    if not scenario.rules:
        out.append('<tr><td colspan="5" class="reason">no rule was judged (no rule covers the APIs this run used)</td></tr>')
    out.append("</tbody></table>")
    if entries is None:
        out.append(f'<p class="notes">No timeline: {escape(problem)}.</p>')
    else:
        out += list(_timeline(scenario, entries, prefix, index))
    out.append("</section>")
    return "".join(out)


def html_report(report: Report) -> str:
    counts = report.summary()
    failed = report.failed()
    command = " ".join(report.client) or "(journals judged offline)"
    outcome = "FAILED" if failed else "passed"
    totals = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items())
    index = "".join(
        f'<tr><td><a href="#s{i}">{escape(s.id)}</a></td>'
        + "".join(
            f"<td>{sum(1 for r in s.rules if r.verdict == v)}</td>" for v in ("pass", "fail", "not-applicable", "inconclusive", "error")
        )
        + "</tr>"
        for i, s in enumerate(report.scenarios)
    )
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>conformance {outcome}: {escape(command)}</title><style>{STYLE}</style></head>"
    )
    body = [
        "<body><header><h1>Conformance report</h1>",
        f'<p>client: <code class="client">{escape(command)}</code></p>',
        f'<p class="outcome {outcome.lower()}">{outcome}: {escape(totals)} '
        "(a failed <em>must</em> rule fails the run; <em>should</em> rules only with --strict)</p>",
        '<table class="index"><thead><tr><th>scenario</th><th>pass</th><th>fail</th><th>not applicable</th><th>inconclusive</th>'
        f"<th>error</th></tr></thead><tbody>{index}</tbody></table></header>",
    ]
    body += [_scenario(scenario, i) for i, scenario in enumerate(report.scenarios)]
    body.append(f'<div id="tip" hidden></div><script>{SCRIPT}</script></body></html>\n')
    return head + "".join(body)
