"""``Wake``: an ``asyncio.Event`` for one waiter, without the Event's deque of waiters.

Every held TradeReady connection and TradingPartners stream has one, to wake its sender when a
frame is queued. An ``asyncio.Event`` allocates a ``collections.deque`` (about 700 bytes) up front
for any number of waiters; a sender is the only one, so a future made when it waits is enough.
The same three calls: ``set()``, ``clear()``, ``await wait()``.
"""

from __future__ import annotations

import asyncio

__all__ = ["Wake"]


class Wake:
    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._set = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        """Return once ``set()`` was called (at once if it was and ``clear()`` was not); one waiter at a time."""
        if self._set:
            return
        assert self._waiter is None, "a Wake has one waiter"
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None
