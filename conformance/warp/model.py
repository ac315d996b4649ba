"""What a time warp is: a mode, the instant the client's clock starts from and its speed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, get_args

__all__ = ["MODES", "Warp", "WarpError", "WarpMode", "default_mode"]

WarpMode = Literal["faketime", "none"]
MODES: Final[tuple[WarpMode, ...]] = get_args(WarpMode)


class WarpError(Exception):
    """The client cannot run under the requested warp; the message says what to install or change.

    The runner reports it and exits 2 (a usage error, or the client could not run).
    """


def default_mode(speed: float) -> WarpMode:
    """``faketime`` when the clock runs at any speed but 1, else ``none``."""
    return "none" if speed == 1 else "faketime"


@dataclass(frozen=True)
class Warp:
    """How the client's clock runs.

    ``faketime``: the client starts at ``start`` (epoch seconds, the mock's start instant) and its
    clocks, sleeps and timed waits run ``speed`` virtual seconds per real second.
    ``none``: the client's clock is left alone (it may scale its own timers from ``MOCK_SPEED``).
    """

    mode: WarpMode
    start: float
    speed: float

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise WarpError(f"unknown warp mode {self.mode!r}: use one of {', '.join(MODES)}")
        if not math.isfinite(self.start) or self.start < 0:
            raise WarpError(f"the warp's start must be epoch seconds at or after 1970, not {self.start!r}")
        if not math.isfinite(self.speed) or self.speed < 0:
            raise WarpError(f"the warp's speed must be a finite number >= 0, not {self.speed!r}")
        if self.mode == "faketime" and self.speed == 0:
            raise WarpError("--warp faketime needs a running clock (speed > 0); a paused or manual clock (speed 0) cannot be warped")

    @classmethod
    def at(cls, start: datetime | float, speed: float, mode: WarpMode | None = None) -> Warp:
        """A warp from the mock's clock: its start instant (an aware datetime or epoch seconds) and speed.

        The mode defaults to :func:`default_mode` of the speed.
        """
        if isinstance(start, datetime):
            if start.tzinfo is None or start.utcoffset() is None:
                raise WarpError(f"the warp's start {start.isoformat()} has no time zone: give an aware datetime")
            start = start.timestamp()
        return cls(mode=default_mode(speed) if mode is None else mode, start=float(start), speed=float(speed))

    @property
    def faketime(self) -> str:
        """The ``FAKETIME`` value (read with ``FAKETIME_FMT=%s``): ``@<epoch seconds> x<speed>``."""
        return f"@{_decimal(self.start)} x{_decimal(self.speed)}"


def _decimal(value: float) -> str:
    """Plain decimal notation, microseconds at most, no trailing zeros (libfaketime reads it with atof/strptime)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"
