"""Every rule is proven: the reference clients pass every rule, and each mutant fails exactly its own rule and no other.

Each run is a real ``conformance run`` of a real client program under time warp, in parallel; the
speeds keep every protocol deadline at least 100 ms of real time. ``conformance judge`` on each
saved journal must give the same verdicts as the live run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.runner import judge_journal

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "fixtures" / "clients"
PARALLEL = 8


@dataclass(frozen=True)
class Case:
    client: str
    scenario: str
    speed: float
    defect: str | None = None
    #: the one rule this mutant breaks (None: the reference, which breaks none)
    fails: str | None = None
    extra: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.scenario}:{self.defect or 'reference'}{''.join(self.extra)}"


LL, AIT = "luckylobster_agent.py", "aitrader_agent.py"
MATRIX = [
    # the one-hour scenario at x60 first: the longest run starts at once
    Case(LL, "luckylobster/sleeping-overnight", 60),
    # LuckyLobster at x60: the reference on every scenario, each mutant where its defect shows
    Case(LL, "luckylobster/action-needed", 60),
    Case(LL, "luckylobster/rate-limited", 60),
    Case(LL, "luckylobster/server-errors", 30),
    Case(LL, "luckylobster/key-revoked", 60),
    Case(LL, "luckylobster/short-nap", 60),
    Case(LL, "luckylobster/action-needed", 60, "early", "luckylobster.heartbeat.honours-next-check-at"),
    Case(LL, "luckylobster/action-needed", 60, "late", "luckylobster.heartbeat.not-late"),
    Case(LL, "luckylobster/action-needed", 60, "ignores-redeem", "luckylobster.heartbeat.acts-on-actions"),
    Case(LL, "luckylobster/short-nap", 60, "sleepwalker", "luckylobster.heartbeat.sleeps-outside-active-hours"),
    Case(LL, "luckylobster/short-nap", 60, "oversleeps", "luckylobster.heartbeat.wakes-on-time"),
    Case(LL, "luckylobster/rate-limited", 60, "ignores-rate-limit", "luckylobster.http.respects-rate-limit"),
    Case(LL, "luckylobster/server-errors", 30, "retry-after-ignored", "luckylobster.http.honours-retry-after"),
    Case(LL, "luckylobster/server-errors", 30, "no-backoff", "luckylobster.http.backs-off-on-5xx"),
    Case(LL, "luckylobster/key-revoked", 60, "storm", "luckylobster.http.no-retry-storm"),
    # AI-Trader
    Case(AIT, "aitrader/ws-drops-notifications", 60),
    Case(AIT, "aitrader/duplicate-delivery", 60),
    Case(AIT, "aitrader/duplicate-delivery", 60, extra=("--no-socket",)),
    Case(AIT, "aitrader/message-burst", 40),
    Case(AIT, "aitrader/token-rotated", 60),
    Case(AIT, "aitrader/server-errors", 30),
    Case(AIT, "aitrader/ws-drops-notifications", 60, "fast", "aitrader.heartbeat.min-interval"),
    Case(AIT, "aitrader/duplicate-delivery", 60, "slow", "aitrader.heartbeat.recommended-cadence"),
    Case(AIT, "aitrader/token-rotated", 60, "very-slow", "aitrader.heartbeat.max-interval", ("--no-socket",)),
    Case(AIT, "aitrader/ws-drops-notifications", 60, "socket-only", "aitrader.heartbeat.primary-mechanism"),
    Case(AIT, "aitrader/message-burst", 40, "no-drain", "aitrader.heartbeat.drains-has-more"),
    Case(AIT, "aitrader/duplicate-delivery", 60, "double-process", "aitrader.heartbeat.ignores-duplicates"),
    Case(AIT, "aitrader/token-rotated", 60, "keeps-token", "aitrader.auth.relogin-on-401"),
    Case(AIT, "aitrader/server-errors", 30, "retry-after-ignored", "aitrader.http.honours-retry-after"),
    Case(AIT, "aitrader/server-errors", 30, "no-backoff", "aitrader.http.backs-off-on-5xx"),
]


def _run(case: Case, out: Path) -> tuple[Case, int, dict[str, object], str]:
    folder = out / case.name.replace("/", "_").replace(":", "-")
    report = folder / "report.json"
    client = [sys.executable, str(CLIENTS / case.client), *case.extra, *(["--defect", case.defect] if case.defect else [])]
    command = [sys.executable, "-m", "conformance", "run", "--quiet", "--scenario", case.scenario, "--speed", str(case.speed)]
    command += ["--warp", "faketime", "--out", str(folder), "--json", str(report), "--", *client]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    data = json.loads(report.read_text()) if report.exists() else {}
    return case, done.returncode, data, done.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Case, int, dict[str, object], str]]:
    out = tmp_path_factory.mktemp("matrix")
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(lambda case: _run(case, out), MATRIX))


def _verdicts(data: dict[str, object]) -> dict[str, str]:
    (scenario,) = data["scenarios"]  # type: ignore[misc]
    return {rule["id"]: rule["verdict"] for rule in scenario["rules"]}


@pytest.mark.timeout(600)
def test_references_pass_every_rule_and_each_mutant_fails_exactly_its_own(runs: list[tuple[Case, int, dict[str, object], str]]) -> None:
    problems = []
    proven: set[str] = set()
    for case, code, data, stderr in runs:
        if not data:
            problems.append(f"{case.name}: no report (exit {code}): {stderr}")
            continue
        verdicts = _verdicts(data)
        failed = sorted(rule for rule, verdict in verdicts.items() if verdict not in ("pass", "not-applicable"))
        expected = [case.fails] if case.fails else []
        if failed != expected:
            findings = {r["id"]: [f["message"] for f in r["findings"]][:2] for r in data["scenarios"][0]["rules"] if r["id"] in failed}  # type: ignore[index]
            problems.append(f"{case.name}: expected to fail {expected}, failed {failed}: {findings}")
            continue
        must = case.fails is not None and case.fails in {r["id"] for r in data["scenarios"][0]["rules"] if r["severity"] == "must"}  # type: ignore[index]
        if code != (1 if must else 0):
            problems.append(f"{case.name}: exit {code}, expected {1 if must else 0}")
        if case.fails:
            proven.add(case.fails)
    assert not problems, "\n".join(problems)
    from conformance.registry import RULES, rules_for

    graded = {r.id for r in rules_for(["aitrader", "luckylobster"])}
    assert graded <= proven, f"rules no mutant proves: {sorted(graded - proven)}"
    assert len(RULES) >= len(graded)


@pytest.mark.timeout(600)
def test_judging_the_saved_journals_gives_the_live_verdicts(runs: list[tuple[Case, int, dict[str, object], str]]) -> None:
    for case, _code, data, _stderr in runs:
        if not data:
            continue
        scenario = data["scenarios"][0]  # type: ignore[index]
        offline = judge_journal(Path(scenario["journal"]))
        assert {r.id: r.verdict for r in offline.rules} == _verdicts(data), case.name
        assert [[f.message for f in r.findings] for r in offline.rules] == [
            [f["message"] for f in r["findings"]] for r in scenario["rules"]
        ], case.name
