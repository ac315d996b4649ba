"""``MockControl``: the one façade that drives a running mock.

Everything that steers a mock goes through here: the control API's routes (over HTTP) and
``ThreadedMockServer`` (in-process) both call these methods, so what is journaled never
depends on who moved the clock or started a fault. Its methods run on the server's event
loop (the control API is there; ``ThreadedMockServer`` hands each call over to it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from ..apis.registry import APIS
from ..core.catalogue import CLOCK_ADVANCE, CLOCK_SET, CLOCK_SPEED, ClockAdvance, ClockSet, ClockSpeed, Kind
from ..core.clock import ClockError, check_auto_threshold, format_instant, parse_instant
from ..core.durations import parse_duration
from ..core.errors import ControlError, ServerError
from ..core.journal import Entry
from ..core.limits import Limits
from ..core.query import JournalQuery, QueryError
from ..faults.model import FaultSpec
from ..runtime import Runtime
from ..scenario.loader import resolve_scenario, scenario_from_yaml
from ..scenario.model import Scenario
from .paths import ScenarioDirs

__all__ = ["Duration", "Instant", "MockControl", "ScenarioRef", "client_env", "duration_seconds"]

D = TypeVar("D", bound=Mapping[str, Any])

#: A scenario: a built-in id, a YAML file, or a model.
ScenarioRef = Scenario | str | os.PathLike[str]
#: Virtual seconds, a duration text ("90s", "5m", "1h30m") or a timedelta.
Duration = float | int | str | timedelta
#: Virtual epoch seconds, an ISO 8601 text or an aware datetime.
Instant = float | int | str | datetime


def duration_seconds(duration: Duration) -> float:
    """Seconds of a duration: a number, a text (``"90s"``, ``"5m"``, ``"1h30m"``) or a timedelta; else ControlError."""
    return _seconds(duration)


def _seconds(duration: Duration) -> float:
    if isinstance(duration, timedelta):
        return duration.total_seconds()
    try:
        return parse_duration(duration)
    except ValueError as exc:
        raise ControlError(str(exc)) from None


def _instant(instant: Instant) -> float:
    if isinstance(instant, datetime):
        if instant.tzinfo is None:
            raise ControlError(f"a datetime needs a time zone: {instant.isoformat()}")
        return instant.timestamp()
    if isinstance(instant, (int, float)):
        return float(instant)
    try:
        return parse_instant(instant)
    except ValueError:
        raise ControlError(f"expected an ISO 8601 instant, got {instant!r}") from None


def client_env(runtime: Runtime, urls: Mapping[str, str], *, control_token: str | None = None) -> dict[str, str]:
    """The client-under-test contract: the environment variables a client is configured with."""
    creds = runtime.credentials()
    clock = runtime.clock
    env = {
        "MOCK_CONTROL_URL": urls["control"],
        "MOCK_SPEED": f"{runtime.speed:g}",
        "MOCK_CLOCK_START": format_instant(clock.start),
    }
    if control_token:
        env["MOCK_CONTROL_TOKEN"] = control_token
    # which protocol each API speaks (documented or upstream): a client that speaks both picks it from here
    env.update({f"{name.upper()}_PROFILE": profile for name, profile in runtime.profiles.items() if name in urls})
    if "aitrader" in urls:
        env["AITRADER_BASE_URL"] = urls["aitrader"]
    if "aitrader" in urls and creds.get("aitrader"):  # a fresh server (aitrader/upstream-fresh) has no agent until one registers
        agent = creds["aitrader"][0]
        env.update(
            AITRADER_TOKEN=str(agent["token"]),
            AITRADER_AGENT_ID=str(agent["agent_id"]),
            AITRADER_NAME=str(agent["name"]),
            AITRADER_PASSWORD=str(agent["password"]),
        )
    if "luckylobster" in urls and creds.get("luckylobster"):
        env.update(LUCKYLOBSTER_BASE_URL=urls["luckylobster"] + "/api/agent/v1", LUCKYLOBSTER_API_KEY=str(creds["luckylobster"][0]["key"]))
    if "tradeready" in urls and creds.get("tradeready"):
        env.update(
            TRADEREADY_WS_URL=urls["tradeready"].replace("http://", "ws://", 1), TRADEREADY_API_KEY=str(creds["tradeready"][0]["key"])
        )
    if "cryptorobot" in urls and creds.get("cryptorobot"):
        user = creds["cryptorobot"][0]
        env.update(CRYPTOROBOT_URL=urls["cryptorobot"], CRYPTOROBOT_EMAIL=str(user["email"]), CRYPTOROBOT_PASSWORD=str(user["password"]))
    if "tradingpartners" in urls and creds.get("tradingpartners"):
        user = creds["tradingpartners"][0]
        env.update(
            TRADINGPARTNERS_BASE_URL=urls["tradingpartners"],
            TRADINGPARTNERS_TOKEN=runtime.apis["tradingpartners"].token_for(user["email"], clock.now()),
            TRADINGPARTNERS_EMAIL=str(user["email"]),
            TRADINGPARTNERS_PASSWORD=str(user["password"]),
        )
    return env


class MockControl:
    """The controls of one running mock (call on its event loop)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        poke: Callable[[], None] = lambda: None,
        urls: Callable[[], dict[str, str]] = dict,
        control_token: str | None = None,
        scenario_dirs: Sequence[str | os.PathLike[str]] = (),
        limits: Limits | None = None,
    ) -> None:
        self.runtime = runtime
        self._poke = poke  # the clock driver re-plans (the clock moved, timers changed)
        self._urls = urls
        self.control_token = control_token
        #: the server's transport limits (mockserver.core.limits)
        self.limits = limits or Limits()
        #: where the control API may load scenario files from by path (the built-in ones and ``--scenario-dir``)
        self.scenario_dirs = ScenarioDirs(scenario_dirs, max_bytes=self.limits.control_body)

    # -- failures inside the mock ----------------------------------------------------------------------
    def check(self) -> None:
        """Raise :class:`ServerError` for an exception inside the mock since the last check (each is raised once)."""
        failures = self.runtime.take_failures()
        if failures:
            first = failures[0]
            more = (
                f" (and {len(failures) - 1} more: journal seq {', '.join(str(f.seq) for f in failures[1:])})" if len(failures) > 1 else ""
            )
            raise ServerError(
                f"inside the mock ({first.source} {first.name}, journal seq {first.seq}): {first.error}{more}", traceback=first.traceback
            )

    # -- the scenario ---------------------------------------------------------------------------------------
    def load(self, scenario: ScenarioRef) -> dict[str, Any]:
        """Start a scenario (a built-in id, a YAML file or a model) from its beginning."""
        model = scenario if isinstance(scenario, Scenario) else resolve_scenario(os.fspath(scenario))
        self.runtime.load(model)
        self._poke()
        return self.runtime.state()

    def load_path(self, path: str) -> dict[str, Any]:
        """Start the scenario file ``path`` names, confined to the allowed scenario directories (the control API's
        ``{"path": ...}``): ControlError 403 outside them, 404 when missing, 413 over the size limit."""
        found, text = self.scenario_dirs.read(path)
        return self.load(scenario_from_yaml(text, source=str(found)))

    def reset(self) -> dict[str, Any]:
        """Start the current scenario again: clock, state, faults and journal anew."""
        self.runtime.reset()
        self._poke()
        return self.runtime.state()

    def state(self) -> dict[str, Any]:
        return self.runtime.state()

    # -- the clock ------------------------------------------------------------------------------------------------
    def clock(self) -> dict[str, Any]:
        return self.runtime.clock_state()

    def release_clock(self) -> bool:
        """Start a clock held for its client (``wait_for_client``) now; False when it was not held."""
        released = self.runtime.release_clock("control")
        self._poke()
        return released

    def now(self) -> float:
        return self.runtime.clock.now()

    def advance(self, duration: Duration) -> int:
        """Move the clock forward, running each timer (steps included) at its instant; returns how many ran."""
        seconds = _seconds(duration)
        ran = self.runtime.scheduler.advance(seconds)
        self.runtime.journal.record("mock", CLOCK_ADVANCE, ClockAdvance(seconds=seconds, timers_run=ran))
        self._poke()
        return ran

    def advance_to(self, instant: Instant) -> int:
        """Move the clock forward to an instant (never back); returns how many timers ran."""
        target = _instant(instant)
        if target < self.runtime.clock.now():
            raise ClockError(f"time can't go backwards: {format_instant(target)} is before the current virtual time")
        ran = self.runtime.scheduler.advance_to(target)
        self.runtime.journal.record("mock", CLOCK_SET, ClockSet(to=target, timers_run=ran))
        self._poke()
        return ran

    def set_speed(self, speed: float) -> None:
        """Virtual seconds per real second from now on (0: manual)."""
        if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not speed >= 0:
            raise ControlError(f"'speed' must be a number >= 0, got {speed!r}")
        self.runtime.held_speed = None  # a speed set by hand releases a held clock too
        self.runtime.auto_advance = None  # and ends moving by itself
        self.runtime.clock.set_speed(float(speed))
        self.runtime.journal.record("mock", CLOCK_SPEED, ClockSpeed(speed=float(speed)))
        self._poke()

    def set_auto_advance(self, threshold: float | None) -> None:
        """A manual clock that moves by itself: once a client has connected, whenever no request is in flight and
        nothing was journaled for ``threshold`` real seconds, it jumps to its next timer (never further).
        None turns it off (the clock stays manual)."""
        runtime = self.runtime
        if threshold is None:
            if runtime.auto_advance is None:
                return
            runtime.auto_advance = None
            runtime.journal.record("mock", CLOCK_SPEED, ClockSpeed(speed=runtime.clock.speed))
            self._poke()
            return
        try:
            threshold = check_auto_threshold(threshold)
        except ClockError as exc:
            raise ControlError(str(exc)) from None
        runtime.held_speed = None
        runtime.clock.set_speed(0.0)
        runtime.auto_advance = threshold
        runtime.journal.record("mock", CLOCK_SPEED, ClockSpeed(speed=0.0, auto_advance=threshold))
        self._poke()

    # -- events and faults ------------------------------------------------------------------------------------
    def emit(self, api: str, event: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        result = self.runtime.emit(api, event, data)
        self._poke()
        return result

    def patch_state(self, api: str, changes: Mapping[str, Any]) -> None:
        """Set fields of an API's state, as a scenario's ``state`` step does."""
        self.runtime.patch_state(api, changes)
        self._poke()

    def start_fault(self, spec: Mapping[str, Any]) -> FaultSpec:
        started = self.runtime.start_fault(spec)
        self._poke()
        return started

    def stop_fault(self, fault_id: str) -> None:
        self.runtime.stop_fault(fault_id)
        self._poke()

    def faults(self) -> list[dict[str, Any]]:
        return [f.snapshot() for f in self.runtime.faults.active.values()]

    # -- the journal --------------------------------------------------------------------------------------------
    def select(self, query: JournalQuery | None = None, **filters: Any) -> JournalQuery:
        """A query from filters (``kind=``, ``api=``, ... see :data:`mockserver.core.query.FILTERS`; any other
        keyword is a data field to equal); unknown kinds, APIs and directions raise ControlError."""
        if query is not None and filters:
            raise ControlError("give a query or filters, not both")
        if query is not None:
            return query
        known = {"kind", "api", "direction", "conn", "session", "principal", "fault", "path", "since", "until"}
        known |= {"after", "before", "contains", "where"}
        data = {k: v for k, v in filters.items() if k not in known}
        try:
            return JournalQuery.build(**{k: v for k, v in filters.items() if k in known}, data=data, apis=APIS)
        except QueryError as exc:
            raise ControlError(str(exc)) from None

    def journal(self, query: JournalQuery | None = None, *, limit: int | None = None, **filters: Any) -> list[Entry]:
        """The entries matching a query or filters, oldest first."""
        return self.runtime.journal.query(self.select(query, **filters), limit=limit)

    def iter_jsonl(self, query: JournalQuery | None = None) -> Iterator[str]:
        return self.runtime.journal.iter_jsonl(query)

    def export(self, path: str | os.PathLike[str], query: JournalQuery | None = None) -> int:
        """Write the journal (or what a query selects) as JSON Lines; returns the number of lines."""
        return self.runtime.journal.export_jsonl(Path(path), query)

    def watch(self, query: JournalQuery, count: int, done: Callable[[list[Entry]], None]) -> Callable[[], None]:
        """Call ``done`` with the matching entries once ``count`` match (at once if they already do); returns
        the function that stops watching. The waiting itself is the caller's (a thread, a task)."""
        journal = self.runtime.journal
        found = journal.query(query)
        if len(found) >= count:
            done(found)
            return lambda: None

        def watcher(entry: Entry) -> None:
            if query.matches(entry):
                found.append(entry)
                if len(found) == count:
                    done(list(found))

        return journal.watch(watcher)

    def record(self, api: str, kind: Kind[D], data: D) -> Entry:
        """Journal an entry from outside the mock (the conformance runner's ``run.*`` and ``observe.*``)."""
        return self.runtime.journal.record(api, kind, data)

    def entries(self) -> Iterable[Entry]:
        return iter(self.runtime.journal)

    # -- where it listens ------------------------------------------------------------------------------------
    def urls(self) -> dict[str, str]:
        return self._urls()

    def url(self, name: str) -> str:
        urls = self._urls()
        if name not in urls:
            raise ControlError(f"no listener {name!r}; the mock serves: {', '.join(urls)}", status=404)
        return urls[name]

    def credentials(self) -> dict[str, list[dict[str, Any]]]:
        """Each API's credentials (keys, users, agents) with their names, as the scenario made them."""
        return self.runtime.credentials()

    def env(self) -> dict[str, str]:
        """The environment a client under test is configured with (base URLs, credentials, the clock)."""
        return client_env(self.runtime, self._urls(), control_token=self.control_token)
