"""Wake: an asyncio.Event for the one sender of a held connection, without the Event's deque."""

from __future__ import annotations

import asyncio

from mockserver.adapters.wake import Wake


def test_wake_behaves_like_an_event_for_one_waiter() -> None:
    async def run() -> list[str]:
        seen: list[str] = []
        wake = Wake()
        wake.set()
        await asyncio.wait_for(wake.wait(), 1)  # already set: at once
        seen.append("set before")
        wake.clear()
        waiter = asyncio.get_running_loop().create_task(wake.wait())
        await asyncio.sleep(0.01)
        assert not waiter.done(), "cleared: it waits"
        wake.set()
        await asyncio.wait_for(waiter, 1)
        seen.append("woken")
        wake.clear()
        cancelled = asyncio.get_running_loop().create_task(wake.wait())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        wake.set()  # nobody waits: no error, and the next wait returns at once
        await asyncio.wait_for(wake.wait(), 1)
        seen.append("after a cancelled wait")
        return seen

    assert asyncio.run(run()) == ["set before", "woken", "after a cancelled wait"]
