"""The façade over a running mock: ThreadedMockServer from any thread, the control API over HTTP, one journal for both."""

from __future__ import annotations

import asyncio
import http.client
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import uvloop

from mockserver import ControlError, JournalWaitTimeout, ServerError, ThreadedMockServer
from tests.conftest import MockFactory


def test_a_scenario_id_is_enough_and_an_unknown_listener_is_named(make_mock: MockFactory) -> None:
    with ThreadedMockServer("luckylobster/action-needed", speed=0) as mock:
        assert mock.url("luckylobster").startswith("http://127.0.0.1:")
        with pytest.raises(ControlError, match="no listener 'nope'; the mock serves: .*luckylobster.*control"):
            mock.url("nope")
        assert mock.env["LUCKYLOBSTER_BASE_URL"] == mock.url("luckylobster") + "/api/agent/v1"
        assert {"MOCK_SPEED", "MOCK_CLOCK_START", "AITRADER_NAME", "AITRADER_PASSWORD"} <= set(mock.env)


def test_the_client_env_names_the_profile_each_api_serves() -> None:
    with ThreadedMockServer("tradeready/upstream-stream", speed=0) as mock:
        assert mock.env["TRADEREADY_PROFILE"] == "upstream"
        assert mock.env["LUCKYLOBSTER_PROFILE"] == mock.env["CRYPTOROBOT_PROFILE"] == "documented"
    with ThreadedMockServer("tradeready/ticker-stream", speed=0, profiles={"aitrader": "upstream"}) as mock:
        assert (mock.env["TRADEREADY_PROFILE"], mock.env["AITRADER_PROFILE"]) == ("documented", "upstream")


def test_the_journal_is_read_after_the_server_stopped() -> None:
    with ThreadedMockServer("luckylobster/action-needed", speed=0) as mock:
        mock.advance("1m")
    assert [e.kind for e in mock.journal(kind="clock.advance")] == ["clock.advance"], "after a test, its journal is still there"
    assert mock.clock()["start_epoch"] == mock.journal(kind="scenario.loaded")[0].data["start"]


def test_the_clock_moved_in_process_or_over_http_is_journaled_alike(make_mock: MockFactory) -> None:
    mock = make_mock("luckylobster/action-needed")
    mock.advance("5m")
    httpx.post(mock.url("control") + "/_mock/clock/advance", json={"duration": "5m"}).raise_for_status()
    mock.set_speed(0)
    httpx.post(mock.url("control") + "/_mock/clock", json={"speed": 0}).raise_for_status()
    advances = [e.data for e in mock.journal(kind="clock.advance")]
    assert advances[0]["seconds"] == advances[1]["seconds"] == 300.0
    assert [e.data for e in mock.journal(kind="clock.speed")] == [{"speed": 0.0}] * 2


def test_an_exception_inside_the_server_is_raised_in_the_test_with_its_traceback(make_mock: MockFactory) -> None:
    mock = make_mock("luckylobster/action-needed")

    def explode(due: float) -> None:
        raise RuntimeError("a step that failed")

    mock.call(lambda: mock.runtime.scheduler.call_later(60, explode, name="boom"))  # a timer of the mock's own, broken
    with pytest.raises(ServerError, match="a step that failed") as info:
        mock.advance("2m")
    assert "explode" in info.value.traceback and "server-side traceback" in str(info.value)
    assert [e.data["name"] for e in mock.journal(kind="server.error")] == ["boom"]
    mock.check()  # raised once: the next call goes on


def test_a_handler_bug_answers_500_and_fails_the_next_call(make_mock: MockFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    mock = make_mock("luckylobster/action-needed")
    domain = mock.call(lambda: mock.runtime.apis["luckylobster"])  # the domain itself, to plant a bug in one of its methods
    monkeypatch.setattr(domain, "heartbeat", lambda key, now: 1 / 0)
    env = mock.env
    response = httpx.get(env["LUCKYLOBSTER_BASE_URL"] + "/heartbeat", headers={"Authorization": "Bearer " + env["LUCKYLOBSTER_API_KEY"]})
    assert response.status_code == 500 and response.json()["success"] is False
    with pytest.raises(ServerError, match="ZeroDivisionError"):
        mock.check()


def test_wait_for_returns_the_matches_or_names_the_closest_entries(make_mock: MockFactory) -> None:
    mock = make_mock("luckylobster/action-needed")
    env = mock.env
    url = env["LUCKYLOBSTER_BASE_URL"] + "/heartbeat"
    httpx.get(url, headers={"Authorization": "Bearer " + env["LUCKYLOBSTER_API_KEY"]})
    found = mock.wait_for(kind="http.response", api="luckylobster", status=200, timeout=5)
    assert len(found) == 1 and found[0].principal is not None
    with pytest.raises(JournalWaitTimeout) as info:
        mock.wait_for(kind="http.response", api="luckylobster", status=401, timeout=0.2)
    text = str(info.value)
    assert "closest entries" in text and "status: expected 401, got 200" in text and "#" in text
    with pytest.raises(ControlError, match="unknown journal kind 'http.reqest'; did you mean 'http.request'"):
        mock.journal(kind="http.reqest")


def _accepted_nodelay(mock: ThreadedMockServer, name: str) -> list[int]:
    def look() -> list[int]:
        listener = mock.server.listeners[name]  # the accepted sockets live inside uvicorn: no façade for them
        out = []
        for protocol in listener.server.server_state.connections:
            sock = protocol.transport.get_extra_info("socket")
            out.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return out

    return mock.call(look)


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_accepted_connections_have_tcp_nodelay_on_every_loop(loop_factory: Callable[[], Any]) -> None:
    with ThreadedMockServer("luckylobster/action-needed", speed=0, loop_factory=loop_factory) as mock:
        port = mock.port("control")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/_mock/health")
        assert conn.getresponse().read()
        flags = _accepted_nodelay(mock, "control")
        conn.close()
    assert flags and all(flags), "Nagle off: a keep-alive request is not held for the client's delayed ACK"
