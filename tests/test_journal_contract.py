"""The journal as a contract, end to end: every transport, faults, reconnects; the export validates against
the published schema line by line, every session can be followed from its first entry to its one end, every
entry a credential identifies carries its principal, and a manual-clock run journals the same times twice."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from jsonschema import Draft202012Validator

from mockserver import ThreadedMockServer
from mockserver.core.catalogue import END_KINDS, journal_schema
from mockserver.core.journal import Entry, Journal
from tests.conftest import MockFactory
from tests.cryptorobot_client import FeathersSocket
from tests.helpers import wait_until

#: the kinds that end each transport's session (an Engine.IO session refused at its handshake ends with ws.reject)
SESSION_ENDS = {"ws": {"ws.close", "ws.reset", "ws.reject"}, "sse": {"sse.end", "sse.reset"}, "eio": {"sio.disconnect", "ws.reject"}}
#: entries a session may have after its end: bookkeeping about frames that were never sent
AFTER_END = {"ws.discarded"}


async def exercise_every_api(mock: ThreadedMockServer) -> None:
    env = mock.env
    async with httpx.AsyncClient(timeout=10) as http:
        # HTTP: a heartbeat, one failed by an error fault, then a good one
        ll = env["LUCKYLOBSTER_BASE_URL"] + "/heartbeat"
        bearer = {"Authorization": "Bearer " + env["LUCKYLOBSTER_API_KEY"]}
        await asyncio.to_thread(mock.start_fault, id="ll-503", kind="error", api="luckylobster", status=503, times=1)
        assert (await http.get(ll, headers=bearer)).status_code == 503
        assert (await http.get(ll, headers=bearer)).status_code == 200
        # AI-Trader: the heartbeat, and a notification pushed on the notify socket
        ait = env["AITRADER_BASE_URL"]
        token = {"X-Claw-Token": env["AITRADER_TOKEN"]}
        assert (await http.post(ait + "/api/claw/agents/heartbeat", headers=token, json={})).status_code == 200
        notify = ait.replace("http://", "ws://") + f"/ws/notify/{env['AITRADER_AGENT_ID']}"
        async with websockets.connect(notify) as socket:
            await asyncio.to_thread(mock.wait_for, kind="ws.accept", api="aitrader")
            await asyncio.to_thread(mock.emit, "aitrader", "message", {"content": "hello"})
            assert "hello" in await asyncio.wait_for(socket.recv(), 5)
        # TradeReady: a close fault on the open socket, a reconnect, a close by the client
        url = env["TRADEREADY_WS_URL"] + "/ws/v1?api_key=" + env["TRADEREADY_API_KEY"]
        first = await websockets.connect(url)
        await first.send(json.dumps({"action": "subscribe", "channel": "ticker:BTCUSDT"}))
        await asyncio.wait_for(first.recv(), 5)
        await asyncio.to_thread(mock.start_fault, id="tr-close", kind="close", api="tradeready", code=1012, times=1)
        await asyncio.wait_for(first.wait_closed(), 5)
        async with websockets.connect(url) as second:
            await second.send(json.dumps({"action": "subscribe", "channel": "ticker:BTCUSDT"}))
            await asyncio.wait_for(second.recv(), 5)  # the ack
            await asyncio.to_thread(mock.advance, 2)  # the market ticks: a fan-out frame
            assert "BTCUSDT" in await asyncio.wait_for(second.recv(), 5)
        # TradingPartners: a stream ended by a close fault, then one the client leaves
        stream = env["TRADINGPARTNERS_BASE_URL"] + "/api/v1/alerts"
        jwt = {"Authorization": "Bearer " + env["TRADINGPARTNERS_TOKEN"]}
        async with http.stream("GET", stream, headers=jwt) as response:
            assert response.status_code == 200
            await asyncio.to_thread(mock.advance, 15)  # a ping
            chunks = response.aiter_bytes()
            assert b"ping" in await asyncio.wait_for(anext(chunks), 5)
            await asyncio.to_thread(mock.start_fault, id="tp-close", kind="close", api="tradingpartners", times=1)
            async for _ in chunks:
                pass
        async with http.stream("GET", stream, headers=jwt) as response:
            await asyncio.to_thread(mock.advance, 15)
            assert b"ping" in await asyncio.wait_for(anext(response.aiter_bytes()), 5)
    # Cryptorobot: log in over Socket.IO, a transport close fault, python-socketio reconnects and logs in again
    client = await FeathersSocket(env["CRYPTOROBOT_URL"], reconnection_delay=0.1, reconnection_delay_max=0.2).connect()
    try:
        await client.login(env["CRYPTOROBOT_EMAIL"], env["CRYPTOROBOT_PASSWORD"])
        sid = client.sio.get_sid()
        await asyncio.to_thread(mock.start_fault, id="cr-close", kind="close", api="cryptorobot", code=1001, times=1)
        await wait_until(lambda: client.sio.connected and client.sio.get_sid() not in (None, sid), what="the reconnect")
        await client.login(env["CRYPTOROBOT_EMAIL"], env["CRYPTOROBOT_PASSWORD"])
    finally:
        await client.close()
    await asyncio.to_thread(mock.wait_for, kind="sio.disconnect", count=2)


@pytest.fixture
def contract_journal(make_mock: MockFactory, tmp_path: Path) -> tuple[ThreadedMockServer, list[dict[str, Any]]]:
    mock = make_mock("demo")
    asyncio.run(exercise_every_api(mock))
    path = tmp_path / "journal.jsonl"
    mock.export(path)
    return mock, [json.loads(line) for line in path.read_text().splitlines()]


def test_every_line_of_an_export_validates_against_the_published_schema(contract_journal: tuple[Any, list[dict[str, Any]]]) -> None:
    _, lines = contract_journal
    schema = journal_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    bad = [(line["seq"], line["kind"], next(validator.iter_errors(line)).message) for line in lines if not validator.is_valid(line)]
    assert not bad, bad[:5]
    kinds = {line["kind"] for line in lines}
    for needed in ("http.response", "ws.frame", "ws.broadcast", "sse.frame", "sio.packet", "sio.login", "fault.applied", "ws.push"):
        assert needed in kinds, f"the scenario exercised no {needed}"


def test_each_session_is_followed_from_its_first_entry_to_its_one_end(contract_journal: tuple[Any, list[dict[str, Any]]]) -> None:
    _, lines = contract_journal
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        if line["session"] is not None:
            sessions[line["session"]].append(line)
    transports = defaultdict(list)
    for session, entries in sessions.items():
        transport = session.rsplit("-", 1)[0]
        transports[(entries[0]["api"], transport)].append(session)
        ends = [e for e in entries if e["kind"] in SESSION_ENDS[transport]]
        assert len(ends) == 1, f"{session}: ends {[e['kind'] for e in ends]}"
        end = ends[0]
        assert end["data"]["by"] in ("client", "server", "fault"), end
        if end["data"]["by"] == "fault":
            assert end["data"]["fault"], end
        after = [e["kind"] for e in entries if e["seq"] > end["seq"] and e["kind"] not in AFTER_END]
        assert not after, f"{session}: entries after its end: {after}"
        first = entries[0]["kind"]
        expected_first = {"ws": "ws.connect", "sse": "http.response", "eio": "http.request"}[transport]
        assert first in (expected_first, "ws.connect"), f"{session} begins with {first}"
    # the reconnects are new sessions, and each fault ended the session it hit, saying so
    assert len(transports[("tradeready", "ws")]) == 2 and len(transports[("tradingpartners", "sse")]) == 2
    assert len(transports[("cryptorobot", "eio")]) == 2 and len(transports[("aitrader", "ws")]) == 1
    ends = {e["data"].get("fault"): e for e in lines if e["kind"] in END_KINDS and e["data"].get("by") == "fault"}
    assert {"tr-close", "tp-close", "cr-close"} <= set(ends), sorted(ends)
    assert ends["tr-close"]["data"]["code"] == 1012 and ends["tp-close"]["kind"] == "sse.end"


def test_every_fault_effect_names_its_fault(contract_journal: tuple[Any, list[dict[str, Any]]]) -> None:
    _, lines = contract_journal
    applied = defaultdict(list)
    for line in lines:
        if line["kind"] == "fault.applied":
            applied[line["data"]["fault"]].append(line)
    assert set(applied) == {"ll-503", "tr-close", "tp-close", "cr-close"}
    assert all(len(hits) == 1 for hits in applied.values()), "times: 1"
    http_fault = next(line for line in lines if line["kind"] == "http.response" and line["data"].get("fault") == "ll-503")
    assert (http_fault["data"]["status"], http_fault["data"]["outcome"]) == (503, "error")
    request = next(line for line in lines if line["seq"] == http_fault["data"]["request"])
    assert request["kind"] == "http.request" and request["conn"] == http_fault["conn"], "a response names the request it answers"


def test_principals_follow_the_credentials(contract_journal: tuple[Any, list[dict[str, Any]]]) -> None:
    mock, lines = contract_journal
    creds = mock.credentials()  # the key names the principals are made of: mock.env has the keys, not their names
    expected = {
        "luckylobster": "key:" + creds["luckylobster"][0]["name"],
        "tradeready": "key:" + creds["tradeready"][0]["name"],
        "aitrader": f"agent:{creds['aitrader'][0]['agent_id']}",
        "tradingpartners": "user:" + creds["tradingpartners"][0]["email"],
    }
    for api, principal in expected.items():
        wire = [line for line in lines if line["api"] == api and line["kind"].startswith(("http.", "ws.frame", "sse.frame"))]
        assert wire and {line["principal"] for line in wire} == {principal}, (api, {line["principal"] for line in wire})
    # Socket.IO: nobody until the login, the user from the login on, on every packet of the session
    user = "user:" + creds["cryptorobot"][0]["email"]
    for session in {line["session"] for line in lines if line["api"] == "cryptorobot" and line["session"]}:
        packets = [line for line in lines if line["session"] == session and line["kind"] == "sio.packet"]
        login = next(line["seq"] for line in lines if line["session"] == session and line["kind"] == "sio.login")
        assert {p["principal"] for p in packets if p["seq"] > login} == {user}, session
        assert {p["principal"] for p in packets if p["seq"] < login} <= {None}, session


MANUAL = """
id: t/determinism
description: timers only, on a manual clock
seed: 5
clock: {start: "2026-02-06T20:00:00Z", speed: 0}
apis:
  luckylobster: {state: {keys: [{name: quiet-agent, active_hours: {start: "09:00", end: "17:00", timezone: America/New_York}}]}}
  tradingpartners: {state: {alerts: {every: 2m}}}
timeline:
  - {at: 30s, note: first}
  - {at: 1m, every: 10m, count: 12, emit: {api: luckylobster, event: fill, data: {count: 1}}}
  - {at: 5m, every: 17m, count: 6, emit: {api: tradingpartners, event: alert, data: {start_after: 1m, close_after: 3m}}}
  - {at: 20m, fault: {id: blip, kind: latency, api: luckylobster, delay: 2s, duration: 30m}}
"""


def test_a_manual_clock_run_journals_the_same_times_and_kinds_every_time(make_mock: MockFactory) -> None:
    def run() -> list[tuple[str, float, str | None]]:
        mock = make_mock(yaml=MANUAL)
        for _ in range(6):
            mock.advance("20m")
        return [(e.kind, e.vtime, e.session) for e in mock.journal() if not e.kind.startswith("server.")]

    first, second = run(), run()
    assert len(first) >= 25
    assert first == second


def test_a_journal_file_reads_back_into_the_same_entries(contract_journal: tuple[Any, list[dict[str, Any]]], tmp_path: Path) -> None:
    mock, lines = contract_journal
    path = tmp_path / "again.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    loaded: list[Entry] = Journal.load_jsonl(path)
    assert [e.to_dict() for e in loaded] == lines
