"""The JSON report: ``{"version": 1, "client", "scenarios": [{"id", "speed", "warp", "client_exit", "journal",
"rules": [{"id", "severity", "targeted", "verdict", "params", "findings": [{"message", "seqs", "vtime"}]}]}],
"summary": {"pass", "fail", "not_applicable", "inconclusive", "error"}}``."""

from __future__ import annotations

import json as _json

from ..model import Report

__all__ = ["json_report"]


def json_report(report: Report) -> str:
    return _json.dumps(report.to_dict(), indent=2) + "\n"
