"""A manual clock that moves by itself (auto-advance), waits with a virtual deadline, and requests stalled on a
manual clock: the clock driver jumps to its next timer (never further) once a client has connected and nothing
moves, journals each jump, and a request nobody releases fails the test by name instead of hanging it."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets.sync.client

from mockserver import JournalWaitTimeout, ServerError, ThreadedMockServer
from mockserver.cli import _parser
from tests.conftest import MockFactory

START = 1770379200.0  # 2026-02-06T12:00:00Z
STEPS = """
id: t/notes
description: Three notes on a quiet key.
clock: {start: "2026-02-06T12:00:00Z", speed: 1}
apis:
  luckylobster: {state: {keys: [{key: ll_autoautoautoautoautoauto, name: auto, rate_limit: null, active_hours: null}]}}
timeline:
  - {at: 1m, note: one}
  - {at: 5m, note: two}
  - {at: 10m, note: three}
"""
KEY = {"Authorization": "Bearer ll_autoautoautoautoautoauto"}


def heartbeat(mock: ThreadedMockServer) -> httpx.Response:
    return httpx.get(mock.url("luckylobster") + "/api/agent/v1/heartbeat", headers=KEY, timeout=10)


def test_an_auto_clock_waits_for_a_client_then_jumps_timer_by_timer_never_further(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=STEPS, speed="auto", auto_threshold=0.02)
    assert mock.clock()["auto_advance"] == 0.02 and mock.clock()["speed"] == 0
    with pytest.raises(JournalWaitTimeout):  # no client yet: the clock holds at its start, as a real test's setup runs
        mock.wait_for(kind="clock.jump", timeout=0.3)
    assert mock.now() == START
    assert heartbeat(mock).status_code == 200
    steps = mock.wait_for(kind="scenario.step", count=3, timeout=10)
    assert [e.vtime - START for e in steps] == [60, 300, 600]
    jumps = mock.journal(kind="clock.jump")
    assert [(j.data["to"] - START, j.data["cause"]) for j in jumps] == [(60, "auto"), (300, "auto"), (600, "auto")]
    assert mock.journal(kind="scenario.loaded")[0].data["auto_advance"] == 0.02
    with pytest.raises(JournalWaitTimeout):  # no timer left: the clock stays at the last one
        mock.wait_for(kind="clock.jump", count=4, timeout=0.3)
    assert mock.now() == START + 600


def test_requests_in_flight_and_bytes_moving_hold_the_auto_clock(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=STEPS, speed="auto", auto_threshold=1.0)
    stop = threading.Event()

    def poll() -> None:  # a busy client: a request every few milliseconds, never half a second of quiet
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                client.get(mock.url("luckylobster") + "/api/agent/v1/heartbeat", headers=KEY)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        mock.wait_for(kind="http.response", count=50, timeout=20)
        assert mock.journal(kind="clock.jump") == [], "the clock jumped while the client kept the mock busy"
    finally:
        stop.set()
        poller.join(10)
    assert mock.wait_for(kind="clock.jump", timeout=10)[0].data["to"] == START + 60, "quiet again: it jumps"


def test_a_latency_fault_on_an_auto_clock_answers_after_the_jump(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=STEPS, speed="auto", auto_threshold=0.25)  # between connecting and its request, no jump
    mock.start_fault(kind="latency", api="luckylobster", delay=30)
    assert heartbeat(mock).status_code == 200
    request, response = mock.journal(kind="http.request")[0], mock.journal(kind="http.response")[0]
    assert response.vtime - request.vtime == 30, "the answer came 30 virtual seconds later"
    assert mock.journal(kind="clock.jump")[0].data["to"] == START + 30, "the jump went to the latency's end, before the 1m note"


def test_a_request_stalled_on_a_manual_clock_fails_by_name_instead_of_hanging(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=STEPS, speed=0, stall_timeout=0.3)
    mock.start_fault(kind="latency", api="luckylobster", delay=30)
    assert heartbeat(mock).status_code == 200, "released after the stall timeout, not held forever"
    with pytest.raises(ServerError) as info:
        mock.check()
    text = str(info.value)
    assert "luckylobster request #" in text and "GET /api/agent/v1/heartbeat (latency fault, 30 s)" in text
    assert "waited 0.3 s (real) on the manual clock" in text and "advance(...)" in text
    jump = mock.journal(kind="clock.jump")[0].data
    assert jump["cause"] == "stall" and jump["to"] == START + 30 and jump["request"] == mock.journal(kind="http.request")[0].seq


def test_wait_for_within_drives_a_manual_clock_up_to_its_virtual_deadline(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=STEPS, speed=0)
    assert heartbeat(mock).status_code == 200  # a client: the clock may move by itself
    found = mock.wait_for(kind="scenario.step", within="2m")
    assert [e.vtime - START for e in found] == [60] and mock.now() == START + 60, "it stopped once the entry came"
    with pytest.raises(JournalWaitTimeout) as info:
        mock.wait_for(kind="scenario.step", count=3, within="5m")
    assert "waited 300 s of virtual time" in str(info.value) and "The closest entries" in str(info.value)
    assert mock.now() == START + 360, "to the deadline, not to the next step (10m)"
    assert [j.data["cause"] for j in mock.journal(kind="clock.jump")] == ["wait", "wait", "wait"]
    with pytest.raises(JournalWaitTimeout):  # the wait's drive ended with it: a manual clock again
        mock.wait_for(kind="clock.jump", count=4, timeout=0.3)
    assert mock.now() == START + 360


def test_a_wait_with_a_virtual_deadline_and_no_client_says_why_the_clock_stayed(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=STEPS, speed=0)
    with pytest.raises(JournalWaitTimeout) as info:
        mock.wait_for(kind="scenario.step", within="2m", timeout=0.3)
    assert "moves by itself only once a client has connected to an API, and none has" in str(info.value)
    assert mock.now() == START


def test_an_exception_inside_the_server_ends_a_wait_at_once(make_mock: MockFactory) -> None:
    broken = STEPS + "  - {at: 2m, emit: {api: aitrader, event: message, data: {agent: 99}}}\n"
    mock = make_mock(yaml=broken, speed=0)
    assert heartbeat(mock).status_code == 200
    with pytest.raises(ServerError, match="no aitrader agent 99"):
        mock.wait_for(kind="ws.frame", within="9m")
    assert mock.now() == START + 120, "the wait ended at the failed step, not at its deadline"


def test_the_control_api_and_the_facade_switch_auto_advance_on_and_off(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=STEPS, speed=0)
    control = mock.url("control") + "/_mock/clock"
    assert httpx.post(control, json={"speed": "auto", "auto_advance": 0.2}).json()["auto_advance"] == 0.2
    assert httpx.post(control, json={"speed": "auto", "auto_advance": 0}).status_code == 400
    assert httpx.post(control, json={"speed": 0}).json()["auto_advance"] is None
    mock.set_speed("auto")
    assert [e.data for e in mock.journal(kind="clock.speed")] == [
        {"speed": 0.0, "auto_advance": 0.2},
        {"speed": 0.0},
        {"speed": 0.0, "auto_advance": 0.05},
    ]
    mock.reset()
    assert mock.clock()["auto_advance"] is None, "a reset starts the clock as the server was made"


@pytest.fixture
def open_socket(make_mock: MockFactory) -> Iterator[tuple[ThreadedMockServer, websockets.sync.client.ClientConnection]]:
    mock = make_mock("tradeready/ticker-stream")
    env = mock.env
    with websockets.sync.client.connect(f"{env['TRADEREADY_WS_URL']}/ws/v1?api_key={env['TRADEREADY_API_KEY']}") as socket:
        yield mock, socket


def test_drop_connections_resets_what_a_test_left_open(
    open_socket: tuple[ThreadedMockServer, websockets.sync.client.ClientConnection],
) -> None:
    mock, socket = open_socket
    mock.wait_for(kind="ws.accept")
    assert mock.call(mock.server.open_connections) == 1
    assert mock.run(mock.server.drop_connections()) == 1
    assert mock.call(mock.server.open_connections) == 0
    assert mock.journal(kind="ws.close", by="client"), "the handler ended and journaled the socket's end"
    deadline = time.monotonic() + 5
    with pytest.raises(websockets.exceptions.ConnectionClosed):
        while time.monotonic() < deadline:
            socket.recv(timeout=1)


def test_mockserver_serve_takes_speed_auto(tmp_path: Path) -> None:
    env_file = tmp_path / "mock.env"
    command = [sys.executable, "-m", "mockserver", "serve", "--scenario", "luckylobster/sleeping-overnight", "--speed", "auto"]
    proc = subprocess.Popen(
        [*command, "--auto-threshold", "0.02", "--base-port", "0", "--env-file", str(env_file)], stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        control = env["MOCK_CONTROL_URL"] + "/_mock"
        assert httpx.get(control + "/clock").json()["auto_advance"] == 0.02
        beat = httpx.get(env["LUCKYLOBSTER_BASE_URL"] + "/heartbeat", headers={"Authorization": "Bearer " + env["LUCKYLOBSTER_API_KEY"]})
        assert beat.status_code == 200
        jumps: list[dict[str, object]] = []
        while not jumps and time.monotonic() < deadline:
            jumps = httpx.get(control + "/journal", params={"kind": "clock.jump"}).json()["entries"]
            time.sleep(0.02)  # a real process: poll it (its clock moves by itself, not by this test)
        assert jumps and jumps[0]["data"]["cause"] == "auto", "a client came, nothing moved: the clock jumped"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    assert "speed 0 (manual, moving by itself after 0.02 s of quiet once a client connects)" in out
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--speed", "auto", "--auto-threshold", "0"])
