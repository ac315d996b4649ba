"""The one virtual clock (DECISIONS D4).

Virtual time is a float of seconds since the Unix epoch. It is derived from an
anchor pair ``(virtual, real)`` and a speed: ``now = virtual + (real_now - real) *
speed``. Speed 0 is the manual mode: time then moves only through :meth:`advance`
or :meth:`set`. The clock never goes backwards.

The real-time source is injected (``real_time``), so this module never reads the
wall clock itself; adapters pass ``time.monotonic``, tests pass a fake.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

__all__ = [
    "AUTO_THRESHOLD",
    "MAX_AUTO_THRESHOLD",
    "MAX_INSTANT",
    "MAX_SPEED",
    "MIN_INSTANT",
    "ClockError",
    "VirtualClock",
    "check_auto_threshold",
    "check_instant",
    "format_instant",
    "parse_instant",
]

#: Virtual time stays where datetime can show it, with room for any step offset.
MIN_INSTANT = 31_536_000.0  # 1971-01-01
MAX_INSTANT = 253_402_300_799.0 - 20 * 365 * 86_400  # about 9980
MAX_SPEED = 1_000_000.0
#: real seconds of quiet before a manual clock that moves by itself (auto-advance) jumps to its next timer
AUTO_THRESHOLD = 0.05
#: the longest such threshold (a longer one is a typo)
MAX_AUTO_THRESHOLD = 60.0


class ClockError(ValueError):
    """An impossible clock operation (going backwards, negative speed)."""


def _frozen_real_time() -> float:
    return 0.0


def _check_speed(speed: float) -> float:
    if not (0 <= speed <= MAX_SPEED):  # also refuses NaN
        raise ClockError(f"speed must be between 0 and {MAX_SPEED:g}, got {speed}")
    return float(speed)


def check_auto_threshold(threshold: float) -> float:
    """``threshold`` if it can be an auto-advance threshold (real seconds above 0, at most a minute); else ClockError."""
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 < threshold <= MAX_AUTO_THRESHOLD:
        raise ClockError(f"an auto-advance threshold is real seconds above 0 and at most {MAX_AUTO_THRESHOLD:g}, got {threshold!r}")
    return float(threshold)


def check_instant(instant: float) -> float:
    """``instant``, if virtual time may be there (1971 to 9980; not NaN); else ClockError."""
    if not (MIN_INSTANT <= instant <= MAX_INSTANT):
        raise ClockError(f"virtual time must stay between 1971 and 9980, got {instant}")
    return float(instant)


class VirtualClock:
    """Virtual seconds since the epoch, moving at ``speed`` virtual seconds per real second."""

    __slots__ = ("_real", "_real_time", "_speed", "_start", "_virtual")

    def __init__(
        self,
        *,
        start: float,
        speed: float = 1.0,
        real_time: Callable[[], float] = _frozen_real_time,
    ) -> None:
        self._real_time = real_time
        self._start = float(start)
        self._virtual = float(start)
        self._real = real_time()
        self._speed = _check_speed(speed)

    # -- reading -----------------------------------------------------------
    @property
    def start(self) -> float:
        """The virtual instant the clock was started (or last reset) at."""
        return self._start

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def manual(self) -> bool:
        return self._speed == 0.0

    def now(self) -> float:
        if self._speed == 0.0:
            return self._virtual
        return self._virtual + (self._real_time() - self._real) * self._speed

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def elapsed(self) -> float:
        """Virtual seconds since the start instant."""
        return self.now() - self._start

    def real_delay_until(self, instant: float) -> float | None:
        """Real seconds until ``instant`` at the current speed; None in manual mode."""
        if self._speed == 0.0:
            return None
        return max(0.0, (instant - self.now()) / self._speed)

    # -- moving ------------------------------------------------------------
    def _reanchor(self, virtual: float) -> None:
        self._virtual = virtual
        self._real = self._real_time()

    def set_speed(self, speed: float) -> None:
        _check_speed(speed)
        self._reanchor(self.now())
        self._speed = float(speed)

    def set(self, instant: float) -> None:
        """Jump to ``instant``; raises :class:`ClockError` if that is in the past."""
        current = self.now()
        check_instant(instant)
        if instant < current:
            raise ClockError(f"time can't go backwards: {format_instant(instant)} is before {format_instant(current)}")
        self._reanchor(float(instant))

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (in any mode); returns the new now."""
        if not seconds >= 0:
            raise ClockError(f"time can't go backwards: advance({seconds})")
        target = check_instant(self.now() + seconds)
        self._reanchor(target)
        return target

    def reset(self, *, start: float, speed: float | None = None) -> None:
        """Restart at ``start`` (the only way back in time: a new run)."""
        speed = self._speed if speed is None else _check_speed(speed)
        self._start = check_instant(start)
        self._reanchor(float(start))
        self._speed = speed

    def snapshot(self) -> dict[str, object]:
        now = self.now()
        return {
            "now": format_instant(now, precision="ms"),
            "epoch": now,
            "start": format_instant(self._start, precision="ms"),
            "start_epoch": self._start,
            "elapsed": now - self._start,
            "speed": self._speed,
            "manual": self.manual,
        }


@lru_cache(maxsize=1024)
def _second_text(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def format_instant(instant: float, *, precision: str = "s") -> str:
    """ISO 8601 UTC with a ``Z``: precision ``s`` (no fraction), ``ms``, ``us`` or ``ns``.

    The date and time of day are formatted once per second (cached: timestamps come in runs
    within the same second); the fraction is rounded to microseconds as
    ``datetime.fromtimestamp`` rounds it (half to even, carrying into the next second).
    """
    second = int(instant)
    micro = round((instant - second) * 1e6)  # instant - int(instant) is exact, like C's modf
    if micro >= 1_000_000:
        second += 1
        micro -= 1_000_000
    base = _second_text(second)
    if precision == "s":
        return base + "Z"
    if precision == "ms":
        return f"{base}.{micro // 1000:03d}Z"
    if precision == "us":
        return f"{base}.{micro:06d}Z"
    if precision == "ns":
        nanos = round((instant - int(instant)) * 1e9) % 1_000_000_000
        return f"{base}.{nanos:09d}Z"
    raise ValueError(f"unknown precision {precision!r}")


def parse_instant(text: str) -> float:
    """Parse an ISO 8601 instant (``Z`` or an offset; naive means UTC) to epoch seconds."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
