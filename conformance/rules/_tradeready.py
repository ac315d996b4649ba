"""TradeReady's ``/ws/v1`` connections of a run, organised once per evidence for the rules of ``tradeready.py``.

Each connection (a WebSocket session to ``/ws/v1``, or a TCP connection a ``refuse`` fault turned
away) with when it was accepted, how it ended, what the client sent, the server's own frames, when
each frame that reached the client was sent (fan-out frames a silence fault kept off the wire, or
the server dropped, are not), and the drops that show a client not reading; grouped by principal.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from mockserver.apis.tradeready.channels import Subscriptions
from mockserver.core.catalogue import (
    CONN_REFUSED,
    WS_ACCEPT,
    WS_BROADCAST,
    WS_CLOSE,
    WS_CONNECT,
    WS_DISCARDED,
    WS_DROPPED,
    WS_FRAME,
    WS_OVERFLOW,
    WS_PONG_TIMEOUT,
    WS_REJECT,
    WS_RESET,
    WS_SUPPRESSED,
)
from mockserver.core.journal import Entry

from ..evidence import Evidence, body_json

__all__ = ["API", "AUTH_CLOSE", "AUTH_STATUSES", "PATH", "Conn", "Run", "keys", "next_attempt", "run_of", "seqs", "who"]

API = "tradeready"
PATH = "/ws/v1"
#: a handshake refused with these statuses (or a close 4401 after accept: what the docs say) is an authentication failure
AUTH_STATUSES = frozenset({401, 403})
AUTH_CLOSE = 4401


@dataclass(slots=True)
class Conn:
    """One WebSocket to ``/ws/v1`` (or a TCP connection a ``refuse`` fault turned away)."""

    id: str
    principal: str | None
    start: float
    entries: tuple[Entry, ...] = ()
    accepted: float | None = None
    end: Entry | None = None
    inbound: list[tuple[Entry, Any]] = field(default_factory=list)  # (entry, its JSON) of each client frame
    outbound: list[tuple[Entry, Any]] = field(default_factory=list)  # the server's own frames (replies, pings, orders)
    delivered: list[float] = field(default_factory=list)  # when each frame that reached the client was sent, sorted
    broadcasts: int = 0  # fan-out frames meant for it
    dropped: list[Entry] = field(default_factory=list)  # ws.dropped, ws.overflow: the client did not read fast enough
    pong_timeouts: list[Entry] = field(default_factory=list)

    @property
    def end_time(self) -> float | None:
        return self.end.vtime if self.end is not None else None

    @property
    def worked(self) -> bool:
        """Accepted, and something reached the client before it ended (the SDK's backoff starts again after such a one)."""
        return self.accepted is not None and bool(self.delivered)

    @property
    def ended_by(self) -> str | None:
        return str(self.end.data.get("by")) if self.end is not None else None

    @property
    def auth_failure(self) -> bool:
        end = self.end
        if end is None:
            return False
        if end.kind == WS_REJECT.name:
            return end.data.get("status") in AUTH_STATUSES
        return end.kind == WS_CLOSE.name and end.data.get("by") == "server" and end.data.get("code") == AUTH_CLOSE

    def describe_end(self) -> str:
        """How it ended, to follow "was": ``closed 1012 'service restart' by the fault 'restart'``."""
        end = self.end
        if end is None:
            return "still open"
        data = end.data
        by = data.get("by")
        who = f"the fault {data['fault']!r}" if by == "fault" and data.get("fault") else f"the {by}"
        if end.kind == WS_REJECT.name:
            return f"refused at the handshake (HTTP {data.get('status')}) by {who}"
        if end.kind == WS_CLOSE.name:
            reason = f" {data['reason']!r}" if data.get("reason") else ""
            return f"closed {data.get('code')}{reason} by {who}"
        if end.kind == CONN_REFUSED.name:
            return f"refused (TCP) by {who}"
        return f"reset by {who}"


class Run:
    """The ``/ws/v1`` connections of a run, by principal, oldest first, with what crossed each."""

    def __init__(self, ev: Evidence) -> None:
        self.profile = ev.profile(API)
        self.settings = ev.options(API)
        self.client = ev.client(API)
        #: when the runner stopped the client (SIGTERM): what it did after is the shutdown's (closes-on-sigterm), not these rules'
        self.stop = ev.stopped
        self.end = ev.end
        conns: dict[str, Conn] = {}
        fanned: dict[str, list[Entry]] = {}  # the broadcasts meant for each session
        pending: dict[tuple[str, str], list[int]] = {}  # (session, text) -> indexes in fanned[session]
        hidden: dict[str, set[int]] = {}  # indexes a silence fault kept off the wire
        lost: dict[str, set[int]] = {}  # seqs of broadcasts dropped or discarded
        for entry in ev.entries:
            if entry.api != API:
                continue
            kind = entry.kind
            if kind == WS_BROADCAST.name:
                text = str(entry.data.get("text"))
                for sid in entry.data.get("sessions") or []:
                    if sid in conns:
                        own = fanned.setdefault(sid, [])
                        pending.setdefault((sid, text), []).append(len(own))
                        own.append(entry)
                continue
            if kind == CONN_REFUSED.name:
                refused = Conn(f"conn-{entry.seq}", self.client, entry.vtime, (entry,), end=entry)
                conns[refused.id] = refused
                continue
            sid = entry.session
            if sid is None or not sid.startswith("ws-"):
                continue
            found = conns.get(sid)
            if found is None:
                if kind != WS_CONNECT.name or entry.data.get("path") != PATH:
                    continue
                found = conns[sid] = Conn(sid, entry.principal, entry.vtime)
            conn = found
            conn.entries += (entry,)
            if entry.principal and conn.principal is None:
                conn.principal = entry.principal
            if kind == WS_ACCEPT.name:
                conn.accepted = entry.vtime
            elif kind == WS_FRAME.name and entry.direction == "in":
                conn.inbound.append((entry, body_json(entry.data.get("text"))))
            elif kind == WS_FRAME.name:
                conn.outbound.append((entry, body_json(entry.data.get("text"))))
                conn.delivered.append(entry.vtime)
            elif kind == WS_SUPPRESSED.name:  # a broadcast's: the latest one with its text (texts carry instants: near unique)
                waiting = pending.get((sid, str(entry.data.get("text"))))
                if waiting:
                    hidden.setdefault(sid, set()).add(waiting.pop())
            elif kind in (WS_DROPPED.name, WS_OVERFLOW.name):
                conn.dropped.append(entry)
                if "broadcast" in entry.data:
                    lost.setdefault(sid, set()).add(int(entry.data["broadcast"]))
            elif kind == WS_DISCARDED.name:
                lost.setdefault(sid, set()).update(int(b) for b in entry.data.get("broadcasts") or [])
            elif kind == WS_PONG_TIMEOUT.name:
                conn.pong_timeouts.append(entry)
            if conn.end is None and kind in (WS_CLOSE.name, WS_RESET.name, WS_REJECT.name):
                conn.end = entry
        for sid, own in fanned.items():
            target = conns[sid]
            target.broadcasts = len(own)
            kept_off, dropped = hidden.get(sid, set()), lost.get(sid, set())
            target.delivered += [b.vtime for index, b in enumerate(own) if index not in kept_off and b.seq not in dropped]
        for conn in conns.values():
            conn.delivered.sort()
        self.by_principal: dict[str | None, list[Conn]] = {}
        for conn in sorted(conns.values(), key=lambda c: (c.start, c.entries[0].seq if c.entries else 0)):
            self.by_principal.setdefault(conn.principal, []).append(conn)

    def subscriptions(self, conn: Conn) -> list[tuple[Entry, str, str]]:
        """The client's subscribe/unsubscribe frames on a connection that name a valid key: (entry, action, key)."""
        parser = Subscriptions(self.profile)
        out = []
        for entry, frame in conn.inbound:
            if isinstance(frame, dict) and frame.get("action") in ("subscribe", "unsubscribe"):
                key = parser.resolve(frame)
                if isinstance(key, str):
                    out.append((entry, str(frame["action"]), key))
        return out

    def is_pong(self, frame: Any) -> bool:
        """The profile's pong: ``{"action":"pong"}``; the documented profile (the SDK's) also takes ``{"type":"pong"}``."""
        if not isinstance(frame, dict):
            return False
        return frame.get("action") == "pong" or (self.profile == "documented" and "action" not in frame and frame.get("type") == "pong")


_RUNS: weakref.WeakKeyDictionary[Evidence, Run] = weakref.WeakKeyDictionary()


def run_of(ev: Evidence) -> Run:
    found = _RUNS.get(ev)
    if found is None:
        found = _RUNS[ev] = Run(ev)
    return found


def who(principal: str | None) -> str:
    return principal if principal is not None else "a client with an unknown key"


def next_attempt(conns: list[Conn], conn: Conn, after: float) -> Conn | None:
    """The first attempt after ``conn`` that began at or after an instant (a parallel connection is no reconnect)."""
    return next((c for c in conns[conns.index(conn) + 1 :] if c.start >= after), None)


def seqs(end: Entry | None, following: Conn | None) -> tuple[int, ...]:
    """The seqs that prove a gap: the end of one connection and the first entry of the next."""
    return ((end.seq,) if end is not None else ()) + ((following.entries[0].seq,) if following is not None and following.entries else ())


def keys(keys: list[str] | set[str]) -> str:
    return ", ".join(sorted(keys)) or "nothing"
