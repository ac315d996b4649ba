"""The JSON report (``version: 1``) and its JSON Schema.

``{"version": 1, "client": [...], "scenarios": [{"id", "speed", "warp", "client_exit", "journal",
"start"?, "duration"?, "error"?, "rules": [{"id", "severity", "targeted", "verdict", "params",
"reason"?, "findings": [{"message", "seqs", "vtime", "expected"?: {"start", "end", "label"}}]}]}],
"summary": {"pass", "fail", "not_applicable", "inconclusive", "error"}}``: instants are virtual
epoch seconds, ``duration`` virtual seconds, ``seqs`` the journal entries a finding rests on.
"""

from __future__ import annotations

import json as _json
from typing import Any

from ..model import REPORT_VERSION, VERDICTS, Report

__all__ = ["REPORT_SCHEMA", "json_report"]

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_WINDOW = {
    "type": "object",
    "required": ["start", "end", "label"],
    "additionalProperties": False,
    "properties": {"start": {"type": "number"}, "end": {"type": "number"}, "label": {"type": "string"}},
}
_FINDING = {
    "type": "object",
    "required": ["message", "seqs", "vtime"],
    "additionalProperties": False,
    "properties": {
        "message": {"type": "string"},
        "seqs": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        "vtime": _NUMBER_OR_NULL,
        "expected": _WINDOW,
    },
}
_RULE = {
    "type": "object",
    "required": ["id", "severity", "targeted", "verdict", "params", "findings"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "severity": {"enum": ["must", "should"]},
        "targeted": {"type": "boolean"},
        "verdict": {"enum": list(VERDICTS)},
        "params": {"type": "object"},
        "findings": {"type": "array", "items": _FINDING},
        "reason": {"type": "string"},
    },
}
_SCENARIO = {
    "type": "object",
    "required": ["id", "speed", "warp", "client_exit", "journal", "rules"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "speed": {"type": "number"},
        "warp": {"type": "string"},
        "client_exit": {"type": ["integer", "null"]},
        "journal": {"type": ["string", "null"]},
        "start": {"type": "number"},
        "duration": {"type": "number"},
        "error": {"type": "string"},
        "rules": {"type": "array", "items": _RULE},
    },
}
#: The JSON Schema (2020-12) of the JSON report.
REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "agentfeed-mock conformance report",
    "type": "object",
    "required": ["version", "client", "scenarios", "summary"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": REPORT_VERSION},
        "client": {"type": "array", "items": {"type": "string"}},
        "scenarios": {"type": "array", "items": _SCENARIO},
        "summary": {
            "type": "object",
            "required": [v.replace("-", "_") for v in VERDICTS],
            "additionalProperties": False,
            "properties": {v.replace("-", "_"): {"type": "integer", "minimum": 0} for v in VERDICTS},
        },
    },
}


def json_report(report: Report) -> str:
    return _json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
