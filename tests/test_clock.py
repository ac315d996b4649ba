"""The virtual clock (DECISIONS D4): start, speed, manual mode, never backwards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.core.clock import MAX_INSTANT, ClockError, VirtualClock, format_instant, parse_instant

T0 = 1_770_000_000.0  # 2026-02-02: virtual time lives between 1971 and 9980


class FakeReal:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_manual_clock_moves_only_when_advanced() -> None:
    real = FakeReal()
    clock = VirtualClock(start=T0, speed=0, real_time=real)
    real.t += 50
    assert clock.now() == T0
    assert clock.advance(30) == T0 + 30
    assert clock.now() == T0 + 30 and clock.elapsed() == 30.0


def test_speed_scales_real_time_and_reanchors_on_change() -> None:
    real = FakeReal()
    clock = VirtualClock(start=T0, speed=600, real_time=real)
    real.t += 1.5
    assert clock.now() == pytest.approx(T0 + 900.0)
    clock.set_speed(2)
    real.t += 1
    assert clock.now() == pytest.approx(T0 + 902.0)
    assert clock.real_delay_until(T0 + 912.0) == pytest.approx(5.0)
    clock.set_speed(0)
    assert clock.real_delay_until(T0 + 1000.0) is None


def test_clock_refuses_to_go_backwards() -> None:
    clock = VirtualClock(start=T0 + 10, speed=0)
    with pytest.raises(ClockError, match="backwards"):
        clock.set(T0 + 5)
    with pytest.raises(ClockError, match="backwards"):
        clock.advance(-1)
    for speed in (-1, float("nan"), float("inf")):
        with pytest.raises(ClockError):
            clock.set_speed(speed)
    for bad in (float("nan"), float("inf"), 1e300):
        with pytest.raises(ClockError):
            clock.advance(bad)
    with pytest.raises(ClockError, match="between 1971 and 9980"):
        clock.set(MAX_INSTANT + 1)
    assert clock.now() == T0 + 10, "a refused move leaves the clock where it was"


def test_instants_format_and_parse() -> None:
    instant = parse_instant("2026-02-06T22:00:00-05:00")
    assert format_instant(instant) == "2026-02-07T03:00:00Z"
    assert format_instant(instant + 0.5, precision="ms") == "2026-02-07T03:00:00.500Z"
    assert format_instant(1711570331.614599318, precision="ns").startswith("2024-03-27T20:12:11.6145")
    assert parse_instant("2026-02-06T14:30:00") == parse_instant("2026-02-06T14:30:00Z")


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("advance"), st.floats(0, 1e5)),
            st.tuples(st.just("real"), st.floats(0, 1e3)),
            st.tuples(st.just("speed"), st.floats(0, 1e3)),
        ),
        max_size=40,
    )
)
def test_clock_is_monotonic_under_any_sequence(ops: list[tuple[str, float]]) -> None:
    real = FakeReal()
    clock = VirtualClock(start=T0, speed=1, real_time=real)
    last = clock.now()
    for op, value in ops:
        if op == "advance":
            clock.advance(value)
        elif op == "real":
            real.t += value
        else:
            clock.set_speed(value)
        now = clock.now()
        assert now >= last
        last = now
