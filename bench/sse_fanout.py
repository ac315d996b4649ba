"""TradingPartners SSE fan-out: the mock (journal on) against a bare sse-starlette ``EventSourceResponse``.

Events per second delivered to N = 1, 100 and 1000 streams, as the ratio mock / baseline
measured in the same invocation on the same machine. The goal is a ratio >= 1.2 at every
N (a hand-written Starlette ``StreamingResponse`` reaches about 1.8 at 1 and 100 streams
and 1.4 at 1000: performance.md, "SSE fan-out"). A benchmark is not a test: the exit code
is 0 even below the goal, and even when a run failed (the error is printed and saved).

    .venv/bin/python bench/sse_fanout.py                          # 3 rounds of 5 s per N and server
    .venv/bin/python bench/sse_fanout.py --duration 3 --rounds 1
    .venv/bin/python bench/sse_fanout.py --connections 100 --mock-speed 100=35   # no calibration

The baseline is ``bench/sse_baseline.py serve --hold``: one broadcaster feeding a bounded
queue per client, sending as fast as the server and its clients can go (backpressure, no
growth), so it saturates by itself. The mock is ``python -m mockserver serve --scenario
bench/sse_fanout_scenario.yaml``: one FULL user with unlimited credits, every stream logged
in as that user (JWT from ``POST /api/v1/users/login``) and so receiving every event; alerts
come from the virtual clock, exactly 30 events per virtual second to every stream (10
alerts, each working -> onGoing -> closed), so the clock speed sets the offered rate:
``speed s`` offers ``30 * s * N`` deliveries per second.

The mock cannot be measured by simply overloading it: its producer has no backpressure,
so what it is offered beyond what it can send still costs CPU (alerts generated, frames
built and queued), and its clock driver runs every due timer in one go while a stream's
pump sends 64 frames per turn of the event loop: offered a little more than it can
sustain with one stream, its delivery can collapse (seen: 2 % of the offer at 1.1x its
sustained rate, 25 % at 1.5x; the ``overload`` run shows it). So, as for the WebSocket benchmark, the mock's figure is its
**highest sustained rate**: for each N (in the first round, right after the baseline's run
for that N) short runs (``--probe-duration``) bracket the highest offered rate it keeps up
with (at least ``--keep`` of the offer over the window and over its second half), starting
at ``--start`` times the baseline's rate, doubling up to ``--max-offer`` times, then
bisecting to ``--resolution``; every round then runs a fresh mock offered ``--overdrive``
(default 1) times that rate. One more run per N, offered ``--overload`` (1.5) times it,
shows what overload does (delivered share, resident memory growth: the queues grow, up to
the scenario's million events per stream, so no stream is cut loose); it is reported, not
part of the ratio. ``--mock-speed`` skips the calibration.

Both servers start idle (the baseline holds its broadcaster, the mock starts with its clock
stopped, ``--speed 0``); the client opens all N streams, then releases the server (``POST
/go``; ``POST /_mock/clock {"speed": s}``), waits ``--warmup`` seconds and counts events for
``--duration`` seconds. Each run starts a fresh server pinned to CPU 0 and runs
``bench/sse_fanout_client.py`` pinned to CPU 1 (``taskset``, 2+ CPUs; ``--no-pin`` turns it
off), after waiting (up to ``--quiet-wait`` s) for the machine to be idle so that another
benchmark running at the same time does not skew it (a run during which other processes
took more than ``--busy`` CPU anyway is done again, ``--retries`` times at most); rounds alternate the order of N and of
baseline/mock. After each run the server is
watched for ``--idle`` seconds, from 1 s after the client left: ``idle cpu`` near 0 shows
every stream ended with its client.

Columns: ``ev/s`` events received per second by all streams together; ``srv cpu`` / ``cli
cpu`` CPU seconds per second of the window (the side near 1.00 is the bottleneck; the
server should be); ``other`` CPU of everything else on the machine (another benchmark
running at the same time makes the figures unreliable: a note says so); ``avg B`` wire bytes
per event (the mock's mix of working/onGoing/closed events is smaller on average than the
baseline's working events). Prints the table, the medians, the ratio per N and ``BELOW
GOAL`` where it is under 1.2, and writes ``results/sse_fanout.json`` (git-ignored) with
every probe and round.
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
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as heartbeat  # noqa: E402  (Server, http_get, api_names)
import ws_baseline as wsb  # noqa: E402  (free_port, pin, wait_listening, stop_server, HOST, MIN_CPUS_TO_PIN)
from sse_fanout_client import machine_cpu_seconds, process_rss_mb  # noqa: E402
from ws_fanout_client import process_cpu_seconds, raise_open_file_limit  # noqa: E402

ROOT = HERE.parent
HOST = wsb.HOST
RESULTS = HERE / "results"
SCENARIO = HERE / "sse_fanout_scenario.yaml"
BASELINE = HERE / "sse_baseline.py"
CLIENT = HERE / "sse_fanout_client.py"
API = "tradingpartners"
STREAM = "/api/v1/alerts"
LOGIN = "/api/v1/users/login"
GOAL = 1.2
HTTP_OK = 200
KEPT_UP = 0.95
MIN_PROBE_SHARE = 0.02  # calibration gives up below this share of the baseline's rate


# -- the scenario ------------------------------------------------------------------------------
def scenario_facts() -> tuple[dict[str, str], float]:
    """The bench user's credentials and the expected events per virtual second to every stream."""
    from mockserver.core.durations import parse_duration

    tradingpartners = yaml.safe_load(SCENARIO.read_text())["apis"][API]
    state = tradingpartners["state"]
    user = state["users"][0]
    alerts = state.get("alerts") or {}
    every = parse_duration(alerts.get("every", "2m"))
    abort = float(alerts.get("abort_probability", 0.3))
    per_alert = 1 + abort + (1 - abort) * 2  # working, then aborted, or onGoing and closed
    return {"email": str(user["email"]), "password": str(user["password"])}, per_alert / every


def login(port: int, credentials: dict[str, str]) -> str:
    request = urllib.request.Request(
        f"http://{HOST}:{port}{LOGIN}", data=json.dumps(credentials).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token: str = json.loads(response.read())["accessToken"]
    return token


# -- one run of each server ----------------------------------------------------------------------
def wait_quiet(args: argparse.Namespace) -> float:
    """Wait (at most ``--quiet-wait`` seconds) until the machine is idle: another benchmark running at the same time
    would take CPU from ours. Returns the seconds waited."""
    started = time.monotonic()
    while True:
        before = machine_cpu_seconds()
        time.sleep(0.5)
        after = machine_cpu_seconds()
        busy = (after - before) / 0.5 if before is not None and after is not None else 0.0
        waited = time.monotonic() - started
        if busy < args.busy or waited >= args.quiet_wait:
            if waited >= 1:
                print(f"  (waited {waited:.0f} s for the machine to be quiet: {busy:.2f} CPU busy)", flush=True)
            return round(waited, 1)
        time.sleep(2)


def run_client(
    args: argparse.Namespace, url: str, connections: int, pid: int, cpu: int | None, extra: list[str], *, duration: float
) -> dict[str, Any]:
    command = [args.python, str(CLIENT), url, "--connections", str(connections), "--duration", str(duration)]
    command += ["--warmup", str(args.warmup), "--loop", args.loop, "--server-pid", str(pid), *extra]
    timeout = duration + args.warmup + 180
    done = subprocess.run(wsb.pin(cpu, command), cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the client printed no report (exit {done.returncode}):\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def idle_check(pid: int, seconds: float) -> dict[str, Any]:
    """The server's CPU share and RSS over ``seconds``, starting 1 s after the client left (streams that outlive their
    client burn CPU; a mock with frames queued for 1000 streams needs about half a second to notice they are all gone)."""
    time.sleep(1.0)
    cpu_start, started = process_cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    cpu_end, elapsed = process_cpu_seconds(pid), time.monotonic() - started
    share = round((cpu_end - cpu_start) / elapsed, 3) if cpu_start is not None and cpu_end is not None else None
    return {"idle_cpu_share": share, "idle_rss_mb": process_rss_mb(pid)}


def unless_busy(args: argparse.Namespace, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``, done again (``--retries`` times at most) when other processes took more than ``--busy`` CPU during its
    window; the report says how many runs were thrown away."""
    discarded = 0
    while True:
        report = run()
        if (report.get("other_cpu_share") or 0.0) <= args.busy or discarded >= args.retries:
            report["discarded_busy_runs"] = discarded
            return report
        discarded += 1
        print(
            f"  (the machine was busy during that run: other processes {report['other_cpu_share']:.2f} CPU; running it again)", flush=True
        )


def baseline_round(args: argparse.Namespace, connections: int, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    return unless_busy(args, lambda: baseline_run(args, connections, cpus))


def mock_round(
    args: argparse.Namespace, connections: int, rate: float, cpus: tuple[int | None, int | None], *, duration: float
) -> dict[str, Any]:
    return unless_busy(args, lambda: mock_run(args, connections, rate, cpus, duration=duration))


def baseline_run(args: argparse.Namespace, connections: int, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    waited = wait_quiet(args)
    port = wsb.free_port()
    command = [args.python, str(BASELINE), "serve", "--host", HOST, "--port", str(port), "--loop", args.loop, "--hold"]
    log = (RESULTS / "sse_fanout_baseline.log").open("ab")
    process = subprocess.Popen(wsb.pin(cpus[0], command), cwd=ROOT, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wsb.wait_listening(port, process)
        go = ["--go", f"http://{HOST}:{port}/go"]
        report = run_client(args, f"http://{HOST}:{port}/events", connections, process.pid, cpus[1], go, duration=args.duration)
        report.update(idle_check(process.pid, args.idle))
        status, body = heartbeat.http_get(f"http://{HOST}:{port}/stats")
        report["streams_left"] = json.loads(body).get("clients") if status == HTTP_OK else None
    finally:
        stopping = time.monotonic()
        report_server = wsb.stop_server(process)
        stop_s = round(time.monotonic() - stopping, 2)
        log.close()
    report.update(target="baseline", server=report_server, stop_s=stop_s, speed=None, offered_events_per_s=None, kept_up=None)
    report["waited_for_quiet_s"] = waited
    return report


def mock_command(args: argparse.Namespace, port: int, control_port: int, cpu: int | None) -> list[str]:
    command = [args.python, "-m", "mockserver", "serve", "--scenario", str(SCENARIO.relative_to(ROOT)), "--host", HOST]
    command += ["--control-port", str(control_port), "--speed", "0", "--port", f"{API}={port}"]
    for name in args.api_names:
        if name != API:
            command += ["--port", f"{name}=0"]
    return wsb.pin(cpu, [*command, *args.mock_args.split(), "--quiet"])


def mock_run(
    args: argparse.Namespace, connections: int, rate: float, cpus: tuple[int | None, int | None], *, duration: float
) -> dict[str, Any]:
    """A fresh mock offering ``rate`` deliveries per second, its clock released once all ``connections`` streams are open."""
    speed = rate / (args.events_per_vs * connections)
    waited = wait_quiet(args)
    port, control_port = wsb.free_port(), wsb.free_port()
    control = f"http://{HOST}:{control_port}/_mock"
    server = heartbeat.Server("mock", mock_command(args, port, control_port, cpus[0]), RESULTS / "sse_fanout_mock.log")
    server.start()
    try:
        server.wait_ready(f"{control}/health")
        assert server.process is not None
        token = login(port, args.credentials)
        go = ["--token", token, "--go", f"{control}/clock", "--go-body", json.dumps({"speed": speed})]
        report = run_client(args, f"http://{HOST}:{port}{STREAM}", connections, server.process.pid, cpus[1], go, duration=duration)
        report.update(idle_check(server.process.pid, args.idle))
        status, body = heartbeat.http_get(f"{control}/scenario", timeout=30)
        report["journal"] = json.loads(body).get("journal") if status == HTTP_OK else None
    finally:
        stopping = time.monotonic()
        exit_code = server.stop()
        stop_s = round(time.monotonic() - stopping, 2)
    report.update(target="mock", server_exit=exit_code, stop_s=stop_s, speed=round(speed, 4), offered_events_per_s=round(rate, 1))
    report["kept_up"] = kept_up(args, report, rate)
    report["waited_for_quiet_s"] = waited
    return report


def kept_up(args: argparse.Namespace, report: dict[str, Any], offered: float) -> bool:
    """All streams open and none closed, at least ``--keep`` of the offer over the window and ``--keep`` - 0.05 over its
    second half (a backlog that keeps growing shows there)."""
    intervals = report.get("per_interval") or [0.0]
    half = intervals[len(intervals) // 2 :]
    return (
        report["connected"] == report["connections"]
        and not report["closed_early"]
        and report["events_per_s"] >= args.keep * offered
        and sum(half) / len(half) >= (args.keep - 0.05) * offered
    )


# -- calibration: the mock's highest sustained rate --------------------------------------------------
def calibrate(args: argparse.Namespace, connections: int, base_rate: float, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    """Short runs bracketing the highest offered rate the mock keeps up with, to ``--resolution``."""
    low: float | None = None
    high: float | None = None
    probes: list[dict[str, Any]] = []
    rate = args.start * base_rate
    capped = False
    while len(probes) < args.max_probes:
        report = mock_round(args, connections, rate, cpus, duration=args.probe_duration)
        probes.append(report)
        print(
            f"  probe {len(probes)} N={connections:<5}: offered {rate:>9.0f} -> delivered {report['events_per_s']:>9.0f} ev/s, "
            f"srv cpu {report.get('server_cpu_share') or 0:.2f}, rss {rss(report)} MB: {'kept up' if report['kept_up'] else 'FELL BEHIND'}",
            flush=True,
        )
        if report["kept_up"]:
            low = max(low or 0.0, rate)
        else:
            high = min(high or math.inf, rate)
        if low is not None and high is not None and high / low <= 1 + args.resolution:
            break
        if high is None:
            if rate >= args.max_offer * base_rate:
                capped = True
                break
            rate = min(rate * 2, args.max_offer * base_rate)
        elif low is None:  # what it delivered while overloaded is below what it can sustain, but not by much
            if report["events_per_s"] < MIN_PROBE_SHARE * base_rate:
                break  # next to nothing delivered: a broken run, not a rate to search
            rate = min(report["events_per_s"] * 0.97, high / 1.5)
        else:
            rate = math.sqrt(low * high)
    if low is None:
        low = min(p["offered_events_per_s"] for p in probes)
    return {"sustained": round(low, 1), "lowest_fell_behind": high, "capped": capped, "probes": probes}


# -- the run -------------------------------------------------------------------------------------------
def medians(rounds: list[dict[str, Any]], target: str, field: str) -> dict[int, float]:
    found: dict[int, list[float]] = {}
    for r in rounds:
        if r["target"] == target and r.get(field) is not None:
            found.setdefault(r["connections"], []).append(float(r[field]))
    return {n: statistics.median(values) for n, values in found.items()}


def rss(r: dict[str, Any]) -> str:
    mem = r.get("server_rss_mb") or {}
    return f"{mem.get('start') or 0:.0f}->{mem.get('end') or 0:.0f}"


def print_table(rounds: list[dict[str, Any]]) -> None:
    print()
    print(
        f"{'N':>5} {'target':<8} {'round':>5} {'offered':>8} {'ev/s':>8} {'per conn':>8} {'conn min':>8} {'avg B':>6} "
        f"{'srv cpu':>7} {'cli cpu':>7} {'other':>5} {'rss MB':>9} {'idle cpu':>8} {'kept up':>7}"
    )
    for r in sorted(rounds, key=lambda r: (r["connections"], r["target"], r["round"])):
        per = r["per_conn_events_per_s"]
        offered = f"{r['offered_events_per_s']:.0f}" if r.get("offered_events_per_s") else "-"
        kept = {True: "yes", False: "no", None: "-"}[r.get("kept_up")]
        print(
            f"{r['connections']:>5} {r['target']:<8} {r['round']:>5} {offered:>8} {r['events_per_s']:>8.0f} {per['median'] or 0:>8.0f} "
            f"{per['min'] or 0:>8.0f} {r['avg_event_bytes'] or 0:>6.1f} {r.get('server_cpu_share') or 0:>7.2f} "
            f"{r['client_cpu_share'] or 0:>7.2f} {r.get('other_cpu_share') or 0:>5.2f} {rss(r):>9} "
            f"{r.get('idle_cpu_share') or 0:>8.2f} {kept:>7}"
        )


def notes_for(rounds: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    notes = []
    for r in rounds:
        where = f"N={r['connections']} {r['target']} round {r['round']}"
        if r["connected"] != r["connections"] or r["closed_early"] or r["connect_errors"]:
            notes.append(f"{where}: {r['connected']} connected, {r['connect_errors']} refused, {r['closed_early']} closed early")
        if r["target"] == "mock" and not r.get("kept_up"):
            notes.append(f"{where}: fell behind its calibrated rate ({r['offered_events_per_s']:.0f}/s offered)")
        if r["target"] == "overload":
            share = r["events_per_s"] / (r.get("offered_events_per_s") or math.inf)
            notes.append(
                f"{where}: overloaded ({r['offered_events_per_s']:.0f}/s offered, {args.overload:g}x its sustained rate) it delivered "
                f"{r['events_per_s']:.0f}/s ({share:.0%} of the offer)"
            )
        if (r.get("other_cpu_share") or 0) > args.busy:
            notes.append(f"{where}: other processes used {r['other_cpu_share']:.2f} CPU during the window: the machine was busy")
        if (r.get("idle_cpu_share") or 0) > 0.05:
            notes.append(f"{where}: still {r['idle_cpu_share']:.2f} CPU 1 s after the clients left: streams outlived their clients?")
        if r.get("streams_left"):
            notes.append(f"{where}: {r['streams_left']} streams still open after their clients left")
        if r.get("stop_s", 0) > 4:
            notes.append(f"{where}: the server took {r['stop_s']} s to stop after SIGINT")
        mem = r.get("server_rss_mb") or {}
        if r["target"] in ("mock", "overload") and mem.get("start") and mem.get("end") and mem["end"] - mem["start"] > args.rss_note:
            growth = (mem["end"] - mem["start"]) / (r.get("window_s") or 1)
            notes.append(f"{where}: resident memory grew {mem['start']:.0f} -> {mem['end']:.0f} MB over the window ({growth:.1f} MB/s)")
    return notes


def parse_speeds(text: str) -> dict[int, float]:
    return {int(n): float(s) for n, s in (item.split("=") for item in text.split(",") if item.strip())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,100,1000", help="comma-separated stream counts (default 1,100,1000)")
    parser.add_argument("--duration", type=float, default=5.0, help="measurement window per run, seconds (default 5)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds between the release and the window (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per N and server (default 3; the orders flip every round)")
    parser.add_argument("--overdrive", type=float, default=1.0, help="rounds offer the mock this times its sustained rate (default 1)")
    parser.add_argument(
        "--overload", type=float, default=1.5, help="one more run per N offered this times the sustained rate, not in the ratio (0: none)"
    )
    parser.add_argument("--mock-speed", default="", help="skip calibration: fixed clock speeds per N, e.g. '1=1500,100=50,1000=3'")
    parser.add_argument("--probe-duration", type=float, default=3.0, help="window of a calibration probe, seconds (default 3)")
    parser.add_argument("--max-probes", type=int, default=7, help="calibration probes per N at most (default 7)")
    parser.add_argument("--start", type=float, default=1.0, help="first probe's offered rate, times the baseline's (default 1)")
    parser.add_argument("--max-offer", type=float, default=8.0, help="highest rate probed, times the baseline's (default 8)")
    parser.add_argument("--keep", type=float, default=0.95, help="share of the offer a probe must deliver to keep up (default 0.95)")
    parser.add_argument("--resolution", type=float, default=0.1, help="stop when fell-behind / kept-up <= 1 + this (default 0.1)")
    parser.add_argument("--idle", type=float, default=1.0, help="seconds the server is watched with no client after each run (default 1)")
    parser.add_argument("--rss-note", type=float, default=20.0, help="note a mock whose RSS grew more than this many MB in a window")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="before each run, wait up to this long for an idle machine")
    parser.add_argument("--busy", type=float, default=0.3, help="machine CPU (all cores, 0..cores) that counts as busy (default 0.3)")
    parser.add_argument("--retries", type=int, default=2, help="runs done again when the machine was busy during them (default 2)")
    parser.add_argument("--no-pin", action="store_true", help="don't pin servers to CPU 0 and clients to CPU 1")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto", help="event loop of baseline and clients")
    parser.add_argument("--python", default=sys.executable, help="interpreter for servers and clients (default: this one)")
    parser.add_argument("--mock-args", default="", help="extra arguments for `mockserver serve`, e.g. '--journal-limit 1000000'")
    parser.add_argument("--out", type=Path, default=RESULTS / "sse_fanout.json", help="JSON results file")
    args = parser.parse_args(argv)

    sizes = [int(part) for part in args.connections.split(",") if part.strip()]
    fixed = parse_speeds(args.mock_speed)
    pinned = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= wsb.MIN_CPUS_TO_PIN
    cpus: tuple[int | None, int | None] = (0, 1) if pinned else (None, None)
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raise_open_file_limit(65536)  # inherited by servers and clients
    args.credentials, args.events_per_vs = scenario_facts()
    args.api_names = heartbeat.api_names(args.python)

    rounds: list[dict[str, Any]] = []
    error: str | None = None

    def record(report: dict[str, Any], round_no: int) -> None:
        report["round"] = round_no
        rounds.append(report)
        offered = f" of {report['offered_events_per_s']:.0f} offered" if report.get("offered_events_per_s") else ""
        print(
            f"round {round_no} N={report['connections']:<5} {report['target']:<8}: {report['events_per_s']:>9.0f} ev/s{offered}, "
            f"srv cpu {report.get('server_cpu_share') or 0:.2f}, cli cpu {report['client_cpu_share'] or 0:.2f}, "
            f"other {report.get('other_cpu_share') or 0:.2f}, rss {rss(report)} MB, "
            f"connected {report['connected']}, closed early {report['closed_early']}",
            flush=True,
        )

    rates: dict[int, float] = {n: s * args.events_per_vs * n for n, s in fixed.items()}
    calibration: dict[int, dict[str, Any]] = {}

    try:
        for round_no in range(1, args.rounds + 1):
            for n in sizes if round_no % 2 else list(reversed(sizes)):
                if n not in rates:  # the first time: the baseline first, then the mock's calibration
                    record(baseline_round(args, n, cpus), round_no)
                    calibration[n] = calibrate(args, n, rounds[-1]["events_per_s"], cpus)
                    rates[n] = args.overdrive * calibration[n]["sustained"]
                    if args.overload > 0:
                        overload = mock_round(args, n, args.overload * calibration[n]["sustained"], cpus, duration=args.duration)
                        record(dict(overload, target="overload"), round_no)
                    record(mock_round(args, n, rates[n], cpus, duration=args.duration), round_no)
                    continue
                for target in ["baseline", "mock"] if round_no % 2 else ["mock", "baseline"]:
                    if target == "baseline":
                        record(baseline_round(args, n, cpus), round_no)
                    else:
                        record(mock_round(args, n, rates[n], cpus, duration=args.duration), round_no)
    except (RuntimeError, OSError, subprocess.SubprocessError, json.JSONDecodeError, KeyError, urllib.error.URLError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"benchmark failed: {error}", file=sys.stderr)
        traceback.print_exc()

    print_table(rounds)
    base, mock = medians(rounds, "baseline", "events_per_s"), medians(rounds, "mock", "events_per_s")
    base_cpu, mock_cpu = medians(rounds, "baseline", "server_cpu_share"), medians(rounds, "mock", "server_cpu_share")
    offered = medians(rounds, "mock", "offered_events_per_s")
    ratios = {n: mock[n] / base[n] for n in sizes if base.get(n) and n in mock}
    print()
    print(
        f"TradingPartners SSE fan-out, {args.duration:g} s windows x {args.rounds} rounds, "
        f"{'servers on CPU 0, clients on CPU 1' if pinned else 'not pinned'}; mock offered "
        + (
            f"{args.overdrive:g}x its highest sustained rate (calibrated to {args.resolution:.0%})"
            if not fixed
            else f"fixed clock speeds {args.mock_speed}"
        )
    )
    print(f"{'N':>5} {'baseline ev/s':>14} {'srv cpu':>7} {'sustained':>9} {'offered':>8} {'mock ev/s':>10} {'srv cpu':>7} {'ratio':>6}")
    for n in sizes:
        if n in ratios:
            sustained = f"{calibration[n]['sustained']:.0f}" if n in calibration else "-"
            print(
                f"{n:>5} {base[n]:>14.0f} {base_cpu.get(n, 0):>7.2f} {sustained:>9} {offered.get(n, 0):>8.0f} "
                f"{mock[n]:>10.0f} {mock_cpu.get(n, 0):>7.2f} {ratios[n]:>6.3f}"
            )
    notes = notes_for(rounds, args)
    for n, info in calibration.items():
        if info["capped"]:
            notes.insert(0, f"N={n}: the mock kept up with {args.max_offer:g}x the baseline's rate: its ratio is a lower bound")
    print()
    for note in notes:
        print(f"note: {note}")
    met = {n: ratios[n] >= GOAL for n in ratios}
    for n in sizes:
        if n not in ratios:
            print(f"N={n}: not measured")
        elif met[n]:
            print(f"MEETS GOAL at N={n}: ratio {ratios[n]:.3f} >= {GOAL}")
        else:
            print(f"BELOW GOAL at N={n}: ratio {ratios[n]:.3f} < {GOAL}")

    result = {
        "benchmark": "sse_fanout",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "connections": sizes,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "overdrive": args.overdrive,
            "overload": args.overload,
            "mock_speed_fixed": {str(n): s for n, s in fixed.items()},
            "probe_duration_s": args.probe_duration,
            "max_probes": args.max_probes,
            "start": args.start,
            "max_offer": args.max_offer,
            "keep": args.keep,
            "resolution": args.resolution,
            "scenario": str(SCENARIO.relative_to(ROOT)),
            "events_per_virtual_second_per_stream": args.events_per_vs,
            "quiet_wait_s": args.quiet_wait,
            "busy_cpu": args.busy,
            "retries": args.retries,
            "pinned": pinned,
            "cpus": os.cpu_count(),
            "python": args.python,
            "loop": args.loop,
            "mock_args": args.mock_args,
        },
        "median_events_per_s": {"baseline": {str(n): v for n, v in base.items()}, "mock": {str(n): v for n, v in mock.items()}},
        "median_server_cpu": {"baseline": {str(n): v for n, v in base_cpu.items()}, "mock": {str(n): v for n, v in mock_cpu.items()}},
        "median_offered_events_per_s": {str(n): v for n, v in offered.items()},
        "ratio": {str(n): round(v, 3) for n, v in ratios.items()},
        "goal": {"ratio": GOAL, "met": {str(n): v for n, v in met.items()}},
        "mock_rate": {
            str(n): {"offered_events_per_s": round(rates[n], 1), "speed": round(rates[n] / (args.events_per_vs * n), 4)} for n in rates
        },
        "notes": notes,
        "error": error,
        "calibration": {str(n): info for n, info in calibration.items()},
        "rounds": rounds,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
