"""The validator catches what would silently never fire, in one pass with the schema's problems, with precise messages."""

from __future__ import annotations

import pytest

from mockserver import ScenarioError, scenario_from_yaml


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        scenario_from_yaml(text, source="s.yaml")
    return info.value.problems


HEAD = "id: t/semantics\ndescription: what never fires\nseed: 1\n"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            "{kind: error, api: luckylobster, route: /api/agent/v1/hartbeat, status: 503}",
            "fault.route: no route of luckylobster matches '/api/agent/v1/hartbeat'; did you mean '/api/agent/v1/heartbeat'?",
        ),
        ("{kind: silence, api: luckylobster, route: /api/agent/v1/heartbeat}", "fault.kind: a silence fault acts on"),
        ("{kind: silence, api: luckylobster}", "luckylobster's routes (http) has none, so it would never fire"),
        ("{kind: cut, api: tradeready}", "a cut fault acts on event streams"),
        ("{kind: error, api: luckylobster, status: 302}", "fault.status: an error fault answers an error: 302 is not one"),
        ("{kind: refuse, api: luckylobster, route: /api/agent/v1/heartbeat}", "a refuse fault refuses every connection to the API"),
        ("{kind: error, api: aitrader, route: /api/signals/feed, method: POST}", "takes POST"),
        ("{kind: close, route: /nowhere}", "no route of any API matches '/nowhere'"),
    ],
)
def test_a_fault_that_would_never_fire_is_an_error(fault: str, expected: str) -> None:
    found = problems(HEAD + f"timeline:\n  - {{at: 1m, fault: {fault}}}\n")
    assert len(found) == 1 and expected in found[0], found
    assert found[0].startswith("s.yaml:5:"), "with the line of the step"


@pytest.mark.parametrize(
    "fault",
    [
        "{kind: error, api: aitrader, route: /api/signals/42/replies, status: 503}",
        "{kind: latency, api: aitrader, route: '/api/signals/*', delay: 1s}",
        "{kind: close, api: cryptorobot, route: /socket.io/}",
        "{kind: error, api: cryptorobot, route: /strategies, status: 500}",
        "{kind: cut, api: tradingpartners, route: /api/v1/alerts}",
        "{kind: silence}",
        "{kind: refuse, api: tradeready}",
    ],
)
def test_faults_that_do_fire_are_accepted(fault: str) -> None:
    scenario_from_yaml(HEAD + f"timeline:\n  - {{at: 1m, fault: {fault}}}\n")


def test_schema_and_meaning_are_checked_in_one_pass_with_one_path_style() -> None:
    found = problems(
        HEAD
        + """apis:
  luckylobster:
    state:
      keys: [{name: a, active_hours: {start: "25:00", end: "17:00", timezone: America/New_York}}]
timeline:
  - {at: 1m, emit: {api: luckylobster}}
  - {at: 2m, fault: {kind: error, api: luckylobster, route: /api/agent/v1/hartbeat}}
"""
    )
    assert len(found) == 3, found
    hours, emit, route = found
    assert "apis.luckylobster.state.keys[0].active_hours.start: '25:00' is not valid; expected HH:MM, 24-hour clock" in hours
    assert hours.startswith("s.yaml:7:"), "where the wrong value is"
    assert "timeline[0].emit: 'event' is missing (keys here: api)" in emit, "the keys that are there, not the allowed ones"
    assert "timeline[1].fault.route: no route of luckylobster" in route, "the schema's problems do not hide the others"


def test_a_misspelt_required_key_is_reported_once_as_the_misspelling() -> None:
    found = problems("id: t/x\ndescripton: oops\n")
    assert found == [
        "s.yaml:2:1: unknown key 'descripton' in the scenario; expected one of: apis, clock, description, duration, id, rules, seed, timeline; did you mean 'description'?"
    ]
