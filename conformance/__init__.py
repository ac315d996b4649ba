"""The client conformance suite: run any client against the scenarios and grade what it did on the wire.

Rules are small registered functions over the journal (:mod:`conformance.registry`, the rules in
:mod:`conformance.rules`); :func:`judge` grades a journal; the runner (:mod:`conformance.runner`)
runs a client in warped time; ``conformance run|judge|rules`` is the command line.
"""

from .evidence import Evidence
from .model import Finding, Report, RuleResult, ScenarioResult, Severity, Verdict, Window
from .registry import RULES, Inconclusive, NotApplicable, NotChosen, Rule, Violation, judge, rule

__all__ = [
    "RULES",
    "Evidence",
    "Finding",
    "Inconclusive",
    "NotApplicable",
    "NotChosen",
    "Report",
    "Rule",
    "RuleResult",
    "ScenarioResult",
    "Severity",
    "Verdict",
    "Violation",
    "Window",
    "judge",
    "rule",
]
