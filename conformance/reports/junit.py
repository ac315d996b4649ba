"""JUnit XML: one test suite per scenario, one test case per rule; ``not-applicable`` and ``inconclusive`` are skipped,
a ``fail`` is a failure (``should`` rules too: CI systems show them; the exit code follows the severity), ``error`` an error."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..model import Report

__all__ = ["junit_xml"]


def junit_xml(report: Report) -> str:
    suites = ET.Element("testsuites", name="conformance")
    for scenario in report.scenarios:
        counts = {"tests": len(scenario.rules), "failures": 0, "errors": 0, "skipped": 0}
        suite = ET.SubElement(suites, "testsuite", name=scenario.id)
        properties = ET.SubElement(suite, "properties")
        for name, value in (("speed", scenario.speed), ("warp", scenario.warp), ("client_exit", scenario.client_exit), ("journal", scenario.journal)):
            ET.SubElement(properties, "property", name=name, value="" if value is None else str(value))
        for result in scenario.rules:
            case = ET.SubElement(suite, "testcase", classname=scenario.id, name=f"{result.id} [{result.severity}]")
            text = "\n".join(f"{f.message} (journal seq {', '.join(map(str, f.seqs)) or '-'})" for f in result.findings) or result.reason
            if result.verdict == "fail":
                counts["failures"] += 1
                first = result.findings[0].message if result.findings else result.reason
                ET.SubElement(case, "failure", message=first[:500], type=result.severity).text = text
            elif result.verdict == "error":
                counts["errors"] += 1
                ET.SubElement(case, "error", message=result.reason.splitlines()[0][:500] if result.reason else "error").text = result.reason
            elif result.verdict in ("not-applicable", "inconclusive"):
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"{result.verdict}: {result.reason}")
        for key, value in counts.items():
            suite.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
