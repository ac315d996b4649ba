"""The README's verdicts on the TradeReady seed's examples ("The seeds' examples, graded") are what a run gives.

The seed's handlers (fixtures/clients/tradeready_seed.py) run under ``conformance run`` at x60
on the documented ticker stream and on the upstream protocol's stream: the rules they fail, and
whether the run passed (no ``must`` rule failed), must be the README table's rows for them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "fixtures" / "clients" / "tradeready_seed.py"
SCENARIOS = ("tradeready/ticker-stream", "tradeready/upstream-stream")


def readme_rows() -> dict[str, tuple[str, set[str]]]:
    """The README table after ``<!-- seed-verdicts: tradeready -->``: scenario -> (outcome, rules failed)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- seed-verdicts: tradeready -->", 1)[1].strip().split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        scenario, outcome, failed = (cell.strip() for cell in line.strip("|").split("|"))
        rows[re.findall(r"`([^`]+)`", scenario)[0]] = (outcome.strip("*"), set(re.findall(r"`([^`]+)`", failed)))
    return rows


@pytest.mark.timeout(300)
def test_the_seeds_handlers_get_the_verdicts_the_readme_gives(tmp_path: Path) -> None:
    rows = readme_rows()
    assert set(SCENARIOS) <= set(rows) and len(rows) == 6, rows
    argv = [sys.executable, "-m", "conformance", "run", "--quiet", "--speed", "60", "--out", str(tmp_path)]
    argv += [arg for scenario in SCENARIOS for arg in ("--scenario", scenario)]
    done = subprocess.run([*argv, "--json", str(tmp_path / "report.json"), "--", sys.executable, str(SEED)], cwd=ROOT, timeout=240)
    report = json.loads((tmp_path / "report.json").read_text())
    for scenario in report["scenarios"]:
        failed = {rule["id"] for rule in scenario["rules"] if rule["verdict"] == "fail"}
        must = any(rule["verdict"] == "fail" and rule["severity"] == "must" for rule in scenario["rules"])
        assert (("failed" if must else "passed"), failed) == rows[scenario["id"]], scenario["id"]
    assert done.returncode == 1, "the upstream stream fails must rules"
