"""The control API (D5) over a real socket, validated against its own OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import httpx

from mockserver import ThreadedMockServer, load_builtin
from mockserver.control.openapi import control_openapi
from mockserver.documents import assert_matches_openapi
from tests.conftest import MockFactory

BUSY = {"Authorization": "Bearer ll_actionneeded00000000000000000000000000000000000000000000000000"}


def call(client: httpx.Client, method: str, url: str, **kwargs: Any) -> Any:
    response = client.request(method, url, **kwargs)
    body = response.json()
    assert_matches_openapi(control_openapi(), method, response.request.url.path, response.status_code, body)
    return response.status_code, body


def test_health_info_clock_and_advance(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    control = mock.url("control") + "/_mock"
    assert call(http, "GET", f"{control}/health")[1]["status"] == "ok"
    info = call(http, "GET", f"{control}/info")[1]
    assert info["urls"]["luckylobster"] == mock.url("luckylobster")
    assert info["credentials"]["luckylobster"][0]["key"].startswith("ll_")
    assert call(http, "GET", f"{control}/clock")[1]["now"] == "2026-02-06T14:30:00.000Z"
    status, advanced = call(http, "POST", f"{control}/clock/advance", json={"duration": "5m"})
    assert (status, advanced["now"], advanced["timers_run"]) == (200, "2026-02-06T14:35:00.000Z", 5)  # steps at 1m..5m
    assert call(http, "POST", f"{control}/clock", json={"speed": 60})[1]["speed"] == 60
    assert call(http, "POST", f"{control}/clock", json={"speed": -1})[0] == 400
    assert call(http, "POST", f"{control}/clock", json={"now": "2026-02-06T10:00:00Z"})[0] == 409
    assert call(http, "POST", f"{control}/clock/advance", json={"duration": "soon"})[0] == 400


def test_load_scenario_by_id_by_yaml_and_reject_a_broken_one(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    control = mock.url("control") + "/_mock"
    status, state = call(http, "POST", f"{control}/scenario", json={"id": "luckylobster/rate-limited"})
    assert status == 200 and state["scenario"]["id"] == "luckylobster/rate-limited"
    status, state = call(
        http, "POST", f"{control}/scenario", content="id: x/y\ndescription: inline\n", headers={"content-type": "application/yaml"}
    )
    assert status == 200 and state["scenario"]["id"] == "x/y"
    status, error = call(http, "POST", f"{control}/scenario", json={"yaml": "id: x\ndescripton: typo\n"})
    assert status == 422
    assert error["problems"][0].startswith("<request body>:2:1: unknown key 'descripton'")
    assert call(http, "POST", f"{control}/scenario", json={"id": "luckylobster/sleeping-overnite"})[0] == 422
    assert call(http, "POST", f"{control}/scenario", json={})[0] == 400


def test_reset_restarts_clock_state_and_journal(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    control = mock.url("control") + "/_mock"
    http.get(mock.url("luckylobster") + "/api/agent/v1/heartbeat", headers=BUSY)
    call(http, "POST", f"{control}/clock/advance", json={"seconds": 600})
    status, state = call(http, "POST", f"{control}/reset")
    assert state["clock"]["now"] == "2026-02-06T14:30:00.000Z"
    assert state["apis"]["luckylobster"]["keys"][0]["heartbeat_count"] == 0
    assert state["journal"]["entries"] == 2  # scenario.loaded + the first step (at 0s)


def test_journal_query_and_jsonl_export(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    control = mock.url("control") + "/_mock"
    http.get(mock.url("luckylobster") + "/api/agent/v1/heartbeat", headers=BUSY)
    status, page = call(http, "GET", f"{control}/journal", params={"api": "luckylobster", "kind": "http."})
    assert [e["kind"] for e in page["entries"]] == ["http.request", "http.response"]
    assert {"seq", "vtime", "wall", "api", "conn", "direction", "kind", "data"} <= set(page["entries"][0])
    since = page["entries"][0]["seq"]
    assert call(http, "GET", f"{control}/journal", params={"since": since, "kind": "http.response"})[1]["count"] == 1
    assert call(http, "GET", f"{control}/journal", params={"since": "x"})[0] == 400
    lines = http.get(f"{control}/journal.jsonl").text.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, len(lines) + 1))


def test_emit_and_faults(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    control = mock.url("control") + "/_mock"
    heartbeat = mock.url("luckylobster") + "/api/agent/v1/heartbeat"
    http.get(heartbeat, headers=BUSY)
    status, emitted = call(http, "POST", f"{control}/emit", json={"api": "luckylobster", "event": "fill", "data": {"side": "SELL"}})
    assert status == 200 and emitted["result"]["fills"][0]["side"] == "SELL"
    assert http.get(heartbeat, headers=BUSY).json()["data"]["orderActivity"]["filledSinceLastHeartbeat"] == 1
    assert call(http, "POST", f"{control}/emit", json={"api": "luckylobster", "event": "fil"})[0] == 400
    assert call(http, "POST", f"{control}/emit", json={"api": "luckylobster", "event": "fill", "data": {"side": "UP"}})[0] == 400
    assert call(http, "POST", f"{control}/emit", json={"api": "nope", "event": "fill"})[0] == 404
    status, started = call(http, "POST", f"{control}/faults", json={"id": "boom", "kind": "error", "status": 500})
    assert status == 201 and started["fault"]["id"] == "boom"
    assert http.get(heartbeat, headers=BUSY).status_code == 500
    assert call(http, "GET", f"{control}/faults")[1]["faults"][0]["applied"] == 1
    assert call(http, "DELETE", f"{control}/faults/boom")[0] == 200
    assert call(http, "DELETE", f"{control}/faults/boom")[0] == 404
    assert call(http, "POST", f"{control}/faults", json={"kind": "explode"})[0] == 400
    assert http.get(heartbeat, headers=BUSY).status_code == 200


def test_token_guard_and_openapi_document(http: httpx.Client) -> None:
    with ThreadedMockServer(load_builtin("luckylobster/action-needed"), speed=0, control_token="s3cret") as mock:
        control = mock.url("control") + "/_mock"
        assert call(http, "GET", f"{control}/health")[0] == 200, "health needs no token: a script waits on it"
        assert call(http, "GET", f"{control}/clock")[0] == 401
        assert call(http, "GET", f"{control}/clock", headers={"X-Mock-Token": "s3cret"})[0] == 200
        assert call(http, "GET", f"{control}/clock", headers={"Authorization": "Bearer s3cret"})[0] == 200
        document = http.get(f"{control}/openapi.json").json()
        assert document["openapi"].startswith("3.1")
        assert http.get(f"{control}/openapi/luckylobster.json", headers={"X-Mock-Token": "s3cret"}).json()["openapi"].startswith("3.1")
        assert http.get(f"{control}/nope", headers={"X-Mock-Token": "s3cret"}).status_code == 404


def test_bad_control_input_is_a_400_not_a_500(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    control = mock.url("control") + "/_mock"
    assert call(http, "POST", f"{control}/clock/advance", json={"seconds": [1]})[0] == 400
    assert call(http, "POST", f"{control}/clock/advance", json={"seconds": None, "duration": "5m"})[0] == 200
    assert call(http, "GET", f"{control}/journal", params={"limit": 0})[1]["count"] == 0
    status, error = call(http, "POST", f"{control}/faults", json={"kind": "error", "probability": 5})
    assert status == 400 and "probability" in error["error"]
    assert call(http, "POST", f"{control}/faults", json={"kind": "error", "colour": "red"})[0] == 400
