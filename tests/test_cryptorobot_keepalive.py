"""Engine.IO's keep-alive under time warp: one session for minutes, whether the client's clock is warped or not.

The OPEN packet announces the scenario's virtual pingInterval/pingTimeout (25000/20000); the
server pings every interval divided by the clock's speed in real time. A client under time warp
at x60 reads 25 s on the mock's clock (0.42 s of real time) and keeps its one session; a client
that is not under time warp is pinged far more often than it was told, and keeps it too. Each
client is a real program run by ``conformance run``'s runner for five virtual minutes: the stock
python-socketio ``AsyncClient`` and the Node ``socket.io-client`` (the seed's Feathers example).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from conformance.evidence import Evidence
from conformance.runner import RunConfig, run_scenario
from mockserver.core.journal import Journal
from mockserver.scenario.loader import scenario_from_yaml

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = """
id: test/cryptorobot-keepalive
description: a quiet session, five virtual minutes of Engine.IO keep-alive at the default 25 s / 20 s
seed: 3
clock: {start: "2024-01-15T14:00:00Z", speed: 1}
apis:
  cryptorobot:
    state:
      users: [{email: you@example.com, password: your-password, plan: pro}]
      streams: {ticker: 0, pod_events: 0, trades: 0, signals: 0, messages: 0, events: 0}
duration: 5m
"""
#: python-socketio with its defaults (reconnection on): logs in over the socket, then waits for SIGTERM.
PYTHON_CLIENT = """
import asyncio, os, signal
import socketio

async def main():
    sio = socketio.AsyncClient()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await sio.connect(os.environ["CRYPTOROBOT_URL"], transports=["websocket"])
    login = {"strategy": "local", "email": os.environ["CRYPTOROBOT_EMAIL"], "password": os.environ["CRYPTOROBOT_PASSWORD"]}
    await sio.call("create", ("authentication", login, {}))
    await stop.wait()
    await sio.disconnect()

asyncio.run(main())
"""


def _node() -> tuple[str, ...]:
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    return ("node", str(ROOT / "js" / "cryptorobot_seed.mjs"))


@pytest.mark.parametrize(
    ("client", "warp"),
    [("python-socketio", "faketime"), ("socket.io-client", "faketime"), ("python-socketio", "none")],
)
def test_a_client_keeps_one_engineio_session_for_minutes_at_x60(client: str, warp: str, tmp_path: Path) -> None:
    if client == "python-socketio":
        program = tmp_path / "client.py"
        program.write_text(PYTHON_CLIENT)
        command: tuple[str, ...] = (sys.executable, str(program))
    else:
        command = _node()
    scenario = scenario_from_yaml(SCENARIO)
    result = run_scenario(scenario, RunConfig(command=command, speed=60, warp=warp, out=tmp_path, cwd=ROOT))
    assert result.journal is not None
    ev = Evidence(Journal.load_jsonl(Path(result.journal)))
    sessions = ev.sessions("cryptorobot", transport="eio")
    assert len(sessions) == 1, [(s.id, s.end_entry.data if s.end_entry else None) for s in sessions]
    (session,) = sessions
    packets = [e.data for e in session.entries if e.kind == "sio.packet"]
    opened = next(p["data"] for p in packets if p["eio"] == "open")
    assert (opened["pingInterval"], opened["pingTimeout"]) == (25000, 20000)  # virtual, whatever the speed
    stopped = next(e for e in ev.entries if e.kind == "run.ended").data["stopped_at"]
    end = session.end_entry
    assert end is None or end.vtime >= stopped  # it lasted until the runner stopped the client
    lived = stopped - session.start  # (a client under warp on a busy machine may take a virtual minute or two to start)
    assert lived >= 120
    pings = [p for p in packets if p["eio"] == "ping"]
    pongs = [p for p in packets if p["eio"] == "pong"]
    assert len(pings) >= lived // 25 - 1 and len(pongs) >= len(pings) - 1  # every 25 virtual s, each answered
    assert any(e.kind == "sio.login" for e in session.entries)
