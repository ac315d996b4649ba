"""mockserver.documents.asyncapi and .wire: frames in both directions, replies, documents, and how the wire maps to payloads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mockserver.control.openapi import api_asyncapi
from mockserver.documents import (
    Mismatch,
    assert_valid_asyncapi,
    check_asyncapi,
    check_frame,
    check_reply,
    direction_messages,
    match_frame,
    reply_messages,
    sio_payload,
    sse_payload,
    sse_payloads,
)

NOT_AUTHENTICATED = {"name": "NotAuthenticated", "message": "Not authenticated", "code": 401, "className": "not-authenticated"}


def where(found: list[Any]) -> list[tuple[str, str]]:
    return [(f.where, f.schema_path) for f in found]


def test_a_client_frame_is_checked_against_what_the_server_receives() -> None:
    aitrader = api_asyncapi("aitrader", "upstream")
    assert check_frame(aitrader, "receive", {"token": "claw_xxx"}) == []
    assert where(check_frame(aitrader, "receive", {"token": ""})) == [
        ("frame (closest: token) $.token", "/components/schemas/TokenFrame/properties/token/minLength")
    ]
    with pytest.raises(Mismatch, match=r"matches no message the server may receive \(a client frame"):
        match_frame(aitrader, "receive", {"type": "pong"})
    cryptorobot = api_asyncapi("cryptorobot")
    assert (
        match_frame(cryptorobot, "receive", ["find", "traders/pods/events", {"$limit": 5, "type": "trade_executed"}])
        == "find traders/pods/events"
    )
    assert match_frame(cryptorobot, "receive", ["patch", "strategies", "strat-456", {"name": "Updated Name"}, {}]) == "patch strategies"
    assert match_frame(cryptorobot, "receive", ["remove", "authentication", None, {}]) == "remove authentication"
    found = check_frame(cryptorobot, "receive", ["create", "strategies", {"name": "x", "type": "grid"}, {}])
    assert where(found) == [("frame (closest: create strategies) $[2]", "/components/schemas/StrategyInput/required")]
    found = check_frame(cryptorobot, "receive", ["get", "strategies", "s-1", {}, {}])  # Feathers' "Too many arguments"
    assert where(found) == [("frame (closest: get strategies) $", "/components/schemas/GetStrategiesCall/additionalItems")]
    found = check_frame(cryptorobot, "receive", ["patch", "traders", None, {"status": "paused"}, {}])
    assert sorted(where(found)) == [
        ("frame (closest: patch traders) $[2]", "/components/schemas/Id/type"),
        ("frame (closest: patch traders) $[3].status", "/components/schemas/TraderStatus/enum"),
    ]


def test_a_server_frame_names_the_closest_message_and_the_rule() -> None:
    cryptorobot = api_asyncapi("cryptorobot")
    assert check_frame(cryptorobot, "send", ["strategies removed", {"_id": "s-1"}]) == []
    found = check_frame(cryptorobot, "send", ["strategies removed", {"_id": "s-1", "name": "x"}])
    assert where(found) == [("frame (closest: strategies removed) $[1]", "/components/schemas/Removed/additionalProperties")]
    stream = api_asyncapi("tradingpartners")
    closed = {
        "id": 35443,
        "exit": 69870.4,
        "gain": 868.4,
        "closedAt": "2024-04-06T12:47:51.327Z",
        "token": "1d81fe2a-699c-4a90-b182-b0e0d2ea3968",
    }
    found = check_frame(stream, "send", {"event": "closed", "data": {**closed, "tokenState": "LOST"}})
    assert where(found) == [("frame (closest: closed) $.data.tokenState", "/components/schemas/TokenState/enum")]
    assert check_frame(stream, "send", {"event": "closed", "id": "7", "data": {**closed, "tokenState": "CONSUMED"}}) == []
    found = check_frame(stream, "send", {"event": "ping", "data": {"ping": "2024-03-27T20:12:11Z"}})
    assert where(found) == [("frame (closest: ping) $.data.ping", "/components/schemas/PingEvent/properties/data/properties/ping/pattern")]
    with pytest.raises(Mismatch, match="no message the application may receive"):
        check_frame(stream, "receive", {})  # clients send nothing on the stream


def test_a_reply_is_checked_against_the_replies_of_its_request_only() -> None:
    cryptorobot = api_asyncapi("cryptorobot")
    assert set(reply_messages(cryptorobot, "get traders")) == {"get traders result", "error"}
    assert reply_messages(cryptorobot, "strategies removed") == {}
    page = {"total": 1, "limit": 25, "skip": 0, "data": [{"_id": "s-1", "active": "yes"}]}
    found = check_reply(cryptorobot, "find strategies", [None, page])
    assert where(found) == [
        ("frame (closest: find strategies result) $[1].data[0].active", "/components/schemas/Strategy/properties/active/type")
    ]
    assert check_reply(cryptorobot, "find traders", [None, {**page, "data": [{"_id": "t-1", "status": "running"}]}]) == []
    assert check_reply(cryptorobot, "find traders", [NOT_AUTHENTICATED]) == []
    # a trader with a status only a strategy may not have: valid as some other result, not as this one
    trader = {"_id": "t-1", "status": "paused", "createdAt": "2024-01-15T14:00:00.000Z"}
    assert check_frame(cryptorobot, "send", [None, trader]) == []  # the strategy result accepts it
    assert where(check_reply(cryptorobot, "get traders", [None, trader])) == [
        ("frame (closest: get traders result) $[1].status", "/components/schemas/TraderStatus/enum")
    ]
    assert where(check_reply(cryptorobot, "nope", [None, {}])) == [("reply", "/operations")]


def test_direction_messages_are_the_applications() -> None:
    document = api_asyncapi("tradingpartners")
    assert set(direction_messages(document, "send")) == {"ping", "working", "onGoing", "aborted", "closed", "error", "retry"}
    with pytest.raises(ValueError):
        direction_messages(document, "both")  # type: ignore[arg-type]


def test_the_structural_check_names_where_a_document_is_broken() -> None:
    sound = api_asyncapi("tradingpartners")
    assert check_asyncapi(sound) == []
    broken = copy.deepcopy(sound)
    broken["channels"]["alerts"]["messages"]["ping"] = {"$ref": "#/components/messages/Nope"}
    assert where(check_asyncapi(broken)) == [("document", "/channels/alerts/messages/ping")]
    unused = copy.deepcopy(sound)
    unused["operations"]["sendPing"]["messages"] = [{"$ref": "#/channels/alerts/messages/working"}]
    assert where(check_asyncapi(unused)) == [("document", "/channels/alerts/messages/ping")]
    wrong_example = copy.deepcopy(sound)
    wrong_example["components"]["messages"]["Ping"]["examples"][0]["payload"]["data"]["ping"] = "now"
    assert where(check_asyncapi(wrong_example)) == [
        ("example $.data.ping", "/components/schemas/PingEvent/properties/data/properties/ping/pattern")
    ]
    bad_schema = copy.deepcopy(sound)
    bad_schema["components"]["schemas"]["AlertId"]["minimum"] = "one"
    assert where(check_asyncapi(bad_schema)) == [("document", "/components/schemas/AlertId")]
    with pytest.raises(Mismatch, match="asyncapi must be '3.0.0'"):
        assert_valid_asyncapi({**sound, "asyncapi": "2.6.0"})


# -- the wire -----------------------------------------------------------------------------------------------------
def test_an_sse_block_is_its_fields_with_the_data_decoded() -> None:
    assert sse_payload('event: onGoing\ndata: {"id":35443,"token":"t"}') == {"event": "onGoing", "data": {"id": 35443, "token": "t"}}
    assert sse_payload('event: working\nid: 7\ndata: {"id":1}') == {"event": "working", "id": "7", "data": {"id": 1}}
    assert sse_payload("retry: 1000") == {"retry": 1000}
    assert sse_payload(": a comment\r\ndata:plain\r\ndata: text") == {"event": "message", "data": "plain\ntext"}
    assert sse_payload("event: ping") == {"event": "ping"}  # no data: the schema says what is missing
    assert sse_payload(": keep-alive") is None
    assert sse_payload("colour: red\ndata: 1") == {"event": "message", "data": 1}  # unknown fields are ignored
    payloads, rest = sse_payloads('event: ping\ndata: {"ping":"x"}\n\nretry: 5\n\nevent: work')
    assert payloads == [{"event": "ping", "data": {"ping": "x"}}, {"retry": 5}] and rest == "event: work"


def test_a_socketio_packet_is_its_event_array_ack_arguments_or_error_object() -> None:
    event = {"eio": "message", "sio": "EVENT", "nsp": "/", "id": 3, "event": "find", "args": ["strategies", {}]}
    assert sio_payload(event) == ("EVENT", ["find", "strategies", {}])
    assert sio_payload({"eio": "message", "sio": "ACK", "nsp": "/", "id": 3, "data": [None, {"total": 0}]}) == ("ACK", [None, {"total": 0}])
    refused = {"eio": "message", "sio": "CONNECT_ERROR", "nsp": "/", "data": {"message": "jwt malformed"}}
    assert sio_payload(refused) == ("CONNECT_ERROR", {"message": "jwt malformed"})
    for transport in ({"eio": "ping"}, {"eio": "open", "data": {}}, {"eio": "message", "sio": "CONNECT", "nsp": "/"}):
        assert sio_payload(transport) is None
