"""Logical sessions: one WebSocket, one event stream, one Engine.IO/Socket.IO session, from open to end.

A session gets a server-made id at its first journal entry (``ws-1``, ``sse-2``, ``eio-3``: a
counter per run, so a manual-clock run names them the same way every time) and keeps it on
every later entry, whatever TCP connection carries them (Engine.IO long-polling uses many).
Its ``principal`` (who the client's credential identifies) is known at the start, or later
(a Socket.IO login): entries take the principal the session has when they are recorded.
Protocol ids learnt on the way (the Engine.IO ``sid``, the Socket.IO ``sid``) are aliases
by which adapters and domains find the session again.
"""

import itertools
from collections import deque
from collections.abc import Callable
from typing import Literal

__all__ = ["Session", "SessionTable", "Transport"]

Transport = Literal["ws", "sse", "eio"]


#: Outgoing frames a session remembers (seq, bytes), to tell which were still unsent when it was reset.
RECENT_FRAMES = 256


class Session:
    __slots__ = ("abort", "api", "conn", "ended", "ending", "fault", "id", "principal", "recent", "transport")

    def __init__(self, session_id: str, api: str, transport: Transport, conn: str, principal: str | None) -> None:
        self.id = session_id
        self.api = api
        self.transport = transport
        #: the client address of the connection that opened it
        self.conn = conn
        self.principal = principal
        self.ended = False
        #: the fault that is ending it (set by whoever applies the fault, read by whoever journals the end)
        self.fault: str | None = None
        #: the server decided to end it (a kick): the client only does what it was told when it closes
        self.ending = False
        #: the last outgoing frames handed to the transport: (journal seq, bytes on the wire)
        self.recent: deque[tuple[int, int]] = deque(maxlen=RECENT_FRAMES)
        #: while a WebSocket carries it: ``abort(reason)`` resets that connection, journaled (set by the edge)
        self.abort: Callable[[str], None] | None = None

    def lost(self, unsent_bytes: int) -> list[int]:
        """The journal seqs of the last frames whose bytes were still unsent (``unsent_bytes`` in the transport)."""
        lost: list[int] = []
        for seq, size in reversed(self.recent):
            if unsent_bytes <= 0:
                break
            lost.append(seq)
            unsent_bytes -= size
        lost.reverse()
        return lost

    def __repr__(self) -> str:
        return f"Session({self.id!r}, {self.api!r}, principal={self.principal!r})"


class SessionTable:
    """The sessions of one run (cleared with the journal when a scenario (re)starts)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._aliases: dict[tuple[str, str], Session] = {}
        self._keys: dict[str, list[tuple[str, str]]] = {}
        self.open_sessions: dict[str, Session] = {}

    def open(self, api: str, transport: Transport, conn: str, principal: str | None = None) -> Session:
        session = Session(f"{transport}-{next(self._ids)}", api, transport, conn, principal)
        self.open_sessions[session.id] = session
        return session

    def alias(self, session: Session, key: str) -> None:
        """Find ``session`` by ``key`` (an Engine.IO or Socket.IO sid) from now on."""
        self._aliases[(session.api, key)] = session
        self._keys.setdefault(session.id, []).append((session.api, key))

    def find(self, api: str, key: str) -> Session | None:
        return self._aliases.get((api, key))

    def end(self, session: Session) -> None:
        session.ended = True
        self.open_sessions.pop(session.id, None)
        for key in self._keys.pop(session.id, ()):
            if self._aliases.get(key) is session:
                del self._aliases[key]

    def restart(self) -> None:
        """A new run: numbering starts again at 1, after the sessions still open (they end soon, under their ids)."""
        last = max((int(s.id.rpartition("-")[2]) for s in self.open_sessions.values()), default=0)
        self._ids = itertools.count(last + 1)
