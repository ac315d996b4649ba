"""AI-Trader's behaviour over real sockets: delivery, pagination, duplicates, rotation, the notify socket and its faults."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mockserver.control.openapi import api_openapi
from mockserver.documents import assert_matches_openapi
from tests.conftest import MockFactory
from tests.documents_check import checked_make_mock

make_mock = checked_make_mock("aitrader")  # every response and notify frame of these tests against the documents


def heartbeat(base: str, headers: dict[str, str], body: Any = None) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/api/claw/agents/heartbeat", json=body if body is not None else {"status": "alive"}, headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    profile = "upstream" if "agent_id" in result else "documented"  # the answer must match its profile's document
    assert_matches_openapi(api_openapi("aitrader", profile), "POST", "/api/claw/agents/heartbeat", 200, result)
    return result


def ws_url(mock: Any, client_id: object) -> str:
    return mock.url("aitrader").replace("http://", "ws://") + f"/ws/notify/{client_id}"


async def collect(url: str, mock: Any, advance_by: float, steps: int) -> list[dict[str, Any]]:
    """Listen on the notify socket while the scenario runs ``steps`` x ``advance_by`` virtual seconds."""
    frames: list[dict[str, Any]] = []
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps({"token": "ignored"}))
        for _ in range(steps):
            await asyncio.to_thread(mock.advance, advance_by)
            while True:
                try:
                    frames.append(json.loads(await asyncio.wait_for(socket.recv(), 0.3)))
                except TimeoutError:
                    break
    return frames


def test_ws_drops_notifications_that_the_heartbeat_then_delivers(make_mock: MockFactory) -> None:
    mock = make_mock("aitrader/ws-drops-notifications")
    headers = {"X-Claw-Token": "claw_wsdropsnotifications0000000000"}
    frames = asyncio.run(collect(ws_url(mock, 1), mock, 20, 5))  # five notifications, pattern ".x": sent, lost, sent, lost, sent
    lost = mock.journal(kind="ws.lost", api="aitrader")
    pushed = mock.journal(kind="ws.push", api="aitrader")
    assert len(frames) == len(pushed) == 3 and len(lost) == 2
    lost_ids = {e.data["message_id"] for e in lost}
    delivered = heartbeat(mock.url("aitrader"), headers, {"agent_id": 1, "status": "alive"})["messages"]
    delivered_ids = {m["id"] for m in delivered}
    assert lost_ids <= delivered_ids, "every notification the socket lost is in the next heartbeat"
    assert len(delivered) == 5
    answer = mock.journal(kind="http.response", api="aitrader")[-1]
    assert all(f'"id":{i},' in answer.data["body"] for i in lost_ids), "and the journal shows the heartbeat that handed them out"


def test_message_burst_pages_the_newest_50_with_has_more(make_mock: MockFactory) -> None:
    mock = make_mock("aitrader/message-burst")
    mock.advance(30)
    headers = {"Authorization": "Bearer burst-token-0000000000000000000000000000000"}
    pages = [heartbeat(mock.url("aitrader"), headers) for _ in range(4)]
    assert [p["message_count"] for p in pages] == [50, 50, 20, 0]
    assert [p["remaining_unread_count"] for p in pages] == [70, 20, 0, 0]
    assert [p["has_more_messages"] for p in pages] == [True, True, False, False]
    ids = [m["id"] for p in pages for m in p["messages"]]
    assert len(ids) == len(set(ids)) == 120
    # ORDER BY created_at DESC on rows stamped to the second: all 120 share 12:00:30, and SQLite's sorter keeps the
    # table's order for equal keys, so the pages come oldest first, as the real server hands them out
    assert ids == sorted(ids)
    assert {m["created_at"] for p in pages for m in p["messages"]} == {"2026-03-09 12:00:30"}, "SQLite's format"


def test_duplicate_delivery_hands_out_messages_again(make_mock: MockFactory) -> None:
    mock = make_mock("aitrader/duplicate-delivery")
    headers = {"X-Claw-Token": "claw_duplicatedelivery000000000000"}
    seen: list[int] = []
    for _ in range(10):  # poll every 30 virtual seconds for five minutes
        mock.advance(30)
        seen += [m["id"] for m in heartbeat(mock.url("aitrader"), headers)["messages"]]
    duplicates = {i for i in seen if seen.count(i) > 1}
    assert len(duplicates) == 5, "2 redelivered at 2m, 3 at 4m"
    assert len(set(seen)) == 10


def test_token_rotation_then_relogin(make_mock: MockFactory) -> None:
    mock = make_mock("aitrader/token-rotated")
    base = mock.url("aitrader")
    old = {"Authorization": "Bearer rotating-token-00000000000000000000000000000"}
    assert heartbeat(base, old)["agent_id"] == 1
    mock.advance(180)
    refused = httpx.post(f"{base}/api/claw/agents/heartbeat", headers=old)
    assert (refused.status_code, refused.json()) == (401, {"detail": "Invalid token"})
    login = httpx.post(f"{base}/api/claw/agents/login", json={"name": "rotating-bot", "password": "rotating-password"}).json()
    assert len(login["token"]) == 43 and login["agent_id"] == 1
    assert heartbeat(base, {"Authorization": login["token"]})["message_count"] == 3, "a bare token works too"
    assert [e.data["reason"] for e in mock.journal(kind="token.rotated", api="aitrader")] == ["scenario", "login"]


UPSTREAM_TASKS = """
id: t/tasks
description: upstream tasks
clock: {start: "2026-03-09T12:00:00Z"}
apis:
  aitrader:
    profile: upstream
    state: {agents: [{id: 7, name: worker, password: pw, token: worker-token-000000000000000000000000000000}], pending_tasks: 12}
"""


def test_upstream_pending_tasks_return_every_call_until_completed(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=UPSTREAM_TASKS)
    headers = {"Authorization": "Bearer worker-token-000000000000000000000000000000"}
    first, second = heartbeat(mock.url("aitrader"), headers), heartbeat(mock.url("aitrader"), headers)
    assert [t["id"] for t in first["tasks"]] == [t["id"] for t in second["tasks"]] == list(range(1, 11)), "oldest first, ten at most"
    assert (first["remaining_task_count"], first["has_more_tasks"]) == (2, True)
    done = httpx.post(mock.url("control") + "/_mock/emit", json={"api": "aitrader", "event": "complete_task", "data": {"id": 1}}).json()
    assert done["result"]["completed"] == [1]
    assert heartbeat(mock.url("aitrader"), headers)["tasks"][0]["id"] == 2


def test_upstream_frames_have_no_id_and_push_does_not_mark_read(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=UPSTREAM_TASKS)

    async def one() -> dict[str, Any]:
        async with websockets.connect(ws_url(mock, 7)) as socket:
            await asyncio.to_thread(mock.wait_for, kind="ws.accept", api="aitrader")  # the server has registered the socket
            await asyncio.to_thread(mock.emit, "aitrader", "follow", {"agent": 7})
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 5))
            return frame

    frame = asyncio.run(one())
    assert set(frame) == {"type", "content", "data"} and frame["type"] == "new_follower"
    page = heartbeat(mock.url("aitrader"), {"Authorization": "worker-token-000000000000000000000000000000"})
    assert [m["type"] for m in page["messages"]] == ["new_follower"], "the pushed message is still unread"


def test_upstream_drops_a_non_integer_client_id_right_after_accept(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=UPSTREAM_TASKS)

    async def run() -> int | None:
        async with websockets.connect(ws_url(mock, "agent_xxx")) as socket:
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(socket.recv(), 5)
            return info.value.rcvd.code if info.value.rcvd else None

    # the server's handler returns after accept; uvicorn then drops the TCP connection without a close frame
    assert asyncio.run(run()) is None
    closes = mock.journal(kind="ws.close", api="aitrader")
    assert closes[-1].data["code"] == 1006 and closes[-1].direction == "out"


@pytest.mark.parametrize(
    ("fault", "expected_code"), [({"kind": "close", "code": 1012, "reason": "restart"}, 1012), ({"kind": "reset"}, 1006)]
)
def test_ws_close_and_reset_faults_drop_open_sockets(make_mock: MockFactory, fault: dict[str, Any], expected_code: int) -> None:
    mock = make_mock("aitrader/ws-drops-notifications")

    async def run() -> int:
        async with websockets.connect(ws_url(mock, 1)) as socket:
            await asyncio.to_thread(mock.wait_for, kind="ws.accept", api="aitrader")
            await asyncio.to_thread(mock.start_fault, api="aitrader", route="/ws/*", **fault)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(socket.recv(), 5)
            return info.value.rcvd.code if info.value.rcvd else 1006

    assert asyncio.run(run()) == expected_code
    assert mock.journal(kind="ws.reset" if expected_code == 1006 else "ws.close", api="aitrader", fault="fault-1", by="fault")


def test_ws_silence_keeps_frames_back_and_refuse_upgrade_answers_503(make_mock: MockFactory) -> None:
    mock = make_mock("aitrader/ws-drops-notifications")
    mock.patch_state("aitrader", {"ws_loss": {}})
    mock.start_fault(id="quiet", api="aitrader", kind="silence", duration="1m")
    frames = asyncio.run(collect(ws_url(mock, 1), mock, 20, 2))
    assert frames == [] and len(mock.journal(kind="ws.suppressed", api="aitrader")) == 2
    mock.advance(60)
    assert len(asyncio.run(collect(ws_url(mock, 1), mock, 20, 1))) == 1, "after the silence, frames flow again"
    mock.start_fault(api="aitrader", kind="refuse_upgrade", status=503, duration="30s")

    async def refused() -> int:
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(ws_url(mock, 1)):
                pass
        return info.value.response.status_code

    assert asyncio.run(refused()) == 503
    assert mock.journal(kind="ws.reject", api="aitrader")[-1].data["status"] == 503


def test_odd_input_gets_fastapi_errors_not_500s(make_mock: MockFactory) -> None:
    mock = make_mock("aitrader/duplicate-delivery")
    base = mock.url("aitrader")
    headers = {"X-Claw-Token": "claw_duplicatedelivery000000000000"}
    for path in ("/api/claw/messages/recent?limit=--5", "/api/signals/feed?limit=--5", "/api/signals/feed?offset=%C2%B2"):
        response = httpx.get(base + path, headers=headers)
        assert response.status_code == 422 and response.json()["detail"][0]["type"] == "int_parsing", path
    spoof = httpx.post(
        base + "/api/claw/messages", headers=headers, json={"agent_id": 1, "type": "x_note", "content": "hi", "data": {"type": "spoofed"}}
    )
    assert spoof.status_code == 200
    # the frame the domain builds for the stored message (no socket is open to carry it): a domain method, called directly
    assert mock.call(lambda: mock.runtime.apis["aitrader"].frame(mock.runtime.apis["aitrader"].messages[-1], 0.0))["type"] == "x_note"
    rich = httpx.post(base + "/api/claw/agents/selfRegister", json={"name": "poor-bot", "password": "pw", "initial_balance": 0})
    assert rich.json()["initial_balance"] == 0
