"""The bare baselines of ``bench/idle_conns.py``: idle connections that only ping, with nothing else to them.

    python bench/idle_baseline.py ws  --port 9000 --ping-interval 5    # uvicorn's sans-I/O WebSocket
    python bench/idle_baseline.py sse --port 9001 --ping-interval 5    # a hand-written Starlette SSE stream

``ws``: a raw ASGI app under uvicorn (``ws="websockets-sansio"``, httptools, uvloop, no
compression, no protocol pings): it accepts every handshake, sends ``{"type":"ping"}`` every
``--ping-interval`` seconds from a task of its own per connection (as TradeReady's server does),
ignores ``{"type":"pong"}`` and answers any other text frame with ``{"type":"subscribed",
"subscription":"orders"}`` (TradeReady's answer to the load client's subscribe).

``sse``: a Starlette app with one route, ``GET /events``, a ``StreamingResponse`` of
``text/event-stream`` whose generator sleeps ``--ping-interval`` seconds and yields ``event: ping``
/ ``data: {"ping": <time>}`` frames, TradingPartners' ping (no sse-starlette: its own keep-alive
and send timeout would add tasks the mock does not have).

Both print nothing per connection (access log off) and run until SIGINT. What they hold per
connection is uvicorn's protocol object and the app's own task(s): the floor any ASGI server in
Python pays.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

__all__ = ["sse_app", "ws_app"]

PING = '{"type":"ping"}'
REPLY = '{"type":"subscribed","subscription":"orders"}'


def ws_app(interval: float) -> Any:
    """A raw ASGI WebSocket app: accept, ping every ``interval`` s, answer every frame but a pong."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})

        async def pinger() -> None:
            while True:
                await asyncio.sleep(interval)
                await send({"type": "websocket.send", "text": PING})

        task = asyncio.get_running_loop().create_task(pinger())
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is not None and '"pong"' not in text:
                    await send({"type": "websocket.send", "text": REPLY})
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    return app


def sse_app(interval: float) -> Starlette:
    """A Starlette app whose ``GET /events`` is an SSE stream of pings every ``interval`` s."""

    async def events(request: Request) -> StreamingResponse:
        async def pings() -> AsyncIterator[bytes]:
            while True:
                await asyncio.sleep(interval)
                yield b'event: ping\ndata: {"ping": "%.6f"}\n\n' % time.time()

        return StreamingResponse(pings(), media_type="text/event-stream", headers={"cache-control": "no-store"})

    return Starlette(routes=[Route("/events", events)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["ws", "sse"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ping-interval", type=float, default=5.0)
    args = parser.parse_args(argv)
    app = ws_app(args.ping_interval) if args.kind == "ws" else sse_app(args.ping_interval)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
