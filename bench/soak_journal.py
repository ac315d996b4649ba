"""The soak's reading of the journal file: what each session was sent, and what explains a client that got less.

One pass over ``--journal-file`` (JSON Lines, millions of lines: only counters are kept). Per session it counts
what went onto the wire for the client to count: WebSocket frames out (a ``ws.broadcast`` counts once for each
session it lists, less the ``ws.dropped`` and ``ws.discarded`` that name it), event-stream frames (not the part
of a frame a ``cut`` sent), Socket.IO EVENT packets (per Engine.IO sid, not those a silence fault withheld). A
session whose client counted a different number is *explained* when the journal says why: it ended by a fault
or a reset (frames still in flight die with the connection), or met an overflow, a drop or a discard.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = ["FAILED", "Sent", "read_journal"]

#: http.response outcomes a client sees as an answer, and those it sees as a failed request
ANSWERED = frozenset({"answered", "error", "malformed", "dribbled", "stream"})
FAILED = frozenset({"reset", "empty", "truncated"})


@dataclass
class Sent:
    """What the journal says, per API and per session."""

    entries: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    #: per session id: api, conn, frames sent, and why a client may have counted fewer (empty: no reason)
    api: dict[str, str] = field(default_factory=dict)
    conn: dict[str, str] = field(default_factory=dict)
    out: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    why: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: Cryptorobot: EVENT packets per Engine.IO sid, and the session each sid belongs to
    sio_events: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sio_session: dict[str, str] = field(default_factory=dict)
    #: http.response outcomes per API (answered / failed)
    http: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    #: faults applied per API and kind, for the report
    faults: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    #: per API, the outcome of each request by its ``rid`` (bench/soak_clients.py): (outcome, status, seq)
    by_rid: dict[str, dict[str, tuple[str, int | None, int]]] = field(default_factory=lambda: defaultdict(dict))
    _rid_of: dict[int, str] = field(default_factory=dict)
    last_vtime: float = 0.0
    first_vtime: float | None = None
    #: real seconds between consecutive entries: the longest, and how many were over half a second (the server's
    #: pauses: its full garbage collections, a busy machine)
    longest_pause: float = 0.0
    pauses: int = 0
    _last_wall: float | None = None


def read_journal(path: Path) -> Sent:
    sent = Sent()
    with path.open("rb") as handle:
        for line in handle:
            _take(sent, orjson.loads(line))
    return sent


def _take(sent: Sent, entry: dict[str, Any]) -> None:
    sent.entries += 1
    kind, api, session, data = entry["kind"], entry["api"], entry.get("session"), entry["data"]
    sent.kinds[kind] += 1
    if sent.first_vtime is None:
        sent.first_vtime = entry["vtime"]
    sent.last_vtime = max(sent.last_vtime, entry["vtime"])
    if sent._last_wall is not None:
        pause = entry["wall"] - sent._last_wall
        sent.longest_pause = max(sent.longest_pause, pause)
        sent.pauses += pause > 0.5
    sent._last_wall = entry["wall"]
    if session is not None and session not in sent.api:
        sent.api[session] = api
        if entry.get("conn"):
            sent.conn[session] = entry["conn"]
    direction = entry["direction"]
    if kind == "http.request":
        query = data["query"]
        if "rid=" in query:
            sent._rid_of[entry["seq"]] = query.split("rid=", 1)[1].split("&", 1)[0]
    elif kind == "http.response":
        outcome = data["outcome"]
        rid = sent._rid_of.pop(data["request"], None)
        if rid is not None:
            sent.by_rid[api][rid] = (outcome, data.get("status"), entry["seq"])
        sent.http[api]["answered" if outcome in ANSWERED else "failed" if outcome in FAILED else outcome] += 1
        if data.get("status") == 500 and "fault" not in data:
            sent.errors.append(f"seq {entry['seq']}: {api} {data.get('path')} answered 500")
    elif kind == "server.error":
        sent.errors.append(f"seq {entry['seq']}: server.error {data.get('name')}: {data.get('error')}")
    elif kind == "ws.frame" and direction == "out" and api != "cryptorobot":
        sent.out[session] += 1
    elif kind == "ws.broadcast":
        for each in data["sessions"]:
            sent.out[each] += 1
    elif kind == "ws.dropped":
        if "broadcast" in data:
            sent.out[session] -= 1
        sent.why[session].add("ws.dropped")
    elif kind == "ws.discarded":
        sent.out[session] -= len(data["broadcasts"])
        sent.why[session].add("ws.discarded")
    elif kind in ("ws.overflow", "sse.overflow", "ws.pong_timeout"):
        sent.why[session].add(kind)
    elif kind in ("ws.reset", "sse.reset"):
        sent.why[session].add(kind)
    elif kind in ("ws.close", "sse.end", "sio.disconnect") and data.get("by") == "fault":
        sent.why[session].add(f"{kind} by fault")
    elif kind == "sse.frame":
        if not data.get("partial"):
            sent.out[session] += 1
        else:
            sent.why[session].add("sse.frame partial")
    elif kind == "sio.packet" and direction == "out":
        sid = data.get("eio_sid")
        if sid is not None and session is not None:
            sent.sio_session.setdefault(sid, session)
        if data.get("sio") == "EVENT" and not data.get("suppressed") and sid is not None:
            sent.sio_events[sid] += 1
    elif kind == "fault.applied":
        sent.faults[(api, data["fault_kind"])] += 1
