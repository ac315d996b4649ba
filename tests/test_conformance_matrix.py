"""Every rule is proven: the reference clients pass every rule, and each mutant fails exactly its own rule and no other.

Each case (``tests/matrix/<api>.py``) is a real ``conformance run`` of a real client program,
under time warp where the rule is about time, in parallel; the speeds keep every protocol
deadline at least 100 ms of real time, and every case runs at least ``MIN_REAL_SECONDS`` (a
client's start on a loaded machine must not eat the scenario). ``conformance judge`` on each
saved journal must give the same verdicts as the live run.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import conformance.rules  # noqa: F401  (registers every rule)
from conformance.registry import RULES
from conformance.runner import judge_journal
from tests.matrix import ROOT, Case, all_cases

PARALLEL = 8
#: ``AGENTFEED_MATRIX=tradeready,cryptorobot`` runs those APIs' cases only (while working on them)
ONLY = [api for api in os.environ.get("AGENTFEED_MATRIX", "").split(",") if api]
CASES = [case for case in all_cases() if not ONLY or case.scenario.split("/")[0] in ONLY]
Run = tuple[Case, int, dict[str, object], str]


def _run(case: Case, out: Path) -> Run:
    folder = out / case.name.replace("/", "_").replace(":", "-").replace("=", "-")
    report = folder / "report.json"
    done = subprocess.run(case.argv(folder, report), capture_output=True, text=True, timeout=300, cwd=ROOT)
    data = json.loads(report.read_text()) if report.exists() else {}
    return case, done.returncode, data, done.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    out = tmp_path_factory.mktemp("matrix")
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(lambda case: _run(case, out), CASES))


def _rules(data: dict[str, object]) -> list[dict[str, object]]:
    (scenario,) = data["scenarios"]  # type: ignore[misc]
    return list(scenario["rules"])


def test_the_cases_name_registered_rules_and_distinct_runs() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), "two cases would share an output folder"
    unknown = sorted({case.fails for case in CASES if case.fails and case.fails not in RULES})
    assert not unknown, unknown


@pytest.mark.timeout(900)
def test_references_pass_every_rule_and_each_mutant_fails_exactly_its_own(runs: list[Run]) -> None:
    problems = []
    proven: set[str] = set()
    for case, code, data, stderr in runs:
        if not data:
            problems.append(f"{case.name}: no report (exit {code}): {stderr}")
            continue
        rules = _rules(data)
        failed = sorted(str(r["id"]) for r in rules if r["verdict"] not in ("pass", "not-applicable"))
        expected = [case.fails] if case.fails else []
        if failed != expected:
            findings = {r["id"]: [f["message"] for f in r["findings"]][:2] or r.get("reason") for r in rules if r["id"] in failed}  # type: ignore[attr-defined]
            problems.append(f"{case.name}: expected to fail {expected}, failed {failed}: {findings}")
            continue
        must = case.fails is not None and any(r["id"] == case.fails and r["severity"] == "must" for r in rules)
        if code != (1 if must else 0):
            problems.append(f"{case.name}: exit {code}, expected {1 if must else 0}")
        if case.fails:
            proven.add(case.fails)
    assert not problems, "\n".join(problems)
    graded_apis = {case.scenario.split("/")[0] for case in CASES}
    unproven = sorted(rule_id for rule_id, spec in RULES.items() if spec.api in graded_apis and rule_id not in proven)
    assert not unproven, f"rules no mutant proves: {unproven}"


@pytest.mark.timeout(900)
def test_judging_the_saved_journals_gives_the_live_verdicts(runs: list[Run]) -> None:
    for case, _code, data, _stderr in runs:
        if not data:
            continue
        scenario = data["scenarios"][0]  # type: ignore[index]
        offline = judge_journal(Path(scenario["journal"]))
        assert {r.id: r.verdict for r in offline.rules} == {r["id"]: r["verdict"] for r in scenario["rules"]}, case.name
        assert [[f.message for f in r.findings] for r in offline.rules] == [
            [f["message"] for f in r["findings"]] for r in scenario["rules"]
        ], case.name
