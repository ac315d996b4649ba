"""Per-test setup of the pytest plugin: resetting the session's mock against starting a fresh one.

The ``agentfeed`` fixture serves a session from one server and, before each test, resets it and
loads the test's scenario (``Agentfeed.begin``: what the fixture runs, marker resolution included).
The alternative is a server per test (``ThreadedMockServer(...).start()``, and its ``stop()``
after). Prints the median of each over alternating rounds and their ratio; goal: the reset at
least 20x cheaper. A benchmark, not a test: exit 0.

    .venv/bin/python bench/plugin_setup.py [--tests 60] [--starts 12]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mockserver import ThreadedMockServer  # noqa: E402
from mockserver.testing import Agentfeed, AgentfeedConfig, resolve_setup, session_server  # noqa: E402

#: scenarios the tests of a suite would use in turn (different APIs, so each reset builds another state)
SCENARIOS = ["luckylobster/action-needed", "tradeready/ticker-stream", "aitrader/message-burst", "tradingpartners/alert-lifecycle"]


def reset_path(server: ThreadedMockServer, config: AgentfeedConfig, tests: int) -> list[float]:
    """Seconds per test setup on the session's server: the marker resolved, the server reset and loaded."""
    times = []
    for index in range(tests):
        started = time.perf_counter()
        setup = resolve_setup([((SCENARIOS[index % len(SCENARIOS)],), {})], config)
        Agentfeed.begin(server, setup, config)
        times.append(time.perf_counter() - started)
    return times


def fresh_path(config: AgentfeedConfig, starts: int) -> list[float]:
    """Seconds per test with a server of its own: started for the test, stopped after it."""
    times = []
    for index in range(starts):
        started = time.perf_counter()
        setup = resolve_setup([((SCENARIOS[index % len(SCENARIOS)],), {})], config)
        server = ThreadedMockServer(setup.scenario, journal_limit=config.journal_limit, log_level="critical").start()
        server.stop()
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=60, help="test setups on the session server per round")
    parser.add_argument("--starts", type=int, default=12, help="fresh servers per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = AgentfeedConfig()
    resets: list[float] = []
    fresh: list[float] = []
    with session_server(config) as server:
        reset_path(server, config, len(SCENARIOS))  # warm-up: each scenario parsed once (the plugin caches them)
        for _ in range(args.rounds):
            resets += reset_path(server, config, args.tests)
            fresh += fresh_path(config, args.starts)
    a, b = statistics.median(resets), statistics.median(fresh)
    print("pytest plugin: per-test setup, the session's server reset and loaded vs a fresh server started and stopped")
    print(
        f"  reset (agentfeed fixture): median {a * 1000:.2f} ms over {len(resets)} tests  (p90 {sorted(resets)[len(resets) * 9 // 10] * 1000:.2f} ms)"
    )
    print(
        f"  fresh server per test:     median {b * 1000:.2f} ms over {len(fresh)} starts (p90 {sorted(fresh)[len(fresh) * 9 // 10] * 1000:.2f} ms)"
    )
    print(f"  ratio fresh/reset: {b / a:.1f}x  (goal: at least 20x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
