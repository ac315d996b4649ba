"""The TradeReady SDK stand-in (fixtures/clients/tradeready_sdk.py) against tiny in-test servers, not the mock.

Every server here is a bare ``websockets.serve`` on port 0. Waits are scaled with
``time_scale`` (100-1000) so the real waiting stays in the tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from fixtures.clients.tradeready_sdk import WATCHDOG_S, AgentExchangeWS, AuthenticationError, Message
from tests.helpers import wait_until

KEY = "ak_live_test"
TEST_TIMEOUT = 5.0

Handler = Callable[[ServerConnection], Awaitable[None]]
ProcessRequest = Callable[[ServerConnection, Request], Response | None]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, TEST_TIMEOUT))


@asynccontextmanager
async def serving(handler: Handler, process_request: ProcessRequest | None = None) -> AsyncIterator[str]:
    """A websockets server on 127.0.0.1, port 0; yields the client's ``base_url``."""
    async with serve(handler, "127.0.0.1", 0, ping_interval=None, process_request=process_request) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def run_until(client: AgentExchangeWS, condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Run ``client.connect()`` until ``condition()`` holds, then stop it; connect() must return normally."""
    task = asyncio.create_task(client.connect())
    try:
        await wait_until(lambda: condition() or task.done(), timeout, "the condition (or the client to return)", interval=0.002)
    finally:
        client.stop()
        await asyncio.wait_for(task, 2.0)
    assert client.events[-1] == ("stopped", None)


async def frames(ws: ServerConnection, count: int) -> list[Message]:
    return [json.loads(await asyncio.wait_for(ws.recv(), 2.0)) for _ in range(count)]


def subscribe(key: str) -> Message:
    return {"action": "subscribe", "channel": key}


# -- subscriptions -------------------------------------------------------------------------
def test_subscribes_with_flat_keys_on_connect_and_again_after_a_drop() -> None:
    seen: list[tuple[str, list[Message]]] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        got = await frames(ws, 5)
        seen.append((ws.request.path, got))
        if len(seen) == 1:
            return  # drop the first connection (close 1000)
        await ws.wait_closed()

    async def main() -> None:
        async with serving(handler) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=100)
            client.on_ticker("BTCUSDT")(lambda message: None)
            client.on_ticker("all")(lambda message: None)
            client.on_candles("ETHUSDT", "1m")(lambda message: None)
            client.on_order_update()(lambda message: None)
            client.on_portfolio()(lambda message: None)
            client.on_ticker("BTCUSDT")(lambda message: None)  # a second handler: no second subscription
            await run_until(client, lambda: len(seen) == 2)

        expected = [subscribe(key) for key in ("ticker:BTCUSDT", "ticker:all", "candles:ETHUSDT:1m", "orders", "portfolio")]
        assert seen == [("/ws/v1?api_key=ak_live_test", expected)] * 2
        assert client.event_values("connected") == [f"{base_url}/ws/v1?api_key={KEY}"] * 2
        assert client.event_values("subscribed-sent") == [frame["channel"] for frame in expected] * 2
        assert client.event_values("disconnected")[0].startswith("closed: code 1000")
        assert client.event_values("reconnect-wait") == [1.0]

    run(main())


def test_answers_pings_with_type_pong_and_logs_errors_without_stopping() -> None:
    answers: list[Message] = []

    async def handler(ws: ServerConnection) -> None:
        assert await frames(ws, 1) == [subscribe("orders")]
        for _ in range(2):
            await ws.send('{"type":"ping"}')
            answers.extend(await frames(ws, 1))
        await ws.send(json.dumps({"type": "error", "code": "UNKNOWN_ACTION", "message": "Unknown action: None"}))
        await ws.send('{"type":"ping"}')  # still answered after the error
        answers.extend(await frames(ws, 1))
        await ws.wait_closed()

    async def main() -> None:
        async with serving(handler) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=100)
            client.on_order_update()(lambda message: None)
            await run_until(client, lambda: len(answers) == 3)
        assert answers == [{"type": "pong"}] * 3
        assert client.event_values("pong-sent") == [None] * 3
        assert client.errors == [{"type": "error", "code": "UNKNOWN_ACTION", "message": "Unknown action: None"}]
        assert client.event_values("error") == ["UNKNOWN_ACTION"]
        assert client.event_values("connected") == [f"{base_url}/ws/v1?api_key={KEY}"]  # one session: the error did not end it
        assert client.received == 4

    run(main())


# -- watchdog ------------------------------------------------------------------------------
def test_watchdog_closes_after_40_scaled_seconds_of_silence_then_reconnects() -> None:
    scale = 100.0  # 40 s -> 0.4 s
    lifetimes: list[float] = []
    opened: list[float] = []

    async def handler(ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        opened.append(loop.time())
        await ws.wait_closed()  # silent: never sends anything
        lifetimes.append(loop.time() - opened[-1])

    async def main() -> None:
        async with serving(handler) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=scale)
            await run_until(client, lambda: len(opened) == 2)
        assert client.event_values("watchdog-fired") == [WATCHDOG_S]
        assert client.event_values("disconnected") == ["watchdog"]
        assert client.event_values("reconnect-wait") == [1.0]
        assert lifetimes[0] >= WATCHDOG_S / scale - 0.01, "not before 40 (scaled) seconds of silence"

    run(main())


def test_every_message_restarts_the_watchdog() -> None:
    """The seed's watchdog: 40 s without a message. (The real SDK closes 40 s after connect, whatever arrives.)"""
    scale = 50.0  # watchdog 0.8 s; a message every 0.04 s for 1.2 s = 60 virtual seconds (a wide margin on a loaded machine)
    phases: dict[str, float] = {}

    async def handler(ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < 1.2:
            await ws.send('{"type":"subscribed","channel":"orders"}')
            phases["last_sent"] = loop.time() - start
            await asyncio.sleep(0.04)
        phases["talked"] = loop.time() - start
        await ws.wait_closed()
        phases["closed"] = loop.time() - start

    async def main() -> None:
        async with serving(handler) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=scale)
            fired_while_talking: list[int] = []

            async def watch() -> None:
                await wait_until(lambda: "talked" in phases, 3.0, "the client to talk", interval=0.002)
                fired_while_talking.append(len(client.event_values("watchdog-fired")))

            watcher = asyncio.create_task(watch())
            await run_until(client, lambda: "closed" in phases)
            await watcher
        assert fired_while_talking == [0]
        assert client.event_values("watchdog-fired") == [WATCHDOG_S]
        assert phases["closed"] >= phases["last_sent"] + WATCHDOG_S / scale - 0.01
        assert client.event_values("reconnect-wait") == [1.0]  # the session received messages

    run(main())


# -- reconnect backoff ---------------------------------------------------------------------
def test_backoff_doubles_from_1_to_a_60_second_cap() -> None:
    async def handler(ws: ServerConnection) -> None:
        return  # accept, then close at once: the session receives nothing

    async def main() -> None:
        async with serving(handler) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=1000)  # the 9 waits sleep 0.243 s in all
            await run_until(client, lambda: len(client.event_values("reconnect-wait")) >= 9)
        assert client.event_values("reconnect-wait")[:9] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
        assert len(client.event_values("connected")) >= 9

    run(main())


@pytest.mark.parametrize(("reset", "expected"), [(True, [1.0, 1.0, 1.0, 1.0]), (False, [1.0, 2.0, 4.0, 8.0])])
def test_backoff_resets_after_a_session_that_received_a_message(reset: bool, expected: list[float]) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send('{"type":"subscribed","channel":"orders"}')  # one message, then close

    async def main() -> None:
        async with serving(handler) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=1000, reset_backoff=reset)
            await run_until(client, lambda: len(client.event_values("reconnect-wait")) >= 4)
        assert client.event_values("reconnect-wait")[:4] == expected

    run(main())


def test_refused_connections_back_off_too() -> None:
    async def main() -> None:
        with socket.socket() as taken:  # bound, not listening: connections are refused
            taken.bind(("127.0.0.1", 0))
            port = taken.getsockname()[1]
            client = AgentExchangeWS(KEY, f"ws://127.0.0.1:{port}", time_scale=1000)
            await run_until(client, lambda: len(client.event_values("reconnect-wait")) >= 3)
        assert client.event_values("reconnect-wait")[:3] == [1.0, 2.0, 4.0]
        assert client.event_values("connected") == []
        assert all(reason.startswith("error: ") for reason in client.event_values("disconnected"))

    run(main())


# -- handshake rejections ------------------------------------------------------------------
@pytest.mark.parametrize("status", [HTTPStatus.FORBIDDEN, HTTPStatus.UNAUTHORIZED])
def test_401_or_403_at_the_handshake_raises_authentication_error_and_stops(status: HTTPStatus) -> None:
    attempts: list[str] = []

    def reject(connection: ServerConnection, request: Request) -> Response:
        attempts.append(request.path)
        return connection.respond(status, "invalid api key\n")

    async def handler(ws: ServerConnection) -> None:
        raise AssertionError("never accepted")

    async def main() -> None:
        async with serving(handler, reject) as base_url:
            client = AgentExchangeWS("ak_live_wrong", base_url, time_scale=1000)
            client.on_ticker("BTCUSDT")(lambda message: None)
            with pytest.raises(AuthenticationError) as caught:
                await client.connect()
        assert caught.value.status_code == status
        assert caught.value.code == "INVALID_API_KEY"
        assert attempts == ["/ws/v1?api_key=ak_live_wrong"]
        assert client.events == [("auth-error", int(status))]

    run(main())


def test_other_handshake_statuses_are_retried() -> None:
    def reject(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")

    async def handler(ws: ServerConnection) -> None:
        raise AssertionError("never accepted")

    async def main() -> None:
        async with serving(handler, reject) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=1000)
            await run_until(client, lambda: len(client.event_values("reconnect-wait")) >= 2)
        assert client.event_values("reconnect-wait")[:2] == [1.0, 2.0]
        assert client.event_values("disconnected")[:2] == ["handshake rejected: HTTP 503"] * 2

    run(main())


# -- dispatch ------------------------------------------------------------------------------
BTC = {"channel": "ticker:BTCUSDT", "type": "ticker", "symbol": "BTCUSDT", "price": "64521.30", "timestamp": "2026-02-23T15:30:45.123Z"}
ETH = {"channel": "ticker:ETHUSDT", "type": "ticker", "symbol": "ETHUSDT", "price": "3400.10", "timestamp": "2026-02-23T15:30:45.200Z"}
BTC_NO_CHANNEL = {"type": "ticker", "symbol": "BTCUSDT", "price": "64522.00", "timestamp": "2026-02-23T15:30:46.000Z"}
UPSTREAM_BTC = {"channel": "ticker", "symbol": "BTCUSDT", "data": {"price": "64523.00", "timestamp": "2026-02-23T15:30:47.000Z"}}
CANDLE = {"channel": "candles:BTCUSDT:1m", "type": "candle", "symbol": "BTCUSDT", "interval": "1m", "open": "1", "high": "2", "low": "1", "close": "2", "volume": "3", "open_time": "2026-02-23T15:30:00Z"}  # fmt: skip
ORDER = {"channel": "orders", "type": "order", "order_id": "o-1", "symbol": "BTCUSDT", "side": "buy", "status": "filled", "executed_price": "64521.30", "executed_quantity": "0.01"}  # fmt: skip
ORDER_NO_CHANNEL = {"type": "order_update", "order_id": "o-2", "status": "cancelled"}
PORTFOLIO = {"channel": "portfolio", "type": "portfolio", "total_equity": "10000.00", "available_cash": "9000.00", "unrealized_pnl": "0", "roi_pct": "0"}  # fmt: skip
ACK = {"type": "subscribed", "channel": "ticker:BTCUSDT"}
ACK_NO_CHANNEL = {"type": "subscribed", "subscription": "orders"}  # no channel: recorded, never dispatched
ERROR = {"type": "error", "code": "INVALID_CHANNEL", "message": "Unknown channel"}


@pytest.mark.parametrize("dispatch_acks", [True, False])
def test_dispatch_by_flat_key_with_ticker_all_and_type_fallback(dispatch_acks: bool) -> None:
    sequence = [ACK, ACK_NO_CHANNEL, BTC, ETH, BTC_NO_CHANNEL, UPSTREAM_BTC, CANDLE, ERROR, ORDER, ORDER_NO_CHANNEL, "not json", PORTFOLIO]

    async def handler(ws: ServerConnection) -> None:
        await frames(ws, 5)
        for item in sequence:
            await ws.send(item if isinstance(item, str) else json.dumps(item))
        await ws.wait_closed()

    async def main() -> None:
        got: dict[str, list[Message]] = {"btc": [], "all": [], "candles": [], "orders": [], "portfolio": []}
        async with serving(handler) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=100, dispatch_acks=dispatch_acks)

            @client.on_ticker("BTCUSDT")
            def on_btc(message: Message) -> None:  # sync handler
                got["btc"].append(message)

            @client.on_ticker("ALL")
            async def on_all(message: Message) -> None:  # async handler
                got["all"].append(message)

            @client.on_candles("BTCUSDT", "1m")
            def on_candle(message: Message) -> None:
                got["candles"].append(message)
                raise KeyError("data")  # a failing handler does not stop the client

            @client.on_order_update()
            async def on_order(message: Message) -> None:
                got["orders"].append(message)

            @client.on_portfolio()
            def on_portfolio(message: Message) -> None:
                got["portfolio"].append(message)
                client.stop()  # stop() from inside a handler

            task = asyncio.create_task(client.connect())
            await asyncio.wait_for(task, 3.0)  # returns because the portfolio handler stopped it

        acks = [ACK] if dispatch_acks else []
        assert got["btc"] == [*acks, BTC, BTC_NO_CHANNEL]
        assert got["all"] == [*acks, BTC, ETH, BTC_NO_CHANNEL]
        assert got["candles"] == [CANDLE]
        assert got["orders"] == [ORDER, ORDER_NO_CHANNEL]
        assert got["portfolio"] == [PORTFOLIO]
        assert client.unrouted == {"ticker": 1}  # the upstream envelope matches no flat key
        assert client.errors == [ERROR]
        assert client.event_values("subscribed") == ["ticker:BTCUSDT", "orders"]
        assert client.event_values("handler-error") == [("candles:BTCUSDT:1m", "KeyError('data')")]
        assert client.event_values("bad-message") == ["not json"]
        assert client.events[-1] == ("stopped", None)
        assert client.event_values("disconnected") == []

    run(main())


def test_stop_from_another_thread_ends_run_forever() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async def main() -> None:
        async with serving(handler) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=1)
            thread = threading.Thread(target=client.run_forever, daemon=True)
            thread.start()
            await wait_until(lambda: client.connected, 3.0, "the client to connect", interval=0.002)
            client.stop()
            await asyncio.to_thread(thread.join, 3.0)
            assert not thread.is_alive()
        assert client.events == [("connected", f"{base_url}/ws/v1?api_key={KEY}"), ("stopped", None)]

        await client.connect()  # a stopped client stays stopped
        assert client.events[-1] == ("stopped", None)

    run(main())


def test_time_scale_must_be_positive() -> None:
    with pytest.raises(ValueError):
        AgentExchangeWS(KEY, time_scale=0)


# -- the upstream protocol, the hooks, a clean disconnect ------------------------------------
UPSTREAM_FRAMES = [
    {"channel": "ticker", "symbol": "BTCUSDT", "data": {"price": "64521.30", "quantity": "0.012", "timestamp": "t"}},
    {"channel": "candles", "symbol": "BTCUSDT", "interval": "1m", "data": {"time": "t0", "close": "64000.00", "is_closed": True}},
    {"channel": "orders", "data": {"order_id": "o-1", "status": "filled"}},
    {"channel": "portfolio", "data": {"total_equity": "10000.00"}},
]


def test_upstream_protocol_sends_structured_subscribes_and_action_pong_and_unwraps_envelopes() -> None:
    received: list[Message] = []

    async def handler(ws: ServerConnection) -> None:
        received.extend(await frames(ws, 5))
        await ws.send('{"type":"ping"}')
        received.extend(await frames(ws, 1))
        await ws.send(json.dumps({"type": "subscribed", "channel": "ticker:BTCUSDT"}))  # acks as the server sends them
        for frame in UPSTREAM_FRAMES:
            await ws.send(json.dumps(frame))
        await ws.wait_closed()

    async def main() -> None:
        got: list[Message] = []
        async with serving(handler) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=100, protocol="upstream", dispatch_acks=False)
            client.on_ticker("BTCUSDT")(got.append)
            client.on_ticker("all")(lambda message: None)
            client.on_candles("BTCUSDT", "1m")(got.append)
            client.on_order_update()(got.append)
            client.on_portfolio()(got.append)
            await run_until(client, lambda: len(got) == 4)
        assert received == [
            {"action": "subscribe", "channel": "ticker", "symbol": "BTCUSDT"},
            {"action": "subscribe", "channel": "ticker_all"},
            {"action": "subscribe", "channel": "candles", "symbol": "BTCUSDT", "interval": "1m"},
            {"action": "subscribe", "channel": "orders"},
            {"action": "subscribe", "channel": "portfolio"},
            {"action": "pong"},
        ]
        assert got == [
            {
                "channel": "ticker:BTCUSDT",
                "type": "ticker",
                "symbol": "BTCUSDT",
                "price": "64521.30",
                "quantity": "0.012",
                "timestamp": "t",
            },
            {
                "channel": "candles:BTCUSDT:1m",
                "type": "candle",
                "symbol": "BTCUSDT",
                "interval": "1m",
                "open_time": "t0",
                "close": "64000.00",
            },
            {"channel": "orders", "order_id": "o-1", "status": "filled"},
            {"channel": "portfolio", "type": "portfolio", "total_equity": "10000.00"},
        ]
        assert client.event_values("subscribed") == ["ticker:BTCUSDT"]

    run(main())


def test_protocol_must_be_known() -> None:
    with pytest.raises(ValueError, match="documented, upstream"):
        AgentExchangeWS(KEY, protocol="v2")


def test_disconnect_closes_the_connection_with_1000_and_stops() -> None:
    codes: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        codes.append(ws.close_code)

    async def main() -> None:
        async with serving(handler) as base_url:
            client = AgentExchangeWS(KEY, base_url, time_scale=100)
            task = asyncio.create_task(client.connect())
            await wait_until(lambda: client.connected, 3.0, "the client to connect", interval=0.002)
            await client.disconnect()
            await asyncio.wait_for(task, 3.0)
            await wait_until(lambda: bool(codes), 3.0, "the server to see the close", interval=0.002)
        assert codes == [1000]
        assert client.events[-1] == ("stopped", None)

    run(main())


class Hooked(AgentExchangeWS):
    """A client built on the stand-in: one subscription after the first connection, a fixed 1 s backoff, 4401 is fatal."""

    def session_keys(self) -> list[str]:
        return super().session_keys()[:1] if self.sessions > 1 else super().session_keys()

    def next_backoff(self, backoff: float) -> float:
        return 1.0

    def is_auth_failure(self, status: int | None = None, close_code: int | None = None) -> bool:
        return super().is_auth_failure(status=status) or close_code == 4401


def test_hooks_shape_resubscriptions_backoff_and_a_fatal_close_code_and_watchdog_none_waits() -> None:
    seen: list[list[Message]] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(await frames(ws, 2 if not seen else 1))
        if len(seen) < 4:
            return  # close 1000: reconnect
        await asyncio.sleep(0.2)  # silent for 20 (scaled) seconds: no watchdog fires
        await ws.close(4401, "Invalid API key")

    async def main() -> None:
        async with serving(handler) as base_url:
            client = Hooked(KEY, base_url, time_scale=100, watchdog=None)
            client.on_order_update()(lambda message: None)
            client.on_portfolio()(lambda message: None)
            with pytest.raises(AuthenticationError) as caught:
                await asyncio.wait_for(client.connect(), 3.0)
        assert caught.value.status_code == 4401
        assert seen == [[subscribe("orders"), subscribe("portfolio")], [subscribe("orders")], [subscribe("orders")], [subscribe("orders")]]
        assert client.event_values("reconnect-wait") == [1.0, 1.0, 1.0]
        assert client.event_values("watchdog-fired") == []
        assert client.event_values("auth-error") == [4401]

    run(main())


def test_disconnect_during_a_handshake_lets_it_finish_and_closes_with_1000() -> None:
    codes: list[int | None] = []
    asked = asyncio.Event()
    release = asyncio.Event()

    async def hold(connection: ServerConnection, request: Request) -> Response | None:
        asked.set()
        await release.wait()  # the handshake is under way when disconnect() comes
        return None

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        codes.append(ws.close_code)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, ping_interval=None, process_request=hold) as server:
            base_url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
            client = AgentExchangeWS(KEY, base_url, time_scale=100)
            client.on_order_update()(lambda message: None)
            task = asyncio.create_task(client.connect())
            await asyncio.wait_for(asyncio.shield(asked.wait()), 3.0)
            stopping = asyncio.create_task(client.disconnect())
            await asyncio.sleep(0.05)
            release.set()
            await asyncio.wait_for(asyncio.gather(stopping, task), 3.0)
            await wait_until(lambda: bool(codes), 3.0, "the server to see the close", interval=0.002)
        assert codes == [1000], "a close frame, not a dropped socket (1006)"
        assert client.event_values("subscribed-sent") == [] and client.events[-1] == ("stopped", None)

    run(main())
