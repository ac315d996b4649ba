"""A durable journal: every entry appended to a file as JSON Lines as it happens (``serve --journal-file``).

The file is the journal as ``GET /_mock/journal.jsonl`` exports it (one ``Entry.to_dict()`` a line, the
published form that ``conformance judge`` reads), written from the first entry of the run on. A thread
writes what was recorded at least every :data:`FLUSH_INTERVAL` real seconds, whole lines per ``write``,
so it keeps up even while the event loop is busy, and a process killed outright (SIGKILL, the OOM killer)
leaves a file whose lines all parse and miss at most the last tenth of a second. The kernel holds what
was written: a killed process loses nothing already written (a machine that loses power may; no fsync).

A scenario that starts again (reset, or another scenario loaded) starts the journal again at seq 1: so
does the file (it always holds the journal of the run in progress).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import deque
from pathlib import Path

from ..core.journal import Entry, Journal, dumps_json

__all__ = ["FLUSH_INTERVAL", "JournalFile"]

#: real seconds between two writes at most (the promise is 100 ms; the thread may wake late under load)
FLUSH_INTERVAL = 0.05
#: lines per write at most, so a burst reaches the file in pieces rather than all at the end of a long batch
BATCH = 2048


class JournalFile:
    """Appends ``journal``'s entries (those it has, then each new one) to ``path``, truncated at start."""

    def __init__(self, path: str | os.PathLike[str], journal: Journal, *, interval: float = FLUSH_INTERVAL) -> None:
        self.path = Path(path)
        self._interval = interval
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        self._fd: int | None = os.open(self.path, flags, 0o644)
        #: entries recorded and not yet written (the loop appends, the writer takes: a deque is safe for that)
        self._pending: deque[Entry] = deque(journal)
        self._last_seq = 0
        #: lines written so far (of the run in progress)
        self.written = 0
        self.error: str | None = None
        self._unwatch = journal.watch(self._pending.append)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agentfeed-journal-file", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()
        self.flush()

    def flush(self) -> None:
        """Write every entry recorded so far (called by the writer thread; safe to call from elsewhere too)."""
        lines: list[bytes] = []
        pending = self._pending
        while pending:
            entry = pending.popleft()
            if entry.seq <= self._last_seq:  # the journal started again (a reset): so does the file
                lines.clear()
                self._truncate()
            self._last_seq = entry.seq
            lines.append(_line(entry))
            if len(lines) >= BATCH:
                self._write(lines)
                lines = []
        if lines:
            self._write(lines)

    def _write(self, lines: list[bytes]) -> None:
        if self._fd is None:
            return
        data = memoryview(b"".join(lines))
        try:
            while data:
                done = os.write(self._fd, data)
                data = data[done:]
        except OSError as exc:  # a full disk, a file removed under us: say so once, keep serving
            self._fail(f"cannot write the journal file {self.path}: {exc.strerror or exc}")
            return
        self.written += len(lines)

    def _truncate(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError as exc:
            self._fail(f"cannot truncate the journal file {self.path}: {exc.strerror or exc}")
        self.written = 0

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message
            print(f"mockserver: {message}; the journal file stops here (the journal itself goes on)", file=sys.stderr)
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        """Stop watching, write what is left, close the file."""
        self._unwatch()
        self._stop.set()
        self._thread.join(30)
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _line(entry: Entry) -> bytes:
    try:
        return dumps_json(entry.to_dict()) + b"\n"
    except RuntimeError:  # its data changed while being read (the loop runs alongside): read it again
        return dumps_json(entry.to_dict()) + b"\n"
