"""HTTP faults over real sockets: each kind, on the virtual clock, seeded."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
import pytest

from tests.conftest import MockFactory

KEY = "ll_faults0000000000"
SCENARIO = f"""
id: test/faults
description: one always-active key, rate limit off
seed: 11
clock: {{start: "2026-02-06T14:30:00Z"}}
apis:
  luckylobster:
    state:
      keys: [{{key: {KEY}, rate_limit: null, active_hours: null}}]
"""
PATH = "/api/agent/v1/heartbeat"


def start(make_mock: MockFactory, **fault: Any) -> tuple[Any, str]:
    mock = make_mock(yaml=SCENARIO)
    if fault:
        mock.start_fault(api="luckylobster", **fault)
    return mock, mock.url("luckylobster") + PATH


def get(url: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)


def test_error_with_body_headers_and_retry_after_in_the_apis_own_shape(make_mock: MockFactory) -> None:
    mock, url = start(make_mock, kind="error", status=503, retry_after=30, headers={"X-Fault": "yes"})
    response = get(url)
    assert response.status_code == 503
    assert response.json() == {"success": False, "error": "Service Unavailable", "message": "Service Unavailable"}
    assert (response.headers["retry-after"], response.headers["x-fault"]) == ("30", "yes")
    custom, url = start(make_mock, kind="error", status=500, body="<html>oops</html>")
    assert get(url).text == "<html>oops</html>"
    answer = mock.journal(kind="http.response")[-1]
    assert (answer.data["status"], answer.data["outcome"], answer.data["fault"]) == (503, "error", "fault-1")


def test_rate_limit_window_then_retry_after_on_the_virtual_clock(make_mock: MockFactory) -> None:
    mock, url = start(make_mock, kind="rate_limit", limit=2, window="1m")
    assert [get(url).status_code for _ in range(3)] == [200, 200, 429]
    mock.advance(20)
    limited = get(url)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "40")
    mock.advance(40)
    assert get(url).status_code == 200


def test_latency_waits_virtual_time(make_mock: MockFactory) -> None:
    mock, url = start(make_mock, kind="latency", delay="30s")
    box: dict[str, httpx.Response] = {}
    worker = threading.Thread(target=lambda: box.setdefault("r", get(url)))
    worker.start()
    worker.join(0.5)
    assert worker.is_alive(), "on a manual clock the answer waits until time is advanced"
    mock.advance(30)
    worker.join(10)
    assert box["r"].status_code == 200
    assert box["r"].json()["data"]["timestamp"] == "2026-02-06T14:30:30Z"


def test_random_latency_is_drawn_from_the_seed(make_mock: MockFactory) -> None:
    def delays() -> list[float]:
        """Five requests through a 1-5 s random latency; the delays the journal says each met."""
        mock, url = start(make_mock, kind="latency", min_delay=1, max_delay=5)
        for n in range(1, 6):
            worker = threading.Thread(target=get, args=(url,))
            worker.start()
            mock.wait_for(kind="fault.applied", count=n)  # the request is parked on the virtual clock (real time: socket I/O)
            mock.advance(5)
            worker.join(10)
        return [e.data["delay"] for e in mock.journal(kind="fault.applied")]

    first = delays()
    second = delays()
    assert first == second and len(first) == 5 and all(1 <= d <= 5 for d in first)
    assert len(set(first)) == 5, "a fresh draw per request"


@pytest.mark.parametrize("kind", ["reset", "empty"])
def test_reset_and_empty_close_without_a_response(make_mock: MockFactory, kind: str) -> None:
    mock, url = start(make_mock, kind=kind, times=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        get(url)
    assert get(url).status_code == 200, "times: 1 - the next request is answered"
    first = mock.journal(kind="http.response")[0]
    assert (first.data["status"], first.data["outcome"], first.data["fault"]) == (None, kind, "fault-1")


def test_truncated_body(make_mock: MockFactory) -> None:
    mock, url = start(make_mock, kind="truncate", fraction=0.5)
    with pytest.raises(httpx.RemoteProtocolError):
        get(url)
    first = mock.journal(kind="http.response")[0]
    assert (first.data["status"], first.data["outcome"]) == (200, "truncated")


def test_malformed_json(make_mock: MockFactory) -> None:
    mock, url = start(make_mock, kind="malformed")
    response = get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()


def test_dribbled_body_arrives_in_chunks_over_virtual_time(make_mock: MockFactory) -> None:
    mock, url = start(make_mock, kind="dribble", chunks=4, interval="10s")
    box: dict[str, httpx.Response] = {}
    worker = threading.Thread(target=lambda: box.setdefault("r", get(url)))
    worker.start()
    for _ in range(3):
        worker.join(0.2)
        assert worker.is_alive()
        mock.advance(10)
    worker.join(10)
    assert box["r"].json()["success"] is True
    assert mock.journal(kind="http.response")[0].data["outcome"] == "dribbled"


def refused(port: int) -> bool:
    """Connect and read: True when the connection is reset as it opens (a refuse fault)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return raw.recv(100) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_refuse_resets_each_connection_as_it_opens_and_journals_every_attempt(make_mock: MockFactory) -> None:
    mock, url = start(make_mock, id="down", kind="refuse", duration="2m")
    port = mock.port("luckylobster")
    assert refused(port)
    with pytest.raises(httpx.TransportError):
        get(url)
    attempts = mock.journal(kind="conn.refused", api="luckylobster")
    assert len(attempts) == 2 and {e.data["fault"] for e in attempts} == {"down"} and all(e.conn for e in attempts)
    assert mock.journal(kind="http.request") == [], "a refused connection never gets to send a request"
    mock.advance(120)
    assert get(url).status_code == 200
    assert mock.journal(kind="fault.stop", fault="down")[0].data["applied"] == 2


def test_refuse_unlisten_stops_listening_for_a_while(make_mock: MockFactory) -> None:
    mock, url = start(make_mock, kind="refuse", how="unlisten", duration="2m")
    port = mock.port("luckylobster")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(httpx.ConnectError):
        get(url)
    mock.advance(120)
    for _ in range(50):  # the listener reopens on the server's loop right after the fault ends
        try:
            assert get(url).status_code == 200
            break
        except httpx.ConnectError:
            threading.Event().wait(0.05)
    else:
        pytest.fail("the port did not reopen after the fault ended")


def test_probability_and_route_are_seeded_and_repeatable(make_mock: MockFactory) -> None:
    def run() -> list[int]:
        mock, url = start(make_mock, kind="error", status=502, probability=0.5, route="/api/agent/v1/heartbeat")
        return [get(url).status_code for _ in range(20)]

    first = run()
    assert first == run(), "same seed, same run"
    assert set(first) == {200, 502}
    mock, url = start(make_mock, kind="error", status=502, route="/api/agent/v1/settlements/*")
    assert get(url).status_code == 200, "the route does not match the heartbeat"


def test_timeline_faults_start_and_stop(make_mock: MockFactory) -> None:
    mock = make_mock("luckylobster/server-errors")
    url = mock.url("luckylobster") + PATH
    key = {"Authorization": "Bearer ll_servererrors00000000000000000000000000000000000000000000000000"}
    assert httpx.get(url, headers=key).status_code == 200
    mock.advance(5 * 60)
    outage = httpx.get(url, headers=key)
    assert (outage.status_code, outage.headers["retry-after"]) == (503, "60")
    mock.advance(5 * 60)
    assert httpx.get(url, headers=key).status_code == 200
    assert len(mock.journal(kind="fault.start")) == 3 and len(mock.journal(kind="fault.stop")) == 3


def test_a_reset_releases_requests_waiting_on_a_latency_fault(make_mock: MockFactory) -> None:
    mock, url = start(make_mock, kind="latency", delay="1h")
    box: dict[str, httpx.Response] = {}
    worker = threading.Thread(target=lambda: box.setdefault("r", get(url)))
    worker.start()
    worker.join(0.3)
    assert worker.is_alive()
    mock.reset()
    worker.join(10)
    assert box["r"].status_code == 200, "the waiting request is answered, not left hanging"


@pytest.mark.parametrize("how", ["reset", "unlisten"])
def test_a_refuse_fault_at_zero_seconds_refuses_from_the_start(make_mock: MockFactory, how: str) -> None:
    mock = make_mock(yaml=SCENARIO + f"timeline:\n  - {{at: 0s, fault: {{kind: refuse, how: {how}, api: luckylobster, duration: 1m}}}}\n")
    if how == "reset":
        assert refused(mock.port("luckylobster"))
    else:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", mock.port("luckylobster")), timeout=2).close()


@pytest.mark.parametrize(
    "bad",
    [{"kind": "error", "status": 101}, {"kind": "error", "headers": {"X-A": "a\nb"}}, {"kind": "error", "headers": {"Bad Name": "x"}}],
)
def test_faults_that_would_break_http_are_refused(make_mock: MockFactory, bad: dict[str, Any]) -> None:
    mock, _url = start(make_mock)
    response = httpx.post(mock.url("control") + "/_mock/faults", json=bad)
    assert response.status_code == 400, response.text


def test_an_error_fault_without_an_error_status_is_refused_and_garbage_bytes_are_journaled(make_mock: MockFactory) -> None:
    mock, url = start(make_mock)
    refused = httpx.post(mock.url("control") + "/_mock/faults", json={"kind": "error", "api": "luckylobster", "status": 204})
    assert refused.status_code == 400 and "204 is not one" in refused.json()["error"], "it would answer no error at all"
    with socket.create_connection(("127.0.0.1", mock.port("luckylobster")), timeout=5) as raw:
        raw.sendall(b"GARBAGE\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    invalid = mock.journal(kind="http.invalid")
    assert len(invalid) == 1 and invalid[0].direction == "in"


def test_a_client_that_leaves_mid_body_is_journaled_with_what_it_sent(make_mock: MockFactory) -> None:
    mock, _url = start(make_mock)
    with socket.create_connection(("127.0.0.1", mock.port("luckylobster")), timeout=5) as raw:
        raw.sendall(b'POST /api/agent/v1/settlements/redeem HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"dryRun": tr')
        threading.Event().wait(0.3)  # let the server read the partial body (real time: socket I/O, not protocol time)
    partial = mock.wait_for(kind="http.request", incomplete=True)
    assert partial[0].data["body"] == '{"dryRun": tr' and partial[0].data["incomplete"] is True
