"""JUnit XML, as Jenkins, GitLab, GitHub's test reporters and Azure DevOps read it.

``<testsuites>`` (totals) holds one ``<testsuite>`` per scenario (its ``<properties>``: speed,
warp, the client's exit, the journal, the virtual start and length, the client's command) with one
``<testcase>`` per rule (``classname`` the scenario, ``name`` the rule id and severity). A ``fail``
is a ``<failure>`` (``should`` rules too: CI systems show them; the exit code follows the
severity), ``error`` an ``<error>``, ``not-applicable`` and ``inconclusive`` are ``<skipped>``;
each says why in ``message`` and, in full, in its text (every finding with its journal entries and
expected window). A client that could not be graded at all is one more test case, in error.
``time`` is real seconds (the virtual length over the speed). Text is cleaned of the characters
XML 1.0 cannot carry (a finding may quote what a client sent).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from mockserver.core.clock import format_instant

from ..model import Finding, Report, RuleResult, ScenarioResult

__all__ = ["junit_xml"]

#: Characters XML 1.0 does not allow (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MESSAGE_CHARS = 500


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _message(text: str) -> str:
    line = _clean(text.strip().splitlines()[0] if text.strip() else "")
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "\u2026"


def _finding_text(finding: Finding) -> str:
    parts = [finding.message]
    if finding.vtime is not None:
        parts.append(f"at {format_instant(finding.vtime, precision='ms')}")
    if finding.expected is not None:
        window = finding.expected
        parts.append(
            f"expected {format_instant(window.start, precision='ms')} .. {format_instant(window.end, precision='ms')}"
            + (f" ({window.label})" if window.label else "")
        )
    parts.append(f"journal seq {', '.join(map(str, finding.seqs)) or '-'}")
    return "\n    ".join(parts)


def _seconds(scenario: ScenarioResult) -> float:
    if scenario.duration is None or not scenario.speed:
        return 0.0
    return scenario.duration / scenario.speed


def _case(suite: ET.Element, scenario: ScenarioResult, result: RuleResult) -> str | None:
    """One rule's test case; returns what it counts as (failure, error, skipped) or None for a pass."""
    case = ET.SubElement(suite, "testcase", classname=_clean(scenario.id), name=_clean(f"{result.id} [{result.severity}]"), time="0")
    params = ", ".join(f"{k}={v!r}" for k, v in result.params.items())
    context = (
        f"rule {result.id} ({result.severity}{', targeted by the scenario' if result.targeted else ''}); parameters: {params or 'none'}"
    )
    if result.verdict == "fail":
        first = result.findings[0].message if result.findings else result.reason or "failed"
        text = "\n".join(f"- {_finding_text(f)}" for f in result.findings) or result.reason
        failure = ET.SubElement(case, "failure", message=_message(first), type=result.severity)
        failure.text = _clean(f"{text}\n\n{context}\njournal: {scenario.journal or '-'}")
        return "failures"
    if result.verdict == "error":
        error = ET.SubElement(case, "error", message=_message(result.reason or "the rule crashed"), type="rule-error")
        error.text = _clean(f"{result.reason}\n\n{context}")
        return "errors"
    if result.verdict in ("not-applicable", "inconclusive"):
        ET.SubElement(case, "skipped", message=_message(f"{result.verdict}: {result.reason}"), type=result.verdict)
        return "skipped"
    return None


def junit_xml(report: Report) -> str:
    suites = ET.Element("testsuites", name="conformance")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for scenario in report.scenarios:
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        seconds = _seconds(scenario)
        suite = ET.SubElement(suites, "testsuite", name=_clean(scenario.id))
        properties = ET.SubElement(suite, "properties")
        values = {
            "speed": f"{scenario.speed:g}",
            "warp": scenario.warp,
            "client_exit": "" if scenario.client_exit is None else str(scenario.client_exit),
            "journal": scenario.journal or "",
            "start": format_instant(scenario.start, precision="ms") if scenario.start is not None else "",
            "duration": f"{scenario.duration:g}" if scenario.duration is not None else "",
            "client": " ".join(report.client),
        }
        for name, text in values.items():
            ET.SubElement(properties, "property", name=name, value=_clean(text))
        for result in scenario.rules:
            counts["tests"] += 1
            counted = _case(suite, scenario, result)
            if counted is not None:
                counts[counted] += 1
        if scenario.error:
            counts["tests"] += 1
            counts["errors"] += 1
            case = ET.SubElement(suite, "testcase", classname=_clean(scenario.id), name="the client ran", time="0")
            ET.SubElement(case, "error", message=_message(scenario.error), type="client").text = _clean(scenario.error)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{seconds:.3f}")
        total_time += seconds
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{total_time:.3f}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
