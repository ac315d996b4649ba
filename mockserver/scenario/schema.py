"""The published JSON Schema of a scenario file (``mockserver schema``)."""

from __future__ import annotations

from typing import Any

from ..apis.registry import APIS
from ..core.durations import DURATION_SCHEMA
from ..faults.model import FAULT_SCHEMA

__all__ = ["SCENARIO_ID_PATTERN", "scenario_schema"]

SCENARIO_ID_PATTERN = r"^[a-z0-9][a-z0-9._/-]*$"
RULE_ID_PATTERN = r"^[a-z0-9_-]+(\.[a-z0-9_-]+)+$"


def _api_settings(name: str) -> dict[str, Any]:
    api = APIS[name]
    return {
        "type": "object",
        "additionalProperties": False,
        "description": api.title,
        "properties": {
            "profile": {"enum": list(api.profiles), "description": "documented: what the seed says; upstream: what the public server does"},
            "options": dict(api.options_schema) or {"type": "object"},
            "state": dict(api.state_schema) or {"type": "object"},
        },
    }


def scenario_schema() -> dict[str, Any]:
    step_actions: dict[str, Any] = {
        "state": {
            "type": "object",
            "additionalProperties": False,
            "required": ["api", "set"],
            "description": "change an API's state",
            "properties": {"api": {"enum": list(APIS)}, "set": {"type": "object"}},
        },
        "emit": {
            "type": "object",
            "additionalProperties": False,
            "required": ["api", "event"],
            "description": "an event happens in an API (its effect depends on the API)",
            "properties": {"api": {"enum": list(APIS)}, "event": {"type": "string"}, "data": {"type": "object"}},
        },
        "fault": {**FAULT_SCHEMA, "description": "start a fault"},
        "stop_fault": {"type": "string", "description": "stop the fault with this id"},
        "note": {"type": "string", "description": "a marker in the journal"},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://agentfeed-mock.invalid/schemas/scenario.json",
        "title": "agentfeed-mock scenario",
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "description"],
        "properties": {
            "id": {"type": "string", "pattern": SCENARIO_ID_PATTERN},
            "description": {"type": "string", "minLength": 1},
            "seed": {"type": "integer"},
            "clock": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "start": {"type": "string", "description": "'now' or an ISO 8601 instant (with an offset, or UTC)"},
                    "speed": {"type": "number", "minimum": 0, "description": "virtual seconds per real second; 0 = manual"},
                    "wait_for_client": {
                        "type": "boolean",
                        "description": "hold the clock at its start until the first client connects to any API (or the control API starts it)",
                    },
                },
            },
            "apis": {
                "type": "object",
                "additionalProperties": False,
                "properties": {name: _api_settings(name) for name in APIS},
            },
            "timeline": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["at"],
                    "properties": {
                        "at": {**DURATION_SCHEMA, "description": "virtual offset from the scenario start"},
                        "every": {**DURATION_SCHEMA, "description": "repeat this step this often"},
                        "count": {"type": "integer", "minimum": 1, "description": "how many times in all (with every)"},
                        **step_actions,
                    },
                },
            },
            "rules": {
                "type": "array",
                "description": "the conformance rules this scenario is meant for: ids, or {id: {parameter: value}} to set a rule's parameters",
                "items": {
                    "oneOf": [
                        {"type": "string", "pattern": RULE_ID_PATTERN},
                        {
                            "type": "object",
                            "minProperties": 1,
                            "maxProperties": 1,
                            "propertyNames": {"pattern": RULE_ID_PATTERN},
                            "additionalProperties": {"type": ["object", "null"]},
                        },
                    ]
                },
                "uniqueItems": True,
            },
            "duration": {**DURATION_SCHEMA, "description": "how long a conformance run of this scenario lasts (virtual time)"},
        },
    }
