"""The timeline of one scenario, made from its journal: lanes, marks, fault windows, expected windows.

What the HTML report draws, as values (no markup here): one lane for the scenario's own steps, one
per API and principal for HTTP exchanges, one per WebSocket, event-stream or Socket.IO session
(its open, frames in and out, pings and pongs, its close with who and code, the gap before a
reconnect), one per API for what the client reported on ``MOCK_OBSERVE``. Marks carry the journal
``seq`` numbers they stand for, so a finding can point at them.

Dense runs stay readable: past :data:`LANE_MARKS` ordinary marks in a lane (frames, pings, answered
requests), that lane's ordinary marks are drawn as density bars; marks that matter (opens, ends,
errors, resets, faults, anything a finding names) are always drawn one by one, up to
:data:`MAX_MARKS` in a scenario. Past :data:`MAX_LANES` lanes, sessions that do not overlap share
a lane. Every cap applied is said in ``notes``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from mockserver.core.journal import Entry

from ..evidence import Evidence
from ..model import RuleResult
from .lanes import TRANSPORTS, Builder, Density, Gap, LaneDraft, LaneKind, Mark, Span, summarize

__all__ = [
    "BINS",
    "LANE_MARKS",
    "MAX_LANES",
    "MAX_MARKS",
    "Band",
    "Density",
    "EntryView",
    "Gap",
    "Lane",
    "Mark",
    "Span",
    "Timeline",
    "build",
]

BandKind = Literal["fault", "expected", "finding"]

#: Lanes drawn before sessions that do not overlap share one, and the rest are merged.
MAX_LANES = 60
#: Ordinary marks in one lane before they are drawn as density bars.
LANE_MARKS = 200
#: Marks drawn one by one in a scenario (the rest: density bars).
MAX_MARKS = 2000
#: Density bars across the axis.
BINS = 160
#: Density bars in a scenario, at most (many dense lanes get fewer, wider bars each).
MAX_DENSITY = 4000
#: Expected windows and finding instants drawn in a scenario.
MAX_BANDS = 400


@dataclass(frozen=True, slots=True)
class Lane:
    key: str
    api: str
    kind: LaneKind
    label: str
    detail: str
    marks: tuple[Mark, ...] = ()
    density: tuple[Density, ...] = ()
    spans: tuple[Span, ...] = ()
    gaps: tuple[Gap, ...] = ()


@dataclass(frozen=True, slots=True)
class Band:
    """A span of time over some lanes: a fault window, a failed rule's expected window, a finding's instant (start == end)."""

    kind: BandKind
    start: float
    end: float
    label: str
    #: indexes into ``Timeline.lanes``
    lanes: tuple[int, ...]
    #: ``fault`` bands: the fault's id; the others: the finding's anchor ``r<rule>-f<finding>``
    key: str
    open_end: bool = False


@dataclass(frozen=True, slots=True)
class EntryView:
    """What a tooltip and the evidence table show of one entry."""

    seq: int
    vtime: float
    api: str
    kind: str
    direction: str
    conn: str | None
    session: str | None
    principal: str | None
    summary: str


@dataclass(frozen=True, slots=True)
class Timeline:
    t0: float
    t1: float
    lanes: tuple[Lane, ...]
    bands: tuple[Band, ...]
    #: the entries the drawn marks and the findings name
    entries: Mapping[int, EntryView]
    #: entries in the journal
    total: int
    #: the caps applied, in words
    notes: tuple[str, ...] = ()

    def lane_of(self, seq: int) -> list[int]:
        return [i for i, lane in enumerate(self.lanes) if any(seq in m.seqs for m in lane.marks)]


#: the fields of a fault spec that say what it does, per kind (the others are defaults)
FAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "error": ("status",),
    "rate_limit": ("limit", "window", "retry_after"),
    "refuse_upgrade": ("status",),
    "close": ("code", "reason"),
    "latency": ("delay", "min_delay", "max_delay"),
    "dribble": ("chunks", "interval"),
    "truncate": ("fraction",),
}


def _fault_label(spec: Mapping[str, Any], fault_id: str) -> str:
    kind = str(spec.get("kind", "?"))
    parts = [f"fault {fault_id}: {kind}"]
    for key in (*FAULT_FIELDS.get(kind, ()), "route", "method"):
        if spec.get(key) not in (None, ""):
            parts.append(f"{key} {spec[key]}")
    probability = spec.get("probability")
    if isinstance(probability, (int, float)) and probability < 1:
        parts.append(f"p={probability:g}")
    if spec.get("times"):
        parts.append(f"{spec['times']} times")
    return ", ".join(parts)


def _view(entry: Entry) -> EntryView:
    return EntryView(
        entry.seq, entry.vtime, entry.api, entry.kind, entry.direction, entry.conn, entry.session, entry.principal, summarize(entry)
    )


# -- caps ------------------------------------------------------------------------------------------------
def _ordered(builder: Builder) -> list[LaneDraft]:
    rank = {"steps": 0, "http": 1, "ws": 2, "sse": 2, "sio": 2, "events": 3, "observe": 4, "more": 5}
    apis: dict[str, float] = {}
    for lane in sorted(builder.lanes.values(), key=lambda lane: lane.first):
        apis.setdefault(lane.api, lane.first)
    return sorted(
        builder.lanes.values(),
        key=lambda lane: (lane.kind != "steps", apis[lane.api], lane.api, rank[lane.kind], lane.first, lane.order),
    )


def _pack(lanes: list[LaneDraft], builder: Builder) -> list[LaneDraft]:
    """Too many lanes: sessions of one client and transport that do not overlap share a lane; past that, merge."""
    if len(lanes) <= MAX_LANES:
        return lanes
    sessions = sum(1 for lane in lanes if lane.sessions)
    packed: list[LaneDraft] = []
    slots: dict[tuple[str, str, str], list[LaneDraft]] = {}
    for lane in lanes:
        if not lane.sessions:
            packed.append(lane)
            continue
        session = builder.sessions[lane.sessions[0]]
        family = (lane.api, session.transport, session.principal or "")
        start = lane.spans[0].start if lane.spans else lane.first
        target = next((slot for slot in slots.get(family, []) if slot.spans and slot.spans[-1].end <= start), None)
        if target is None:
            slots.setdefault(family, []).append(lane)
            packed.append(lane)
            continue
        target.sessions += lane.sessions
        target.marks += lane.marks
        target.spans += lane.spans
        target.gaps += lane.gaps
        target.label = f"{lane.api} · {TRANSPORTS.get(session.transport, ('ws', ''))[1]} ×{len(target.sessions)}"
        target.detail = f"{target.sessions[0]} \u2026 {target.sessions[-1]} (one after another)"
    for lane in packed:
        lane.marks.sort(key=lambda m: m.t)
    builder.notes.append(f"{sessions} sessions: sessions one after another share a lane ({len(packed)} lanes)")
    if len(packed) <= MAX_LANES:
        return packed
    kept, rest = packed[: MAX_LANES - 1], packed[MAX_LANES - 1 :]
    more = LaneDraft(
        "more", "*", "more", f"{len(rest)} more lanes", "merged: " + ", ".join(lane.label for lane in rest[:3]) + " \u2026", 0, 0
    )
    for lane in rest:
        more.marks += [replace(m, important=False) for m in lane.marks]
    more.marks.sort(key=lambda m: m.t)
    builder.notes.append(f"{len(rest)} lanes past the first {MAX_LANES - 1} are merged into the last one")
    return [*kept, more]


def _densify(lane: LaneDraft, t0: float, t1: float, keep: set[int], everything: bool = False, bins: int = BINS) -> int:
    """Draw a lane's ordinary marks (or all but the ones findings name) as density bars; returns how many went."""
    width = (t1 - t0) / bins
    moved: dict[tuple[int, int], list[Mark]] = {}
    stay: list[Mark] = []
    for mark in lane.marks:
        if (mark.important and not everything) or any(s in keep for s in mark.seqs):
            stay.append(mark)
        else:
            index = min(bins - 1, max(0, int((mark.t - t0) / width))) if width > 0 else 0
            moved.setdefault((index, mark.row), []).append(mark)
    for (index, row), marks in sorted(moved.items()):
        kinds = Counter(m.cls for m in marks)
        what = ", ".join(f"{n} {cls}" for cls, n in kinds.most_common())
        lane.density.append(Density(t0 + index * width, t0 + (index + 1) * width, row, len(marks), f"{len(marks)} entries: {what}"))
    lane.marks = stay
    return sum(len(m) for m in moved.values())


def _cap_marks(lanes: list[LaneDraft], builder: Builder) -> None:
    t0, t1, named = builder.t0, builder.t1, builder.named
    bins = max(20, min(BINS, MAX_DENSITY // (2 * max(1, len(lanes)))))  # a lane's bars sit on two rows, mostly
    for lane in lanes:
        ordinary = sum(1 for m in lane.marks if not m.important)
        if ordinary > LANE_MARKS:
            moved = _densify(lane, t0, t1, named, bins=bins)
            builder.notes.append(f"{lane.label}: {moved} ordinary entries drawn as density bars (more than {LANE_MARKS} in the lane)")
    total = sum(len(lane.marks) for lane in lanes)
    for lane in sorted(lanes, key=lambda lane: -len(lane.marks)):
        if total <= MAX_MARKS:
            break
        moved = _densify(lane, t0, t1, named, everything=True, bins=bins)
        total -= moved
        if moved:
            builder.notes.append(f"{lane.label}: {moved} entries drawn as density bars (more than {MAX_MARKS} marks in the scenario)")


# -- bands -----------------------------------------------------------------------------------------------
def _bands(lanes: Sequence[Lane], evidence: Evidence, rules: Sequence[RuleResult], t1: float, notes: list[str]) -> list[Band]:
    bands: list[Band] = []
    for fault in evidence.faults:
        hit = tuple(i for i, lane in enumerate(lanes) if lane.kind != "steps" and (fault.api in ("*", lane.api) or lane.api == "*"))
        end = fault.end if fault.end is not None else t1
        bands.append(Band("fault", fault.start, end, _fault_label(fault.spec, fault.id), hit, fault.id, fault.end is None))
    where: dict[int, set[int]] = {}
    for index, lane in enumerate(lanes):
        for mark in lane.marks:
            for seq in mark.seqs:
                where.setdefault(seq, set()).add(index)
    drawn = 0
    for j, rule in enumerate(rules):
        api = rule.id.split(".", 1)[0]
        for k, finding in enumerate(rule.findings):
            if finding.expected is None and finding.vtime is None:
                continue
            if drawn >= MAX_BANDS:
                notes.append(f"only the first {MAX_BANDS} expected windows and finding instants are drawn")
                return bands
            covered: list[int] = sorted(set().union(*(where.get(s, set()) for s in finding.seqs))) if finding.seqs else []
            if not covered:
                covered = [i for i, lane in enumerate(lanes) if lane.api == api and lane.kind != "steps"]
            if not covered:
                covered = list(range(len(lanes)))
            key = f"r{j}-f{k}"
            if finding.expected is not None:
                window = finding.expected
                bands.append(Band("expected", window.start, window.end, window.label or "expected", tuple(covered), key))
            if finding.vtime is not None:
                bands.append(Band("finding", finding.vtime, finding.vtime, finding.message, tuple(covered), key))
            drawn += 1
    return bands


def build(
    entries: Sequence[Entry], rules: Sequence[RuleResult] = (), *, start: float | None = None, duration: float | None = None
) -> Timeline:
    """The timeline of a journal's entries, with the findings of ``rules`` (the expected windows of the failed ones)."""
    evidence = Evidence(entries)
    t0 = start if start is not None else evidence.start
    t1 = max(t0 + (duration or 0.0), evidence.end, max((e.vtime for e in entries), default=t0))
    if t1 <= t0:
        t1 = t0 + 1.0
    named = {s for rule in rules for finding in rule.findings for s in finding.seqs}
    builder = Builder(entries, t0, t1, named)
    builder.run()
    lanes = _pack(_ordered(builder), builder)
    _cap_marks(lanes, builder)
    frozen = tuple(
        Lane(
            lane.key,
            lane.api,
            lane.kind,
            lane.label,
            lane.detail,
            tuple(lane.marks),
            tuple(lane.density),
            tuple(lane.spans),
            tuple(lane.gaps),
        )
        for lane in lanes
    )
    notes = builder.notes
    bands = _bands(frozen, evidence, rules, t1, notes)
    wanted: Iterable[int] = {s for lane in frozen for m in lane.marks for s in m.seqs} | named
    views = {seq: _view(builder.by_seq[seq]) for seq in sorted(wanted) if seq in builder.by_seq}
    return Timeline(t0, t1, frozen, tuple(bands), views, len(entries), tuple(notes))
