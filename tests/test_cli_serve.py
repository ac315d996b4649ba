"""`mockserver serve` as a user runs it: a real process, the printed table, the env file, SIGINT."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mockserver.core.clock import parse_instant

KEY = "ll_sleepingovernight000000000000000000000000000000000000000000000"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    env_file = tmp_path / "mock.env"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockserver",
            "serve",
            "--scenario",
            "luckylobster/sleeping-overnight",
            "--speed",
            "600",
            "--port",
            "luckylobster=0",
            "--control-port",
            "0",
            "--env-file",
            str(env_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not env_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env_file.exists(), proc.stderr.read() if proc.stderr else "no env file"
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    yield proc, env
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_serve_prints_the_table_and_sleeps_from_22_to_08_new_york(serve: tuple[subprocess.Popen[str], dict[str, str]]) -> None:
    proc, env = serve
    assert env["LUCKYLOBSTER_API_KEY"] == KEY
    base, control = env["LUCKYLOBSTER_BASE_URL"], env["MOCK_CONTROL_URL"]
    seen: list[tuple[str, str, str]] = []
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as client:
        # at speed 600, 22:00 New York is three real seconds away: poll until the key sleeps
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            data = client.get(f"{base}/heartbeat").json()["data"]
            seen.append((data["timestamp"], data["status"], data["heartbeat"]["next_check_at"]))
            if data["status"] == "SLEEPING":
                break
            time.sleep(0.2)
        client.post(f"{control}/_mock/clock", json={"speed": 0})
        client.post(f"{control}/_mock/clock", json={"now": "2026-02-07T12:59:00Z"})  # 07:59 New York
        data = client.get(f"{base}/heartbeat").json()["data"]
        seen.append((data["timestamp"], data["status"], data["heartbeat"]["next_check_at"]))
        client.post(f"{control}/_mock/clock/advance", json={"seconds": 60})  # 08:00 New York
        data = client.get(f"{base}/heartbeat").json()["data"]
        seen.append((data["timestamp"], data["status"], data["heartbeat"]["next_check_at"]))
    statuses = [s for _, s, _ in seen]
    # the first answers may be OK or already SLEEPING (a slow machine starts late); the relation
    # between each answer's local time and its status below is what must hold
    assert statuses[-3:] == ["SLEEPING", "SLEEPING", "ACTION_NEEDED"]  # the overnight fill on waking
    for stamp, status, next_check in seen:
        local_hour = (int(stamp[11:13]) - 5) % 24  # New York is UTC-5 in February
        assert (status == "SLEEPING") == (local_hour >= 22 or local_hour < 8), (stamp, status)
        assert parse_instant(next_check) - parse_instant(stamp) == 60, "next_check_at is one interval after timestamp"
    assert seen[-1][0] == "2026-02-07T13:00:00Z" and seen[-1][2] == "2026-02-07T13:01:00Z"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "luckylobster/sleeping-overnight" in out and "Authorization: Bearer " + KEY in out
    assert "speed 600" in out and "/api/agent/v1" in out


def test_python_dash_m_and_bad_arguments() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--scenario", "nope/nothing"], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1 and "no built-in scenario 'nope/nothing'" in bad.stderr
    port = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "lobster=1"], capture_output=True, text=True, check=False)
    assert port.returncode != 0 and "unknown API 'lobster'" in port.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--speed", "-1"], "argument --speed: expected a number from 0"),
        (["--speed", "nan"], "argument --speed: expected a number from 0"),
        (["--start", "garbage"], "argument --start: expected an ISO 8601 instant"),
        (["--journal-limit", "0"], "argument --journal-limit: expected a whole number >= 1"),
        (["--port", "luckylobster=70000"], "--port: expected a port from 0 (ephemeral) to 65535"),
    ],
)
def test_bad_serve_arguments_get_a_message_not_a_traceback(args: list[str], expected: str) -> None:
    run = subprocess.run([sys.executable, "-m", "mockserver", "serve", *args], capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode != 0 and expected in run.stderr and "Traceback" not in run.stderr


def test_serve_answers_socketio_clients_without_loading_the_libraries_of_socketios_own_clients(tmp_path: Path) -> None:
    """`mockserver serve` imports python-socketio without aiohttp and requests (what engineio's clients need: ~0.2 s
    and ~17 MB of a start, for code a server never runs), and its Socket.IO API still serves a real client."""
    from tests.cryptorobot_client import FeathersSocket

    env_file = tmp_path / "mock.env"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--scenario", "cryptorobot/live-trading", "--base-port", "0"]
        + ["--env-file", str(env_file), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert env_file.exists(), proc.stderr.read() if proc.stderr else "no env file"
        env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())

        async def login() -> dict[str, object]:
            try:
                socket = await FeathersSocket(env["CRYPTOROBOT_URL"]).connect()
                result: dict[str, object] = await socket.login(env["CRYPTOROBOT_EMAIL"], env["CRYPTOROBOT_PASSWORD"])
                return result
            finally:
                await FeathersSocket.close_all()

        assert asyncio.run(login())["accessToken"]
        loaded = Path(f"/proc/{proc.pid}/maps").read_text()
        # aiohttp's and charset_normalizer's (requests') C extensions would be mapped had they been imported
        assert "/aiohttp/" not in loaded and "/charset_normalizer/" not in loaded, "the server loaded a client library"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    assert proc.returncode == 0
