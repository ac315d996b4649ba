"""Cold start: from process spawn to the first 200, the mock against a bare Starlette app, plus idle memory.

The baseline is ``bench/bare_heartbeat.py`` (uvicorn, uvloop, httptools, one route): spawn ->
its first 200. The mock is ``python -m mockserver serve`` with the demo scenario on free ports:
spawn -> the control API's ``/_mock/health`` answers 200 *and* all five APIs accept connections.
Rounds alternate the two; the ratio is of the medians. Idle RSS is read from ``/proc`` one second
after each is ready. Also timed (medians, in fresh processes): ``mockserver --help``,
``mockserver validate demo``, the imports of ``mockserver`` and a fresh in-process server's start
after them (the pytest path: ``ThreadedMockServer(...).start()``).

Goals (issue 17): cold start <= 1.5x bare, idle RSS <= 50 MB, in-process start <= 50 ms beyond
the imports. A benchmark, not a test: exit 0 whatever the figures.

    .venv/bin/python bench/cold_start.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

__all__ = ["main"]

GOAL_RATIO = 1.5
GOAL_RSS_MB = 50.0
GOAL_INPROCESS_MS = 50.0

#: the first start also imports what the server needs (uvicorn, the five APIs' modules); the second, fresh server
#: is what a test pays beyond the imports
INPROCESS = """
import time, json
t0 = time.perf_counter()
from mockserver import ThreadedMockServer
t1 = time.perf_counter()
ThreadedMockServer(scenario="demo").start().stop()
t2 = time.perf_counter()
mock = ThreadedMockServer(scenario="demo").start()
t3 = time.perf_counter()
mock.stop()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "start": t3 - t2}))
"""


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports (bound and released together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def spawn_until_ready(command: list[str], ready: Any, timeout: float = 30.0) -> tuple[float, float]:
    """Seconds from spawn to ``ready()`` and the process's RSS (MB) one second later."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready():
            if process.poll() is not None:
                raise SystemExit(f"{command[:4]} exited with {process.returncode} before it was ready")
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"{command[:4]} not ready after {timeout} s")
            time.sleep(0.002)
        elapsed = time.perf_counter() - started
        time.sleep(1.0)
        return elapsed, rss_mb(process.pid)
    finally:
        stop(process)


def bare_round(python: str) -> tuple[float, float]:
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/api/agent/v1/heartbeat"
    return spawn_until_ready([python, str(HERE / "bare_heartbeat.py"), "--port", str(port), "--size", "480"], lambda: answers_200(url))


def mock_round(python: str) -> tuple[float, float]:
    control, *apis = free_ports(6)
    names = ["aitrader", "luckylobster", "tradeready", "cryptorobot", "tradingpartners"]
    command = [python, "-m", "mockserver", "serve", "--quiet", "--control-port", str(control)]
    for name, port in zip(names, apis, strict=True):
        command += ["--port", f"{name}={port}"]
    url = f"http://127.0.0.1:{control}/_mock/health"
    return spawn_until_ready(command, lambda: answers_200(url) and all(accepts(port) for port in apis))


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cold_start.json")
    args = parser.parse_args(argv)
    python = args.python
    mockserver = str(Path(python).with_name("mockserver"))

    # an installed package has its bytecode compiled (pip does it); a checkout under PYTHONDONTWRITEBYTECODE has
    # none, and compiling ~70 modules from source at every start would be measured instead (~0.25 s)
    subprocess.run([python, "-m", "compileall", "-q", str(ROOT / "mockserver")], check=True)
    bare: list[tuple[float, float]] = []
    mock: list[tuple[float, float]] = []
    bare_round(python)  # warm the page cache for both before measuring
    mock_round(python)
    for index in range(args.rounds):
        order = (bare, mock) if index % 2 == 0 else (mock, bare)
        for target in order:
            target.append(bare_round(python) if target is bare else mock_round(python))
    helps = [timed([mockserver, "--help"]) for _ in range(args.rounds)]
    demo = next(path for path in (ROOT / "mockserver" / "scenarios" / "demo.yaml", ROOT / "scenarios" / "demo.yaml") if path.exists())
    validates = [timed([mockserver, "validate", str(demo)]) for _ in range(args.rounds)]
    bare_python = [timed([python, "-c", "pass"]) for _ in range(args.rounds)]
    inprocess = []
    for _ in range(args.rounds):
        done = subprocess.run([python, "-c", INPROCESS], cwd=ROOT, check=True, capture_output=True, text=True)
        inprocess.append(json.loads(done.stdout.strip().splitlines()[-1]))

    def median(values: list[float]) -> float:
        return statistics.median(values)

    bare_s, mock_s = median([t for t, _ in bare]), median([t for t, _ in mock])
    bare_rss, mock_rss = median([r for _, r in bare]), median([r for _, r in mock])
    imports_ms = median([r["import"] + r["first"] - r["start"] for r in inprocess]) * 1000
    start_ms = median([r["start"] for r in inprocess]) * 1000
    ratio = mock_s / bare_s
    print(f"{'':28}{'bare':>10}{'mock':>10}{'ratio':>8}  goal")
    print(f"{'spawn -> first 200 (s)':28}{bare_s:10.3f}{mock_s:10.3f}{ratio:8.2f}  <= {GOAL_RATIO}x")
    print(f"{'idle RSS (MB)':28}{bare_rss:10.1f}{mock_rss:10.1f}{mock_rss / bare_rss:8.2f}  <= {GOAL_RSS_MB:.0f} MB")
    print(f"{'python -c pass (s)':28}{median(bare_python):10.3f}")
    print(f"{'mockserver --help (s)':28}{'':10}{median(helps):10.3f}")
    print(f"{'mockserver validate (s)':28}{'':10}{median(validates):10.3f}")
    print(f"{'in-process: imports (ms)':28}{'':10}{imports_ms:10.1f}")
    print(f"{'in-process: start (ms)':28}{'':10}{start_ms:10.1f}{'':8}  <= {GOAL_INPROCESS_MS:.0f} ms")
    verdicts = {
        "cold start": ratio <= GOAL_RATIO,
        "idle RSS": mock_rss <= GOAL_RSS_MB,
        "in-process start": start_ms <= GOAL_INPROCESS_MS,
    }
    for name, met in verdicts.items():
        print(f"{name}: {'met' if met else 'BELOW GOAL'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "bare": bare,
                "mock": mock,
                "ratio": ratio,
                "bare_rss_mb": bare_rss,
                "mock_rss_mb": mock_rss,
                "help_s": helps,
                "validate_s": validates,
                "python_s": bare_python,
                "inprocess": inprocess,
                "load": os.getloadavg(),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
