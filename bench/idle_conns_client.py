"""Idle-connection load client for ``bench/idle_conns.py``: many WebSockets and SSE streams held open, pings answered.

Opens ``--ws`` WebSocket connections to ``--ws-url`` (``websockets`` client, compression and
protocol pings off) and ``--sse`` event streams from ``--sse-url`` (raw HTTP/1.1, the reader of
``sse_fanout_client.py``, ``Authorization: Bearer --token``), ``--concurrency`` handshakes at a
time. Every WebSocket answers each ``{"type":"ping"}`` with ``{"type":"pong"}`` at once (TradeReady
closes a connection whose pong is 10 s late); every stream counts the events it gets (idle, these
are the pings). Then it talks to the runner over stdin/stdout, one line each way:

1. prints ``{"phase": "open", ...}`` when every connection is open (or failed), then holds them
   ``--hold`` seconds, sending nothing but pongs;
2. prints ``{"phase": "held", ...}`` and waits for a line on stdin (the runner measures the
   server's memory meanwhile: nothing moves but pings);
3. speaks on every WebSocket (``--say``, TradeReady's subscribe to ``orders``) and waits up to
   ``--answer-timeout`` seconds for an answer containing ``--expect``; checks every stream is still
   open and got at least ``--min-pings`` events (and every WebSocket as many pings); prints the final report (``"phase": "done"``) and
   closes everything.

The report lists failures by kind (connect errors, connections closed early, WebSockets not
answered, streams short of pings) with the first reason of each; all must be 0 for a clean
figure. ``RLIMIT_NOFILE`` is raised (soft, up to the hard limit) to fit every connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from sse_fanout_client import StreamReader, build_request  # noqa: E402
from ws_fanout_client import log, raise_open_file_limit, run_with_loop  # noqa: E402

__all__ = ["hold"]

PING = b'"type":"ping"'
PONG = '{"type":"pong"}'


class _Ws:
    """One WebSocket: answers pings, notes the answer to what it said."""

    def __init__(self) -> None:
        self.conn: ClientConnection | None = None
        self.pings = 0
        self.said_at: float | None = None
        self.answered: asyncio.Future[float] | None = None
        self.closed: str | None = None

    async def run(self, url: str, gate: asyncio.Semaphore, open_timeout: float, expect: bytes, errors: list[str]) -> None:
        try:
            async with gate:
                self.conn = await connect(
                    url, compression=None, ping_interval=None, open_timeout=open_timeout, close_timeout=2, max_queue=4
                )
        except Exception as exc:
            errors.append(repr(exc))
            return
        try:
            async for frame in self.conn:
                data = frame if isinstance(frame, bytes) else frame.encode()
                if PING in data:
                    self.pings += 1
                    await self.conn.send(PONG)
                elif self.answered is not None and expect in data and not self.answered.done():
                    self.answered.set_result(time.monotonic())
            self.closed = f"closed by the server: {self.conn.close_code} {self.conn.close_reason!r}"
        except ConnectionClosed as exc:
            self.closed = f"closed: {exc}"


def _first(reasons: list[str]) -> str | None:
    return reasons[0] if reasons else None


async def hold(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(args.concurrency)
    ws_errors: list[str] = []
    sse_errors: list[str] = []
    sockets = [_Ws() for _ in range(args.ws)]
    readers: list[StreamReader] = []
    tasks = [asyncio.create_task(ws.run(args.ws_url, gate, args.open_timeout, args.expect.encode(), ws_errors)) for ws in sockets]

    async def stream() -> None:
        host, port, request = build_request(args.sse_url, args.token, [])
        async with gate:
            opened: asyncio.Future[StreamReader] = loop.create_future()
            try:
                await asyncio.wait_for(loop.create_connection(lambda: StreamReader(request, opened), host, port), args.open_timeout)
                readers.append(await asyncio.wait_for(opened, args.open_timeout))
            except (OSError, TimeoutError, ConnectionError) as exc:
                sse_errors.append(repr(exc))

    started = loop.time()
    await asyncio.gather(*(stream() for _ in range(args.sse)))
    while sum(ws.conn is not None for ws in sockets) + len(ws_errors) < args.ws:
        await asyncio.sleep(0.05)
    open_s = round(loop.time() - started, 2)
    ws_open = sum(ws.conn is not None for ws in sockets)
    print(json.dumps({"phase": "open", "ws": ws_open, "sse": len(readers), "open_s": open_s}), flush=True)
    log(f"{ws_open}/{args.ws} WebSockets and {len(readers)}/{args.sse} streams open in {open_s} s; holding {args.hold} s")
    await asyncio.sleep(args.hold)
    print(json.dumps({"phase": "held"}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)

    # every WebSocket speaks once; every stream is checked for its pings
    said = time.monotonic()
    live = [ws for ws in sockets if ws.conn is not None and ws.closed is None]
    for ws in live:
        ws.answered = loop.create_future()
        ws.said_at = said
    await asyncio.gather(*(ws.conn.send(args.say) for ws in live if ws.conn is not None), return_exceptions=True)
    waiting = [ws.answered for ws in live if ws.answered is not None]
    if waiting:
        await asyncio.wait(waiting, timeout=args.answer_timeout)
    answer_s = sorted(ws.answered.result() - said for ws in live if ws.answered is not None and ws.answered.done())
    ws_closed = [ws.closed for ws in sockets if ws.closed is not None]
    unanswered = [ws for ws in live if ws.answered is not None and not ws.answered.done()]
    sse_closed = [str(r.closed.result()) for r in readers if r.closed.done()]
    short = [r.events for r in readers if not r.closed.done() and r.events < args.min_pings]
    ws_short = [ws.pings for ws in sockets if ws.conn is not None and ws.closed is None and ws.pings < args.min_pings]
    ws_pings = [ws.pings for ws in sockets if ws.conn is not None]
    sse_pings = [r.events for r in readers]
    report = {
        "phase": "done",
        "ws": {
            "wanted": args.ws,
            "open": ws_open,
            "connect_errors": len(ws_errors),
            "first_connect_error": _first(ws_errors),
            "closed_early": len(ws_closed),
            "first_close": _first(ws_closed),
            "spoke": len(live),
            "answered": len(answer_s),
            "unanswered": len(unanswered),
            "answer_s_median": round(answer_s[len(answer_s) // 2], 3) if answer_s else None,
            "answer_s_max": round(answer_s[-1], 3) if answer_s else None,
            "short_of_pings": len(ws_short),
            "pings_min": min(ws_pings, default=0),
            "pings_max": max(ws_pings, default=0),
        },
        "sse": {
            "wanted": args.sse,
            "open": len(readers),
            "connect_errors": len(sse_errors),
            "first_connect_error": _first(sse_errors),
            "closed_early": len(sse_closed),
            "first_close": _first(sse_closed),
            "short_of_pings": len(short),
            "min_pings": args.min_pings,
            "pings_min": min(sse_pings, default=0),
            "pings_max": max(sse_pings, default=0),
        },
        "open_s": open_s,
        "hold_s": args.hold,
    }
    for ws in live:
        if ws.conn is not None:
            ws.conn.transport.abort()  # a clean close of thousands would only time the close handshakes
    for reader in readers:
        if reader.transport is not None:
            reader.transport.abort()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ws-url", default="")
    parser.add_argument("--ws", type=int, default=0, help="WebSocket connections")
    parser.add_argument("--sse-url", default="")
    parser.add_argument("--sse", type=int, default=0, help="event streams")
    parser.add_argument("--token", default=None, help="bearer token for the streams")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds to hold them idle")
    parser.add_argument("--min-pings", type=int, default=1, help="events every stream must have got by the check")
    parser.add_argument("--say", default='{"action":"subscribe","channel":"orders"}', help="what every WebSocket says at the check")
    parser.add_argument("--expect", default='"subscribed"', help="text the answer contains")
    parser.add_argument("--answer-timeout", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes in flight at once")
    parser.add_argument("--open-timeout", type=float, default=60.0)
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto")
    args = parser.parse_args(argv)
    raise_open_file_limit(args.ws + args.sse + 256)
    report = run_with_loop(lambda: hold(args), args.loop)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
