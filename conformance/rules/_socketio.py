"""Feathers over Socket.IO, read off the journal: a client's calls and their answers, logins, lost connections.

A Socket.IO connection is an Engine.IO session (``eio-N``): its ``sio.packet`` entries (the
client's service calls are EVENT packets whose event is the method and whose first argument is
the service path; the answers are ACK packets with the same id), the domain's ``sio.login``,
``sio.jwt_expired`` and ``sio.kick``, and one end. A *lost* connection is one that ended without
the client asking (no Socket.IO DISCONNECT or Engine.IO close packet from it) before the runner
stopped the client: a fault, the server, a ping timeout, a refused handshake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from mockserver.core.journal import Entry

from ..evidence import Evidence, SessionView

__all__ = ["AUTH", "Call", "Connection", "connections"]

AUTH = "authentication"
READS = ("find", "get")


@dataclass(frozen=True)
class Call:
    """One service method call over Socket.IO, and its answer (None: none was journaled)."""

    request: Entry
    answer: Entry | None

    @property
    def vtime(self) -> float:
        return self.request.vtime

    @property
    def method(self) -> str:
        return str(self.request.data.get("event", ""))

    @property
    def args(self) -> list[Any]:
        args = self.request.data.get("args")
        return list(args) if isinstance(args, list) else []

    @property
    def path(self) -> str:
        path = self.args[0] if self.args else None
        return path.strip("/") if isinstance(path, str) else ""

    @property
    def is_auth(self) -> bool:
        return self.method == "create" and self.path == AUTH

    @property
    def strategy(self) -> str | None:
        data = self.args[1] if len(self.args) > 1 else None
        return str(data.get("strategy")) if isinstance(data, dict) and data.get("strategy") is not None else None

    @property
    def error(self) -> dict[str, Any] | None:
        """The Feathers error the call was answered with (``[error]``), if so."""
        data = self.answer.data.get("data") if self.answer is not None else None
        if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
            return data[0]
        return None

    @property
    def ok(self) -> bool:
        data = self.answer.data.get("data") if self.answer is not None else None
        return isinstance(data, list) and len(data) == 2 and data[0] is None

    @property
    def key(self) -> str:
        """What makes two reads the same read: method, path and the rest of the arguments."""
        return f"{self.method} {self.path} {json.dumps(self.args[1:], sort_keys=True, default=str)}"

    @property
    def seqs(self) -> tuple[int, ...]:
        return (self.request.seq,) if self.answer is None else (self.request.seq, self.answer.seq)

    def describe(self) -> str:
        return f"{self.method} {self.path or '?'}"


@dataclass(frozen=True)
class Connection:
    """One Engine.IO session of the API, with what the rules ask of it."""

    view: SessionView

    @property
    def id(self) -> str:
        return self.view.id

    @property
    def start(self) -> float:
        return self.view.start

    @property
    def first_seq(self) -> int:
        return self.view.entries[0].seq

    def packets(self, direction: str | None = None) -> Iterator[Entry]:
        for entry in self.view.entries:
            if entry.kind == "sio.packet" and (direction is None or entry.direction == direction):
                yield entry

    @cached_property
    def calls(self) -> tuple[Call, ...]:
        answers = {e.data.get("id"): e for e in self.packets("out") if e.data.get("sio") in ("ACK", "BINARY_ACK")}
        return tuple(
            Call(e, answers.get(e.data.get("id")) if e.data.get("id") is not None else None)
            for e in self.packets("in")
            if e.data.get("sio") in ("EVENT", "BINARY_EVENT")
        )

    @cached_property
    def logins(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.view.entries if e.kind == "sio.login")

    @cached_property
    def connected(self) -> Entry | None:
        """The server's Socket.IO CONNECT: the connection was established (None: it never was)."""
        return next((e for e in self.packets("out") if e.data.get("sio") == "CONNECT" and not e.data.get("suppressed")), None)

    @cached_property
    def end(self) -> Entry | None:
        """How it ended: the ``sio.disconnect`` (it says by whom), else the transport's end (a refused handshake)."""
        return next((e for e in self.view.entries if e.kind == "sio.disconnect"), None) or self.view.end_entry

    @cached_property
    def deliberate(self) -> bool:
        """Did the client close it (a Socket.IO DISCONNECT or an Engine.IO close packet)?"""
        return any(e.data.get("sio") == "DISCONNECT" or e.data.get("eio") == "close" for e in self.packets("in"))

    @property
    def cause(self) -> str:
        """Why it ended, in words: the server's kick, the fault, or the end's own reason."""
        kick = next((e for e in self.view.entries if e.kind == "sio.kick"), None)
        if kick is not None:
            return f"the server disconnected it: {kick.data.get('reason')}"
        end = self.end
        if end is None:
            return "it is still open"
        if end.data.get("fault"):
            return f"fault {end.data['fault']!r}"
        detail = end.data.get("reason") or end.data.get("status") or end.data.get("code") or "-"
        return f"{end.kind} by {end.data.get('by', '?')}: {detail}"

    def lost(self, stop: float) -> bool:
        """Ended without the client asking, before the runner stopped the client."""
        return self.end is not None and not self.deliberate and self.end.vtime < stop

    def until(self, stop: float) -> float:
        """When it ended (or the runner stopped the client)."""
        return min(self.end.vtime, stop) if self.end is not None else stop


def connections(ev: Evidence, api: str) -> list[Connection]:
    """The API's Engine.IO sessions, oldest first."""
    return [Connection(view) for view in ev.sessions(api, transport="eio")]
