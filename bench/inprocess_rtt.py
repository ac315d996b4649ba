"""Keep-alive round trip of a heartbeat: the mock in-process (ThreadedMockServer) against ``mockserver serve``.

A test suite drives the mock in-process; it must answer as fast as the standalone server.
(Before the listening sockets were made with IPPROTO_TCP, asyncio never set TCP_NODELAY on
accepted connections: Nagle met the client's delayed ACK and each keep-alive request took
~44 ms in-process against ~0.6 ms standalone, which runs on uvloop.) Prints the median round
trip of each over alternating rounds and their ratio; a benchmark, not a test: exit 0.

    .venv/bin/python bench/inprocess_rtt.py [--requests 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mockserver import ThreadedMockServer  # noqa: E402

SCENARIO = HERE / "heartbeat_scenario.yaml"
PATH = "/api/agent/v1/heartbeat"
KEY = "ll_benchbenchbenchbenchbenchbench"


def round_trip(host: str, port: int, requests: int) -> float:
    """Median seconds per request over one keep-alive connection (the first tenth is warm-up)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        conn.request("GET", PATH, headers={"Authorization": f"Bearer {KEY}"})
        response = conn.getresponse()
        response.read()
        times.append(time.perf_counter() - start)
        if response.status != 200:
            raise SystemExit(f"heartbeat answered {response.status}")
    conn.close()
    return statistics.median(times[requests // 10 :])


def standalone(requests: int) -> tuple[subprocess.Popen[bytes], int]:
    env_file = Path(tempfile.mkdtemp()) / "mock.env"
    ports = [arg for name in ("aitrader", "tradeready", "cryptorobot", "tradingpartners") for arg in ("--port", f"{name}=0")]
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--scenario", str(SCENARIO), "--quiet", "--control-port", "0"]
        + ["--port", "luckylobster=0", *ports, "--env-file", str(env_file)],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if env_file.exists() and "LUCKYLOBSTER_BASE_URL" in env_file.read_text():
            line = next(line for line in env_file.read_text().splitlines() if line.startswith("LUCKYLOBSTER_BASE_URL="))
            port = int(line.split(":")[-1].split("/")[0])
            return process, port
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit("mockserver serve did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    process, port = standalone(args.requests)
    inproc: list[float] = []
    alone: list[float] = []
    try:
        with ThreadedMockServer(SCENARIO, speed=0) as mock:
            inproc_port = mock.port("luckylobster")
            for _ in range(args.rounds):
                inproc.append(round_trip("127.0.0.1", inproc_port, args.requests))
                alone.append(round_trip("127.0.0.1", port, args.requests))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    a, b = statistics.median(inproc), statistics.median(alone)
    print("in-process keep-alive heartbeat round trip (ThreadedMockServer, asyncio loop) vs `mockserver serve` (uvloop)")
    print(f"  in-process: median {a * 1000:.3f} ms   rounds {', '.join(f'{x * 1000:.3f}' for x in inproc)}")
    print(f"  standalone: median {b * 1000:.3f} ms   rounds {', '.join(f'{x * 1000:.3f}' for x in alone)}")
    print(f"  ratio in-process/standalone: {a / b:.2f}  (goal: about 1; it was ~70 before TCP_NODELAY)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
