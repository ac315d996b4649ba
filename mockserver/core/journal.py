"""The journal: the evidence of everything that crossed the wire (DECISIONS D7).

Every HTTP request and response, frame, event, injected fault and scenario step
is one :class:`Entry`. Entries get a sequence number, the virtual time and the
wall time (from injected sources: this module reads no clock). Memory is bounded:
past ``memory_limit`` entries the oldest are spilled, in order, to a JSON Lines
file and read back from it by queries and exports. Nothing is dropped.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any, NamedTuple

from .clock import format_instant

__all__ = ["Direction", "Entry", "Journal", "JournalQuery", "json_default"]

#: ``in``: client to mock; ``out``: mock to client; ``internal``: steps, faults, notes.
Direction = str


def _zero() -> float:
    return 0.0


class Entry(NamedTuple):
    """One journal entry: immutable, and a tuple so that recording one costs little."""

    seq: int
    vtime: float
    wall: float
    api: str
    conn: str
    direction: Direction
    kind: str
    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "vtime": _format_vtime(self.vtime),
            "vepoch": self.vtime,
            "wall": self.wall,
            "api": self.api,
            "conn": self.conn,
            "direction": self.direction,
            "kind": self.kind,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Entry:
        return cls(
            seq=int(raw["seq"]),
            vtime=float(raw["vepoch"]),
            wall=float(raw["wall"]),
            api=str(raw["api"]),
            conn=str(raw["conn"]),
            direction=str(raw["direction"]),
            kind=str(raw["kind"]),
            data=dict(raw.get("data") or {}),
        )


@dataclass(frozen=True, slots=True)
class JournalQuery:
    """Filters for :meth:`Journal.query`; every given field must match."""

    api: str | None = None
    kind: str | None = None  # exact, or a prefix ending in "." ("http.")
    conn: str | None = None
    direction: str | None = None
    since_seq: int | None = None  # entries with seq > since_seq
    path: str | None = None  # data["path"] equals

    def matches(self, entry: Entry) -> bool:
        if self.api is not None and entry.api != self.api:
            return False
        if self.kind is not None:
            if self.kind.endswith("."):
                if not entry.kind.startswith(self.kind):
                    return False
            elif entry.kind != self.kind:
                return False
        if self.conn is not None and entry.conn != self.conn:
            return False
        if self.direction is not None and entry.direction != self.direction:
            return False
        if self.since_seq is not None and entry.seq <= self.since_seq:
            return False
        return self.path is None or entry.data.get("path") == self.path


@lru_cache(maxsize=4096)
def _format_vtime(vtime: float) -> str:
    return format_instant(vtime, precision="us")


def json_default(value: object) -> object:
    """For JSON encoders: lazy mappings (decoded headers), bytes, sets and tuples."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def _dumps(entry: Entry) -> str:
    return json.dumps(entry.to_dict(), separators=(",", ":"), default=json_default)


_FRAME = struct.Struct("<I")
_new_tuple = tuple.__new__


class Journal:
    def __init__(
        self,
        *,
        virtual_time: Callable[[], float],
        wall_time: Callable[[], float] = _zero,
        memory_limit: int = 50_000,
        spill_dir: str | None = None,
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
        self._spill_path: str | None = None
        self._spilled = 0
        self._next_seq = 1

    # -- writing ---------------------------------------------------------------
    def record(
        self,
        api: str,
        kind: str,
        data: Mapping[str, Any] | None = None,
        *,
        conn: str = "",
        direction: Direction = "internal",
        vtime: float | None = None,
    ) -> Entry:
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
                conn,
                direction,
                kind,
                data if data is not None else {},
            ),
        )
        memory = self._memory
        memory.append(entry)
        if len(memory) > self.memory_limit:
            self._spill_oldest(max(1, min(self._spill_batch, len(memory) - self.memory_limit // 2)))
        return entry

    def record_many(self, api: str, kind: str, datas: Iterable[Mapping[str, Any]], *, conn: str = "", direction: Direction = "out") -> None:
        """Several entries of one kind that crossed the wire at the same moment (one write): one time stamp for all."""
        vtime = self._virtual_time()
        wall = self._wall_time()
        seq = self._next_seq
        memory = self._memory
        for data in datas:
            memory.append(_new_tuple(Entry, (seq, vtime, wall, api, conn, direction, kind, data)))
            seq += 1
        self._next_seq = seq
        while len(memory) > self.memory_limit:
            self._spill_oldest(max(1, min(self._spill_batch, len(memory) - self.memory_limit // 2)))

    def _spill_oldest(self, count: int) -> None:
        if self._spill is None:
            fd, self._spill_path = tempfile.mkstemp(prefix="agentfeed-journal-", suffix=".spill", dir=self._spill_dir)
            self._spill = os.fdopen(fd, "wb")
        popleft = self._memory.popleft
        # The spill file is private to this process (written and read only here), so a pickled
        # batch is safe and is the fastest way to move entries out of memory without losing any.
        rows = [tuple(popleft()) for _ in range(count)]  # plain tuples pickle in C
        frame = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        self._spill.write(_FRAME.pack(len(frame)) + frame)
        self._spill.flush()
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
            if self._spill_path:
                try:
                    os.unlink(self._spill_path)
                except FileNotFoundError:
                    pass
        self._spill = None
        self._spill_path = None

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
        if self._spill_path is None:
            return
        with open(self._spill_path, "rb") as handle:
            while header := handle.read(_FRAME.size):
                (size,) = _FRAME.unpack(header)
                rows: list[tuple[Any, ...]] = pickle.loads(handle.read(size))
                for row in rows:
                    yield Entry(*row)

    def __iter__(self) -> Iterator[Entry]:
        yield from self._iter_spilled()
        yield from list(self._memory)

    def query(self, query: JournalQuery | None = None, *, limit: int | None = None) -> list[Entry]:
        query = query or JournalQuery()
        if limit is not None and limit <= 0:
            return []
        source: Iterable[Entry]
        if query.since_seq is not None and self._memory and self._memory[0].seq > query.since_seq:
            source = list(self._memory)  # nothing spilled can match
        else:
            source = self
        found: list[Entry] = []
        for entry in source:
            if query.matches(entry):
                found.append(entry)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def count(self, query: JournalQuery | None = None) -> int:
        return len(self.query(query))

    def iter_jsonl(self, query: JournalQuery | None = None) -> Iterator[str]:
        query = query or JournalQuery()
        for entry in self:
            if query.matches(entry):
                yield _dumps(entry) + "\n"

    def export_jsonl(self, path: str | os.PathLike[str]) -> int:
        written = 0
        with open(path, "w", encoding="utf-8") as handle:
            for line in self.iter_jsonl():
                handle.write(line)
                written += 1
        return written

    @staticmethod
    def load_jsonl(path: str | os.PathLike[str]) -> list[Entry]:
        with open(path, encoding="utf-8") as handle:
            return [Entry.from_dict(json.loads(line)) for line in handle if line.strip()]
