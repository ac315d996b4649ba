"""The pass over a journal that makes a timeline's lanes and marks (:mod:`.timeline` caps and freezes them).

Which lane an entry goes to: the scenario's steps, faults and the client's start and end to the
``steps`` lane; an HTTP request with its answer to its API and principal's ``http`` lane (or, when
the answer opened an event stream, to that session's lane); every entry of a WebSocket, event
stream or Socket.IO session to the session's lane (a fan-out frame to each recipient's); what the
client reported on ``MOCK_OBSERVE`` to its API's ``observe`` lane; anything else to its API's
``events`` lane. What a mark is (its CSS class) comes from the entry: an answer's status or
outcome, a frame's direction, a keep-alive, an open, an end with who and code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from mockserver.core.catalogue import END_KINDS
from mockserver.core.journal import Entry

__all__ = ["SUMMARY_CHARS", "TRANSPORTS", "Builder", "Density", "Gap", "LaneDraft", "LaneKind", "Mark", "Span", "summarize"]

LaneKind = Literal["steps", "http", "ws", "sse", "sio", "events", "observe", "more"]

#: Characters of an entry's data shown when hovering its mark.
SUMMARY_CHARS = 320

TRANSPORTS: dict[str, tuple[LaneKind, str]] = {"ws": ("ws", "WebSocket"), "sse": ("sse", "event stream"), "eio": ("sio", "Socket.IO")}
#: Response headers worth showing in a tooltip (the rest are left out).
SHOWN_HEADERS = ("retry-after", "content-type", "last-event-id", "location", "www-authenticate")
BROKEN_OUTCOMES = ("reset", "empty", "truncated", "malformed")
SKIPPED_KINDS = ("clock.advance",)  # a manual clock's bookkeeping: noise on a timeline


@dataclass(frozen=True, slots=True)
class Mark:
    """One thing drawn at an instant: a request with its answer, a frame, an open, a close."""

    t: float
    seqs: tuple[int, ...]
    #: what it is (the CSS class): ok, client-error, rate-limited, server-error, broken, in, out, ping, close, ...
    cls: str
    #: -1 above the lane's middle (client to mock), 0 on it, 1 below (mock to client)
    row: int
    label: str
    #: when its answer came (an HTTP exchange), if later
    until: float | None = None
    important: bool = False


@dataclass(frozen=True, slots=True)
class Density:
    """Many ordinary marks of one lane, in one slice of time."""

    start: float
    end: float
    row: int
    count: int
    label: str


@dataclass(frozen=True, slots=True)
class Span:
    """A session from its first entry to its end (or the end of the run)."""

    start: float
    end: float
    open_end: bool
    label: str


@dataclass(frozen=True, slots=True)
class Gap:
    """The time between a session's end and the next session of the same client and transport."""

    start: float
    end: float
    label: str


@dataclass
class LaneDraft:
    key: str
    api: str
    kind: LaneKind
    label: str
    detail: str
    first: float
    order: int
    marks: list[Mark] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    density: list[Density] = field(default_factory=list)
    #: sessions drawn here (a packed lane holds several)
    sessions: list[str] = field(default_factory=list)


@dataclass
class _Session:
    id: str
    api: str
    entries: list[Entry] = field(default_factory=list)
    start: float = 0.0
    end: float | None = None
    end_label: str = ""

    @property
    def transport(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def principal(self) -> str | None:
        return next((e.principal for e in self.entries if e.principal), None)

    @property
    def path(self) -> str:
        return next((str(e.data["path"]) for e in self.entries if isinstance(e.data.get("path"), str)), "")

    @property
    def conn(self) -> str:
        return next((e.conn for e in self.entries if e.conn), "")


def _is_ping(text: Any) -> str | None:
    """``ping`` / ``pong`` when a frame's text is an application-level keep-alive, else None."""
    if not isinstance(text, str) or len(text) > 200:
        return None
    stripped = text.strip().lower()
    if stripped in ("ping", "pong"):
        return stripped
    if stripped.startswith("event: ping"):
        return "ping"
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict):
        for key in ("type", "action", "op", "event", "method"):
            word = str(value.get(key, "")).lower()
            if word in ("ping", "pong", "heartbeat"):
                return "pong" if word == "pong" else "ping"
    return None


def _exchange_class(response: Entry | None) -> tuple[str, bool]:
    """The CSS class of an HTTP exchange, by its answer, and whether it matters (never aggregated)."""
    if response is None:
        return "pending", True
    outcome = response.data.get("outcome")
    status = response.data.get("status")
    if outcome in BROKEN_OUTCOMES:
        return "broken", True
    if outcome == "stream":
        return "stream", True
    if outcome == "dribbled":
        return "slow", True
    if not isinstance(status, int):
        return "broken", True
    if status >= 500:
        return "server-error", True
    if status == 429:
        return "rate-limited", True
    if status >= 400:
        return "client-error", True
    if status >= 300:
        return "redirect", False
    return "ok", False


def _end_label(entry: Entry) -> str:
    data = entry.data
    by = data.get("by", "?")
    if entry.kind == "ws.close":
        reason = f": {data['reason']}" if data.get("reason") else ""
        return f"close {data.get('code')} by {by}{reason}"
    if entry.kind == "ws.reject":
        return f"handshake refused {data.get('status')} by {by}"
    if entry.kind == "sio.disconnect":
        return f"disconnect by {by} ({data.get('reason', '')})"
    if entry.kind == "conn.refused":
        return "connection refused (fault)"
    return f"{entry.kind.split('.', 1)[1]} by {by}"


def _step_label(entry: Entry) -> str:
    data = entry.data
    if entry.kind == "scenario.step":
        args = data.get("args") or {}
        action = data.get("action", "?")
        if action == "note":
            return f"note: {args.get('text', '')}"
        if action == "emit":
            return f"emit {args.get('api', '')} {args.get('event', '')}"
        if action in ("fault", "stop_fault"):
            return f"{action} {args.get('id', '')}"
        return f"{action} {args.get('api', '')}"
    if entry.kind == "server.error":
        return f"mock error in {data.get('source')} {data.get('name')}: {data.get('error')}"
    if entry.kind == "run.ended":
        return f"the client {'exited ' + str(data.get('exit_status')) if data.get('how') == 'exited' else 'was ' + str(data.get('how'))}"
    if entry.kind == "run.started":
        return "the client started"
    if entry.kind in ("fault.start", "fault.stop"):
        return f"{entry.kind} {data.get('fault', '')}"
    return entry.kind


def summarize(entry: Entry) -> str:
    """An entry's data in one line of JSON, headers thinned out, at most :data:`SUMMARY_CHARS` characters."""
    data = dict(entry.data)
    headers = data.pop("headers", None)
    if isinstance(headers, Mapping):
        shown = {
            str(k): ("(redacted)" if str(k).lower() in ("authorization", "cookie", "x-api-key") else v)
            for k, v in headers.items()
            if str(k).lower() in SHOWN_HEADERS or str(k).lower().startswith("x-ratelimit") or str(k).lower() == "authorization"
        }
        if shown:
            data["headers"] = shown
    text = json.dumps(data, ensure_ascii=False, default=str, separators=(", ", ": "))
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "\u2026"


class Builder:
    def __init__(self, entries: Sequence[Entry], t0: float, t1: float, named: set[int]) -> None:
        self.entries = entries
        self.t0, self.t1 = t0, t1
        self.named = named
        self.lanes: dict[str, LaneDraft] = {}
        self.sessions: dict[str, _Session] = {}
        self.by_seq: dict[int, Entry] = {}
        self.responses: dict[int, Entry] = {}
        self.notes: list[str] = []

    # lanes -------------------------------------------------------------------------------------------
    def lane(self, key: str, api: str, kind: LaneKind, label: str, detail: str, t: float) -> LaneDraft:
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = LaneDraft(key, api, kind, label, detail, t, len(self.lanes))
        return lane

    def steps(self, t: float) -> LaneDraft:
        return self.lane("steps", "mock", "steps", "scenario", "steps, faults, the client's start and end", t)

    def http(self, api: str, principal: str | None, t: float) -> LaneDraft:
        return self.lane(f"http:{api}:{principal}", api, "http", f"{api} · HTTP", principal or "no credential", t)

    def events(self, api: str, t: float) -> LaneDraft:
        return self.lane(f"events:{api}", api, "events", f"{api} · server", "what the API did on its own", t)

    def observe(self, api: str, t: float) -> LaneDraft:
        return self.lane(f"observe:{api}", api, "observe", f"{api} · observed", "what the client said it handled (MOCK_OBSERVE)", t)

    def session_lane(self, sid: str, api: str, t: float) -> LaneDraft:
        session = self.sessions[sid]
        kind, name = TRANSPORTS.get(session.transport, ("ws", sid))
        detail = " · ".join(x for x in (session.path, session.principal or "no credential", session.conn) if x)
        lane = self.lane(f"session:{sid}", api, kind, f"{api} · {name} {sid}", detail, t)
        if not lane.sessions:
            lane.sessions.append(sid)
        return lane

    def add(self, lane: LaneDraft, mark: Mark) -> None:
        if any(s in self.named for s in mark.seqs) and not mark.important:
            mark = replace(mark, important=True)
        lane.marks.append(mark)

    # the pass over the journal -----------------------------------------------------------------------
    def run(self) -> None:
        for entry in self.entries:
            self.by_seq[entry.seq] = entry
            if entry.kind == "http.response" and isinstance(entry.data.get("request"), int):
                self.responses[entry.data["request"]] = entry
            if entry.session is not None:
                session = self.sessions.get(entry.session)
                if session is None:
                    session = self.sessions[entry.session] = _Session(entry.session, entry.api, start=entry.vtime)
                session.entries.append(entry)
                if session.end is None and entry.kind in END_KINDS:
                    session.end, session.end_label = entry.vtime, _end_label(entry)
        for entry in self.entries:
            if entry.kind in SKIPPED_KINDS and entry.seq not in self.named:
                continue
            self.place(entry)
        self.session_spans()

    def place(self, entry: Entry) -> None:
        kind, t = entry.kind, entry.vtime
        area = kind.split(".", 1)[0]
        if kind == "http.request":
            self.exchange(entry)
        elif kind == "http.response":
            if entry.data.get("request") not in self.by_seq:  # its request is not in this journal
                cls, important = _exchange_class(entry)
                lane = self.session_lane(entry.session, entry.api, t) if entry.session else self.http(entry.api, entry.principal, t)
                self.add(
                    lane, Mark(t, (entry.seq,), cls, 0, f"answer {entry.data.get('status')} {entry.data.get('path', '')}", None, important)
                )
        elif kind == "ws.broadcast":
            for sid in entry.data.get("sessions") or ():
                if sid in self.sessions:
                    self.add(self.session_lane(sid, entry.api, t), self.frame_mark(entry, "out"))
        elif entry.session is not None:
            self.session_mark(entry)
        elif area in ("scenario", "run", "server", "clock", "control", "fault") and kind != "fault.applied":
            important = kind in ("server.error", "run.started", "run.ended")
            cls = "error" if kind == "server.error" else ("run" if area == "run" else ("fault-edge" if area == "fault" else "step"))
            self.add(self.steps(t), Mark(t, (entry.seq,), cls, 0, _step_label(entry), None, important))
        elif kind == "observe.event":
            api = str(entry.data.get("api", entry.api))
            self.add(self.observe(api, t), Mark(t, (entry.seq,), "observe", 0, f"observed {entry.data.get('kind', '')}"))
        elif kind == "observe.invalid":
            self.add(self.observe(entry.api, t), Mark(t, (entry.seq,), "broken", 0, "an invalid MOCK_OBSERVE line", None, True))
        elif kind in ("fault.applied", "conn.refused", "http.invalid", "http.aborted"):
            lane = self.http(entry.api, entry.principal, t)
            cls = {"fault.applied": "fault", "conn.refused": "reset", "http.invalid": "broken", "http.aborted": "broken"}[kind]
            label = entry.data.get("effect") or _end_label(entry) if kind != "http.aborted" else "the client went away mid-answer"
            self.add(
                lane, Mark(t, (entry.seq,), cls, -1 if kind == "fault.applied" else 0, f"{kind}: {label}", None, kind != "fault.applied")
            )
        else:
            self.add(self.events(entry.api, t), Mark(t, (entry.seq,), "info", 0, kind))

    def exchange(self, request: Entry) -> None:
        response = self.responses.get(request.seq)
        t = request.vtime
        session = response.session if response is not None else None
        principal = request.principal or (response.principal if response is not None else None)
        lane = self.session_lane(session, request.api, t) if session else self.http(request.api, principal, t)
        cls, important = _exchange_class(response)
        answer = "no answer" if response is None else str(response.data.get("status") or response.data.get("outcome"))
        if response is not None and response.data.get("outcome") not in ("answered", "error", None):
            answer += f" ({response.data.get('outcome')})"
        seqs = (request.seq,) if response is None else (request.seq, response.seq)
        until = response.vtime if response is not None and response.vtime > t else None
        label = f"{request.data.get('method', '')} {request.data.get('path', '')} \u2192 {answer}"
        self.add(lane, Mark(t, seqs, cls, 0, label, until, important))

    def frame_mark(self, entry: Entry, direction: str) -> Mark:
        data = entry.data
        ping = _is_ping(data.get("text"))
        row = -1 if direction == "in" else 1
        if ping is not None:
            return Mark(entry.vtime, (entry.seq,), ping, row, f"{ping} {'from the client' if direction == 'in' else 'to the client'}")
        cls = direction
        if data.get("fault") or data.get("duplicate") or data.get("reordered"):
            cls = "faulted"
        elif data.get("replay"):
            cls = "replay"
        elif data.get("partial") or data.get("truncated"):
            cls = "broken"
        text = data.get("text")
        preview = text.split("\n", 1)[0][:60] if isinstance(text, str) else f"{data.get('length', '?')} bytes"
        return Mark(entry.vtime, (entry.seq,), cls, row, f"frame {direction}: {preview}", None, cls == "broken")

    def session_mark(self, entry: Entry) -> None:
        assert entry.session is not None
        session = self.sessions[entry.session]
        kind, t, data = entry.kind, entry.vtime, entry.data
        lane = self.session_lane(entry.session, entry.api, t)
        seqs = (entry.seq,)
        if kind in END_KINDS:
            cls = "reset" if kind.endswith("reset") or kind == "conn.refused" else ("reject" if kind == "ws.reject" else "close")
            self.add(lane, Mark(t, seqs, cls, 0, _end_label(entry), None, True))
        elif kind == "ws.connect":
            self.add(lane, Mark(t, seqs, "open", 0, f"connect {data.get('path', '')}", None, True))
        elif kind == "ws.accept":
            last = lane.marks[-1] if lane.marks else None
            if (
                last is not None
                and last.cls == "open"
                and last.seqs[-1] in self.by_seq
                and self.by_seq[last.seqs[-1]].session == entry.session
            ):
                lane.marks[-1] = replace(last, seqs=(*last.seqs, entry.seq), label=last.label + " \u2192 accepted")
            else:
                self.add(lane, Mark(t, seqs, "open", 0, "accepted"))
        elif kind == "ws.frame":
            if session.transport == "eio":
                return  # the raw frames of a Socket.IO session: its sio.packet entries are drawn instead
            self.add(lane, self.frame_mark(entry, entry.direction))
        elif kind == "sse.frame":
            self.add(lane, self.frame_mark(entry, "out"))
        elif kind == "sio.packet":
            self.add(lane, self.packet_mark(entry))
        elif kind == "fault.applied":
            self.add(lane, Mark(t, seqs, "fault", -1, f"fault {data.get('fault')}: {data.get('effect')}", None, False))
        elif kind in ("ws.lost", "sio.invalid", "sio.kick", "sio.jwt_expired", "ws.pong_timeout", "ws.overflow", "sse.overflow"):
            self.add(lane, Mark(t, seqs, "lost" if kind == "ws.lost" else "timeout", 1, f"{kind}", None, True))
        elif kind in ("sio.login", "sio.logout", "token.rotated"):
            self.add(lane, Mark(t, seqs, "auth", -1, f"{kind} {data.get('user', '')}"))
        elif kind in ("ws.push",):
            self.add(lane, Mark(t, seqs, "info", 1, f"push message {data.get('message_id')} ({data.get('type')})"))
        elif kind.split(".", 1)[1] in ("suppressed", "held", "withheld", "dropped", "discarded", "id_gap"):
            self.add(lane, Mark(t, seqs, "suppressed", 1, f"{kind} (fault {data.get('fault', '-')})"))
        else:
            self.add(lane, Mark(t, seqs, "info", 0, kind))

    def packet_mark(self, entry: Entry) -> Mark:
        data = entry.data
        eio = str(data.get("eio", ""))
        row = -1 if entry.direction == "in" else 1
        if eio in ("ping", "pong"):
            return Mark(entry.vtime, (entry.seq,), eio, row, f"Engine.IO {eio}")
        if data.get("suppressed"):
            return Mark(entry.vtime, (entry.seq,), "suppressed", row, f"kept off the wire: {data.get('event') or eio}")
        if data.get("invalid"):
            return Mark(entry.vtime, (entry.seq,), "broken", row, f"invalid packet: {data.get('invalid')}", None, True)
        if eio in ("open", "upgrade"):
            return Mark(entry.vtime, (entry.seq,), "open", 0, f"Engine.IO {eio}", None, True)
        if eio == "close":
            return Mark(entry.vtime, (entry.seq,), "close", 0, "Engine.IO close", None, True)
        what = " ".join(str(x) for x in (data.get("sio", eio), data.get("event", ""), f"#{data['id']}" if "id" in data else "") if x)
        return Mark(entry.vtime, (entry.seq,), entry.direction if entry.direction in ("in", "out") else "info", row, what)

    def session_spans(self) -> None:
        families: dict[tuple[str, str, str, str | None], list[_Session]] = {}
        for session in self.sessions.values():
            lane = self.lanes.get(f"session:{session.id}")
            if lane is None:
                continue
            first = min((m.t for m in lane.marks), default=session.start)
            session.start = min(session.start, first)
            end = session.end if session.end is not None else self.t1
            label = f"{session.id}: {session.end_label}" if session.end is not None else f"{session.id}: open at the end"
            lane.spans.append(Span(session.start, end, session.end is None, label))
            families.setdefault((session.api, session.transport, session.path, session.principal), []).append(session)
        for family in families.values():
            family.sort(key=lambda s: s.start)
            for before, after in zip(family, family[1:], strict=False):
                if before.end is not None and after.start >= before.end:
                    gap = after.start - before.end
                    lane = self.lanes[f"session:{after.id}"]
                    lane.gaps.append(Gap(before.end, after.start, f"reconnected {gap:.3g} s after {before.id} ended ({before.end_label})"))
