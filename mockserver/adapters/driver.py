"""Drive the runtime's scheduler from the asyncio loop, in real time scaled by the clock's speed.

A manual clock (speed 0) moves when told (``advance``); with ``runtime.auto_advance`` set it also
moves *by itself* when nothing else happens, as trio's ``MockClock(autojump_threshold=...)`` does:
once a client has connected, when no HTTP request is being handled and the journal has not grown
(no byte moved: every request, frame and packet is an entry) for ``auto_advance`` real seconds, the
clock jumps to its next timer, never further, and journals a ``clock.jump``. A wait with a virtual
deadline (:meth:`ClockDriver.drive`) moves it the same way, up to that deadline. A request waiting
on the virtual clock (a latency fault, a dribble) is not "being handled": it waits for the clock.

``stall_timeout`` guards manual clocks that nobody moves: a request waiting on the virtual clock
for that many real seconds is reported as an error inside the mock (naming the request) and
released by a jump to its instant, so a test fails with a message instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Literal

from ..core.catalogue import CLOCK_JUMP, ClockJump
from ..core.clock import AUTO_THRESHOLD, ClockError, format_instant
from ..core.errors import MockServerError
from ..runtime import Runtime

__all__ = ["AUTO_THRESHOLD", "TURN_BUDGET", "ClockDriver", "ClockStall", "Waiter"]

#: real seconds of running timers per turn of the event loop at most (checked every TIMERS_PER_CHECK timers)
TURN_BUDGET = 0.002
TIMERS_PER_CHECK = 16


class ClockStall(MockServerError):
    """A request waited on a manual clock that nobody advanced (raised to the test as a ServerError)."""


@dataclass(slots=True)
class Waiter:
    """Someone waiting on the virtual clock (``ClockDriver.sleep``): since when (real), until when (virtual), who."""

    since: float
    due: float
    what: str
    request: int | None


class ClockDriver:
    """Runs due timers when their real delay has passed; ``sleep`` waits in virtual time.

    In manual mode (speed 0) nothing runs until the control API advances the clock, which runs
    the timers itself, in order, at their instants; unless the clock auto-advances (module doc).
    """

    def __init__(self, runtime: Runtime, *, stall_timeout: float | None = None) -> None:
        self.runtime = runtime
        self.stall_timeout = stall_timeout
        #: HTTP requests the edge is handling now (not those waiting on the virtual clock, nor open streams)
        self.inflight = 0
        self._client = False  # a client connected since the scenario (re)started: the clock may move by itself
        self._limit: float | None = None  # drive(): move toward this instant, never past it
        self._quiet_since = 0.0  # loop time of the last activity the idle watch saw
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # the idle watch has something to watch again
        self._task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._sleepers: dict[asyncio.Future[None], Waiter] = {}
        runtime.scheduler.on_change = self._wake.set
        runtime.on_reset.append(self._on_reset)
        runtime.sleep = self.sleep  # adapters that pace output (an SSE dribble) wait on the same clock

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._run(), name="agentfeed-clock")
            self._watch_task = loop.create_task(self._watch(), name="agentfeed-clock-idle")

    async def stop(self) -> None:
        for task in (self._task, self._watch_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._watch_task = None

    def poke(self) -> None:
        """Re-plan: the speed changed or the clock jumped."""
        self._wake.set()
        self._idle.set()

    def client_connected(self) -> None:
        """A client connected to an API (called for every connection: keep it cheap)."""
        if not self._client:
            self._client = True
            self._idle.set()

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

    # -- waiting in virtual time -------------------------------------------------------------------------
    async def sleep(self, seconds: float, *, what: str = "", request: int | None = None) -> None:
        """Wait ``seconds`` of virtual time (in manual mode until advanced); ``what`` names the waiter in errors."""
        if seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake(_due: float) -> None:
            if not future.done():
                future.set_result(None)

        timer = self.runtime.scheduler.call_later(seconds, wake, name=f"sleep {what}".rstrip())
        self._sleepers[future] = Waiter(
            loop.time(), timer.when, what or "a pause on the virtual clock (an event stream's dribble)", request
        )
        if self.stall_timeout is not None:
            self._idle.set()
        try:
            await future
        finally:
            timer.cancel()
            self._sleepers.pop(future, None)

    def waiting(self) -> list[Waiter]:
        """Who waits on the virtual clock now, the longest waiting first."""
        return sorted(self._sleepers.values(), key=lambda w: w.since)

    def _on_reset(self) -> None:
        """A reset clears every timer: whoever was waiting (a latency fault, a dribble) goes on now."""
        for future in list(self._sleepers):
            if not future.done():
                future.set_result(None)
        self._client = False
        self._limit = None

    # -- a clock that moves by itself ------------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return self.runtime.auto_advance or AUTO_THRESHOLD

    def drive(self, until: float | None) -> None:
        """Move a manual clock by itself (as auto-advance does) toward ``until``, never past it; None: stop."""
        self._limit = until
        self._idle.set()

    def settled(self, instant: float) -> bool:
        """The clock is at or past ``instant`` and, if manual, nothing has moved since for the threshold."""
        clock = self.runtime.clock
        if clock.now() < instant:
            return False
        if not clock.manual:
            return True
        return asyncio.get_running_loop().time() - self._quiet_since >= self.threshold

    @property
    def armed(self) -> bool:
        """A client connected since the scenario started (the clock moves by itself only then)."""
        return self._client

    def _jumping(self) -> bool:
        if not self.runtime.clock.manual or not self._client:
            return False
        return self.runtime.auto_advance is not None or self._limit is not None

    async def _watch(self) -> None:
        """The idle watch: poll the journal and the requests in flight while the clock may jump or stall."""
        loop = asyncio.get_running_loop()
        journal = self.runtime.journal
        seen = -1
        rush = False  # the last jump moved nothing: the next may follow without waiting the threshold again
        while True:
            jumping = self._jumping()
            stalls = self.stall_timeout is not None and bool(self._sleepers) and self.runtime.clock.manual
            if not jumping and not stalls:
                self._idle.clear()
                await self._idle.wait()
                seen, self._quiet_since = -1, loop.time()
                continue
            threshold = self.threshold
            await asyncio.sleep(min(threshold / 4, 0.05))
            now = loop.time()
            if stalls and self._stalled(now):
                seen, self._quiet_since, rush = journal.last_seq, now, False
                continue
            if journal.last_seq != seen or self.inflight > 0:
                seen, self._quiet_since, rush = journal.last_seq, now, False
                continue
            # asked again: a wait may have ended (drive(None)) while this task slept
            if not self._jumping() or (not rush and now - self._quiet_since < threshold):
                continue
            before = journal.last_seq
            jumped = self._jump("auto" if self._limit is None else "wait")
            seen, self._quiet_since = journal.last_seq, now
            rush = jumped and journal.last_seq == before + 1  # only the jump's own entry: no timer made anything

    def _target(self) -> float | None:
        clock, limit = self.runtime.clock, self._limit
        deadline = self.runtime.scheduler.next_deadline()
        if limit is not None and (deadline is None or deadline > limit):
            return limit if clock.now() < limit else None
        return deadline

    def _jump(self, cause: Literal["auto", "wait", "stall"], *, to: float | None = None, request: int | None = None) -> bool:
        target = self._target() if to is None else to
        if target is None:
            return False
        runtime = self.runtime
        before = runtime.clock.now()
        target = max(target, before)
        try:
            ran = runtime.scheduler.advance_to(target)
        except ClockError as exc:  # a repeating step run wild: say so, stop moving by itself
            runtime.auto_advance, self._limit = None, None
            runtime.report_error("task", "clock auto-advance", exc)
            return False
        data = ClockJump(seconds=target - before, to=target, timers_run=ran, cause=cause)
        if request is not None:
            data["request"] = request
        runtime.journal.record("mock", CLOCK_JUMP, data)
        self._wake.set()
        return True

    def _stalled(self, now: float) -> bool:
        """Release the longest waiter of a manual clock once it waited ``stall_timeout``, reporting it; True if so."""
        assert self.stall_timeout is not None
        waiters = self.waiting()
        if not waiters or now - waiters[0].since < self.stall_timeout:
            return False
        waiter = waiters[0]
        runtime = self.runtime
        ahead = waiter.due - runtime.clock.now()
        message = (
            f"{waiter.what} waited {self.stall_timeout:g} s (real) on the manual clock, which was "
            f"{ahead:g} s short of releasing it (at {format_instant(waiter.due, precision='ms')}); nothing advanced it, "
            "so it jumped there. Advance the clock in the test (advance(...)) once the request is in, or let it move by "
            "itself (speed='auto')"
        )
        runtime.report_error("task", "clock stall", ClockStall(message))
        self._jump("stall", to=waiter.due, request=waiter.request)
        return True
