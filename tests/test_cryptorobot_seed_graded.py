"""The Cryptorobot seed's own example, graded: the README's table of its verdicts is what ``conformance run`` says.

``js/cryptorobot_seed.mjs`` (the realtime guide's ``createClient`` snippet with the Feathers client
from npm) runs under time warp at x60 on every built-in Cryptorobot scenario, as the README's
command does (one run per scenario, in parallel); the rules each run fails must be the ones the
README's row for that scenario names.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mockserver.scenario.loader import builtin_scenarios
from tests.helpers import seed_verdicts

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH: the seed example is JavaScript")


def readme_table() -> dict[str, set[str]]:
    return seed_verdicts("cryptorobot")


def grade(scenario: str, out: Path) -> set[str]:
    report = out / "report.json"
    argv = [sys.executable, "-m", "conformance", "run", "--quiet", "--scenario", scenario, "--speed", "60"]
    argv += ["--out", str(out), "--json", str(report), "--", "node", "js/cryptorobot_seed.mjs"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert report.exists(), done.stderr
    (graded,) = json.loads(report.read_text())["scenarios"]
    return {r["id"] for r in graded["rules"] if r["verdict"] not in ("pass", "not-applicable")}


def test_the_readme_states_the_seed_examples_verdicts(tmp_path: Path) -> None:
    table = readme_table()
    assert set(table) == {s for s in builtin_scenarios() if s.startswith("cryptorobot/")}
    with ThreadPoolExecutor(4) as pool:
        failed = dict(zip(table, pool.map(lambda s: grade(s, tmp_path / s.replace("/", "_")), table), strict=True))
    assert failed == table
