"""The scheduler runs timers in virtual-time order, deterministically."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.core.clock import ClockError, VirtualClock
from mockserver.core.scheduler import Scheduler

T0 = 1_770_000_000.0


def make(start: float = T0) -> tuple[VirtualClock, Scheduler]:
    clock = VirtualClock(start=start, speed=0)
    return clock, Scheduler(clock)


@given(st.lists(st.floats(0, 1000, allow_nan=False), max_size=50), st.floats(0, 1200))
def test_advance_runs_due_timers_in_order_at_their_instants(delays: list[float], horizon: float) -> None:
    clock, scheduler = make()
    ran: list[tuple[float, float, int]] = []
    for index, delay in enumerate(delays):
        scheduler.call_at(T0 + delay, lambda due, i=index: ran.append((due, clock.now(), i)))
    scheduler.advance(horizon)
    expected = sorted((T0 + d, i) for i, d in enumerate(delays) if T0 + d <= T0 + horizon)
    assert [(due, i) for due, _, i in ran] == expected
    assert all(due == seen for due, seen, _ in ran), "each timer sees the clock at its own instant"
    assert clock.now() == T0 + horizon


@given(st.lists(st.floats(0, 100), min_size=1, max_size=30), st.lists(st.floats(0.1, 50), min_size=1, max_size=10))
def test_split_advances_equal_one_big_advance(delays: list[float], steps: list[float]) -> None:
    def run(chunks: list[float]) -> list[tuple[float, int]]:
        clock, scheduler = make()
        out: list[tuple[float, int]] = []
        for index, delay in enumerate(delays):
            scheduler.call_at(T0 + delay, lambda due, i=index: out.append((due, i)))
        for chunk in chunks:
            scheduler.advance(chunk)
        return out

    assert run(steps) == run([sum(steps)])


def test_timers_scheduled_by_timers_run_in_the_same_advance() -> None:
    clock, scheduler = make()
    seen: list[float] = []

    def tick(due: float) -> None:
        seen.append(due - T0)
        if due < T0 + 50:
            scheduler.call_at(due + 10, tick)

    scheduler.call_at(T0, tick)
    scheduler.advance(100)
    assert seen == [0, 10, 20, 30, 40, 50]


def test_cancelled_timers_do_not_run_and_errors_are_reported() -> None:
    clock, scheduler = make()
    errors: list[str] = []
    scheduler = Scheduler(clock, on_error=lambda timer, exc: errors.append(f"{timer.name}: {exc}"))
    ran: list[str] = []
    timer = scheduler.call_at(T0 + 5, lambda due: ran.append("cancelled"))
    timer.cancel()
    scheduler.call_at(T0 + 6, lambda due: (_ for _ in ()).throw(ValueError("boom")), name="broken")
    scheduler.call_at(T0 + 7, lambda due: ran.append("after"))
    scheduler.advance(10)
    assert ran == ["after"]
    assert errors == ["broken: boom"]


def test_running_clock_reports_real_delay_and_run_due() -> None:
    real = [0.0]
    clock = VirtualClock(start=T0, speed=10, real_time=lambda: real[0])
    scheduler = Scheduler(clock)
    ran: list[float] = []
    scheduler.call_at(T0 + 100, ran.append)
    assert scheduler.real_delay() == 10.0
    real[0] = 5.0
    assert scheduler.run_due() == 0
    real[0] = 10.0
    assert scheduler.run_due() == 1 and ran == [T0 + 100]


def test_a_jump_past_a_step_that_repeats_forever_is_refused_not_spun() -> None:
    clock, scheduler = make()

    def forever(due: float) -> None:
        scheduler.call_at(due + 300, forever)

    scheduler.call_at(T0, forever)
    with pytest.raises(ClockError, match="more than 1000 timers"):
        scheduler.advance(10 * 365 * 86400, max_timers=1000)
    with pytest.raises(ClockError):
        scheduler.advance(float("nan"))


@given(st.lists(st.tuples(st.floats(0, 100), st.sampled_from([0.0, 0.5, 2.0, 60.0])), min_size=1, max_size=20))
def test_timers_run_in_order_whatever_the_speed_changes(plan: list[tuple[float, float]]) -> None:
    real = [0.0]
    clock = VirtualClock(start=T0, speed=1, real_time=lambda: real[0])
    scheduler = Scheduler(clock)
    ran: list[float] = []
    for index in range(30):
        scheduler.call_at(T0 + index * 7.0, ran.append)
    for real_step, speed in plan:
        clock.set_speed(speed)
        real[0] += real_step
        scheduler.run_due()
        assert all(due <= clock.now() for due in ran)
    assert ran == sorted(ran), "timers ran in virtual-time order across every speed change"
