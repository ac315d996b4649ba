"""The transport limits at a listener's edge (the numbers live in :mod:`mockserver.core.limits`).

:class:`HeadGuard` watches one HTTP connection before its requests reach an app: a connection with no
request in progress is closed after ``idle_timeout``, a request head must be complete within
``head_timeout`` (slowloris) and within ``headers`` bytes and ``header_count`` fields. Beyond, the
client gets 408 or 431 in the listener's own error shape and the connection is closed; the journal
has an ``http.invalid`` entry naming the limit. What an app sees (the body, the connection count) is
the edge's business (``ApiEdge``: 413, 408, 503 as ``http.response`` entries with their ``limit``).

The timers here run in real time: they protect the server, they are no API's behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from ..core.limits import ApiLimits
from .wsedge import LIMIT_KEY

__all__ = ["LIMIT_KEY", "REASONS", "HeadGuard", "LimitExceeded", "raw_response"]

REASONS = {
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


class LimitExceeded(Exception):
    """Raised inside a parser callback to stop parsing a request that was refused (already answered)."""


def raw_response(status: int, body: Any, *, date: bytes | None = None, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 response that closes the connection: ``body`` as JSON."""
    payload = orjson.dumps(body)
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}".encode(),
        b"content-type: application/json",
        b"content-length: " + str(len(payload)).encode(),
        b"connection: close",
    ]
    if date is not None:
        lines.append(b"date: " + date)
    if retry_after is not None:
        lines.append(b"retry-after: " + str(retry_after).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


class HeadGuard:
    """One connection's idle and head limits. The protocol calls it from its parser callbacks.

    ``refuse(status, message, limit)`` answers and closes the connection (the protocol knows the
    listener's error shape and journal); the guard decides when.
    """

    __slots__ = ("_count", "_head", "_loop", "_refuse", "_timer", "busy", "limits", "reading")

    def __init__(self, limits: ApiLimits, loop: asyncio.AbstractEventLoop, refuse: Callable[[int, str, str], None]) -> None:
        self.limits = limits
        self._loop = loop
        self._refuse = refuse
        self._timer: asyncio.TimerHandle | None = None
        self._head = 0  # bytes of the head being read (URL and header fields as parsed, or raw chunks)
        self._count = 0
        #: a request head is being read
        self.reading = False
        #: a request was read and is being answered (no idle timer meanwhile)
        self.busy = False

    # -- timers ------------------------------------------------------------------------------------------
    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self.cancel()
        self._timer = self._loop.call_later(seconds, callback)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def opened(self) -> None:
        """A new connection: it must start a request within ``idle_timeout``."""
        self._arm(self.limits.idle_timeout, self._idle)

    def _idle(self) -> None:
        self._timer = None
        if not self.reading and not self.busy:
            self._refuse(0, f"no request within {self.limits.idle_timeout:g} s of connecting", "idle_timeout")

    def _slow_head(self) -> None:
        self._timer = None
        if self.reading:
            limit = self.limits.head_timeout
            self._refuse(408, f"the request head was not complete within {limit:g} s (head_timeout)", "head_timeout")

    # -- parser events -----------------------------------------------------------------------------------
    def begin(self) -> None:
        """The first byte of a request: its head must be complete in time."""
        self.reading = True
        self._head = 0
        self._count = 0
        self._arm(self.limits.head_timeout, self._slow_head)

    def url(self, part: bytes) -> None:
        self._head += len(part)
        self._check()

    def header(self, name: bytes, value: bytes) -> None:
        self._head += len(name) + len(value) + 4
        self._count += 1
        if self._count > self.limits.header_count:
            self._refused(431, f"more than {self.limits.header_count} header fields (header_count)", "header_count")
        self._check()

    def fed(self, size: int, *, continued: bool) -> None:
        """After the parser took ``size`` bytes (outside its callbacks): a head still incomplete grew by them (a
        single huge header field is buffered by the parser before any callback: count what arrives)."""
        if self.reading and continued:
            self._head += size
            if self._head > self.limits.headers:
                self.reading = False
                self.cancel()
                self._refuse(431, f"the request head is over {self.limits.headers} bytes (headers)", "headers")

    def complete(self) -> None:
        """The head is complete: the app takes over (the body is the edge's)."""
        self.reading = False
        self.busy = True
        self.cancel()

    def answered(self) -> None:
        """A response is complete (the server's keep-alive timer watches the idle connection now)."""
        self.busy = False

    def _check(self) -> None:
        if self._head > self.limits.headers:
            self._refused(431, f"the request head is over {self.limits.headers} bytes (headers)", "headers")

    def _refused(self, status: int, message: str, limit: str) -> None:
        self.reading = False
        self.cancel()
        self._refuse(status, message, limit)
        raise LimitExceeded(message)
