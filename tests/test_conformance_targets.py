"""Scenarios name the rules they are meant for (``rules:``); every such id is a registered rule.

A scenario author's mistake there (an unknown id, a parameter the rule lacks, a value that is
not a number) stops ``conformance run`` with exit 2 and ``file:line`` before anything runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.registry import RULES, check_targets
from mockserver.scenario.loader import builtin_scenarios, load_builtin


@pytest.mark.parametrize("scenario_id", sorted(builtin_scenarios()))
def test_every_rule_a_builtin_scenario_targets_is_registered(scenario_id: str) -> None:
    scenario = load_builtin(scenario_id)
    assert not check_targets(scenario)
    for rule_id in scenario.rule_ids():
        assert rule_id in RULES, rule_id


def test_every_registered_rule_is_targeted_by_some_scenario() -> None:
    targeted = {rule_id for scenario_id in builtin_scenarios() for rule_id in load_builtin(scenario_id).rule_ids()}
    untargeted = sorted(rule_id for rule_id in RULES if rule_id not in targeted)
    # some rules hold in every run: cadence, the generic ones (streams, the documents, client errors); the rest have a scenario
    every_run = {
        "aitrader.heartbeat.min-interval",
        "aitrader.heartbeat.recommended-cadence",
        "aitrader.heartbeat.max-interval",
        "luckylobster.heartbeat.not-late",
    }
    generic = (".stream.", ".contract.", ".protocol.")
    assert [rule_id for rule_id in untargeted if rule_id not in every_run and not any(g in rule_id for g in generic)] == []


BROKEN = """\
id: broken/rules
description: a scenario whose rules are wrong
apis:
  luckylobster: {}
rules:
  - luckylobster.heartbeat.honours-next-check
  - luckylobster.heartbeat.not-late: {slack: 3}
  - luckylobster.http.no-retry-storm: {max_requests: "many"}
"""


def test_a_scenario_with_wrong_rules_stops_the_run_with_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scenario = tmp_path / "broken.yaml"
    scenario.write_text(BROKEN)
    code = main(["run", "--quiet", "--scenario", str(scenario), "--out", str(tmp_path), "--", sys.executable, "-c", "pass"])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        f"{scenario}:6: rules: unknown rule 'luckylobster.heartbeat.honours-next-check'; did you mean 'luckylobster.heartbeat.honours-next-check-at'?"
        in err
    )
    assert f"{scenario}:7: rules: luckylobster.heartbeat.not-late has no parameter 'slack'; it has: late_factor, tolerance" in err
    assert f"{scenario}:8: rules: luckylobster.http.no-retry-storm.max_requests: expected a number (default 3), got 'many'" in err
    assert not (tmp_path / "broken_rules").exists()  # nothing ran
