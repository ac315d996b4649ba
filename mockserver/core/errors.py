"""Errors that say who is at fault.

::

    MockServerError
     ├── ScenarioError      the scenario author: a YAML file or step is wrong
     ├── ControlError       the control-API caller asked for something impossible
     └── ServerError        the mock itself: an exception inside it (a bug, a step that failed)

    AssertionError
     └── JournalWaitTimeout the journal never showed what a test waited for (its closest entries)

The client under test is blamed by ``conformance.Violation`` (an AssertionError),
which lives in the conformance package.
"""

from __future__ import annotations

__all__ = ["ControlError", "JournalWaitTimeout", "MockServerError", "ScenarioError", "ServerError"]


class MockServerError(Exception):
    """Base of every error the mock raises on purpose."""


class ScenarioError(MockServerError):
    """A scenario is invalid. ``problems`` holds one line per problem, each
    ``file:line:col: message`` where the position is known."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)

    def __str__(self) -> str:
        return "\n".join(self.problems)


class ControlError(MockServerError):
    """The control-API caller is at fault (HTTP 4xx on the control port)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class ServerError(MockServerError):
    """An exception inside the mock, raised again where the mock is driven from (with the server-side traceback)."""

    def __init__(self, message: str, *, traceback: str = "") -> None:
        self.traceback = traceback
        super().__init__(message)

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n\nserver-side traceback:\n{self.traceback}" if self.traceback else text


class JournalWaitTimeout(AssertionError):
    """What was waited for never showed in the journal; the message lists the closest entries."""
