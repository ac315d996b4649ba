"""The runtime: one scenario running on one clock, with its journal, sessions, API states and faults.

Framework-free: the server layer (``server.py``) pumps sockets into it and drives
its scheduler; tests drive it directly on a manual clock. Time sources are
injected (``real_time`` for the clock's speed, ``wall_time`` for "now" and for
journal wall stamps), so nothing here reads a clock.
"""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import Draft202012Validator

from .apis.registry import APIS, check_fault
from .core.catalogue import (
    CLOCK_RELEASED,
    CONTROL_EMIT,
    CONTROL_STATE,
    FAULT_START,
    FAULT_STOP,
    SCENARIO_LOADED,
    SCENARIO_STEP,
    SERVER_ERROR,
    ClockReleased,
    ControlEmit,
    ControlState,
    FaultStart,
    FaultStop,
    ScenarioLoaded,
    ScenarioStep,
    ServerError,
)
from .core.clock import ClockError, VirtualClock, check_instant, format_instant
from .core.errors import ControlError, ScenarioError
from .core.journal import Journal
from .core.recorder import DomainJournal
from .core.scheduler import Scheduler, Timer
from .core.sessions import SessionTable
from .faults.board import FaultBoard
from .faults.model import FAULT_SCHEMA, ActiveFault, FaultSpec
from .scenario.model import Scenario, Step

__all__ = ["Failure", "Runtime"]

_FAULT_VALIDATOR = Draft202012Validator(FAULT_SCHEMA)


def _zero() -> float:
    return 0.0


@dataclass(frozen=True, slots=True)
class Failure:
    """An exception inside the mock (journaled as ``server.error``), kept for whoever drives it to raise."""

    seq: int
    source: Literal["timer", "handler", "task"]
    name: str
    error: str
    traceback: str


class Runtime:
    def __init__(
        self,
        scenario: Scenario,
        *,
        real_time: Callable[[], float] = _zero,
        wall_time: Callable[[], float] = _zero,
        speed: float | None = None,
        start: float | None = None,
        profiles: Mapping[str, str] | None = None,
        journal_limit: int = 50_000,
        wait_for_client: bool | None = None,
        auto_advance: float | None = None,
    ) -> None:
        self._wall_time = wall_time
        self._auto_override = auto_advance
        #: a manual clock that moves by itself: real seconds of quiet before the server's clock driver
        #: jumps it to its next timer (None: it moves only when told); every load starts from the constructor's
        self.auto_advance: float | None = None
        self._speed_override = speed
        self._hold_override = wait_for_client
        #: the speed a held clock will run at once released (None: not held)
        self.held_speed: float | None = None
        self._start_override = start
        self._profile_overrides = dict(profiles or {})
        self.clock = VirtualClock(start=0.0, speed=0.0, real_time=real_time)
        self.scheduler = Scheduler(self.clock, on_error=self._timer_failed)
        self.journal = Journal(virtual_time=self.scheduler.event_time, wall_time=wall_time, memory_limit=journal_limit)
        self.sessions = SessionTable()
        self.faults = FaultBoard(self.journal)
        self.apis: dict[str, Any] = {}
        self.profiles: dict[str, str] = {}
        self._fault_timers: dict[str, Timer] = {}
        self._fault_ids = itertools.count(1)
        self.steps_done = 0
        #: exceptions inside the mock not yet raised to whoever drives it (see ``take_failures``)
        self.failures: list[Failure] = []
        #: set by the server: a fault started (True) or stopped (False): refuse listeners, close sockets
        self.on_fault: Callable[[FaultSpec, bool], None] | None = None
        #: adapters that act on faults themselves (an event stream's close), called like on_fault
        self.fault_listeners: list[Callable[[FaultSpec, bool], None]] = []
        #: set by the server: called after load/reset so adapters can drop per-run state
        self.on_reset: list[Callable[[], None]] = []
        #: called when the server stops: adapters end what would outlive it (open event streams)
        self.on_stop: list[Callable[[], None]] = []
        #: set by the server's clock driver: wait virtual seconds (released early by a reset)
        self.sleep: Callable[[float], Awaitable[None]] | None = None
        self.scenario = scenario
        self.load(scenario)

    # -- loading -----------------------------------------------------------------
    def _check_profiles(self, scenario: Scenario) -> dict[str, str]:
        profiles = {}
        for name, api in APIS.items():
            profile = self._profile_overrides.get(name, scenario.api(name).profile)
            if profile not in api.profiles:
                raise ScenarioError(f"{name} has no profile {profile!r}; it offers: {', '.join(api.profiles)}")
            profiles[name] = profile
        return profiles

    def load(self, scenario: Scenario) -> None:
        """Start ``scenario`` from its beginning: clock, state, faults and journal anew.

        Everything is built before anything is replaced, so a scenario that cannot start
        (a ScenarioError) leaves the running one untouched.
        """
        profiles = self._check_profiles(scenario)
        start = self._start_override if self._start_override is not None else scenario.clock.start
        if start is None:
            start = float(int(self._wall_time()))
        speed = self._speed_override if self._speed_override is not None else scenario.clock.speed
        try:
            VirtualClock(start=check_instant(start), speed=speed)  # the same checks the real clock makes
            apis = {}
            for name, api in APIS.items():
                settings = scenario.api(name)
                apis[name] = api.factory(
                    state=settings.state, options=settings.options, seed=scenario.seed, start=start, profile=profiles[name]
                )
        except (ClockError, ValueError, KeyError, TypeError) as exc:
            raise ScenarioError(f"scenario {scenario.id!r} cannot start: {exc}") from None
        for fault_id in list(self.faults.active):
            self._stop_fault(fault_id, reason="reset")
        self.scheduler.clear()
        self.journal.clear()
        self.sessions.restart()
        self.failures.clear()
        self.scenario = scenario
        self.profiles = profiles
        hold = self._hold_override if self._hold_override is not None else scenario.clock.wait_for_client
        self.held_speed = speed if hold and speed > 0 else None
        self.clock.reset(start=start, speed=0.0 if self.held_speed is not None else speed)
        self.auto_advance = self._auto_override if speed == 0 else None
        self.apis = apis
        for name, domain in apis.items():
            if hasattr(domain, "journal"):  # what only the domain knows (a lost push, a rotated token, a login)
                domain.journal = DomainJournal(self.journal, self.sessions, name)
            if hasattr(domain, "attach"):  # domains with their own timers (a market) run on the one scheduler
                domain.attach(self.scheduler)
        self.steps_done = 0
        self._fault_ids = itertools.count(1)
        loaded = ScenarioLoaded(
            id=scenario.id,
            seed=scenario.seed,
            start=start,
            speed=speed,
            profiles=profiles,
            apis=scenario.used_apis(),
            options={name: domain.settings() for name, domain in apis.items()},
            rules=list(scenario.rules),
        )
        if self.auto_advance is not None:
            loaded["auto_advance"] = self.auto_advance
        self.journal.record("mock", SCENARIO_LOADED, loaded)
        for step in scenario.timeline:
            self._schedule(step, start + step.at, 1)
        self.scheduler.run_due()  # steps at 0s happen as the scenario starts, in every clock mode
        for hook in self.on_reset:
            hook()

    def reset(self) -> None:
        self.load(self.scenario)

    @property
    def speed(self) -> float:
        """The clock's speed, or the speed a held clock will run at."""
        return self.held_speed if self.held_speed is not None else self.clock.speed

    def release_clock(self, cause: Literal["client", "control"], *, conn: str | None = None) -> bool:
        """Start a clock held at its start (``wait_for_client``); False when it was not held."""
        speed = self.held_speed
        if speed is None:
            return False
        self.held_speed = None
        self.clock.set_speed(speed)
        self.journal.record("mock", CLOCK_RELEASED, ClockReleased(speed=speed, cause=cause), conn=conn)
        return True

    # -- the timeline --------------------------------------------------------------
    def _schedule(self, step: Step, when: float, run: int) -> None:
        def fire(due: float) -> None:
            self._run_step(step, due, run)
            if step.every and (step.count is None or run < step.count):
                self._schedule(step, due + step.every, run + 1)

        self.scheduler.call_at(when, fire, name=step.describe())

    def _run_step(self, step: Step, due: float, run: int) -> None:
        self.steps_done += 1
        api = step.api or "mock"
        entry = ScenarioStep(action=step.action, step=step.line, run=run, args=dict(step.args))  # type: ignore[typeddict-item]
        if step.action == "note":
            self.journal.record("mock", SCENARIO_STEP, entry)
        elif step.action == "state":
            self.journal.record(api, SCENARIO_STEP, entry)
            self.apis[api].patch(step.args["set"])
        elif step.action == "emit":
            entry["result"] = self.apis[api].emit(str(step.args["event"]), step.args.get("data") or {}, due)
            self.journal.record(api, SCENARIO_STEP, entry)
        elif step.action == "fault":
            self.journal.record(str(step.args.get("api", "*")), SCENARIO_STEP, entry)
            self.start_fault(step.args, at=due)
        elif step.action == "stop_fault":
            self.journal.record("mock", SCENARIO_STEP, entry)
            self._stop_fault(str(step.args["id"]), reason="scenario", at=due)

    # -- failures ------------------------------------------------------------------------
    def _timer_failed(self, timer: Timer, exc: BaseException) -> None:
        self.report_error("timer", timer.name, exc)

    def report_error(self, source: Literal["timer", "handler", "task"], name: str, exc: BaseException) -> Failure:
        """An exception inside the mock: journal it (``server.error``, with the traceback) and keep it to be raised."""
        text = "".join(traceback.format_exception(exc)) if exc.__traceback__ is not None else ""  # never raised: a report
        error = f"{type(exc).__name__}: {exc}"
        entry = self.journal.record("mock", SERVER_ERROR, ServerError(source=source, name=name, error=error, traceback=text))
        failure = Failure(entry.seq, source, name, error, text)
        self.failures.append(failure)
        return failure

    def take_failures(self) -> list[Failure]:
        """The failures since the last call (each is handed out once)."""
        taken, self.failures = self.failures, []
        return taken

    # -- control operations ----------------------------------------------------------
    def api(self, name: str) -> Any:
        if name not in self.apis:
            raise ControlError(f"unknown API {name!r}; known: {', '.join(self.apis)}", status=404)
        return self.apis[name]

    def emit(self, api: str, event: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        descriptor = APIS.get(api)
        if descriptor is None:
            raise ControlError(f"unknown API {api!r}; known: {', '.join(APIS)}", status=404)
        if event not in descriptor.events:
            raise ControlError(f"{api} has no event {event!r}; known: {', '.join(descriptor.events)}")
        errors = sorted(Draft202012Validator(dict(descriptor.events[event])).iter_errors(dict(data or {})), key=str)
        if errors:
            raise ControlError(f"bad data for {api}.{event}: {errors[0].message}")
        now = self.clock.now()
        try:
            result = self.apis[api].emit(event, dict(data or {}), now)
        except (KeyError, ValueError) as exc:  # data the schema allows but this run cannot use (an unknown user, record)
            raise ControlError(f"cannot emit {api}.{event}: {exc.args[0] if exc.args else exc}") from None
        self.journal.record(api, CONTROL_EMIT, ControlEmit(event=event, data=dict(data or {}), result=dict(result)))
        return dict(result)

    def patch_state(self, api: str, changes: Mapping[str, Any]) -> None:
        """Patch an API's state as a scenario's ``state`` step would (checked against the same schema)."""
        descriptor = APIS.get(api)
        if descriptor is None:
            raise ControlError(f"unknown API {api!r}; known: {', '.join(APIS)}", status=404)
        schema = dict(descriptor.patch_schema) or {"type": "object"}
        errors = sorted(Draft202012Validator(schema).iter_errors(dict(changes)), key=str)
        if errors:
            where = ".".join(map(str, errors[0].absolute_path)) or "set"
            raise ControlError(f"bad state for {api}: {where}: {errors[0].message}")
        try:
            self.apis[api].patch(dict(changes))
        except (KeyError, ValueError) as exc:
            raise ControlError(f"cannot patch {api}: {exc.args[0] if exc.args else exc}") from None
        self.journal.record(api, CONTROL_STATE, ControlState(set=dict(changes)))

    def start_fault(self, raw: Mapping[str, Any], *, at: float | None = None) -> FaultSpec:
        problems = sorted(_FAULT_VALIDATOR.iter_errors(dict(raw)), key=str)
        if problems:
            where = ".".join(map(str, problems[0].absolute_path)) or "fault"
            raise ControlError(f"bad fault: {where}: {problems[0].message}")
        try:
            spec = FaultSpec.from_dict(raw, default_id=f"fault-{next(self._fault_ids)}")
        except (KeyError, ValueError, TypeError) as exc:
            raise ControlError(f"bad fault: {exc}") from None
        if spec.api != "*" and spec.api not in APIS:
            raise ControlError(f"unknown API {spec.api!r} in fault; known: '*', {', '.join(APIS)}")
        if at is None:  # from the control API (a scenario's faults were checked by the loader, with positions)
            problems = check_fault(spec.api, spec.kind, spec.route, spec.method, spec.status, self.profiles)
            if problems:
                raise ControlError("bad fault: " + "; ".join(f"{field}: {message}" for field, message in problems))
        now = self.clock.now() if at is None else at
        if spec.id in self.faults.active:
            self._stop_fault(spec.id, reason="replaced", at=now)
        self.faults.active[spec.id] = ActiveFault(spec, seed=self.scenario.seed, started_at=now)
        self.journal.record(spec.api, FAULT_START, FaultStart(fault=spec.id, spec=spec.to_dict()), vtime=now)
        if spec.duration is not None:
            fault_id = spec.id

            def end(due: float) -> None:
                self._stop_fault(fault_id, reason="duration", at=due)

            self._fault_timers[spec.id] = self.scheduler.call_at(now + spec.duration, end, name=f"end {spec.id}")
        if self.on_fault is not None:
            self.on_fault(spec, True)
        for listener in self.fault_listeners:
            listener(spec, True)
        return spec

    def stop_fault(self, fault_id: str) -> None:
        if fault_id not in self.faults.active:
            active = ", ".join(self.faults.active) or "none"
            raise ControlError(f"no active fault {fault_id!r}; active: {active}", status=404)
        self._stop_fault(fault_id, reason="control")

    def _stop_fault(
        self, fault_id: str, *, reason: Literal["duration", "control", "scenario", "replaced", "reset"], at: float | None = None
    ) -> None:
        active = self.faults.active.pop(fault_id, None)
        timer = self._fault_timers.pop(fault_id, None)
        if timer is not None:
            timer.cancel()
        if active is None:
            return
        self.journal.record(active.spec.api, FAULT_STOP, FaultStop(fault=fault_id, reason=reason, applied=active.applied), vtime=at)
        if self.on_fault is not None:
            self.on_fault(active.spec, False)
        for listener in self.fault_listeners:
            listener(active.spec, False)

    # -- who a credential identifies ----------------------------------------------------
    def identify(self, api: str, headers: Sequence[tuple[bytes, bytes]], query: bytes) -> str | None:
        """The principal a request's credentials name (``agent:1``, ``key:steady-agent``, ``user:a@b.c``), if any."""
        domain = self.apis.get(api)
        return domain.identify(headers, query) if domain is not None else None

    # -- views -------------------------------------------------------------------------
    def clock_state(self) -> dict[str, Any]:
        """The clock's snapshot, with ``held`` (and the speed it will run at) for a clock waiting for its client."""
        state: dict[str, Any] = {**self.clock.snapshot(), "held": self.held_speed is not None, "auto_advance": self.auto_advance}
        if self.held_speed is not None:
            state["held_speed"] = self.held_speed
        return state

    def credentials(self) -> dict[str, list[dict[str, Any]]]:
        return {name: api.credentials() for name, api in self.apis.items()}

    def state(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.summary(),
            "clock": self.clock_state(),
            "profiles": dict(self.profiles),
            "steps_done": self.steps_done,
            "steps_pending": [{"at": format_instant(t.when), "name": t.name} for t in self.scheduler.pending()],
            "faults": [f.snapshot() for f in self.faults.active.values()],
            "apis": {name: api.snapshot() for name, api in self.apis.items()},
            "journal": {
                "entries": len(self.journal),
                "in_memory": self.journal.in_memory,
                "spilled": self.journal.spilled,
                "last_seq": self.journal.last_seq,
            },
        }
