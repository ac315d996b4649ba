"""Every defect the fuzz tests (tests/test_fuzz_*.py) found, as a plain example: the input, what the mock does now.

Each test says what happened before the fix. They run against a real mock (real sockets) and check the same
evidence the properties do (tests/fuzzing.py's ``Watch``: no server.error, nothing logged, no handler left running).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from mockserver import ThreadedMockServer, scenario_from_yaml
from mockserver.core.errors import ScenarioError
from mockserver.core.sio_codec import decode_eio, problem
from tests.fuzzing import AT_TOKEN, EMAIL, LL_KEY, PASSWORD, TR_KEY, RawSocket, Watch, fuzz_mock, fuzz_scenario, raw_frame


@pytest.fixture
def mock() -> Iterator[ThreadedMockServer]:
    with fuzz_mock() as server:
        yield server


# -- WebSocket frames (uvicorn's sans-I/O protocol, mockserver/server.py) -------------------------------------------
def test_a_text_frame_that_is_not_utf8_is_closed_1007_without_a_traceback(mock: ThreadedMockServer) -> None:
    """Was: uvicorn logged 'Invalid UTF-8 sequence received from client.' with a traceback, and the journal said
    the client had closed (1007, no reason)."""
    with Watch(mock) as watch:
        raw = RawSocket(mock.port("tradeready"), f"/ws/v1?api_key={TR_KEY}")
        raw.send(raw_frame(1, b"\xff\xfe"))
        raw.frames()
        raw.close()
        assert raw.closed == 1007
        watch.check("tradeready")
        [close] = [e for e in mock.journal(kind="ws.close", api="tradeready") if e.seq > watch.since]
        assert close.data["by"] == "server" and close.data["code"] == 1007 and "invalid start byte" in close.data["reason"]
        assert close.direction == "out"


def test_a_frame_that_breaks_rfc6455_is_journaled_as_closed_by_the_server(mock: ThreadedMockServer) -> None:
    """Was: ws.close said ``by: client`` for the close the server's protocol layer sent (reserved bits set)."""
    with Watch(mock) as watch:
        raw = RawSocket(mock.port("aitrader"), "/ws/notify/1")
        raw.send(raw_frame(1, b"{}", rsv=4))
        raw.frames()
        raw.close()
        assert raw.closed == 1002
        watch.check("aitrader")
        [close] = [e for e in mock.journal(kind="ws.close", api="aitrader") if e.seq > watch.since]
        assert (close.data["by"], close.data["code"], close.data["reason"]) == ("server", 1002, "reserved bits must be 0")


# -- Engine.IO long-polling (mockserver/adapters/siojournal.py, mockserver/apis/cryptorobot/app.py) ------------------
def _session(http: httpx.Client, mock: ThreadedMockServer) -> tuple[str, dict[str, str]]:
    url = mock.url("cryptorobot") + "/socket.io/"
    sid = json.loads(http.get(url, params={"EIO": "4", "transport": "polling"}).text[1:])["sid"]
    params = {"EIO": "4", "transport": "polling", "sid": sid}
    assert http.post(url, params=params, content="40").status_code == 200
    assert http.get(url, params=params).text.startswith("40")
    return url, params


def test_a_post_after_the_clients_close_packet_is_a_400_not_a_500(mock: ThreadedMockServer) -> None:
    """Was: python-engineio kept the closed session, and a POST for it raised KeyError: a 500 and a traceback."""
    with httpx.Client(timeout=5) as http, Watch(mock) as watch:
        url, params = _session(http, mock)
        assert http.post(url, params=params, content="1").status_code == 200
        late = http.post(url, params=params, content='42["find","strategies",{}]')
        assert late.status_code == 400 and "Invalid session" in late.text
        watch.check("cryptorobot")
        assert [e.data["by"] for e in mock.journal(kind="sio.disconnect") if e.seq > watch.since] == ["client"]


def test_a_refused_packet_from_a_client_that_is_not_polling_does_not_leave_its_request_hanging(mock: ThreadedMockServer) -> None:
    """Was: the POST was answered 400, then its handler waited for ever for a poll to drain the session's queue
    (``eio.disconnect``), and uvicorn logged a CancelledError traceback at shutdown."""
    with httpx.Client(timeout=5) as http, Watch(mock) as watch:
        url, params = _session(http, mock)
        refused = http.post(url, params=params, content="42not json")
        assert refused.status_code == 400
        watch.check("cryptorobot")  # no handler task left running
        entries = [e for e in mock.journal(api="cryptorobot") if e.seq > watch.since]
        assert [e.data["reason"] for e in entries if e.kind == "sio.invalid"] == ["invalid payload"]
        assert [e.data["by"] for e in entries if e.kind == "sio.disconnect"] == ["server"]
        assert http.get(url, params=params).status_code == 400  # the session is gone


@pytest.mark.parametrize("packet", ["2", "2probe"])
def test_a_client_ping_over_long_polling_ends_the_session_as_engineio_does(mock: ThreadedMockServer, packet: str) -> None:
    """Was: no answer at all (python-engineio raised UnknownPacketError, then waited on the queue for ever)."""
    with httpx.Client(timeout=5) as http, Watch(mock) as watch:
        url, params = _session(http, mock)
        assert http.post(url, params=params, content=packet).status_code == 400
        watch.check("cryptorobot")
        reasons = [e.data["reason"] for e in mock.journal(kind="sio.invalid") if e.seq > watch.since]
        assert reasons == ["invalid heartbeat direction"]


@pytest.mark.parametrize("packet", ["0", "5", "6", "6\x1e6"])
def test_packets_socketio_ignores_from_a_client_are_ignored_and_journaled(mock: ThreadedMockServer, packet: str) -> None:
    """Was: no answer (open, upgrade, noop on long-polling: python-engineio's UnknownPacketError, then the hang)."""
    with httpx.Client(timeout=5) as http, Watch(mock) as watch:
        url, params = _session(http, mock)
        assert http.post(url, params=params, content=packet + '\x1e421["find","strategies",{}]').text == "OK"
        assert http.get(url, params=params).text.startswith("431[")  # the session goes on: the call is answered
        watch.check("cryptorobot")
        ins = [e for e in mock.journal(kind="sio.packet", direction="in") if e.seq > watch.since]
        parts = packet.split("\x1e")
        assert [e.data.get("ignored") for e in ins[-len(parts) - 1 :]] == [*(f"{_EIO[p]} from a client: ignored" for p in parts), None]


_EIO = {"0": "open", "5": "upgrade", "6": "noop"}


def test_a_connect_error_from_a_client_ends_its_session_without_a_traceback(mock: ThreadedMockServer) -> None:
    """Was: python-socketio logged 'message async handler error' with ValueError('Unexpected CONNECT_ERROR packet.')."""
    with httpx.Client(timeout=5) as http, Watch(mock) as watch:
        url, params = _session(http, mock)
        assert http.post(url, params=params, content='44{"message":"no"}').status_code == 400
        watch.check("cryptorobot")
        reasons = [e.data["reason"] for e in mock.journal(kind="sio.invalid") if e.seq > watch.since]
        assert reasons == ["invalid state: CONNECT_ERROR from a client"]


def test_an_unknown_session_is_a_400_and_nothing_on_the_console(mock: ThreadedMockServer) -> None:
    """Was: python-engineio printed 'Invalid session ...' (its own stderr handler) for a client's mistake."""
    with httpx.Client(timeout=5) as http, Watch(mock) as watch:
        answer = http.post(
            mock.url("cryptorobot") + "/socket.io/", params={"EIO": "4", "transport": "polling", "sid": "nope"}, content="40"
        )
        assert answer.status_code == 400
        watch.check("cryptorobot")


def test_engineios_close_packet_on_a_websocket_closes_the_socket(mock: ThreadedMockServer) -> None:
    """Was: the Engine.IO session ended but the WebSocket stayed open, answering nothing, until the client gave up."""
    with Watch(mock) as watch:
        raw = RawSocket(mock.port("cryptorobot"), "/socket.io/?EIO=4&transport=websocket")
        raw.send(raw_frame(1, b"40"))
        raw.send(raw_frame(1, b"1"))
        raw.frames()
        raw.close()
        assert raw.closed == 1000
        watch.check("cryptorobot")
        entries = [e for e in mock.journal(api="cryptorobot", conn=raw.local) if e.seq > watch.since]
        assert [e.data["by"] for e in entries if e.kind == "sio.disconnect"] == ["client"]
        assert [e.kind for e in entries].count("ws.close") == 1


# -- HTTP routes (schemathesis, tests/test_fuzz_openapi.py) ------------------------------------------------------------
def test_a_scenario_with_a_control_character_is_a_422_with_its_position(mock: ThreadedMockServer) -> None:
    """Was: PyYAML's ReaderError (no mark) escaped the loader: PUT /_mock/scenario answered 500 with a traceback."""
    with Watch(mock) as watch:
        answer = httpx.put(mock.url("control") + "/_mock/scenario", json={"yaml": "id: x\ndescription: \x06"})
        assert answer.status_code == 422
        assert answer.json() == {
            "error": "invalid scenario",
            "problems": ["<request body>:2:14: not valid YAML: the character U+0006 is not allowed"],
        }
        watch.check("control")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: " + "[" * 2000, ":1:104: nested more than 100 levels deep"),  # was: RecursionError in PyYAML's composer
        ("a: " + "[" * 150 + "]" * 150, ":1:104: nested more than 100 levels deep"),
        ("a: 2026-13-45", ":1:4: not valid YAML: '2026-13-45' is no timestamp"),  # was: ValueError from PyYAML
    ],
)
def test_the_scenario_loader_raises_only_scenario_errors_with_a_position(text: str, where: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_yaml(text)
    assert where in str(caught.value)


def test_a_luckylobster_limit_of_36_0_is_the_integer_36(mock: ThreadedMockServer) -> None:
    """Was: 400 'limit must be an integer': JSON's 36.0 is an integer to the API's JavaScript and to its schema."""
    answer = httpx.post(
        mock.url("luckylobster") + "/api/agent/v1/settlements/redeem",
        headers={"Authorization": f"Bearer {LL_KEY}"},
        json={"limit": 36.0, "dryRun": True},
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/strategies", {"name": "s", "type": "grid", "pair": -665}, "pair"),
        ("POST", "/traders", {"name": "t", "status": "asleep"}, "status"),
        ("PATCH", "/strategies/strat-1", {"active": "yes"}, "active"),
    ],
)
def test_a_cryptorobot_record_of_the_wrong_type_is_a_validation_error(
    mock: ThreadedMockServer, method: str, path: str, body: dict[str, object], field: str
) -> None:
    """Was: kept and echoed as given (a pair of -665), a record its documented shape does not allow."""
    base = mock.url("cryptorobot")
    token = httpx.post(base + "/authentication", json={"strategy": "local", "email": EMAIL, "password": PASSWORD}).json()["accessToken"]
    answer = httpx.request(method, base + path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert (error["name"], error["message"]) == ("BadRequest", "Validation failed")
    assert [e["field"] for e in error["errors"]] == [field]


def test_a_last_event_id_of_unicode_digits_is_no_id_not_a_500() -> None:
    """Was: '²' passed str.isdigit and int() raised: the stream answered 500 with a traceback (ids on)."""
    yaml = fuzz_scenario().replace("  tradingpartners:\n", "  tradingpartners:\n    options: {event_ids: true}\n")
    with ThreadedMockServer(scenario_from_yaml(yaml), speed=0) as server, Watch(server) as watch:
        base = server.url("tradingpartners")
        token = httpx.post(base + "/api/v1/users/login", json={"email": EMAIL, "password": PASSWORD}).json()["accessToken"]
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": "²".encode("latin-1")}
        with httpx.stream("GET", base + "/api/v1/alerts", headers=headers, timeout=5) as answer:
            assert answer.status_code == 200
        watch.check("tradingpartners")


@pytest.mark.parametrize("digit", ["0¹", "²"])
def test_a_cryptorobot_query_index_of_unicode_digits_is_no_index_not_a_500(mock: ThreadedMockServer, digit: str) -> None:
    """Was: 'query[0¹]' passed str.isdigit and int() raised in the query-string parser: a 500 with a traceback."""
    base = mock.url("cryptorobot")
    token = httpx.post(base + "/authentication", json={"strategy": "local", "email": EMAIL, "password": PASSWORD}).json()["accessToken"]
    with Watch(mock) as watch:
        answer = httpx.get(base + "/strategies", params={f"name[$in][{digit}]": "x"}, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code in (200, 400), answer.text
        watch.check("cryptorobot")


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        ('42²["x"]', "invalid payload"),  # was: '²' passed str.isdigit and int() raised
        ('451²-["x",{"_placeholder":true,"num":0}]', "unknown packet type"),
        ("42" + "1" * 5000 + '["x"]', "ack id too long"),  # was: int() refuses more than 4300 digits: ValueError
        ("45" + "9" * 5000 + '-["x",{"_placeholder":true,"num":0}]', "illegal attachments"),
        ("45" + "1" * 11 + '-["x",{"_placeholder":true,"num":0}]', "illegal attachments"),  # python-socketio: 'too many attachments'
        ("45" + "1" * 10 + '-["x",{"_placeholder":true,"num":0}]', None),
        ('450-["x"]', "illegal attachments"),  # was: python-socketio took the next packet for its attachment
    ],
)
def test_socketio_ack_ids_and_attachment_counts_int_cannot_read_are_refused(packet: str, reason: str | None) -> None:
    """Was: ValueError out of the Socket.IO decoder (a Unicode digit, an ack id longer than int() reads)."""
    assert problem(decode_eio(packet)) == reason


def test_a_timeline_that_is_not_a_list_is_a_scenario_error_with_a_position() -> None:
    """Was: TypeError out of the loader's step checks ('bool' object is not iterable) for ``timeline: true``."""
    with pytest.raises(ScenarioError) as caught:
        scenario_from_yaml(fuzz_scenario() + "timeline: true\n", source="<t>")
    assert any(p.startswith("<t>:") and "timeline" in p and "expected array" in p for p in caught.value.problems), caught.value.problems


def test_an_aitrader_mark_read_category_that_is_no_string_is_a_422(mock: ThreadedMockServer) -> None:
    """Was: a TypeError (unhashable dict) and a 500 for ``{"categories": [{}]}``."""
    with Watch(mock) as watch:
        answer = httpx.post(
            mock.url("aitrader") + "/api/claw/messages/mark-read",
            json={"categories": ["discussion", {}]},
            headers={"X-Claw-Token": AT_TOKEN},
        )
        assert answer.status_code == 422
        assert answer.json() == {
            "detail": [{"type": "string_type", "loc": ["body", "categories", 1], "msg": "Input should be a valid string", "input": {}}]
        }
        watch.check("aitrader")


@pytest.mark.parametrize("connect", ["", "40/other,"])
def test_a_binary_packet_for_a_namespace_not_connected_ends_the_session_quietly(mock: ThreadedMockServer, connect: str) -> None:
    """Was: python-socketio raised 'Unexpected binary packet' (a server.error and a log record); socket.io closes
    such a client ("invalid state")."""
    url = mock.url("cryptorobot") + "/socket.io/"
    with httpx.Client(timeout=5) as http, Watch(mock) as watch:
        sid = json.loads(http.get(url, params={"EIO": "4", "transport": "polling"}).text[1:])["sid"]
        params = {"EIO": "4", "transport": "polling", "sid": sid}
        body = (connect + "\x1e" if connect else "") + '451-["find",{"_placeholder":true,"num":0}]\x1ebAQID'
        answer = http.post(url, params=params, content=body)
        assert answer.status_code == 400
        [invalid] = [e for e in mock.journal(kind="sio.invalid", api="cryptorobot") if e.seq > watch.since]
        assert invalid.data["reason"] == "invalid state: BINARY_EVENT for namespace /, not connected"
        watch.check("cryptorobot")


def test_a_close_the_protocol_layer_sent_first_is_journaled_once() -> None:
    """Was: no ws.close at all. Upstream TradeReady closes at '[]' (1000), but the client's next frame, invalid UTF-8,
    made the protocol layer close first (1007); the app's close then raised and the edge journaled neither."""
    with ThreadedMockServer(scenario_from_yaml(fuzz_scenario(tradeready="upstream")), speed=0) as server, Watch(server) as watch:
        raw = RawSocket(server.port("tradeready"), f"/ws/v1?api_key={TR_KEY}")
        for payload in (b"{}", b"[]", b"\xb1"):
            raw.send(raw_frame(1, payload))
        raw.frames()
        raw.close()
        assert raw.closed in (1000, 1007)
        watch.check("tradeready")
        entries = [e for e in server.journal(api="tradeready", conn=raw.local) if e.seq > watch.since]
        closes = [e.data for e in entries if e.kind == "ws.close"]
        assert len(closes) == 1 and closes[0]["by"] == "server" and closes[0]["code"] == raw.closed, closes


def test_an_attachment_count_python_socketio_refuses_ends_the_session_quietly(mock: ThreadedMockServer) -> None:
    """Was: python-socketio raised 'too many attachments' (more than 10 digits) into its handler: a server.error."""
    with httpx.Client(timeout=5) as http, Watch(mock) as watch:
        url, params = _session(http, mock)
        answer = http.post(url, params=params, content="45" + "1" * 11 + '-["find",{"_placeholder":true,"num":0}]')
        assert answer.status_code == 400
        [invalid] = [e for e in mock.journal(kind="sio.invalid", api="cryptorobot") if e.seq > watch.since]
        assert invalid.data["reason"] == "illegal attachments"
        watch.check("cryptorobot")


def test_a_binary_packet_with_no_attachment_ends_the_session_quietly(mock: ThreadedMockServer) -> None:
    """Was: python-socketio kept waiting for an attachment and took the next packet for it ('Unexpected binary
    attachment', a server.error; found by make fuzz's WebSocket property)."""
    with httpx.Client(timeout=5) as http, Watch(mock) as watch:
        url, params = _session(http, mock)
        answer = http.post(url, params=params, content='450-["find","strategies"]\x1e42["find","strategies"]')
        assert answer.status_code == 400
        [invalid] = [e for e in mock.journal(kind="sio.invalid", api="cryptorobot") if e.seq > watch.since]
        assert invalid.data["reason"] == "illegal attachments"
        watch.check("cryptorobot")
