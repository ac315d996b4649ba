"""The seed's JavaScript examples with the real Feathers client from npm (js/cryptorobot_seed.mjs, Node).

``@feathersjs/client`` + ``@feathersjs/socketio-client`` + ``@feathersjs/authentication-client`` +
``socket.io-client``, installed by ``make test`` from js/package-lock.json. The clock is manual:
the test moves it, and waits (in real time) only for the client to print what the scenario sent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MockFactory
from tests.documents_check import checked_make_mock

make_mock = checked_make_mock("cryptorobot", clients=True)  # the real Feathers client: its calls and requests too

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH: the Feathers (npm) client test needs Node.js")

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "js"
EMAIL, PASSWORD = "you@example.com", "your-password"  # the seed's own example credentials, in both scenarios


class SeedClient:
    """js/cryptorobot_seed.mjs in a subprocess; a thread collects its stdout lines."""

    def __init__(self, url: str) -> None:
        env = {**os.environ, "CRYPTOROBOT_URL": url, "CRYPTOROBOT_EMAIL": EMAIL, "CRYPTOROBOT_PASSWORD": PASSWORD}
        self.proc = subprocess.Popen(
            ["node", "cryptorobot_seed.mjs"], cwd=JS, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8"
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def harness(self) -> list[dict[str, Any]]:
        return [json.loads(line[3:]) for line in self.snapshot() if line.startswith("@@ ")]

    def wait_for(self, predicate: Any, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.snapshot()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                stderr = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
                raise AssertionError(f"waiting for {what}; the client printed:\n" + "\n".join(self.snapshot()) + stderr)
            time.sleep(0.02)

    def wait_line(self, text: str, count: int = 1) -> None:
        self.wait_for(lambda lines: lines.count(text) >= count, repr(text))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def seed_client() -> Any:
    started: list[SeedClient] = []

    def start(url: str) -> SeedClient:
        client = SeedClient(url)
        started.append(client)
        return client

    yield start
    for client in started:
        client.stop()


def js_number(value: float) -> str:
    """How JavaScript prints a number in a template string (for the values this scenario uses)."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def sessions(mock: Any) -> dict[str, list[dict[str, Any]]]:
    """Client EVENT packets per Engine.IO session, in order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in mock.journal(kind="sio.packet", api="cryptorobot", direction="in", sio="EVENT"):
        out.setdefault(entry.data["eio_sid"], []).append(entry.data)
    return out


def test_the_seeds_examples_print_what_the_scenario_sent(make_mock: MockFactory, seed_client: Any) -> None:
    mock = make_mock("cryptorobot/live-trading")
    for feed, data in [("pod_events", {}), ("trades", {"side": "buy"}), ("signals", {"type": "buy"}), ("messages", {}), ("events", {})]:
        mock.emit("cryptorobot", feed, {"data": data})  # a record on every service
    client = seed_client(mock.url("cryptorobot"))
    client.wait_for(lambda lines: '@@ {"ready":true}' in lines, "the service-method examples")
    harness = client.harness()
    assert not [h for h in harness if "error" in h], harness
    found = next(h["find"] for h in harness if "find" in h)
    assert found["total"] == 1 and found["limit"] == 25 and found["skip"] == 0 and found["data"][0]["_id"] == "strat-456"
    created = next(h["created"] for h in harness if "created" in h)
    assert created["name"] == "New Strategy" and created["type"] == "momentum" and created["pair"] == "BTC/USDT"
    assert created["_id"] in client.snapshot()  # console.log(newStrategy._id)
    patched = next(h["patched"] for h in harness if "patched" in h)
    assert patched["_id"] == "strat-456" and patched["name"] == "Updated Name"
    assert "    _id: 'strat-456'," in client.snapshot()  # console.log(strategies.data), util.inspect style
    pages = {h["service"]: h["page"] for h in harness if "service" in h}
    assert len(pages) == 9
    for path, page in pages.items():
        assert set(page) == {"total", "limit", "skip", "data"} and page["limit"] == 25 and page["skip"] == 0, path
        assert page["total"] == len(page["data"]) > 0, path

    mock.advance(10)  # traders patched: the bot starts
    client.wait_line("Bot Alpha is now running")
    mock.advance(10)  # a pod event and a trade
    client.wait_line("[trade_executed] Bought 0.1 BTC @ 42400")
    client.wait_line("buy 0.1 BTC/USDT @ 42400")
    mock.advance(10)  # a model signal
    client.wait_line("Signal: buy ETH/USDT - confidence: 0.87")
    mock.advance(30)  # the bot stops at 1m
    client.wait_line("Bot Alpha is now stopped")

    tickers = [
        f"{e.data['args'][0]['symbol']}: {js_number(e.data['args'][0]['last'])}"
        for e in mock.journal(kind="sio.packet", api="cryptorobot", direction="out", event="exchanges/ticker patched")
    ]
    assert len(tickers) == 36  # 3 symbols every 5 s for a minute
    client.wait_for(lambda lines: [line for line in lines if line in tickers] == tickers, "every ticker, in order")
    assert sum(1 for line in client.snapshot() if line == "Price update: {") == 36
    assert sum(1 for line in client.snapshot() if line == "Pod event: {") == 1

    first_call = next(iter(sessions(mock).values()))[0]
    assert first_call["event"] == "create" and first_call["args"][0] == "authentication"
    assert first_call["args"][1] == {"strategy": "local", "email": EMAIL, "password": PASSWORD}


def test_after_a_dropped_transport_the_first_call_of_each_new_session_is_jwt_reauthentication(
    make_mock: MockFactory, seed_client: Any
) -> None:
    mock = make_mock("cryptorobot/reconnect-reauth")
    client = seed_client(mock.url("cryptorobot"))
    client.wait_for(lambda lines: '@@ {"ready":true}' in lines, "the service-method examples")
    token = mock.journal(kind="sio.packet", api="cryptorobot", direction="out", sio="ACK")[0].data["data"][1]["accessToken"]

    mock.advance(120)  # 2m: the TCP connection is reset
    client.wait_line("Connection lost — attempting to reconnect...")
    client.wait_line("Reconnected successfully")
    mock.wait_for(kind="sio.login", api="cryptorobot", strategy="jwt", timeout=30)  # the re-authentication
    mock.advance(20)  # 2m20s: the WebSocket is closed (1012), and handshakes get 503 for 40 s (of the paused clock)
    client.wait_line("Connection lost — attempting to reconnect...", 2)
    mock.wait_for(kind="ws.reject", api="cryptorobot", count=2, timeout=30)  # socket.io-client retries on its own (real) time
    mock.advance(40)  # the refusal ends
    client.wait_line("Reconnected successfully", 2)
    mock.wait_for(kind="sio.login", api="cryptorobot", strategy="jwt", count=2, timeout=30)  # the second re-authentication
    before = sum(1 for line in client.snapshot() if line.startswith("Price update:"))
    mock.advance(10)  # tickers keep coming to the re-authenticated session (the feeds restart at its login)
    client.wait_for(lambda lines: sum(1 for line in lines if line.startswith("Price update:")) > before, "a ticker after re-auth")

    calls = list(sessions(mock).values())
    assert calls[0][0]["args"][1]["strategy"] == "local"
    for session in calls[1:]:
        first = session[0]
        assert (first["event"], first["args"][0]) == ("create", "authentication"), session
        assert first["args"][1] == {"strategy": "jwt", "accessToken": token}
    assert [e.data["fault"] for e in mock.journal(kind="ws.reset", api="cryptorobot")] == ["transport-reset"]
    closed = mock.journal(kind="ws.close", api="cryptorobot", by="fault")
    assert [(e.data["code"], e.data["fault"]) for e in closed] == [(1012, "transport-close")]
    assert {e.data["status"] for e in mock.journal(kind="ws.reject", api="cryptorobot")} == {503}
    assert [e.data["strategy"] for e in mock.journal(kind="sio.login", api="cryptorobot")] == ["local", "jwt", "jwt"]
