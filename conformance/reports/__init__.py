"""The reports of a run: JSON (``version: 1``), JUnit XML, a single-file HTML report, the terminal's table."""

from __future__ import annotations

from pathlib import Path

from ..model import Report
from .html import html_report
from .json import json_report
from .junit import junit_xml

__all__ = ["html_report", "json_report", "junit_xml", "write_reports"]


def write_reports(report: Report, *, json_path: Path | None = None, junit_path: Path | None = None, html_path: Path | None = None) -> None:
    """Write each report asked for (the directories are made)."""
    for path, render in ((json_path, json_report), (junit_path, junit_xml), (html_path, html_report)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(report), encoding="utf-8")
