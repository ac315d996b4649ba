"""SSE fan-out load client: N concurrent event streams from one URL, events received per second, as JSON.

Opens ``--connections`` HTTP/1.1 connections (raw asyncio protocols, no HTTP library),
sends ``GET <path>`` with ``Accept: text/event-stream`` (and ``Authorization: Bearer
<--token>`` and any ``--header``), checks each answer is ``200`` with a
``text/event-stream`` content type, waits until all are open, lets ``--warmup`` seconds
pass, then counts the events all streams receive during ``--duration`` seconds and
prints one JSON object on stdout (progress goes to stderr). It parses nothing past the
response head: an event is a blank line ending a frame, counted as ``\\n\\n`` in the raw
bytes with ``bytes.count`` (C speed, so one Python process reads well over 100k events/s):

    # the bare sse-starlette baseline (bench/sse_baseline.py serve --port 9000)
    python bench/sse_fanout_client.py http://127.0.0.1:9000/events --connections 100

    # the mock's TradingPartners stream (JWT from POST /api/v1/users/login)
    python bench/sse_fanout_client.py http://127.0.0.1:8702/api/v1/alerts --token eyJ... --connections 1000

Counting ``\\n\\n`` is exact for servers that end lines with ``\\n`` (the mock;
sse-starlette with ``sep="\\n"``; a server ending lines with ``\\r\\n`` would count 0).
The body comes in HTTP chunked encoding (``<hex>\\r\\n<frame>\\r\\n``): the framing adds
no ``\\n\\n`` of its own as long as chunks don't begin with ``\\n`` (frames begin with
``event:``/``data:``/``retry:``/``:``), and a terminator split between two reads (``\\n``
at the end of one, ``\\n`` at the start of the next) is counted once. ``bytes`` and
``avg_event_bytes`` are wire bytes (with the chunk framing, about 8 bytes per frame).

With ``--go URL``, once all streams are open it POSTs ``--go-body`` (JSON) to that URL and
only then starts the warm-up: servers that start idle (``bench/sse_baseline.py serve
--hold``, a mock with its clock stopped) are released when every stream is there. A stream
the server ends (the last chunk of the chunked body; the connection itself would stay open)
counts as closed early.

Output fields: ``events_per_s`` is the total over all streams (deliveries per second);
``per_interval`` the same per ``--interval`` slice of the window (steadiness; a falling
series means the server is falling behind); ``per_conn_events_per_s`` min/median/max
over streams (fairness); ``client_cpu_share`` and, with ``--server-pid PID`` (Linux),
``server_cpu_share`` (CPU seconds per second of the window: the side near 1.0 is the
bottleneck) and ``server_rss_mb`` (resident memory at the start and end of the window
and at each slice: growth means the server queues what it cannot send);
``machine_cpu_share`` / ``other_cpu_share``: busy CPU of the whole machine, and of
everything but this client and the server (another benchmark running at the same time
makes the figures unreliable). ``connect_errors`` and ``closed_early`` must be 0 for a
clean figure.

Run it pinned to another core than the server's (``taskset -c 1 ...``); bench/sse_fanout.py
does that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ws_fanout_client import log, loop_name, process_cpu_seconds, raise_open_file_limit, run_with_loop  # noqa: E402

__all__ = ["measure", "process_rss_mb"]

HTTP_OK = 200
MAX_HEAD = 65536
LAST_CHUNK = b"\r\n0\r\n\r\n"  # the end of a chunked body: a frame's CRLF, then the zero-size chunk


def process_rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MiB from ``/proc/<pid>/status`` (Linux); None if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def machine_cpu_seconds() -> float | None:
    """Busy CPU seconds of the whole machine (all cores) from ``/proc/stat`` (Linux); None if unreadable."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal (guest is inside user)
    return busy / os.sysconf("SC_CLK_TCK")


def post_json(url: str, body: str) -> int:
    """POST ``body`` (JSON) to ``url``; the status."""
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class StreamReader(asyncio.Protocol):
    """One SSE stream: sends the request, checks the head, then counts frame terminators and bytes."""

    def __init__(self, request: bytes, opened: asyncio.Future[StreamReader]) -> None:
        self.request = request
        self.opened = opened
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.streaming = False
        self.events = 0
        self.bytes = 0
        self.last_newline = False
        self.tail = b""
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.streaming:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > MAX_HEAD:
                    self._fail("response head too long")
                return
            head, data = self.head[:end], self.head[end + 4 :]
            self.head = b""
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            content_type = next((line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("content-type:")), "")
            if status != HTTP_OK or not content_type.startswith("text/event-stream"):
                self._fail(f"{lines[0]} ({content_type or 'no content-type'}): {data[:200]!r}")
                return
            self.streaming = True
            if not self.opened.done():
                self.opened.set_result(self)
            if not data:
                return
        count = data.count(b"\n\n")
        if self.last_newline and data[:1] == b"\n":
            count += 1
        self.events += count
        self.bytes += len(data)
        self.last_newline = data[-1:] == b"\n"
        self.tail = data[-len(LAST_CHUNK) :] if len(data) >= len(LAST_CHUNK) else (self.tail + data)[-len(LAST_CHUNK) :]
        if LAST_CHUNK in self.tail:  # the server ended the response (the connection would stay open: keep-alive)
            if not self.closed.done():
                self.closed.set_result("the server ended the stream (last chunk)")
            if self.transport is not None:
                self.transport.abort()

    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the response head: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(repr(exc) if exc else "closed by the server")


def build_request(url: str, token: str | None, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"expected an http:// URL, got {url!r}")
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.hostname}:{port}", "Accept: text/event-stream", "Cache-Control: no-cache"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += headers
    return parts.hostname, port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def measure(
    url: str,
    connections: int,
    *,
    token: str | None = None,
    headers: list[str] | None = None,
    warmup: float = 1.0,
    duration: float = 5.0,
    interval: float = 1.0,
    connect_concurrency: int = 200,
    open_timeout: float = 30.0,
    server_pid: int | None = None,
    go: str | None = None,
    go_body: str = "{}",
) -> dict[str, Any]:
    """Open ``connections`` streams from ``url``, count the events they receive over the window; return the report."""
    host, port, request = build_request(url, token, headers or [])
    loop = asyncio.get_running_loop()
    readers: list[StreamReader | None] = [None] * connections
    connect_errors: list[str] = []
    gate = asyncio.Semaphore(connect_concurrency)
    measuring = False
    stopping = False
    closed_early: list[str] = []

    async def one(index: int) -> None:
        async with gate:
            opened: asyncio.Future[StreamReader] = loop.create_future()
            try:
                await asyncio.wait_for(loop.create_connection(lambda: StreamReader(request, opened), host, port), open_timeout)
                reader = await asyncio.wait_for(opened, open_timeout)
            except (OSError, TimeoutError, ConnectionError) as exc:
                connect_errors.append(repr(exc))
                return
        readers[index] = reader
        why = await reader.closed
        if not stopping:
            closed_early.append(f"{'during the window' if measuring else 'before the window'}: {why}")

    started = loop.time()
    tasks = [asyncio.create_task(one(index)) for index in range(connections)]
    while sum(r is not None for r in readers) + len(connect_errors) < connections:
        await asyncio.sleep(0.05)
    connect_s = loop.time() - started
    live = [r for r in readers if r is not None]
    log(f"{len(live)}/{connections} streams open in {connect_s:.2f} s ({len(connect_errors)} errors); warm-up {warmup} s")
    go_status = await asyncio.to_thread(post_json, go, go_body) if go else None
    if go_status is not None and go_status != HTTP_OK:
        log(f"warning: POST {go} answered {go_status}")
    await asyncio.sleep(warmup)

    def total() -> int:
        return sum(r.events for r in live)

    measuring = True
    samples: list[float] = []
    rss: list[float | None] = []
    begin_counts = [r.events for r in live]
    begin_bytes = sum(r.bytes for r in live)
    window_start = last_time = loop.time()
    last_total = sum(begin_counts)
    cpu_start = time.process_time()
    server_cpu_start = process_cpu_seconds(server_pid) if server_pid else None
    machine_cpu_start = machine_cpu_seconds()
    rss_start = process_rss_mb(server_pid) if server_pid else None
    while (now := loop.time()) - window_start < duration:
        await asyncio.sleep(min(interval, duration - (now - window_start)))
        now, count = loop.time(), total()
        if now > last_time:
            samples.append((count - last_total) / (now - last_time))
        last_time, last_total = now, count
        if server_pid:
            rss.append(process_rss_mb(server_pid))
    window = loop.time() - window_start
    cpu = time.process_time() - cpu_start
    server_cpu_end = process_cpu_seconds(server_pid) if server_pid else None
    server_cpu = server_cpu_end - server_cpu_start if server_cpu_start is not None and server_cpu_end is not None else None
    machine_cpu_end = machine_cpu_seconds()
    machine_cpu = machine_cpu_end - machine_cpu_start if machine_cpu_start is not None and machine_cpu_end is not None else None
    end_counts = [r.events for r in live]
    window_bytes = sum(r.bytes for r in live) - begin_bytes
    measuring = False

    stopping = True
    for reader in live:
        if reader.transport is not None:
            reader.transport.abort()
    await asyncio.wait(tasks, timeout=10)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    delivered = [end - begin for begin, end in zip(begin_counts, end_counts, strict=True)]
    per_conn = [d / window for d in delivered] if window else []
    events = sum(delivered)
    return {
        "url": url,
        "connections": connections,
        "connected": len(live),
        "connect_errors": len(connect_errors),
        "first_connect_error": connect_errors[0] if connect_errors else None,
        "closed_early": len(closed_early),
        "first_close": closed_early[0] if closed_early else None,
        "connect_s": round(connect_s, 3),
        "warmup_s": warmup,
        "window_s": round(window, 3),
        "events": events,
        "bytes": window_bytes,
        "avg_event_bytes": round(window_bytes / events, 1) if events else None,
        "events_per_s": round(events / window, 1) if window else 0.0,
        "per_interval": [round(value, 1) for value in samples],
        "per_conn_events_per_s": {
            "min": round(min(per_conn), 1) if per_conn else None,
            "median": round(statistics.median(per_conn), 1) if per_conn else None,
            "max": round(max(per_conn), 1) if per_conn else None,
        },
        "client_cpu_s": round(cpu, 3),
        "client_cpu_share": round(cpu / window, 3) if window else None,
        "server_pid": server_pid,
        "server_cpu_share": round(server_cpu / window, 3) if server_cpu is not None and window else None,
        "machine_cpu_share": round(machine_cpu / window, 3) if machine_cpu is not None and window else None,
        "other_cpu_share": round((machine_cpu - cpu - (server_cpu or 0.0)) / window, 3) if machine_cpu is not None and window else None,
        "go_status": go_status,
        "server_rss_mb": {"start": rss_start, "end": rss[-1] if rss else None, "per_interval": rss} if server_pid else None,
        "loop": loop_name(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="http://host:port/path?query of the event stream")
    parser.add_argument("-n", "--connections", type=int, default=1, help="streams to open (default 1)")
    parser.add_argument("--token", help="send Authorization: Bearer TOKEN")
    parser.add_argument("--header", action="append", default=[], help="an extra request header 'Name: value' (repeatable)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds between all-open and the window (default 1)")
    parser.add_argument("--duration", type=float, default=5.0, help="measurement window in seconds (default 5)")
    parser.add_argument("--interval", type=float, default=1.0, help="slice of the window for per_interval (default 1)")
    parser.add_argument("--connect-concurrency", type=int, default=200, help="connections being opened at once (default 200)")
    parser.add_argument("--open-timeout", type=float, default=30.0, help="seconds to connect and get the head, per stream (default 30)")
    parser.add_argument("--go", metavar="URL", help="POST --go-body to this URL once all streams are open, before the warm-up")
    parser.add_argument("--go-body", default="{}", help="JSON body of the --go POST (default {})")
    parser.add_argument("--server-pid", type=int, help="also report this process's CPU share and RSS over the window (Linux /proc)")
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
            token=args.token,
            headers=args.header,
            warmup=args.warmup,
            duration=args.duration,
            interval=args.interval,
            connect_concurrency=args.connect_concurrency,
            open_timeout=args.open_timeout,
            server_pid=args.server_pid,
            go=args.go,
            go_body=args.go_body,
        ),
        args.loop,
    )
    print(json.dumps(report), flush=True)
    return 0 if report["connected"] == args.connections and not report["closed_early"] else 1


if __name__ == "__main__":
    sys.exit(main())
