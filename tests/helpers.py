"""Helpers more than one test module needs (the journal has its own: ``mock.journal(...)``, ``mock.wait_for(...)``).

``wait_until`` is for a condition on the client's side that the mock's journal cannot show (a client's
flag, what a client printed or received); for anything the mock records, wait on the journal with
``mock.wait_for`` (``await asyncio.to_thread(mock.wait_for, ...)`` in async tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["wait_until"]


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition", interval: float = 0.01) -> None:
    """Wait (real time, for real sockets) until ``predicate()`` holds; fail naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)
