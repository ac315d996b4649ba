"""The scenario model: frozen values built by the loader from YAML.

A scenario is an id, a description, a seed, a clock (start, speed), per-API
settings (profile, options, initial state), a timeline of steps and the ids of
the conformance rules it is meant for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ACTIONS", "ApiSettings", "ClockSettings", "Scenario", "Step"]

#: The actions a step can take (exactly one per step).
ACTIONS = ("state", "emit", "fault", "stop_fault", "note")


@dataclass(frozen=True, slots=True)
class ClockSettings:
    #: Virtual epoch seconds to start at; None means "now" (read by the adapter).
    start: float | None = None
    speed: float = 1.0
    #: hold the clock at its start until the first client connection (or an explicit start)
    wait_for_client: bool = False


@dataclass(frozen=True, slots=True)
class ApiSettings:
    name: str
    profile: str = "documented"
    options: Mapping[str, Any] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Step:
    """At ``at`` virtual seconds after the start, do ``action`` with ``args``.

    ``every``/``count`` repeat the step: ``count`` runs in all (None: forever
    when ``every`` is set, else once).
    """

    at: float
    action: str
    args: Mapping[str, Any]
    every: float | None = None
    count: int | None = None
    line: int = 0

    @property
    def api(self) -> str | None:
        value = self.args.get("api")
        return str(value) if value is not None else None

    def describe(self) -> str:
        if self.action == "stop_fault":
            return f"stop_fault {self.args.get('id')}"
        if self.action == "fault":
            return f"fault {self.args.get('id')} ({self.args.get('kind')})"
        if self.action == "emit":
            return f"emit {self.args.get('api')}.{self.args.get('event')}"
        if self.action == "state":
            return f"state {self.args.get('api')}"
        return f"note {self.args.get('text', '')}"


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    description: str
    seed: int = 0
    clock: ClockSettings = field(default_factory=ClockSettings)
    apis: Mapping[str, ApiSettings] = field(default_factory=dict)
    timeline: tuple[Step, ...] = ()
    #: the conformance rules it targets: ids, or ``{id: {parameter: value}}``
    rules: tuple[str | Mapping[str, Any], ...] = ()
    source: str | None = None
    #: how long a conformance run of it lasts (virtual seconds; None: the runner's choice)
    duration: float | None = None
    #: the line of each ``rules:`` entry, by rule id (for errors about them)
    rule_lines: Mapping[str, int] = field(default_factory=dict)

    def api(self, name: str) -> ApiSettings:
        return self.apis.get(name) or ApiSettings(name=name)

    def used_apis(self) -> list[str]:
        """The APIs the scenario uses: those it configures and those its steps name."""
        named = {str(step.args["api"]) for step in self.timeline if step.args.get("api") not in (None, "*")}
        return sorted(set(self.apis) | named)

    def rule_ids(self) -> list[str]:
        """The ids of the rules it targets (a ``rules:`` entry is an id, or ``{id: {parameters}}``)."""
        out: list[str] = []
        for item in self.rules:
            out += [item] if isinstance(item, str) else [str(k) for k in item]
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "seed": self.seed,
            "apis": sorted(self.apis),
            "steps": len(self.timeline),
            "rules": list(self.rules),
            "duration": self.duration,
            "source": self.source,
        }
