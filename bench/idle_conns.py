"""Idle connections: the mock's resident memory per held connection against bare ASGI servers, same run.

``--connections`` N (10,000) concurrent idle connections, half TradeReady WebSockets and half
TradingPartners event streams, held ``--hold`` seconds (30) with the protocol pings running
(``bench/idle_conns_scenario.yaml``: both ping every ``--ping-interval`` s, 5; the load client
answers TradeReady's pings, which close a connection whose pong is 10 s late). The goal is
**<= 30 KiB of the mock's RSS per connection**, ``(RSS held - RSS idle) / N``, every connection
still answered when it speaks after the hold. Baselines, each holding its half (N/2) in a process
of its own, measured the same way in the same run (``bench/idle_baseline.py``): uvicorn's sans-I/O
WebSocket server with a bare ASGI app that accepts and pings, and a hand-written Starlette
``StreamingResponse`` SSE stream of pings. Their per-connection cost together, ``(dRSS ws + dRSS
sse) / N``, is what the mock's figure is compared with (the ratio).

    .venv/bin/python bench/idle_conns.py                                   # 10,000 connections, 30 s hold
    .venv/bin/python bench/idle_conns.py --connections 1000 --hold 6 --ping-interval 2   # under a minute, for development

Each target is a fresh server (the mock: ``python -m mockserver serve`` on free ports, journal on
as always) started by this script, which raises its own soft ``RLIMIT_NOFILE`` first (the servers
and the load client inherit it; the server's defaults are untouched). Per target:

1. the server starts; a few connections of each kind open, get a ping and close (one-time costs:
   lazy imports, first allocations), then ``--settle`` s pass and **RSS idle** is read
   (``/proc/<pid>/status`` ``VmRSS``);
2. ``bench/idle_conns_client.py`` (its own process, pinned to the other CPU when there are 2+)
   opens all the connections, ``--concurrency`` handshakes at a time, and holds them ``--hold`` s;
3. **RSS held** is read with everything open and idle, and the server's CPU share over the hold
   (the pings' cost);
4. the client speaks on every WebSocket (a subscribe, which TradeReady answers; the baseline
   answers any frame) and checks every stream is open and got its pings (at least ``hold /
   interval - 1``); failures are counted and printed;
5. the client leaves; ``--settle`` s later **RSS after** shows what was given back.

Prints a table, the ratio and ``MEETS GOAL`` / ``BELOW GOAL``, and writes
``results/idle_conns.json`` (git-ignored). A benchmark is not a test: the exit code is 0 either
way (1 if a server would not start or the client printed no report).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as heartbeat  # noqa: E402  (Server, http_get, api_names)
import ws_baseline as wsb  # noqa: E402  (free_port, pin, wait_listening, stop_server, HOST, MIN_CPUS_TO_PIN)
from ws_fanout_client import process_cpu_seconds, raise_open_file_limit  # noqa: E402

ROOT = HERE.parent
HOST = wsb.HOST
RESULTS = HERE / "results"
SCENARIO = HERE / "idle_conns_scenario.yaml"
CLIENT = HERE / "idle_conns_client.py"
BASELINE = HERE / "idle_baseline.py"
GOAL_KIB = 30.0
HTTP_OK = 200
WARM = 10  # connections of each kind opened and closed before RSS idle is read


def rss_kib(pid: int) -> int | None:
    """Resident memory of ``pid`` in KiB (``VmRSS``), None if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def scenario_file(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """The scenario with both APIs pinging every ``--ping-interval`` s, written next to the results."""
    scenario = yaml.safe_load(SCENARIO.read_text())
    interval = f"{args.ping_interval:g}s"
    scenario["apis"]["tradeready"]["options"]["ping_interval"] = interval
    scenario["apis"]["tradingpartners"]["options"]["ping_interval"] = interval
    path = RESULTS / "idle_conns_scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path, scenario


def login(port: int, user: dict[str, Any]) -> str:
    body = json.dumps({"email": user["email"], "password": user["password"]}).encode()
    request = urllib.request.Request(
        f"http://{HOST}:{port}/api/v1/users/login", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token: str = json.loads(response.read())["accessToken"]
    return token


def client_command(args: argparse.Namespace, urls: dict[str, str], ws: int, sse: int, hold: float, min_pings: int) -> list[str]:
    command = [args.python, str(CLIENT), "--ws", str(ws), "--sse", str(sse), "--hold", str(hold), "--min-pings", str(min_pings)]
    command += ["--concurrency", str(args.concurrency), "--loop", args.loop]
    for option, key in (("--ws-url", "ws"), ("--sse-url", "sse"), ("--token", "token")):
        if urls.get(key):
            command += [option, urls[key]]
    return command


def warm_up(args: argparse.Namespace, urls: dict[str, str], ws: bool, sse: bool) -> None:
    """A few connections of each kind, one ping each, closed: one-time costs are not per-connection costs."""
    hold = args.ping_interval + 0.5
    command = client_command(args, urls, WARM if ws else 0, WARM if sse else 0, hold, 1)
    subprocess.run(command, cwd=ROOT, input="\n", capture_output=True, text=True, timeout=hold + 120, check=False)


def read_phase(stream: IO[str], phase: str) -> dict[str, Any]:
    for line in stream:
        if line.startswith("{"):
            message: dict[str, Any] = json.loads(line)
            if message.get("phase") == phase:
                return message
    raise RuntimeError(f"the load client ended before the {phase!r} phase (see results/idle_conns_client.log)")


def hold_run(
    args: argparse.Namespace, target: str, server_pid: int, urls: dict[str, str], ws: int, sse: int, cpu: int | None
) -> dict[str, Any]:
    """Warm up, read RSS idle, hold ``ws`` + ``sse`` connections, read RSS held, check them, read RSS after."""
    warm_up(args, urls, ws > 0, sse > 0)
    time.sleep(args.settle)
    idle = rss_kib(server_pid)
    min_pings = max(0, int(args.hold // args.ping_interval) - 1)
    command = wsb.pin(cpu, client_command(args, urls, ws, sse, args.hold, min_pings))
    with (RESULTS / "idle_conns_client.log").open("a") as log:
        log.write(f"--- {target}: {' '.join(command)}\n")
        log.flush()
        client = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        assert client.stdin is not None and client.stdout is not None
        try:
            opened = read_phase(client.stdout, "open")
            cpu_start, started = process_cpu_seconds(server_pid), time.monotonic()
            rss_open = rss_kib(server_pid)
            read_phase(client.stdout, "held")
            cpu_end, elapsed = process_cpu_seconds(server_pid), time.monotonic() - started
            held = rss_kib(server_pid)
            client.stdin.write("\n")
            client.stdin.flush()
            report = read_phase(client.stdout, "done")
            client.wait(timeout=60)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
    time.sleep(args.settle)
    after = rss_kib(server_pid)
    count = ws + sse
    per_conn = (held - idle) / count if held is not None and idle is not None and count else None
    hold_cpu = (cpu_end - cpu_start) / elapsed if cpu_start is not None and cpu_end is not None and elapsed > 0 else None
    return {
        "target": target,
        "ws": ws,
        "sse": sse,
        "connections": count,
        "rss_idle_kib": idle,
        "rss_open_kib": rss_open,
        "rss_held_kib": held,
        "rss_after_kib": after,
        "kib_per_conn": round(per_conn, 2) if per_conn is not None else None,
        "hold_cpu_share": round(hold_cpu, 3) if hold_cpu is not None else None,
        "open_s": opened.get("open_s"),
        "client": report,
        "failures": failures(report),
    }


def failures(report: dict[str, Any]) -> dict[str, int]:
    """What went wrong, by kind (all 0 for a clean figure)."""
    out: dict[str, int] = {}
    for kind in ("ws", "sse"):
        part = report.get(kind) or {}
        if not part.get("wanted"):
            continue
        for field in ("connect_errors", "closed_early", "unanswered", "short_of_pings"):
            if part.get(field):
                out[f"{kind} {field.replace('_', ' ')}"] = int(part[field])
    return out


# -- the servers -------------------------------------------------------------------------------
def mock_target(args: argparse.Namespace, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    path, scenario = scenario_file(args)
    ports = {"tradeready": wsb.free_port(), "tradingpartners": wsb.free_port()}
    control_port = wsb.free_port()
    command = [args.python, "-m", "mockserver", "serve", "--scenario", str(path), "--host", HOST, "--control-port", str(control_port)]
    for name in args.api_names:
        command += ["--port", f"{name}={ports.get(name, 0)}"]
    server = heartbeat.Server("mock", wsb.pin(cpus[0], [*command, *args.mock_args.split(), "--quiet"]), RESULTS / "idle_conns_mock.log")
    server.start()
    try:
        server.wait_ready(f"http://{HOST}:{control_port}/_mock/health")
        assert server.process is not None
        key = scenario["apis"]["tradeready"]["state"]["keys"][0]["key"]
        urls = {
            "ws": f"ws://{HOST}:{ports['tradeready']}/ws/v1?api_key={key}",
            "sse": f"http://{HOST}:{ports['tradingpartners']}/api/v1/alerts",
            "token": login(ports["tradingpartners"], scenario["apis"]["tradingpartners"]["state"]["users"][0]),
        }
        half = args.connections // 2
        result = hold_run(args, "mock", server.process.pid, urls, half, args.connections - half, cpus[1])
        status, body = heartbeat.http_get(f"http://{HOST}:{control_port}/_mock/scenario", timeout=30)
        result["journal"] = json.loads(body).get("journal") if status == HTTP_OK else None
    finally:
        result_exit = server.stop()
    result["server_exit"] = result_exit
    return result


def baseline_target(args: argparse.Namespace, kind: str, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    port = wsb.free_port()
    command = [args.python, str(BASELINE), kind, "--host", HOST, "--port", str(port), "--ping-interval", str(args.ping_interval)]
    server = heartbeat.Server(f"{kind} baseline", wsb.pin(cpus[0], command), RESULTS / f"idle_conns_{kind}_baseline.log")
    server.start()
    try:
        assert server.process is not None
        wsb.wait_listening(port, server.process)
        urls = {"ws": f"ws://{HOST}:{port}/"} if kind == "ws" else {"sse": f"http://{HOST}:{port}/events"}
        ws = args.connections // 2 if kind == "ws" else 0
        sse = args.connections - args.connections // 2 if kind == "sse" else 0
        return hold_run(args, f"{kind} baseline", server.process.pid, urls, ws, sse, cpus[1])
    finally:
        server.stop()


# -- the summary ---------------------------------------------------------------------------------
def print_table(runs: list[dict[str, Any]]) -> None:
    print(
        f"{'target':<14}{'conns':>7}{'RSS idle':>10}{'RSS held':>10}{'RSS after':>10}{'KiB/conn':>10}{'hold cpu':>9}{'open s':>8}  failures"
    )
    for run in runs:
        mib = [f"{run[k] / 1024:.1f}M" if run.get(k) is not None else "-" for k in ("rss_idle_kib", "rss_held_kib", "rss_after_kib")]
        failed = ", ".join(f"{k} {v}" for k, v in run["failures"].items()) or "none"
        per = f"{run['kib_per_conn']:.1f}" if run.get("kib_per_conn") is not None else "-"
        print(
            f"{run['target']:<14}{run['connections']:>7}{mib[0]:>10}{mib[1]:>10}{mib[2]:>10}{per:>10}{run['hold_cpu_share']!s:>9}{run['open_s']!s:>8}  {failed}"
        )


def summarize(runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    mock = runs.get("mock")
    ws, sse = runs.get("ws baseline"), runs.get("sse baseline")
    summary: dict[str, Any] = {"goal_kib_per_conn": GOAL_KIB}
    if ws and sse and all(r.get("rss_held_kib") is not None and r.get("rss_idle_kib") is not None for r in (ws, sse)):
        grown = (ws["rss_held_kib"] - ws["rss_idle_kib"]) + (sse["rss_held_kib"] - sse["rss_idle_kib"])
        summary["baseline_kib_per_conn"] = round(grown / (ws["connections"] + sse["connections"]), 2)
    if mock and mock.get("kib_per_conn") is not None:
        summary["mock_kib_per_conn"] = mock["kib_per_conn"]
        summary["meets_goal"] = mock["kib_per_conn"] <= GOAL_KIB and not mock["failures"]
        if summary.get("baseline_kib_per_conn"):
            summary["ratio"] = round(mock["kib_per_conn"] / summary["baseline_kib_per_conn"], 3)
        journal = mock.get("journal") or {}
        summary["mock_journal"] = journal
    print()
    if ws and ws.get("kib_per_conn") is not None:
        print(f"uvicorn sans-I/O WebSocket:   {ws['kib_per_conn']:6.1f} KiB per connection")
    if sse and sse.get("kib_per_conn") is not None:
        print(f"Starlette SSE stream:         {sse['kib_per_conn']:6.1f} KiB per connection")
    if "baseline_kib_per_conn" in summary:
        print(f"baselines, half each:         {summary['baseline_kib_per_conn']:6.1f} KiB per connection")
    if "mock_kib_per_conn" in summary:
        print(f"mock (journal on), half each: {summary['mock_kib_per_conn']:6.1f} KiB per connection   goal <= {GOAL_KIB:g}")
        if "ratio" in summary:
            print(f"ratio mock/baselines: {summary['ratio']:.2f}")
        if summary.get("mock_journal"):
            j = summary["mock_journal"]
            print(f"mock journal after the run: {j.get('entries')} entries ({j.get('in_memory')} in memory, {j.get('spilled')} spilled)")
        if mock and mock["failures"]:
            print(f"FAILURES: {mock['failures']} (first reasons in results/idle_conns.json)")
        if summary["meets_goal"]:
            print(f"MEETS GOAL: {summary['mock_kib_per_conn']:.1f} KiB <= {GOAL_KIB:g} KiB per connection, every connection answered")
        else:
            print(
                f"BELOW GOAL: {summary['mock_kib_per_conn']:.1f} KiB per connection (goal <= {GOAL_KIB:g}), failures {mock['failures'] if mock else '?'}"
            )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000, help="connections per server, half WebSocket and half SSE")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds the connections are held idle before the check")
    parser.add_argument("--ping-interval", type=float, default=5.0, help="seconds between pings, both APIs and both baselines")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before reading RSS idle and RSS after")
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes in flight at once")
    parser.add_argument("--only", choices=["mock", "ws", "sse"], action="append", help="run only these targets (repeatable)")
    parser.add_argument("--no-pin", action="store_true", help="don't pin server and client to separate CPUs")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto", help="the load client's event loop")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--mock-args", default="", help="extra arguments for `mockserver serve`")
    parser.add_argument("--out", type=Path, default=RESULTS / "idle_conns.json")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "idle_conns_client.log").write_text("")
    # the benchmark's processes need a descriptor per connection; the servers and the client inherit this
    limit = raise_open_file_limit(args.connections + 1024)
    if limit < args.connections + 256:
        print(f"the open-files limit is {limit} (hard limit): too low for {args.connections} connections", file=sys.stderr)
        return 1
    args.api_names = heartbeat.api_names(args.python)
    pinnable = not args.no_pin and (os.cpu_count() or 1) >= wsb.MIN_CPUS_TO_PIN and heartbeat.shutil.which("taskset") is not None
    cpus: tuple[int | None, int | None] = (0, 1) if pinnable else (None, None)
    targets = args.only or ["ws", "sse", "mock"]
    print(
        f"idle connections: {args.connections} per server (half WebSocket, half SSE), hold {args.hold:g} s, "
        f"pings every {args.ping_interval:g} s, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    runs: dict[str, dict[str, Any]] = {}
    code = 0
    for target in targets:
        try:
            run = mock_target(args, cpus) if target == "mock" else baseline_target(args, target, cpus)
        except Exception as exc:
            traceback.print_exc()
            print(f"{target}: {exc}", file=sys.stderr)
            code = 1
            continue
        runs[run["target"]] = run
        print_table([run])
    print()
    print_table(list(runs.values()))
    summary = summarize(runs, args)
    report = {
        "benchmark": "idle_conns",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "runs": list(runs.values()),
        "summary": summary,
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
