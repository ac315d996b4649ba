"""WebSocket fan-out baseline: a bare ``websockets`` server broadcasting small ticker messages.

The reference figure for the mock's TradeReady stream (performance.md, "WebSocket
fan-out"): how many ~120-byte ticker messages per second N subscribers receive when
the server does nothing but ``websockets.asyncio.server.broadcast()``.

    .venv/bin/python bench/ws_baseline.py                           # run: N = 1, 100, 1000; 3 rounds of 5 s
    .venv/bin/python bench/ws_baseline.py run --connections 1,100 --duration 3 --rounds 1
    .venv/bin/python bench/ws_baseline.py serve --port 9000         # only the server (Ctrl-C prints its counters)

``serve``: a ``websockets`` asyncio server (compression off, protocol pings off) on
uvloop when installed. Every connection, whatever its path, gets every message; what
clients send (a subscription) is read and ignored. As long as one client is connected,
a loop broadcasts prebuilt messages from a ring of 600 distinct ones (symbols, prices,
timestamps vary; 121-123 bytes, like the documented TradeReady ticker), in batches of
about ``--batch`` deliveries (messages x connections; at least one message), then
yields with ``await asyncio.sleep(0)``. ``broadcast()`` has no backpressure, so every
``--check-every`` deliveries the loop looks at the connections' write buffers and, when
one holds more than ``--max-buffer`` bytes, sleeps 1 ms at a time until all are below a
quarter of it: the server sends as fast as it and its clients can sustain, without
growing memory. ``backpressure_waits`` > 0 in its counters means the clients were the
bottleneck at some point.

``run``: for each round and each N, starts ``serve`` on a free port pinned to CPU 0,
runs ``bench/ws_fanout_client.py`` pinned to CPU 1 (``taskset``, when present and
there are 2 CPUs; ``--no-pin`` turns it off), stops the server (SIGINT), and prints a
table, the median per N and ``results/ws_baseline.json`` (git-ignored), with the
client's JSON of every round and the server's counters. ``cli cpu`` / ``srv cpu`` are
the CPU seconds per second of the window of client and server: the side near 1.00 is
the bottleneck. With one connection it is the client (one Python process receiving
~270k frames/s at 100 %, the server at ~50 % and pausing on backpressure), so the N=1
figure is a floor of what the server can send; from about 100 connections both sides
are near saturation. Compare the mock with
``ws_fanout_client.py`` in the same run on the same machine, never with figures from
another run (machines drift +-15 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CLIENT = HERE / "ws_fanout_client.py"
HOST = "127.0.0.1"
MIN_CPUS_TO_PIN = 2
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "AVAXUSDT", "LINKUSDT", "DOTUSDT")

sys.path.insert(0, str(HERE))
from run import free_port, pin  # noqa: E402  (one copy of each, in the heartbeat benchmark)
from ws_fanout_client import raise_open_file_limit, run_with_loop  # noqa: E402


def ticker_ring(size: int = 600) -> list[bytes]:
    """``size`` distinct documented-profile ticker messages, UTF-8 JSON, about 120 bytes each."""
    ring = []
    for i in range(size):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        price = f"{64521.30 + (i * 7.31) % 1000:.2f}"
        stamp = f"2026-02-23T15:{30 + i // 60 % 30:02d}:{i % 60:02d}.{(i * 37) % 1000:03d}Z"
        message = {"channel": f"ticker:{symbol}", "type": "ticker", "symbol": symbol, "price": price, "timestamp": stamp}
        ring.append(json.dumps(message, separators=(",", ":")).encode())
    return ring


# -- serve -----------------------------------------------------------------------------------
async def broadcaster(server: Any, stats: dict[str, Any], stop: asyncio.Event, *, batch: int, max_buffer: int, check_every: int) -> None:
    ring = ticker_ring()
    position = 0
    since_check = 0
    low_water = max_buffer // 4
    while not stop.is_set():
        connections: set[ServerConnection] = server.connections
        if not connections:
            await asyncio.sleep(0.005)
            continue
        count = len(connections)
        messages = max(1, batch // count)
        for _ in range(messages):
            broadcast(connections, ring[position], text=True)
            position = (position + 1) % len(ring)
        stats["broadcasts"] += messages
        stats["deliveries"] += messages * count
        since_check += messages * count
        if since_check >= max(check_every, 10 * count):
            since_check = 0
            if max(ws.transport.get_write_buffer_size() for ws in connections) > max_buffer:
                stats["backpressure_waits"] += 1
                while not stop.is_set() and any(ws.transport.get_write_buffer_size() > low_water for ws in server.connections):
                    await asyncio.sleep(0.001)
        await asyncio.sleep(0)


async def serve_main(args: argparse.Namespace) -> dict[str, Any]:
    stats: dict[str, Any] = {"broadcasts": 0, "deliveries": 0, "backpressure_waits": 0, "peak_connections": 0}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async def handler(ws: ServerConnection) -> None:
        stats["peak_connections"] = max(stats["peak_connections"], len(ws_server.connections))
        async for _ in ws:  # a subscription, a pong: read and ignored
            pass

    started, cpu_started = time.monotonic(), time.process_time()
    async with serve(handler, args.host, args.port, compression=None, ping_interval=None, backlog=2048) as ws_server:
        print(f"serving on ws://{args.host}:{args.port}/ ({type(loop).__module__.split('.')[0]})", file=sys.stderr, flush=True)
        task = asyncio.create_task(
            broadcaster(ws_server, stats, stop, batch=args.batch, max_buffer=args.max_buffer, check_every=args.check_every)
        )
        await stop.wait()
        await task
        ws_server.close(close_connections=False)
        for ws in list(ws_server.connections):
            ws.transport.abort()
    stats.update(wall_s=round(time.monotonic() - started, 3), cpu_s=round(time.process_time() - cpu_started, 3))
    return stats


def serve_command(args: argparse.Namespace) -> int:
    raise_open_file_limit(65536)
    stats = run_with_loop(lambda: serve_main(args), args.loop)
    print(json.dumps({"server": stats}), flush=True)
    return 0


# -- run ---------------------------------------------------------------------------------------
def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on {port} within {timeout:.0f} s")


def stop_server(process: subprocess.Popen[bytes]) -> dict[str, Any] | None:
    """SIGINT, wait (kill after 10 s); the server's counters from the last line of its stdout."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    for line in reversed(out.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            value = json.loads(line).get("server")
            return value if isinstance(value, dict) else None
    return None


def one_round(args: argparse.Namespace, connections: int, cpus: tuple[int | None, int | None]) -> dict[str, Any]:
    port = free_port()
    server_cmd = [args.python, str(Path(__file__).resolve()), "serve", "--host", HOST, "--port", str(port), "--loop", args.loop]
    server_cmd += ["--batch", str(args.batch), "--max-buffer", str(args.max_buffer), "--check-every", str(args.check_every)]
    log = (RESULTS / "ws_baseline_server.log").open("ab")
    process = subprocess.Popen(pin(cpus[0], server_cmd), cwd=ROOT, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_listening(port, process)
        client_cmd = [args.python, str(CLIENT), f"ws://{HOST}:{port}/", "--connections", str(connections)]
        client_cmd += [
            "--duration",
            str(args.duration),
            "--warmup",
            str(args.warmup),
            "--loop",
            args.loop,
            "--server-pid",
            str(process.pid),
        ]
        done = subprocess.run(pin(cpus[1], client_cmd), cwd=ROOT, capture_output=True, text=True, timeout=args.duration + args.warmup + 120)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"the client printed no report (exit {done.returncode}):\n{done.stderr}")
        report: dict[str, Any] = json.loads(lines[-1])
    finally:
        report_server = stop_server(process)
        log.close()
    report["server"] = report_server
    return report


def run_command(args: argparse.Namespace) -> int:
    sizes = [int(part) for part in args.connections.split(",") if part.strip()]
    pinned = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= MIN_CPUS_TO_PIN
    cpus: tuple[int | None, int | None] = (0, 1) if pinned else (None, None)
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raise_open_file_limit(65536)  # inherited by both children
    rounds: list[dict[str, Any]] = []
    try:
        for round_no in range(1, args.rounds + 1):
            for connections in sizes if round_no % 2 else list(reversed(sizes)):
                report = one_round(args, connections, cpus)
                report["round"] = round_no
                rounds.append(report)
                server = report.get("server") or {}
                print(
                    f"round {round_no} N={connections:<5}: {report['msgs_per_s']:>10.0f} msg/s "
                    f"(per conn {report['per_conn_msgs_per_s']['median']}), connected {report['connected']}, "
                    f"closed early {report['closed_early']}, backpressure waits {server.get('backpressure_waits')}",
                    flush=True,
                )
    except (RuntimeError, OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1

    print()
    print(
        f"{'N':>5} {'round':>5} {'msg/s':>10} {'per conn':>9} {'conn min':>9} {'conn max':>9} {'avg B':>6} {'cli cpu':>7} {'srv cpu':>7} {'bp waits':>8}"
    )
    for r in sorted(rounds, key=lambda r: (r["connections"], r["round"])):
        per = r["per_conn_msgs_per_s"]
        print(
            f"{r['connections']:>5} {r['round']:>5} {r['msgs_per_s']:>10.0f} {per['median']:>9.0f} {per['min']:>9.0f} {per['max']:>9.0f} "
            f"{r['avg_message_bytes'] or 0:>6.1f} {r['client_cpu_share'] or 0:>7.2f} {r.get('server_cpu_share') or 0:>7.2f} {(r.get('server') or {}).get('backpressure_waits', '-')!s:>8}"
        )
    medians = {str(n): round(statistics.median(r["msgs_per_s"] for r in rounds if r["connections"] == n), 1) for n in sizes}
    print()
    print(
        f"websockets broadcast(), {args.duration:g} s windows x {args.rounds} rounds, "
        f"{'server on CPU 0, client on CPU 1' if pinned else 'not pinned'}, loop {rounds[0]['loop'] if rounds else '?'}"
    )
    for n in sizes:
        print(f"N={n:<5} median {medians[str(n)]:>10.0f} msg/s delivered")
    result = {
        "benchmark": "ws_baseline",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "connections": sizes,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "batch": args.batch,
            "max_buffer": args.max_buffer,
            "check_every": args.check_every,
            "pinned": pinned,
            "cpus": os.cpu_count(),
            "python": args.python,
            "loop": args.loop,
        },
        "median_msgs_per_s": medians,
        "rounds": rounds,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")

    def server_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--batch", type=int, default=600, help="deliveries per batch before yielding (default 600)")
        sub.add_argument("--max-buffer", type=int, default=1 << 20, help="write-buffer bytes that pause the broadcaster (default 1 MiB)")
        sub.add_argument("--check-every", type=int, default=6000, help="deliveries between write-buffer checks (default 6000)")
        sub.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto", help="event loop (default: uvloop if installed)")

    serve_parser = commands.add_parser("serve", help="run the broadcast server")
    serve_parser.add_argument("--host", default=HOST)
    serve_parser.add_argument("--port", type=int, default=9000)
    server_options(serve_parser)

    run_parser = commands.add_parser("run", help="measure N = 1, 100, 1000 (the default command)")
    run_parser.add_argument("--connections", default="1,100,1000", help="comma-separated connection counts (default 1,100,1000)")
    run_parser.add_argument("--duration", type=float, default=5.0, help="measurement window per round, seconds (default 5)")
    run_parser.add_argument("--warmup", type=float, default=1.0, help="seconds after all connections are open (default 1)")
    run_parser.add_argument("--rounds", type=int, default=3, help="rounds per N (default 3; the order of N flips every round)")
    run_parser.add_argument("--no-pin", action="store_true", help="don't pin the server to CPU 0 and the client to CPU 1")
    run_parser.add_argument("--python", default=sys.executable, help="interpreter for server and client (default: this one)")
    run_parser.add_argument("--out", type=Path, default=RESULTS / "ws_baseline.json", help="JSON results file")
    server_options(run_parser)

    args = parser.parse_args(["run", *(argv if argv is not None else sys.argv[1:])] if not _has_command(argv) else argv)
    return serve_command(args) if args.command == "serve" else run_command(args)


def _has_command(argv: list[str] | None) -> bool:
    words = argv if argv is not None else sys.argv[1:]
    return bool(words) and words[0] in ("serve", "run", "-h", "--help")


if __name__ == "__main__":
    sys.exit(main())
