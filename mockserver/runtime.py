"""The runtime: one scenario running on one clock, with its journal, API states and faults.

Framework-free: the server layer (``server.py``) pumps sockets into it and drives
its scheduler; tests drive it directly on a manual clock. Time sources are
injected (``real_time`` for the clock's speed, ``wall_time`` for "now" and for
journal wall stamps), so nothing here reads a clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from .apis.registry import APIS
from .core.clock import ClockError, VirtualClock, check_instant, format_instant
from .core.errors import ControlError, ScenarioError
from .core.journal import Journal
from .core.scheduler import Scheduler, Timer
from .faults.model import FAULT_SCHEMA, HTTP_KINDS, ActiveFault, FaultSpec
from .scenario.model import Scenario, Step

__all__ = ["FaultDecision", "Runtime"]

_FAULT_VALIDATOR = Draft202012Validator(FAULT_SCHEMA)
_REQUEST_KINDS = frozenset(HTTP_KINDS) - {"refuse"}
_BODY_KINDS = frozenset({"truncate", "malformed", "dribble"})  # need the whole body: an event stream applies its own


def _zero() -> float:
    return 0.0


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What the fault layer does to one request: wait ``latency``, then ``fault`` (or answer normally)."""

    latency: float
    fault: ActiveFault | None
    latency_faults: tuple[str, ...] = ()


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
    ) -> None:
        self._wall_time = wall_time
        self._speed_override = speed
        self._start_override = start
        self._profile_overrides = dict(profiles or {})
        self.clock = VirtualClock(start=0.0, speed=0.0, real_time=real_time)
        self.scheduler = Scheduler(self.clock, on_error=self._timer_failed)
        self.journal = Journal(virtual_time=self.clock.now, wall_time=wall_time, memory_limit=journal_limit)
        self.apis: dict[str, Any] = {}
        self.profiles: dict[str, str] = {}
        self.faults: dict[str, ActiveFault] = {}
        self._fault_timers: dict[str, Timer] = {}
        self._fault_ids = itertools.count(1)
        self.steps_done = 0
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
        for fault_id in list(self.faults):
            self._stop_fault(fault_id, reason="reset")
        self.scheduler.clear()
        self.journal.clear()
        self.scenario = scenario
        self.profiles = profiles
        self.clock.reset(start=start, speed=speed)
        self.apis = apis
        for name, domain in apis.items():
            if hasattr(domain, "record"):  # let the domain journal what only it knows (a lost push, a rotated token)
                domain.record = self._recorder(name)
            if hasattr(domain, "attach"):  # domains with their own timers (a market) run on the one scheduler
                domain.attach(self.scheduler)
        self.steps_done = 0
        self._fault_ids = itertools.count(1)
        self.journal.record(
            "mock",
            "scenario.loaded",
            {"id": scenario.id, "seed": scenario.seed, "start": format_instant(start), "speed": speed, "profiles": profiles},
        )
        for step in scenario.timeline:
            self._schedule(step, start + step.at, 1)
        self.scheduler.run_due()  # steps at 0s happen as the scenario starts, in every clock mode
        for hook in self.on_reset:
            hook()

    def _recorder(self, api: str) -> Callable[[str, dict[str, Any]], None]:
        def record(kind: str, data: dict[str, Any]) -> None:
            self.journal.record(api, kind, data)

        return record

    def reset(self) -> None:
        self.load(self.scenario)

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
        entry: dict[str, Any] = {"action": step.action, "step": step.line, "run": run, "args": dict(step.args)}
        if step.action == "note":
            self.journal.record("mock", "scenario.step", entry, vtime=due)
        elif step.action == "state":
            self.journal.record(api, "scenario.step", entry, vtime=due)
            self.apis[api].patch(step.args["set"])
        elif step.action == "emit":
            result = self.apis[api].emit(str(step.args["event"]), step.args.get("data") or {}, due)
            self.journal.record(api, "scenario.step", {**entry, "result": result}, vtime=due)
        elif step.action == "fault":
            self.journal.record(str(step.args.get("api", "*")), "scenario.step", entry, vtime=due)
            self.start_fault(step.args, at=due)
        elif step.action == "stop_fault":
            self.journal.record("mock", "scenario.step", entry, vtime=due)
            self._stop_fault(str(step.args["id"]), reason="scenario", at=due)

    def _timer_failed(self, timer: Timer, exc: BaseException) -> None:
        self.journal.record("mock", "scenario.error", {"timer": timer.name, "error": f"{type(exc).__name__}: {exc}"}, vtime=timer.when)

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
        self.journal.record(api, "control.emit", {"event": event, "data": dict(data or {}), "result": result})
        return dict(result)

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
        now = self.clock.now() if at is None else at
        if spec.id in self.faults:
            self._stop_fault(spec.id, reason="replaced", at=now)
        self.faults[spec.id] = ActiveFault(spec, seed=self.scenario.seed, started_at=now)
        self.journal.record(spec.api, "fault.start", spec.to_dict(), vtime=now)
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
        if fault_id not in self.faults:
            raise ControlError(f"no active fault {fault_id!r}; active: {', '.join(self.faults) or 'none'}", status=404)
        self._stop_fault(fault_id, reason="control")

    def _stop_fault(self, fault_id: str, *, reason: str, at: float | None = None) -> None:
        active = self.faults.pop(fault_id, None)
        timer = self._fault_timers.pop(fault_id, None)
        if timer is not None:
            timer.cancel()
        if active is None:
            return
        self.journal.record(active.spec.api, "fault.stop", {"id": fault_id, "reason": reason, "applied": active.applied}, vtime=at)
        if self.on_fault is not None:
            self.on_fault(active.spec, False)
        for listener in self.fault_listeners:
            listener(active.spec, False)

    def decide_fault(self, api: str, method: str, path: str, *, streaming: bool = False) -> FaultDecision | None:
        """The faults this request meets (None: none). Draws from each matching fault's seeded stream."""
        if not self.faults:
            return None
        latency = 0.0
        latency_ids: list[str] = []
        chosen: ActiveFault | None = None
        for active in list(self.faults.values()):
            spec = active.spec
            if spec.kind not in _REQUEST_KINDS or not spec.applies_to(api, method, path):
                continue
            if streaming and spec.kind in _BODY_KINDS:
                continue
            if spec.kind == "latency":
                if active.draw():
                    active.applied += 1
                    latency += active.latency()
                    latency_ids.append(spec.id)
            elif chosen is None and spec.kind == "rate_limit":
                if active.rate_limited(self.clock.now()) is not None and active.draw():
                    chosen = active
            elif chosen is None and active.draw():
                chosen = active
        if chosen is not None:
            chosen.applied += 1
        if chosen is None and not latency_ids:
            return None
        return FaultDecision(latency=latency, fault=chosen, latency_faults=tuple(latency_ids))

    def decide_ws_fault(self, api: str, path: str) -> ActiveFault | None:
        """The fault a new WebSocket handshake meets: refuse_upgrade, reset or close (first started wins)."""
        for active in list(self.faults.values()):
            spec = active.spec
            if spec.kind in ("refuse_upgrade", "reset", "close") and spec.applies_to(api, "GET", path) and active.draw():
                active.applied += 1
                return active
        return None

    def mangle_frame(self, api: str, path: str) -> ActiveFault | None:
        """A ``duplicate`` or ``reorder`` fault hitting this outgoing frame (drawn from its seeded stream)."""
        for active in list(self.faults.values()):
            spec = active.spec
            if spec.kind in ("duplicate", "reorder") and spec.applies_to(api, "GET", path) and active.draw():
                active.applied += 1
                return active
        return None

    def silenced(self, api: str, path: str) -> ActiveFault | None:
        """An active ``silence`` fault for this socket, if any."""
        for active in self.faults.values():
            if active.spec.kind == "silence" and active.spec.applies_to(api, "GET", path):
                return active
        return None

    # -- views -------------------------------------------------------------------------
    def credentials(self) -> dict[str, list[dict[str, Any]]]:
        return {name: api.credentials() for name, api in self.apis.items()}

    def state(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.summary(),
            "clock": self.clock.snapshot(),
            "profiles": dict(self.profiles),
            "steps_done": self.steps_done,
            "steps_pending": [{"at": format_instant(t.when), "name": t.name} for t in self.scheduler.pending()],
            "faults": [f.snapshot() for f in self.faults.values()],
            "apis": {name: api.snapshot() for name, api in self.apis.items()},
            "journal": {
                "entries": len(self.journal),
                "in_memory": self.journal.in_memory,
                "spilled": self.journal.spilled,
                "last_seq": self.journal.last_seq,
            },
        }
