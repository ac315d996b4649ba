"""The timeline picture: an inline SVG of a :class:`~conformance.reports.timeline.Timeline`.

x is virtual time from the run's start to its end; each lane is a row: its label on the left, a
session's life as a thin bar, the gap before a reconnect as a dashed line, marks (client-to-mock
above the middle, mock-to-client below), density bars for dense runs, fault windows hatched, a
failed rule's expected windows outlined. Every mark has ``data-seqs`` (its journal entries) and an
id ``s<scenario>-m<seq>``; the page's script highlights them and shows the entries. Every text from
the journal is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from html import escape

from mockserver.core.clock import format_instant

from .timeline import Band, Lane, Mark, Timeline

__all__ = ["LABEL_W", "PLOT_W", "clock_text", "relative", "timeline_svg"]

LABEL_W = 230
PLOT_W = 960
AXIS_H = 34
LANE_H = 30
RIGHT = 48
#: tick steps, virtual seconds
STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
ENDS = ("close", "reset", "reject")


def relative(seconds: float) -> str:
    """``+8.5 s``, ``+4m 05.0s``, ``+1h 02m``: time since the run's start."""
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{sign}{int(minutes)}m {rest:04.1f}s"
    hours, rest = divmod(seconds, 3600)
    return f"{sign}{int(hours)}h {int(rest // 60):02d}m"


def clock_text(instant: float) -> str:
    """``14:38:44.358`` (UTC, virtual)."""
    return format_instant(instant, precision="ms")[11:23]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class _Scale:
    def __init__(self, t0: float, t1: float) -> None:
        self.t0, self.t1 = t0, t1
        self.k = PLOT_W / (t1 - t0)

    def x(self, t: float) -> float:
        return LABEL_W + min(max(t, self.t0), self.t1) * self.k - self.t0 * self.k

    def width(self, start: float, end: float, minimum: float = 1.0) -> float:
        return max(minimum, self.x(end) - self.x(start))


def _ticks(t0: float, t1: float) -> list[float]:
    span = t1 - t0
    step = next((s for s in STEPS if span / s <= 10), span / 10)
    return [t0 + i * step for i in range(int(span / step + 1e-9) + 1)]


def _axis(timeline: Timeline, scale: _Scale, height: float) -> Iterator[str]:
    yield '<g class="axis">'
    for t in _ticks(timeline.t0, timeline.t1):
        x = scale.x(t)
        yield f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{AXIS_H - 6}" y2="{height:.0f}"/>'
        yield f'<text class="tick" x="{x:.1f}" y="{AXIS_H - 10}">{escape(relative(t - timeline.t0))}</text>'
    yield f'<text class="tick start" x="6" y="{AXIS_H - 10}">virtual time from {escape(clock_text(timeline.t0))} UTC</text>'
    yield "</g>"


def _runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    """Contiguous runs of lane indexes: [(first, last)]."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indexes):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _band(band: Band, scale: _Scale, prefix: str) -> Iterator[str]:
    title = escape(band.label)
    if band.kind == "fault":
        attrs = f'class="band fault{" open" if band.open_end else ""}" fill="url(#{prefix}-hatch)" data-fault="{escape(band.key)}"'
    else:
        attrs = f'class="band {band.kind}" data-finding="{prefix}-{escape(band.key)}"'
    for first, last in _runs(band.lanes):
        y = AXIS_H + first * LANE_H
        h = (last - first + 1) * LANE_H
        if band.kind == "finding":
            x = scale.x(band.start)
            yield f'<line {attrs} x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + h}"><title>{title}</title></line>'
            continue
        x, w = scale.x(band.start), scale.width(band.start, band.end, 2.0)
        yield f'<rect {attrs} x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}"><title>{title}</title></rect>'
        if band.kind == "expected":
            yield f'<text class="band-label expected" data-finding="{prefix}-{escape(band.key)}" x="{x + 2:.1f}" y="{y + 9}">{escape(_clip(band.label, 40))}</text>'
    if band.kind == "fault" and band.lanes:
        x = scale.x(band.start)
        y = AXIS_H + min(band.lanes) * LANE_H
        yield f'<text class="band-label fault" x="{x + 2:.1f}" y="{y + LANE_H - 3}">{escape(_clip(band.label, 48))}</text>'


def _mark(mark: Mark, scale: _Scale, mid: float, prefix: str, with_label: bool) -> Iterator[str]:
    """One mark; ``with_label``: an end also gets its words (who ended it, the code) beside it."""
    x = scale.x(mark.t)
    seqs = " ".join(str(s) for s in mark.seqs)
    ident = f"{prefix}-m{mark.seqs[0]}"
    if mark.cls in ENDS:
        w, h, y = 3.0, LANE_H - 6.0, mid - (LANE_H - 6) / 2
    elif mark.cls in ("ping", "pong"):
        w, h, y = 1.5, 5.0, mid + mark.row * 8 - 2.5
    elif mark.cls == "open":
        w, h, y = 3.0, 14.0, mid - 7
    else:
        w, h, y = 2.0, 8.0, mid + mark.row * 7 - 4
    if mark.until is not None:
        w = max(w, scale.x(mark.until) - x)
    yield (
        f'<rect class="mark {mark.cls}" id="{ident}" data-seqs="{seqs}" x="{x - 1:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}">'
        f"<title>{escape(mark.label)}</title></rect>"
    )
    if with_label and mark.cls in ENDS:
        near_end = x > LABEL_W + PLOT_W - 160  # words to the left of an end near the right edge
        anchor = ' text-anchor="end"' if near_end else ""
        yield f'<text class="end-label"{anchor} x="{x - 4 if near_end else x + 4:.1f}" y="{mid - 6:.1f}">{escape(_clip(mark.label, 36))}</text>'


def _lane(lane: Lane, index: int, scale: _Scale, prefix: str) -> Iterator[str]:
    top = AXIS_H + index * LANE_H
    mid = top + LANE_H / 2
    yield (
        f'<g class="lane {lane.kind}" data-lane="{index}" data-kind="{lane.kind}" data-api="{escape(lane.api)}" '
        f'data-label="{escape(lane.label)}">'
    )
    yield (
        f'<text class="lane-label" x="6" y="{top + 12}">{escape(_clip(lane.label, 38))}<title>{escape(lane.label)} \u2014 '
        f"{escape(lane.detail)}</title></text>"
    )
    yield f'<text class="lane-detail" x="6" y="{top + 24}">{escape(_clip(lane.detail, 44))}</text>'
    for span in lane.spans:
        x, w = scale.x(span.start), scale.width(span.start, span.end)
        yield f'<rect class="span{" open" if span.open_end else ""}" x="{x:.1f}" y="{mid - 2}" width="{w:.1f}" height="4"><title>{escape(span.label)}</title></rect>'
    for gap in lane.gaps:
        x1, x2 = scale.x(gap.start), scale.x(gap.end)
        yield (
            f'<line class="gap" x1="{x1:.1f}" x2="{max(x2, x1 + 1):.1f}" y1="{mid}" y2="{mid}"><title>{escape(gap.label)}</title></line>'
            f'<text class="gap-label" x="{(x1 + x2) / 2:.1f}" y="{mid + 12}">{escape(relative(gap.end - gap.start)[1:])}</text>'
        )
    peak = max((d.count for d in lane.density), default=1)
    for bar in lane.density:
        x, w = scale.x(bar.start), scale.width(bar.start, bar.end)
        h = 3 + 8 * math.log1p(bar.count) / math.log1p(peak)
        y = mid + bar.row * 7 - h / 2 if bar.row else mid - h / 2
        yield f'<rect class="density" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"><title>{escape(bar.label)}</title></rect>'
    labelled = -1e9  # the x of the last end given words: ends close together get only the first one's
    for mark in lane.marks:
        x = scale.x(mark.t)
        words = mark.cls in ENDS and x - labelled > 160
        if words:
            labelled = x
        yield from _mark(mark, scale, mid, prefix, words)
    yield "</g>"


def timeline_svg(timeline: Timeline, prefix: str) -> str:
    """The SVG of a timeline; ``prefix`` (``s0``) makes its ids unique in the page."""
    scale = _Scale(timeline.t0, timeline.t1)
    height = AXIS_H + len(timeline.lanes) * LANE_H + 4
    width = LABEL_W + PLOT_W + RIGHT
    out = [
        f'<svg class="timeline" id="{prefix}-svg" data-left="{LABEL_W}" data-plot="{PLOT_W}" data-right="{RIGHT}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height:.0f}" '
        f'width="{width}" height="{height:.0f}" '
        f'role="img" aria-label="timeline of {len(timeline.lanes)} lanes">',
        f'<defs><pattern id="{prefix}-hatch" class="hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">'
        '<rect width="6" height="6" class="hatch-bg"/><line x1="0" y1="0" x2="0" y2="6" class="hatch-line"/></pattern></defs>',
    ]
    # back to front: lane backgrounds, fault windows, the lanes' content, expected windows and finding instants, the axis
    out.append('<g class="lane-bgs">')
    out += [
        f'<rect class="lane-bg{" odd" if i % 2 else ""}" x="0" y="{AXIS_H + i * LANE_H}" width="{width}" height="{LANE_H}"/>'
        for i in range(len(timeline.lanes))
    ]
    out.append('</g><g class="bands faults">')
    out += ["".join(_band(band, scale, prefix)) for band in timeline.bands if band.kind == "fault"]
    out.append('</g><g class="lanes">')
    out += ["".join(_lane(lane, i, scale, prefix)) for i, lane in enumerate(timeline.lanes)]
    out.append('</g><g class="bands findings">')
    out += ["".join(_band(band, scale, prefix)) for band in timeline.bands if band.kind != "fault"]
    out.append("</g>")
    out.append("".join(_axis(timeline, scale, height)))
    out.append("</svg>")
    return "".join(out)
