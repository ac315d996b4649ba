"""Done-when for TradeReady: the seed's handler examples through a client that behaves like its SDK.

documented: on_ticker("BTCUSDT"), on_candles, on_order_update and on_portfolio print what
the scenario sent. upstream: the same client gets INVALID_CHANNEL errors, as the real
server gives it. stale-connection and drop-and-reconnect: the journal shows the silence,
the client's reconnects and its resubscriptions.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.clients.tradeready_sdk import AgentExchangeWS
from tests.conftest import MockFactory

KEY = "ak_live_tickerstream000000000000000000000000000000000000000000000000"


def seed_client(mock: Any, key: str, printed: list[str], *, time_scale: float = 1.0) -> AgentExchangeWS:
    """The seed's four examples, as written (print replaced by appending the same text)."""
    ws = AgentExchangeWS(api_key=key, base_url=mock.url("tradeready").replace("http://", "ws://"), time_scale=time_scale)

    @ws.on_ticker("BTCUSDT")
    async def handle_btc(data: dict[str, Any]) -> None:
        printed.append(f"BTC: ${data['price']}")

    @ws.on_candles("BTCUSDT", "1m")
    async def on_btc_1m(data: dict[str, Any]) -> None:
        printed.append(f"1m candle closed at ${data['close']}")

    @ws.on_order_update()
    async def on_order(data: dict[str, Any]) -> None:
        printed.append(f"Order {data['order_id']}: {data['status']}")
        if data["status"] == "filled":
            printed.append(f"  Filled at: ${data['executed_price']}")

    @ws.on_portfolio()
    async def on_portfolio(data: dict[str, Any]) -> None:
        printed.append(f"Equity: ${data['total_equity']}  ROI: {data['roi_pct']}%")

    return ws


def clock_start(mock: Any) -> float:
    """The scenario's start instant (virtual epoch seconds), as the journal recorded it."""
    start: float = mock.journal(kind="scenario.loaded")[0].data["start"]
    return start


def run_manual(mock: Any, ws: AgentExchangeWS, seconds: int, subscriptions: int) -> None:
    """Run the client while the test moves the mock's manual clock, 5 virtual seconds at a time."""

    async def main() -> None:
        task = asyncio.create_task(ws.connect())
        await asyncio.to_thread(mock.wait_for, kind="ws.frame", api="tradeready", direction="in", count=subscriptions)
        for step in range(seconds // 5):
            await asyncio.to_thread(mock.advance, 5)
            await asyncio.sleep(0.05)  # frames to the client (and its pong back) cross the socket
            if (step + 1) % 6 == 0:  # a ping went out at this 30 s mark: the pong is in before time moves on
                pongs = (step + 1) // 6
                await asyncio.to_thread(mock.wait_for, kind="ws.frame", api="tradeready", direction="in", count=subscriptions + pongs)
        await asyncio.sleep(0.2)
        ws.stop()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
            raise asyncio.CancelledError

    asyncio.run(main())


def test_documented_the_seed_handlers_print_what_the_scenario_sent(make_mock: MockFactory) -> None:
    mock = make_mock("tradeready/ticker-stream")
    printed: list[str] = []
    ws = seed_client(mock, KEY, printed)
    run_manual(mock, ws, 70, subscriptions=4)
    sent = [json.loads(e.data["text"]) for e in mock.journal(kind="ws.broadcast", api="tradeready")] + [
        json.loads(e.data["text"]) for e in mock.journal(kind="ws.frame", api="tradeready", direction="out")
    ]
    expected = [f"BTC: ${m['price']}" for m in sent if m.get("channel") == "ticker:BTCUSDT"]
    expected += [f"1m candle closed at ${m['close']}" for m in sent if m.get("channel") == "candles:BTCUSDT:1m"]
    orders = [m for m in sent if m.get("channel") == "orders"]
    expected += [f"Order {m['order_id']}: {m['status']}" for m in orders] + [f"  Filled at: ${m['executed_price']}" for m in orders]
    expected += [f"Equity: ${m['total_equity']}  ROI: {m['roi_pct']}%" for m in sent if m.get("channel") == "portfolio"]
    assert sorted(printed) == sorted(expected)
    assert len([p for p in printed if p.startswith("BTC: $")]) == 70  # a trade a second
    assert len(orders) == 2 and any(p.startswith("1m candle closed at $") for p in printed)
    assert any(p.startswith("Equity: $") for p in printed)
    assert ws.errors == [] and "handler-error" not in [name for name, _ in ws.events]


def test_upstream_the_same_client_gets_invalid_channel_errors(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=Path("scenarios/tradeready/ticker-stream.yaml").read_text().replace("profile: documented", "profile: upstream"))
    printed: list[str] = []
    ws = seed_client(mock, KEY, printed)
    run_manual(mock, ws, 20, subscriptions=4)
    assert [(e["code"], e["message"]) for e in ws.errors] == [
        ("INVALID_CHANNEL", "Invalid channel: ticker:BTCUSDT"),
        ("INVALID_CHANNEL", "Invalid channel: candles:BTCUSDT:1m"),
    ]
    assert not [p for p in printed if p.startswith(("BTC", "1m"))], "no ticker or candle reaches the seed's handlers"


def run_accelerated(mock: Any, ws: AgentExchangeWS, until: float) -> None:
    """Run the client on the same accelerated time as the mock until the virtual offset ``until``."""

    async def main() -> None:
        task = asyncio.create_task(ws.connect())
        while (await asyncio.to_thread(mock.clock))["elapsed"] < until:
            await asyncio.sleep(0.05)
        ws.stop()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
            raise asyncio.CancelledError

    asyncio.run(main())


def connections(mock: Any) -> list[tuple[float, list[str]]]:
    """Each client connection (a WebSocket session): when it opened (virtual offset) and what it subscribed to."""
    start = clock_start(mock)
    opened: dict[str | None, tuple[float, list[str]]] = {}
    for entry in mock.journal(kind="ws.accept", api="tradeready"):
        opened[entry.session] = (entry.vtime - start, [])
    for entry in mock.journal(kind="ws.frame", api="tradeready", direction="in"):
        frame = json.loads(entry.data["text"])
        if frame.get("action") == "subscribe":
            opened[entry.session][1].append(frame["channel"])
    return sorted(opened.values())


SPEED = 30.0


def test_stale_connection_the_journal_shows_silence_reconnects_and_resubscriptions(make_mock: MockFactory) -> None:
    mock = make_mock("tradeready/stale-connection", speed=SPEED)
    ws = seed_client(mock, "ak_live_staleconnection000000000000000000000000000000000000000000000", [], time_scale=SPEED)
    run_accelerated(mock, ws, 200)
    start = clock_start(mock)
    suppressed = mock.journal(kind="ws.suppressed", api="tradeready")
    assert suppressed and all(50 <= e.vtime - start <= 141 for e in suppressed), "silence from 50 s for 90 s"
    assert [name for name, _ in ws.events].count("watchdog-fired") >= 1
    closes = [(round(e.vtime - start), e.data["code"]) for e in mock.journal(kind="ws.close", api="tradeready", by="client")]
    # the last frame came just before 50 s; 40 s of silence later the client's watchdog closes the socket itself
    assert closes and 88 <= closes[0][0] <= 120 and closes[0][1] == 1000, closes  # wide: real-time jitter at speed 30
    conns = connections(mock)
    assert len(conns) >= 2, "it reconnected"
    assert all(channels == conns[0][1] for _, channels in conns), "and resubscribed to the same channels every time"
    assert conns[0][1] == ["ticker:BTCUSDT", "candles:BTCUSDT:1m", "orders", "portfolio"]


def test_drop_and_reconnect_the_journal_shows_each_drop_reconnect_and_resubscription(make_mock: MockFactory) -> None:
    mock = make_mock("tradeready/drop-and-reconnect", speed=SPEED)
    ws = seed_client(mock, "ak_live_dropreconnect00000000000000000000000000000000000000000000000", [], time_scale=SPEED)
    run_accelerated(mock, ws, 300)
    codes = sorted(e.data["code"] for e in mock.journal(kind="ws.close", api="tradeready", by="fault"))
    assert {1012, 1001, 1011} <= set(codes), "the scenario's close faults, each journaled as the fault's doing"
    assert mock.journal(kind="ws.reset", api="tradeready"), "the abrupt reset at 2 m"
    rejects = mock.journal(kind="ws.reject", api="tradeready")
    assert rejects and all(e.data["status"] == 503 for e in rejects)
    conns = connections(mock)
    assert len(conns) >= 5, "a new connection after each drop and after the refusals"
    assert all(channels == ["ticker:BTCUSDT", "candles:BTCUSDT:1m", "orders", "portfolio"] for _, channels in conns)
    waits = [seconds for name, seconds in ws.events if name == "reconnect-wait"]
    assert max(waits) >= 4 and waits[0] == 1, "backoff grows while the upgrades are refused"
