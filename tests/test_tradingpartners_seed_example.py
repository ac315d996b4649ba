"""The TradingPartners seed's listener (js/tradingpartners_seed.mjs, npm eventsource) graded on every TradingPartners scenario.

Each scenario is a real ``conformance run`` at x60 under time warp, run in parallel; what failed
must be exactly what the README's table (between ``<!-- tradingpartners-seed:start -->`` and
``:end``) says: the rules that failed (a parenthesis after one is the README's comment; ``(should)``
is checked), then those the scenario targets that were ``not exercised``. The two rules that read
``MOCK_OBSERVE`` are ``inconclusive`` wherever they apply (the README says so; checked too).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "js" / "tradingpartners_seed.mjs"
ROW = re.compile(r"^\| `([a-z-]+)` \| (.+) \|$")
#: shorter runs where the verdicts are settled early (the README's command runs each scenario whole)
DURATION = {"alert-lifecycle": "3m"}

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH: the seed's listener is a Node program")


def readme_table() -> dict[str, str]:
    """scenario -> the verdicts cell, from the README."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- tradingpartners-seed:start -->")[1].split("<!-- tradingpartners-seed:end -->")[0]
    return {m.group(1): m.group(2).strip() for line in table.splitlines() if (m := ROW.match(line.strip()))}


def cell(rules: list[dict[str, Any]]) -> str:
    """What failed, as the README writes it (without its comments)."""
    failed, unexercised = [], []
    for result in sorted(rules, key=lambda r: str(r["id"])):
        if result["verdict"] not in ("fail", "error"):
            continue
        name = f"`{str(result['id']).removeprefix('tradingpartners.')}`"
        findings = result["findings"]
        if findings and str(findings[0]["message"]).startswith("not exercised"):
            unexercised.append(name)
        else:
            failed.append(name + (" (should)" if result["severity"] == "should" else ""))
    parts = failed + ([", ".join(unexercised) + " not exercised"] if unexercised else [])
    return "; ".join(parts) or "nothing"


def without_comments(text: str) -> str:
    """A README cell without its parentheses other than ``(should)``."""
    return re.sub(r" \((?!should\))[^)]*\)", "", text)


def grade(scenario: str, out: Path) -> tuple[str, dict[str, Any], str]:
    report = out / f"{scenario}.json"
    argv = [sys.executable, "-m", "conformance", "run", "--quiet", "--scenario", f"tradingpartners/{scenario}", "--speed", "60"]
    argv += ["--duration", DURATION[scenario]] if scenario in DURATION else []
    argv += ["--out", str(out), "--json", str(report), "--", "node", str(SEED)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)
    return scenario, json.loads(report.read_text()) if report.exists() else {}, done.stderr[-2000:]


@pytest.mark.timeout(300)
def test_the_seed_listener_gets_the_verdicts_the_readme_gives(tmp_path: Path) -> None:
    expected = readme_table()
    scenarios = sorted(p.stem for p in (ROOT / "scenarios" / "tradingpartners").glob("*.yaml"))
    assert sorted(expected) == scenarios, "the README's table has a row for every TradingPartners scenario"
    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda scenario: grade(scenario, tmp_path), scenarios))
    problems = []
    for scenario, data, stderr in runs:
        if not data:
            problems.append(f"{scenario}: no report: {stderr}")
            continue
        (result,) = data["scenarios"]
        found, said = cell(result["rules"]), without_comments(expected[scenario])
        if found != said:
            problems.append(f"{scenario}: README says {said!r}, the run gave {found!r}")
        observed = {r["verdict"] for r in result["rules"] if r["id"].endswith(("lifecycle-order", "ignores-duplicates"))}
        if not observed <= {"inconclusive", "not-applicable"}:
            problems.append(f"{scenario}: the MOCK_OBSERVE rules gave {sorted(observed)}")
    assert not problems, "\n".join(problems)
