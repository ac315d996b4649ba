"""Scenarios: the model, the JSON Schema and the YAML loader."""

from .loader import builtin_scenarios, load_builtin, load_scenario, resolve_scenario, scenario_from_yaml
from .model import ApiSettings, ClockSettings, Scenario, Step
from .schema import scenario_schema

__all__ = [
    "ApiSettings",
    "ClockSettings",
    "Scenario",
    "Step",
    "builtin_scenarios",
    "load_builtin",
    "load_scenario",
    "resolve_scenario",
    "scenario_from_yaml",
    "scenario_schema",
]
