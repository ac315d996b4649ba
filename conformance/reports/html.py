"""A single-file HTML report: per scenario, its rules and findings (the timeline picture is drawn from the journal)."""

from __future__ import annotations

import html as _html

from ..model import Report

__all__ = ["html_report"]


def html_report(report: Report) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>conformance report</title></head><body>"]
    parts.append(f"<h1>conformance: {_html.escape(' '.join(report.client))}</h1>")
    for scenario in report.scenarios:
        parts.append(f"<section class='scenario' data-id='{_html.escape(scenario.id)}'><h2>{_html.escape(scenario.id)}</h2><table>")
        for result in scenario.rules:
            findings = "".join(f"<li>{_html.escape(f.message)}</li>" for f in result.findings)
            parts.append(
                f"<tr class='rule {result.verdict}'><td>{result.verdict}</td><td>{result.severity}</td>"
                f"<td>{_html.escape(result.id)}</td><td><ul>{findings}</ul></td></tr>"
            )
        parts.append("</table></section>")
    parts.append("</body></html>\n")
    return "".join(parts)
