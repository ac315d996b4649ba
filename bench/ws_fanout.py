"""TradeReady ``ticker:all`` fan-out: the mock (journal on) against a bare ``websockets`` broadcast server.

Messages per second delivered to N = 1, 100 and 1000 subscribers, as the ratio
mock / baseline measured in the same invocation on the same machine. The goal is a
ratio >= 0.75 at 100 subscribers. A benchmark is not a test: the exit code is 0 even
below the goal (1: a server would not start or a client printed no report).

    .venv/bin/python bench/ws_fanout.py                          # 3 rounds of 5 s per N and server
    .venv/bin/python bench/ws_fanout.py --duration 3 --rounds 1
    .venv/bin/python bench/ws_fanout.py --connections 100 --mock-speed 100=3   # no calibration

The baseline is ``bench/ws_baseline.py serve``: it broadcasts as fast as it and its
clients can go, pausing on full write buffers (backpressure), so it saturates by itself.
The mock cannot be driven that way: its market pushes ``ticker:all`` frames at a rate
set by the virtual clock (``bench/ws_fanout_scenario.yaml``: 620 frames per virtual
second to every subscriber, so ``--speed s`` offers ``620 * s * N`` deliveries per
second), with a bounded queue per connection and no backpressure. Offered more than it
can deliver, the mock does not level off: the market's catch-up ticks, the drops of
full queues and their journal entries take the CPU from the senders, and what clients
receive collapses (to a few thousand frames per second at N=1). So the figure for the
mock is its **highest sustained rate**: for each N (in the first round, right after the
baseline run for that N) a short calibration starts fresh mocks at offered rates
chosen from the baseline's figure and the server CPU the probes used (a linear
extrapolation to ``--target-cpu``, bisection between the best rate kept up with and
the lowest one it fell behind on) until they are within ``--resolution`` of each other.
A probe "keeps up" when its clients received at least ``--keep`` of the offered rate
over the window and in its last second. Every round then runs a fresh mock at that
rate; its server CPU (``srv cpu``, CPU seconds per second of the window) shows how
close to the core's limit it was.

Each run starts a fresh server pinned to CPU 0 and runs ``bench/ws_fanout_client.py``
pinned to CPU 1 (``taskset``, 2+ CPUs, ``--no-pin`` turns it off); rounds alternate the
order of N and of baseline/mock. Prints a table, the medians and the ratio per N, and
writes ``results/ws_fanout.json`` (git-ignored) with every probe and round.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import urllib.error
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as heartbeat  # noqa: E402  (Server, http_get, api_names, journal_state)
import ws_baseline as baseline  # noqa: E402  (one_round, free_port, pin, HOST, CLIENT, RESULTS)

ROOT = HERE.parent
HOST = baseline.HOST
RESULTS = baseline.RESULTS
SCENARIO = HERE / "ws_fanout_scenario.yaml"
SUBSCRIBE = '{"action":"subscribe","channel":"ticker:all"}'
API = "tradeready"
PATH = "/ws/v1"
GOAL = 0.75
GOAL_CONNECTIONS = 100
HTTP_OK = 200


# -- the scenario ------------------------------------------------------------------------------
def scenario_facts() -> tuple[str, int, float]:
    """The bench key, the ticker frames of one market tick and the ticks per virtual second (every pair trades every tick)."""
    from mockserver.core.durations import parse_duration

    tradeready = yaml.safe_load(SCENARIO.read_text())["apis"][API]
    market = tradeready["state"]["market"]
    pairs = int(market.get("pairs", 620))
    per_tick = min(pairs, int(market.get("symbols_per_tick", 20)))
    if per_tick < pairs:
        raise RuntimeError(f"{SCENARIO.name}: every pair must trade every tick (symbols_per_tick >= pairs) for a known offered rate")
    return str(tradeready["state"]["keys"][0]["key"]), per_tick, 1.0 / parse_duration(market.get("tick_interval", "1s"))


# -- one run of each server ----------------------------------------------------------------------
def run_client(
    args: argparse.Namespace, url: str, connections: int, server_pid: int, cpu: int | None, *, duration: float
) -> dict[str, Any]:
    command = [args.python, str(baseline.CLIENT), url, "--connections", str(connections), "--first-message", SUBSCRIBE]
    command += ["--duration", str(duration), "--warmup", str(args.warmup), "--loop", args.loop, "--server-pid", str(server_pid)]
    done = subprocess.run(
        baseline.pin(cpu, command), cwd=ROOT, capture_output=True, text=True, timeout=duration + args.warmup + 120, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the client printed no report (exit {done.returncode}):\n{done.stderr}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def mock_command(args: argparse.Namespace, port: int, control_port: int, speed: float, cpu: int | None) -> list[str]:
    command = [args.python, "-m", "mockserver", "serve", "--scenario", str(SCENARIO.relative_to(ROOT)), "--host", HOST]
    command += ["--control-port", str(control_port), "--speed", f"{speed:.6g}", "--port", f"{API}={port}"]
    for name in args.api_names:
        if name != API:
            command += ["--port", f"{name}=0"]
    return baseline.pin(cpu, [*command, "--quiet"])


def any_dropped(control_url: str) -> bool | None:
    """Whether the journal holds a ``ws.dropped`` entry (a full queue lost a frame); None if unknown."""
    try:
        status, body = heartbeat.http_get(f"{control_url}/journal?api={API}&kind=ws.dropped&limit=1", timeout=60.0)
    except (OSError, urllib.error.URLError):
        return None
    return bool(json.loads(body).get("count")) if status == HTTP_OK else None


def mock_round(
    args: argparse.Namespace, connections: int, rate: float, cpus: tuple[int | None, int | None], *, duration: float
) -> dict[str, Any]:
    """A fresh mock offering ``rate`` deliveries per second to ``connections`` subscribers; the client's report."""
    speed = rate / (args.frames_per_vs * connections)
    port, control_port = baseline.free_port(), baseline.free_port()
    control_url = f"http://{HOST}:{control_port}/_mock"
    server = heartbeat.Server("mock", mock_command(args, port, control_port, speed, cpus[0]), RESULTS / "ws_fanout_mock.log")
    server.start()
    try:
        server.wait_ready(f"{control_url}/health")
        assert server.process is not None
        report = run_client(
            args, f"ws://{HOST}:{port}{PATH}?api_key={args.key}", connections, server.process.pid, cpus[1], duration=duration
        )
        report["journal"] = heartbeat.journal_state(control_url)
        report["dropped"] = any_dropped(control_url)
    finally:
        report_exit = server.stop()
    offered = args.frames_per_vs * speed * connections
    report.update(target="mock", speed=round(speed, 6), offered_msgs_per_s=round(offered, 1), server_exit=report_exit)
    report["kept_up"] = kept_up(args, report, offered)
    return report


def baseline_round(args: argparse.Namespace, connections: int, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    options = argparse.Namespace(
        python=args.python,
        loop=args.loop,
        duration=args.duration,
        warmup=args.warmup,
        batch=600,
        max_buffer=1 << 20,
        check_every=6000,
    )
    report = baseline.one_round(options, connections, cpus)
    report.update(target="baseline", offered_msgs_per_s=None, kept_up=None)
    return report


def kept_up(args: argparse.Namespace, report: dict[str, Any], offered: float) -> bool:
    """All connected, none closed, at least ``--keep`` of the offered rate over the window and ``--keep`` - 0.1 in its
    last slice. The market offers whole ticks (``frames_per_tick`` x N deliveries at once), so each test allows one
    tick less than that, however the window's edges cut the ticks."""
    intervals = report.get("per_interval") or [0.0]
    tick = args.frames_per_tick * report["connections"]
    window = report.get("window_s") or 1.0
    slice_s = min(1.0, window)
    return (
        report["connected"] == report["connections"]
        and not report["closed_early"]
        and report["msgs_per_s"] >= args.keep * offered - tick / window
        and intervals[-1] >= (args.keep - 0.1) * offered - tick / slice_s
    )


# -- calibration: the mock's highest sustained rate --------------------------------------------------
def next_rate(args: argparse.Namespace, kept: list[tuple[float, float]], low: float | None, high: float | None) -> float | None:
    """The next offered rate to probe, or None when the search is done."""
    if low is None:
        assert high is not None
        return high * 0.5
    if high is not None and high / low <= 1 + args.resolution:
        return None
    rate, cpu = kept[-1]
    if len(kept) >= 2 and kept[-1][1] > kept[-2][1] + 0.02:  # a line through the last two probes
        (r1, c1), (r2, c2) = kept[-2], kept[-1]
        guess = r2 + (args.target_cpu - c2) * (r2 - r1) / (c2 - c1)
    else:  # through the origin: CPU proportional to the rate
        guess = rate * args.target_cpu / max(cpu, 0.05)
    if high is not None and not low < guess < high:
        guess = math.sqrt(low * high)
    guess = min(guess, args.max_offer_rate)
    if guess <= low * (1 + args.resolution / 2):
        return None  # the CPU says there is no room above the best rate kept up with
    return guess


def calibrate(args: argparse.Namespace, connections: int, base_rate: float, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    args.max_offer_rate = args.max_offer * base_rate
    low: float | None = None
    high: float | None = None
    kept: list[tuple[float, float]] = []
    probes: list[dict[str, Any]] = []
    rate: float | None = args.start * base_rate
    while rate is not None and len(probes) < args.max_probes:
        report = mock_round(args, connections, rate, cpus, duration=args.probe_duration)
        probes.append(report)
        print(
            f"  probe {len(probes)} N={connections:<5}: offered {rate:>9.0f} -> delivered {report['msgs_per_s']:>9.0f} msg/s, "
            f"srv cpu {report.get('server_cpu_share') or 0:.2f}: {'kept up' if report['kept_up'] else 'FELL BEHIND'}",
            flush=True,
        )
        if report["kept_up"]:
            low = rate if low is None else max(low, rate)
            kept.append((rate, report.get("server_cpu_share") or 0.0))
            kept.sort()
        else:
            high = rate if high is None else min(high, rate)
        rate = next_rate(args, kept, low, high)
    if low is None:  # never kept up: measure at the lowest rate tried
        low = min(p["offered_msgs_per_s"] for p in probes)
    capped = low >= args.max_offer_rate * 0.999
    return {"rate": round(low, 1), "lowest_fell_behind": high, "capped": capped, "probes": probes}


# -- the run -------------------------------------------------------------------------------------------
def medians(rounds: list[dict[str, Any]], target: str, field: str) -> dict[int, float]:
    found: dict[int, list[float]] = {}
    for r in rounds:
        if r["target"] == target and r.get(field) is not None:
            found.setdefault(r["connections"], []).append(float(r[field]))
    return {n: statistics.median(values) for n, values in found.items()}


def print_table(rounds: list[dict[str, Any]]) -> None:
    print()
    print(
        f"{'N':>5} {'target':<8} {'round':>5} {'offered':>9} {'msg/s':>9} {'per conn':>9} {'conn min':>9} "
        f"{'avg B':>6} {'cli cpu':>7} {'srv cpu':>7} {'kept up':>7} {'journal':>9}"
    )
    for r in sorted(rounds, key=lambda r: (r["connections"], r["target"], r["round"])):
        per = r["per_conn_msgs_per_s"]
        offered = f"{r['offered_msgs_per_s']:.0f}" if r.get("offered_msgs_per_s") else "-"
        journal = (r.get("journal") or {}).get("entries", "-")
        kept = {True: "yes", False: "NO", None: "-"}[r.get("kept_up")]
        print(
            f"{r['connections']:>5} {r['target']:<8} {r['round']:>5} {offered:>9} {r['msgs_per_s']:>9.0f} {per['median'] or 0:>9.0f} "
            f"{per['min'] or 0:>9.0f} {r['avg_message_bytes'] or 0:>6.1f} {r['client_cpu_share'] or 0:>7.2f} "
            f"{r.get('server_cpu_share') or 0:>7.2f} {kept:>7} {journal!s:>9}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,100,1000", help="comma-separated subscriber counts (default 1,100,1000)")
    parser.add_argument("--duration", type=float, default=5.0, help="measurement window per round, seconds (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds after all connections are open (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per N and server (default 3; the order flips every round)")
    parser.add_argument("--mock-speed", default="", help="skip calibration: clock speeds per N, e.g. '1=80,100=3,1000=0.25'")
    parser.add_argument("--probe-duration", type=float, default=3.0, help="window of a calibration probe, seconds (default 3)")
    parser.add_argument("--max-probes", type=int, default=7, help="calibration probes per N at most (default 7)")
    parser.add_argument("--start", type=float, default=0.25, help="first probe's offered rate, times the baseline's (default 0.25)")
    parser.add_argument("--max-offer", type=float, default=2.0, help="highest rate probed, times the baseline's (default 2)")
    parser.add_argument("--keep", type=float, default=0.95, help="share of the offered rate a probe must deliver (default 0.95)")
    parser.add_argument("--resolution", type=float, default=0.05, help="stop when fell-behind / kept-up <= 1 + this (default 0.05)")
    parser.add_argument("--target-cpu", type=float, default=0.97, help="server CPU share the extrapolation aims at (default 0.97)")
    parser.add_argument("--no-pin", action="store_true", help="don't pin servers to CPU 0 and clients to CPU 1")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto", help="event loop of baseline and clients")
    parser.add_argument("--python", default=sys.executable, help="interpreter for servers and clients (default: this one)")
    parser.add_argument("--out", type=Path, default=RESULTS / "ws_fanout.json", help="JSON results file")
    args = parser.parse_args(argv)

    sizes = [int(part) for part in args.connections.split(",") if part.strip()]
    fixed = {int(n): float(s) for n, s in (item.split("=") for item in args.mock_speed.split(",") if item.strip())}
    pinned = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= baseline.MIN_CPUS_TO_PIN
    cpus: tuple[int | None, int | None] = (0, 1) if pinned else (None, None)
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    baseline.raise_open_file_limit(65536)  # inherited by servers and clients
    args.key, args.frames_per_tick, ticks_per_vs = scenario_facts()
    args.frames_per_vs = args.frames_per_tick * ticks_per_vs
    args.api_names = heartbeat.api_names(args.python)

    rounds: list[dict[str, Any]] = []
    calibration: dict[int, dict[str, Any]] = {}
    rates: dict[int, float] = {}

    def record(report: dict[str, Any], round_no: int) -> None:
        report["round"] = round_no
        rounds.append(report)
        offered = f" of {report['offered_msgs_per_s']:.0f} offered" if report.get("offered_msgs_per_s") else ""
        print(
            f"round {round_no} N={report['connections']:<5} {report['target']:<8}: {report['msgs_per_s']:>9.0f} msg/s{offered}, "
            f"srv cpu {report.get('server_cpu_share') or 0:.2f}, cli cpu {report['client_cpu_share'] or 0:.2f}, "
            f"connected {report['connected']}, closed early {report['closed_early']}",
            flush=True,
        )

    try:
        for round_no in range(1, args.rounds + 1):
            for n in sizes if round_no % 2 else list(reversed(sizes)):
                if n not in rates:  # the first round: the baseline first, then the mock's calibration
                    record(baseline_round(args, n, cpus), round_no)
                    if n in fixed:
                        rates[n] = fixed[n] * args.frames_per_vs * n
                    else:
                        calibration[n] = calibrate(args, n, rounds[-1]["msgs_per_s"], cpus)
                        rates[n] = calibration[n]["rate"]
                    record(mock_round(args, n, rates[n], cpus, duration=args.duration), round_no)
                else:
                    order = ["baseline", "mock"] if round_no % 2 else ["mock", "baseline"]
                    for target in order:
                        if target == "baseline":
                            record(baseline_round(args, n, cpus), round_no)
                        else:
                            record(mock_round(args, n, rates[n], cpus, duration=args.duration), round_no)
    except (RuntimeError, OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1

    print_table(rounds)
    base, mock = medians(rounds, "baseline", "msgs_per_s"), medians(rounds, "mock", "msgs_per_s")
    mock_cpu, base_cpu = medians(rounds, "mock", "server_cpu_share"), medians(rounds, "baseline", "server_cpu_share")
    ratios = {n: mock[n] / base[n] if base.get(n) else 0.0 for n in sizes}
    print()
    print(
        f"ticker:all fan-out, {args.duration:g} s windows x {args.rounds} rounds, "
        f"{'servers on CPU 0, clients on CPU 1' if pinned else 'not pinned'}; mock at its highest sustained rate (calibrated)"
    )
    print(f"{'N':>5} {'baseline msg/s':>15} {'srv cpu':>7} {'mock msg/s':>11} {'srv cpu':>7} {'mock speed':>10} {'ratio':>6}")
    for n in sizes:
        speed = rates[n] / (args.frames_per_vs * n)
        print(
            f"{n:>5} {base[n]:>15.0f} {base_cpu.get(n, 0):>7.2f} {mock[n]:>11.0f} {mock_cpu.get(n, 0):>7.2f} {speed:>10.4g} {ratios[n]:>6.3f}"
        )
    print()
    for n in sizes:
        print(f"ratio mock/baseline N={n:<5}: {ratios[n]:.3f}" + (f"   goal >= {GOAL}" if n == GOAL_CONNECTIONS else ""))
    notes = []
    for n, info in calibration.items():
        if info["capped"]:
            notes.append(f"N={n}: the mock kept up with {args.max_offer:g}x the baseline's rate; its ratio is a lower bound")
    for r in rounds:
        if r["target"] == "mock" and not r["kept_up"]:
            notes.append(
                f"N={r['connections']} round {r['round']}: the mock fell behind its calibrated rate (offered {r['offered_msgs_per_s']:.0f})"
            )
        if r["target"] == "mock" and r.get("dropped"):
            notes.append(f"N={r['connections']} round {r['round']}: full queues dropped frames (ws.dropped in the journal)")
        if r["connected"] != r["connections"] or r["closed_early"]:
            notes.append(
                f"N={r['connections']} {r['target']} round {r['round']}: {r['connected']} connected, {r['closed_early']} closed early"
            )
    for note in notes:
        print(f"note: {note}")

    met: bool | None = None
    if GOAL_CONNECTIONS in ratios:
        met = ratios[GOAL_CONNECTIONS] >= GOAL
        ratio = ratios[GOAL_CONNECTIONS]
        print(
            f"MEETS GOAL: ratio {ratio:.3f} >= {GOAL} at N={GOAL_CONNECTIONS}"
            if met
            else f"BELOW GOAL: ratio {ratio:.3f} < {GOAL} at N={GOAL_CONNECTIONS}"
        )
    else:
        print(f"goal not judged: N={GOAL_CONNECTIONS} was not measured")

    result = {
        "benchmark": "ws_fanout",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "connections": sizes,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "scenario": str(SCENARIO.relative_to(ROOT)),
            "frames_per_tick": args.frames_per_tick,
            "frames_per_virtual_second": args.frames_per_vs,
            "mock_speed_fixed": {str(n): s for n, s in fixed.items()},
            "probe_duration_s": args.probe_duration,
            "max_probes": args.max_probes,
            "start": args.start,
            "max_offer": args.max_offer,
            "keep": args.keep,
            "resolution": args.resolution,
            "target_cpu": args.target_cpu,
            "pinned": pinned,
            "cpus": os.cpu_count(),
            "python": args.python,
            "loop": args.loop,
        },
        "median_msgs_per_s": {
            "baseline": {str(n): round(v, 1) for n, v in base.items()},
            "mock": {str(n): round(v, 1) for n, v in mock.items()},
        },
        "median_server_cpu": {"baseline": {str(n): v for n, v in base_cpu.items()}, "mock": {str(n): v for n, v in mock_cpu.items()}},
        "mock_rate": {
            str(n): {"offered_msgs_per_s": round(rates[n], 1), "speed": round(rates[n] / (args.frames_per_vs * n), 6)} for n in sizes
        },
        "ratio": {str(n): round(v, 3) for n, v in ratios.items()},
        "goal": {"ratio": GOAL, "connections": GOAL_CONNECTIONS, "met": met},
        "notes": notes,
        "calibration": {str(n): info for n, info in calibration.items()},
        "rounds": rounds,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
