"""Rules: small registered functions over the evidence, with stable dotted ids, a severity, parameters.

::

    @rule(
        "luckylobster.heartbeat.honours-next-check-at",
        severity="must",
        api="luckylobster",
        summary="Never polls before next_check_at.",
        cites='LuckyLobster heartbeat docs: "Use next_check_at as a scheduling suggestion."',
        params={"tolerance": 1.0},
    )
    def honours_next_check_at(ev: Evidence, p: Params) -> Iterator[Finding]:
        ...

A rule yields a :class:`Finding` for each failure it sees (none: it passes), or raises
:class:`NotApplicable` (nothing in this run it could judge) or :class:`Inconclusive` (it needs the
observation channel, which the client did not use). Anything else it raises is reported as the
verdict ``error``: a bug of ours, never the client's.
"""

from __future__ import annotations

import difflib
import math
import re
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mockserver.scenario.model import Scenario

from .evidence import Evidence
from .model import Finding, RuleResult, Severity

__all__ = [
    "RULES",
    "Inconclusive",
    "NotApplicable",
    "NotChosen",
    "Params",
    "Rule",
    "RuleCheck",
    "Violation",
    "check_targets",
    "judge",
    "registered",
    "rule",
    "rules_for",
]

RULE_ID = re.compile(r"^[a-z]+(\.[a-z0-9]+(-[a-z0-9]+)*){2}$")

Params = Mapping[str, Any]
RuleCheck = Callable[[Evidence, Params], Iterable[Finding]]


class NotApplicable(Exception):
    """Nothing in this run that the rule could judge (why: the message)."""


class NotChosen(NotApplicable):
    """The client did not opt into what the rule grades (an optional feature, such as TradeReady's
    ``ticker:all`` wildcard): not applicable even where the scenario targets the rule."""


class Inconclusive(Exception):
    """The rule needs evidence the client did not give (the observation channel)."""


class Violation(AssertionError):
    """A client broke rules: each result's findings, with the journal seqs that prove them (the pytest plugin's ``judge``)."""

    def __init__(self, *results: RuleResult) -> None:
        self.results = results
        self.result = results[0]
        lines = [f"the client broke {len(results)} rule{'s' if len(results) != 1 else ''}:"] if len(results) > 1 else []
        for result in results:
            lines.append(f"{result.id} ({result.severity}): {result.verdict}")
            lines += [f"  - {f.message} (journal seq {', '.join(map(str, f.seqs)) or '-'})" for f in result.findings]
            if result.reason:
                lines.append(f"  {result.reason}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    api: str
    summary: str
    #: the document line (or protocol fact) the rule comes from
    cites: str
    check: RuleCheck
    params: Mapping[str, Any] = field(default_factory=dict)
    #: it reads what the client says it handled (MOCK_OBSERVE)
    observes: bool = False

    @property
    def description(self) -> str:
        return f"{self.summary} ({self.cites})"


RULES: dict[str, Rule] = {}


def rule(
    rule_id: str,
    *,
    severity: Severity,
    api: str,
    summary: str,
    cites: str,
    params: Mapping[str, Any] | None = None,
    observes: bool = False,
) -> Callable[[RuleCheck], RuleCheck]:
    """Register a rule (at import; ids are unique, ``<api>.<area>.<behaviour>``, and never change meaning)."""
    if not RULE_ID.match(rule_id) or not rule_id.startswith(api + "."):
        raise ValueError(f"rule id {rule_id!r}: expected <api>.<area>.<behaviour> under {api!r}")
    if rule_id in RULES:
        raise ValueError(f"rule {rule_id!r} is registered twice")

    def register(check: RuleCheck) -> RuleCheck:
        RULES[rule_id] = Rule(rule_id, severity, api, summary, cites, check, dict(params or {}), observes)
        return check

    return register


def rules_for(apis: Iterable[str]) -> list[Rule]:
    """The rules of these APIs, in id order."""
    wanted = set(apis)
    _load()
    return sorted((r for r in RULES.values() if r.api in wanted), key=lambda r: r.id)


def _load() -> None:
    from . import rules  # noqa: F401 - registers every rule


def registered() -> Mapping[str, Rule]:
    """Every rule, by id (importing the rule modules first)."""
    _load()
    return RULES


def _targets(raw: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """A scenario's ``rules:`` (ids, or ``{id: {param: value}}``) as id -> parameter overrides."""
    out: dict[str, dict[str, Any]] = {}
    for item in raw:
        if isinstance(item, str):
            out[item] = {}
        elif isinstance(item, Mapping):
            for rule_id, params in item.items():
                out[str(rule_id)] = dict(params or {})
    return out


def check_targets(scenario: Scenario) -> list[str]:
    """What is wrong with a scenario's ``rules:`` (the scenario author's mistakes), as ``file:line: ...``."""
    _load()
    where = scenario.source or scenario.id
    problems = []
    for rule_id, params in _targets(scenario.rules).items():
        place = f"{where}:{scenario.rule_lines.get(rule_id, 1)}: rules"
        spec = RULES.get(rule_id)
        if spec is None:
            close = difflib.get_close_matches(rule_id, list(RULES), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; `conformance rules` lists them ({len(RULES)} rules)"
            problems.append(f"{place}: unknown rule {rule_id!r}{hint}")
            continue
        for name, value in params.items():
            if name not in spec.params:
                problems.append(f"{place}: {rule_id} has no parameter {name!r}; it has: {', '.join(spec.params) or 'none'}")
            elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                default = spec.params[name]
                problems.append(f"{place}: {rule_id}.{name}: expected a number (default {default!r}), got {value!r}")
    return problems


def judge(
    evidence: Evidence,
    *,
    apis: Iterable[str] | None = None,
    only: Callable[[str], bool] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[RuleResult]:
    """Every rule of the run's APIs over ``evidence``.

    ``apis``: the APIs whose rules apply (default: the scenario's, from ``scenario.loaded``);
    ``only``: keep the rules whose id it accepts; ``overrides``: rule id -> parameters, over the
    scenario's own (a ``rules:`` entry may carry parameters) and the rule's defaults. A targeted
    rule (named in the scenario's ``rules:``) that finds nothing to judge fails: "not exercised",
    unless the client did not opt into what it grades (``NotChosen``).
    """
    _load()
    targets = _targets(evidence.targets())
    chosen = list(apis) if apis is not None else list(evidence.loaded.get("apis") or [])
    results = []
    for spec in rules_for(chosen):
        if only is not None and not only(spec.id):
            continue
        params = {**spec.params, **targets.get(spec.id, {}), **dict((overrides or {}).get(spec.id, {}))}
        results.append(run_rule(spec, evidence, params, targeted=spec.id in targets))
    return results


def run_rule(spec: Rule, evidence: Evidence, params: Mapping[str, Any], *, targeted: bool) -> RuleResult:
    """One rule's verdict."""

    def result(verdict: Any, findings: tuple[Finding, ...] = (), reason: str = "") -> RuleResult:
        return RuleResult(spec.id, spec.severity, targeted, verdict, dict(params), findings, spec.description, reason)

    try:
        findings = tuple(_findings(spec.check(evidence, params)))
    except NotApplicable as exc:
        if targeted and not isinstance(exc, NotChosen):
            return result("fail", (Finding(f"not exercised: the scenario targets this rule, but {exc}"),), str(exc))
        return result("not-applicable", reason=str(exc))
    except Inconclusive as exc:
        return result("inconclusive", reason=str(exc))
    except Exception as exc:  # a bug of ours
        return result("error", reason=f"the rule crashed (a bug of agentfeed-mock): {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    return result("fail" if findings else "pass", findings)


def _findings(found: Iterable[Finding]) -> Iterator[Finding]:
    for finding in found:
        if not isinstance(finding, Finding):
            raise TypeError(f"a rule yields Findings, got {finding!r}")
        yield finding
