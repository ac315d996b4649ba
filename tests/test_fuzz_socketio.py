"""Property: whatever Engine.IO / Socket.IO packets a client sends Cryptorobot, over long-polling or a WebSocket, the
mock answers as socket.io would (an ack, a Feathers error, a 400, the session ended), journals every packet, logs
nothing, leaves no handler hanging and keeps serving a client connected before.

Packets are built from the protocol's parts, each allowed any value: Engine.IO and Socket.IO types (known and not),
binary-attachment counts, namespaces, ack ids of any length, JSON payloads of any shape (service calls with odd
arguments, reserved event names, placeholders), record separators in odd places and base64 or raw binary
attachments; half of the runs log in first, so that service methods see the odd arguments too.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from mockserver import ThreadedMockServer
from tests.fuzzing import EMAIL, PASSWORD, RawSocket, Watch, budget, fuzz_mock, raw_frame
from tests.test_fuzz_websocket import JSON_VALUES, ODD_TEXT

SEP = "\x1e"
METHODS = ["find", "get", "create", "update", "patch", "remove"]
PATHS = ["strategies", "traders", "authentication", "users", "messages", "exchanges/ticker", "nope", "", "/strategies/"]
LOGIN = f'["create","authentication",{{"strategy":"local","email":"{EMAIL}","password":"{PASSWORD}"}},{{}}]'
_ID_DIGITS = st.integers(min_value=0, max_value=10**40).map(str) | st.text(alphabet="0123456789", min_size=1, max_size=60)

_EVENT_ARGS = st.lists(
    st.one_of(st.sampled_from(PATHS), JSON_VALUES, st.fixed_dictionaries({"_placeholder": st.just(True), "num": st.integers(-1, 5)})),
    max_size=4,
)
_EVENT = st.tuples(st.sampled_from([*METHODS, "connect", "disconnect", "newListener", "x"]) | st.text(max_size=10), _EVENT_ARGS).map(
    lambda pair: json.dumps([pair[0], *pair[1]])
)
_DATA = st.one_of(_EVENT, JSON_VALUES.map(json.dumps), ODD_TEXT, st.just(""))


@st.composite
def sio_packet(draw: st.DrawFn) -> str:
    """One Socket.IO packet's text (after the Engine.IO ``4``): type, attachments, namespace, ack id, data."""
    kind = draw(st.sampled_from("0123456") | st.text(max_size=1))
    attachments = draw(st.none() | _ID_DIGITS) if kind in "56" else None
    nsp = draw(st.sampled_from(["", "", "/", "/admin,", "/,", "/x"]) | st.text(max_size=8).map(lambda s: "/" + s + ","))
    ack = draw(st.none() | _ID_DIGITS)
    return kind + (attachments + "-" if attachments is not None else "") + nsp + (ack or "") + draw(_DATA)


ENGINE_PACKET = st.one_of(
    sio_packet().map(lambda p: "4" + p),
    st.sampled_from(["0", "1", "2", "3", "5", "6", "7", "b", "bAAAA", "b!!", "3probe", "2probe", "6x", "4", ""]),
    st.text(max_size=20),
)
#: a long-polling body: packets joined by the record separator (some empty: separators in odd places)
POLL_BODY = st.one_of(st.lists(ENGINE_PACKET, min_size=1, max_size=4).map(SEP.join).map(str.encode), st.binary(max_size=60))


@pytest.fixture(scope="module")
def mock() -> Iterator[ThreadedMockServer]:
    with fuzz_mock() as server:
        yield server


class Polling:
    """An Engine.IO long-polling session, as socket.io-client drives one (never two GETs at once)."""

    def __init__(self, http: httpx.Client, base: str) -> None:
        self.http = http
        self.url = base + "/socket.io/"
        opened = http.get(self.url, params={"EIO": "4", "transport": "polling"})
        assert opened.status_code == 200 and opened.text.startswith("0"), opened.text
        self.sid: str = json.loads(opened.text[1:])["sid"]

    def post(self, body: bytes | str) -> httpx.Response:
        return self.http.post(self.url, params={"EIO": "4", "transport": "polling", "sid": self.sid}, content=body)

    def get(self) -> httpx.Response:
        return self.http.get(self.url, params={"EIO": "4", "transport": "polling", "sid": self.sid})


class GoodSocket:
    """A well-behaved client on the WebSocket transport: connected, answers pings, calls ``find strategies``."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        assert str(self.ws.recv(timeout=5)).startswith("0")
        self.ws.send("40")
        assert str(self.recv()).startswith("40")
        self.calls = 0

    def recv(self) -> str:
        while True:
            frame = str(self.ws.recv(timeout=5))
            if frame == "2":
                self.ws.send("3")
                continue
            return frame

    def served(self) -> None:
        self.calls += 1
        self.ws.send(f'42{self.calls}["find","strategies",{{}}]')
        while not (frame := self.recv()).startswith(f"43{self.calls}["):
            pass
        assert "NotAuthenticated" in frame, frame  # Feathers' own answer to a call before login


@contextlib.contextmanager
def good_socket(mock: ThreadedMockServer) -> Iterator[GoodSocket]:
    with connect(mock.url("cryptorobot").replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket") as ws:
        yield GoodSocket(ws)


@given(body=POLL_BODY, login=st.booleans())
@budget(40, long=3000)
def test_a_long_polling_payload_gets_an_answer_not_a_500(mock: ThreadedMockServer, body: bytes, login: bool) -> None:
    with good_socket(mock) as good, httpx.Client(timeout=10) as http, Watch(mock) as watch:
        poll = Polling(http, mock.url("cryptorobot"))
        assert poll.post("40").text == "OK"
        assert poll.get().text.startswith("40")
        if login:
            assert poll.post("420" + LOGIN).text == "OK"
            assert poll.get().text.startswith("430[null,")
        answer = poll.post(body)
        assert answer.status_code in (200, 400), (answer.status_code, answer.text)
        assert answer.text == "OK" if answer.status_code == 200 else answer.text.startswith('"')
        if answer.status_code == 200:  # the session goes on (or the client asked to close it)
            poll.post("1")
        watch.check("cryptorobot", busy=1)
        entries = [e for e in mock.journal(api="cryptorobot") if e.seq > watch.since]
        posted = [e for e in entries if e.kind == "sio.packet" and e.direction == "in" and e.data.get("eio_sid") == poll.sid]
        assert posted, "no sio.packet entry for the posted payload"
        if answer.status_code == 400:
            assert any(e.kind == "sio.invalid" for e in entries), [e.kind for e in entries]
        good.served()


WS_SEND = st.one_of(
    ENGINE_PACKET.map(lambda text: ("text", text)),
    st.binary(max_size=60).map(lambda data: ("bytes", data)),
)


def _well_formed(text: str) -> bool:
    """Packets socket.io accepts from a client on a WebSocket and answers on (the journal's own decoding says)."""
    from mockserver.core.sio_codec import decode_eio, problem

    packet = decode_eio(text)
    return (
        packet.get("eio") in ("message", "pong")
        and problem(packet) is None
        and packet.get("sio") in ("EVENT",)
        and not packet.get("binary")
    )


@given(sends=st.lists(WS_SEND, min_size=1, max_size=4), login=st.booleans())
@budget(40, long=3000)
def test_a_websocket_packet_gets_an_answer_or_ends_only_its_session(
    mock: ThreadedMockServer, sends: list[tuple[str, Any]], login: bool
) -> None:
    with good_socket(mock) as good, Watch(mock) as watch:
        raw = RawSocket(mock.port("cryptorobot"), "/socket.io/?EIO=4&transport=websocket")
        try:
            assert raw.status == 101
            raw.send(raw_frame(1, b"40"))
            if login:
                raw.send(raw_frame(1, b"420" + LOGIN.encode()))
            for kind, data in sends:
                raw.send(raw_frame(1, data.encode()) if kind == "text" else raw_frame(2, data))
            raw.send(raw_frame(1, b'4299999["find","strategies",{}]'))
            got = raw.frames(until=lambda opcode, payload: payload.startswith(b"4399999["))
            answered = bool(got) and got[-1][1].startswith(b"4399999[")
            if all(kind == "text" and _well_formed(data) for kind, data in sends):
                assert answered, f"no answer after well-formed packets: {got}"
            else:
                assert answered or raw.closed is not None, f"neither answered nor closed: {got}"
        finally:
            raw.close()
        watch.check("cryptorobot", busy=1)
        entries = [e for e in mock.journal(api="cryptorobot", conn=raw.local) if e.seq > watch.since]
        kinds = [e.kind for e in entries]
        assert kinds.count("sio.packet") >= len(sends), kinds
        assert kinds.count("ws.close") + kinds.count("ws.reset") == 1, kinds
        good.served()


def test_binary_attachments_in_base64_over_polling(mock: ThreadedMockServer) -> None:
    """A binary event announced with one attachment, the attachment as base64 (``b...``): the call is answered."""
    with httpx.Client(timeout=10) as http:
        poll = Polling(http, mock.url("cryptorobot"))
        poll.post("40")
        poll.get()
        attachment = "b" + base64.b64encode(b"\x00\x01").decode()
        assert poll.post('451-7["find","strategies",{"_placeholder":true,"num":0}]' + SEP + attachment).text == "OK"
        assert "437[" in poll.get().text
        poll.post("1")
