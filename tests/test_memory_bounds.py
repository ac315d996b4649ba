"""What a long run keeps is bounded: TradingPartners' alert history (history_limit) and Cryptorobot's per-session
queues (queue_limit, as TradeReady's: journaled, then the session ends). The journal's spill file: test_journal_file."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import weakref
from typing import Any

import httpx
import websockets

from mockserver import ThreadedMockServer, load_builtin
from tests.conftest import MockFactory

TP = """
id: t/tp-history
description: a short history
seed: 5
clock: {start: "2024-03-27T19:50:00Z"}
apis:
  tradingpartners:
    options: {history_limit: 3}
    state:
      users: [{email: full@x.io, password: pw, access: FULL}]
      alerts: {every: 0, start_after: 10s, close_after: 10s}
"""

CR = """
id: t/cr-slow
description: a slow consumer
seed: 9
clock: {start: "2024-01-15T14:00:00Z"}
apis:
  cryptorobot:
    options: {queue_limit: 10}
    state: {streams: {ticker: 0, pod_events: 0, trades: 0, signals: 0, messages: 0, events: 0}}
"""


def test_tradingpartners_keeps_live_alerts_and_the_most_recently_finished_ones(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock(yaml=TP)
    emitted = [mock.emit("tradingpartners", "alert", {"outcome": ("won", "lost", "aborted")[i % 3]})["alert"] for i in range(8)]
    mock.advance("1m")  # all eight finished (closed or aborted)
    live = [mock.emit("tradingpartners", "alert", {"start_after": "1h"})["alert"] for _ in range(2)]
    base = mock.url("tradingpartners")
    token = http.post(f"{base}/api/v1/users/login", json={"email": "full@x.io", "password": "pw"}).json()["accessToken"]
    auth = {"Authorization": f"Bearer {token}"}
    history = http.get(f"{base}/api/v1/alerts/history", params={"size": 100}, headers=auth).json()
    # aborted alerts finish at start_after (10 s), the others close 10 s later: the last three to finish closed
    kept = [alert for i, alert in enumerate(emitted) if i % 3 != 2][-3:]
    assert history["total"] == 5 and sorted(r["id"] for r in history["data"]) == sorted(kept + live)
    closed = http.get(f"{base}/api/v1/alerts/closed", headers=auth).json()
    assert sorted(r["id"] for r in closed) == sorted(kept)
    tp: Any = mock.call(lambda: mock.runtime.apis["tradingpartners"])
    assert tp.forgotten == 5 and len(tp.alerts) == 5
    assert mock.journal(kind="scenario.loaded")[0].data["options"]["tradingpartners"]["history_limit"] == 3

    # a long run: memory stays at the limit however many alerts come and go
    def many() -> int:
        for _ in range(3000):
            tp.emit("alert", {"start_after": 0, "close_after": 0}, mock.runtime.clock.now())
        mock.runtime.scheduler.advance(1)
        return len(tp.alerts)

    assert mock.call(many) == 3 + len(live)


def test_a_cryptorobot_session_that_does_not_take_its_packets_is_ended_at_its_queue_limit(
    make_mock: MockFactory, http: httpx.Client
) -> None:
    mock = make_mock(yaml=CR)
    url = f"{mock.url('cryptorobot')}/socket.io/?EIO=4&transport=polling"
    sid = json.loads(http.get(url).text[1:])["sid"]
    assert http.post(f"{url}&sid={sid}", content="40").text == "OK"
    assert http.get(f"{url}&sid={sid}").text.startswith("40")  # connected; from here on it never polls again
    login = ["create", "authentication", {"strategy": "local", "email": "trader@example.com", "password": "secret-password"}, {}]
    assert http.post(f"{url}&sid={sid}", content="42" + json.dumps(login)).text == "OK"
    mock.wait_for(kind="sio.login", api="cryptorobot")
    mock.emit("cryptorobot", "trades", {"count": 30})
    (overflow,) = mock.wait_for(kind="ws.overflow", api="cryptorobot")
    assert overflow.data["queued"] == 10 and "queue_limit 10" in overflow.data["reason"]
    (end,) = mock.wait_for(kind="sio.disconnect", api="cryptorobot", session=overflow.session)
    assert end.data["by"] == "server" and end.data["reason"] == "slow consumer"
    assert http.get(f"{url}&sid={sid}").status_code == 400  # the session is gone, and its queue with it
    sent = mock.journal(kind="sio.packet", api="cryptorobot", direction="out", event="trades created")
    assert sent == []  # nothing of the burst was ever on the wire: the client never asked for it
    # a client that does take its packets is served as ever
    sid = json.loads(http.get(url).text[1:])["sid"]
    assert http.post(f"{url}&sid={sid}", content="40").text == "OK" and http.get(f"{url}&sid={sid}").text.startswith("40")


def test_an_aitrader_notify_socket_loses_what_its_queue_cannot_hold(make_mock: MockFactory) -> None:
    mock = make_mock(
        yaml="""
id: t/ait-queue
description: a small notify queue
seed: 3
clock: {start: "2026-03-09T12:00:00Z"}
apis:
  aitrader:
    options: {queue_limit: 10}
    state: {agents: [{id: 1, name: quiet-bot, password: pw}]}
"""
    )
    url = mock.url("aitrader").replace("http://", "ws://", 1) + "/ws/notify/1"

    async def main() -> int:
        async with websockets.connect(url) as socket:
            await asyncio.to_thread(mock.wait_for, kind="ws.accept", api="aitrader")
            mock.emit("aitrader", "message", {"count": 50})  # one turn of the server's loop: the socket's sender waits
            got = 0
            with contextlib.suppress(TimeoutError):
                while True:
                    await asyncio.wait_for(socket.recv(), 1.0)
                    got += 1
            return got

    assert asyncio.run(main()) == 10
    pushed, lost = mock.journal(kind="ws.push", api="aitrader"), mock.journal(kind="ws.lost", api="aitrader")
    assert len(pushed) == 10 and len(lost) == 40 and lost[0].session == pushed[0].session
    assert len(mock.journal(kind="ws.frame", api="aitrader", direction="out")) == 10


def test_the_server_collects_the_reference_cycles_closed_connections_leave() -> None:
    class Cycle:
        me: object

    mock = ThreadedMockServer(load_builtin("demo"), speed=0)
    mock.server.collect_interval = 0.05
    gc.disable()  # Python's own collections off: only the server's can free a cycle
    try:
        with mock:
            cycle = Cycle()
            cycle.me = cycle
            alive = weakref.ref(cycle)
            del cycle
            deadline = time.monotonic() + 10
            while alive() is not None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert alive() is None, "no full collection within 10 s"
    finally:
        gc.enable()
