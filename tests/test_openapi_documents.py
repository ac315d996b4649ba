"""The published OpenAPI documents: valid OpenAPI 3.1, complete, and true to what the mock answers."""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.routing import WebSocketRoute

from mockserver.control.openapi import api_openapi, control_openapi
from mockserver.documents import assert_matches_openapi

ROOT = Path(__file__).resolve().parents[1]
HEARTBEAT = "/api/agent/v1/heartbeat"
REDEEM = "/api/agent/v1/settlements/redeem"

# The seed's examples (docs: api-reference/heartbeat), verbatim.
SEED_OK: dict[str, Any] = {
    "success": True,
    "data": {
        "status": "OK",
        "timestamp": "2026-02-06T14:30:00Z",
        "portfolio": {"openPositions": 3, "totalValue": 185.50, "unrealizedPnl": 12.30, "redeemableCount": 0, "redeemableValue": 0},
        "orderActivity": {"openOrders": 1, "filledSinceLastHeartbeat": 0, "recentFills": []},
        "budget": {"available": 46.58, "limitedBy": "percent", "walletBalance": 93.16},
        "heartbeat": {
            "next_check_at": "2026-02-06T14:31:00Z",
            "interval_ms": 60000,
            "active_hours": {"start": "08:00", "end": "22:00", "timezone": "America/New_York"},
            "heartbeat_count": 42,
            "latest_skill_version": 9,
        },
    },
}
SEED_SLEEPING: dict[str, Any] = {
    "success": True,
    "data": {
        "status": "SLEEPING",
        "timestamp": "2026-02-06T03:00:00Z",
        "message": "Outside active hours (08:00-22:00 America/New_York). Suggested next check at next_check_at.",
        "heartbeat": {
            "next_check_at": "2026-02-06T03:01:00Z",
            "interval_ms": 60000,
            "active_hours": {"start": "08:00", "end": "22:00", "timezone": "America/New_York"},
            "heartbeat_count": 200,
            "latest_skill_version": 9,
        },
    },
}
# The seed's ACTION_NEEDED actions (its portfolio/orderActivity/... are "..." placeholders, so they come from SEED_OK).
SEED_ACTIONS: list[dict[str, Any]] = [
    {
        "type": "REDEEM",
        "priority": "high",
        "summary": "2 position(s) ready to redeem (~$42.50)",
        "details": {
            "count": 2,
            "estimatedValue": 42.50,
            "positions": [{"conditionId": "0xbc13af0a...", "title": "Bitcoin Up or Down - February 4", "outcome": "Down", "size": 5.0}],
            "action": "POST /settlements/redeem",
        },
    },
    {
        "type": "ORDER_FILLED",
        "priority": "medium",
        "summary": "1 order(s) filled since last check",
        "details": {
            "count": 1,
            "totalPnl": 3.25,
            "fills": [
                {
                    "id": "ord_abc123",
                    "side": "SELL",
                    "size": 50,
                    "filledSize": 50,
                    "avgFillPrice": 0.65,
                    "realizedPnl": 3.25,
                    "marketQuestion": "Bitcoin Up or Down?",
                    "outcome": "Up",
                    "filledAt": "2026-02-06T14:28:00Z",
                }
            ],
        },
    },
]
ERROR_401 = {"success": False, "error": "Unauthorized", "message": "Invalid or missing API key"}


@pytest.fixture(scope="module")
def ll() -> dict[str, Any]:
    return api_openapi("luckylobster")


@pytest.fixture(scope="module")
def control() -> dict[str, Any]:
    return control_openapi()


def _rejects(document: dict[str, Any], method: str, path: str, status: int, body: Any, *, match: str | None = None) -> None:
    with pytest.raises(AssertionError, match=match):
        assert_matches_openapi(document, method, path, status, body)


def _action_needed() -> dict[str, Any]:
    body = copy.deepcopy(SEED_OK)
    body["data"] = {
        "status": "ACTION_NEEDED",
        "timestamp": body["data"]["timestamp"],
        "actions": copy.deepcopy(SEED_ACTIONS),
        **{k: v for k, v in body["data"].items() if k not in ("status", "timestamp")},
    }
    return body


# -- the documents ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["control", "luckylobster"])
def test_document_is_valid_openapi_3_1(name: str) -> None:
    document = control_openapi() if name == "control" else api_openapi(name)
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_documents_are_cached() -> None:
    assert control_openapi() is control_openapi()
    assert api_openapi("luckylobster") is api_openapi("luckylobster")


def test_unknown_api_has_no_document() -> None:
    with pytest.raises(FileNotFoundError):
        api_openapi("nosuchapi")
    with pytest.raises(ValueError):
        api_openapi("../control")


def test_document_examples_match_their_schemas(ll: dict[str, Any]) -> None:
    assert_matches_openapi(ll, "GET", HEARTBEAT, 200, ll["components"]["examples"]["HeartbeatOk"]["value"])
    assert_matches_openapi(ll, "GET", HEARTBEAT, 200, ll["components"]["examples"]["HeartbeatSleeping"]["value"])
    for name, response in ll["components"]["responses"].items():
        if "example" in response["content"]["application/json"]:
            assert_matches_openapi(ll, "GET", HEARTBEAT, 599, response["content"]["application/json"]["example"]), name


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(m, path) for path, item in document["paths"].items() for m in item if m in methods}


def test_every_control_route_is_documented(control: dict[str, Any]) -> None:
    routes = _control_routes()
    assert len(routes) >= 20, routes
    assert routes == _documented(control)


def test_every_luckylobster_route_is_documented(ll: dict[str, Any]) -> None:
    routes, _sockets = _app_routes("luckylobster")
    assert routes == _documented(ll)


AITRADER_PROFILES = ("documented", "upstream")


@pytest.mark.parametrize("profile", AITRADER_PROFILES)
def test_aitrader_documents_are_valid_openapi_3_1(profile: str) -> None:
    document = api_openapi("aitrader", profile)
    assert document["openapi"].startswith("3.1")
    assert profile in document["info"]["title"]
    validate(document)


def test_aitrader_documents_per_profile() -> None:
    assert api_openapi("aitrader") is api_openapi("aitrader", "documented")
    assert api_openapi("aitrader", "upstream") is api_openapi("aitrader", "upstream")
    assert api_openapi("aitrader", "upstream") is not api_openapi("aitrader")
    # an API with one document serves it for its profile
    assert api_openapi("luckylobster", "documented") is api_openapi("luckylobster")
    for name, profile in (("aitrader", "nope"), ("luckylobster", "upstream"), ("aitrader", "../upstream")):
        with pytest.raises(ValueError):
            api_openapi(name, profile)
    with pytest.raises(FileNotFoundError):
        api_openapi("nosuchapi", "upstream")


def _app_routes(api: str, profile: str = "documented") -> tuple[set[tuple[str, str]], set[str]]:
    """The HTTP routes (method, path) and WebSocket paths of an API's app in a profile, read from the app itself.

    Routes a profile does not serve (they answer 501, ``endpoint.not_served``) are left out."""
    import importlib

    from mockserver import Runtime, scenario_from_yaml
    from mockserver.apis.registry import APIS

    module_name, _, func = APIS[api].adapter.partition(":")
    runtime = Runtime(scenario_from_yaml("id: t\ndescription: routes\nclock: {start: '2026-03-09T12:00:00Z'}\n"))
    app = getattr(importlib.import_module(module_name), func)(runtime)
    found: set[tuple[str, str]] = set()
    sockets: set[str] = set()
    for route in app.routes_for(profile) if hasattr(app, "routes_for") else app.routes:
        if hasattr(getattr(route, "endpoint", None), "not_served"):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        if isinstance(route, WebSocketRoute):
            sockets.add(path)
        else:
            found |= {(method.lower(), path) for method in route.methods or () if method != "HEAD"}
    return found, sockets


def _aitrader_routes(profile: str) -> tuple[set[tuple[str, str]], set[str]]:
    return _app_routes("aitrader", profile)


def _control_routes() -> set[tuple[str, str]]:
    from mockserver import Runtime, scenario_from_yaml
    from mockserver.control.app import build_control_app
    from mockserver.control.facade import MockControl

    runtime = Runtime(scenario_from_yaml("id: t\ndescription: routes\nclock: {start: '2026-03-09T12:00:00Z'}\n"))
    app = build_control_app(MockControl(runtime))
    return {(method.lower(), route.path) for route in app.routes for method in route.methods or () if method != "HEAD"}


@pytest.mark.parametrize("profile", AITRADER_PROFILES)
def test_every_aitrader_route_is_documented(profile: str) -> None:
    document = api_openapi("aitrader", profile)
    routes, sockets = _aitrader_routes(profile)
    assert len(routes) >= 17, routes
    assert routes == _documented(document)
    assert sockets == {document["x-websocket"]["path"]} == {"/ws/notify/{client_id}"}


def test_upstream_lists_the_routes_it_does_not_serve() -> None:
    """The server's routes the profile answers 501 are the document's x-not-served, with the same reasons."""
    import importlib

    from mockserver import Runtime, scenario_from_yaml
    from mockserver.apis.registry import APIS

    module_name, _, func = APIS["aitrader"].adapter.partition(":")
    runtime = Runtime(scenario_from_yaml("id: t\ndescription: routes\nclock: {start: '2026-03-09T12:00:00Z'}\n"))
    app = getattr(importlib.import_module(module_name), func)(runtime)
    refused = {
        (method, route.path, route.endpoint.not_served)
        for route in app.routes_for("upstream")
        if hasattr(getattr(route, "endpoint", None), "not_served")
        for method in route.methods
    }
    listed = {(r["method"], r["path"], r["reason"]) for r in api_openapi("aitrader", "upstream")["x-not-served"]["routes"]}
    assert len(refused) >= 30 and refused == listed


def _aitrader_row(profile: str) -> dict[str, Any]:
    if profile == "upstream":
        return {
            "id": 1,
            "agent_id": 1,
            "type": "new_follower",
            "content": "x started following you",
            "data": {"leader_id": 1, "follower_id": 2, "follower_name": "x"},
            "read": 0,
            "created_at": "2026-03-09 12:00:00",
        }
    return {
        "id": 1,
        "type": "new_reply",
        "content": "Someone replied to your discussion",
        "data": {"signal_id": 456, "reply_id": 789},
        "created_at": "2026-03-09T12:00:00Z",
    }


def _aitrader_heartbeat(profile: str, variant: str = "minimal") -> dict[str, Any]:
    row = _aitrader_row(profile)
    if profile == "upstream":
        return {
            "agent_id": 1,
            "server_time": "2026-04-24T12:00:00.123456Z",
            "recommended_poll_interval_seconds": 30,
            "messages": [row],
            "tasks": [],
            "message_count": 1,
            "task_count": 0,
            "unread_count": 1,
            "remaining_unread_count": 0,
            "remaining_task_count": 0,
            "has_more_messages": False,
            "has_more_tasks": False,
        }
    if variant == "extended":  # the seed's second example
        return {
            "status": "ok",
            "agent_status": "online",
            "heartbeat_interval_ms": 300000,
            "messages": [row],
            "tasks": [],
            "server_time": "2026-03-04T10:00:00Z",
        }
    return {"messages": [row], "tasks": []}  # the seed's first example


AIT_HEARTBEAT = "/api/claw/agents/heartbeat"


def test_aitrader_seed_examples_match_the_documented_profile() -> None:
    document = api_openapi("aitrader", "documented")
    assert_matches_openapi(document, "POST", AIT_HEARTBEAT, 200, _aitrader_heartbeat("documented"))
    assert_matches_openapi(document, "POST", AIT_HEARTBEAT, 200, _aitrader_heartbeat("documented", "extended"))
    # the seed's four notification types, in the OpenAPI document (the rows' data) and the AsyncAPI one (the frames)
    assert set(document["x-message-types"]) == {"new_reply", "new_follower", "trade_copied", "signal"}
    assert document["x-websocket"]["asyncapi"] == "asyncapi.documented.yaml"
    # and the upstream document refuses the seed's heartbeat
    _rejects(api_openapi("aitrader", "upstream"), "POST", AIT_HEARTBEAT, 200, _aitrader_heartbeat("documented"))


@pytest.mark.parametrize(
    ("profile", "mutate"),
    [
        ("documented", lambda b: b.update(extra=1)),
        ("documented", lambda b: b.update(status="ok")),  # half of each variant
        ("documented", lambda b: b["messages"][0].update(agent_id=1)),  # an upstream row
        ("documented", lambda b: b["messages"][0].update(created_at="2026-03-09 12:00:00")),
        ("documented", lambda b: b["messages"][0].update(created_at="2026-03-09T12:00:00.000Z")),
        (
            "documented",
            lambda b: b["tasks"].append({"id": 1, "type": "t", "status": "done", "input_data": None, "created_at": "2026-03-09T12:00:00Z"}),
        ),
        ("upstream", lambda b: b.update(extra=1)),
        ("upstream", lambda b: b.pop("has_more_tasks")),
        ("upstream", lambda b: b.update(recommended_poll_interval_seconds=60)),
        ("upstream", lambda b: b.update(server_time="2026-04-24T12:00:00.123Z")),
        ("upstream", lambda b: b["messages"][0].update(read=1)),
        ("upstream", lambda b: b["messages"][0].pop("agent_id")),
        ("upstream", lambda b: b["messages"][0].update(created_at="2026-03-09T12:00:00Z")),
        ("upstream", lambda b: b["messages"][0].update(data="{}")),
    ],
)
def test_aitrader_heartbeat_with_a_defect_is_rejected(profile: str, mutate: Any) -> None:
    body = _aitrader_heartbeat(profile)
    mutate(body)
    _rejects(api_openapi("aitrader", profile), "POST", AIT_HEARTBEAT, 200, body, match=r"-> 200 does not match the document\n  body \$")


@pytest.mark.parametrize("profile", AITRADER_PROFILES)
def test_aitrader_error_shapes(profile: str) -> None:
    document = api_openapi("aitrader", profile)
    assert_matches_openapi(document, "POST", AIT_HEARTBEAT, 401, {"detail": "Invalid token"})
    assert_matches_openapi(document, "POST", "/api/signals/follow", 400, {"detail": "Cannot follow yourself"})
    assert_matches_openapi(
        document, "POST", "/api/signals/3/replies/4/accept", 403, {"detail": "Only the original author can accept a reply"}
    )
    assert_matches_openapi(document, "POST", "/api/signals/reply", 404, {"detail": "Signal not found"})
    assert_matches_openapi(document, "GET", "/api/signals/feed", 405, {"detail": "Method Not Allowed"})
    invalid = {
        "detail": [
            {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}, "ctx": {"error": "Expecting value"}}
        ]
    }
    assert_matches_openapi(document, "POST", "/api/claw/messages", 422, invalid)
    assert_matches_openapi(
        document,
        "POST",
        "/api/claw/messages",
        422,
        {"detail": [{"type": "missing", "loc": ["body", "type"], "msg": "Field required", "input": None}]},
    )
    assert_matches_openapi(document, "POST", "/api/claw/messages", 503, {"detail": "Service Unavailable"})  # default: faults
    _rejects(document, "POST", "/api/claw/messages", 422, {"detail": "Field required"})
    _rejects(document, "POST", "/api/claw/messages", 422, {"detail": [{"type": "missing", "loc": ["body"], "msg": "m"}]})
    _rejects(document, "POST", "/api/claw/messages", 401, {"detail": "Invalid token", "extra": 1})
    _rejects(document, "POST", "/api/claw/messages", 500, {"success": False, "error": "x", "message": "y"})
    if profile == "upstream":
        assert_matches_openapi(
            document, "POST", "/api/signals/discussion", 429, {"detail": "Discussion rate limit reached. Please slow down."}
        )
        assert_matches_openapi(document, "GET", "/api/signals/my/discussions", 200, {"message": "AI-Trader API"})
        _rejects(document, "GET", "/api/signals/my/discussions", 200, {"discussions": [], "total": 0})
    else:
        assert_matches_openapi(
            document, "GET", "/api/signals/my/discussions/with-new-replies", 422, {"detail": "since must be an ISO 8601 date-time, got 'x'"}
        )
        _rejects(document, "GET", "/api/signals/my/discussions", 200, {"message": "AI-Trader API"})


# -- the checker, on the seed's examples ---------------------------------------------------------------------


def test_seed_examples_match(ll: dict[str, Any]) -> None:
    assert_matches_openapi(ll, "GET", HEARTBEAT, 200, SEED_OK)
    assert_matches_openapi(ll, "GET", HEARTBEAT + "?skill_version=9", 200, SEED_SLEEPING)
    assert_matches_openapi(ll, "GET", HEARTBEAT, 200, _action_needed())


@pytest.mark.parametrize(
    ("where", "mutate"),
    [
        ("envelope", lambda b: b.update(extra=1)),
        ("data", lambda b: b["data"].update(extra=1)),
        ("portfolio", lambda b: b["data"]["portfolio"].update(extra=1)),
        ("orderActivity", lambda b: b["data"]["orderActivity"].update(extra=1)),
        ("budget", lambda b: b["data"]["budget"].update(extra=1)),
        ("heartbeat", lambda b: b["data"]["heartbeat"].update(extra=1)),
        ("active_hours", lambda b: b["data"]["heartbeat"]["active_hours"].update(extra=1)),
        ("actions on OK", lambda b: b["data"].update(actions=SEED_ACTIONS)),
        ("missing budget", lambda b: b["data"].pop("budget")),
        ("float count", lambda b: b["data"]["portfolio"].update(openPositions=3.5)),
        ("fractional timestamp", lambda b: b["data"].update(timestamp="2026-02-06T14:30:00.000Z")),
        ("offset timestamp", lambda b: b["data"].update(timestamp="2026-02-06T14:30:00+00:00")),
        ("limitedBy", lambda b: b["data"]["budget"].update(limitedBy="nope")),
        ("success", lambda b: b.update(success=False)),
        ("status", lambda b: b["data"].update(status="SLEEPING")),
    ],
)
def test_ok_body_with_a_defect_is_rejected(ll: dict[str, Any], where: str, mutate: Any) -> None:
    body = copy.deepcopy(SEED_OK)
    mutate(body)
    _rejects(ll, "GET", HEARTBEAT, 200, body, match=r"GET /api/agent/v1/heartbeat -> 200 does not match the document\n  body \$")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["data"].update(extra=1),
        lambda b: b["data"].update(portfolio=SEED_OK["data"]["portfolio"]),
        lambda b: b["data"].pop("message"),
        lambda b: b["data"]["heartbeat"].update(active_hours={"start": "8:00", "end": "22:00", "timezone": "UTC"}),
    ],
)
def test_sleeping_body_with_a_defect_is_rejected(ll: dict[str, Any], mutate: Any) -> None:
    body = copy.deepcopy(SEED_SLEEPING)
    mutate(body)
    _rejects(ll, "GET", HEARTBEAT, 200, body)


def test_heartbeat_variants_accepted(ll: dict[str, Any]) -> None:
    body = copy.deepcopy(SEED_SLEEPING)
    body["data"]["heartbeat"]["active_hours"] = None
    body["data"]["heartbeat"]["next_check_at"] = "2026-02-06T03:00:01.500Z"
    assert_matches_openapi(ll, "GET", HEARTBEAT, 200, body)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["data"].update(actions=[]),
        lambda b: b["data"].pop("actions"),
        lambda b: b["data"]["actions"][0].update(extra=1),
        lambda b: b["data"]["actions"][0].update(priority="low"),
        lambda b: b["data"]["actions"][0].update(type="NOPE"),
        lambda b: b["data"]["actions"][0]["details"].pop("action"),
        lambda b: b["data"]["actions"][0]["details"]["positions"][0].update(extra=1),
        lambda b: b["data"]["actions"][1]["details"]["fills"][0].update(extra=1),
        lambda b: b["data"]["actions"][1]["details"]["fills"][0].update(side="HOLD"),
    ],
)
def test_action_needed_with_a_defect_is_rejected(ll: dict[str, Any], mutate: Any) -> None:
    body = _action_needed()
    mutate(body)
    _rejects(ll, "GET", HEARTBEAT, 200, body)


def test_error_envelope(ll: dict[str, Any]) -> None:
    assert_matches_openapi(ll, "GET", HEARTBEAT, 401, ERROR_401)
    _rejects(ll, "GET", HEARTBEAT, 401, {**ERROR_401, "extra": 1}, match="-> 401")
    _rejects(ll, "GET", HEARTBEAT, 401, {"error": "Unauthorized"})
    # an undocumented status falls back to `default` (the error envelope)
    assert_matches_openapi(ll, "GET", HEARTBEAT, 502, {"success": False, "error": "Bad Gateway", "message": "x"})
    _rejects(ll, "GET", HEARTBEAT, 502, SEED_OK)


def test_templated_path_and_undocumented_operations(ll: dict[str, Any]) -> None:
    view = {
        "id": "strat_1",
        "name": "n",
        "type": "STOP_LOSS",
        "status": "ACTIVE",
        "changedAt": "2026-02-06T14:30:00Z",
        "resumedAt": "2026-02-06T14:30:00Z",
    }
    resume = "/api/agent/v1/strategies/strat_1/resume"
    assert_matches_openapi(ll, "POST", resume, 200, {"success": True, "message": "Strategy resumed", "data": view})
    _rejects(ll, "POST", resume, 200, {"success": True, "message": "m", "data": {**view, "x": 1}})
    _rejects(ll, "DELETE", HEARTBEAT, 200, {}, match="DELETE is not documented for /api/agent/v1/heartbeat")
    _rejects(ll, "GET", "/api/agent/v1/nope", 200, {}, match="no documented path")
    _rejects(ll, "GET", "/api/agent/v1/strategies/a/b/resume", 200, {}, match="no documented path")


def test_required_headers(ll: dict[str, Any]) -> None:
    body = {"success": False, "error": "Too Many Requests", "message": "Rate limit exceeded. Try again in 5 seconds."}
    assert_matches_openapi(ll, "GET", HEARTBEAT, 429, body, {"retry-after": "5"})
    assert_matches_openapi(ll, "GET", HEARTBEAT, 429, body, {"Retry-After": "5", "X-RateLimit-Limit": "100"})
    with pytest.raises(AssertionError, match="header Retry-After: required, missing"):
        assert_matches_openapi(ll, "GET", HEARTBEAT, 429, body, {"X-RateLimit-Limit": "100"})
    with pytest.raises(AssertionError, match="'soon' is not of type 'integer'"):
        assert_matches_openapi(ll, "GET", HEARTBEAT, 429, body, {"Retry-After": "soon"})
    assert_matches_openapi(ll, "GET", HEARTBEAT, 200, SEED_OK, {})


def test_control_error_bodies(control: dict[str, Any]) -> None:
    assert_matches_openapi(control, "GET", "/_mock/clock", 401, {"error": "missing or wrong control token"})
    assert_matches_openapi(control, "POST", "/_mock/scenario", 422, {"error": "invalid scenario", "problems": ["<x>:1:1: bad"]})
    _rejects(control, "POST", "/_mock/scenario", 422, {"error": "invalid scenario"})
    _rejects(control, "DELETE", "/_mock/faults/f1", 404, {"error": "x", "extra": 1})
    assert_matches_openapi(control, "DELETE", "/_mock/faults/f1", 200, {"stopped": "f1"})


# -- the real thing: the mock's own answers match the documents ---------------------------------------------------


T0 = "2026-02-06T14:30:00Z"
AWAKE = "ll_" + "a" * 64
SLEEPY = "ll_" + "s" * 64
READ_ONLY = "ll_" + "r" * 64
LIMITED = "ll_" + "l" * 64
MS_KEY = "ll_" + "m" * 64


def _runtime(**state: Any) -> Any:
    from mockserver.core.clock import parse_instant
    from mockserver.runtime import Runtime
    from mockserver.scenario.model import ApiSettings, ClockSettings, Scenario

    base: dict[str, Any] = {
        "keys": [
            {"key": AWAKE, "name": "awake"},
            {"key": SLEEPY, "name": "sleepy", "active_hours": {"start": "08:00", "end": "09:00", "timezone": "UTC"}},
            {"key": READ_ONLY, "name": "reader", "permissions": ["read"]},
            {"key": LIMITED, "name": "limited", "rate_limit": 1},
            {"key": MS_KEY, "name": "ms", "interval_ms": 1500, "rate_limit": None},
        ],
        "strategies": [{"id": "s_err"}, {"id": "s_paused"}, {"id": "s_done"}, {"id": "s_gone"}],
    }
    base.update(state)
    scenario = Scenario(
        id="openapi-check",
        description="d",
        seed=7,
        clock=ClockSettings(start=parse_instant(T0), speed=0.0),
        apis={"luckylobster": ApiSettings(name="luckylobster", state=base)},
    )
    return Runtime(scenario, wall_time=lambda: parse_instant(T0))  # "now" for inline scenarios without a start


def _client(app: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        return TestClient(app)


class Recorder:
    """Call the app and check every answer against the document."""

    def __init__(self, document: dict[str, Any], client: Any, auth: dict[str, str] | None = None) -> None:
        self.document = document
        self.client = client
        self.auth = auth or {}
        self.statuses: list[tuple[str, str, int]] = []

    def __call__(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        expect: int | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = {**self.auth, **(headers or {})}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        response = self.client.request(method, path, headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.status_code, response.text)
        is_json = response.headers.get("content-type", "").startswith("application/json")
        body = response.json() if is_json else response.text
        assert_matches_openapi(self.document, method, path, response.status_code, body, dict(response.headers))
        self.statuses.append((method, path, response.status_code))
        return body


@pytest.fixture
def ll_live(ll: dict[str, Any]) -> Iterator[tuple[Any, Recorder]]:
    runtime = _runtime()
    from mockserver.apis.luckylobster.app import build_app

    yield runtime, Recorder(ll, _client(build_app(runtime)))


def test_live_heartbeat_ok_sleeping_and_errors(ll_live: tuple[Any, Recorder]) -> None:
    _, call = ll_live
    assert call("GET", HEARTBEAT + "?skill_version=9", key=AWAKE, expect=200)["data"]["status"] == "OK"
    assert call("GET", HEARTBEAT, key=SLEEPY, expect=200)["data"]["status"] == "SLEEPING"
    body = call("GET", HEARTBEAT, key=MS_KEY, expect=200)
    assert body["data"]["heartbeat"]["next_check_at"].endswith(".500Z")
    call("GET", HEARTBEAT + "?skill_version=nine", key=AWAKE, expect=400)
    call("GET", HEARTBEAT, expect=401)
    call("GET", HEARTBEAT, key="ll_wrong", expect=401)
    call("GET", HEARTBEAT, key=LIMITED, expect=200)
    limited = call("GET", HEARTBEAT, key=LIMITED, expect=429)
    assert limited["error"] == "Too Many Requests"
    call("GET", REDEEM, key=READ_ONLY, expect=403)
    call("POST", "/api/agent/v1/strategies/s_paused/resume", key=READ_ONLY, expect=403)
    # X-API-Key works as well as Bearer
    response = call.client.get(HEARTBEAT, headers={"X-API-Key": AWAKE})
    assert response.status_code == 200
    assert_matches_openapi(call.document, "GET", HEARTBEAT, 200, response.json(), dict(response.headers))


def test_live_every_action_type(ll_live: tuple[Any, Recorder]) -> None:
    runtime, call = ll_live
    runtime.emit("luckylobster", "settle", {"count": 2})
    runtime.emit("luckylobster", "fill", {"count": 2, "side": "SELL"})
    runtime.emit("luckylobster", "budget", {"available": 6, "limit": 100})
    runtime.emit("luckylobster", "expiring", {"count": 1, "within": "10m"})
    runtime.emit("luckylobster", "strategy", {"id": "s_err", "status": "EXECUTED"})
    runtime.emit("luckylobster", "strategy", {"id": "s_err", "status": "ERROR", "reason": "3 consecutive errors"})
    runtime.emit("luckylobster", "strategy", {"id": "s_paused", "status": "PAUSED"})
    runtime.emit("luckylobster", "strategy", {"id": "s_done", "status": "COMPLETED"})
    runtime.emit("luckylobster", "strategy", {"id": "s_gone", "status": "CANCELLED", "reason": "user"})
    runtime.apis["luckylobster"].patch({"seek_trades": True})
    body = call("GET", HEARTBEAT, key=AWAKE, expect=200)
    data = body["data"]
    assert data["status"] == "ACTION_NEEDED"
    assert {a["type"] for a in data["actions"]} == {
        "REDEEM",
        "ORDER_FILLED",
        "BUDGET_LOW",
        "POSITION_EXPIRING",
        "SEEK_TRADES",
        "STRATEGY_EXECUTED",
        "STRATEGY_ERROR",
        "STRATEGY_COMPLETED",
        "STRATEGY_PAUSED",
        "STRATEGY_CANCELLED",
    }
    assert len(data["orderActivity"]["recentFills"]) == 2
    # the one-shot notices are reported once; the standing conditions remain
    again = call("GET", HEARTBEAT, key=AWAKE, expect=200)["data"]
    standing = {"REDEEM", "BUDGET_LOW", "POSITION_EXPIRING", "SEEK_TRADES", "STRATEGY_ERROR", "STRATEGY_PAUSED"}
    assert {a["type"] for a in again["actions"]} == standing
    assert again["orderActivity"]["filledSinceLastHeartbeat"] == 0


def test_live_settlements_and_strategies(ll_live: tuple[Any, Recorder]) -> None:
    runtime, call = ll_live
    runtime.emit("luckylobster", "settle", {"count": 3})
    preview = call("GET", REDEEM, key=AWAKE, expect=200)
    assert preview["data"]["count"] == 3
    dry = call("POST", REDEEM, key=AWAKE, json={"dryRun": True, "limit": 2}, expect=200)
    assert dry["dryRun"] is True and dry["data"]["remaining"] == 1
    one = preview["data"]["positions"][0]["conditionId"]
    done = call("POST", REDEEM, key=AWAKE, json={"conditionId": one}, expect=200)
    assert [r["conditionId"] for r in done["data"]["redeemed"]] == [one]
    call("POST", REDEEM, key=AWAKE, content=b"", expect=200)
    call("POST", REDEEM, key=AWAKE, json={"limit": 0}, expect=400)
    call("POST", REDEEM, key=AWAKE, json={"minValue": -1}, expect=400)
    call("POST", REDEEM, key=AWAKE, json={"conditionIds": "0x1"}, expect=400)
    call("POST", REDEEM, key=AWAKE, content=b"{not json", expect=400)
    runtime.apis["luckylobster"].patch({"builder_api": False})
    call("POST", REDEEM, key=AWAKE, json={}, expect=501)
    runtime.apis["luckylobster"].patch({"wallet": {"address": None}})
    call("GET", REDEEM, key=AWAKE, expect=404)
    call("POST", REDEEM, key=AWAKE, json={"dryRun": True}, expect=404)
    call("POST", "/api/agent/v1/strategies/s_paused/resume", key=AWAKE, expect=200)  # already ACTIVE: a no-op
    runtime.emit("luckylobster", "strategy", {"id": "s_paused", "status": "PAUSED", "reason": "user"})
    resumed = call("POST", "/api/agent/v1/strategies/s_paused/resume", key=AWAKE, expect=200)
    assert resumed["data"]["status"] == "ACTIVE"
    call("POST", "/api/agent/v1/strategies/nope/resume", key=AWAKE, expect=404)
    runtime.emit("luckylobster", "strategy", {"id": "s_done", "status": "COMPLETED"})
    call("POST", "/api/agent/v1/strategies/s_done/resume", key=AWAKE, expect=400)


def test_live_routing_errors(ll_live: tuple[Any, Recorder]) -> None:
    _, call = ll_live
    for method, path, status in (("GET", "/api/agent/v1/nope", 404), ("POST", HEARTBEAT, 405), ("DELETE", REDEEM, 405)):
        response = call.client.request(method, path, headers={"Authorization": f"Bearer {AWAKE}"})
        assert response.status_code == status
        # not an operation of the document, but the body is the documented error envelope
        assert_matches_openapi(call.document, "GET", HEARTBEAT, status, response.json())


@pytest.fixture
def control_live(control: dict[str, Any]) -> Iterator[tuple[Any, Recorder]]:
    runtime = _runtime()
    from mockserver.control.app import build_control_app
    from mockserver.control.facade import MockControl

    urls = {
        name: f"http://127.0.0.1:{8700 + i}"
        for i, name in enumerate(("control", "aitrader", "luckylobster", "tradeready", "cryptorobot", "tradingpartners"))
    }
    app = build_control_app(MockControl(runtime, urls=lambda: dict(urls), control_token="sekrit"), token="sekrit")
    yield runtime, Recorder(control, _client(app), {"X-Mock-Token": "sekrit"})


def test_live_control_routes(control_live: tuple[Any, Recorder]) -> None:
    _, call = control_live
    for path in (
        "/_mock/health",
        "/_mock/info",
        "/_mock/scenario",
        "/_mock/scenarios",
        "/_mock/schema",
        "/_mock/clock",
        "/_mock/journal",
        "/_mock/journal?kind=scenario.&limit=5",
        "/_mock/faults",
        "/_mock/openapi.json",
        "/_mock/openapi/luckylobster.json",
    ):
        call("GET", path, expect=200)
    call("GET", "/_mock/journal.jsonl", expect=200)
    call("GET", "/_mock/journal?since=x", expect=400)
    call("GET", "/_mock/journal?limit=-1", expect=400)
    call("GET", "/_mock/openapi/nope.json", expect=404)
    call("POST", "/_mock/reset", expect=200)
    call("POST", "/_mock/clock", json={"speed": 0}, expect=200)
    call("PATCH", "/_mock/clock", json={"now": "2026-02-06T15:00:00Z"}, expect=200)
    call("POST", "/_mock/clock", json={"now": "2026-02-06T14:00:00Z"}, expect=409)
    call("POST", "/_mock/clock", json={"speed": -1}, expect=400)
    call("POST", "/_mock/clock/advance", json={"seconds": 90}, expect=200)
    call("POST", "/_mock/clock/advance", json={"duration": "1h30m"}, expect=200)
    call("POST", "/_mock/clock/advance", json={}, expect=400)
    call("POST", "/_mock/emit", json={"api": "luckylobster", "event": "fill", "data": {"side": "BUY"}}, expect=200)
    call("POST", "/_mock/emit", json={"api": "nope", "event": "fill"}, expect=404)
    call("POST", "/_mock/emit", json={"api": "luckylobster"}, expect=400)
    call("POST", "/_mock/faults", json={"id": "f1", "kind": "error", "status": 503, "duration": "5m"}, expect=201)
    call("POST", "/_mock/faults", json={"kind": "nope"}, expect=400)
    call("GET", "/_mock/faults", expect=200)
    call("GET", "/_mock/scenario", expect=200)
    call("DELETE", "/_mock/faults/f1", expect=200)
    call("DELETE", "/_mock/faults/f1", expect=404)
    call("POST", "/_mock/scenario", json={"yaml": "id: broken\n"}, expect=422)
    call("PUT", "/_mock/scenario", json={}, expect=400)
    call("POST", "/_mock/scenario", content=b"[1]", headers={"content-type": "application/json"}, expect=400)
    call("POST", "/_mock/scenario", json={"id": "no/such-scenario"}, expect=422)
    inline = b"id: inline\ndescription: from YAML\n"
    call("POST", "/_mock/scenario", content=inline, headers={"content-type": "application/yaml"}, expect=200)
    call.auth = {}
    call("GET", "/_mock/clock", expect=401)
    call("GET", "/_mock/health", expect=200)
    call("GET", "/_mock/openapi.json", expect=200)
    call.auth = {"Authorization": "Bearer sekrit"}
    call("GET", "/_mock/health", expect=200)
    response = call.client.get("/_mock/nope", headers=call.auth)
    assert response.status_code == 404
    assert_matches_openapi(call.document, "GET", "/_mock/health", 404, response.json())
