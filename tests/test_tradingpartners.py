"""TradingPartners over real sockets: login, errors, the SSE frames, lifecycle order, credits, resume, faults."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from mockserver.core.clock import parse_instant
from tests.conftest import MockFactory
from tests.documents_check import checked_make_mock

make_mock = checked_make_mock("tradingpartners")  # every response and SSE event of these tests against the documents

BASE_SCENARIO = """
id: t/tp
description: one FULL and one FREE user
seed: 5
clock: {{start: "2024-03-27T19:50:00Z"}}
apis:
  tradingpartners:
    options: {options}
    state:
      users:
        - {{email: full@x.io, password: pw, access: FULL}}
        - {{email: free@x.io, password: pw, access: FREE}}
      alerts: {alerts}
"""


def scenario(options: str = "{}", alerts: str = "{every: 30s, start_after: 20s, close_after: 40s}") -> str:
    return BASE_SCENARIO.format(options=options, alerts=alerts)


def login(mock: Any, email: str = "full@x.io", password: str = "pw") -> str:
    response = httpx.post(mock.url("tradingpartners") + "/api/v1/users/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["accessToken"]
    return token


class Reader:
    """Reads one SSE stream in a thread, keeping the raw bytes and the parsed events."""

    def __init__(self, mock: Any, token: str, *, last_event_id: str | None = None) -> None:
        self.raw = b""
        self.events: list[tuple[str, str, str]] = []
        self.error: BaseException | None = None
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self._args = (mock.url("tradingpartners") + "/api/v1/alerts", headers)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        url, headers = self._args
        try:
            with httpx.Client(timeout=httpx.Timeout(10, read=30)) as client, client.stream("GET", url, headers=headers) as response:
                self.status = response.status_code
                for chunk in response.iter_bytes():
                    self.raw += chunk
        except BaseException as exc:
            self.error = exc

    def parsed(self) -> list[tuple[str, str | None, str]]:
        out = []
        for block in self.raw.decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in fields:
                out.append((fields["event"], fields.get("id"), fields["data"]))
        return out


def run_clock(mock: Any, seconds: float, step: float = 5) -> None:
    """Move the manual clock, letting frames cross the socket between steps (real time: I/O, not protocol time)."""
    for _ in range(int(seconds / step)):
        mock.advance(step)
        time.sleep(0.02)
    time.sleep(0.2)


def test_login_errors_and_the_jwt_on_the_virtual_clock(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario())
    base = mock.url("tradingpartners")
    first = httpx.post(base + "/api/v1/users/login", json={"email": "full@x.io", "password": "pw"}).json()
    assert (first["tokenType"], first["expiresIn"], first["lastLogin"]) == ("bearer", 86400, None)
    again = httpx.post(base + "/api/v1/users/login", json={"email": "full@x.io", "password": "pw"}).json()
    assert again["lastLogin"] == "2024-03-27T19:50:00.000Z"
    assert httpx.post(base + "/api/v1/users/login", json={"email": "full@x.io", "password": "no"}).json()["code"] == 13
    missing = httpx.post(base + "/api/v1/users/login", json={"email": "full@x.io"})
    assert (missing.status_code, missing.json()["code"]) == (400, 21)
    assert httpx.post(base + "/api/v1/users/login", content=b"{").json()["code"] == 20
    history = base + "/api/v1/alerts/history"
    assert httpx.get(history).json()["code"] == 10
    assert httpx.get(history, headers={"Authorization": "Token abc"}).json()["code"] == 11
    assert httpx.get(history, headers={"Authorization": "Bearer not.a.jwt"}).json()["code"] == 11
    token = first["accessToken"]
    assert httpx.get(history, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    mock.advance(86400)
    expired = httpx.get(history, headers={"Authorization": f"Bearer {token}"})
    assert (expired.status_code, expired.json()) == (
        401,
        {"code": 12, "message": "session expired", "description": "The token has expired: log in again."},
    )


def test_free_users_get_402_on_the_stream_and_closed_alerts_once_per_15_minutes(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario())
    base = mock.url("tradingpartners")
    free = {"Authorization": f"Bearer {login(mock, 'free@x.io')}"}
    denied = httpx.get(base + "/api/v1/alerts", headers=free)
    assert (denied.status_code, denied.json()["code"]) == (402, 30)
    mock.emit("tradingpartners", "alert", {"outcome": "won", "start_after": 10, "close_after": 10})
    closed = base + "/api/v1/alerts/closed"
    assert httpx.get(closed, headers=free).json() == [], "nothing closed yet: an empty answer may be retried at once"
    mock.advance(20)
    rows = httpx.get(closed, headers=free).json()
    assert [r["status"] for r in rows] == ["WON"]
    again = httpx.get(closed, headers=free)
    assert again.status_code == 429 and again.headers["retry-after"] == "900"
    mock.advance(900)
    assert httpx.get(closed, headers=free).status_code == 200


def test_frames_are_exactly_event_and_compact_data_and_pings_come_every_15_virtual_seconds(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario(alerts="{every: 0}"))
    reader = Reader(mock, login(mock))
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream")  # the stream is open (real time: socket I/O)
    run_clock(mock, 30, step=15)
    mock.emit("tradingpartners", "alert", {"direction": "BUY", "start_after": "1h"})
    time.sleep(0.3)
    frames = reader.raw.decode().split("\n\n")
    assert frames[0] == 'event: ping\ndata: {"ping":"2024-03-27T19:50:15.000000000Z"}'
    assert frames[1] == 'event: ping\ndata: {"ping":"2024-03-27T19:50:30.000000000Z"}'
    working = frames[2].split("\n")
    assert working[0] == "event: working" and working[1].startswith('data: {"id":35443,"durationStrategy":')
    assert ", " not in working[1] and ": " not in working[1][6:], "compact JSON"
    data = reader.parsed()[2][2]
    import json

    alert = json.loads(data)
    assert alert["stop"] < alert["start"] < alert["target"], "a BUY alert: stop below start, target above"
    assert alert["startedAt"] == "2024-03-27T19:50:30.000Z"


def lifecycle_problems(events: list[tuple[str, str | None, str]]) -> list[str]:
    """Every alert: working, then aborted, or onGoing then closed; nothing after the end."""
    import json

    allowed = {None: {"working"}, "working": {"aborted", "onGoing"}, "onGoing": {"closed"}, "aborted": set(), "closed": set()}
    state: dict[int, str | None] = {}
    problems = []
    for event, _id, data in events:
        if event in ("ping", "error"):
            continue
        alert = json.loads(data)["id"]
        if event not in allowed[state.get(alert)]:
            problems.append(f"alert {alert}: {event} after {state.get(alert)}")
        state[alert] = event
    return problems


@pytest.mark.parametrize(
    "scenario_id", ["tradingpartners/alert-lifecycle", "tradingpartners/silent-stream", "tradingpartners/credits-exhausted"]
)
def test_an_alerts_events_arrive_in_lifecycle_order(make_mock: MockFactory, scenario_id: str) -> None:
    mock = make_mock(scenario_id)
    email = mock.env["TRADINGPARTNERS_EMAIL"]
    reader = Reader(mock, login(mock, email, "secret-password"))
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream")  # the stream is open (real time: socket I/O)
    run_clock(mock, 600, step=10)
    events = reader.parsed()
    assert [e for e, _, _ in events if e != "ping"], "alerts arrived"
    assert lifecycle_problems(events) == []


def test_credits_run_out_final_error_event_then_the_stream_closes(make_mock: MockFactory) -> None:
    mock = make_mock("tradingpartners/credits-exhausted")
    reader = Reader(mock, login(mock, "frugal@example.com", "secret-password"))
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream")  # the stream is open (real time: socket I/O)
    run_clock(mock, 150, step=10)
    reader.thread.join(5)
    assert not reader.thread.is_alive(), "the server closed the stream"
    events = [e for e, _, _ in reader.parsed() if e != "ping"]
    assert events == ["working", "working", "working", "error"]
    import json

    assert json.loads(reader.parsed()[-1][2])["code"] == 30
    ends = mock.journal(kind="sse.end", api="tradingpartners")
    assert ends and ends[0].data["by"] == "server"


def test_an_expired_token_does_not_cut_an_open_stream(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario(options="{token_ttl: 60}", alerts="{every: 0}"))
    reader = Reader(mock, login(mock))
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream")  # the stream is open (real time: socket I/O)
    run_clock(mock, 120, step=15)
    assert len([e for e, _, _ in reader.parsed() if e == "ping"]) == 8, "pings go on past the token's expiry"
    assert reader.thread.is_alive()


def test_resume_with_last_event_id_replays_what_was_missed_exactly_once(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario(options="{event_ids: true}", alerts="{every: 10s, start_after: 5s, close_after: 10s}"))
    token = login(mock)
    first = Reader(mock, token)
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream")  # the stream is open (real time: socket I/O)
    run_clock(mock, 30)
    mock.start_fault(kind="close", api="tradingpartners", duration=1)
    first.thread.join(5)
    assert not first.thread.is_alive()
    seen = [(e, i) for e, i, _ in first.parsed() if e != "ping"]
    run_clock(mock, 30)  # events happen while the client is away
    second = Reader(mock, token, last_event_id=seen[-1][1])
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream", count=2)  # the stream is open (real time: socket I/O)
    run_clock(mock, 20)
    resumed = [(e, i) for e, i, _ in second.parsed() if e != "ping"]
    ids = [int(i) for _, i in seen + resumed if i is not None]
    assert ids == list(range(1, len(ids) + 1)), "every event once, in order, no holes"
    assert int(resumed[0][1]) == int(seen[-1][1]) + 1
    requests = mock.journal(kind="http.request", api="tradingpartners", path="/api/v1/alerts")
    assert requests[-1].data["headers"]["last-event-id"] == seen[-1][1]


def test_reconnect_storm_cut_mid_frame_then_503s_then_401s_then_the_stream(make_mock: MockFactory) -> None:
    mock = make_mock("tradingpartners/reconnect-storm")
    token = login(mock, "stormy@example.com", "secret-password")
    reader = Reader(mock, token)
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream")  # the stream is open (real time: socket I/O)
    run_clock(mock, 60, step=5)
    reader.thread.join(5)
    assert not reader.raw.endswith(b"\n\n"), "the connection died in the middle of a frame"
    assert isinstance(reader.error, httpx.RemoteProtocolError | httpx.ReadError)
    url = mock.url("tradingpartners") + "/api/v1/alerts"
    statuses = []
    for _ in range(6):
        with httpx.Client() as client, client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
            statuses.append(response.status_code)
    assert statuses == [503, 503, 503, 401, 401, 200]


def test_silence_keeps_pings_back_and_dribble_duplicate_id_gap_change_the_stream(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario(options="{event_ids: true}", alerts="{every: 0}"))
    reader = Reader(mock, login(mock))
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream")  # the stream is open (real time: socket I/O)
    mock.start_fault(id="hush", kind="silence", api="tradingpartners", duration=30)
    run_clock(mock, 30, step=15)
    assert [e for e, _, _ in reader.parsed()] == ["ping"], "no ping at 15 s while silent; the one at 30 s came as the silence ended"
    mock.start_fault(kind="duplicate", api="tradingpartners", times=1)
    mock.start_fault(kind="id_gap", api="tradingpartners", times=1)
    mock.emit("tradingpartners", "alert", {"start_after": "1h"})
    mock.emit("tradingpartners", "alert", {"start_after": "1h"})
    time.sleep(0.3)
    events = [(e, i) for e, i, _ in reader.parsed() if e != "ping"]
    assert events[:2] == [("working", "2"), ("working", "2")], "the first id skipped, the frame sent twice"
    assert events[2] == ("working", "3")
    suppressed = mock.journal(kind="sse.suppressed", api="tradingpartners", fault="hush")
    assert len(suppressed) == 1  # the ping at 15 s (the one at 30 s came as the silence ended)


def test_history_pages_filters_and_orders(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario(alerts="{every: 0}"))
    for outcome in ("won", "lost", "aborted", "won"):
        mock.emit("tradingpartners", "alert", {"outcome": outcome, "start_after": 10, "close_after": 10})
        mock.advance(30)
    headers = {"Authorization": f"Bearer {login(mock)}"}
    history = mock.url("tradingpartners") + "/api/v1/alerts/history"
    page = httpx.get(history, params={"size": 3}, headers=headers).json()
    assert (page["total"], page["page"], page["size"], len(page["data"])) == (4, 1, 3, 3)
    assert page["data"][0]["startedAt"] > page["data"][-1]["startedAt"], "newest first by default"
    won = httpx.get(history, params={"status": "WON", "orderDir": "asc"}, headers=headers).json()
    assert [r["status"] for r in won["data"]] == ["WON", "WON"] and won["data"][0]["id"] < won["data"][1]["id"]
    assert httpx.get(history, params={"orderBy": "color"}, headers=headers).status_code == 400
    since = httpx.get(history, params={"from": "2024-03-27T19:51:00Z"}, headers=headers).json()
    assert all(parse_instant(r["startedAt"]) >= parse_instant("2024-03-27T19:51:00Z") for r in since["data"]) and since["total"] == 2


def test_httpx_sse_reads_the_stream_and_reconnects_with_last_event_id(make_mock: MockFactory) -> None:
    mock = make_mock("tradingpartners/stream-drop-resume")
    token = login(mock, "resumer@example.com", "secret-password")
    url = mock.url("tradingpartners") + "/api/v1/alerts"
    received: list[tuple[str, str]] = []
    retries: list[int | None] = []

    def listen(last_event_id: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} | ({"Last-Event-ID": last_event_id} if last_event_id else {})
        with httpx.Client(timeout=httpx.Timeout(10, read=30)) as client, connect_sse(client, "GET", url, headers=headers) as source:
            for sse in source.iter_sse():
                if sse.retry is not None:
                    retries.append(sse.retry)
                if sse.event in ("working", "aborted", "onGoing", "closed"):  # not pings, nor the retry-only block
                    received.append((sse.event, sse.id))

    first = threading.Thread(target=listen, args=(None,), daemon=True)
    first.start()
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream")  # the stream is open (real time: socket I/O)
    run_clock(mock, 120)  # the close fault at 2 m ends this stream
    first.join(5)
    assert not first.is_alive() and received
    cut_at = len(received)
    run_clock(mock, 30)  # away for 30 virtual seconds
    second = threading.Thread(target=listen, args=(received[-1][1],), daemon=True)
    second.start()
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream", count=2)  # the stream is open (real time: socket I/O)
    run_clock(mock, 60)
    ids = [int(event_id) for _, event_id in received]
    assert ids == list(range(1, len(ids) + 1)), "each event exactly once, none missing"
    assert len(received) > cut_at and retries[0] == 1000


def test_a_reader_that_falls_too_far_behind_is_cut_loose_and_the_stream_ends_when_it_leaves(make_mock: MockFactory) -> None:
    import socket as sockets

    mock = make_mock(yaml=scenario(options="{event_ids: true, queue_limit: 50, ping_interval: 1h}", alerts="{every: 0}"))
    token = login(mock)
    port = mock.port("tradingpartners")
    raw = sockets.create_connection(("127.0.0.1", port))
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    raw.sendall(f"GET /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode())
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream")  # the stream is open (real time: socket I/O)

    def flood() -> None:
        """4000 alerts through the façade in one turn of the server's loop: the stream cannot drain in between."""
        for _ in range(4000):
            mock.control.emit("tradingpartners", "alert", {"start_after": "1h"})

    for _ in range(10):  # the client reads nothing: the socket fills, then the stream's queue
        mock.call(flood)
        if mock.journal(kind="sse.overflow", api="tradingpartners"):
            break
        time.sleep(0.05)
    overflow = mock.journal(kind="sse.overflow", api="tradingpartners")
    assert overflow and overflow[0].data["limit"] == 50, "the queue stayed bounded"
    raw.close()
    # the hub's table of open streams: proof that nothing is left behind after the client is gone (the journal says the
    # stream ended, not that the hub let go of it)
    hub = mock.server.edges["tradingpartners"].app.state.hub
    for _ in range(100):
        if not mock.call(lambda: len(hub.streams)):
            break
        time.sleep(0.05)
    assert mock.call(lambda: len(hub.streams)) == 0, "no stream outlives its client"


def test_a_stream_whose_client_vanished_sends_and_journals_nothing_more(make_mock: MockFactory) -> None:
    """A killed reader with thousands of events queued: once its connection is gone no frame is written or journaled for
    it (no sse.frame after its sse.end), and the hub lets go of it."""
    import socket as sockets
    import struct

    mock = make_mock(yaml=scenario(options="{queue_limit: 100000, ping_interval: 1h}", alerts="{every: 0}"))
    token = login(mock)
    raw = sockets.create_connection(("127.0.0.1", mock.port("tradingpartners")))
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    raw.sendall(f"GET /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode())
    mock.wait_for(kind="http.response", api="tradingpartners", outcome="stream")
    hub = mock.server.edges["tradingpartners"].app.state.hub

    def flood() -> int:
        """Alerts in one turn of the server's loop; what is queued for the stream afterwards."""
        for _ in range(2000):
            mock.control.emit("tradingpartners", "alert", {"start_after": "1h"})
        return sum(len(stream.queue) for stream in hub.streams.values())

    for _ in range(20):  # the client reads nothing: the socket fills, then the stream's queue
        if mock.call(flood) > 3000:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("events never waited in the stream's queue")
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()  # as a killed process: a TCP reset
    end = mock.wait_for(kind="sse.end", api="tradingpartners", by="client")[0]
    for _ in range(100):
        if not mock.call(lambda: len(hub.streams)):
            break
        time.sleep(0.05)
    assert mock.call(lambda: len(hub.streams)) == 0, "no stream outlives its client"
    after = [e.seq for e in mock.journal(kind="sse.frame", api="tradingpartners", session=end.session) if e.seq > end.seq]
    assert after == [], f"{len(after)} frames journaled as sent to a client that was gone"
