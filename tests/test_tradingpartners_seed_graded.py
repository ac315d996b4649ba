"""The TradingPartners seed's listener (js/tradingpartners_seed.mjs, npm eventsource) graded: the README's table is what ``conformance run`` says.

It runs under time warp at x60 on every built-in TradingPartners scenario, as the README's command
does (one run per scenario, in parallel). The rules each run fails (``fail``, "not exercised"
included) must be the ones the README's row names; the two rules that read ``MOCK_OBSERVE`` are
never better than ``inconclusive`` (it says nothing there), and nothing is ``error``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mockserver.scenario.loader import builtin_scenarios
from tests.helpers import seed_verdicts

ROOT = Path(__file__).resolve().parent.parent
OBSERVED = ("tradingpartners.sse.lifecycle-order", "tradingpartners.sse.ignores-duplicates")
#: shorter runs where the verdicts are settled early (the README's command runs the scenarios whole)
DURATION = {"tradingpartners/alert-lifecycle": "3m"}

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH: the seed's listener is a Node program")


def readme_table() -> dict[str, set[str]]:
    return seed_verdicts("tradingpartners")


def grade(scenario: str, out: Path) -> list[dict[str, Any]]:
    report = out / "report.json"
    argv = [sys.executable, "-m", "conformance", "run", "--quiet", "--scenario", scenario, "--speed", "60"]
    argv += ["--duration", DURATION[scenario]] if scenario in DURATION else []
    argv += ["--out", str(out), "--json", str(report), "--", "node", "js/tradingpartners_seed.mjs"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert report.exists(), done.stderr
    (graded,) = json.loads(report.read_text())["scenarios"]
    return list(graded["rules"])


@pytest.mark.timeout(300)
def test_the_readme_states_the_seed_listeners_verdicts(tmp_path: Path) -> None:
    table = readme_table()
    assert set(table) == {s for s in builtin_scenarios() if s.startswith("tradingpartners/")}
    with ThreadPoolExecutor(8) as pool:
        results = dict(zip(table, pool.map(lambda s: grade(s, tmp_path / s.replace("/", "_")), table), strict=True))
    failed = {s: {r["id"] for r in rules if r["verdict"] == "fail"} for s, rules in results.items()}
    assert failed == table
    for scenario, rules in results.items():
        verdicts = {r["id"]: r["verdict"] for r in rules}
        assert "error" not in verdicts.values(), (scenario, verdicts)
        assert {verdicts[rule] for rule in OBSERVED} <= {"inconclusive", "not-applicable"}, (scenario, verdicts)
