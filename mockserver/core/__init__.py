"""The transport-free core: clock, scheduler, journal, durations, errors.

Nothing under ``mockserver.core`` (nor ``mockserver.scenario`` or the pure
``domain`` modules of each API) imports a web framework, reads the wall clock or
sleeps; ``tests/test_core_purity.py`` enforces it.
"""

from .clock import ClockError, VirtualClock, format_instant, parse_instant
from .durations import format_duration, parse_duration
from .errors import ControlError, MockServerError, ScenarioError
from .journal import Entry, Journal, JournalQuery
from .reply import Reply
from .scheduler import Scheduler, Timer

__all__ = [
    "ClockError",
    "ControlError",
    "Entry",
    "Journal",
    "JournalQuery",
    "MockServerError",
    "Reply",
    "ScenarioError",
    "Scheduler",
    "Timer",
    "VirtualClock",
    "format_duration",
    "format_instant",
    "parse_duration",
    "parse_instant",
]
