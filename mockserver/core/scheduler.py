"""Timers on the virtual clock, run in order and deterministically.

Every scenario step and protocol timer is a :class:`Timer` due at a virtual
instant. Timers run in ``(when, sequence)`` order, so two timers due at the same
instant run in the order they were scheduled. A callback receives the instant it
was due at (not the possibly later moment it ran), so what it records does not
depend on how busy the machine was.

Two ways move time forward:

* :meth:`Scheduler.advance` (manual mode, tests, the control API): the clock is
  stepped to each deadline in turn, its timers run, then to the target.
* :meth:`Scheduler.run_due` (running clock): an adapter calls it when the real
  delay given by :meth:`real_delay` has passed, and whenever ``on_change`` fires.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from .clock import ClockError, VirtualClock, check_instant, format_instant

__all__ = ["MAX_TIMERS_PER_ADVANCE", "Scheduler", "Timer", "TimerCallback"]

MAX_TIMERS_PER_ADVANCE = 1_000_000

TimerCallback = Callable[[float], None]


@dataclass(order=True, slots=True)
class Timer:
    """A callback due at a virtual instant; cancel it with :meth:`cancel`."""

    when: float
    seq: int
    callback: TimerCallback = field(compare=False)
    name: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(
        self,
        clock: VirtualClock,
        *,
        on_error: Callable[[Timer, BaseException], None] | None = None,
    ) -> None:
        self.clock = clock
        #: (when, seq, timer): tuples compare in C, faster than the dataclass's generated ordering
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._on_error = on_error
        #: Called with no argument when the earliest deadline moved earlier
        #: (an adapter wakes its pump); set by the adapter.
        self.on_change: Callable[[], None] | None = None
        self._due: float | None = None  # the due instant of the timer running now

    # -- scheduling ----------------------------------------------------------
    def call_at(self, when: float, callback: TimerCallback, *, name: str = "") -> Timer:
        timer = Timer(float(when), next(self._seq), callback, name)
        earliest = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (timer.when, timer.seq, timer))
        if self.on_change is not None and (earliest is None or timer.when < earliest):
            self.on_change()
        return timer

    def call_later(self, delay: float, callback: TimerCallback, *, name: str = "") -> Timer:
        return self.call_at(self.clock.now() + max(0.0, delay), callback, name=name)

    def clear(self) -> None:
        for _when, _seq, timer in self._heap:
            timer.cancelled = True
        self._heap.clear()

    # -- inspecting ----------------------------------------------------------
    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)

    def next_deadline(self) -> float | None:
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def real_delay(self) -> float | None:
        """Real seconds until the next timer is due; None if none or manual."""
        deadline = self.next_deadline()
        if deadline is None:
            return None
        return self.clock.real_delay_until(deadline)

    def pending(self) -> list[Timer]:
        return sorted(t for _when, _seq, t in self._heap if not t.cancelled)

    def event_time(self) -> float:
        """The virtual instant of what happens now: inside a timer its due instant, else the clock's now.

        The journal stamps entries with this, so what a timer causes carries the instant it was
        due (the same in every run of a manual clock), not the moment a busy loop got to it.
        """
        due = self._due
        return due if due is not None else self.clock.now()

    # -- running ---------------------------------------------------------------
    def _run(self, timer: Timer) -> None:
        self._due = timer.when
        try:
            timer.callback(timer.when)
        except Exception as exc:  # a broken callback must not stop the others
            if self._on_error is None:
                raise
            self._on_error(timer, exc)
        finally:
            self._due = None

    def run_due(self, *, limit: int | None = None) -> int:
        """Run the timers due at the clock's current time, in order (at most ``limit``); return the count."""
        ran = 0
        now = self.clock.now()
        while limit is None or ran < limit:
            self._drop_cancelled()
            if not self._heap or self._heap[0][0] > now:
                return ran
            timer = heapq.heappop(self._heap)[2]
            self._run(timer)
            ran += 1
        return ran

    def advance(self, seconds: float, *, max_timers: int = MAX_TIMERS_PER_ADVANCE) -> int:
        """Move the clock forward by ``seconds``, running each timer at its instant."""
        if not seconds >= 0:
            self.clock.advance(seconds)  # raises ClockError (negative or NaN)
        return self.advance_to(self.clock.now() + seconds, max_timers=max_timers)

    def advance_to(self, target: float, *, max_timers: int = MAX_TIMERS_PER_ADVANCE) -> int:
        """Step to ``target``; raise ClockError after ``max_timers`` rather than spin on a repeating step."""
        check_instant(target)
        ran = 0
        while True:
            if ran >= max_timers:
                raise ClockError(
                    f"advancing would run more than {max_timers} timers (a repeating step?); "
                    f"stopped at {format_instant(self.clock.now())}: advance in smaller steps"
                )
            deadline = self.next_deadline()
            if deadline is None or deadline > target:
                break
            if deadline > self.clock.now():
                self.clock.set(deadline)
            timer = heapq.heappop(self._heap)[2]
            self._run(timer)
            ran += 1
        if target > self.clock.now():
            self.clock.set(target)
        return ran
