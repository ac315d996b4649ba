"""The soak's clients: well-behaved pollers and stream readers of the five APIs, each counting what it received.

Every client runs until ``stop`` is set, reconnects (with a short backoff) when the server or a fault ends its
connection, and keeps, per TCP connection (``host:port`` as the journal names it) or per Engine.IO session id,
how many frames, events or packets it received, so that bench/soak.py can hold them against the journal. HTTP
pollers count answers (a status line and a whole body) and transport failures. Real clients throughout:
httpx (HTTP, SSE), websockets (AI-Trader's notify socket, TradeReady), python-socketio (Cryptorobot).

Anything a client did not expect (an exception that is no transport failure, an answer it cannot read where no
fault was meant to damage it) goes to ``Tally.errors`` with what it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus, WebSocketException

__all__ = ["Tally", "aitrader", "cryptorobot", "luckylobster", "tradeready", "tradingpartners"]


@dataclass
class Tally:
    """What one API's clients saw."""

    #: frames, events or packets received, per connection ("127.0.0.1:port") or Engine.IO sid
    received: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: HTTP answers by status, and transport failures by kind
    answers: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    connects: int = 0
    #: what no client should have met: (what, detail)
    errors: list[tuple[str, str]] = field(default_factory=list)
    #: the ``rid`` query parameter of each request that failed (the journal has it in ``http.request``), by kind
    failed_rids: dict[str, str] = field(default_factory=dict)

    def error(self, what: str, detail: object) -> None:
        if len(self.errors) < 200:
            self.errors.append((what, str(detail)[:300]))


def _conn(address: Any) -> str | None:
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) and len(address) >= 2 else None


async def _frames(socket: ClientConnection, stop: asyncio.Event) -> AsyncIterator[str]:
    """The socket's frames until ``stop`` is set (a closed socket raises, for the caller to count and reconnect)."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while True:
            receiving = asyncio.ensure_future(socket.recv())
            done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if receiving not in done:
                receiving.cancel()
                return
            yield str(receiving.result())
    finally:
        stopping.cancel()


async def _nap(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds * random.uniform(0.8, 1.2))


_rids = itertools.count(1)


async def _get(client: httpx.AsyncClient, tally: Tally, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
    """One request: the answer (counted by status) or None (a transport failure, counted by kind). Each carries a
    ``rid`` query parameter, so that a failure can be found in the journal."""
    rid = str(next(_rids))
    try:
        response = await client.request(method, url, params={"rid": rid}, **kwargs)
    except httpx.TransportError as exc:
        tally.failures[type(exc).__name__] += 1
        tally.failed_rids[rid] = type(exc).__name__
        return None
    tally.answers[response.status_code] += 1
    if response.status_code >= 500 and response.status_code != 503:
        tally.error(f"HTTP {response.status_code}", f"{method} {url}: {response.text[:200]}")
    return response


# -- HTTP pollers ---------------------------------------------------------------------------------------------------
async def luckylobster(base: str, key: str, *, every: float, client: httpx.AsyncClient, tally: Tally, stop: asyncio.Event) -> None:
    """Polls the heartbeat every ``every`` real seconds; honours Retry-After (virtual seconds, scaled by the caller)."""
    await _nap(every, stop)
    while not stop.is_set():
        response = await _get(client, tally, "GET", f"{base}/heartbeat", headers={"Authorization": f"Bearer {key}"})
        wait = every
        if response is not None and response.status_code in (429, 503):
            wait = every / 2
        await _nap(wait, stop)


async def aitrader(
    base: str, agent: dict[str, Any], *, every: float, client: httpx.AsyncClient, tally: Tally, socket_tally: Tally, stop: asyncio.Event
) -> None:
    """An agent: the heartbeat every ``every`` real seconds (at once again while it says has_more), and its notify socket."""

    async def listen() -> None:
        url = base.replace("http", "ws", 1) + f"/ws/notify/{agent['agent_id']}"
        while not stop.is_set():
            try:
                async with websockets.connect(url, ping_interval=None, open_timeout=30, max_queue=None) as socket:
                    socket_tally.connects += 1
                    conn = _conn(socket.local_address) or "?"
                    socket_tally.received[conn] += 0
                    async for _raw in _frames(socket, stop):
                        socket_tally.received[conn] += 1
                    return
            except (OSError, WebSocketException, TimeoutError) as exc:
                socket_tally.failures[type(exc).__name__] += 1
            await _nap(0.5, stop)

    listener = asyncio.create_task(listen())
    headers = {"X-Claw-Token": str(agent["token"])}
    await _nap(every, stop)
    while not stop.is_set():
        response = await _get(
            client, tally, "POST", f"{base}/api/claw/agents/heartbeat", headers=headers, json={"agent_id": agent["agent_id"]}
        )
        wait = every
        if response is not None and response.status_code == 200:
            with contextlib.suppress(ValueError):
                if response.json().get("has_more_messages"):
                    wait = 0.05
        await _nap(wait, stop)
    await listener


# -- streams ----------------------------------------------------------------------------------------------------------
async def tradeready(url: str, *, channels: list[str], tally: Tally, stop: asyncio.Event) -> None:
    """A TradeReady SDK-like client: subscribes, answers pings, counts every frame it receives, reconnects."""
    while not stop.is_set():
        try:
            async with websockets.connect(url, ping_interval=None, open_timeout=30, max_queue=None) as socket:
                tally.connects += 1
                conn = _conn(socket.local_address) or "?"
                tally.received[conn] += 0
                for channel in channels:
                    await socket.send(json.dumps({"action": "subscribe", "channel": channel}))
                async for raw in _frames(socket, stop):
                    tally.received[conn] += 1
                    if '"ping"' in raw and json.loads(raw).get("type") == "ping":
                        await socket.send('{"type":"pong"}')
                return
        except InvalidStatus as exc:
            tally.failures[f"HTTP {exc.response.status_code}"] += 1
        except (OSError, WebSocketException, TimeoutError) as exc:
            tally.failures[type(exc).__name__] += 1
        await _nap(0.5, stop)


async def tradingpartners(base: str, user: dict[str, Any], *, client: httpx.AsyncClient, tally: Tally, stop: asyncio.Event) -> None:
    """Logs in, reads the alert stream, resumes with Last-Event-ID after a drop, logs in again on a 401."""
    token: str | None = None
    last_id: str | None = None
    while not stop.is_set():
        if token is None:
            answer = await _get(
                client, tally, "POST", f"{base}/api/v1/users/login", json={"email": user["email"], "password": user["password"]}
            )
            if answer is None or answer.status_code != 200:
                await _nap(1.0, stop)
                continue
            token = str(answer.json()["accessToken"])
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        streaming = False
        try:
            async with client.stream("GET", f"{base}/api/v1/alerts", headers=headers, timeout=httpx.Timeout(30, read=None)) as response:
                streaming = True
                tally.answers[response.status_code] += 1
                if response.status_code == 401:
                    token = None
                    continue
                if response.status_code != 200:
                    await _nap(0.5, stop)
                    continue
                tally.connects += 1
                stream = response.extensions.get("network_stream")
                conn = _conn(stream.get_extra_info("client_addr")) if stream is not None else None
                conn = conn or "?"
                tally.received[conn] += 0
                buffer = b""
                stopping = asyncio.ensure_future(stop.wait())
                chunks = response.aiter_raw()
                try:
                    while True:
                        reading = asyncio.ensure_future(anext(chunks))
                        done, _ = await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                        if reading not in done:
                            reading.cancel()
                            return
                        try:
                            buffer += reading.result()
                        except StopAsyncIteration:
                            break
                        *blocks, buffer = buffer.split(b"\n\n")
                        for block in blocks:
                            tally.received[conn] += 1
                            for line in block.split(b"\n"):
                                if line.startswith(b"id: "):
                                    last_id = line[4:].decode()
                finally:
                    stopping.cancel()
        except httpx.TransportError as exc:  # a stream that ended badly is no failed request: it was answered
            tally.failures[("stream: " if streaming else "") + type(exc).__name__] += 1
        await _nap(0.3, stop)


async def cryptorobot(url: str, user: dict[str, Any], *, tally: Tally, stop: asyncio.Event) -> None:
    """A Feathers client on python-socketio: WebSocket transport, logs in on every (re)connect, counts every event.

    It reconnects by itself whatever ended the connection (a transport closed by a fault, or the server's own
    disconnect, after which python-socketio would not)."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            sio = socketio.AsyncClient(http_session=http, reconnection=False)
            gone = asyncio.Event()

            async def on_event(event: str, *args: Any, sio: socketio.AsyncClient = sio) -> None:
                if sio.eio.sid is not None:
                    tally.received[sio.eio.sid] += 1

            async def on_disconnect(*_reason: Any, gone: asyncio.Event = gone) -> None:
                gone.set()

            sio.on("*", on_event)
            sio.on("disconnect", on_disconnect)
            try:
                await sio.connect(url, transports=["websocket"], wait_timeout=30)
            except socketio.exceptions.ConnectionError as exc:
                tally.failures[f"connect: {str(exc)[:40]}"] += 1
                await _nap(1.0, stop)
                continue
            tally.connects += 1
            if sio.eio.sid is not None:
                tally.received[sio.eio.sid] += 0
            login = {"strategy": "local", "email": user["email"], "password": user["password"]}
            try:
                ack = await sio.call("create", ("authentication", login, {}), timeout=30)
                if not (isinstance(ack, tuple) and ack and ack[0] is None):
                    tally.error("cryptorobot login refused", ack)
            except Exception as exc:  # the connection dropped meanwhile: the loop connects again
                tally.failures[f"login: {type(exc).__name__}"] += 1
            stopping = asyncio.ensure_future(stop.wait())
            ending = asyncio.ensure_future(gone.wait())
            await asyncio.wait({stopping, ending}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            ending.cancel()
            with contextlib.suppress(Exception):
                await sio.disconnect()
            if not stop.is_set():
                await _nap(0.3, stop)
