"""Real journals for the report tests: a mock on real sockets, real clients, a manual clock.

``streaming_journal`` drives the three streaming APIs at once over two virtual minutes: a TradeReady
WebSocket that is pinged, answers pongs, is closed by a fault (1012) and reconnects; a TradingPartners
event stream closed by a fault and resumed with ``Last-Event-ID``; a Cryptorobot Socket.IO session reset
by a fault and opened again; and one HTTP request whose path is markup. The journal is exported
(JSON Lines) for the HTML report to draw.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from mockserver.server import ThreadedMockServer
from tests.cryptorobot_client import FeathersSocket

__all__ = ["HOSTILE_PATH", "STREAMING_SCENARIO", "TR_KEY", "streaming_journal"]

#: A path a client could send: markup that would run if the HTML report did not escape it.
HOSTILE_PATH = "/api/v1/</script><img src=x onerror=document.title='pwned'>"

TR_KEY = "ak_live_reports00000000000000000000000000000000000000000000000000000"

STREAMING_SCENARIO = f"""
id: test/reports-streaming
description: three streaming APIs, each ended once by a fault
seed: 7
clock: {{start: "2026-02-23T15:30:00Z", speed: 0}}
apis:
  tradeready:
    state: {{keys: [{{key: {TR_KEY}, name: reporter}}]}}
  tradingpartners:
    options: {{event_ids: true}}
    state:
      users: [{{email: full@x.io, password: pw, access: FULL}}]
      alerts: {{every: 20s, start_after: 5s, close_after: 30s}}
  cryptorobot:
    state:
      users: [{{email: you@example.com, password: your-password, plan: pro}}]
      streams: {{ticker: 10s, pod_events: 0, trades: 0, signals: 0, messages: 0, events: 0}}
timeline:
  - at: 45s
    fault: {{id: restart, kind: close, api: tradeready, code: 1012, reason: "service <restart> & \\"quotes\\"", duration: 1s}}
  - at: 60s
    fault: {{id: drop, kind: close, api: tradingpartners, route: /api/v1/alerts, duration: 1s}}
  - at: 75s
    fault: {{id: cut, kind: reset, api: cryptorobot, route: /socket.io/, times: 1}}
"""


class _SseReader:
    """Reads one event stream in a thread (the raw bytes), until the server ends it."""

    def __init__(self, url: str, token: str, last_event_id: str | None = None) -> None:
        self.raw = b""
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self.thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.Client(timeout=httpx.Timeout(10, read=30)) as client, client.stream("GET", url, headers=headers) as response:
                for chunk in response.iter_bytes():
                    self.raw += chunk
        except httpx.HTTPError:
            pass

    def last_id(self) -> str | None:
        ids = [line[4:] for line in self.raw.decode().splitlines() if line.startswith("id: ")]
        return ids[-1] if ids else None


async def _drive(mock: ThreadedMockServer) -> None:
    step = 5.0
    ws_url = mock.url("tradeready").replace("http://", "ws://") + f"/ws/v1?api_key={TR_KEY}"
    sse_url = mock.url("tradingpartners") + "/api/v1/alerts"
    async with httpx.AsyncClient() as http:
        login = await http.post(mock.url("tradingpartners") + "/api/v1/users/login", json={"email": "full@x.io", "password": "pw"})
        token = login.json()["accessToken"]
        await http.get(mock.url("tradingpartners") + HOSTILE_PATH)  # a 404 whose path the report must escape
    socket: Any = await websockets.connect(ws_url)
    await socket.send(json.dumps({"action": "subscribe", "channel": "ticker", "symbol": "BTCUSDT"}))
    reader = _SseReader(sse_url, token)
    sio = await FeathersSocket(mock.url("cryptorobot"), reconnection=False).connect()
    await sio.login("you@example.com", "your-password")
    await asyncio.to_thread(mock.wait_for, kind="http.response", api="tradingpartners", outcome="stream")
    reconnected_ws = reconnected_sse = reconnected_sio = False
    for _ in range(int(120 / step)):
        await asyncio.to_thread(mock.advance, step)
        await asyncio.sleep(0.05)  # real time: the frames cross the sockets
        if socket is not None:
            try:
                while True:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), 0.05))
                    if frame.get("type") == "ping":
                        await socket.send(json.dumps({"type": "pong"}))
            except TimeoutError:
                pass
            except websockets.ConnectionClosed:
                socket = None
        elif not reconnected_ws:  # one step (5 virtual seconds) away, then back
            socket = await websockets.connect(ws_url)
            await socket.send(json.dumps({"action": "subscribe", "channel": "ticker", "symbol": "BTCUSDT"}))
            reconnected_ws = True
        if not reader.thread.is_alive() and not reconnected_sse:
            reader = _SseReader(sse_url, token, reader.last_id())
            reconnected_sse = True
        if not sio.sio.connected and not reconnected_sio:
            sio = await FeathersSocket(mock.url("cryptorobot"), reconnection=False).connect()
            await sio.login("you@example.com", "your-password")
            reconnected_sio = True
    if socket is not None:
        await socket.close()
    await FeathersSocket.close_all()
    assert reconnected_ws and reconnected_sse and reconnected_sio, "each stream was ended once and opened again"


def streaming_journal(mock: ThreadedMockServer, path: Path) -> Path:
    """Drive ``mock`` (started from :data:`STREAMING_SCENARIO`) and export its journal to ``path``."""
    asyncio.run(_drive(mock))
    time.sleep(0.2)  # real time: the last closes reach the journal
    mock.export(path)
    return path
