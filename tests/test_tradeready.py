"""TradeReady's /ws/v1 over real sockets: handshake, pings on the virtual clock, limits, slow consumers, frame faults."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mockserver.adapters.wsedge import TRANSPORT_KEY
from tests.conftest import MockFactory

KEY = "ak_live_behaviour0000000000000000000000000000000000000000000000000000"


def scenario(profile: str = "documented", options: str = "{}", market: str = "{tick_interval: 1s, symbols_per_tick: 5}") -> str:
    return f"""
id: t/tradeready
description: behaviour
seed: 9
clock: {{start: "2026-02-23T15:30:00Z"}}
apis:
  tradeready:
    profile: {profile}
    options: {options}
    state: {{keys: [{{key: {KEY}, name: tester}}], market: {market}}}
"""


def url(mock: Any, key: str = KEY) -> str:
    return mock.url("tradeready").replace("http://", "ws://") + f"/ws/v1?api_key={key}"


async def drain(socket: Any, wait: float = 0.2) -> list[dict[str, Any]]:
    frames = []
    while True:
        try:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), wait)))
        except TimeoutError:
            return frames


@pytest.mark.parametrize("key", ["", "ak_live_unknown", None])
def test_a_bad_key_is_refused_at_the_handshake_with_403(make_mock: MockFactory, key: str | None) -> None:
    mock = make_mock(yaml=scenario())
    target = url(mock, key or "") if key is not None else mock.url("tradeready").replace("http://", "ws://") + "/ws/v1"

    async def run() -> int:
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(target):
                pass
        return info.value.response.status_code

    assert asyncio.run(run()) == 403
    rejects = mock.journal(kind="ws.reject", api="tradeready")
    assert [e.data["status"] for e in rejects] == [403] and mock.journal(kind="ws.accept", api="tradeready") == []


def test_the_documented_4401_variant_accepts_then_closes(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario(options="{auth_failure: close_4401}"))

    async def run() -> int | None:
        async with websockets.connect(url(mock, "ak_live_nope")) as socket:
            with pytest.raises(ConnectionClosed) as info:
                await socket.recv()
            return info.value.rcvd.code if info.value.rcvd else None

    assert asyncio.run(run()) == 4401


def test_a_client_gone_without_a_close_frame_is_journaled_as_1006(make_mock: MockFactory) -> None:
    """RFC 6455 §7.1.5: no close frame, code 1006 (uvicorn reports 1005, which would make a killed client look polite)."""
    mock = make_mock(yaml=scenario())

    async def run() -> None:
        vanished = await websockets.connect(url(mock))
        vanished.transport.abort()  # as a killed process: the TCP connection goes, no close frame
        polite = await websockets.connect(url(mock))
        await polite.close()  # a close frame with 1000

    asyncio.run(run())
    closes = mock.wait_for(kind="ws.close", api="tradeready", count=2)
    assert [(e.data["code"], e.data["by"]) for e in closes] == [(1006, "client"), (1000, "client")]


@pytest.mark.parametrize(("profile", "pong"), [("documented", {"type": "pong"}), ("upstream", {"action": "pong"})])
def test_pings_every_30_virtual_seconds_and_a_pong_keeps_the_connection(make_mock: MockFactory, profile: str, pong: dict[str, str]) -> None:
    mock = make_mock(yaml=scenario(profile))

    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(url(mock)) as socket:
            pings = []
            for step in range(4):  # two minutes in 30-second steps
                await asyncio.to_thread(mock.advance, 30)
                frames = await drain(socket)
                pings += [f for f in frames if f.get("type") == "ping"]
                await socket.send(json.dumps(pong))
                await asyncio.to_thread(
                    mock.wait_for, kind="ws.frame", api="tradeready", direction="in", count=step + 1
                )  # the pong is in before time moves on
            return pings

    assert len(asyncio.run(run())) == 4
    assert mock.journal(kind="ws.pong_timeout", api="tradeready") == []


@pytest.mark.parametrize("profile", ["documented", "upstream"])
def test_no_pong_closes_the_connection_10_seconds_after_the_ping(make_mock: MockFactory, profile: str) -> None:
    mock = make_mock(yaml=scenario(profile))

    async def run() -> tuple[int | None, list[dict[str, Any]]]:
        async with websockets.connect(url(mock)) as socket:
            if profile == "upstream":
                await socket.send(json.dumps({"type": "pong"}))  # the SDK's pong: the upstream server does not know it
                await asyncio.to_thread(mock.wait_for, kind="ws.frame", api="tradeready", direction="in", count=1)
            await asyncio.to_thread(mock.advance, 30)
            frames = await drain(socket)
            await asyncio.to_thread(mock.advance, 10)
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    frames.append(json.loads(await asyncio.wait_for(socket.recv(), 5)))
            return (info.value.rcvd.code if info.value.rcvd else None), frames

    code, frames = asyncio.run(run())
    assert code == 1000
    timeouts = mock.journal(kind="ws.pong_timeout", api="tradeready")
    assert len(timeouts) == 1 and timeouts[0].vtime - mock.journal(kind="scenario.loaded")[0].data["start"] == 40
    if profile == "upstream":
        assert {"type": "error", "code": "UNKNOWN_ACTION", "message": "Unknown action: None"} in frames


def test_upstream_limits_subscriptions_and_closes_on_invalid_json(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario("upstream"))

    async def run() -> tuple[list[dict[str, Any]], int | None]:
        async with websockets.connect(url(mock)) as socket:
            for symbol in ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "DOT", "LINK", "LTC"):
                await socket.send(json.dumps({"action": "subscribe", "channel": "ticker", "symbol": f"{symbol}usdt"}))
            replies = await drain(socket)
            await socket.send("not json")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(socket.recv(), 5)
            return replies, info.value.rcvd.code if info.value.rcvd else None

    replies, code = asyncio.run(run())
    assert [r["type"] for r in replies] == ["subscribed"] * 10 + ["error"]
    assert replies[0]["channel"] == "ticker:BTCUSDT" and replies[-1]["code"] == "SUBSCRIPTION_LIMIT"
    assert code == 1000


def test_a_slow_consumer_meets_a_bounded_queue_and_every_drop_is_journaled(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario(options="{queue_limit: 50}", market="{tick_interval: 1h, symbols_per_tick: 620}"))

    async def run() -> int:
        async with websockets.connect(url(mock), max_queue=1, max_size=2**20) as socket:
            await socket.send(json.dumps({"action": "subscribe", "channel": "ticker:all"}))
            await asyncio.to_thread(mock.wait_for, kind="ws.frame", api="tradeready", direction="in", count=1)
            await asyncio.to_thread(mock.emit, "tradeready", "burst", {"ticks": 100})
            await asyncio.sleep(0.5)  # the client reads nothing meanwhile: TCP buffers fill, then the server's queue
            return len([f for f in await drain(socket, 0.5) if "price" in f])

    received = asyncio.run(run())
    broadcast = sum(len(e.data["conns"]) for e in mock.journal(kind="ws.broadcast", api="tradeready"))
    dropped = len(mock.journal(kind="ws.dropped", api="tradeready"))
    assert broadcast == 100 * 620
    assert dropped > 0, "the queue stayed bounded"
    assert received + dropped == broadcast, "every ticker frame was either delivered or journaled as dropped"
    assert received == 50, "the newest 50 (the queue's bound) got through"


def test_send_buffer_fixes_the_kernels_buffer_so_a_slow_consumer_meets_the_queue_soon(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario(options="{queue_limit: 50, send_buffer: 8192}", market="{tick_interval: 1h, symbols_per_tick: 620}"))

    def send_buffers() -> list[int]:
        hub = mock.server.edges["tradeready"].app.state.hub
        sockets = [conn.websocket.scope["extensions"][TRANSPORT_KEY].get_extra_info("socket") for conn in hub.conns.values()]
        return [sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) for sock in sockets]

    async def run() -> list[int]:
        async with websockets.connect(url(mock), max_queue=1, max_size=2**20, close_timeout=0.5) as client:
            await client.send(json.dumps({"action": "subscribe", "channel": "ticker:all"}))
            await asyncio.to_thread(mock.wait_for, kind="ws.frame", api="tradeready", direction="in", count=1)
            await asyncio.to_thread(mock.emit, "tradeready", "burst", {"ticks": 10})  # 6,200 frames, about 1 MB
            await asyncio.sleep(0.3)
            return await asyncio.to_thread(mock.call, send_buffers)

    assert asyncio.run(run()) == [16384], "8 KiB asked, doubled by Linux for its bookkeeping, and no longer autotuned"
    assert mock.journal(kind="ws.dropped", api="tradeready"), "a megabyte no longer hides in the kernel's buffers"
    assert mock.journal(kind="scenario.loaded")[0].data["options"]["tradeready"]["send_buffer"] == 8192


def test_the_pong_deadline_runs_from_when_the_ping_was_written_not_queued(make_mock: MockFactory) -> None:
    """The server waits for the pong after its send completes: a ping stuck behind a backlog does not eat the client's 10 s."""
    mock = make_mock(yaml=scenario(options="{queue_limit: 5000, send_buffer: 8192}", market="{tick_interval: 1h, symbols_per_tick: 620}"))

    def sender_blocked() -> bool:
        hub = mock.server.edges["tradeready"].app.state.hub
        return any(conn.sending for conn in hub.conns.values())

    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(url(mock), max_queue=1, max_size=2**20) as client:
            await client.send(json.dumps({"action": "subscribe", "channel": "ticker:all"}))
            await asyncio.to_thread(mock.wait_for, kind="ws.frame", api="tradeready", direction="in", count=1)
            for _ in range(50):  # the client reads nothing: the sender blocks on a full socket
                await asyncio.to_thread(mock.emit, "tradeready", "burst", {"ticks": 1})
                await asyncio.sleep(0.01)
                if await asyncio.to_thread(mock.call, sender_blocked):
                    break
            else:
                raise AssertionError("the socket never filled")
            await asyncio.to_thread(mock.advance, 45)  # the ping (at 30) waits in the queue past its old deadline (40)
            assert mock.journal(kind="ws.pong_timeout", api="tradeready") == []
            frames = await drain(client, 0.5)  # the client reads again: the ping goes out now
            assert {"type": "ping"} in frames
            await client.send(json.dumps({"type": "pong"}))
            await asyncio.to_thread(mock.wait_for, kind="ws.frame", api="tradeready", direction="in", count=2)
            await asyncio.to_thread(mock.advance, 14)  # the next ping's deadline is at 70; nothing closes before
            return frames

    asyncio.run(run())
    assert mock.journal(kind="ws.pong_timeout", api="tradeready") == []
    assert [e.data["by"] for e in mock.journal(kind="ws.close", api="tradeready")] == ["client"], "open until the client left"
    (ping,) = [e for e in mock.journal(kind="ws.frame", api="tradeready", direction="out") if e.data.get("text") == '{"type":"ping"}']
    assert ping.vtime - mock.journal(kind="scenario.loaded")[0].data["start"] == 45, "written when the client read, not at 30"


def test_duplicate_and_reorder_faults_change_what_the_client_sees(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario())

    async def run(kind: str) -> list[str]:
        async with websockets.connect(url(mock)) as socket:
            await socket.send(json.dumps({"action": "subscribe", "channel": "ticker:BTCUSDT"}))
            await drain(socket)
            await asyncio.to_thread(mock.start_fault, id=kind, api="tradeready", kind=kind, times=1)
            for price in (100.0, 101.0, 102.0):
                await asyncio.to_thread(mock.emit, "tradeready", "price", {"symbol": "BTCUSDT", "price": price})
            return [f["price"] for f in await drain(socket)]

    assert asyncio.run(run("duplicate")) == ["100.0000", "100.0000", "101.0000", "102.0000"]
    assert asyncio.run(run("reorder")) == ["101.0000", "100.0000", "102.0000"]
    assert len(mock.journal(kind="ws.held", api="tradeready")) == 1


def test_a_key_revoked_mid_session_is_closed_and_then_refused_at_the_handshake(make_mock: MockFactory) -> None:
    mock = make_mock("tradeready/auth-revoked")
    target = url(mock, "ak_live_authrevoked0000000000000000000000000000000000000000000000000")

    async def run() -> tuple[int | None, int]:
        async with websockets.connect(target) as socket:
            await asyncio.to_thread(mock.advance, 29)
            await socket.send(json.dumps({"type": "pong"}))
            await asyncio.to_thread(mock.advance, 31)  # 1 m: revoked, open sockets closed 1008
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(socket.recv(), 5)
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(target):
                pass
        return (closed.value.rcvd.code if closed.value.rcvd else None), refused.value.response.status_code

    assert asyncio.run(run()) == (1008, 403)
    mock.advance(240)  # 5 m: restored

    async def again() -> None:
        async with websockets.connect(target):
            pass

    asyncio.run(again())


def test_replies_queued_before_an_invalid_frame_are_sent_before_the_close(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario("upstream"))

    async def once() -> tuple[list[dict[str, Any]], int | None]:
        async with websockets.connect(url(mock)) as socket:
            await socket.send(json.dumps({"action": "subscribe", "channel": "orders"}))
            await socket.send("not json")
            frames = []
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    frames.append(json.loads(await asyncio.wait_for(socket.recv(), 5)))
            return frames, info.value.rcvd.code if info.value.rcvd else None

    for _ in range(10):
        assert asyncio.run(once()) == ([{"type": "subscribed", "channel": "orders"}], 1000)


def test_candles_close_even_when_a_tick_falls_on_the_boundary(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario(market="{tick_interval: 1m, symbols_per_tick: 0}", options="{ping_interval: 1d}"))

    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(url(mock)) as socket:
            await socket.send(json.dumps({"action": "subscribe", "channel": "candles:BTCUSDT:1m"}))
            await asyncio.to_thread(mock.wait_for, kind="ws.frame", api="tradeready", direction="in", count=1)
            for _ in range(5):
                await asyncio.to_thread(mock.advance, 60)
            return [f for f in await drain(socket) if f.get("type") == "candle"]

    candles = asyncio.run(run())
    assert len(candles) >= 4, "one candle a minute, though a tick and the close share each instant"


def test_a_client_that_stops_reading_is_cut_off_and_every_lost_frame_is_journaled(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario(options="{queue_limit: 300, ping_interval: 1d}", market="{tick_interval: 1h, symbols_per_tick: 620}"))

    def sender_blocked() -> bool:
        # the hub's sender stuck inside a send to a client that does not read: no journal entry says so (nothing happened yet)
        hub = mock.server.edges["tradeready"].app.state.hub
        return any(conn.sending for conn in hub.conns.values())

    async def run() -> None:
        async with websockets.connect(url(mock), max_queue=1) as socket:
            for channel in ("ticker:all", "orders"):
                await socket.send(json.dumps({"action": "subscribe", "channel": channel}))
            await asyncio.to_thread(mock.wait_for, kind="ws.frame", api="tradeready", direction="in", count=2)
            for _ in range(400):  # the client reads nothing: socket buffers fill until the sender blocks
                await asyncio.to_thread(mock.emit, "tradeready", "burst", {"ticks": 1})
                await asyncio.sleep(0.005)
                if await asyncio.to_thread(mock.call, sender_blocked):
                    break
            else:
                raise AssertionError("the socket buffers never filled")
            for _ in range(320):  # orders may not be dropped: the queue overflows with them
                await asyncio.to_thread(mock.emit, "tradeready", "order", {"symbol": "BTCUSDT"})
            await asyncio.to_thread(mock.wait_for, kind="ws.reset", api="tradeready", by="server")  # cut off

    asyncio.run(run())
    assert mock.journal(kind="ws.overflow", api="tradeready") and mock.journal(kind="ws.reset", api="tradeready")
    assert mock.journal(kind="ws.dropped", api="tradeready"), "market frames were dropped first, each journaled"
    assert mock.journal(kind="ws.discarded", api="tradeready"), "and what was still queued when it was cut off"
