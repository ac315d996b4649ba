"""AI-Trader's upstream profile over real sockets: every route and status against its document, the nine
notification types each from the action that makes it on the public server (to the right agents, on the
heartbeat and the notify WebSocket, in order), the server's middlewares, routing and socket registry.

The differential replay (test_aitrader_differential.py) checks the same against the real server's answers;
these tests name each behaviour so that a failure says which one broke.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from mockserver import ThreadedMockServer
from mockserver.apis.aitrader.schema import UPSTREAM_TYPES
from tests.conftest import MockFactory
from tests.test_aitrader_openapi import ALPHA, BETA, METHODS, Api, assert_schema, scenario

SPA = {"message": "AI-Trader API"}
FRESH = """
id: t/aitrader-upstream
description: a fresh upstream server
seed: 5
clock: {start: "2026-03-09T12:00:00Z"}
apis: {aitrader: {profile: upstream, state: {agents: [], peers: 0, signals: 0, own_discussions: 0}}}
"""


def _socket(mock: ThreadedMockServer, client_id: object) -> Any:
    return connect(mock.url("aitrader").replace("http://", "ws://") + f"/ws/notify/{client_id}")


def _drain(socket: ClientConnection, quiet: float = 0.3) -> list[dict[str, Any]]:
    frames = []
    try:
        while True:
            frames.append(json.loads(socket.recv(timeout=quiet)))
    except TimeoutError:
        return frames


def test_every_upstream_route_and_status_matches_the_document(make_mock: MockFactory, http: httpx.Client) -> None:
    api = Api(http, make_mock(yaml=scenario("upstream")), "upstream")
    bad_json = {"content": b"{not json", "headers": {"content-type": "application/json"}}

    # the service
    assert api("GET", "/health", 200) == {"status": "ok", "timestamp": "2026-03-09T12:00:00Z"}
    assert api("GET", "/", 200) == SPA
    assert api("GET", "/api/signals/my/discussions?keyword=BTC", 200, token=ALPHA) == SPA  # the seed's route: never on the server
    on_post_route = http.get(api.base + "/api/claw/agents/heartbeat")  # a GET on a POST-only route: the SPA fallback too
    assert (on_post_route.status_code, on_post_route.json()) == (200, SPA)
    assert api("GET", "/openapi.json", 200) == json.loads(json.dumps(api.document))
    asset = http.get(api.base + "/assets/index.js")
    assert (asset.status_code, asset.content, asset.headers.get("content-type")) == (404, b"", None)
    api.seen.add(("get", "/assets/{file}", 404))

    # registration and login
    gamma = api("POST", "/api/claw/agents/selfRegister", 200, json={"name": "gamma-bot", "password": "gamma-pass", "initial_balance": 5000})
    assert gamma["initial_balance"] == 5000.0 and isinstance(gamma["initial_balance"], float)
    assert api("POST", "/api/claw/agents/selfRegister", 400, json={"name": "gamma-bot", "password": "x"}) == {
        "detail": "Agent name already exists"
    }
    missing = api("POST", "/api/claw/agents/selfRegister", 422, json={"name": "delta-bot"})
    assert missing["detail"] == [{"type": "missing", "loc": ["body", "password"], "msg": "Field required", "input": {"name": "delta-bot"}}]
    invalid = api("POST", "/api/claw/agents/selfRegister", 422, **bad_json)
    assert invalid["detail"] == [
        {
            "type": "json_invalid",
            "loc": ["body", 1],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": "Expecting property name enclosed in double quotes"},
        }
    ]
    plain = api("POST", "/api/claw/agents/selfRegister", 422, content=b'{"name": "x"}', headers={"content-type": "text/plain"})
    assert plain["detail"][0]["type"] == "model_attributes_type"  # not declared JSON: the text is the input
    wallet = {"name": "wallet-bot", "password": "w", "wallet_address": "0xAB" + "c" * 38}
    assert api("POST", "/api/claw/agents/selfRegister", 200, json=wallet)["initial_balance"] == 100000.0
    login = api("POST", "/api/claw/agents/login", 200, json={"name": " gamma-bot ", "password": "gamma-pass"})
    assert login["agent_id"] == gamma["agent_id"] and login["token"] != gamma["token"]  # the name is trimmed, the token rotated
    assert api("GET", "/api/claw/agents/me", 401, token=gamma["token"]) == {"detail": "Invalid token"}
    assert api("POST", "/api/claw/agents/login", 401, json={"name": "gamma-bot", "password": "nope"}) == {"detail": "Invalid credentials"}
    api("POST", "/api/claw/agents/login", 422, json={"name": "gamma-bot"})
    gamma_token = login["token"]

    # me, points, count
    me = api("GET", "/api/claw/agents/me", 200, token=gamma_token)
    assert me == {
        "id": gamma["agent_id"],
        "name": "gamma-bot",
        "token": gamma_token,
        "wallet_address": "",
        "points": 0,
        "cash": 5000.0,
        "reputation_score": 0,
    }
    wallet_me = api("POST", "/api/claw/agents/login", 200, json={"name": "wallet-bot", "password": "w"})["token"]
    assert api("GET", "/api/claw/agents/me", 200, token=wallet_me)["wallet_address"] == "0xab" + "c" * 38
    assert api("GET", "/api/claw/agents/me/points", 200, token=gamma_token) == {"points": 0}
    api("GET", "/api/claw/agents/me/points", 401)
    assert api("GET", "/api/claw/agents/count", 200) == {"count": 8}  # two under test, four peers, two registered

    # heartbeat: the body is never read
    beat = api("POST", "/api/claw/agents/heartbeat", 200, token=ALPHA, **bad_json)
    assert len(beat["messages"]) == 3 and len(beat["tasks"]) == 2
    api("POST", "/api/claw/agents/heartbeat", 401, token="wrong-token", json={"agent_id": 1})

    # messages, tasks, the inbox
    sent = api(
        "POST", "/api/claw/messages", 200, token=ALPHA, json={"agent_id": 2, "type": "strategy_mention", "content": "hi", "data": {}}
    )
    api("POST", "/api/claw/messages", 422, token=ALPHA, json={"agent_id": "two", "type": "x"})
    no_token = api("POST", "/api/claw/messages", 422, json={"agent_id": 2})  # validation comes before the token
    assert [e["loc"] for e in no_token["detail"]] == [["body", "type"], ["body", "content"]]
    api("POST", "/api/claw/messages", 401, json={"agent_id": 2, "type": "x", "content": "y"})
    api("POST", "/api/claw/tasks", 200, token=ALPHA, json={"agent_id": 2, "type": "analyze", "input_data": {}})
    api("POST", "/api/claw/tasks", 422, token=ALPHA, json={"type": "x"})
    api("POST", "/api/claw/tasks", 401, token="wrong-token", json={"agent_id": 2, "type": "x"})
    summary = api("GET", "/api/claw/messages/unread-summary", 200, token=BETA)
    assert summary["strategy_unread"] == 1 and summary["by_type"]["strategy_mention"] == 1
    api("GET", "/api/claw/messages/unread-summary", 401)
    recent = api("GET", "/api/claw/messages/recent?category=nonsense&limit=0", 200, token=BETA)["messages"]
    assert [(m["id"], m["data"], m["read"]) for m in recent] == [(sent["message_id"], None, 0)]  # {} is stored as null
    assert api("GET", "/api/claw/messages/recent?limit=many", 422)["detail"][0]["loc"] == ["query", "limit"]
    api("GET", "/api/claw/messages/recent", 401, token="wrong-token")
    assert api("POST", "/api/claw/messages/mark-read", 200, token=BETA, json={"categories": ["strategy", "nope"]})["updated"] == 1
    api("POST", "/api/claw/messages/mark-read", 422, token=BETA, json={"categories": "strategy"})
    api("POST", "/api/claw/messages/mark-read", 401, json={"categories": []})
    beta_beat = api("POST", "/api/claw/agents/heartbeat", 200, token=BETA)
    assert beta_beat["tasks"][-1]["input_data"] is None

    # posts, replies, acceptance
    discussion = {"market": "crypto", "symbol": "BTC", "title": "BTC breakout?", "content": "Watching 70k."}
    posted = api("POST", "/api/signals/discussion", 200, token=ALPHA, json=discussion)
    assert posted["points_earned"] == 4
    signal = posted["signal_id"]
    limited = api("POST", "/api/signals/discussion", 429, token=ALPHA, json={**discussion, "title": "Another"})
    assert limited == {"detail": "Too many discussion posts. Try again in 60s."}
    api("POST", "/api/signals/discussion", 422, token=ALPHA, json={"title": "no market", "content": "c"})
    api("POST", "/api/signals/discussion", 401, json=discussion)
    strategy = {"market": "us-stock", "title": "Momentum", "content": "Long leaders.", "symbols": "NVDA,AAPL"}
    for _ in range(2):  # no rate limit on strategies
        assert api("POST", "/api/signals/strategy", 200, token=ALPHA, json=strategy)["points_earned"] == 10
    api("POST", "/api/signals/strategy", 422, token=ALPHA, json={})
    api("POST", "/api/signals/strategy", 401, json=strategy)
    assert api("POST", "/api/signals/reply", 200, token=BETA, json={"signal_id": signal, "content": "Agreed"}) == {
        "success": True,
        "points_earned": 2,
    }
    assert api("POST", "/api/signals/reply", 429, token=BETA, json={"signal_id": signal, "content": "More"})["detail"].endswith("in 20s.")
    assert api("POST", "/api/signals/reply", 404, token=ALPHA, json={"signal_id": 9999, "content": "?"}) == {"detail": "Signal not found"}
    api("POST", "/api/signals/reply", 422, token=BETA, json={"signal_id": "one", "content": "?"})
    api("POST", "/api/signals/reply", 401, json={"signal_id": signal, "content": "?"})
    replies = api("GET", f"/api/signals/{signal}/replies", 200)["replies"]
    assert [(r["agent_name"], r["accepted"]) for r in replies] == [("beta-bot", 0)]
    assert api("GET", "/api/signals/9999/replies", 200) == {"replies": []}
    api("GET", "/api/signals/abc/replies", 422)
    accept = f"/api/signals/{signal}/replies/{replies[0]['id']}/accept"
    assert api("POST", accept, 403, token=BETA) == {"detail": "Only the original author can accept a reply"}
    assert api("POST", accept, 200, token=ALPHA) == {"success": True, "reply_id": replies[0]["id"], "points_earned": 3}
    assert api("POST", f"/api/signals/9999/replies/{replies[0]['id']}/accept", 404, token=ALPHA) == {"detail": "Reply not found"}
    api("POST", f"/api/signals/{signal}/replies/x/accept", 422)
    api("POST", accept, 401, token="wrong-token")

    # the feed and an agent's signals
    feed = api("GET", "/api/signals/feed?sort=following", 200, token=ALPHA)["signals"]
    # by activity, compared as the server's text: every post of the day without replies ("2026-03-09T...Z") sorts
    # above the one replied to at noon ("2026-03-09 12:00:00")
    replied = next(i for i, s in enumerate(feed) if s["signal_id"] == signal)
    assert (feed[replied]["last_reply_at"], feed[replied]["participant_count"]) == ("2026-03-09 12:00:00", 2)
    assert [s["reply_count"] for s in feed[:replied]] == [0] * replied and replied >= 2
    api("GET", "/api/signals/feed?sort=active&message_type=discussion&keyword=b_eak%25&offset=1", 200, token="wrong-token")
    api("GET", "/api/signals/feed?limit=ten&offset=x", 422)
    mine = api("GET", "/api/signals/1?message_type=strategy", 200)["signals"]
    assert [(s["symbols"], s["symbol"], s["tags"]) for s in mine] == [(["NVDA", "AAPL"], None, None)] * 2
    assert api("GET", "/api/signals/my", 422)["detail"][0]["loc"] == ["path", "agent_id"]
    on_post_route = http.get(api.base + "/api/signals/reply")  # GET /api/signals/{agent_id} takes it before the fallback
    assert (on_post_route.status_code, on_post_route.json()["detail"][0]["input"]) == (422, "reply")

    # follows
    assert api("POST", "/api/signals/follow", 200, token=ALPHA, json={"leader_id": 9999}) == {"success": True, "message": "Following"}
    assert api("POST", "/api/signals/follow", 200, token=ALPHA, json={"leader_id": "9999"}) == {"message": "Already following"}
    assert api("POST", "/api/signals/follow", 400, token=BETA, json={"leader_id": 2}) == {"detail": "Cannot follow yourself"}
    api("POST", "/api/signals/follow", 422, token=BETA, json={})
    api("POST", "/api/signals/follow", 401, json={"leader_id": 1})
    following = api("GET", "/api/signals/following?limit=0", 200, token=ALPHA)
    assert following["limit"] == 1 and following["total"] == 2 and following["has_more"]  # 9999 counts, is not listed
    api("GET", "/api/signals/following?offset=x", 422, token=ALPHA)
    api("GET", "/api/signals/following", 401)
    assert api("GET", "/api/signals/subscribers", 200, token=ALPHA)["subscribers"]
    api("GET", "/api/signals/subscribers", 401)
    assert api("POST", "/api/signals/unfollow", 200, token=ALPHA, json={"leader_id": 9999}) == {"success": True}
    api("POST", "/api/signals/unfollow", 422, token=ALPHA, json=[])
    api("POST", "/api/signals/unfollow", 401, json={"leader_id": 1})

    # 405: the first route with the path names its methods
    for template, item in api.document["paths"].items():
        method = next(m for m in METHODS if m in item)
        concrete = template.replace("{signal_id}", str(signal)).replace("{reply_id}", "1").replace("{file}", "a.js")
        concrete = concrete.replace("{agent_id}", "1").replace("{path}", "no/such/path")
        response = http.request("DELETE", api.base + concrete)
        assert (response.status_code, response.json()) == (405, {"detail": "Method Not Allowed"}), concrete
        api.seen.add((method, template, 405))
    assert http.put(api.base + "/api/signals/reply").headers["allow"] == "GET"  # GET /api/signals/{agent_id} comes first
    assert http.head(api.base + "/health").status_code == 405  # no implicit HEAD

    missing_statuses = api.documented_statuses() - api.seen
    assert not missing_statuses, f"documented but never exercised: {sorted(missing_statuses)}"


def test_routes_not_served_say_why(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock(yaml=scenario("upstream"))
    listed = Api(http, mock, "upstream").document["x-not-served"]["routes"]
    for route in listed:
        path = route["path"].replace("{symbol}", "AAPL").replace("{agent_id}", "1").replace("{skill_name}", "heartbeat")
        response = http.request(route["method"], mock.url("aitrader") + path, headers={"Authorization": f"Bearer {ALPHA}"})
        assert response.status_code == 501, path
        assert response.json() == {"detail": f"Not served by agentfeed-mock's upstream profile: {route['reason']}"}


def test_the_server_middlewares_headers_and_cors(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock(yaml=scenario("upstream", {"cors_origins": ["https://app.example"]}))
    base = mock.url("aitrader")
    plain = http.get(base + "/health")
    assert float(plain.headers["x-process-time"]) == 0.0  # virtual seconds: the manual clock stood still
    assert plain.headers["vary"] == "Origin" and "access-control-allow-origin" not in plain.headers
    allowed = http.get(base + "/api/signals/feed", headers={"Origin": "https://app.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    preflight = http.options(
        base + "/api/claw/agents/heartbeat", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    )
    assert (preflight.status_code, preflight.text) == (200, "OK") and "x-process-time" in preflight.headers
    refused = http.options(
        base + "/api/claw/agents/heartbeat", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"}
    )
    assert (refused.status_code, refused.text) == (400, "Disallowed CORS origin")


def _actions(api: Api, tokens: dict[str, str], ids: dict[str, int]) -> list[tuple[str, str]]:
    """Every action that notifies, as a new user's agents do it; (recipient, type) in the order they are told."""
    post = {"market": "crypto", "symbol": "ETH", "title": "ETH range", "content": "Range."}
    api("POST", "/api/signals/follow", 200, token=tokens["bob"], json={"leader_id": ids["alice"]})
    api("POST", "/api/signals/follow", 200, token=tokens["carol"], json={"leader_id": ids["alice"]})
    discussion = api("POST", "/api/signals/discussion", 200, token=tokens["alice"], json=post)["signal_id"]
    strategy_body = {"market": "crypto", "title": "Grid", "content": "Grid bot."}
    strategy = api("POST", "/api/signals/strategy", 200, token=tokens["alice"], json=strategy_body)["signal_id"]
    api("POST", "/api/signals/reply", 200, token=tokens["bob"], json={"signal_id": discussion, "content": "Nice @dave"})
    api("POST", "/api/signals/reply", 200, token=tokens["carol"], json={"signal_id": discussion, "content": "+1 @BOB"})
    api("POST", "/api/signals/reply", 200, token=tokens["dave"], json={"signal_id": strategy, "content": "Backtest? @carol"})
    bob_reply = api("GET", f"/api/signals/{discussion}/replies", 200)["replies"][0]["id"]
    dave_reply = api("GET", f"/api/signals/{strategy}/replies", 200)["replies"][0]["id"]
    api("POST", f"/api/signals/{discussion}/replies/{bob_reply}/accept", 200, token=tokens["alice"])
    api("POST", f"/api/signals/{strategy}/replies/{dave_reply}/accept", 200, token=tokens["alice"])
    return [
        ("alice", "new_follower"),  # bob follows
        ("alice", "new_follower"),  # carol follows
        ("bob", "discussion_started"),  # followers, in the order they followed
        ("carol", "discussion_started"),
        ("bob", "strategy_published"),
        ("carol", "strategy_published"),
        ("alice", "discussion_reply"),  # bob replies: the author, then @dave
        ("dave", "discussion_mention"),
        ("alice", "discussion_reply"),  # carol replies: the author, then bob (an earlier replier), not mentioned again
        ("bob", "discussion_reply"),
        ("alice", "strategy_reply"),  # dave replies to the strategy: the author, then @carol
        ("carol", "strategy_mention"),
        ("bob", "discussion_reply_accepted"),
        ("dave", "strategy_reply_accepted"),
    ]


def test_the_nine_types_come_from_the_actions_that_make_them(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock(yaml=FRESH)
    api = Api(http, mock, "upstream")
    names = ("alice", "bob", "carol", "dave")
    tokens, ids = {}, {}
    for name in names:
        answer = api("POST", "/api/claw/agents/selfRegister", 200, json={"name": name, "password": "pw"})
        tokens[name], ids[name] = answer["token"], answer["agent_id"]
    sockets = {name: _socket(mock, ids[name]).__enter__() for name in names}
    try:
        expected = _actions(api, tokens, ids)
        assert {kind for _who, kind in expected} == set(UPSTREAM_TYPES)
        frames = {name: _drain(sockets[name]) for name in names}
    finally:
        for socket in sockets.values():
            socket.close()
    for name in names:
        mine = [kind for who, kind in expected if who == name]
        assert [f["type"] for f in frames[name]] == mine, f"{name}'s WebSocket"
        for frame in frames[name]:
            assert list(frame) == ["type", "content", "data"]
            assert_schema(api.document, f"/x-message-types/{frame['type']}/data", frame["data"])
        beat = api("POST", "/api/claw/agents/heartbeat", 200, token=tokens[name])
        # one second for everything (the clock stands still): SQLite's order is then the table's
        assert [m["type"] for m in beat["messages"]] == mine, f"{name}'s heartbeat"
        assert [m["content"] for m in beat["messages"]] == [f["content"] for f in frames[name]]
        assert api("POST", "/api/claw/agents/heartbeat", 200, token=tokens[name])["messages"] == [], "the heartbeat marked them read"
    contents = {f["type"]: f["content"] for fs in frames.values() for f in fs}
    assert contents["discussion_started"] == 'alice started discussion "ETH range" (ETH)'
    assert contents["strategy_published"] == 'alice published strategy "Grid" in crypto'
    assert contents["discussion_mention"] == 'bob mentioned you in "ETH range"'
    assert contents["strategy_reply_accepted"] == 'alice accepted your reply on "Grid"'


@pytest.mark.parametrize("kind", UPSTREAM_TYPES)
def test_scenario_events_make_each_type_through_its_action(make_mock: MockFactory, kind: str) -> None:
    mock = make_mock(yaml=scenario("upstream", unread=0, pending_tasks=0))
    app = mock.runtime.apis["aitrader"]
    before = mock.call(lambda: (len(app.messages), sum(len(s.replies) for s in app.social.signals.values()), len(app.subscriptions)))
    result = mock.call(lambda: mock.runtime.emit("aitrader", "message", {"agent": 1, "type": kind}))
    mine = mock.call(lambda: [m for m in app.messages if m.id in result["message_ids"]])
    assert [(m.agent_id, m.type) for m in mine] == [(1, kind)]
    after = mock.call(lambda: (len(app.messages), sum(len(s.replies) for s in app.social.signals.values()), len(app.subscriptions)))
    if kind == "new_follower":
        assert after[2] == before[2] + 1, "a peer followed"
    elif "reply" in kind or "mention" in kind:
        assert after[1] > before[1], "someone replied"


def test_closing_a_replaced_socket_silences_its_replacement(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock(yaml=scenario("upstream", unread=0, pending_tasks=0))
    send = mock.url("aitrader") + "/api/claw/messages"
    headers = {"Authorization": ALPHA}

    def note(text: str) -> None:
        assert http.post(send, headers=headers, json={"agent_id": 2, "type": "note", "content": text}).status_code == 200

    with _socket(mock, 2) as old, _socket(mock, "+2") as new:  # int("+2") is 2: the second replaces the first
        _drain(new, 0.2)
        note("one")
        assert [f["content"] for f in _drain(new)] == ["one"] and _drain(old, 0.1) == []
        old.close()
        _drain(new, 0.2)
        note("two")
        assert _drain(new) == [], "the server removed agent 2's entry when the old socket closed"
    beat = http.post(mock.url("aitrader") + "/api/claw/agents/heartbeat", headers={"Authorization": BETA}).json()
    assert [m["content"] for m in beat["messages"]] == ["one", "two"]
