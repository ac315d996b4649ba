"""What a test asks of the mock: the plugin's configuration and the ``agentfeed`` marker's arguments.

No pytest here: :mod:`mockserver.pytest_plugin` reads the ini options and the markers and hands
them over as plain values, so this can be used (and tested) without pytest.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from ..apis.registry import APIS
from ..core.clock import AUTO_THRESHOLD, MAX_SPEED, ClockError, check_auto_threshold, check_instant, parse_instant
from ..core.errors import ScenarioError
from ..scenario.loader import builtin_scenarios, load_scenario, scenario_from_yaml
from ..scenario.model import ClockSettings, Scenario

__all__ = ["MARKER_ARGS", "AgentfeedConfig", "AgentfeedSetup", "MarkerError", "Speed", "parse_speed", "resolve_setup"]

#: A clock speed for a test: virtual seconds per real second (0: manual), or ``"auto"`` (manual, moving by itself).
Speed = float | Literal["auto"]
#: The keyword arguments of ``@pytest.mark.agentfeed(...)`` (the scenario may also come first, positionally).
MARKER_ARGS = ("scenario", "speed", "start", "profiles", "seed", "auto_threshold")


class MarkerError(ValueError):
    """An ``agentfeed`` marker or option that cannot be used: the test's author is at fault."""


def parse_speed(value: object, *, where: str = "speed") -> Speed:
    """``"auto"``, or a number from 0 (manual) to MAX_SPEED (numbers may be given as text, as ini files do)."""
    if value == "auto":
        return "auto"
    try:
        speed = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else float("nan")
    except ValueError:
        speed = float("nan")
    if not 0 <= speed <= MAX_SPEED:
        raise MarkerError(f"{where}: expected 0 (a manual clock), a speed up to {MAX_SPEED:g}, or 'auto', got {value!r}")
    return speed


@dataclass(frozen=True, slots=True)
class AgentfeedConfig:
    """How the session's mock is served (the ``agentfeed_config`` fixture; each field has an ini option)."""

    host: str = "127.0.0.1"
    #: 0: ephemeral ports (the default, and what parallel runs need); N: control on N, the APIs on N+1 ..., and
    #: under pytest-xdist worker k on N + 10k
    base_port: int = 0
    journal_limit: int = 50_000
    #: the scenario of a test whose marker names none
    scenario: str = "demo"
    #: the clock of a test whose marker sets no speed: 0 (manual), a speed, or "auto"
    speed: Speed = 0.0
    #: real seconds of quiet before an "auto" clock jumps to its next timer
    auto_threshold: float = AUTO_THRESHOLD
    #: real seconds a request may wait on a manual clock nobody advances before the test fails (None: forever)
    stall_timeout: float | None = 3.0
    #: real seconds ``wait_for`` waits when given no timeout
    wait_timeout: float = 10.0
    #: where the journals of failed tests go (None: not written)
    artifacts: Path | None = None
    #: uvicorn's log level: an exception inside the mock fails the test with its traceback, so it need not log it too
    log_level: str = "critical"

    def __post_init__(self) -> None:
        parse_speed(self.speed, where="agentfeed speed")
        try:
            check_auto_threshold(self.auto_threshold)
        except ClockError as exc:
            raise MarkerError(f"agentfeed auto_threshold: {exc}") from None
        if self.stall_timeout is not None and not self.stall_timeout > 0:
            raise MarkerError(f"agentfeed stall_timeout: expected real seconds above 0 (or none), got {self.stall_timeout!r}")
        if self.log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
            raise MarkerError(f"agentfeed log_level: expected critical, error, warning, info, debug or trace, got {self.log_level!r}")
        if not 0 <= self.base_port <= 65535 - len(APIS):
            raise MarkerError(f"agentfeed base_port: expected 0 (ephemeral ports) or a port to start from, got {self.base_port}")

    @classmethod
    def from_ini(cls, get: Callable[[str], str], *, artifacts: Path | None = None) -> AgentfeedConfig:
        """From ini values as text (``get("agentfeed_host")``; empty text: the default)."""
        default = cls()

        def value(name: str, convert: Callable[[str], Any], fallback: Any) -> Any:
            text = str(get(f"agentfeed_{name}") or "").strip()
            if not text:
                return fallback
            try:
                return convert(text)
            except ValueError:
                raise MarkerError(f"ini option agentfeed_{name}: cannot use {text!r}") from None

        def stall(text: str) -> float | None:
            return None if text.lower() in ("none", "off", "0") else float(text)

        return cls(
            host=value("host", str, default.host),
            base_port=value("base_port", int, default.base_port),
            journal_limit=value("journal_limit", int, default.journal_limit),
            scenario=value("scenario", str, default.scenario),
            speed=value("speed", parse_speed, default.speed),
            auto_threshold=value("auto_threshold", float, default.auto_threshold),
            stall_timeout=value("stall_timeout", stall, default.stall_timeout),
            wait_timeout=value("wait_timeout", float, default.wait_timeout),
            artifacts=artifacts,
            log_level=value("log_level", str, default.log_level),
        )

    def ports(self, worker: int = 0) -> tuple[dict[str, int], int]:
        """The APIs' ports and the control port for an xdist worker (all 0: ephemeral)."""
        if self.base_port == 0:
            return dict.fromkeys(APIS, 0), 0
        base = self.base_port + 10 * worker
        return {name: base + index for index, name in enumerate(APIS, start=1)}, base


@dataclass(frozen=True, slots=True)
class AgentfeedSetup:
    """One test's mock: its scenario (with the marker's overrides applied) and its clock."""

    scenario: Scenario
    speed: Speed
    auto_threshold: float


# -- scenarios, each parsed once per file version ------------------------------------------------------------
@functools.lru_cache(maxsize=128)
def _load_file(path: str, mtime_ns: int) -> Scenario:
    return load_scenario(path)


@functools.lru_cache(maxsize=1)
def _builtins() -> dict[str, Path]:
    """The built-in scenarios (they ship with the package: listed once a process)."""
    return builtin_scenarios()


def _file(path: Path) -> Scenario:
    try:
        return _load_file(str(path), path.stat().st_mtime_ns)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None


def _scenario(ref: object, *, test_dir: Path | None, test: str) -> Scenario:
    if isinstance(ref, Scenario):
        return ref
    if isinstance(ref, Mapping):
        data = {"id": f"inline/{test}", "description": f"The scenario of {test}.", **ref}
        return scenario_from_yaml(yaml.safe_dump(data, sort_keys=False), source=f"<agentfeed marker of {test}>")
    if isinstance(ref, str) and "\n" in ref:  # YAML text
        return scenario_from_yaml(ref, source=f"<agentfeed marker of {test}>")
    if isinstance(ref, (str, os.PathLike)):
        text = os.fspath(ref)
        builtin = _builtins()
        if isinstance(ref, str) and text in builtin:
            return _file(builtin[text])
        path = Path(text)
        if not path.is_absolute() and test_dir is not None and (test_dir / path).exists():
            path = test_dir / path  # beside the test file first
        if path.suffix in (".yaml", ".yml") or path.exists():
            return _file(path.resolve())
        raise MarkerError(f"scenario {text!r} is neither a built-in scenario ({', '.join(builtin)}) nor a YAML file")
    raise MarkerError(f"scenario: expected a built-in id, a YAML file, a mapping or a Scenario, got {type(ref).__name__}")


def _start(value: object) -> float:
    try:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise MarkerError(f"start: a datetime needs a time zone, got {value.isoformat()}")
            return check_instant(value.timestamp())
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return check_instant(float(value))
        if isinstance(value, str):
            return check_instant(parse_instant(value))
    except (ValueError, ClockError) as exc:
        if isinstance(exc, MarkerError):
            raise
        raise MarkerError(f"start: expected an ISO 8601 instant, epoch seconds or an aware datetime, got {value!r}") from None
    raise MarkerError(f"start: expected an ISO 8601 instant, epoch seconds or an aware datetime, got {value!r}")


def _merge(marks: Sequence[tuple[Sequence[Any], Mapping[str, Any]]]) -> dict[str, Any]:
    """The markers' arguments, farthest first (module, class, function): nearer ones win, key by key."""
    merged: dict[str, Any] = {}
    for args, kwargs in marks:
        if len(args) > 1:
            raise MarkerError(f"agentfeed marker: at most one positional argument (the scenario), got {len(args)}")
        unknown = sorted(set(kwargs) - set(MARKER_ARGS))
        if unknown:
            raise MarkerError(f"agentfeed marker: unknown argument {unknown[0]!r}; it takes {', '.join(MARKER_ARGS)}")
        if args and "scenario" in kwargs:
            raise MarkerError("agentfeed marker: the scenario given twice (positionally and as scenario=)")
        merged.update({"scenario": args[0]} if args else {})
        merged.update(kwargs)
    return merged


def resolve_setup(
    marks: Sequence[tuple[Sequence[Any], Mapping[str, Any]]],
    config: AgentfeedConfig,
    *,
    test_dir: Path | None = None,
    test: str = "test",
) -> AgentfeedSetup:
    """A test's setup from its ``agentfeed`` markers (``(args, kwargs)``, farthest first) and the configuration."""
    options = _merge(marks)
    scenario = _scenario(options.get("scenario", config.scenario), test_dir=test_dir, test=test)
    speed = parse_speed(options.get("speed", config.speed))
    threshold = options.get("auto_threshold", config.auto_threshold)
    try:
        threshold = check_auto_threshold(threshold)
    except ClockError as exc:
        raise MarkerError(f"auto_threshold: {exc}") from None
    start = _start(options["start"]) if options.get("start") is not None else scenario.clock.start
    apis = dict(scenario.apis)
    profiles = options.get("profiles") or {}
    if not isinstance(profiles, Mapping):
        raise MarkerError(f"profiles: expected a mapping of API to profile, got {profiles!r}")
    for name, profile in profiles.items():
        if name not in APIS:
            raise MarkerError(f"profiles: unknown API {name!r}; known: {', '.join(APIS)}")
        if profile not in APIS[name].profiles:
            raise MarkerError(f"profiles: {name} has no profile {profile!r}; it offers: {', '.join(APIS[name].profiles)}")
        apis[name] = replace(scenario.api(name), profile=str(profile))
    seed = options.get("seed", scenario.seed)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise MarkerError(f"seed: expected a whole number, got {seed!r}")
    clock = ClockSettings(start=start, speed=0.0 if speed == "auto" else speed, wait_for_client=scenario.clock.wait_for_client)
    return AgentfeedSetup(replace(scenario, clock=clock, apis=apis, seed=seed), speed, threshold)
