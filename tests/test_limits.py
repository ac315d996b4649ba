"""The transport limits (mockserver.core.limits) on real sockets: each API's own error beyond a size, slowloris
timeouts, connections per API, WebSocket messages, and streams that idle timeouts leave alone."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from mockserver.core.limits import ApiLimits, Limits, limits_markdown, parse_size
from tests.conftest import MockFactory
from tests.helpers import raw_http

LL_KEY = "ll_demo0000000000000000000000000000000000000000000000000000000000"
HEARTBEAT = "/api/agent/v1/heartbeat"


def _answer(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def test_limits_parse_from_flags_and_name_who_is_at_fault() -> None:
    limits = Limits.parse(["body=2MiB", "tradeready.message=64KiB", "head_timeout=500ms", "control_body=10KB"], apis=["tradeready", "x"])
    assert limits.for_api("x").body == 2 * 1024 * 1024 and limits.for_api("x").message == ApiLimits().message
    assert limits.for_api("tradeready").message == 65536 and limits.for_api("tradeready").head_timeout == 0.5
    assert limits.control_body == 10_000 and limits.for_control().body == 10_000
    assert parse_size("1k") == 1024 and parse_size(12) == 12
    for bad, says in [
        ("bodies=1", "unknown limit 'bodies'"),
        ("nope.body=1", "unknown API 'nope'"),
        ("body=lots", "expected a size"),
        ("connections=0", "whole number >= 1"),
        ("idle_timeout=0", "above 0"),
        ("body", "NAME=VALUE"),
        ("x.control_body=1", "control API's own"),
    ]:
        with pytest.raises(ValueError, match=says):
            Limits.parse([bad], apis=["tradeready", "x"])
    table = limits_markdown()
    assert "| `body` | 1 MiB |" in table and "| tradingpartners | `history_limit` | 10,000 |" in table


def test_a_body_over_the_limit_gets_413_in_each_apis_own_shape(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("demo", limits=Limits.parse(["body=1KiB"], apis=["luckylobster"]))
    big = b"x" * 2048
    answers = {
        "luckylobster": http.post(mock.url("luckylobster") + HEARTBEAT, content=big, headers={"Authorization": f"Bearer {LL_KEY}"}),
        "aitrader": http.post(mock.url("aitrader") + "/api/claw/agents/login", content=big),
        "tradingpartners": http.post(mock.url("tradingpartners") + "/api/v1/users/login", content=big),
        "cryptorobot": http.post(mock.url("cryptorobot") + "/strategies", content=big),
    }
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 413)
    assert answers["luckylobster"].json()["success"] is False and answers["luckylobster"].json()["error"] == "Content Too Large"
    assert answers["aitrader"].json()["detail"].startswith("Content Too Large: the request body is over 1024 bytes")
    assert answers["tradingpartners"].json()["code"] == 413 and "description" in answers["tradingpartners"].json()
    assert answers["cryptorobot"].json()["code"] == 413 and answers["cryptorobot"].json()["className"] == "general-error"
    assert all(a.headers["connection"] == "close" for a in answers.values())
    # announced too large: refused before a byte of the body is read
    raw = raw_http(mock.url("luckylobster"), [f"POST {HEARTBEAT} HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\nabc".encode()])
    assert _answer(raw)[0] == 413
    requests = mock.journal(kind="http.request", api="luckylobster", truncated=True)
    assert [r.data["length"] for r in requests] == [2048, 104857600]
    responses = mock.journal(kind="http.response", api="luckylobster", exceeded="body")
    assert [r.data["status"] for r in responses] == [413, 413] and [r.data["request"] for r in responses] == [r.seq for r in requests]
    # a body within the limit is served as ever
    assert http.get(mock.url("luckylobster") + HEARTBEAT, headers={"Authorization": f"Bearer {LL_KEY}"}).status_code == 200


def test_a_header_set_over_the_limit_gets_431(make_mock: MockFactory) -> None:
    mock = make_mock("demo", limits=Limits.parse(["headers=4KiB", "header_count=20"], apis=[]))
    url = mock.url("luckylobster")
    huge = f"GET {HEARTBEAT} HTTP/1.1\r\nHost: x\r\nX-Big: {'y' * 8192}\r\n\r\n".encode()
    fields = "".join(f"X-{i}: v\r\n" for i in range(30))
    many = f"GET {HEARTBEAT} HTTP/1.1\r\nHost: x\r\n{fields}\r\n".encode()
    # one header field sent slowly, in pieces, never complete: counted as it arrives
    dribbled = [f"GET {HEARTBEAT} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode(), *[b"z" * 1024] * 6]
    for pieces in ([huge], [many], dribbled):
        status, headers, body = _answer(raw_http(url, pieces, pause=0.02 if len(pieces) > 1 else 0))
        assert status == 431 and headers["connection"] == "close" and body["error"] == "Request Header Fields Too Large"
    exceeded = [e.data["exceeded"] for e in mock.journal(kind="http.invalid", api="luckylobster")]
    assert exceeded == ["headers", "header_count", "headers"]
    assert all(e.data["status"] == 431 for e in mock.journal(kind="http.invalid"))


def test_slowloris_heads_slow_bodies_and_idle_connections_are_ended(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("demo", limits=Limits.parse(["idle_timeout=300ms", "head_timeout=300ms", "body_timeout=300ms"], apis=[]))
    url = mock.url("tradingpartners")
    with httpx.Client(timeout=10) as steady:  # a well-behaved client, connected before and served after
        assert steady.post(url + "/api/v1/users/login", json={"email": "x@y.z", "password": "p"}).status_code in (200, 401)
        # a head that never ends (a header every 100 ms: each byte would reset an idle timer, not this one)
        slow_head = [b"GET /api/v1/alerts/closed HTTP/1.1\r\nHost: x\r\n", *[b"X-Wait: 1\r\n"] * 10]
        status, _headers, body = _answer(raw_http(url, slow_head, pause=0.1))
        assert status == 408 and body["code"] == 408 and "head_timeout" in body["description"]
        # a body that never ends
        status, _headers, body = _answer(
            raw_http(url, [b'POST /api/v1/users/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"email"'], pause=0)
        )
        assert status == 408 and "body_timeout" in body["description"]
        # a connection that never asks anything: closed without a word
        assert raw_http(url, [b""]) == b""
        assert steady.post(url + "/api/v1/users/login", json={"email": "x@y.z", "password": "p"}).status_code in (200, 401)
    invalid = mock.journal(kind="http.invalid", api="tradingpartners")
    assert [(e.data["status"], e.data["exceeded"]) for e in invalid] == [(408, "head_timeout")]
    (request,) = mock.journal(kind="http.request", api="tradingpartners", incomplete=True)
    assert request.data["body"] == '{"email"'
    (answer,) = mock.journal(kind="http.response", api="tradingpartners", exceeded="body_timeout")
    assert answer.data["status"] == 408 and answer.data["request"] == request.seq


def test_connections_over_the_limit_get_503_and_a_websocket_handshake_too(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock(
        "demo", limits=Limits.parse(["luckylobster.connections=2", "tradeready.connections=2"], apis=["luckylobster", "tradeready"])
    )
    host, port = "127.0.0.1", mock.port("luckylobster")
    held = [socket.create_connection((host, port)) for _ in range(2)]
    try:
        status, headers, body = _answer(
            raw_http(mock.url("luckylobster"), [f"GET {HEARTBEAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {LL_KEY}\r\n\r\n".encode()])
        )
        assert status == 503 and headers["retry-after"] == "1" and body["error"] == "Service Unavailable"
    finally:
        for sock in held:
            sock.close()
    (answer,) = mock.journal(kind="http.response", api="luckylobster", exceeded="connections")
    assert answer.data["status"] == 503
    mock.wait_for(kind="http.response", api="luckylobster", exceeded="connections")  # (recorded before the answer left)

    async def main() -> None:
        url = mock.env["TRADEREADY_WS_URL"] + f"/ws/v1?api_key={mock.env['TRADEREADY_API_KEY']}"
        async with websockets.connect(url), websockets.connect(url):
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(url)
            assert refused.value.response.status_code == 503
            assert json.loads(refused.value.response.body or b"{}")["detail"].startswith("Service Unavailable")
        async with websockets.connect(url) as again:  # room again once the others left
            await again.send(json.dumps({"action": "subscribe", "channel": "ticker", "symbol": "BTCUSDT"}))

    asyncio.run(main())
    (reject,) = mock.journal(kind="ws.reject", api="tradeready")
    assert reject.data["status"] == 503 and reject.data["exceeded"] == "connections" and reject.data["by"] == "server"
    assert http.get(mock.url("luckylobster") + HEARTBEAT, headers={"Authorization": f"Bearer {LL_KEY}"}).status_code == 200


def test_a_websocket_message_over_the_limit_closes_1009_and_streams_outlive_the_idle_timeouts(make_mock: MockFactory) -> None:
    limits = Limits.parse(["tradeready.message=1KiB", "idle_timeout=200ms", "head_timeout=200ms"], apis=["tradeready"])
    mock = make_mock("demo", limits=limits)
    url = mock.env["TRADEREADY_WS_URL"] + f"/ws/v1?api_key={mock.env['TRADEREADY_API_KEY']}"
    token = mock.env["TRADINGPARTNERS_TOKEN"]

    async def main() -> None:
        async with httpx.AsyncClient(timeout=10) as client, websockets.connect(url) as quiet:
            async with client.stream(
                "GET", mock.url("tradingpartners") + "/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}
            ) as stream:
                assert stream.status_code == 200
                await asyncio.sleep(0.8)  # four idle timeouts of real time: the clock is manual, no pings either
                mock.advance("15s")  # a ping: the stream is still open
                first = await anext(stream.aiter_lines())
                assert first.startswith("event: ")
            await quiet.send(json.dumps({"action": "subscribe", "channel": "ticker", "symbol": "BTCUSDT"}))
            assert json.loads(await asyncio.wait_for(quiet.recv(), 5))  # the idle WebSocket is served too
            async with websockets.connect(url) as loud:
                await loud.send("x" * 2048)
                with pytest.raises(ConnectionClosedError) as closed:
                    await asyncio.wait_for(loud.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    asyncio.run(main())
    closes = mock.journal(kind="ws.close", api="tradeready", code=1009)
    assert len(closes) == 1 and closes[0].data["by"] == "server", closes
    assert not mock.journal(kind="http.invalid")


def test_the_readme_states_the_limits_this_module_has() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- limits:start -->\n", 1)[1].split("<!-- limits:end -->", 1)[0]
    assert table == limits_markdown(), "run `make docs` to regenerate the README's table of limits"
