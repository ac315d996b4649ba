"""Property: whatever a client sends on TradeReady's /ws/v1 or AI-Trader's notify socket, the mock answers in the
API's own way or ends that connection only, journals it, logs nothing and keeps serving a client connected before.

Frames are structure-aware (JSON objects with the protocol's keys holding values of any type, huge numbers, deep
nesting, unknown actions), raw junk (any text, any bytes) and frames no library would send (reserved bits, unknown
opcodes, unmasked, fragmented or oversized control frames, invalid UTF-8, bad close codes), written by hand on a
plain socket (tests/fuzzing.py). Budgets: tests/fuzzing.py (``make fuzz`` runs many more).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from mockserver import ThreadedMockServer, scenario_from_yaml
from tests.fuzzing import TR_KEY, RawSocket, Watch, budget, fuzz_scenario, raw_frame

# -- what a client may send ------------------------------------------------------------------------------
_HUGE = st.integers(min_value=-(10**40), max_value=10**40)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), _HUGE, st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
JSON_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8
)


def _field(known: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(known) | JSON_VALUES


TR_FRAMES = st.fixed_dictionaries(
    {},
    optional={
        "action": _field(["subscribe", "unsubscribe", "pong", "ping", "auth", "", "SUBSCRIBE"]),
        "type": _field(["pong", "ping", "subscribe"]),
        "channel": _field(
            [
                "ticker",
                "ticker_all",
                "candles",
                "orders",
                "portfolio",
                "battle",
                "ticker:BTCUSDT",
                "ticker:all",
                "candles:ETHUSDT:1m",
                "candles:BTCUSDT:2m",
                "ticker:",
                ":",
                "x" * 80,
            ]
        ),
        "symbol": _field(["BTCUSDT", "btcusdt", "", "BTC:USDT", "ALL", "Z" * 70]),
        "interval": _field(["1m", "5m", "15m", "1h", "4h", "1d", "2m"]),
        "battle_id": JSON_VALUES,
        "data": JSON_VALUES,
    },
)
#: text that is almost JSON: huge and odd numbers, deep nesting, truncation, literals JSON does not have
ODD_TEXT = st.one_of(
    st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(
        [
            "1e999999",
            "-0",
            "NaN",
            "Infinity",
            "123456789012345678901234567890",
            '{"action":"subscribe"',
            "",
            " ",
            "null",
            "[]",
            '"x"',
            "\u0000",
        ]
    ),
    st.text(max_size=200),
)


@dataclass(frozen=True)
class Send:
    """One thing a client writes: a whole frame (``opcode``, ``payload`` and header bits any value)."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0
    mask: bool = True

    @property
    def well_formed(self) -> bool:
        """A frame RFC 6455 allows a client to send (the server must not close for it)."""
        if not (self.fin and self.rsv == 0 and self.mask) or self.opcode not in (1, 2, 9, 10):
            return False
        if self.opcode in (9, 10):
            return len(self.payload) <= 125
        if self.opcode == 1:
            try:
                self.payload.decode()
            except UnicodeDecodeError:
                return False
        return True

    def wire(self) -> bytes:
        return raw_frame(self.opcode, self.payload, fin=self.fin, rsv=self.rsv, mask=self.mask)


def _text(value: Any) -> Send:
    return Send(1, (value if isinstance(value, str) else json.dumps(value)).encode())


def _frames(structured: st.SearchStrategy[Any]) -> st.SearchStrategy[Send]:
    return st.one_of(
        structured.map(_text),
        JSON_VALUES.map(_text),
        ODD_TEXT.map(_text),
        st.binary(max_size=200).map(lambda b: Send(2, b)),
        st.binary(max_size=40).map(lambda b: Send(1, b)),  # a text frame whose bytes may not be UTF-8
        st.builds(
            Send,
            opcode=st.integers(min_value=0, max_value=15),
            payload=st.binary(max_size=140),
            fin=st.booleans(),
            rsv=st.integers(min_value=0, max_value=7),
            mask=st.booleans(),
        ),
        st.builds(
            lambda code, reason: Send(8, code.to_bytes(2, "big") + reason),
            st.integers(min_value=0, max_value=65535),
            st.binary(max_size=20),
        ),
    )


# -- the mocks and their well-behaved clients --------------------------------------------------------------------
@pytest.fixture(scope="module", params=["documented", "upstream"])
def mock(request: pytest.FixtureRequest) -> Iterator[ThreadedMockServer]:
    profile = request.param
    server = ThreadedMockServer(scenario_from_yaml(fuzz_scenario(aitrader=profile, tradeready=profile)), speed=0).start()
    try:
        yield server
    finally:
        server.stop()


def _ws(mock: ThreadedMockServer, api: str) -> str:
    return mock.url(api).replace("http://", "ws://")


def _unsubscribed(opcode: int, payload: bytes) -> bool:
    return opcode == 1 and b'"unsubscribed"' in payload


def _good_tradeready(good: ClientConnection) -> None:
    """The client connected before the fuzzing is still served: a subscribe is still acknowledged."""
    good.send('{"action":"subscribe","channel":"orders"}')
    reply = json.loads(good.recv(timeout=5))
    assert reply.get("type") == "subscribed", reply


@given(frames=st.lists(_frames(TR_FRAMES), min_size=1, max_size=4))
@budget(30, long=2000)
def test_tradeready_frames_get_the_apis_error_or_end_only_their_connection(mock: ThreadedMockServer, frames: list[Send]) -> None:
    profile = mock.runtime.profiles["tradeready"]
    with connect(_ws(mock, "tradeready") + f"/ws/v1?api_key={TR_KEY}") as good, Watch(mock) as watch:
        raw = RawSocket(mock.port("tradeready"), f"/ws/v1?api_key={TR_KEY}")
        assert raw.status == 101
        try:
            for frame in frames:
                raw.send(frame.wire())
            raw.send(raw_frame(1, b'{"action":"unsubscribe","channel":"orders"}'))  # every profile acknowledges it
            got = raw.frames(until=_unsubscribed)
        finally:
            raw.close()
        texts = [payload for opcode, payload in got if opcode == 1]
        for text in texts:  # whatever it answered is the API's own JSON
            reply = orjson.loads(text)
            assert isinstance(reply, dict) and "type" in reply, text
        # upstream ends the connection (1000) at a message that is not a JSON object, binary ones included
        if all(f.well_formed for f in frames) and (
            profile == "documented" or all(f.opcode == 1 and _json_object(f) for f in frames if f.opcode in (1, 2))
        ):
            assert raw.closed is None and got and _unsubscribed(*got[-1]), f"closed {raw.closed} after well-formed frames: {got}"
        else:
            assert raw.closed is not None or (got and _unsubscribed(*got[-1])), f"neither served nor closed: {got}"
        watch.check("tradeready", busy=1)
        _good_tradeready(good)
        entries = [e for e in mock.journal(api="tradeready", conn=raw.local) if e.seq > watch.since]
        kinds = [e.kind for e in entries]
        assert kinds[:2] == ["ws.connect", "ws.accept"] and kinds[-1] == "ws.close", kinds
        assert kinds.count("ws.close") == 1


def _json_object(frame: Send) -> bool:
    try:
        return isinstance(orjson.loads(frame.payload), dict)
    except orjson.JSONDecodeError:
        return False


_CLIENT_IDS = st.one_of(
    st.sampled_from(["1", "agent_1", "fuzz-bot", " 1", "+1", "1_0", "0", "-1", "99999999999999999999999", "1.0", "%00"]),
    st.text(min_size=1, max_size=30),
)


@given(frames=st.lists(_frames(JSON_VALUES), max_size=4), client_id=_CLIENT_IDS)
@budget(25, long=2000)
def test_aitrader_notify_socket_survives_any_frame_and_client_id(mock: ThreadedMockServer, frames: list[Send], client_id: str) -> None:
    """Whatever arrives is read and discarded (as upstream does); a push for the socket's agent still arrives after it."""
    with connect(_ws(mock, "aitrader") + "/ws/notify/2") as good, Watch(mock) as watch:
        target = "/ws/notify/" + quote(client_id, safe="")
        raw = RawSocket(mock.port("aitrader"), target)
        try:
            if raw.status != 101:
                assert raw.status in (403, 404), raw.status  # a path Starlette does not route
            else:
                for frame in frames:
                    raw.send(frame.wire())
                raw.frames(timeout=0.05)  # let it read them
                if raw.closed is None and client_id == "1" and all(f.well_formed and f.opcode != 2 for f in frames):
                    mock.emit("aitrader", "message", {"agent": 1, "content": "after the fuzz"})
                    got = raw.frames(until=lambda opcode, payload: b"after the fuzz" in payload)
                    assert got and b"after the fuzz" in got[-1][1], got
        finally:
            raw.close()
        watch.check("aitrader", busy=1)
        mock.emit("aitrader", "message", {"agent": 2, "content": "still served"})
        assert "still served" in good.recv(timeout=5)
        if raw.status == 101:
            kinds = [e.kind for e in mock.journal(api="aitrader", conn=raw.local) if e.seq > watch.since]
            assert kinds[:2] == ["ws.connect", "ws.accept"] and kinds.count("ws.close") == 1, kinds
