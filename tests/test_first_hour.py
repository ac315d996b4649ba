"""A new user's first hour: one option moves every port, an env file a script can trust, a clock that waits for the
client, clear answers to small mistakes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from mockserver import ThreadedMockServer, load_builtin
from mockserver.cli import _first_sentence
from mockserver.scenario.loader import builtin_scenarios
from tests.conftest import MockFactory

MOCKSERVER = [sys.executable, "-m", "mockserver"]


def free_range(count: int = 6) -> int:
    """A base port with ``count`` free ports from it (checked by binding them)."""
    for base in range(20000, 60000, 37):
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", port))
                sockets.append(sock)
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range")


@contextmanager
def served(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([*MOCKSERVER, "serve", "--quiet", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)  # also closes the pipes
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(url + "/_mock/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("the control API never answered")


def test_base_port_moves_every_listener_and_the_env_file_is_ready_when_health_first_answers(tmp_path: Path) -> None:
    base = free_range()
    env_file = tmp_path / "mock.env"
    with served("--base-port", str(base), "--env-file", str(env_file), "--control-token", "s3cret", "--speed", "60") as proc:
        wait_healthy(f"http://127.0.0.1:{base}", proc)
        # a script started right after health answers sources the file and uses it
        script = f'set -e; . "{env_file}"; echo "$LUCKYLOBSTER_BASE_URL $MOCK_SPEED $MOCK_CONTROL_TOKEN"; '
        script += 'curl -sf -o /dev/null -H "Authorization: Bearer $LUCKYLOBSTER_API_KEY" "$LUCKYLOBSTER_BASE_URL/heartbeat" && echo ok'
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.split()
        assert out == [f"http://127.0.0.1:{base + 2}/api/agent/v1", "60", "s3cret", "ok"]
        lines = env_file.read_text().splitlines()
        assert all("=" in line and not line.startswith(("export ", "#")) for line in lines), "plain KEY=VALUE lines"
        env = dict(line.split("=", 1) for line in lines)
        for name, offset in (("MOCK_CONTROL_URL", 0), ("AITRADER_BASE_URL", 1), ("TRADEREADY_WS_URL", 3), ("CRYPTOROBOT_URL", 4)):
            assert env[name].endswith(f":{base + offset}"), (name, env[name])
        assert env["TRADINGPARTNERS_BASE_URL"].endswith(f":{base + 5}")
        for name in ("AITRADER_NAME", "AITRADER_PASSWORD", "MOCK_CLOCK_START", "TRADINGPARTNERS_TOKEN"):
            assert env[name], name
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != "mock.env"]
        assert leftovers == [], f"written atomically: no temporary file left ({leftovers})"
    assert not env_file.exists(), "the env file goes with the server"


def test_keep_env_file_leaves_it(tmp_path: Path) -> None:
    base = free_range()
    env_file = tmp_path / "mock.env"
    with served("--base-port", str(base), "--env-file", str(env_file), "--keep-env-file") as proc:
        wait_healthy(f"http://127.0.0.1:{base}", proc)
    assert env_file.exists()


def test_small_mistakes_get_clear_answers() -> None:
    out = subprocess.run([*MOCKSERVER, "serve", "--speed", "fast"], capture_output=True, text=True)
    assert out.returncode == 2 and "expected a number from 0 (manual clock)" in out.stderr and "'fast'" in out.stderr
    assert "invalid _speed value" not in out.stderr
    piped = subprocess.run(f"{sys.executable} -m mockserver scenarios | head -n 1", shell=True, capture_output=True, text=True)
    assert piped.stdout.startswith("aitrader/") and piped.stderr == "", piped.stderr


def test_every_builtin_scenario_is_listed_with_a_whole_first_sentence() -> None:
    out = subprocess.run([*MOCKSERVER, "scenarios"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == len(builtin_scenarios())
    for line in out:
        scenario_id, text = line.split(None, 1)
        assert text.endswith((".", "!", "?")), f"{scenario_id}: {text!r} is cut mid-sentence"
        assert text == _first_sentence(load_builtin(scenario_id).description)


HELD = """
id: t/held
description: waits for its client
seed: 2
clock: {start: "2026-02-06T14:30:00Z", speed: 600, wait_for_client: true}
apis:
  luckylobster: {state: {keys: [{key: ll_heldheldheldheld, name: held, rate_limit: null, active_hours: null}]}}
"""


def test_the_clock_waits_at_its_start_for_the_first_client(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=HELD, speed=None)
    clock = mock.clock()
    assert clock["held"] and clock["speed"] == 0 and clock["held_speed"] == 600
    assert mock.env["MOCK_SPEED"] == "600", "the client scales its timers by the speed it will run at"
    time.sleep(0.2)  # real time passes; a held clock does not move
    assert mock.clock()["elapsed"] == 0
    url = mock.env["LUCKYLOBSTER_BASE_URL"] + "/heartbeat"
    assert httpx.get(url, headers={"Authorization": "Bearer ll_heldheldheldheld"}).status_code == 200
    released = mock.journal(kind="clock.released")
    assert len(released) == 1 and released[0].data == {"speed": 600.0, "cause": "client"} and released[0].conn
    assert not mock.clock()["held"] and mock.clock()["speed"] == 600


def test_the_control_api_can_start_a_held_clock(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=HELD, speed=None)
    control = mock.url("control") + "/_mock"
    started = httpx.post(control + "/clock/start").json()
    assert started["released"] is True and started["clock"]["speed"] == 600 and not started["clock"]["held"]
    assert httpx.post(control + "/clock/start").json()["released"] is False
    assert [e.data["cause"] for e in mock.journal(kind="clock.released")] == ["control"]


def test_wait_for_client_in_process_and_a_reset_holds_again() -> None:
    with ThreadedMockServer("luckylobster/action-needed", speed=30, wait_for_client=True) as mock:
        assert mock.clock()["held"]
        httpx.get(mock.url("control") + "/_mock/health")  # the control API is no client of an API
        assert mock.clock()["held"]
        mock.reset()
        assert mock.clock()["held"] and mock.clock()["held_speed"] == 30


def test_yaml_posted_without_its_content_type_is_told_so(make_mock: MockFactory) -> None:
    mock = make_mock("demo")
    answer = httpx.post(mock.url("control") + "/_mock/scenario", content=b"id: x/y\ndescription: yaml\n")
    assert answer.status_code == 400 and "Content-Type: application/yaml" in answer.json()["error"]
