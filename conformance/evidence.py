"""The evidence a rule reads: a journal, organised (requests with their answers, sessions, observations, faults).

Rules see nothing but the journal (DECISIONS D7): ``Evidence`` is built from its entries alone, so
``conformance judge journal.jsonl`` grades a saved run exactly as the live run was graded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mockserver.core.catalogue import END_KINDS
from mockserver.core.journal import Entry

__all__ = ["Evidence", "Exchange", "FaultWindow", "SessionView", "body_json"]

#: Real seconds a timing tolerance never goes below, converted to virtual seconds at the run's speed
#: (a busy 2-core machine's scheduling jitter must not fail a good client at x60).
REAL_FLOOR = 0.05


def body_json(text: Any) -> Any:
    """A body's JSON, or None when it is not JSON."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP request and what the client got for it (None: nothing was journaled as an answer)."""

    request: Entry
    response: Entry | None

    @property
    def vtime(self) -> float:
        return self.request.vtime

    @property
    def done(self) -> float:
        """When the answer went out (the request's time when there was none)."""
        return self.response.vtime if self.response is not None else self.request.vtime

    @property
    def method(self) -> str:
        return str(self.request.data.get("method", ""))

    @property
    def path(self) -> str:
        return str(self.request.data.get("path", ""))

    @property
    def principal(self) -> str | None:
        return self.request.principal

    @property
    def status(self) -> int | None:
        return self.response.data.get("status") if self.response is not None else None

    @property
    def outcome(self) -> str | None:
        return self.response.data.get("outcome") if self.response is not None else None

    @property
    def fault(self) -> str | None:
        return self.response.data.get("fault") if self.response is not None else None

    def header(self, name: str) -> str | None:
        """A response header (lower-case name)."""
        if self.response is None:
            return None
        headers = self.response.data.get("headers") or {}
        value = headers.get(name.lower())
        return str(value) if value is not None else None

    def json(self) -> Any:
        return body_json(self.response.data.get("body")) if self.response is not None else None

    @property
    def seqs(self) -> tuple[int, ...]:
        return (self.request.seq,) if self.response is None else (self.request.seq, self.response.seq)

    @property
    def failed(self) -> bool:
        """A failure a client should back off from: 5xx, or no usable answer (reset, empty, truncated, malformed)."""
        if self.response is None:
            return False
        status = self.status
        return (status is not None and status >= 500) or self.outcome in ("reset", "empty", "truncated", "malformed")


@dataclass(frozen=True, slots=True)
class SessionView:
    """One session (a WebSocket, an event stream, an Engine.IO session), from its first entry to its end."""

    id: str
    api: str
    entries: tuple[Entry, ...]

    @property
    def start(self) -> float:
        return self.entries[0].vtime

    @property
    def end_entry(self) -> Entry | None:
        return next((e for e in self.entries if e.kind in END_KINDS), None)

    @property
    def end(self) -> float | None:
        end = self.end_entry
        return end.vtime if end is not None else None

    @property
    def principal(self) -> str | None:
        return next((e.principal for e in self.entries if e.principal), None)


@dataclass(frozen=True, slots=True)
class FaultWindow:
    id: str
    kind: str
    api: str
    start: float
    end: float | None
    spec: dict[str, Any] = field(default_factory=dict)


class Evidence:
    """A journal, organised for rules. ``params`` of the run (rule parameter overrides) are not here: rules get theirs."""

    def __init__(self, entries: Iterable[Entry], *, end: float | None = None) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        self._end = end

    # -- the run --------------------------------------------------------------------------------------------
    @cached_property
    def loaded(self) -> dict[str, Any]:
        """The ``scenario.loaded`` entry's data (the last one: a reset starts the journal again anyway)."""
        found = [e for e in self.entries if e.kind == "scenario.loaded"]
        return dict(found[-1].data) if found else {}

    @cached_property
    def run(self) -> dict[str, Any]:
        """The ``run.started`` entry's data, when a conformance run made the journal."""
        found = next((e for e in self.entries if e.kind == "run.started"), None)
        return dict(found.data) if found is not None else {}

    @property
    def start(self) -> float:
        """The virtual instant the run began (the scenario's start)."""
        start = self.loaded.get("start")
        return float(start) if start is not None else (self.entries[0].vtime if self.entries else 0.0)

    @cached_property
    def end(self) -> float:
        """The virtual instant the run ended (given; else ``run.ended``; else the last entry)."""
        if self._end is not None:
            return self._end
        ended = next((e for e in self.entries if e.kind == "run.ended"), None)
        if ended is not None:
            return ended.vtime
        return max((e.vtime for e in self.entries), default=self.start)

    @cached_property
    def stopped(self) -> float:
        """Until when the client ran freely: when the runner stopped it (``run.ended``'s ``stopped_at``, its SIGTERM),
        else the run's start plus its duration, else the end. What it did after is its shutdown's (``closes-on-sigterm``),
        and what it had no time left to do by then (a reconnect, the next poll) is not held against it: at x60 the
        half second a client takes to exit is half a virtual minute."""
        ended = next((e for e in self.entries if e.kind == "run.ended"), None)
        if ended is not None and isinstance(ended.data.get("stopped_at"), int | float):
            return min(self.end, float(ended.data["stopped_at"]))
        started = next((e for e in self.entries if e.kind == "run.started"), None)
        if started is not None and isinstance(started.data.get("duration"), int | float):
            return min(self.end, started.vtime + float(started.data["duration"]))
        return self.end

    @property
    def speed(self) -> float:
        """Virtual seconds per real second of the run (0: a manual clock)."""
        speed = self.run.get("speed", self.loaded.get("speed", 1.0))
        return float(speed or 0.0)

    def tolerance(self, virtual: float, *, real_floor: float = REAL_FLOOR) -> float:
        """A timing tolerance: ``virtual`` seconds, but never less than ``real_floor`` real seconds at the run's speed."""
        return max(virtual, real_floor * self.speed)

    def options(self, api: str) -> dict[str, Any]:
        options = self.loaded.get("options") or {}
        return dict(options.get(api) or {})

    def client(self, api: str) -> str | None:
        """The principal of the credential the client under test was given for ``api``."""
        value = self.options(api).get("client")
        return str(value) if value is not None else None

    def profile(self, api: str) -> str:
        return str((self.loaded.get("profiles") or {}).get(api, "documented"))

    def targets(self) -> list[Any]:
        return list(self.loaded.get("rules") or [])

    # -- what crossed the wire -------------------------------------------------------------------------------
    def of(self, api: str | None = None, *kinds: str) -> list[Entry]:
        """The entries of an API (None: all), of these kinds (exact, or families ending in ``.``)."""
        out = []
        for entry in self.entries:
            if api is not None and entry.api != api:
                continue
            if kinds and not any(entry.kind == k or (k.endswith(".") and entry.kind.startswith(k)) for k in kinds):
                continue
            out.append(entry)
        return out

    @cached_property
    def _responses(self) -> dict[int, Entry]:
        return {e.data["request"]: e for e in self.entries if e.kind == "http.response" and "request" in e.data}

    def exchanges(self, api: str, *, method: str | None = None, path: str | None = None, prefix: str | None = None) -> list[Exchange]:
        """An API's HTTP requests (oldest first), each with its answer; filtered by method and path (or path prefix)."""
        out = []
        for entry in self.entries:
            if entry.kind != "http.request" or entry.api != api or entry.data.get("incomplete"):
                continue
            if method is not None and entry.data.get("method") != method:
                continue
            entry_path = str(entry.data.get("path", ""))
            if path is not None and entry_path != path:
                continue
            if prefix is not None and not entry_path.startswith(prefix):
                continue
            out.append(Exchange(entry, self._responses.get(entry.seq)))
        return out

    def sessions(self, api: str, *, transport: str | None = None) -> list[SessionView]:
        """An API's sessions (oldest first); ``transport``: ``ws``, ``sse`` or ``eio``."""
        grouped: dict[str, list[Entry]] = {}
        for entry in self.entries:
            if entry.api == api and entry.session is not None:
                grouped.setdefault(entry.session, []).append(entry)
        views = [SessionView(sid, api, tuple(entries)) for sid, entries in grouped.items()]
        if transport is not None:
            views = [v for v in views if v.id.startswith(transport + "-")]
        return sorted(views, key=lambda v: v.entries[0].seq)

    def observations(self, api: str | None = None) -> list[Entry]:
        """What the client said it handled (``MOCK_OBSERVE`` lines, journaled as ``observe.event``)."""
        return [e for e in self.entries if e.kind == "observe.event" and (api is None or e.data.get("api") == api)]

    @property
    def observed(self) -> bool:
        """Did the client use the observation channel at all?"""
        return any(e.kind in ("observe.event", "observe.invalid") for e in self.entries)

    @cached_property
    def faults(self) -> list[FaultWindow]:
        """Every fault of the run, with when it started and stopped (None: still active at the end)."""
        windows: dict[str, FaultWindow] = {}
        out: list[FaultWindow] = []
        for entry in self.entries:
            if entry.kind == "fault.start":
                spec = dict(entry.data.get("spec") or {})
                window = FaultWindow(
                    str(entry.data["fault"]), str(spec.get("kind", "")), str(spec.get("api", "*")), entry.vtime, None, spec
                )
                windows[window.id] = window
                out.append(window)
            elif entry.kind == "fault.stop" and entry.data.get("fault") in windows:
                old = windows.pop(entry.data["fault"])
                out[out.index(old)] = FaultWindow(old.id, old.kind, old.api, old.start, entry.vtime, old.spec)
        return out

    def seqs(self, entries: Sequence[Entry]) -> tuple[int, ...]:
        return tuple(e.seq for e in entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)
