"""WebSocket fan-out load client: N connections to one URL, messages received per second, as JSON.

Opens ``--connections`` WebSocket connections (``websockets`` client, compression off,
protocol pings off), optionally sends one first message on each (a subscription),
waits until all are open, lets ``--warmup`` seconds pass, then counts the frames all
connections receive during ``--duration`` seconds and prints one JSON object on stdout
(progress goes to stderr). It only counts frames; it parses nothing, so the same harness
measures any server:

    # the bare baseline (bench/ws_baseline.py serve --port 9000)
    python bench/ws_fanout_client.py ws://127.0.0.1:9000/ --connections 100

    # the mock's TradeReady endpoint, documented profile
    python bench/ws_fanout_client.py 'ws://127.0.0.1:8703/ws/v1?api_key=ak_live_...' --connections 1000 \\
        --first-message '{"action":"subscribe","channel":"ticker:all"}' --pong '{"type":"pong"}'

With ``--pong``, every received frame containing ``--ping-match`` (default ``"type":"ping"``)
is answered with that text, so an application-level heartbeat (TradeReady's 30 s ping,
10 s to answer) does not close the connections during a long run; those frames are
still counted (subtract them if you care: at one per 30 s they are noise).

Output fields: ``msgs_per_s`` is the total over all connections (deliveries per second);
``per_interval`` the same per ``--interval`` slice of the window (steadiness);
``per_conn_msgs_per_s`` min/median/max over connections (fairness); ``client_cpu_share``
and, with ``--server-pid PID`` (Linux), ``server_cpu_share``: CPU seconds per second of the
window, which tell which side was the bottleneck (near 1.0 = saturated); ``connect_errors``
and ``closed_early`` must be 0 for a clean figure. ``--open-file-limit`` raises
``RLIMIT_NOFILE`` (soft, up to the hard limit) so 1000 connections fit.

Run it pinned to another core than the server's (``taskset -c 1 ...``); bench/ws_baseline.py
does that for the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["measure", "raise_open_file_limit", "run_with_loop"]


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to ``wanted`` (at most the hard limit); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def run_with_loop(factory: Callable[[], Coroutine[Any, Any, Any]], loop: str) -> Any:
    """Run a coroutine on uvloop (``loop="uvloop"``, or ``"auto"`` when installed) or the stock asyncio loop."""
    if loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                raise
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(factory())
    return asyncio.run(factory())


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` from ``/proc/<pid>/stat`` (Linux); None if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": fields 3.. of proc(5)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def measure(
    url: str,
    connections: int,
    *,
    first_message: str | None = None,
    pong: str | None = None,
    ping_match: str = '"type":"ping"',
    warmup: float = 1.0,
    duration: float = 5.0,
    interval: float = 1.0,
    connect_concurrency: int = 200,
    open_timeout: float = 30.0,
    server_pid: int | None = None,
    max_queue: int | None = 16,
) -> dict[str, Any]:
    """Open ``connections`` connections to ``url``, count what they receive over the window; return the report."""
    counts = [0] * connections
    sizes = [0] * connections
    sockets: list[ClientConnection | None] = [None] * connections
    connect_errors: list[str] = []
    closed_early: list[str] = []
    gate = asyncio.Semaphore(connect_concurrency)
    measuring = False
    ping_bytes = ping_match.encode()
    stop = asyncio.Event()

    async def one(index: int) -> None:
        try:
            async with gate:
                ws = await connect(
                    url, compression=None, ping_interval=None, open_timeout=open_timeout, close_timeout=2, max_queue=max_queue
                )
                if first_message is not None:
                    await ws.send(first_message)
        except Exception as exc:
            connect_errors.append(repr(exc))
            return
        sockets[index] = ws
        try:
            while True:
                frame = await ws.recv(decode=False)
                counts[index] += 1
                sizes[index] += len(frame)
                if pong is not None and ping_bytes in frame:
                    await ws.send(pong)
        except ConnectionClosed as exc:
            if not stop.is_set():
                closed_early.append(f"{'during the window' if measuring else 'before the window'}: {exc}")

    loop = asyncio.get_running_loop()
    started = loop.time()
    tasks = [asyncio.create_task(one(index)) for index in range(connections)]
    while sum(ws is not None for ws in sockets) + len(connect_errors) < connections:
        await asyncio.sleep(0.05)
    connect_s = loop.time() - started
    opened = sum(ws is not None for ws in sockets)
    log(f"{opened}/{connections} connections open in {connect_s:.2f} s ({len(connect_errors)} errors); warm-up {warmup} s")
    await asyncio.sleep(warmup)

    measuring = True
    samples: list[float] = []
    begin_counts = list(counts)
    begin_bytes = sum(sizes)
    window_start = last_time = loop.time()
    last_total = sum(counts)
    cpu_start = time.process_time()
    server_cpu_start = process_cpu_seconds(server_pid) if server_pid else None
    while (now := loop.time()) - window_start < duration:
        await asyncio.sleep(min(interval, duration - (now - window_start)))
        now, total = loop.time(), sum(counts)
        if now > last_time:
            samples.append((total - last_total) / (now - last_time))
        last_time, last_total = now, total
    window = loop.time() - window_start
    cpu = time.process_time() - cpu_start
    server_cpu_end = process_cpu_seconds(server_pid) if server_pid else None
    server_cpu = server_cpu_end - server_cpu_start if server_cpu_start is not None and server_cpu_end is not None else None
    end_counts = list(counts)
    window_bytes = sum(sizes) - begin_bytes
    measuring = False

    stop.set()
    closing = [asyncio.ensure_future(ws.close()) for ws in sockets if ws is not None]
    if closing:
        await asyncio.wait(closing, timeout=10)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    delivered = [end - begin for begin, end in zip(begin_counts, end_counts, strict=True)]
    live = [delivered[i] / window for i in range(connections) if sockets[i] is not None]
    messages = sum(delivered)
    return {
        "url": url,
        "connections": connections,
        "connected": opened,
        "connect_errors": len(connect_errors),
        "first_connect_error": connect_errors[0] if connect_errors else None,
        "closed_early": len(closed_early),
        "first_close": closed_early[0] if closed_early else None,
        "connect_s": round(connect_s, 3),
        "warmup_s": warmup,
        "window_s": round(window, 3),
        "messages": messages,
        "bytes": window_bytes,
        "avg_message_bytes": round(window_bytes / messages, 1) if messages else None,
        "msgs_per_s": round(messages / window, 1) if window else 0.0,
        "per_interval": [round(value, 1) for value in samples],
        "per_conn_msgs_per_s": {
            "min": round(min(live), 1) if live else None,
            "median": round(statistics.median(live), 1) if live else None,
            "max": round(max(live), 1) if live else None,
        },
        "client_cpu_s": round(cpu, 3),
        "client_cpu_share": round(cpu / window, 3) if window else None,
        "server_pid": server_pid,
        "server_cpu_share": round(server_cpu / window, 3) if server_cpu is not None and window else None,
        "first_message": first_message,
        "loop": loop_name(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="ws://host:port/path?query")
    parser.add_argument("-n", "--connections", type=int, default=1, help="connections to open (default 1)")
    parser.add_argument("--first-message", help="text sent once on each connection right after it opens (e.g. a subscription)")
    parser.add_argument("--pong", help="text sent back for every received frame containing --ping-match")
    parser.add_argument("--ping-match", default='"type":"ping"', help='substring that marks a ping frame (default "type":"ping")')
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds between all-open and the window (default 1)")
    parser.add_argument("--duration", type=float, default=5.0, help="measurement window in seconds (default 5)")
    parser.add_argument("--interval", type=float, default=1.0, help="slice of the window for per_interval (default 1)")
    parser.add_argument("--connect-concurrency", type=int, default=200, help="handshakes in flight at once (default 200)")
    parser.add_argument("--open-timeout", type=float, default=30.0, help="handshake timeout per connection (default 30)")
    parser.add_argument(
        "--max-queue", type=int, default=16, help="websockets' incoming queue high-water mark, frames (default 16; 0 = unbounded)"
    )
    parser.add_argument("--server-pid", type=int, help="also report this process's CPU share over the window (Linux /proc)")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto", help="event loop (default: uvloop if installed)")
    parser.add_argument(
        "--open-file-limit", type=int, default=65536, help="raise RLIMIT_NOFILE to this (default 65536, capped by the hard limit)"
    )
    args = parser.parse_args(argv)

    limit = raise_open_file_limit(args.open_file_limit)
    if limit < args.connections + 64:
        log(f"warning: open-file limit {limit} is low for {args.connections} connections")
    report = run_with_loop(
        lambda: measure(
            args.url,
            args.connections,
            first_message=args.first_message,
            pong=args.pong,
            ping_match=args.ping_match,
            warmup=args.warmup,
            duration=args.duration,
            interval=args.interval,
            connect_concurrency=args.connect_concurrency,
            open_timeout=args.open_timeout,
            server_pid=args.server_pid,
            max_queue=args.max_queue or None,
        ),
        args.loop,
    )
    print(json.dumps(report), flush=True)
    return 0 if report["connected"] == args.connections and not report["closed_early"] else 1


if __name__ == "__main__":
    sys.exit(main())
