"""The npm ``eventsource`` client (js/eventsource_client.mjs, Node) against ``tradingpartners/stream-drop-resume``.

The scenario ends the SSE stream cleanly at 2m and at 5m. The client must reconnect by itself
(after the server's ``retry: 1000``), send ``Last-Event-ID`` with the last id it received, and get
what it missed from the server's replay window, exactly once. Checked twice: from what the client
printed (one JSON line per event) and from the journal (requests, frames, stream ends).

The clock runs at SPEED (1000 ms of real reconnect delay = SPEED virtual seconds without a stream:
the events of that gap must come back as the replay). Once past 6m the clock is frozen, so no new
events are made, and the client is stopped when it has everything the server sent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mockserver.core.journal import Entry
from tests.conftest import MockFactory
from tests.documents_check import checked_make_mock

make_mock = checked_make_mock("tradingpartners", clients=True)  # the npm eventsource client's requests too

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH: the eventsource (npm) client test needs Node.js")

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "js"
CLIENT = JS / "eventsource_client.mjs"
SCENARIO = "tradingpartners/stream-drop-resume"
EMAIL, PASSWORD = "resumer@example.com", "secret-password"
STREAM = "/api/v1/alerts"
SPEED = 20.0  # 2m virtual = 6 s real
DROPS = {"drop-1": 120.0, "drop-2": 300.0}  # virtual seconds after the start, from the scenario
END = 6 * 60 + 5.0  # stop a little after 6m
REAL_TIMEOUT = 60.0
ID = re.compile(r"^id: (\d+)$", re.MULTILINE)


class NodeClient:
    """The Node script in a subprocess; a thread collects its JSON lines as they come."""

    def __init__(self, base_url: str) -> None:
        env = {**os.environ, "BASE_URL": base_url, "EMAIL": EMAIL, "PASSWORD": PASSWORD}
        env.pop("TOKEN", None)
        self.proc = subprocess.Popen(
            ["node", str(CLIENT)], cwd=JS, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8"
        )
        self.lines: list[dict[str, Any]] = []
        self.stderr = ""
        self._lock = threading.Lock()
        self._out = threading.Thread(target=self._read_out, daemon=True)
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._out.start()
        self._err.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(json.loads(line))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.lines)

    def event_ids(self) -> list[int]:
        return [int(line["id"]) for line in self.snapshot() if line["type"] not in ("ping", "open", "error", "request", "exit")]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self._out.join(5)
        self._err.join(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code

    def describe(self) -> str:
        return "client output:\n" + "\n".join(json.dumps(line) for line in self.snapshot()) + f"\nstderr:\n{self.stderr}"


def wait_until(condition: Any, client: NodeClient, what: str) -> None:
    deadline = time.monotonic() + REAL_TIMEOUT
    while not condition():
        if client.proc.poll() is not None:
            pytest.fail(f"the node client exited ({client.proc.returncode}) while waiting for {what}\n{client.describe()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{client.describe()}")
        time.sleep(0.05)


def frame_ids(frames: list[Entry]) -> list[int]:
    return [int(m.group(1)) for entry in frames for m in ID.finditer(str(entry.data["text"]))]


def streams(journal: list[Entry]) -> list[dict[str, Any]]:
    """Each stream (a session, from its response head to its end): the request that opened it, its frames, its end."""
    requests = {e.seq: e for e in journal if e.kind == "http.request" and e.data.get("path") == STREAM}
    out: list[dict[str, Any]] = []
    by_session: dict[str | None, dict[str, Any]] = {}
    for entry in journal:
        if entry.kind == "http.response" and entry.data.get("outcome") == "stream":
            stream = {"request": requests[entry.data["request"]], "frames": [], "ends": []}
            by_session[entry.session] = stream
            out.append(stream)
        elif entry.session in by_session and entry.kind == "sse.frame":
            by_session[entry.session]["frames"].append(entry)
        elif entry.session in by_session and entry.kind in ("sse.end", "sse.reset"):
            by_session[entry.session]["ends"].append(entry)
    return out


def test_eventsource_resumes_with_last_event_id_and_gets_missed_events_exactly_once(make_mock: MockFactory) -> None:
    if not (JS / "node_modules" / "eventsource" / "package.json").exists():
        pytest.fail("js/node_modules is missing: run `make js/node_modules` (or `cd js && npm ci`)")
    mock = make_mock(SCENARIO, speed=SPEED)
    start = mock.journal(kind="scenario.loaded")[0].data["start"]
    client = NodeClient(mock.url("tradingpartners"))
    try:
        wait_until(lambda: mock.clock()["elapsed"] >= END, client, "the virtual clock to pass 6m")
        mock.set_speed(0)  # no more events from here on: what the server sent is final
        journal: list[Entry] = mock.journal()
        sent = frame_ids(mock.journal(kind="sse.frame", api="tradingpartners", path=STREAM))
        assert sent, "the server sent no event with an id"
        wait_until(lambda: max(client.event_ids(), default=0) >= max(sent), client, f"the client to receive up to id {max(sent)}")
    finally:
        code = client.stop()
    lines = client.snapshot()
    context = client.describe()
    assert code == 0, context
    assert lines[-1] == {"type": "exit", "code": 0}, context

    # -- the client: one connection per request, an error (the drop) between them --------------------
    kinds = [line["type"] for line in lines]
    assert kinds.count("request") == 3, context
    assert kinds.count("open") == 3, context
    assert [line for line in lines if line["type"] == "error"] == [{"type": "error", "code": None, "message": None, "readyState": 0}] * 2, (
        f"each drop is a clean end: the library reports it (CONNECTING) and reconnects\n{context}"
    )
    # split the printed events by connection: connection k holds the events after the k-th "open"
    connections: list[list[dict[str, Any]]] = []
    last_id_before_request: list[str | None] = []
    received: list[int] = []
    for line in lines:
        if line["type"] == "request":
            last_id_before_request.append(str(received[-1]) if received else None)
            assert line["lastEventId"] == last_id_before_request[-1], f"Last-Event-ID must be the last id received\n{context}"
        elif line["type"] == "open":
            connections.append([])
        elif line["type"] in ("working", "aborted", "onGoing", "closed", "error", "message"):
            if line["type"] == "error" and "data" not in line:
                continue
            connections[-1].append(line)
            received.append(int(line["id"]))
    assert last_id_before_request[0] is None and all(last_id_before_request[1:]), context

    # every event exactly once, no holes: ids are consecutive per user, from 1
    assert len(received) == len(set(received)), f"duplicate events: {received}\n{context}"
    assert received == list(range(1, len(received) + 1)), f"holes or disorder in the ids: {received}\n{context}"
    assert sorted(sent) == received, f"the client's events differ from the server's frames: {sent} vs {received}"
    assert all(line["type"] != "message" for c in connections for line in c), "every frame has a named event type"

    # -- the journal: the drops, the reconnections with Last-Event-ID, the replays ------------------
    opened = streams(journal)
    assert len(opened) == 3, [s["request"] for s in opened]
    assert "last-event-id" not in opened[0]["request"].data["headers"]
    for k, (fault, at) in enumerate(DROPS.items()):
        old, new = opened[k], opened[k + 1]
        # the old stream ended cleanly, once, by the close fault, no earlier than the drop
        server_end = old["ends"]
        assert [(e.kind, e.data["by"], e.data.get("fault")) for e in server_end] == [("sse.end", "fault", fault)], server_end
        assert server_end[0].vtime - start >= at, server_end
        # the client came back by itself (after ~retry: 1000 ms real) with the last id it had received
        old_ids = frame_ids(old["frames"])
        last_event_id = new["request"].data["headers"].get("last-event-id")
        assert last_event_id == str(old_ids[-1]) == last_id_before_request[k + 1], (last_event_id, old_ids)
        assert new["request"].vtime > server_end[0].vtime
        # the replay: frames queued at once on the new stream (retry: first), from Last-Event-ID + 1 on
        frames = new["frames"]
        assert frames[0].data["text"] == "retry: 1000\n\n", frames[0]
        burst = [e for e in frames[1:] if e.data.get("replay")]
        assert burst == frames[1 : 1 + len(burst)], "the replayed frames come first, each marked as a replay"
        replayed = frame_ids(burst)
        assert replayed, (
            f"{fault}: nothing was missed while disconnected, from {server_end[0].vtime - start:.1f}s to "
            f"{new['request'].vtime - start:.1f}s (virtual): the scenario's timing no longer exercises the replay"
        )
        assert replayed == list(range(int(last_event_id) + 1, int(last_event_id) + 1 + len(replayed))), (fault, last_event_id, replayed)
        # ... and the client got those missed events on the new connection, and only there
        new_ids = [int(line["id"]) for line in connections[k + 1]]
        assert new_ids[: len(replayed)] == replayed, (fault, new_ids, replayed)
        for earlier in connections[: k + 1]:
            assert not set(replayed) & {int(line["id"]) for line in earlier}, (fault, replayed)
    # each id went out on exactly one stream
    per_stream = [frame_ids(s["frames"]) for s in opened]
    assert sorted(i for ids in per_stream for i in ids) == sorted(set(sent)) == received, per_stream

    # the alert emitted at 2m, right after drop-1, is one of the missed events: its "working" came in the replay
    emitted = next(e for e in journal if e.kind == "scenario.step" and e.data.get("action") == "emit")
    alert_id = emitted.data["result"]["alert"]
    working = [line for line in lines if line["type"] == "working" and json.loads(line["data"])["id"] == alert_id]
    assert len(working) == 1 and working[0] in connections[1], (alert_id, working)
    assert int(working[0]["id"]) in frame_ids(opened[1]["frames"]), working
    assert int(working[0]["id"]) > int(opened[1]["request"].data["headers"]["last-event-id"]), working
