"""A one-hour scenario graded at x60 under time warp: how long it takes in real time.

Runs ``conformance run --scenario luckylobster/sleeping-overnight --speed 60 --warp faketime``
with the reference LuckyLobster client and prints the real time against the ideal (the
scenario's duration divided by the speed, 60 s) and their ratio. The goal is a ratio of at most
1.5 (a one-hour scenario graded in under 90 s), with every timing rule passing. A benchmark,
not a test: exit 0 unless the run itself failed.

    .venv/bin/python bench/warp_hour.py [--speed 60]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "luckylobster/sleeping-overnight"
DURATION = 3600.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=60.0)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="warp-hour-"))
    client = [sys.executable, str(ROOT / "fixtures" / "clients" / "luckylobster_agent.py")]
    command = [sys.executable, "-m", "conformance", "run", "--quiet", "--scenario", SCENARIO, "--speed", str(args.speed)]
    command += ["--warp", "faketime", "--out", str(out), "--json", str(out / "report.json"), "--", *client]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    real = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stdout, done.stderr, sep="\n")
        print(f"the run failed (exit {done.returncode})")
        return 1
    report = json.loads((out / "report.json").read_text())
    verdicts = {rule["id"]: rule["verdict"] for rule in report["scenarios"][0]["rules"]}
    ideal = DURATION / args.speed
    print(f"{SCENARIO}: 1 h of virtual time at x{args.speed:g} under faketime")
    print(f"  real {real:6.1f} s   ideal {ideal:6.1f} s   ratio {real / ideal:.2f}   goal <= 1.50")
    print("  " + ", ".join(f"{rule} {verdict}" for rule, verdict in sorted(verdicts.items()) if verdict != "not-applicable"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
