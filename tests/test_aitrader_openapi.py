"""AI-Trader over real sockets, in both profiles: every route, happy paths and every error status,
each answer validated against the profile's OpenAPI document (and the notify frames against its AsyncAPI document)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from mockserver import ThreadedMockServer
from mockserver.cli import main as cli_main
from mockserver.control.openapi import api_asyncapi, api_openapi, control_openapi
from mockserver.documents import assert_matches_openapi, find_operation, match_frame
from tests.conftest import MockFactory
from tests.documents_check import checked_make_mock

make_mock = checked_make_mock("aitrader")  # the notify frames and every response, against the documents

PROFILES = ("documented", "upstream")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ALPHA = "alpha-token-00000000"
BETA = "beta-token-000000000"
UPSTREAM_HEARTBEAT_KEYS = [
    "agent_id",
    "server_time",
    "recommended_poll_interval_seconds",
    "messages",
    "tasks",
    "message_count",
    "task_count",
    "unread_count",
    "remaining_unread_count",
    "remaining_task_count",
    "has_more_messages",
    "has_more_tasks",
]


def scenario(profile: str, options: dict[str, Any] | None = None, **state: Any) -> str:
    base: dict[str, Any] = {
        "agents": [
            {"id": 1, "name": "alpha-bot", "password": "alpha-pass", "token": ALPHA},
            {"id": 2, "name": "beta-bot", "password": "beta-pass", "token": BETA},
        ],
        "peers": 4,
        "signals": 6,
        "own_discussions": 2,
        "unread": 3,
        "pending_tasks": 2,
    }
    base.update(state)
    apis = {"aitrader": {"profile": profile, "options": options or {}, "state": base}}
    # JSON is YAML: the scenario loader takes it as is
    return json.dumps(
        {
            "id": f"test/aitrader-openapi-{profile}",
            "description": "every AI-Trader route",
            "seed": 11,
            "clock": {"start": "2026-03-09T12:00:00Z"},
            "apis": apis,
        }
    )


class Api:
    """Call the mock's AI-Trader port; check the status and validate the answer against the profile's document."""

    def __init__(self, http: httpx.Client, mock: ThreadedMockServer, profile: str) -> None:
        self.http = http
        self.mock = mock
        self.base = mock.url("aitrader")
        self.profile = profile
        self.upstream = profile == "upstream"
        self.document = api_openapi("aitrader", profile)
        self.seen: set[tuple[str, str, int]] = set()

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if self.upstream else {"X-Claw-Token": token}

    def __call__(
        self, method: str, path: str, expect: int, *, token: str | None = None, documented_as: str | None = None, **kwargs: Any
    ) -> Any:
        headers = {**(self.auth(token) if token else {}), **kwargs.pop("headers", {})}
        response = self.http.request(method, self.base + path, headers=headers, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:500]}"
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        method = documented_as or method  # a 405 is checked against the method the path does have
        assert_matches_openapi(self.document, method, path, expect, body, response.headers)
        template = find_operation(self.document, method, path).template
        self.seen.add((method.lower(), template, expect))
        return body

    def documented_statuses(self) -> set[tuple[str, str, int]]:
        return {
            (method, template, int(code))
            for template, item in self.document["paths"].items()
            for method, operation in item.items()
            if method in METHODS
            for code in operation["responses"]
            if code != "default"
        }


def schema_errors(document: dict[str, Any], pointer: str, instance: Any) -> list[str]:
    """Validate ``instance`` against the schema at ``pointer`` in ``document`` (``$ref`` resolved)."""
    uri = "urn:test:aitrader-openapi"
    registry: Registry[Any] = Registry().with_resource(uri, Resource.from_contents(document, default_specification=DRAFT202012))
    validator = Draft202012Validator({"$ref": f"{uri}#{pointer}"}, registry=registry)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(instance)]


def assert_schema(document: dict[str, Any], pointer: str, instance: Any) -> None:
    errors = schema_errors(document, pointer, instance)
    assert not errors, f"{pointer}: {errors[:5]} in {instance!r:.1000}"


# -- every route, every status ---------------------------------------------------------------------------------------


def test_every_documented_route_and_status_matches_the_document(make_mock: MockFactory, http: httpx.Client) -> None:
    api = Api(http, make_mock(yaml=scenario("documented")), "documented")
    bad_json = {"content": b"{not json", "headers": {"content-type": "application/json"}}

    # registration and login
    gamma = api(
        "POST", "/api/claw/agents/selfRegister", 200, json={"name": "gamma-bot", "password": "gamma-pass", "email": "ignored@example.com"}
    )
    assert gamma["name"] == "gamma-bot" and gamma["initial_balance"] == 100000.0
    assert api("POST", "/api/claw/agents/selfRegister", 400, json={"name": "gamma-bot", "password": "x"}) == {
        "detail": "Agent name already exists"
    }
    missing = api("POST", "/api/claw/agents/selfRegister", 422, json={"name": "delta-bot"})
    assert [(e["type"], e["loc"]) for e in missing["detail"]] == [("missing", ["body", "password"])]
    invalid = api("POST", "/api/claw/agents/selfRegister", 422, **bad_json)
    assert invalid["detail"][0]["type"] == "json_invalid"
    api("POST", "/api/claw/agents/selfRegister", 422, json=[1, 2])
    api("POST", "/api/claw/agents/selfRegister", 422, json={"name": 5, "password": "x"})
    login = api("POST", "/api/claw/agents/login", 200, json={"name": "gamma-bot", "password": "gamma-pass"})
    assert login["agent_id"] == gamma["agent_id"] and login["token"] == gamma["token"]
    gamma_token = login["token"]
    assert api("POST", "/api/claw/agents/login", 401, json={"name": "gamma-bot", "password": "nope"}) == {"detail": "Invalid credentials"}
    api("POST", "/api/claw/agents/login", 422, json={"name": "gamma-bot"})
    api("POST", "/api/claw/agents/login", 422, **bad_json)

    # me
    me = api("GET", "/api/claw/agents/me", 200, token=gamma_token)
    assert (me["id"], me["name"], me["token"]) == (gamma["agent_id"], "gamma-bot", gamma_token)
    assert api("GET", "/api/claw/agents/me", 401) == {"detail": "Invalid token"}
    assert api("GET", "/api/claw/agents/me", 401, token="wrong-token") == {"detail": "Invalid token"}

    # heartbeat
    beat = api("POST", "/api/claw/agents/heartbeat", 200, token=ALPHA, json={"agent_id": 1, "status": "alive"})
    assert len(beat["messages"]) == 3 and len(beat["tasks"]) == 2
    api("POST", "/api/claw/agents/heartbeat", 401, token="wrong-token", json={"agent_id": 1, "status": "alive"})
    again = api("POST", "/api/claw/agents/heartbeat", 200, token=ALPHA, json={"status": "alive", "capabilities": ["trading-signals"]})
    assert again == {"messages": [], "tasks": []}  # each handed out once
    mismatch = api("POST", "/api/claw/agents/heartbeat", 403, token=ALPHA, json={"agent_id": 2, "status": "alive"})
    assert mismatch == {"detail": "agent_id does not match the token"}
    api("POST", "/api/claw/agents/heartbeat", 422, token=ALPHA, **bad_json)
    api("POST", "/api/claw/agents/heartbeat", 422, token=ALPHA, json=["alive"])
    api("POST", "/api/claw/agents/heartbeat", 200, token=ALPHA)  # no body at all

    # messages and tasks
    sent = api(
        "POST", "/api/claw/messages", 200, token=ALPHA, json={"agent_id": 2, "type": "discussion_reply", "content": "hi", "data": {"k": 1}}
    )
    api("POST", "/api/claw/messages", 200, token=ALPHA, json={"agent_id": 2, "type": "custom_note", "content": "no data"})
    assert sent["success"] is True
    api("POST", "/api/claw/messages", 422, token=ALPHA, json={"agent_id": 2, "type": "x"})
    api("POST", "/api/claw/messages", 422, token=ALPHA, json={"agent_id": "two", "type": "x", "content": "y"})
    api("POST", "/api/claw/messages", 422, token=ALPHA, **bad_json)
    api("POST", "/api/claw/messages", 401, json={"agent_id": 2, "type": "x", "content": "y"})
    api("POST", "/api/claw/tasks", 200, token=ALPHA, json={"agent_id": 2, "type": "analyze_market", "input_data": {"symbol": "NVDA"}})
    api("POST", "/api/claw/tasks", 200, token=ALPHA, json={"agent_id": 2, "type": "rebalance"})
    api("POST", "/api/claw/tasks", 422, token=ALPHA, json={"type": "x"})
    api("POST", "/api/claw/tasks", 422, token=ALPHA, **bad_json)
    api("POST", "/api/claw/tasks", 401, token="wrong-token", json={"agent_id": 2, "type": "x"})
    beta_beat = api("POST", "/api/claw/agents/heartbeat", 200, token=BETA)
    assert [t["type"] for t in beta_beat["tasks"]][-2:] == ["analyze_market", "rebalance"]

    # the inbox
    api("POST", "/api/claw/messages", 200, token=ALPHA, json={"agent_id": 2, "type": "strategy_mention", "content": "@beta-bot"})
    summary = api("GET", "/api/claw/messages/unread-summary", 200, token=BETA)
    assert summary["strategy_unread"] == 1 and summary["by_type"] == {"strategy_mention": 1}
    api("GET", "/api/claw/messages/unread-summary", 401)
    recent = api("GET", "/api/claw/messages/recent?limit=2", 200, token=BETA)
    assert [m["type"] for m in recent["messages"]] == ["strategy_mention", "custom_note"]
    api("GET", "/api/claw/messages/recent?category=discussion&limit=500", 200, token=BETA)
    parsing = api("GET", "/api/claw/messages/recent?limit=many", 422, token=BETA)
    assert parsing["detail"][0]["loc"] == ["query", "limit"]
    api("GET", "/api/claw/messages/recent", 401, token="wrong-token")
    assert api("POST", "/api/claw/messages/mark-read", 200, token=BETA, json={"categories": ["strategy"]})["updated"] == 1
    api("POST", "/api/claw/messages/mark-read", 422, token=BETA, json={"categories": "strategy"})
    api("POST", "/api/claw/messages/mark-read", 422, token=BETA, **bad_json)
    api("POST", "/api/claw/messages/mark-read", 401, json={"categories": []})

    # signals: the feed, replies, discussions, follows, acceptance
    feed = api("GET", "/api/signals/feed", 200)
    assert feed["total"] >= 8 and not feed["has_more"]
    api("GET", "/api/signals/feed?sort=following&limit=3", 200, token=ALPHA)
    api("GET", "/api/signals/feed?sort=active&message_type=discussion&keyword=a&offset=1", 200, token="wrong-token")
    api("GET", "/api/signals/feed?limit=ten", 422)
    api("GET", "/api/signals/feed?offset=x", 422)
    some = feed["signals"][0]["id"]
    api("GET", f"/api/signals/{some}/replies", 200)
    assert api("GET", "/api/signals/9999/replies", 404) == {"detail": "Signal not found"}

    posted = api(
        "POST",
        "/api/signals/discussion",
        200,
        token=ALPHA,
        json={"title": "BTC breakout?", "content": "Watching 70k.", "market": "crypto", "symbol": "BTC/USD"},
    )
    signal = posted["signal_id"]
    api("POST", "/api/signals/discussion", 422, token=ALPHA, json={"title": "no content"})
    api("POST", "/api/signals/discussion", 422, token=ALPHA, **bad_json)
    api("POST", "/api/signals/discussion", 401, json={"title": "t", "content": "c"})
    reply = api("POST", "/api/signals/reply", 200, token=BETA, json={"signal_id": signal, "content": "Agreed, @gamma-bot?"})
    assert api("POST", "/api/signals/reply", 404, token=BETA, json={"signal_id": 9999, "content": "?"}) == {"detail": "Signal not found"}
    api("POST", "/api/signals/reply", 422, token=BETA, json={"signal_id": "one", "content": "?"})
    api("POST", "/api/signals/reply", 422, token=BETA, **bad_json)
    api("POST", "/api/signals/reply", 401, json={"signal_id": signal, "content": "?"})
    replies = api("GET", f"/api/signals/{signal}/replies", 200)["replies"]
    assert [(r["id"], r["agent_name"], r["accepted"]) for r in replies] == [(reply["reply_id"], "beta-bot", 0)]

    assert api("POST", "/api/signals/follow", 200, token=BETA, json={"leader_id": 1}) == {"success": True, "leader_id": 1}
    assert api("POST", "/api/signals/follow", 400, token=BETA, json={"leader_id": 2}) == {"detail": "Cannot follow yourself"}
    assert api("POST", "/api/signals/follow", 404, token=BETA, json={"leader_id": 9999}) == {"detail": "Agent not found"}
    api("POST", "/api/signals/follow", 422, token=BETA, json={})
    api("POST", "/api/signals/follow", 422, token=BETA, **bad_json)
    api("POST", "/api/signals/follow", 401, json={"leader_id": 1})

    accept = f"/api/signals/{signal}/replies/{reply['reply_id']}/accept"
    assert api("POST", accept, 403, token=BETA) == {"detail": "Only the original author can accept a reply"}
    assert api("POST", accept, 200, token=ALPHA) == {"success": True, "reply_id": reply["reply_id"], "accepted": True}
    assert api("POST", f"/api/signals/9999/replies/{reply['reply_id']}/accept", 404, token=ALPHA) == {"detail": "Signal not found"}
    assert api("POST", f"/api/signals/{signal}/replies/9999/accept", 404, token=ALPHA) == {"detail": "Reply not found"}
    api("POST", accept, 401, token="wrong-token")
    assert api("GET", f"/api/signals/{signal}/replies", 200)["replies"][0]["accepted"] == 1

    # the seed's discussion routes
    mine = api("GET", "/api/signals/my/discussions", 200, token=ALPHA)
    assert signal in [d["id"] for d in mine["discussions"]] and mine["total"] == 3
    assert api("GET", "/api/signals/my/discussions?keyword=70k", 200, token=ALPHA)["total"] == 1
    api("GET", "/api/signals/my/discussions", 401)
    fresh = api("GET", "/api/signals/my/discussions/with-new-replies?since=2026-03-09T11:59:00Z", 200, token=ALPHA)
    assert [(d["id"], d["new_reply_count"]) for d in fresh["discussions"]] == [(signal, 1)]
    api("GET", "/api/signals/my/discussions/with-new-replies", 200, token=ALPHA)
    bad_since = api("GET", "/api/signals/my/discussions/with-new-replies?since=yesterday", 422, token=ALPHA)
    assert bad_since == {"detail": "since must be an ISO 8601 date-time, got 'yesterday'"}
    api("GET", "/api/signals/my/discussions/with-new-replies", 401, token="wrong-token")

    # 405 on every path: a method the path does not have
    for template, item in api.document["paths"].items():
        method = next(m for m in METHODS if m in item)
        concrete = template.replace("{signal_id}", str(signal)).replace("{reply_id}", str(reply["reply_id"]))
        body = api("DELETE", concrete, 405, token=ALPHA, documented_as=method)
        assert body == {"detail": "Method Not Allowed"}

    missing_statuses = api.documented_statuses() - api.seen
    assert not missing_statuses, f"documented but never exercised: {sorted(missing_statuses)}"


def test_unknown_routes(make_mock: MockFactory, http: httpx.Client) -> None:
    """Documented profile: not operations of the document; the bodies are still its documented shapes (upstream:
    tests/test_aitrader_upstream.py, where the server's SPA fallback answers)."""
    api = Api(http, make_mock(yaml=scenario("documented")), "documented")
    nope = api.http.get(api.base + "/api/nope")
    post = api.http.post(api.base + "/api/nope", json={})
    not_int = api.http.get(api.base + "/api/signals/abc/replies")
    assert (post.status_code, post.json()) == (404, {"detail": "Not Found"})
    assert_matches_openapi(api.document, "GET", "/api/signals/1/replies", 404, post.json())
    assert (nope.status_code, nope.json()) == (404, {"detail": "Not Found"})
    assert (not_int.status_code, not_int.json()) == (404, {"detail": "Not Found"})


def test_injected_fault_bodies_match_the_default_response(make_mock: MockFactory, http: httpx.Client) -> None:
    for profile in PROFILES:
        mock = make_mock(yaml=scenario(profile))
        control = mock.url("control") + "/_mock/faults"
        assert http.post(control, json={"kind": "rate_limit", "api": "aitrader", "window": "1m", "times": 1}).status_code == 201
        response = http.post(mock.url("aitrader") + "/api/claw/agents/heartbeat", headers={"Authorization": f"Bearer {ALPHA}"})
        assert (response.status_code, response.json()) == (429, {"detail": "Too Many Requests"})
        assert_matches_openapi(
            api_openapi("aitrader", profile), "POST", "/api/claw/agents/heartbeat", 429, response.json(), response.headers
        )
        assert http.post(control, json={"kind": "error", "api": "aitrader", "status": 503}).status_code == 201
        response = http.get(mock.url("aitrader") + "/api/signals/feed")
        assert (response.status_code, response.json()) == (503, {"detail": "Service Unavailable"})
        assert_matches_openapi(api_openapi("aitrader", profile), "GET", "/api/signals/feed", 503, response.json(), response.headers)


# -- the heartbeat variants ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "keys"),
    [
        (None, ["messages", "tasks"]),
        ("minimal", ["messages", "tasks"]),
        ("extended", ["status", "agent_status", "heartbeat_interval_ms", "messages", "tasks", "server_time"]),
    ],
)
def test_documented_heartbeat_variants(make_mock: MockFactory, http: httpx.Client, variant: str | None, keys: list[str]) -> None:
    mock = make_mock(yaml=scenario("documented", {"heartbeat_variant": variant} if variant else {}))
    document = api_openapi("aitrader", "documented")
    response = http.post(
        mock.url("aitrader") + "/api/claw/agents/heartbeat", headers={"X-Claw-Token": ALPHA}, json={"agent_id": 1, "status": "alive"}
    )
    body = response.json()
    assert response.status_code == 200 and list(body) == keys
    assert_matches_openapi(document, "POST", "/api/claw/agents/heartbeat", 200, body)
    assert len(body["messages"]) == 3 and len(body["tasks"]) == 2
    branch = "HeartbeatExtended" if variant == "extended" else "HeartbeatMinimal"
    other = "HeartbeatMinimal" if variant == "extended" else "HeartbeatExtended"
    assert_schema(document, f"/components/schemas/{branch}", body)
    assert schema_errors(document, f"/components/schemas/{other}", body)
    if variant == "extended":
        assert body["server_time"] == "2026-03-09T12:00:00Z"
        assert (body["status"], body["agent_status"], body["heartbeat_interval_ms"]) == ("ok", "online", 300000)
    # the bearer header works too
    assert http.post(mock.url("aitrader") + "/api/claw/agents/heartbeat", headers={"Authorization": f"Bearer {ALPHA}"}).status_code == 200


@pytest.mark.parametrize("created_at_format", ["sqlite", "iso"])
def test_upstream_heartbeat_has_the_twelve_keys(make_mock: MockFactory, http: httpx.Client, created_at_format: str) -> None:
    mock = make_mock(yaml=scenario("upstream", {"created_at_format": created_at_format, "message_limit": 2}))
    document = api_openapi("aitrader", "upstream")
    url = mock.url("aitrader") + "/api/claw/agents/heartbeat"
    # the seed's header alone is refused
    refused = http.post(url, headers={"X-Claw-Token": ALPHA}, json={"agent_id": 1, "status": "alive"})
    assert (refused.status_code, refused.json()) == (401, {"detail": "Invalid token"})
    assert_matches_openapi(document, "POST", "/api/claw/agents/heartbeat", 401, refused.json())
    first = http.post(url, headers={"Authorization": f"Bearer {ALPHA}"}).json()
    assert list(first) == UPSTREAM_HEARTBEAT_KEYS
    assert_matches_openapi(document, "POST", "/api/claw/agents/heartbeat", 200, first)
    assert (first["message_count"], first["unread_count"], first["remaining_unread_count"], first["has_more_messages"]) == (2, 2, 1, True)
    assert first["server_time"] == "2026-03-09T12:00:00Z" and first["recommended_poll_interval_seconds"] == 30
    stamp = first["messages"][0]["created_at"]
    assert stamp == ("2026-03-09 12:00:00" if created_at_format == "sqlite" else "2026-03-09T12:00:00.000000Z")
    # a bare token in Authorization works as well
    second = http.post(url, headers={"Authorization": ALPHA}).json()
    assert list(second) == UPSTREAM_HEARTBEAT_KEYS
    assert_matches_openapi(document, "POST", "/api/claw/agents/heartbeat", 200, second)
    assert (second["message_count"], second["remaining_unread_count"], second["has_more_messages"], second["task_count"]) == (
        1,
        0,
        False,
        2,
    )


# -- the notify WebSocket --------------------------------------------------------------------------------------------------


def _frames(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    frames = []
    for _ in range(count):
        raw = ws.recv(timeout=5)
        frames.append(json.loads(raw))
    return frames


def test_notify_frames_and_rows_match_x_websocket(make_mock: MockFactory, http: httpx.Client) -> None:
    """Documented profile (upstream: the nine types, each from its action, in tests/test_aitrader_upstream.py)."""
    mock = make_mock(yaml=scenario("documented", unread=0, pending_tasks=0))
    api = Api(http, mock, "documented")
    ws_base = mock.url("aitrader").replace("http://", "ws://") + "/ws/notify/"
    with connect(ws_base + "agent_1") as alpha, connect(ws_base + "beta-bot") as beta:
        _notify(api, mock, alpha, beta)


def _notify(api: Api, mock: ThreadedMockServer, alpha: ClientConnection, beta: ClientConnection) -> None:
    """Notifications of every kind the mock makes itself, by the WebSocket and by the heartbeat, against the document."""
    document = api.document
    alpha.send(json.dumps({"token": ALPHA}))  # read and discarded
    api("POST", "/api/signals/follow", 200, token=BETA, json={"leader_id": 1})
    signal = api("POST", "/api/signals/discussion", 200, token=ALPHA, json={"title": "ETH", "content": "Range."})["signal_id"]
    reply = api("POST", "/api/signals/reply", 200, token=BETA, json={"signal_id": signal, "content": "Nice"})["reply_id"]
    api("POST", f"/api/signals/{signal}/replies/{reply}/accept", 200, token=ALPHA)
    mock.emit("aitrader", "trade_copied", {"agent": 1})
    mock.emit("aitrader", "signal", {"agent": 1, "message_type": "strategy"})
    to_alpha, to_beta = _frames(alpha, 4), _frames(beta, 2)
    expected = (["new_follower", "new_reply", "trade_copied", "signal"], ["signal", "new_reply"])
    assert ([f["type"] for f in to_alpha], [f["type"] for f in to_beta]) == expected
    frames = api_asyncapi("aitrader", api.profile)
    for frame in to_alpha + to_beta:
        assert match_frame(frames, "send", frame) == frame["type"]  # each type its own message in the AsyncAPI document
        if api.upstream:
            assert list(frame) == ["type", "content", "data"]
            assert_schema(document, f"/x-message-types/{frame['type']}/data", frame["data"])
    # the same notifications through the heartbeat: rows and their data per type
    for token in (ALPHA, BETA):
        rows = api("POST", "/api/claw/agents/heartbeat", 200, token=token)["messages"]
        assert len(rows) == (4 if token == ALPHA else 2)
        for row in rows:
            assert_schema(document, f"/x-message-types/{row['type']}/data", row["data"])


def test_upstream_notify_refuses_a_non_integer_client_id(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=scenario("upstream"))
    assert "(clients report 1006)" in api_asyncapi("aitrader", "upstream")["info"]["description"]
    with connect(mock.url("aitrader").replace("http://", "ws://") + "/ws/notify/agent_1") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is None  # accepted, then the connection ends without a close frame (1006)
    with connect(mock.url("aitrader").replace("http://", "ws://") + "/ws/notify/1") as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.2)  # a numeric id stays open


# -- the control API and the CLI serve the profile's document ---------------------------------------------------------------------


def _control_get(http: httpx.Client, mock: ThreadedMockServer, path: str, expect: int) -> Any:
    response = http.get(mock.url("control") + "/_mock/openapi" + path)
    assert response.status_code == expect, response.text
    assert_matches_openapi(control_openapi(), "GET", "/_mock/openapi" + path.split("?")[0], expect, response.json())
    return response.json()


def test_control_serves_the_active_profile_document(make_mock: MockFactory, http: httpx.Client) -> None:
    for profile in PROFILES:
        mock = make_mock(yaml=scenario(profile))

        def get(path: str, expect: int, mock: ThreadedMockServer = mock) -> Any:
            return _control_get(http, mock, path, expect)

        assert get("/aitrader.json", 200) == api_openapi("aitrader", profile)
        for other in PROFILES:
            assert get(f"/aitrader.json?profile={other}", 200) == api_openapi("aitrader", other)
        assert "no profile 'nope'" in get("/aitrader.json?profile=nope", 400)["error"]
        assert get("/luckylobster.json", 200) == api_openapi("luckylobster")
        get("/luckylobster.json?profile=upstream", 400)
        get("/nosuch.json?profile=upstream", 404)


def test_cli_openapi_profile(capsys: pytest.CaptureFixture[str]) -> None:
    for profile in PROFILES:
        assert cli_main(["openapi", "aitrader", "--profile", profile]) == 0
        assert json.loads(capsys.readouterr().out) == api_openapi("aitrader", profile)
    assert cli_main(["openapi", "aitrader"]) == 0
    assert json.loads(capsys.readouterr().out)["info"]["title"].startswith("AI-Trader, documented")
    assert cli_main(["openapi", "luckylobster"]) == 0
    assert json.loads(capsys.readouterr().out) == api_openapi("luckylobster")
    for argv in (["openapi", "luckylobster", "--profile", "upstream"], ["openapi", "control", "--profile", "upstream"]):
        with pytest.raises(SystemExit) as exited:
            cli_main(argv)
        assert "profile" in str(exited.value.code)
