"""The journal: the evidence of everything that crossed the wire (DECISIONS D7).

Every HTTP request and response, frame, event, injected fault and scenario step is one
:class:`Entry` of a kind from the catalogue (:mod:`mockserver.core.catalogue`). Entries get a
sequence number, the virtual time and the wall time (from injected sources: this module reads
no clock). Memory is bounded: past ``memory_limit`` entries the oldest are spilled, in order,
to a private temporary file (pickled batches, unlinked at once so it never outlives the
process) and read back from it by queries and exports. Nothing is dropped.

The published form is JSON Lines, one :meth:`Entry.to_dict` per line (``mockserver schema
journal`` prints its JSON Schema); ``Entry.from_dict`` reads it back exactly.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, NamedTuple, TypeVar

import orjson

from .catalogue import Direction, Kind, check_entry

if TYPE_CHECKING:
    from .query import JournalQuery
    from .sessions import Session

__all__ = ["Entry", "Journal", "JournalContractError", "dumps_entry", "dumps_json", "json_default", "loads_entry"]

D = TypeVar("D", bound=Mapping[str, Any])

#: Set (to 1) to check every recorded entry against the catalogue: the test suite does.
STRICT_ENV = "AGENTFEED_JOURNAL_STRICT"


def _zero() -> float:
    return 0.0


class JournalContractError(AssertionError):
    """An entry that breaks the catalogue (strict mode): a bug of the mock, never of a client."""


class Entry(NamedTuple):
    """One journal entry: immutable, and a tuple so that recording one costs little."""

    seq: int
    #: virtual epoch seconds; a timer's entries carry its due instant
    vtime: float
    #: real epoch seconds when it was recorded
    wall: float
    api: str
    kind: str
    direction: Direction
    #: the client's TCP connection (address:port), when one is concerned
    conn: str | None
    #: the logical session (``ws-1``, ``sse-2``, ``eio-3``), when the entry belongs to one
    session: str | None
    #: who the client's credential identifies (``agent:1``, ``key:steady-agent``, ``user:a@b.c``)
    principal: str | None
    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "vtime": self.vtime,
            "wall": self.wall,
            "api": self.api,
            "kind": self.kind,
            "direction": self.direction,
            "conn": self.conn,
            "session": self.session,
            "principal": self.principal,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Entry:
        direction = raw["direction"]
        if direction not in ("in", "out", "internal"):
            raise ValueError(f"not a journal direction: {direction!r}")
        return cls(
            seq=int(raw["seq"]),
            vtime=float(raw["vtime"]),
            wall=float(raw["wall"]),
            api=str(raw["api"]),
            kind=str(raw["kind"]),
            direction=direction,
            conn=raw.get("conn"),
            session=raw.get("session"),
            principal=raw.get("principal"),
            data=dict(raw.get("data") or {}),
        )


def json_default(value: object) -> object:
    """For JSON encoders: lazy mappings (decoded headers), bytes, sets and tuples."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


#: How deep a client's value is kept where it must be copied (JSON export, the spill's fallback): orjson stops at 255
#: levels and the standard library at the recursion limit, which a client's JSON may nearly reach.
MAX_DEPTH = 200
CUT = f"<nested more than {MAX_DEPTH} levels deep: cut here>"


def _plain(value: Any, depth: int = 0) -> Any:
    """What a client sent, made JSON-safe: non-finite numbers become null (as orjson writes them), keys strings,
    anything nested deeper than :data:`MAX_DEPTH` replaced by :data:`CUT`."""
    if depth > MAX_DEPTH:
        return CUT
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def dumps_json(value: Any) -> bytes:
    """JSON of anything a client could have made us journal: orjson, or (integers beyond 64 bits,
    NaN, odd keys, nesting past orjson's 255 levels) the standard library on a cleaned copy. Never raises."""
    try:
        return orjson.dumps(value, default=json_default)
    except TypeError:
        return json.dumps(_plain(value), separators=(",", ":"), allow_nan=False).encode()


def _pickle_rows(rows: list[tuple[Any, ...]]) -> bytes:
    """A spill batch. A client's JSON can be nested nearly as deep as the parser's recursion limit allows, and the
    batch adds a few levels: retried with that much head-room; a row deeper still keeps its data cut at
    :data:`MAX_DEPTH` (the batch is never lost: its rows have left memory already)."""
    try:
        return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    except RecursionError:
        pass
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 100)
    try:
        return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    except RecursionError:
        return pickle.dumps([(*row[:-1], _plain(row[-1])) for row in rows], protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        sys.setrecursionlimit(limit)


def dumps_entry(entry: Entry) -> str:
    """One JSON Lines line (without the newline)."""
    return dumps_json(entry.to_dict()).decode()


def loads_entry(line: str | bytes) -> Entry:
    return Entry.from_dict(json.loads(line))


_new_tuple = tuple.__new__


class Journal:
    def __init__(
        self,
        *,
        virtual_time: Callable[[], float],
        wall_time: Callable[[], float] = _zero,
        memory_limit: int = 50_000,
        spill_dir: str | None = None,
        strict: bool | None = None,
    ) -> None:
        if memory_limit < 1:
            raise ValueError("memory_limit must be >= 1")
        self._virtual_time = virtual_time
        self._wall_time = wall_time
        self.memory_limit = memory_limit
        self._spill_dir = spill_dir
        self._memory: deque[Entry] = deque()
        #: spill at most this many at once, so one spill never stalls the loop for long
        self._spill_batch = max(1, min(2000, memory_limit // 2))
        self._spill: IO[bytes] | None = None
        self._frames: list[tuple[int, int]] = []  # (offset, size) of each pickled batch in the spill file
        self._spill_end = 0
        self._spilled = 0
        self._next_seq = 1
        self.strict = os.environ.get(STRICT_ENV) == "1" if strict is None else strict
        #: callbacks run with every new entry (waiters: see mockserver.control.facade)
        self._watchers: list[Callable[[Entry], None]] = []

    # -- writing ---------------------------------------------------------------
    def record(
        self,
        api: str,
        kind: Kind[D],
        data: D,
        *,
        conn: str | None = None,
        session: Session | None = None,
        principal: str | None = None,
        direction: Direction | None = None,
        vtime: float | None = None,
    ) -> Entry:
        """Journal one entry of ``kind`` (its data built with the kind's TypedDict).

        ``session``: the entry belongs to that session; its connection and principal are
        taken from it unless given. ``direction`` defaults to the kind's usual one.
        """
        if session is not None:
            if principal is None:
                principal = session.principal
            if conn is None:
                conn = session.conn
        name = kind.name
        if direction is None:
            direction = kind.directions[0]
            if len(kind.directions) > 1:
                raise JournalContractError(f"{name} goes {' or '.join(kind.directions)}: the recorder must say which")
        if self.strict:
            problem = check_entry(name, direction, data)
            if problem is not None:
                raise JournalContractError(problem)
        seq = self._next_seq
        self._next_seq = seq + 1
        # tuple.__new__ rather than Entry(...): the named tuple's generated __new__ is a Python call (every frame pays it)
        entry: Entry = _new_tuple(
            Entry,
            (
                seq,
                self._virtual_time() if vtime is None else vtime,
                self._wall_time(),
                api,
                name,
                direction,
                conn,
                session.id if session is not None else None,
                principal,
                data,
            ),
        )
        memory = self._memory
        memory.append(entry)
        if len(memory) > self.memory_limit:
            self._spill_oldest(max(1, min(self._spill_batch, len(memory) - self.memory_limit // 2)))
        if self._watchers:
            for watcher in list(self._watchers):
                watcher(entry)
        return entry

    def record_many(
        self,
        api: str,
        kind: Kind[D],
        datas: Iterable[D],
        *,
        session: Session | None = None,
        direction: Direction | None = None,
    ) -> int:
        """Several entries of one kind that crossed the wire at the same moment (one write): one time stamp for
        all, consecutive sequence numbers; returns the first one."""
        vtime = self._virtual_time()
        wall = self._wall_time()
        name = kind.name
        if direction is None:
            direction = kind.directions[0]
            if len(kind.directions) > 1:
                raise JournalContractError(f"{name} goes {' or '.join(kind.directions)}: the recorder must say which")
        conn = session.conn if session is not None else None
        session_id = session.id if session is not None else None
        principal = session.principal if session is not None else None
        first = seq = self._next_seq
        entries = []
        for data in datas:
            if self.strict:
                problem = check_entry(name, direction, data)
                if problem is not None:
                    raise JournalContractError(problem)
            entries.append(_new_tuple(Entry, (seq, vtime, wall, api, name, direction, conn, session_id, principal, data)))
            seq += 1
        self._next_seq = seq
        memory = self._memory
        memory.extend(entries)
        while len(memory) > self.memory_limit:
            self._spill_oldest(max(1, min(self._spill_batch, len(memory) - self.memory_limit // 2)))
        if self._watchers:
            for entry in entries:
                for watcher in list(self._watchers):
                    watcher(entry)
        return first

    def watch(self, callback: Callable[[Entry], None]) -> Callable[[], None]:
        """Call ``callback`` with every entry recorded from now on; returns the function that stops it."""
        self._watchers.append(callback)

        def stop() -> None:
            if callback in self._watchers:
                self._watchers.remove(callback)

        return stop

    def _spill_oldest(self, count: int) -> None:
        if self._spill is None:
            # unlinked at once (TemporaryFile): the file goes with the process, however it ends
            self._spill = tempfile.TemporaryFile(prefix="agentfeed-journal-", suffix=".spill", dir=self._spill_dir)
        popleft = self._memory.popleft
        # The spill file is private to this process (written and read only here), so a pickled
        # batch is safe and is the fastest way to move entries out of memory without losing any.
        rows = [tuple(popleft()) for _ in range(count)]  # plain tuples pickle in C
        frame = _pickle_rows(rows)
        self._spill.write(frame)
        self._spill.flush()
        self._frames.append((self._spill_end, len(frame)))
        self._spill_end += len(frame)
        self._spilled += count

    def clear(self) -> None:
        """Forget everything (a reset); sequence numbers start again at 1."""
        self._memory.clear()
        self._close_spill()
        self._spilled = 0
        self._next_seq = 1

    def _close_spill(self) -> None:
        if self._spill is not None:
            self._spill.close()
        self._spill = None
        self._frames = []
        self._spill_end = 0

    def close(self) -> None:
        self._close_spill()

    # -- reading ---------------------------------------------------------------
    def __len__(self) -> int:
        return self._spilled + len(self._memory)

    @property
    def in_memory(self) -> int:
        return len(self._memory)

    @property
    def spilled(self) -> int:
        return self._spilled

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    def _iter_spilled(self) -> Iterator[Entry]:
        if self._spill is None:
            return
        fd = self._spill.fileno()
        for offset, size in list(self._frames):
            rows: list[tuple[Any, ...]] = pickle.loads(os.pread(fd, size, offset))
            for row in rows:
                yield Entry(*row)

    def __iter__(self) -> Iterator[Entry]:
        yield from self._iter_spilled()
        yield from list(self._memory)

    def since(self, seq: int) -> Iterator[Entry]:
        """The entries after ``seq`` (in memory when they are recent: the common case of a waiter)."""
        if self._memory and self._memory[0].seq <= seq + 1:
            start = seq + 1 - self._memory[0].seq
            return iter([self._memory[i] for i in range(max(0, start), len(self._memory))])
        return (e for e in self if e.seq > seq)

    def query(self, query: JournalQuery | None = None, *, limit: int | None = None) -> list[Entry]:
        if limit is not None and limit <= 0:
            return []
        source: Iterable[Entry] = self if query is None or query.since_seq is None else self.since(query.since_seq)
        found: list[Entry] = []
        for entry in source:
            if query is None or query.matches(entry):
                found.append(entry)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def count(self, query: JournalQuery | None = None) -> int:
        return len(self.query(query))

    def iter_jsonl(self, query: JournalQuery | None = None) -> Iterator[str]:
        for entry in self:
            if query is None or query.matches(entry):
                yield dumps_entry(entry) + "\n"

    def export_jsonl(self, path: str | os.PathLike[str], query: JournalQuery | None = None) -> int:
        written = 0
        with open(path, "w", encoding="utf-8") as handle:
            for line in self.iter_jsonl(query):
                handle.write(line)
                written += 1
        return written

    @staticmethod
    def load_jsonl(path: str | os.PathLike[str]) -> list[Entry]:
        with open(path, encoding="utf-8") as handle:
            return [loads_entry(line) for line in handle if line.strip()]
