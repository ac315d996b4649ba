"""Helpers more than one test module needs (the journal has its own: ``mock.journal(...)``, ``mock.wait_for(...)``).

``wait_until`` is for a condition on the client's side that the mock's journal cannot show (a client's
flag, what a client printed or received); for anything the mock records, wait on the journal with
``mock.wait_for`` (``await asyncio.to_thread(mock.wait_for, ...)`` in async tests).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["raw_http", "seed_verdicts", "wait_until"]

README = Path(__file__).resolve().parent.parent / "README.md"


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition", interval: float = 0.01) -> None:
    """Wait (real time, for real sockets) until ``predicate()`` holds; fail naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


def raw_http(url: str, pieces: Iterable[bytes], *, pause: float = 0.0, timeout: float = 10.0) -> bytes:
    """Send ``pieces`` over one TCP connection to ``url``'s host and port (``pause`` real seconds apart), then read
    until the server closes it; returns what it answered (b"" for a close without an answer). For requests a
    well-behaved client would never send: partial heads, slow bodies, oversized headers."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout) as sock:
        try:
            for index, piece in enumerate(pieces):
                if index and pause:
                    time.sleep(pause)
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending: read what it said
        answer = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        return answer


def seed_verdicts(api: str) -> dict[str, set[str]]:
    """The README's table of a seed's graded example (after ``<!-- seed-verdicts: API -->``, columns scenario, rules
    failed, why): scenario -> the rules its row says fail."""
    text = README.read_text(encoding="utf-8")
    rows = text[text.index(f"<!-- seed-verdicts: {api} -->") :].split("\n\n")[0].splitlines()[3:]
    table = {}
    for row in rows:
        scenario, failed, _why = (cell.strip() for cell in row.strip("|").split("|"))
        table[scenario.strip("`")] = set(re.findall(r"`([a-z0-9.-]+)`", failed))
    return table
