"""SSE fan-out baseline: a bare Starlette app with one sse-starlette ``EventSourceResponse`` endpoint.

The reference figure for the mock's TradingPartners alert stream (performance.md, "SSE
fan-out"): how many alert-like events per second N streams receive when the server does
nothing but hand the same events to every connected client through sse-starlette.

    .venv/bin/python bench/sse_baseline.py serve --port 9000      # GET /events; Ctrl-C prints its counters
    .venv/bin/python bench/sse_baseline.py serve --port 9000 --item bytes   # yield prebuilt frames
    .venv/bin/python bench/sse_fanout_client.py http://127.0.0.1:9000/events --connections 100

Design (chosen to be simple, idiomatic and shaped like the mock, so the ratio compares the
streaming stacks rather than two different architectures):

* **one shared broadcaster, one bounded queue per client.** A single task takes the next
  event from a ring of 600 distinct ``working`` alerts (prebuilt compact JSON strings of
  about 230 bytes, like the seed's example: id, durationStrategy, instrument, ticker,
  start, target, stop, startedAt, token) and puts it on every connected client's
  ``asyncio.Queue(maxsize=--queue)``: ``put_nowait`` when there is room, else ``await
  put()`` (backpressure: the broadcaster waits for that client). Every ``--batch``
  deliveries it yields (``asyncio.sleep(0)``) so the clients' tasks run even when no
  queue is full. So it sends as fast as the server and its clients can go, with memory
  bounded (``backpressure_waits`` > 0 means the clients or the sockets were the limit at
  some point). The mock has the same shape: one producer (the alert generator) appending
  each event to a queue per stream, a task per stream writing them out.
* **the endpoint is stock sse-starlette**: ``EventSourceResponse(generator, ping=0,
  sep="\\n")``: the generator ``await``s its queue and yields a ``dict(event="working",
  data=json)``, which sse-starlette encodes per client (``ServerSentEvent.encode``), as
  an application would. ``ping=0`` disables the keep-alive ping task (the mock pings once
  an hour in the benchmark); ``sep="\\n"`` gives the mock's framing (``event: working\\n
  data: {...}\\n\\n``; sse-starlette's default is ``\\r\\n``). ``--item bytes`` yields the
  prebuilt frame instead (sse-starlette passes bytes through: its floor, not its idiom).
* the same server stack as the mock: uvicorn with uvloop and httptools, lifespan off,
  access log off, no Date or Server header.

A client that leaves is unsubscribed by sse-starlette's ``client_close_handler_callable``
(its queue gets ``None``, which ends the generator), **not** by the cancellation
sse-starlette starts on disconnect. That cancellation alone is not enough here (seen with
sse-starlette 3.7 and anyio 4): anyio delivers it only to a task whose awaited future is
not done yet, retrying on the next loop turn, and the broadcaster fills every queue before
each turn, so a generator's ``queue.get()`` is always already complete: 100 streams whose
clients had gone kept being fed at full speed until shutdown (performance.md, "streams that
never end after the client leaves"). Bounded queues keep each uninterrupted drain short.

``--hold``: the broadcaster sends nothing until ``POST /go`` (bench/sse_fanout.py opens
all N streams first). ``GET /stats``: the counters and the clients connected now. On
SIGINT the server stops and prints ``{"server": {...}}`` (deliveries, broadcasts,
backpressure waits, peak clients, CPU seconds) as its last stdout line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ws_fanout_client import raise_open_file_limit  # noqa: E402

__all__ = ["Broadcaster", "build_app", "working_ring"]

PATH = "/events"
STATS_PATH = "/stats"
GO_PATH = "/go"
EVENT = "working"
TICKERS = (
    ("CRYPTOCURRENCIES", "BTC/USD", 69000.0),
    ("FOREX", "EUR/USD", 1.085),
    ("INDICES", "SPX500", 5200.0),
    ("COMMODITIES", "XAU/USD", 2200.0),
    ("STOCKS", "NVDA", 903.0),
    ("ETFS", "QQQ", 444.0),
)


def working_ring(size: int = 600, seed: int = 7) -> list[str]:
    """``size`` distinct ``working`` alerts as compact JSON, about 230 bytes each (the seed's example event)."""
    rng = random.Random(seed)
    ring = []
    for i in range(size):
        instrument, ticker, reference = TICKERS[i % len(TICKERS)]
        start = round(reference * rng.uniform(0.97, 1.03), 4)
        data = {
            "id": 35443 + i,
            "durationStrategy": "short" if i % 2 else "long",
            "instrument": instrument,
            "ticker": ticker,
            "start": start,
            "target": round(start * 1.012, 4),
            "stop": round(start * 0.998, 4),
            "startedAt": f"2024-03-27T19:{50 + i // 60 % 10:02d}:{i % 60:02d}.{(i * 37) % 1000:03d}Z",
            "token": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        }
        ring.append(json.dumps(data, separators=(",", ":")))
    return ring


class Broadcaster:
    """One task handing every event to every connected client's bounded queue, as fast as they take them."""

    def __init__(self, *, queue_size: int, batch: int, item: str, hold: bool = False) -> None:
        self.hold = hold
        self.queue_size = queue_size
        self.batch = batch
        ring = working_ring()
        self.items: list[Any] = (
            [f"event: {EVENT}\ndata: {data}\n\n".encode() for data in ring]
            if item == "bytes"
            else [{"event": EVENT, "data": d} for d in ring]
        )
        self.clients: set[asyncio.Queue[Any]] = set()
        self.task: asyncio.Task[None] | None = None
        self.joined = asyncio.Event()
        self.released: asyncio.Event | None = None  # made in the loop: with --hold, set by POST /go
        self.stats: dict[str, Any] = {"deliveries": 0, "broadcasts": 0, "backpressure_waits": 0, "peak_clients": 0, "clients_served": 0}

    def subscribe(self) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue(self.queue_size)
        self.clients.add(queue)
        self.stats["clients_served"] += 1
        self.stats["peak_clients"] = max(self.stats["peak_clients"], len(self.clients))
        self.joined.set()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run(), name="sse broadcaster")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Any]) -> None:
        """Stop feeding ``queue`` and end its generator (``None``); frees a broadcaster waiting on it."""
        if queue in self.clients:
            self.clients.discard(queue)
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)

    def release(self) -> None:
        if self.released is None:
            self.released = asyncio.Event()
        self.released.set()

    async def run(self) -> None:
        if self.hold:
            if self.released is None:
                self.released = asyncio.Event()
            await self.released.wait()
        items, position, since_yield = self.items, 0, 0
        stats = self.stats
        while True:
            if not self.clients:
                self.joined.clear()
                await self.joined.wait()
                continue
            item = items[position]
            position = (position + 1) % len(items)
            clients = list(self.clients)
            for queue in clients:
                if not queue.full():
                    queue.put_nowait(item)
                elif queue in self.clients:
                    stats["backpressure_waits"] += 1
                    await queue.put(item)
            stats["broadcasts"] += 1
            stats["deliveries"] += len(clients)
            since_yield += len(clients)
            if since_yield >= self.batch:
                since_yield = 0
                await asyncio.sleep(0)


def build_app(broadcaster: Broadcaster) -> Starlette:
    async def events(request: Request) -> EventSourceResponse:
        queue = broadcaster.subscribe()

        async def stream() -> AsyncIterator[Any]:
            try:
                while (item := await queue.get()) is not None:
                    yield item
            finally:
                broadcaster.unsubscribe(queue)

        async def gone(message: Any) -> None:
            broadcaster.unsubscribe(queue)

        return EventSourceResponse(stream(), ping=0, sep="\n", client_close_handler_callable=gone)

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(dict(broadcaster.stats, clients=len(broadcaster.clients)))

    async def go(request: Request) -> JSONResponse:
        broadcaster.release()
        return JSONResponse({"released": True})

    return Starlette(routes=[Route(PATH, events), Route(STATS_PATH, stats), Route(GO_PATH, go, methods=["POST"])])


def serve(args: argparse.Namespace) -> int:
    raise_open_file_limit(65536)
    broadcaster = Broadcaster(queue_size=args.queue, batch=args.batch, item=args.item, hold=args.hold)
    config = uvicorn.Config(
        build_app(broadcaster),
        host=args.host,
        port=args.port,
        loop=args.loop,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        date_header=False,
        server_header=False,
        backlog=2048,
        timeout_graceful_shutdown=2,
    )
    started, cpu_started = time.monotonic(), time.process_time()
    print(f"serving on http://{args.host}:{args.port}{PATH}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled once it has shut down
        uvicorn.Server(config).run()
    stats = dict(broadcaster.stats, wall_s=round(time.monotonic() - started, 3), cpu_s=round(time.process_time() - cpu_started, 3))
    print(json.dumps({"server": stats}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the baseline server")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=9000)
    serve_parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto", help="uvicorn's event loop (default auto)")
    serve_parser.add_argument("--queue", type=int, default=64, help="events queued per client at most (default 64)")
    serve_parser.add_argument("--batch", type=int, default=1000, help="deliveries between two yields of the broadcaster (default 1000)")
    serve_parser.add_argument(
        "--item",
        choices=["dict", "bytes"],
        default="dict",
        help="what the generator yields: a dict sse-starlette encodes (default), or bytes",
    )
    serve_parser.add_argument("--hold", action="store_true", help="send nothing until POST /go (once all clients are connected)")
    args = parser.parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
