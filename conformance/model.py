"""What grading produces: verdicts, findings, results per rule and scenario, and the report (frozen values).

The JSON report (``version: 1``) is these values' ``to_dict()``; the JUnit, terminal and HTML
reports are made from the same values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = [
    "REPORT_VERSION",
    "VERDICTS",
    "Finding",
    "Report",
    "RuleResult",
    "ScenarioResult",
    "Severity",
    "Verdict",
    "Window",
]

REPORT_VERSION = 1
#: ``must``: a failure fails the run; ``should``: a failure fails it only with ``--strict``.
Severity = Literal["must", "should"]
#: ``not-applicable``: no evidence in this run (a failure, "not exercised", when the scenario targets the rule);
#: ``inconclusive``: the rule needs the observation channel and the client did not use it;
#: ``error``: the rule itself crashed (a bug of ours, reported as such).
Verdict = Literal["pass", "fail", "not-applicable", "inconclusive", "error"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)


@dataclass(frozen=True, slots=True)
class Window:
    """A span of virtual time a finding expected something in (the HTML timeline draws it)."""

    start: float
    end: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """Why a rule failed: a sentence a person can act on, the journal entries that prove it, when."""

    message: str
    seqs: tuple[int, ...] = ()
    vtime: float | None = None
    expected: Window | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "seqs": list(self.seqs), "vtime": self.vtime}
        if self.expected is not None:
            out["expected"] = {"start": self.expected.start, "end": self.expected.end, "label": self.expected.label}
        return out


@dataclass(frozen=True, slots=True)
class RuleResult:
    id: str
    severity: Severity
    targeted: bool
    verdict: Verdict
    params: Mapping[str, Any]
    findings: tuple[Finding, ...] = ()
    description: str = ""
    #: for not-applicable / inconclusive / error: why
    reason: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict in ("fail", "error")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "severity": self.severity,
            "targeted": self.targeted,
            "verdict": self.verdict,
            "params": dict(self.params),
            "findings": [f.to_dict() for f in self.findings],
        }
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    id: str
    speed: float
    warp: str
    client_exit: int | None
    journal: str | None
    rules: tuple[RuleResult, ...]
    #: the run's virtual start instant and length (the HTML timeline's axis)
    start: float | None = None
    duration: float | None = None
    #: why the client could not be graded at all (it did not run), if so
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "speed": self.speed,
            "warp": self.warp,
            "client_exit": self.client_exit,
            "journal": self.journal,
            "rules": [r.to_dict() for r in self.rules],
        }
        if self.start is not None:
            out["start"] = self.start
        if self.duration is not None:
            out["duration"] = self.duration
        if self.error:
            out["error"] = self.error
        return out


@dataclass(frozen=True, slots=True)
class Report:
    client: tuple[str, ...]
    scenarios: tuple[ScenarioResult, ...] = field(default_factory=tuple)

    def summary(self) -> dict[str, int]:
        counts = Counter(r.verdict for s in self.scenarios for r in s.rules)
        return {verdict.replace("-", "_"): counts.get(verdict, 0) for verdict in VERDICTS}

    def failed(self, *, strict: bool = False) -> bool:
        """Did a ``must`` rule (with ``strict``, any rule) fail or crash?"""
        return any(r.failed and (strict or r.severity == "must") for s in self.scenarios for r in s.rules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "client": list(self.client),
            "scenarios": [s.to_dict() for s in self.scenarios],
            "summary": self.summary(),
        }


def merge(reports: Sequence[Report]) -> Report:
    """One report of several (the scenarios of each, in order)."""
    client = reports[0].client if reports else ()
    return Report(client, tuple(s for r in reports for s in r.scenarios))
