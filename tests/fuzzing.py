"""The fuzz tests' shared machinery (``tests/test_fuzz_*.py``): budgets, the evidence each property checks, raw clients.

A fuzz property drives a real mock (``ThreadedMockServer``, real sockets) with what a client controls and then
asks :class:`Watch` for the evidence the issue names: no ``server.error`` in the journal and no failure kept for
the caller (``mock.check()``), nothing at WARNING or above in any log (uvicorn's, python-engineio's, the root
logger), no ASGI task of the API left running once its connections ended (a handler that hangs), and a
well-behaved client connected beforehand still served afterwards (each test module brings its own).

Budgets: ``make test`` runs each property derandomised with a few examples (``budget(n)``); ``make fuzz``
sets ``AGENTFEED_FUZZ=long`` and runs many more, randomised (``budget(n, long=m)``; ``AGENTFEED_FUZZ_SCALE``
multiplies them). ``raw_frame`` writes WebSocket frames no library would (bad opcodes, reserved bits,
unmasked, fragmented control frames) on a socket ``ws_handshake`` opened.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, settings

from mockserver import ThreadedMockServer, scenario_from_yaml

__all__ = [
    "fuzz_mock",
    "AT_TOKEN",
    "AT_TOKEN2",
    "RawSocket",
    "EMAIL",
    "LL_KEY",
    "LONG",
    "PASSWORD",
    "TR_KEY",
    "Watch",
    "budget",
    "closing",
    "fuzz_scenario",
    "raw_frame",
    "read_until_closed",
    "ws_handshake",
]

#: ``make fuzz``: many more examples, randomised
LONG = os.environ.get("AGENTFEED_FUZZ", "") == "long"
_SCALE = float(os.environ.get("AGENTFEED_FUZZ_SCALE", "1"))
#: loggers that do not propagate to the root logger (uvicorn configures its own)
_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.asgi", "uvicorn.access")


def budget(bounded: int, *, long: int | None = None) -> settings:
    """Hypothesis settings for one property: ``bounded`` examples, derandomised (``make test``), or ``long``
    (default 25x that), randomised, under ``make fuzz``. No deadline: a real server on a shared machine."""
    common: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
        "print_blob": True,
    }
    if LONG:
        return settings(max_examples=max(1, int((long or bounded * 25) * _SCALE)), **common)
    return settings(max_examples=bounded, derandomize=True, database=None, **common)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _describe(record: logging.LogRecord) -> str:
    text = f"{record.name or 'root'} {record.levelname}: {record.getMessage()}"
    if record.exc_info and record.exc_info[1] is not None:
        text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
    return text


class Watch:
    """The evidence of one property against one mock: use as a context manager around the whole property.

    ``check(api)`` after each example: raises ``AssertionError`` naming what went wrong (a ``server.error``,
    a log record, an ASGI task of ``api`` still running ``settle`` seconds after its clients left).
    """

    def __init__(self, mock: ThreadedMockServer) -> None:
        self.mock = mock
        self.handler = _Records()
        self.since = 0
        self.examples = 0

    def __enter__(self) -> Watch:
        for name in _LOGGERS:
            logging.getLogger(name).addHandler(self.handler)
        self.since = self.mock.call(lambda: self.mock.runtime.journal.last_seq)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)

    def tasks(self, api: str) -> int:
        """ASGI tasks of ``api``'s listener still running (requests and WebSockets being handled)."""
        listener = self.mock.server.listeners[api]
        return self.mock.call(lambda: len(listener.server.server_state.tasks))

    def check(self, api: str, *, settle: float = 2.0, busy: int = 0) -> None:
        """No server error, no log record, and at most ``busy`` tasks of ``api`` left (the well-behaved client's)."""
        self.examples += 1
        deadline = time.monotonic() + settle
        while self.tasks(api) > busy and time.monotonic() < deadline:
            time.sleep(0.005)
        self.mock.check()  # raises ServerError for an exception inside the mock
        errors = self.mock.journal(kind="server.error", since=self.since)
        assert not errors, "server.error: " + "; ".join(f"#{e.seq} {e.data.get('name')}: {e.data.get('error')}" for e in errors)
        records, self.handler.records = self.handler.records, []
        assert not records, "logged: " + "; ".join(_describe(r) for r in records)
        left = self.tasks(api)
        assert left <= busy, f"{left - busy} {api} handler task(s) still running {settle:g} s after the client left (a hang)"


def raw_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True) -> bytes:
    """One WebSocket frame as a client writes it, any field allowed to be wrong (RFC 6455 §5.2)."""
    first = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    bit = 0x80 if mask else 0
    size = len(payload)
    if size < 126:
        head = bytes([first, bit | size])
    elif size < 65536:
        head = bytes([first, bit | 126]) + struct.pack("!H", size)
    else:
        head = bytes([first, bit | 127]) + struct.pack("!Q", size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_handshake(port: int, target: str, *, timeout: float = 5.0) -> tuple[socket.socket, int]:
    """A TCP connection that has done a WebSocket opening handshake for ``target``; returns it and the status."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return sock, status


def read_until_closed(sock: socket.socket, *, timeout: float = 0.3) -> bytes:
    """What the server sends until it closes the connection or ``timeout`` seconds pass without a byte."""
    sock.settimeout(timeout)
    out = bytearray()
    with contextlib.suppress(OSError):  # a timeout (still open) or a reset
        while chunk := sock.recv(65536):
            out += chunk
    return bytes(out)


class RawSocket:
    """A client's WebSocket on a plain TCP socket: any frame out (``send``), the server's frames in (``frames``)."""

    def __init__(self, port: int, target: str) -> None:
        self.sock, self.status = ws_handshake(port, target)
        host, port_ = self.sock.getsockname()[:2]
        self.local = f"{host}:{port_}"
        self.buffer = bytearray()
        self.closed: int | None = None  # the close code the server sent (1005: none in its frame), or -1: the TCP connection ended

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # the server may have closed already: what it sent is still read
            self.sock.sendall(data)

    def _frame(self) -> tuple[int, bytes] | None:
        buf = self.buffer
        if len(buf) < 2:
            return None
        size, at = buf[1] & 0x7F, 2
        if size == 126:
            if len(buf) < 4:
                return None
            size, at = struct.unpack("!H", buf[2:4])[0], 4
        elif size == 127:
            if len(buf) < 10:
                return None
            size, at = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < at + size:
            return None
        opcode, payload = buf[0] & 0x0F, bytes(buf[at : at + size])
        del buf[: at + size]
        return opcode, payload

    def frames(self, until: Any = None, *, timeout: float = 5.0) -> list[tuple[int, bytes]]:
        """The server's frames until ``until(opcode, payload)`` holds, a close frame, the end of the connection,
        or ``timeout`` seconds (then the list so far)."""
        got: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout
        while self.closed is None:
            frame = self._frame()
            if frame is not None:
                got.append(frame)
                if frame[0] == 8:
                    self.closed = struct.unpack("!H", frame[1][:2])[0] if len(frame[1]) >= 2 else 1005
                    break
                if until is not None and until(*frame):
                    break
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = -1
                break
            self.buffer += chunk
        return got

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@contextlib.contextmanager
def closing(sock: socket.socket) -> Iterator[socket.socket]:
    try:
        yield sock
    finally:
        with contextlib.suppress(OSError):
            sock.close()


#: Credentials of the fuzz scenario (every API, no loss, no timeline: nothing moves unless a test moves it)
TR_KEY = "ak_live_fuzz" + "0" * 56
AT_TOKEN = "claw_fuzz" + "0" * 27
AT_TOKEN2 = "claw_good" + "0" * 27
LL_KEY = "ll_fuzz" + "0" * 59
EMAIL, PASSWORD = "fuzz@example.com", "fuzz-password"


def fuzz_scenario(aitrader: str = "documented", tradeready: str = "documented") -> str:
    """A scenario with one credential per API and the given profiles; its clock is the test's to move."""
    return f"""
id: t/fuzz
description: every API, one credential each, nothing scheduled
seed: 15
clock: {{start: "2026-03-02T12:00:00Z", speed: 0}}
apis:
  aitrader:
    profile: {aitrader}
    state:
      agents:
        - {{id: 1, name: fuzz-bot, password: {PASSWORD}, token: {AT_TOKEN}}}
        - {{id: 2, name: good-bot, password: {PASSWORD}, token: {AT_TOKEN2}}}
  tradeready:
    profile: {tradeready}
    state: {{keys: [{{key: {TR_KEY}, name: fuzzer}}]}}
  luckylobster:
    state:
      keys: [{{name: fuzzer, key: {LL_KEY}, permissions: [read, trade, cancel, redeem], interval_ms: 60000, active_hours: null}}]
      strategies: 2
      positions: 2
  cryptorobot:
    state:
      users: [{{email: {EMAIL}, password: {PASSWORD}, name: Fuzz, plan: pro}}]
      records:
        strategies: [{{_id: strat-1, name: Fuzz, type: momentum, pair: BTC/USDT, timeframe: 1h, active: true}}]
  tradingpartners:
    state:
      users: [{{email: {EMAIL}, password: {PASSWORD}, access: FULL}}]
"""


def fuzz_mock(aitrader: str = "documented", tradeready: str = "documented") -> ThreadedMockServer:
    """A mock of :func:`fuzz_scenario` on a manual clock, not started: ``with fuzz_mock() as server: ...``."""
    return ThreadedMockServer(scenario_from_yaml(fuzz_scenario(aitrader, tradeready)), speed=0)
