"""LuckyLobster's domain on a manual clock: active hours in a time zone, cursors, determinism."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver import Runtime, load_builtin, scenario_from_yaml
from mockserver.apis.luckylobster.domain import ActiveHours
from mockserver.core.clock import parse_instant


@pytest.mark.parametrize(
    ("start", "end", "local", "inside"),
    [
        ("08:00", "22:00", "2026-02-06T07:59:00-05:00", False),
        ("08:00", "22:00", "2026-02-06T08:00:00-05:00", True),
        ("08:00", "22:00", "2026-02-06T21:59:59-05:00", True),
        ("08:00", "22:00", "2026-02-06T22:00:00-05:00", False),
        ("22:00", "06:00", "2026-02-06T23:30:00-05:00", True),  # across midnight
        ("22:00", "06:00", "2026-02-07T05:59:00-05:00", True),
        ("22:00", "06:00", "2026-02-07T06:00:00-05:00", False),
        ("00:00", "00:00", "2026-02-07T03:00:00-05:00", True),  # equal ends: always on
    ],
)
def test_active_hours_windows(start: str, end: str, local: str, inside: bool) -> None:
    assert ActiveHours(start, end, "America/New_York").contains(parse_instant(local)) is inside


def test_active_hours_follow_daylight_saving_time() -> None:
    hours = ActiveHours("08:00", "22:00", "America/New_York")
    # 2026-03-08: clocks go 02:00 EST -> 03:00 EDT. 08:00 local is 13:00Z before, 12:00Z after.
    assert not hours.contains(parse_instant("2026-03-07T12:30:00Z"))  # 07:30 EST
    assert hours.contains(parse_instant("2026-03-08T12:30:00Z"))  # 08:30 EDT
    assert not hours.contains(parse_instant("2026-11-01T12:30:00Z"))  # 07:30 EST again after fall back


def heartbeat(runtime: Runtime) -> dict[str, Any]:
    domain = runtime.apis["luckylobster"]
    body: dict[str, Any] = domain.heartbeat(domain.primary_key(), runtime.clock.now()).body
    return dict(body["data"])


def test_24_virtual_hours_of_sleeping_overnight_on_a_manual_clock() -> None:
    runtime = Runtime(load_builtin("luckylobster/sleeping-overnight"), speed=0)
    answers = []
    for _ in range(24 * 60):  # one heartbeat a virtual minute, as next_check_at suggests
        data = heartbeat(runtime)
        answers.append(data)
        assert parse_instant(data["heartbeat"]["next_check_at"]) == parse_instant(data["timestamp"]) + 60
        runtime.scheduler.advance(parse_instant(data["heartbeat"]["next_check_at"]) - runtime.clock.now())
    sleeping = [a["timestamp"] for a in answers if a["status"] == "SLEEPING"]
    assert (sleeping[0], sleeping[-1], len(sleeping)) == ("2026-02-07T03:00:00Z", "2026-02-07T12:59:00Z", 600)
    woke = next(a for a in answers if a["timestamp"] == "2026-02-07T13:00:00Z")
    assert woke["orderActivity"]["filledSinceLastHeartbeat"] == 1, "the overnight fill is reported on waking"
    assert answers[-1]["heartbeat"]["heartbeat_count"] == 24 * 60
    assert runtime.steps_done == 3


def test_fills_are_counted_per_key_since_its_previous_heartbeat() -> None:
    runtime = Runtime(
        scenario_from_yaml("""
id: t/two-keys
description: two keys share an account
clock: {start: "2026-02-06T14:30:00Z"}
apis: {luckylobster: {state: {keys: [{name: a, active_hours: null}, {name: b, active_hours: null}], open_orders: 5}}}
"""),
        speed=0,
    )
    domain = runtime.apis["luckylobster"]
    a, b = domain.keys.values()
    runtime.emit("luckylobster", "fill", {"count": 2})
    assert domain.heartbeat(a, 0).body["data"]["orderActivity"]["filledSinceLastHeartbeat"] == 2
    assert domain.heartbeat(a, 0).body["data"]["orderActivity"]["filledSinceLastHeartbeat"] == 0
    assert domain.heartbeat(b, 0).body["data"]["orderActivity"]["filledSinceLastHeartbeat"] == 2
    assert domain.heartbeat(a, 0).body["data"]["orderActivity"]["openOrders"] == 3


def test_same_seed_same_values_different_seed_different_values() -> None:
    def snapshot(seed: int) -> Any:
        text = f"id: t/seed\ndescription: d\nseed: {seed}\nclock: {{start: '2026-02-06T14:30:00Z'}}\n"
        runtime = Runtime(scenario_from_yaml(text), speed=0)
        return runtime.apis["luckylobster"].snapshot(), runtime.credentials()

    assert snapshot(5) == snapshot(5)
    assert snapshot(5) != snapshot(6)


def test_state_steps_patch_keys_budget_and_flags() -> None:
    runtime = Runtime(
        scenario_from_yaml("""
id: t/patch
description: change state on the timeline
clock: {start: "2026-02-06T14:30:00Z"}
apis: {luckylobster: {state: {keys: [{name: agent, active_hours: null}], budget: {available: 40, limit: 50}}}}
timeline:
  - at: 1m
    state: {api: luckylobster, set: {keys: {agent: {interval_ms: 300000}}, seek_trades: true, latest_skill_version: 10}}
"""),
        speed=0,
    )
    assert heartbeat(runtime)["status"] == "OK"
    runtime.scheduler.advance(60)
    data = heartbeat(runtime)
    assert data["heartbeat"]["interval_ms"] == 300000 and data["heartbeat"]["latest_skill_version"] == 10
    assert [a["type"] for a in data["actions"]] == ["SEEK_TRADES"]
