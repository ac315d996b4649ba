"""Scenario files: every built-in one is valid; broken ones get file:line:col, expectation, suggestion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mockserver.core.errors import ScenarioError
from mockserver.scenario.loader import builtin_scenarios, load_builtin, load_scenario, scenario_from_yaml

INVALID = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "invalid"


def problems(name: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(INVALID / name)
    return info.value.problems


@pytest.mark.parametrize("scenario_id", sorted(builtin_scenarios()))
def test_builtin_scenarios_load_and_their_ids_match_their_paths(scenario_id: str) -> None:
    scenario = load_builtin(scenario_id)
    assert scenario.id == scenario_id
    assert scenario.description


def test_the_required_builtin_scenarios_exist() -> None:
    assert {
        "demo",
        "luckylobster/sleeping-overnight",
        "luckylobster/action-needed",
        "luckylobster/rate-limited",
        "luckylobster/server-errors",
    } <= set(builtin_scenarios())


def test_misspelt_key_gets_position_expected_keys_and_suggestion() -> None:
    [problem, *rest] = problems("misspelt-key.yaml")
    assert problem.startswith(f"{INVALID / 'misspelt-key.yaml'}:2:1: unknown key 'descripton'")
    assert "expected one of: apis, clock, description, duration, id, rules, seed, timeline" in problem
    assert problem.endswith("did you mean 'description'?")


def test_bad_values_are_all_reported_with_their_lines() -> None:
    found = problems("bad-values.yaml")
    text = "\n".join(found)
    assert ":5:14: apis.luckylobster.profile: 'documentd' is not allowed; expected one of: documented; did you mean 'documented'?" in text
    assert ":9:11: unknown key 'intervall_ms'" in text and "did you mean 'interval_ms'?" in text
    assert ":11:9: timeline[0].at: '5x' is not a duration" in text


def test_semantic_problems_name_the_step_and_suggest() -> None:
    text = "\n".join(problems("bad-semantics.yaml"))
    assert ":7:66: apis.luckylobster.state.keys[0].active_hours.timezone: unknown IANA time zone 'America/New_Yrok'" in text
    assert ":10:38: timeline[0].emit.event: luckylobster has no event 'fil'" in text and "did you mean 'fill'?" in text
    assert "timeline[1].stop_fault: no fault 'storm' was started before this step" in text
    assert "timeline[2]: a step needs exactly one action" in text


def test_unsafe_yaml_tags_are_refused() -> None:
    text = "\n".join(problems("unsafe.yaml"))
    assert "unsafe.yaml:2:14" in text and "python/object/apply" in text


def test_not_yaml_and_not_a_mapping() -> None:
    with pytest.raises(ScenarioError, match=r"<s>:1:\d+: not valid YAML"):
        scenario_from_yaml("id: [unclosed", source="<s>")
    with pytest.raises(ScenarioError, match="expected a mapping"):
        scenario_from_yaml("- a\n- b\n", source="<s>")
    with pytest.raises(ScenarioError, match="duplicate key 'id'"):
        scenario_from_yaml("id: a\nid: b\ndescription: x\n", source="<s>")


def test_steps_are_ordered_and_durations_parsed() -> None:
    scenario = scenario_from_yaml(
        "id: t\ndescription: d\ntimeline:\n  - {at: 5m, note: later}\n  - {at: 90, note: sooner, every: 10s, count: 3}\n"
    )
    assert [(s.at, s.args["text"], s.every, s.count) for s in scenario.timeline] == [(90, "sooner", 10, 3), (300, "later", None, None)]


def test_cli_validate_exits_non_zero_with_the_position() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mockserver", "validate", str(INVALID / "misspelt-key.yaml")], capture_output=True, text=True, check=False
    )
    assert run.returncode == 1
    assert "misspelt-key.yaml:2:1: unknown key 'descripton'" in run.stderr and "did you mean 'description'?" in run.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "mockserver", "validate", str(builtin_scenarios()["demo"])], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0 and ": ok (demo" in ok.stdout


def test_cli_schema_and_scenarios() -> None:
    schema = subprocess.run([sys.executable, "-m", "mockserver", "schema"], capture_output=True, text=True, check=True)
    assert '"additionalProperties": false' in schema.stdout
    listing = subprocess.run([sys.executable, "-m", "mockserver", "scenarios"], capture_output=True, text=True, check=True)
    assert "luckylobster/sleeping-overnight" in listing.stdout


ALIAS_BOMB = "id: t\ndescription: d\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ALIAS_BOMB, "expands to more than 200000 values"),
        ("id: t\ndescription: d\nbase: &b {seed: 1}\nclock:\n  <<: *b\n", ":5:3: YAML merge keys (<<) are not supported"),
        ("id: t\ndescription: d\nclock: {speed: .nan}\n", ":3:16: clock.speed: nan is not a finite number"),
        (
            "id: t\ndescription: d\nclock: {start: '9999-12-31T23:59:59-10:00'}\n",
            "clock.start: '9999-12-31T23:59:59-10:00' is out of range",
        ),
        (
            "id: t\ndescription: d\ntimeline:\n  - {at: 2m, fault: {id: f, kind: error}}\n  - {at: 1m, stop_fault: f}\n",
            "timeline[1].stop_fault: no fault 'f' was started before this step",
        ),
    ],
)
def test_hostile_or_impossible_scenarios_are_refused_quickly(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_yaml(text, source="<s>")
    assert expected in str(info.value)


def test_luckylobster_key_references_duplicates_and_zones_in_state_steps() -> None:
    text = """id: t
description: d
apis:
  luckylobster:
    state:
      keys:
        - {name: a, key: ll_aaaaaaaaaaaa}
        - {name: b, key: ll_aaaaaaaaaaaa}
        - {name: c, key: ll_cccccccccccc, copies: 2}
timeline:
  - {at: 1m, state: {api: luckylobster, set: {keys: {nobody: {interval_ms: 5000}}}}}
  - {at: 2m, state: {api: luckylobster, set: {keys: {a: {active_hours: {start: "08:00", end: "09:00", timezone: Mars/Olympus}}}}}}
"""
    with pytest.raises(ScenarioError) as info:
        scenario_from_yaml(text, source="<s>")
    text_out = str(info.value)
    assert "keys[1].key: the key 'll_aaaaaaaaaaaa' is already keys[0]" in text_out
    assert "keys[2].copies: copies > 1 generates the keys" in text_out
    assert "<s>:11:" in text_out and "no key named 'nobody'" in text_out
    assert "unknown IANA time zone 'Mars/Olympus'" in text_out
