"""The ``conformance`` command: exit codes, usage errors that say what is wrong, the observation channel.

Exit codes: 0 when no ``must`` rule failed, 1 when one did, 2 for a usage error or a client that
could not be run at all (command not found, or it exited non-zero before it reached any API).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main
from mockserver.core.journal import Journal

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "fixtures" / "clients"
CONFORMANCE = Path(sys.executable).with_name("conformance")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_console_script_is_installed_and_a_missing_command_is_a_usage_error() -> None:
    done = subprocess.run([str(CONFORMANCE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "run" in done.stderr and "judge" in done.stderr
    module = subprocess.run(
        [sys.executable, "-m", "conformance", "rules", "--api", "luckylobster"], capture_output=True, text=True, timeout=60
    )
    assert module.returncode == 0, module.stderr


@pytest.mark.parametrize("speed", ["1", "60"])
def test_a_client_command_that_does_not_exist_exits_2_naming_it(capsys: pytest.CaptureFixture[str], tmp_path: Path, speed: str) -> None:
    code, _, err = run(
        capsys,
        "run",
        "--quiet",
        "--scenario",
        "luckylobster/action-needed",
        "--speed",
        speed,
        "--out",
        str(tmp_path),
        "--",
        "/nonexistent/agent",
    )
    assert code == 2
    assert "/nonexistent/agent" in err


def test_a_client_that_fails_before_it_reaches_any_api_exits_2_not_as_rule_failures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client = "import sys; print('cannot read my config', file=sys.stderr); sys.exit(3)"
    code, _, err = run(
        capsys,
        "run",
        "--quiet",
        "--scenario",
        "luckylobster/action-needed",
        "--speed",
        "1",
        "--out",
        str(tmp_path),
        "--",
        sys.executable,
        "-c",
        client,
    )
    assert code == 2
    assert "exited 3 before it connected to any API" in err
    assert "cannot read my config" in err


def test_a_client_that_exits_cleanly_without_connecting_fails_the_targeted_rules(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    code, _, _ = run(
        capsys,
        "run",
        "--quiet",
        "--scenario",
        "luckylobster/short-nap",
        "--speed",
        "1",
        "--out",
        str(tmp_path),
        "--json",
        str(report),
        "--",
        sys.executable,
        "-c",
        "pass",
    )
    assert code == 1
    (scenario,) = json.loads(report.read_text())["scenarios"]
    assert scenario["client_exit"] == 0
    targeted = [rule for rule in scenario["rules"] if rule["targeted"]]
    assert targeted and all(rule["verdict"] == "fail" for rule in targeted)
    assert all("not exercised" in rule["findings"][0]["message"] for rule in targeted)
    assert {rule["verdict"] for rule in scenario["rules"] if not rule["targeted"]} == {"not-applicable"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--scenario", "luckylobster/short-nap"], "give the client's command after --"),
        (["run", "--", "python", "agent.py"], "give --scenario"),
        (["run", "--scenario", "nosuch/*", "--", "python", "agent.py"], "no built-in scenario or file matches"),
        (["judge", "/nonexistent/journal.jsonl"], "no such journal"),
        (["judge", "x.jsonl", "--param", "nonsense"], "expects RULE.PARAM=VALUE"),
        (["judge", "x.jsonl", "--param", "luckylobster.nosuch.rule.x=1"], "unknown rule 'luckylobster.nosuch.rule'"),
        (["judge", "x.jsonl", "--param", "aitrader.heartbeat.min-interval.nosuch=1"], "has no parameter 'nosuch'; it has: minimum"),
        (["judge", "x.jsonl", "--param", "aitrader.heartbeat.min-interval.minimum=soon"], "aitrader.heartbeat.min-interval.minimum"),
    ],
)
def test_usage_errors_exit_2_and_say_what_is_wrong(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_rules_lists_ids_severities_parameters_citations_and_targeting_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "--api", "luckylobster")
    assert code == 0
    assert "luckylobster.heartbeat.honours-next-check-at  [must]" in out
    assert "targeted by: luckylobster/action-needed" in out
    assert "source: " in out and "parameters: " in out
    assert "aitrader." not in out


OBSERVING_CLIENT = """
import json, os, urllib.request
with open(os.environ["MOCK_OBSERVE"], "a") as observe:
    observe.write(json.dumps({"api": "luckylobster", "kind": "processed", "id": 7}) + "\\n")
    observe.write("not json\\n")
    observe.write(json.dumps({"api": "LuckyLobster", "kind": "processed"}) + "\\n")
    observe.write(json.dumps(["api", "kind"]) + "\\n")
request = urllib.request.Request(os.environ["LUCKYLOBSTER_BASE_URL"] + "/heartbeat",
                                 headers={"Authorization": "Bearer " + os.environ["LUCKYLOBSTER_API_KEY"]})
urllib.request.urlopen(request).read()
"""


def test_the_observation_channel_is_folded_into_the_journal_and_bad_lines_are_journaled_as_such(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    override = "luckylobster.heartbeat.not-late.tolerance=20"
    code, _, err = run(capsys, "run", "--quiet", "--scenario", "luckylobster/action-needed", "--speed", "60", "--warp", "none", "--duration", "1m",
                       "--param", override, "--out", str(tmp_path), "--", sys.executable, "-c", OBSERVING_CLIENT)  # fmt: skip
    assert code in (0, 1), err
    journal = tmp_path / "luckylobster_action-needed" / "journal.jsonl"
    entries = Journal.load_jsonl(journal)
    (event,) = [e for e in entries if e.kind == "observe.event"]
    assert (event.api, event.direction, event.data["kind"], event.data["id"]) == ("luckylobster", "in", "processed", 7)
    started = next(e for e in entries if e.kind == "run.started")
    assert event.vtime >= started.vtime
    invalid = [e.data for e in entries if e.kind == "observe.invalid"]
    assert [line["line"] for line in invalid] == ["not json", '{"api": "LuckyLobster", "kind": "processed"}', '["api", "kind"]']
    assert "unknown api 'LuckyLobster'; one of: aitrader" in invalid[1]["error"]
    assert 'expected a JSON object with "api" and "kind"' in invalid[2]["error"]
    assert started.data["params"] == {"luckylobster.heartbeat.not-late": {"tolerance": 20.0}}
    assert started.data["warp"] == "none" and started.data["speed"] == 60
    ended = next(e for e in entries if e.kind == "run.ended")
    assert ended.data == {"exit_status": 0, "how": "exited"}


def test_a_rule_that_needs_the_observation_channel_is_inconclusive_without_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    client = ["env", "-u", "MOCK_OBSERVE", sys.executable, str(CLIENTS / "aitrader_agent.py"), "--no-socket"]
    code, _, err = run(capsys, "run", "--quiet", "--scenario", "aitrader/duplicate-delivery", "--speed", "60", "--duration", "5m",
                       "--out", str(tmp_path), "--json", str(report), "--", *client)  # fmt: skip
    verdicts = {rule["id"]: rule for rule in json.loads(report.read_text())["scenarios"][0]["rules"]}
    duplicates = verdicts["aitrader.heartbeat.ignores-duplicates"]
    assert duplicates["verdict"] == "inconclusive", duplicates
    assert "MOCK_OBSERVE" in duplicates["reason"] and not duplicates["findings"]
    assert code == 0, err  # inconclusive is not a failure


def test_judge_applies_a_parameter_override_over_the_saved_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    mutant = [sys.executable, str(CLIENTS / "luckylobster_agent.py"), "--defect", "early"]  # polls every 10 s
    code, _, err = run(capsys, "run", "--quiet", "--scenario", "luckylobster/action-needed", "--speed", "60", "--duration", "4m",
                       "--out", str(tmp_path), "--", *mutant)  # fmt: skip
    assert code == 1, err
    journal = tmp_path / "luckylobster_action-needed" / "journal.jsonl"
    lenient = tmp_path / "lenient.json"
    # a one-hour resolution of next_check_at forgives polling early: the only must failure goes away
    code, _, _ = run(
        capsys, "judge", str(journal), "--json", str(lenient), "--param", "luckylobster.heartbeat.honours-next-check-at.resolution=1h"
    )
    rules = {rule["id"]: rule for rule in json.loads(lenient.read_text())["scenarios"][0]["rules"]}
    assert rules["luckylobster.heartbeat.honours-next-check-at"]["params"]["resolution"] == 3600
    assert rules["luckylobster.heartbeat.honours-next-check-at"]["verdict"] == "pass"
    assert code == 0


def test_the_readme_rule_table_is_generated_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    code, table, _ = run(capsys, "rules", "--markdown")
    assert code == 0 and table.count("\n") > 10
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- conformance-rules:start -->\n", "<!-- conformance-rules:end -->"
    assert readme.split(start, 1)[1].split(end, 1)[0] == table, "run `make docs` to regenerate the README's rule table"


LUCKYLOBSTER_ONLY = """
import os, time, urllib.request
request = urllib.request.Request(os.environ["LUCKYLOBSTER_BASE_URL"] + "/heartbeat",
                                 headers={"Authorization": "Bearer " + os.environ["LUCKYLOBSTER_API_KEY"]})
urllib.request.urlopen(request).read()
time.sleep(60)
"""


def test_a_run_of_several_scenarios_grades_only_the_apis_the_client_reached(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A client of one API under --all: the other APIs' scenarios are not graded (a single scenario grades all)."""
    report = tmp_path / "report.json"
    code, _, err = run(capsys, "run", "--quiet", "--scenario", "luckylobster/action-needed", "--scenario", "tradeready/ticker-stream",
                       "--speed", "60", "--duration", "1m", "--out", str(tmp_path), "--json", str(report), "--",
                       sys.executable, "-c", LUCKYLOBSTER_ONLY)  # fmt: skip
    scenarios = {s["id"]: s for s in json.loads(report.read_text())["scenarios"]}
    tradeready = scenarios["tradeready/ticker-stream"]["rules"]
    assert tradeready and {rule["verdict"] for rule in tradeready} == {"not-applicable"}, err
    assert all("never reached tradeready" in rule["reason"] for rule in tradeready)
    graded = {rule["verdict"] for rule in scenarios["luckylobster/action-needed"]["rules"]}
    assert "pass" in graded
    # the saved journal says so, and judge gives the same verdicts
    journal = tmp_path / "tradeready_ticker-stream" / "journal.jsonl"
    started = next(e for e in Journal.load_jsonl(journal) if e.kind == "run.started")
    assert started.data["skip_unreached"] is True
    again = tmp_path / "again.json"
    run(capsys, "judge", str(journal), "--json", str(again))
    assert json.loads(again.read_text())["scenarios"][0]["rules"] == tradeready
    # alone, the same scenario grades its API: the targeted rules were not exercised
    code, _, _ = run(capsys, "run", "--quiet", "--scenario", "tradeready/ticker-stream", "--speed", "60", "--duration", "1m",
                     "--out", str(tmp_path / "alone"), "--", sys.executable, "-c", LUCKYLOBSTER_ONLY)  # fmt: skip
    assert code == 1


def test_a_run_of_several_scenarios_in_which_the_client_reached_nothing_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "run", "--quiet", "--scenario", "luckylobster/action-needed", "--scenario", "tradeready/ticker-stream",
                       "--speed", "60", "--duration", "30s", "--out", str(tmp_path), "--",
                       sys.executable, "-c", "import time; time.sleep(60)")  # fmt: skip
    assert code == 1
    assert "reached none of the APIs of the 2 scenarios" in err
