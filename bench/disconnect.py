"""Disconnect under full load: does the mock's per-client work stop within 1 s of the clients vanishing?

For each streaming API, a fresh mock is loaded past what it can send, then its load client is
killed with SIGKILL (the kernel closes its sockets: no close frame, no clean end of stream; with
unread data in them, a TCP reset). The goal: **within 1 s of the kill** the server's CPU is back to
idle and its journal records no more frames for the vanished clients.

- **TradeReady**: ``--ws-subscribers`` (500) WebSockets subscribed to ``ticker:all``
  (``bench/ws_fanout_scenario.yaml``: 620 ticker frames per virtual second to each, journaled
  as one ``ws.broadcast`` per frame naming its recipients) at clock speed ``--ws-speed`` (1.0:
  ~310k deliveries/s offered, about 1.5x what the mock sustains at 500 subscribers, so every
  connection has a backlog queued when its client dies); the load client is
  ``bench/ws_fanout_client.py``.
- **TradingPartners**: ``--sse-streams`` (100) alert streams of one FULL user
  (``bench/sse_fanout_scenario.yaml``: 30 events per virtual second to each, every frame its own
  ``sse.frame`` entry) at clock speed ``--sse-speed`` (200: 600k deliveries/s offered, about 1.5x
  what it sustains); the load client is ``bench/sse_fanout_client.py``.

Per API: the mock starts (its clock stopped) pinned to CPU 0 and the client to CPU 1 (``taskset``, 2+ CPUs); once all
connections are open, the clock is set going at the API's speed, ``--load`` seconds of full load pass (the server's CPU share over the last
second is printed: near 1.00 is full load); the client is killed; the server's CPU is sampled every
``--sample`` s for ``--watch`` s; then the journal entries after the kill are read through the
control API (``GET /_mock/journal.jsonl?api=...&since=<last seq before the kill>``). Printed per API:

- ``cpu idle``: seconds from the kill to the end of the last ``--window``-s window in which the
  server used more than ``--idle-cpu`` CPU (its per-client work: senders, stream pumps, the
  market's fan-out);
- ``cpu-s``: CPU seconds the server used after the kill: what its per-client work costs when it
  has a CPU to itself (on a busy machine the wall-clock figures stretch, this one does not);
- ``last frame``: seconds from the kill to the last frame journaled for the killed connections
  (``ws.broadcast`` / ``ws.frame`` out; ``sse.frame``), and how many came after the kill;
- ``ended``: seconds from the kill to the last connection's end entry (``ws.close`` /
  ``ws.reset``; ``sse.end`` / ``sse.reset``), and how many ended of how many;
- ``discarded``: frames queued but never sent because the connection ended (``ws.discarded``);
- ``other``: CPUs the rest of the machine kept busy while the server was watched (a note follows
  when above ``--busy``, 0.3: the machine has 2 cores, and a server that gets half of one takes
  twice as long in wall-clock time);
- the verdict: ``MEETS GOAL`` when both cpu idle and last frame are <= 1 s and every connection
  ended, else ``BELOW GOAL``.

Writes ``results/disconnect.json`` (git-ignored). A benchmark is not a test: the exit code is 0
either way (1 if a server would not start or a client never opened its connections).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as heartbeat  # noqa: E402  (Server, http_get, api_names)
import ws_baseline as wsb  # noqa: E402  (free_port, pin, HOST, MIN_CPUS_TO_PIN)
from sse_fanout import login  # noqa: E402
from sse_fanout_client import machine_cpu_seconds  # noqa: E402
from ws_fanout_client import process_cpu_seconds, raise_open_file_limit  # noqa: E402

ROOT = HERE.parent
HOST = wsb.HOST
RESULTS = HERE / "results"
GOAL_S = 1.0
HTTP_OK = 200
FRAME_KINDS = {"tradeready": ("ws.broadcast", "ws.frame"), "tradingpartners": ("sse.frame",)}
END_KINDS = {"tradeready": ("ws.close", "ws.reset"), "tradingpartners": ("sse.end", "sse.reset")}


def mock_command(args: argparse.Namespace, api: str, scenario: Path, port: int, control_port: int, speed: float) -> list[str]:
    command = [args.python, "-m", "mockserver", "serve", "--scenario", str(scenario.relative_to(ROOT)), "--host", HOST]
    command += ["--control-port", str(control_port), "--speed", str(speed)]
    for name in args.api_names:
        command += ["--port", f"{name}={port if name == api else 0}"]
    return [*command, *args.mock_args.split(), "--quiet"]


def post_json(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != HTTP_OK:
            raise RuntimeError(f"POST {url} answered {response.status}")


def last_seq(control: str) -> int:
    status, body = heartbeat.http_get(f"{control}/journal?kind=server.started&limit=1", timeout=30)
    if status != HTTP_OK:
        raise RuntimeError(f"GET /_mock/journal answered {status}")
    seq: int = json.loads(body)["last_seq"]
    return seq


def journal_after(control: str, api: str, since: int, killed: float) -> dict[str, Any]:
    """Frames and ends journaled for ``api`` after ``since``: counts and last times relative to the kill."""
    frames, ends = FRAME_KINDS[api], END_KINDS[api]
    out: dict[str, Any] = {"frames_after_kill": 0, "last_frame_s": None, "ended": 0, "last_end_s": None, "discarded_frames": 0}
    query = urllib.parse.urlencode({"api": api, "since": since})
    with urllib.request.urlopen(f"{control}/journal.jsonl?{query}", timeout=120) as response:
        for raw in response:
            entry = json.loads(raw)
            kind, after = entry["kind"], entry["wall"] - killed
            if kind in frames and entry["direction"] == "out" and after > 0:
                out["frames_after_kill"] += 1
                out["last_frame_s"] = max(out["last_frame_s"] or 0.0, round(after, 3))
            elif kind in ends:
                out["ended"] += 1
                out["last_end_s"] = max(out["last_end_s"] or -1e9, round(after, 3))
            elif kind == "ws.discarded":
                out["discarded_frames"] += entry["data"]["frames"]
    if out["last_frame_s"] is None:
        out["last_frame_s"] = 0.0  # nothing after the kill
    return out


def sample_cpu(pid: int, seconds: float, every: float) -> list[tuple[float, float]]:
    """(monotonic time, CPU seconds) of ``pid`` every ``every`` s for ``seconds``."""
    samples: list[tuple[float, float]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        cpu = process_cpu_seconds(pid)
        if cpu is not None:
            samples.append((time.monotonic(), cpu))
        time.sleep(every)
    return samples


def cpu_idle_after(samples: list[tuple[float, float]], killed: float, window: float, threshold: float) -> tuple[float | None, list[float]]:
    """Seconds from the kill to the end of the last window busier than ``threshold``; the share per window."""
    shares: list[float] = []
    last_busy = 0.0
    start = 0
    for index in range(1, len(samples)):
        if samples[index][0] - samples[start][0] >= window - 1e-6:
            (t0, c0), (t1, c1) = samples[start], samples[index]
            share = (c1 - c0) / (t1 - t0)
            shares.append(round(share, 3))
            if share > threshold:
                last_busy = t1 - killed
            start = index
    if not shares:
        return None, shares
    return round(last_busy, 3), shares


def wait_for_line(stream: Any, marker: str, timeout: float) -> str:
    """The first line of ``stream`` containing ``marker`` (a reader thread, so a silent client cannot hang us)."""
    found: list[str] = []
    seen: list[str] = []

    def read() -> None:
        for line in stream:
            seen.append(line)
            if marker in line:
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        raise RuntimeError(f"the load client did not print {marker!r} within {timeout:.0f} s:\n{''.join(seen[-20:])}")
    return found[0].strip()


def one_api(args: argparse.Namespace, api: str, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    ws = api == "tradeready"
    scenario = HERE / ("ws_fanout_scenario.yaml" if ws else "sse_fanout_scenario.yaml")
    spec = yaml.safe_load(scenario.read_text())["apis"][api]
    count = args.ws_subscribers if ws else args.sse_streams
    speed = args.ws_speed if ws else args.sse_speed
    port, control_port = wsb.free_port(), wsb.free_port()
    control = f"http://{HOST}:{control_port}/_mock"
    server = heartbeat.Server(
        "mock",
        wsb.pin(cpus[0], mock_command(args, api, scenario, port, control_port, 0)),
        RESULTS / f"disconnect_{api}.log",
    )
    server.start()
    try:
        server.wait_ready(f"{control}/health")
        assert server.process is not None
        pid = server.process.pid
        idle_before = sample_cpu(pid, 1.0, args.sample)
        if ws:
            url = f"ws://{HOST}:{port}/ws/v1?api_key={spec['state']['keys'][0]['key']}"
            client = [args.python, str(HERE / "ws_fanout_client.py"), url, "--connections", str(count)]
            client += ["--first-message", '{"action":"subscribe","channel":"ticker:all"}', "--pong", '{"type":"pong"}']
        else:
            user = spec["state"]["users"][0]
            token = login(port, {"email": user["email"], "password": user["password"]})
            client = [args.python, str(HERE / "sse_fanout_client.py"), f"http://{HOST}:{port}/api/v1/alerts", "--connections", str(count)]
            client += ["--token", token, "--go", f"{control}/clock", "--go-body", json.dumps({"speed": speed})]
        client += ["--warmup", "0", "--duration", "3600"]
        process = subprocess.Popen(wsb.pin(cpus[1], client), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            opened = wait_for_line(process.stderr, " open in ", 120)
            connected = int(opened.split("/", 1)[0])
            if ws:  # the clock starts once every subscriber is in (the SSE client does this itself, with --go)
                post_json(f"{control}/clock", {"speed": speed})
            print(f"  {api}: {opened.split(';')[0]}; full load for {args.load:g} s", flush=True)
            time.sleep(max(0.0, args.load - 1.0))
            load = sample_cpu(pid, 1.0, args.sample)
            since = last_seq(control)
            killed_wall, killed = time.time(), time.monotonic()
            process.send_signal(signal.SIGKILL)
            machine_before = machine_cpu_seconds()
            after = sample_cpu(pid, args.watch, args.sample)
            machine_after = machine_cpu_seconds()
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        journal = journal_after(control, api, since, killed_wall)
    finally:
        server.stop()
    cpu_idle_s, shares = cpu_idle_after(after, killed, args.window, args.idle_cpu)
    share: Callable[[list[tuple[float, float]]], float | None] = lambda s: (  # noqa: E731
        round((s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0]), 3) if len(s) > 1 else None
    )
    server_cpu = after[-1][1] - after[0][1] if len(after) > 1 else 0.0
    elapsed = after[-1][0] - after[0][0] if len(after) > 1 else 0.0
    other = (
        round((machine_after - machine_before - server_cpu) / elapsed, 2)
        if machine_before is not None and machine_after is not None and elapsed > 0
        else None
    )
    result = {
        "api": api,
        "other_cpu_after_kill": other,
        "connections": count,
        "connected": connected,
        "speed": speed,
        "idle_cpu_before": share(idle_before),
        "load_cpu": share(load),
        "cpu_idle_s": cpu_idle_s,
        "cpu_windows_after_kill": shares,
        "cpu_s_after_kill": round(server_cpu, 3),
        **journal,
    }
    stop_s = max(cpu_idle_s if cpu_idle_s is not None else 1e9, journal["last_frame_s"])
    result["stop_s"] = round(stop_s, 3)
    result["meets_goal"] = stop_s <= GOAL_S and journal["ended"] >= connected
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"\n{'API':<16}{'conns':>6}{'load cpu':>9}{'cpu idle':>9}{'cpu-s':>7}{'last frame':>11}{'frames':>8}{'ended':>10}{'ended at':>9}{'discarded':>10}{'other':>6}  verdict (goal <= {GOAL_S:g} s)"
    )
    for r in results:
        ended = f"{r['ended']}/{r['connected']}"
        verdict = "MEETS GOAL" if r["meets_goal"] else "BELOW GOAL"
        print(
            f"{r['api']:<16}{r['connections']:>6}{r['load_cpu']!s:>9}{r['cpu_idle_s']!s:>8}s{r['cpu_s_after_kill']!s:>7}{r['last_frame_s']!s:>10}s"
            f"{r['frames_after_kill']:>8}{ended:>10}{r['last_end_s']!s:>8}s{r['discarded_frames']:>10}{r['other_cpu_after_kill']!s:>6}  {verdict}: per-client work stopped {r['stop_s']:.2f} s after the kill"
        )


def busy_notes(results: list[dict[str, Any]], busy: float) -> list[str]:
    return [
        f"note: {r['api']}: other processes kept {r['other_cpu_after_kill']:.2f} CPUs busy after the kill (the server had "
        f"{r['load_cpu']} of a CPU under load): the wall-clock figures stretch, cpu-s ({r['cpu_s_after_kill']}) does not"
        for r in results
        if (r.get("other_cpu_after_kill") or 0.0) > busy
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=list(FRAME_KINDS), action="append", help="run only this API (repeatable)")
    parser.add_argument("--ws-subscribers", type=int, default=500, help="TradeReady ticker:all subscribers")
    parser.add_argument("--ws-speed", type=float, default=1.0, help="TradeReady clock speed (620 frames per virtual second each)")
    parser.add_argument("--sse-streams", type=int, default=100, help="TradingPartners alert streams")
    parser.add_argument("--sse-speed", type=float, default=200.0, help="TradingPartners clock speed (30 events per virtual second each)")
    parser.add_argument("--load", type=float, default=4.0, help="seconds of full load before the kill")
    parser.add_argument("--watch", type=float, default=4.0, help="seconds the server is watched after the kill")
    parser.add_argument("--sample", type=float, default=0.02, help="seconds between CPU samples")
    parser.add_argument("--window", type=float, default=0.1, help="seconds of CPU per judged window")
    parser.add_argument("--idle-cpu", type=float, default=0.1, help="CPU share above which a window counts as busy")
    parser.add_argument("--busy", type=float, default=0.3, help="other processes' CPU after the kill above which a note says so")
    parser.add_argument("--no-pin", action="store_true", help="don't pin server and client to separate CPUs")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--mock-args", default="", help="extra arguments for `mockserver serve`")
    parser.add_argument("--out", type=Path, default=RESULTS / "disconnect.json")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    raise_open_file_limit(max(args.ws_subscribers, args.sse_streams) + 1024)
    args.api_names = heartbeat.api_names(args.python)
    pinnable = not args.no_pin and (os.cpu_count() or 1) >= wsb.MIN_CPUS_TO_PIN and heartbeat.shutil.which("taskset") is not None
    cpus: tuple[int | None, int | None] = (0, 1) if pinnable else (None, None)
    print(f"disconnect under full load: SIGKILL the load client, time until per-client work stops (load {os.getloadavg()[0]:.2f})")
    results: list[dict[str, Any]] = []
    code = 0
    for api in args.only or list(FRAME_KINDS):
        try:
            results.append(one_api(args, api, cpus))
        except Exception as exc:
            traceback.print_exc()
            print(f"{api}: {exc}", file=sys.stderr)
            code = 1
    print_table(results)
    for note in busy_notes(results, args.busy):
        print(note)
    report = {
        "benchmark": "disconnect",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": results,
        "goal_s": GOAL_S,
        "meets_goal": bool(results) and all(r["meets_goal"] for r in results),
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
