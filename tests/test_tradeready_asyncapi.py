"""TradeReady's /ws/v1 against its AsyncAPI 3.0 documents, in both profiles, over real sockets.

Every frame a test sends is checked against the messages the document says the server receives
(a frame the server answers with an error or a close must be one the document rejects), and
every frame the mock sends against the messages it says the server sends. The virtual clock
moves only when a test says so (speed 0), so the frames between two moves are exactly those
queued by the move; ``Client.sync`` collects them up to the answer to a marker frame (the
server answers in order) and answers the pings among them.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from mockserver.apis.tradeready.channels import INTERVALS, MAX_SUBSCRIPTIONS
from mockserver.control.openapi import api_asyncapi
from mockserver.documents import assert_frame_matches, assert_valid_asyncapi, direction_messages, payload_validator
from mockserver.server import ThreadedMockServer
from tests.conftest import MockFactory

PROFILES = ("documented", "upstream")
KEY = "ak_live_asyncapi00000000000000000000000000000000000000000000000000000"
PONG = {"documented": {"type": "pong"}, "upstream": {"action": "pong"}}
Frame = dict[str, Any]


def scenario(profile: str) -> str:
    # 15:59:00: one virtual minute later the 1m, 5m, 15m, 1h and 4h candles all close at 16:00:00
    return f"""
id: test/tradeready-asyncapi-{profile}
description: every frame against the AsyncAPI document
seed: 11
clock: {{start: "2026-02-23T15:59:00Z"}}
apis:
  tradeready:
    profile: {profile}
    state:
      keys: [{{key: {KEY}, name: x}}]
      market: {{tick_interval: 1s, symbols_per_tick: 0}}
"""


def ws_url(mock: ThreadedMockServer, key: str = KEY) -> str:
    return mock.url("tradeready").replace("http://", "ws://") + f"/ws/v1?api_key={key}"


def decoded(frame: Any) -> Any:
    """What a frame the client sends is, as a message: the JSON value of a text frame (None: not JSON at all)."""
    if isinstance(frame, bytes):
        return None  # a binary frame is no message of the document (text frames only)
    if isinstance(frame, str):
        try:
            return json.loads(frame)
        except json.JSONDecodeError:
            return None
    return frame


class Client:
    """One connection; every frame in either direction is checked against the profile's document."""

    def __init__(self, mock: ThreadedMockServer, socket: ClientConnection, profile: str) -> None:
        self.mock = mock
        self.socket = socket
        self.profile = profile
        self.document = api_asyncapi("tradeready", profile)
        self.sent: Counter[str] = Counter()
        self.received: Counter[str] = Counter()
        self.markers = 0

    async def send(self, frame: Any, *, valid: bool = True) -> None:
        """Send ``frame`` (a dict, or raw text/bytes); ``valid``: the document must accept it, else reject it."""
        message = decoded(frame)
        if valid:
            self.sent[assert_frame_matches(self.document, "receive", message)] += 1
        elif message is not None:
            with pytest.raises(AssertionError):
                assert_frame_matches(self.document, "receive", message)
        await self.socket.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def recv(self) -> Frame:
        text = await asyncio.wait_for(self.socket.recv(), 10)
        frame = json.loads(text)
        self.received[assert_frame_matches(self.document, "send", frame)] += 1
        assert isinstance(frame, dict)
        return frame

    async def request(self, frame: Any, *, valid: bool = True) -> Frame:
        """Send a frame the server answers; the answer is the next frame (nothing else is queued at speed 0)."""
        await self.send(frame, valid=valid)
        return await self.recv()

    async def sync(self) -> list[Frame]:
        """The frames queued so far, up to the answer to a marker; pings among them are answered (and the pongs read)."""
        frames: list[Frame] = []
        while True:
            self.markers += 1
            symbol = f"SYNC{self.markers}"
            marker = (
                {"action": "unsubscribe", "channel": f"ticker:{symbol}"}
                if self.profile == "documented"
                else {"action": "unsubscribe", "channel": "ticker", "symbol": symbol}
            )
            await self.send(marker)
            batch = []
            while (frame := await self.recv()) != ack(self.profile, "unsubscribed", f"ticker:{symbol}"):
                batch.append(frame)
            frames += batch
            pings = [f for f in batch if f == {"type": "ping"}]
            if not pings:
                return frames
            for _ in pings:
                await self.send(PONG[self.profile])

    async def advance(self, seconds: float) -> list[Frame]:
        await asyncio.to_thread(self.mock.advance, seconds)
        return await self.sync()

    async def emit(self, event: str, data: Mapping[str, Any]) -> list[Frame]:
        await asyncio.to_thread(self.mock.emit, "tradeready", event, data)
        return await self.sync()


def ack(profile: str, kind: str, key: str) -> Frame:
    """``subscribed``/``unsubscribed``: the key is ``channel`` upstream, ``subscription`` in the documented profile."""
    return {"type": kind, "channel" if profile == "upstream" else "subscription": key}


def error(code: str, message: str) -> Frame:
    return {"type": "error", "code": code, "message": message}


ORDERS: list[dict[str, Any]] = [
    {"symbol": "BTCUSDT", "side": "buy", "quantity": 0.01},
    {"symbol": "ETHUSDT", "side": "buy", "type": "limit", "price": 3300, "quantity": 0.5, "status": "partially_filled"},
    {"symbol": "ETHUSDT", "side": "sell", "type": "limit", "price": 3500, "quantity": 0.5, "status": "pending"},
    {"symbol": "ETHUSDT", "side": "sell", "type": "limit", "price": 3500, "quantity": 0.5, "status": "cancelled", "order_id": "ord-7"},
    {"symbol": "SOLUSDT", "side": "buy", "quantity": 1000, "status": "rejected"},
    {"symbol": "btcusdt", "side": "sell", "quantity": 0.01},
]
STATUSES = ["filled", "partially_filled", "pending", "cancelled", "rejected", "filled"]


def data_of(frame: Frame) -> Frame:
    """An envelope's payload: ``data`` upstream, the frame itself (flat) in the documented profile."""
    payload = frame.get("data", frame)
    assert isinstance(payload, dict)
    return payload


async def live_market(client: Client, candle_intervals: list[str]) -> None:
    """Pings, tickers, orders of every status, portfolio snapshots and closed candles, all checked on the way in."""
    first = await client.advance(30)  # 15:59:30: the first ping, 30 ticks, 6 portfolio snapshots
    assert {"type": "ping"} in first
    tickers = [f for f in first if f.get("channel", "").startswith("ticker")]
    assert {f["symbol"] for f in tickers} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}  # ticker:all: the hot pairs trade every tick
    assert sum(1 for f in tickers if f["symbol"] == "BTCUSDT") == 30  # one frame per trade, though ticker:BTCUSDT and ticker:all both match

    orders: list[Frame] = []
    portfolios: list[Frame] = []
    for data in ORDERS:
        frames = await client.emit("order", data)
        orders += [f for f in frames if f.get("channel") == "orders"]
        portfolios += [f for f in frames if f.get("channel") == "portfolio"]
    assert [data_of(f)["status"] for f in orders] == STATUSES
    assert data_of(orders[3])["order_id"] == "ord-7" and "price" in data_of(orders[3])
    assert len(portfolios) == 3  # after each fill
    assert [f["channel"] for f in await client.emit("portfolio", {})] == ["portfolio"]

    frames = await client.advance(31)  # 16:00:01: candles close at 16:00:00; a ping at 16:00:00
    assert {"type": "ping"} in frames
    candles = [f for f in frames if f.get("channel", "").startswith("candles")]
    assert sorted(f["interval"] for f in candles if f["symbol"] == "BTCUSDT") == sorted(candle_intervals)
    assert (await client.advance(15)) != []  # 16:00:16: past the pong deadline, still connected


# -- the documents ------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
def test_each_document_is_structurally_valid_asyncapi_3(profile: str) -> None:
    document = api_asyncapi("tradeready", profile)
    assert_valid_asyncapi(document)  # version, $refs, operations -> channel messages, payload schemas (draft 7), examples
    assert document["channels"]["stream"]["address"] == "/ws/v1"
    assert document["components"]["schemas"]["Interval"]["enum"] == list(INTERVALS[profile])
    assert set(direction_messages(document, "receive")) == {"subscribe", "unsubscribe", "pong"}
    sends = {"subscribed", "unsubscribed", "error", "ping", "ticker", "portfolio"}
    sends |= {"candle", "order"} if profile == "documented" else {"candles", "orders"}
    assert set(direction_messages(document, "send")) == sends
    codes = {branch["properties"]["code"]["const"] for branch in document["components"]["schemas"]["ErrorFrame"]["oneOf"]}
    assert codes == {"INVALID_CHANNEL", "UNKNOWN_ACTION"} | ({"INVALID_MESSAGE"} if profile == "documented" else {"SUBSCRIPTION_LIMIT"})
    # every example is the payload of its own message and of no other message of its direction
    for direction in ("send", "receive"):
        messages = direction_messages(document, direction)
        for name in messages:
            component = next(m for m in document["components"]["messages"].values() if m["name"] == name)
            for example in component.get("examples", []):
                matching = {
                    other for other, pointer in messages.items() if payload_validator(document, pointer).is_valid(example["payload"])
                }
                assert matching == {name}, (name, example)


def test_api_asyncapi_loads_cached_documents_and_refuses_bad_names() -> None:
    documented = api_asyncapi("tradeready")
    assert documented is api_asyncapi("tradeready", "documented")
    assert documented is not api_asyncapi("tradeready", "upstream")
    assert documented["info"]["title"].startswith("TradeReady")
    for name, profile in (("Trade-Ready", "documented"), ("tradeready", "../x"), ("tradeready", "sandbox"), ("luckylobster", "upstream")):
        with pytest.raises(ValueError):
            api_asyncapi(name, profile)
    with pytest.raises(FileNotFoundError):
        api_asyncapi("luckylobster")  # no WebSocket, no AsyncAPI document


def test_assert_frame_matches_names_the_closest_message() -> None:
    document = api_asyncapi("tradeready", "upstream")
    assert assert_frame_matches(document, "send", {"type": "ping"}) == "ping"
    with pytest.raises(
        AssertionError,
        match=r"closest: ticker\) \$\.data\.price: 1\.5 is not of type \'string\' \(schema path /components/schemas/Price/type\)",
    ):
        assert_frame_matches(
            document,
            "send",
            {
                "channel": "ticker",
                "symbol": "BTCUSDT",
                "data": {"price": 1.5, "quantity": "1", "timestamp": "2026-02-23T15:30:45.123Z", "is_buyer_maker": False},
            },
        )
    with pytest.raises(AssertionError, match=r"closest: error\) \$\.code"):
        assert_frame_matches(document, "send", {"type": "error", "code": "INVALID_MESSAGE", "message": "Messages must be JSON objects"})
    with pytest.raises(AssertionError, match="server may receive"):
        assert_frame_matches(document, "receive", {"type": "pong"})
    with pytest.raises(ValueError):
        assert_frame_matches(document, "both", {})  # type: ignore[arg-type]


# -- the documented profile ---------------------------------------------------------------------------
DOCUMENTED_SUBSCRIBE: list[tuple[Frame, str]] = [
    ({"action": "subscribe", "channel": "ticker:BTCUSDT"}, "ticker:BTCUSDT"),
    ({"action": "subscribe", "channel": "ticker:ethusdt"}, "ticker:ETHUSDT"),
    ({"action": "subscribe", "channel": "ticker:all"}, "ticker:all"),
    ({"action": "subscribe", "channel": "ticker:ALL"}, "ticker:all"),
    *(({"action": "subscribe", "channel": f"candles:BTCUSDT:{i}"}, f"candles:BTCUSDT:{i}") for i in INTERVALS["documented"]),
    ({"action": "subscribe", "channel": "orders"}, "orders"),
    ({"action": "subscribe", "channel": "portfolio"}, "portfolio"),
    ({"action": "subscribe", "channel": "ticker", "symbol": "solusdt"}, "ticker:SOLUSDT"),
    ({"action": "subscribe", "channel": "ticker_all"}, "ticker:all"),
    ({"action": "subscribe", "channel": "candles", "symbol": "ethusdt", "interval": "15m"}, "candles:ETHUSDT:15m"),
    ({"action": "subscribe", "channel": "ticker", "symbol": "XRPUSDT"}, "ticker:XRPUSDT"),
]
DOCUMENTED_INVALID: list[tuple[Any, Frame]] = [
    ({"action": "subscribe"}, error("INVALID_CHANNEL", "Missing channel")),
    ({"action": "subscribe", "channel": ""}, error("INVALID_CHANNEL", "Missing channel")),
    ({"action": "subscribe", "channel": 42}, error("INVALID_CHANNEL", "Missing channel")),
    ({"action": "subscribe", "channel": "ticker:"}, error("INVALID_CHANNEL", "Invalid channel: ticker:")),
    ({"action": "subscribe", "channel": "candles:BTCUSDT"}, error("INVALID_CHANNEL", "Invalid channel: candles:BTCUSDT")),
    ({"action": "subscribe", "channel": "candles:BTCUSDT:2h"}, error("INVALID_CHANNEL", "Invalid channel: candles:BTCUSDT:2h")),
    ({"action": "subscribe", "channel": "trades:BTCUSDT"}, error("INVALID_CHANNEL", "Invalid channel: trades:BTCUSDT")),
    ({"action": "subscribe", "channel": "ticker"}, error("INVALID_CHANNEL", "Missing symbol for ticker channel")),
    ({"action": "subscribe", "channel": "candles", "interval": "1m"}, error("INVALID_CHANNEL", "Missing symbol for candles channel")),
    (
        {"action": "subscribe", "channel": "candles", "symbol": "BTCUSDT", "interval": "2h"},
        error("INVALID_CHANNEL", "Invalid interval: 2h. Valid: 1m, 5m, 15m, 1h, 4h, 1d"),
    ),
    ({"action": "subscribe", "channel": "battle", "battle_id": "b-1"}, error("INVALID_CHANNEL", "Invalid channel: battle")),
    ({"action": "unsubscribe", "channel": "news"}, error("INVALID_CHANNEL", "Invalid channel: news")),
    ({"action": "ping"}, error("UNKNOWN_ACTION", "Unknown action: ping")),
    ({"type": "subscribe", "channel": "orders"}, error("UNKNOWN_ACTION", "Unknown action: None")),
    ({}, error("UNKNOWN_ACTION", "Unknown action: None")),
    ("not json", error("INVALID_MESSAGE", "Messages must be JSON objects")),
    ("[1, 2]", error("INVALID_MESSAGE", "Messages must be JSON objects")),
    ('"orders"', error("INVALID_MESSAGE", "Messages must be JSON objects")),
    (b"\x00binary", error("INVALID_MESSAGE", "Messages must be JSON objects")),
]


def test_documented_profile_every_frame_matches_the_document(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario("documented"), speed=0)

    async def run() -> Client:
        async with websockets.connect(ws_url(mock)) as socket:
            client = Client(mock, socket, "documented")
            for frame, key in DOCUMENTED_SUBSCRIBE:  # more than upstream's 10: no limit in this profile
                assert await client.request(frame) == ack(client.profile, "subscribed", key)
            for frame, reply in DOCUMENTED_INVALID:
                assert await client.request(frame, valid=False) == reply, frame
            for pong in ({"type": "pong"}, {"action": "pong"}):  # not answered
                await client.send(pong)
                assert await client.sync() == []
            for frame, key in [
                ({"action": "unsubscribe", "channel": "ticker:ETHUSDT"}, "ticker:ETHUSDT"),
                ({"action": "unsubscribe", "channel": "candles", "symbol": "ethusdt", "interval": "15m"}, "candles:ETHUSDT:15m"),
                ({"action": "unsubscribe", "channel": "ticker:XRPUSDT"}, "ticker:XRPUSDT"),
                ({"action": "unsubscribe", "channel": "ticker:DOGEUSDT"}, "ticker:DOGEUSDT"),  # never subscribed: answered all the same
            ]:
                assert await client.request(frame) == ack(client.profile, "unsubscribed", key)
            await live_market(client, ["1m", "5m", "15m", "1h", "4h"])
            return client

    client = asyncio.run(run())
    assert set(client.received) == set(direction_messages(client.document, "send"))
    assert set(client.sent) == set(direction_messages(client.document, "receive"))


# -- the upstream profile -----------------------------------------------------------------------------
UPSTREAM_SUBSCRIBE: list[tuple[Frame, str]] = [
    ({"action": "subscribe", "channel": "ticker", "symbol": "btcusdt"}, "ticker:BTCUSDT"),
    ({"action": "subscribe", "channel": "ticker_all"}, "ticker:all"),
    *(
        ({"action": "subscribe", "channel": "candles", "symbol": "BTCUSDT", "interval": i}, f"candles:BTCUSDT:{i}")
        for i in INTERVALS["upstream"]
    ),
    ({"action": "subscribe", "channel": "orders"}, "orders"),
    ({"action": "subscribe", "channel": "portfolio"}, "portfolio"),
    (
        {"action": "subscribe", "channel": "battle", "battle_id": "6f1c2a9e-8d7b-4c3e-9f10-2a3b4c5d6e7f"},
        "battle:6f1c2a9e-8d7b-4c3e-9f10-2a3b4c5d6e7f",
    ),
    ({"action": "subscribe", "channel": "ticker", "symbol": "ETHUSDT"}, "ticker:ETHUSDT"),
]
UPSTREAM_INVALID: list[tuple[Frame, Frame]] = [
    ({"action": "subscribe"}, error("INVALID_CHANNEL", "Missing channel")),
    ({"action": "subscribe", "channel": "ticker:BTCUSDT"}, error("INVALID_CHANNEL", "Invalid channel: ticker:BTCUSDT")),
    ({"action": "subscribe", "channel": "candles:BTCUSDT:1m"}, error("INVALID_CHANNEL", "Invalid channel: candles:BTCUSDT:1m")),
    ({"action": "subscribe", "channel": "ticker"}, error("INVALID_CHANNEL", "Missing symbol for ticker channel")),
    ({"action": "subscribe", "channel": "candles", "interval": "1m"}, error("INVALID_CHANNEL", "Missing symbol for candles channel")),
    *(
        (
            {"action": "subscribe", "channel": "candles", "symbol": "BTCUSDT", "interval": i},
            error("INVALID_CHANNEL", f"Invalid interval: {i}. Valid: 1m, 5m, 1h, 1d"),
        )
        for i in ("15m", "4h")
    ),
    ({"action": "subscribe", "channel": "battle"}, error("INVALID_CHANNEL", "Missing battle_id for battle channel")),
    ({"action": "unsubscribe", "channel": "news"}, error("INVALID_CHANNEL", "Invalid channel: news")),
    ({"type": "pong"}, error("UNKNOWN_ACTION", "Unknown action: None")),  # the SDK's pong
    ({"action": "ping"}, error("UNKNOWN_ACTION", "Unknown action: ping")),
    ({}, error("UNKNOWN_ACTION", "Unknown action: None")),
]


def test_upstream_profile_every_frame_matches_the_document(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario("upstream"), speed=0)

    async def run() -> Client:
        async with websockets.connect(ws_url(mock)) as socket:
            client = Client(mock, socket, "upstream")
            for frame, key in UPSTREAM_SUBSCRIBE:
                assert await client.request(frame) == ack(client.profile, "subscribed", key)
            assert len(UPSTREAM_SUBSCRIBE) == MAX_SUBSCRIPTIONS
            for frame, reply in UPSTREAM_INVALID:
                assert await client.request(frame, valid=False) == reply, frame
            # the limit: a valid frame the server refuses (the document cannot know how many are held)
            assert await client.request({"action": "subscribe", "channel": "ticker", "symbol": "SOLUSDT"}) == error(
                "SUBSCRIPTION_LIMIT", "Maximum 10 subscriptions per connection"
            )
            assert await client.request({"action": "subscribe", "channel": "ticker", "symbol": "BTCUSDT"}) == ack(
                "upstream", "subscribed", "ticker:BTCUSDT"
            )
            await client.send({"action": "pong"})  # not answered
            assert await client.sync() == []
            for frame, key in [
                ({"action": "unsubscribe", "channel": "orders"}, "orders"),  # orders and portfolio come all the same
                ({"action": "unsubscribe", "channel": "portfolio"}, "portfolio"),
                ({"action": "unsubscribe", "channel": "ticker", "symbol": "ethusdt"}, "ticker:ETHUSDT"),
                ({"action": "unsubscribe", "channel": "ticker_all"}, "ticker:all"),
                ({"action": "unsubscribe", "channel": "battle", "battle_id": "b-2"}, "battle:b-2"),  # never subscribed
            ]:
                assert await client.request(frame) == ack(client.profile, "unsubscribed", key)
            assert await client.request({"action": "subscribe", "channel": "ticker_all"}) == ack("upstream", "subscribed", "ticker:all")
            await live_market(client, ["1m", "5m", "1h"])
            return client

    client = asyncio.run(run())
    assert set(client.received) == set(direction_messages(client.document, "send"))
    assert set(client.sent) == set(direction_messages(client.document, "receive"))


@pytest.mark.parametrize("frame", ["not json", "[1, 2]", b"\x00binary"])
def test_upstream_closes_1000_on_a_frame_that_is_not_a_json_object(make_mock: MockFactory, frame: str | bytes) -> None:
    mock = make_mock(yaml=scenario("upstream"), speed=0)

    async def run() -> int | None:
        async with websockets.connect(ws_url(mock)) as socket:
            client = Client(mock, socket, "upstream")
            assert await client.request({"action": "subscribe", "channel": "orders"}) == ack("upstream", "subscribed", "orders")
            await client.send(frame, valid=False)
            with pytest.raises(ConnectionClosed) as info:
                await client.recv()  # no error frame: the connection ends
            return info.value.rcvd.code if info.value.rcvd else None

    assert asyncio.run(run()) == 1000
