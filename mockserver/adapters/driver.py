"""Drive the runtime's scheduler from the asyncio loop, in real time scaled by the clock's speed."""

from __future__ import annotations

import asyncio
import contextlib

from ..runtime import Runtime

__all__ = ["TURN_BUDGET", "ClockDriver"]

#: real seconds of running timers per turn of the event loop at most (checked every TIMERS_PER_CHECK timers)
TURN_BUDGET = 0.002
TIMERS_PER_CHECK = 16


class ClockDriver:
    """Runs due timers when their real delay has passed; ``sleep`` waits in virtual time.

    In manual mode (speed 0) nothing runs until the control API advances the
    clock, which runs the timers itself, in order, at their instants.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sleepers: set[asyncio.Future[None]] = set()
        runtime.scheduler.on_change = self._wake.set
        runtime.on_reset.append(self._release_sleepers)
        runtime.sleep = self.sleep  # adapters that pace output (an SSE dribble) wait on the same clock

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="agentfeed-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def poke(self) -> None:
        """Re-plan: the speed changed or the clock jumped."""
        self._wake.set()

    async def _run(self) -> None:
        scheduler = self.runtime.scheduler
        loop = asyncio.get_running_loop()
        wake = self._wake
        turn_start = loop.time()
        while True:
            if scheduler.run_due(limit=TIMERS_PER_CHECK) >= TIMERS_PER_CHECK:  # maybe more are due
                # behind (overloaded, or a jump of the clock): after TURN_BUDGET of making frames, let the senders
                # drain them before making more, or an overload would starve the senders and collapse delivery
                if loop.time() - turn_start >= TURN_BUDGET:
                    await asyncio.sleep(0)
                    turn_start = loop.time()
                continue
            delay = scheduler.real_delay()
            wake.clear()
            if delay is None:
                await wake.wait()
                turn_start = loop.time()
                continue
            # a loop timer that sets the event: cheaper than wait_for's task and timeout per wake
            timer = loop.call_later(delay, wake.set)
            try:
                await wake.wait()
            finally:
                timer.cancel()
            turn_start = loop.time()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of virtual time (forever in manual mode, until advanced)."""
        if seconds <= 0:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake(_due: float) -> None:
            if not future.done():
                future.set_result(None)

        timer = self.runtime.scheduler.call_later(seconds, wake, name="sleep")
        self._sleepers.add(future)
        try:
            await future
        finally:
            timer.cancel()
            self._sleepers.discard(future)

    def _release_sleepers(self) -> None:
        """A reset clears every timer: whoever was waiting (a latency fault, a dribble) goes on now."""
        for future in list(self._sleepers):
            if not future.done():
                future.set_result(None)
