"""The transport-free core: clock, scheduler, journal, durations, errors.

Nothing under ``mockserver.core`` (nor ``mockserver.scenario`` or the pure
``domain`` modules of each API) imports a web framework, reads the wall clock or
sleeps; ``tests/test_core_purity.py`` enforces it.
"""

from .clock import ClockError, VirtualClock, format_instant, parse_instant
from .durations import format_duration, parse_duration
from .errors import ControlError, JournalWaitTimeout, MockServerError, ScenarioError, ServerError
from .journal import Entry, Journal
from .query import JournalQuery
from .reply import Reply
from .scheduler import Scheduler, Timer

__all__ = [
    "ClockError",
    "ControlError",
    "Entry",
    "Journal",
    "JournalQuery",
    "JournalWaitTimeout",
    "MockServerError",
    "Reply",
    "ScenarioError",
    "Scheduler",
    "ServerError",
    "Timer",
    "VirtualClock",
    "format_duration",
    "format_instant",
    "parse_duration",
    "parse_instant",
]
