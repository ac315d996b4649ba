"""The Engine.IO / Socket.IO packet decoder the journal uses, and which client packets it refuses."""

from __future__ import annotations

import pytest

from mockserver.core.sio_codec import decode_eio, decode_payload, describe, problem


def test_decodes_engineio_and_socketio_packets() -> None:
    assert decode_eio('0{"sid":"abc","pingInterval":25000}') == {"eio": "open", "data": {"sid": "abc", "pingInterval": 25000}}
    assert decode_eio("2") == {"eio": "ping"} and decode_eio("3probe") == {"eio": "pong", "data": "probe"}
    assert decode_eio("40") == {"eio": "message", "sio": "CONNECT", "nsp": "/"}
    assert decode_eio('40/admin,{"token":"x"}') == {"eio": "message", "sio": "CONNECT", "nsp": "/admin", "data": {"token": "x"}}
    event = decode_eio('4212["create","authentication",{"strategy":"jwt"},{}]')
    assert event == {
        "eio": "message",
        "sio": "EVENT",
        "nsp": "/",
        "id": 12,
        "event": "create",
        "args": ["authentication", {"strategy": "jwt"}, {}],
    }
    assert describe(event) == "EVENT create authentication"
    ack = decode_eio('4312[null,{"total":0}]')
    assert ack["sio"] == "ACK" and ack["id"] == 12 and ack["data"] == [None, {"total": 0}] and describe(ack) == "ACK 12"
    assert decode_eio('451-["up",{"_placeholder":true,"num":0}]')["attachments"] == 1
    assert decode_eio("bAQID") == {"eio": "message", "binary": True, "length": 4}
    assert [p["eio"] for p in decode_payload('2\x1e42["a"]\x1e3')] == ["ping", "message", "pong"]
    assert decode_payload("") == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("9", "parse error"),
        ("", "parse error"),
        ("4", "unknown packet type"),
        ("47", "unknown packet type"),
        ("42not json", "invalid payload"),
        ("42[]", "invalid payload"),
        ('42{"a":1}', "invalid payload"),
        ('42["disconnect"]', "reserved event name 'disconnect'"),
        ("40[1]", "invalid payload"),
        ("41{}", "invalid payload"),
        ("43{}", "invalid payload"),
        ("2", "invalid heartbeat direction"),  # Engine.IO 4: engine.io ends the session (a client only pongs)
        ('44{"message":"x"}', "invalid state: CONNECT_ERROR from a client"),  # socket.io closes the client
    ],
)
def test_refuses_what_socketios_own_parser_refuses(text: str, reason: str) -> None:
    assert problem(decode_eio(text)) == reason


@pytest.mark.parametrize(
    "text", ["2probe", "3", "5", "40", '40{"token":"x"}', "41", '42["find","strategies",{}]', "42[1,2]", "43[null]", "bAQID"]
)
def test_accepts_what_socketio_accepts(text: str) -> None:
    assert problem(decode_eio(text)) is None
