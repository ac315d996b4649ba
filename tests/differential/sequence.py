"""The scripted sequence: what a new user's agents do against a fresh AI-Trader server.

Six agents register (no one exists before), follow each other, post discussions and
strategies, reply with @mentions, accept replies, read their notifications (WebSocket,
heartbeat, recent, unread summary, mark-read), and hit the validation errors, the method and
path fallbacks, CORS and the content rate limits (cooldowns, duplicates, then the per-window
limits over five minutes of waits). Steps are plain data (see :mod:`.runner`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["SEQUENCE"]

Step = dict[str, Any]
_steps: list[Step] = []


def http(step_id: str, method: str, path: str, *, as_: str | None = None, **request: Any) -> None:
    _steps.append({"id": step_id, "do": "http", "method": method, "path": path, **({"as": as_} if as_ else {}), **request})


def ws_open(step_id: str, socket: str, client: str) -> None:
    _steps.append({"id": step_id, "do": "ws_open", "socket": socket, "client": client})


def ws_frames(step_id: str, *sockets: str) -> None:
    for socket in sockets:
        _steps.append({"id": f"{step_id}.{socket}", "do": "ws_frames", "socket": socket})


def ws_close(step_id: str, socket: str) -> None:
    _steps.append({"id": step_id, "do": "ws_close", "socket": socket})


def wait(step_id: str, seconds: float) -> None:
    _steps.append({"id": step_id, "do": "wait", "seconds": seconds})


def register(step_id: str, name: str, **extra: Any) -> None:
    http(
        step_id,
        "POST",
        "/api/claw/agents/selfRegister",
        json={"name": name, "password": f"{name}-password", **extra},
        save={name: "agent:agent_id", f"{name}.token": "token:token", f"{name}.first": "token:token"},
    )


def follow(step_id: str, who: str, leader: Any, path: str = "/api/signals/follow") -> None:
    http(step_id, "POST", path, as_=who, json={"leader_id": leader})


def reply(step_id: str, who: str, signal: str, content: str) -> None:
    http(step_id, "POST", "/api/signals/reply", as_=who, json={"signal_id": f"${{{signal}}}", "content": content})


def discussion(step_id: str, who: str, save: str | None = None, **body: Any) -> None:
    http(step_id, "POST", "/api/signals/discussion", as_=who, json=body, **({"save": {save: "signal:signal_id"}} if save else {}))


JSON = {"Content-Type": "application/json"}
AGENTS = ("alice", "bob", "carol", "dave", "erin")

# -- A. the service: health, methods and paths no route has, CORS ----------------------------
http("A.health", "GET", "/health")
http("A.health-post", "POST", "/health")
http("A.health-head", "HEAD", "/health")
http("A.get-on-post-route", "GET", "/api/claw/agents/heartbeat")
http("A.put-on-post-route", "PUT", "/api/claw/agents/heartbeat")
http("A.delete-on-get-route", "DELETE", "/api/signals/feed")
http("A.post-unknown-path", "POST", "/api/nowhere")
http("A.get-unknown-path", "GET", "/api/nowhere")
http("A.my-discussions", "GET", "/api/signals/my/discussions")
http("A.signals-my", "GET", "/api/signals/my")
http("A.get-discussion-route", "GET", "/api/signals/discussion")
http(
    "A.preflight-allowed",
    "OPTIONS",
    "/api/signals/feed",
    headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"},
)
http(
    "A.preflight-refused", "OPTIONS", "/api/signals/feed", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
)
http("A.cors-allowed", "GET", "/health", headers={"Origin": "http://localhost:3000"})
http("A.cors-other", "GET", "/health", headers={"Origin": "http://evil.example"})
http("A.count-empty", "GET", "/api/claw/agents/count")
http("A.root", "GET", "/")
http("A.asset", "GET", "/assets/index.js")
http("A.head-on-get-route", "HEAD", "/api/signals/feed")
http("A.trailing-slash", "GET", "/api/claw/agents/me/")
http("A.post-trailing-slash", "POST", "/api/claw/messages/", json={})

# -- B. registration, login, the token ------------------------------------------------------
for name in AGENTS:
    register(f"B.register-{name}", name)
register("B.register-frank", "frank", wallet_address="0xAbCdEf0123456789aBcDeF0123456789AbCdEf01", initial_balance=5000)
http("B.register-taken", "POST", "/api/claw/agents/selfRegister", json={"name": "alice", "password": "other"})
http("B.register-empty-object", "POST", "/api/claw/agents/selfRegister", json={})
http("B.register-name-not-string", "POST", "/api/claw/agents/selfRegister", json={"name": 7, "password": "pw"})
http(
    "B.register-balance-not-number",
    "POST",
    "/api/claw/agents/selfRegister",
    json={"name": "zed", "password": "pw", "initial_balance": "lots", "positions": "none"},
)
http("B.register-bad-json", "POST", "/api/claw/agents/selfRegister", content='{"name": "zed",', headers=JSON)
http("B.register-json-array", "POST", "/api/claw/agents/selfRegister", json=[])
http("B.register-json-null", "POST", "/api/claw/agents/selfRegister", content="null", headers=JSON)
http("B.register-no-body", "POST", "/api/claw/agents/selfRegister")
http(
    "B.register-text-plain",
    "POST",
    "/api/claw/agents/selfRegister",
    content='{"name": "zed", "password": "pw"}',
    headers={"Content-Type": "text/plain"},
)
register("B.register-balance-as-string", "gina", initial_balance="250.5")
register("B.register-dashed-name", "zed-bot", positions=[{"symbol": "AAPL", "quantity": 1}])
http("B.login-wrong", "POST", "/api/claw/agents/login", json={"name": "alice", "password": "nope"})
http(
    "B.login-padded-name",
    "POST",
    "/api/claw/agents/login",
    json={"name": " alice ", "password": "alice-password"},
    save={"alice.token": "token:token"},
)
http("B.me-old-token", "GET", "/api/claw/agents/me", headers={"Authorization": "Bearer ${alice.first}"})
http("B.me", "GET", "/api/claw/agents/me", as_="alice")
http("B.me-bare-token", "GET", "/api/claw/agents/me", headers={"Authorization": "${alice.token}"})
http("B.me-claw-token", "GET", "/api/claw/agents/me", headers={"X-Claw-Token": "${alice.token}"})
http("B.me-lowercase-bearer", "GET", "/api/claw/agents/me", headers={"Authorization": "bearer ${alice.token}"})
http("B.me-no-auth", "GET", "/api/claw/agents/me")
http("B.points", "GET", "/api/claw/agents/me/points", as_="alice")
http("B.count", "GET", "/api/claw/agents/count")
http("B.me-frank", "GET", "/api/claw/agents/me", as_="frank")
http("B.me-gina", "GET", "/api/claw/agents/me", as_="gina")

# -- C. notify sockets, follow and unfollow ---------------------------------------------------
for name in AGENTS:
    ws_open(f"C.ws-open-{name}", name, f"${{{name}}}")
ws_open("C.ws-open-zed", "zed", "${zed-bot}")
ws_open("C.ws-open-not-a-number", "stranger", "agent_xxx")
follow("C.follow", "bob", "${alice}")
follow("C.follow-again", "bob", "${alice}")
follow("C.follow-self", "alice", "${alice}")
follow("C.follow-carol", "carol", "${alice}")
follow("C.follow-dave", "dave", "${alice}")
follow("C.follow-erin", "erin", "${bob}")
follow("C.follow-nobody", "frank", 99999)
follow("C.follow-id-as-string", "frank", "${alice!s}")
follow("C.follow-id-not-a-number", "frank", "abc")
http("C.follow-no-auth", "POST", "/api/signals/follow", json={"leader_id": 1})
http("C.follow-no-auth-bad-body", "POST", "/api/signals/follow", json={})
ws_frames("C.frames", "alice", "bob", "stranger")
follow("C.unfollow", "erin", "${bob}", "/api/signals/unfollow")
follow("C.unfollow-again", "erin", "${bob}", "/api/signals/unfollow")
follow("C.unfollow-never-followed", "erin", "${carol}", "/api/signals/unfollow")
follow("C.follow-after-unfollow", "erin", "${bob}")
http("C.unfollow-no-body", "POST", "/api/signals/unfollow", as_="erin")
ws_frames("C.frames-after-unfollow", "bob", "erin")
http("C.following", "GET", "/api/signals/following", as_="bob")
http("C.subscribers", "GET", "/api/signals/subscribers", as_="alice")
http("C.following-no-auth", "GET", "/api/signals/following")

# -- D. discussions and strategies: who is told -----------------------------------------------
discussion("D.discussion", "alice", "d1", market="crypto", symbol="BTC", title="BTC breakout", content="Volume confirms the move.")
discussion("D.discussion-cooldown", "alice", market="crypto", title="Second thought", content="Too soon?")
http(
    "D.strategy",
    "POST",
    "/api/signals/strategy",
    as_="alice",
    json={
        "market": "us-stock",
        "title": "Momentum basket",
        "content": "Long the leaders.",
        "symbols": "NVDA, AAPL",
        "tags": "momentum,tech",
    },
    save={"s1": "signal:signal_id"},
)
http(
    "D.strategy-no-cooldown",
    "POST",
    "/api/signals/strategy",
    as_="alice",
    json={"market": "crypto", "title": "Grid bot", "content": "Range trading on majors."},
    save={"s2": "signal:signal_id"},
)
ws_frames("D.frames", "alice", "bob", "carol")
discussion("D.discussion-no-market", "bob", title="Hi", content="x")
discussion("D.discussion-title-not-string", "bob", market="crypto", title=5, content="x")
http("D.strategy-empty", "POST", "/api/signals/strategy", as_="bob", json={})
http("D.strategy-no-auth", "POST", "/api/signals/strategy", json={"market": "crypto", "title": "t", "content": "c"})
discussion("D.discussion-no-symbol", "bob", "d2", market="us-stock", title="Earnings week", content="Who reports first?")
discussion(
    "D.discussion-polymarket",
    "erin",
    "d3",
    market="polymarket",
    symbol="will-btc-hit-100k",
    title="100k by June?",
    content="Odds look rich.",
)
ws_frames("D.frames-bob-followers", "erin", "bob")
http("D.me-after-posts", "GET", "/api/claw/agents/me", as_="alice")

# -- E. the feed and its filters ------------------------------------------------------------------
http("E.feed", "GET", "/api/signals/feed")
http("E.feed-strategies", "GET", "/api/signals/feed", params={"message_type": "strategy"})
http("E.feed-market", "GET", "/api/signals/feed", params={"market": "crypto"})
http("E.feed-keyword", "GET", "/api/signals/feed", params={"keyword": "MOMENTUM"})
http("E.feed-keyword-wildcard", "GET", "/api/signals/feed", params={"keyword": "br_ak%t"})
http("E.feed-following", "GET", "/api/signals/feed", as_="bob", params={"sort": "following"})
http("E.feed-following-anonymous", "GET", "/api/signals/feed", params={"sort": "following"})
http("E.feed-limit-0", "GET", "/api/signals/feed", params={"limit": "0"})
http("E.feed-page", "GET", "/api/signals/feed", params={"limit": "2", "offset": "1"})
http("E.feed-limit-not-a-number", "GET", "/api/signals/feed", params={"limit": "abc", "offset": "x"})
http("E.feed-negative-offset", "GET", "/api/signals/feed", params={"offset": "-3", "limit": " 2"})
http("E.feed-bad-token", "GET", "/api/signals/feed", headers={"Authorization": "Bearer nope"})
http("E.feed-active", "GET", "/api/signals/feed", as_="carol", params={"sort": "active"})
http("E.agent-signals", "GET", "/api/signals/${alice}")
http("E.agent-signals-strategy", "GET", "/api/signals/${alice}", params={"message_type": "strategy", "limit": "1"})

# -- F. replies and @mentions ---------------------------------------------------------------------
reply("F.reply", "bob", "d1", "Agree, @carol and @erin should see this. @nobody")
reply("F.reply-cooldown", "bob", "d1", "One more thing")
reply("F.reply-second-participant", "carol", "d1", "Me too @bob @ALICE")
http("F.reply-missing-signal", "POST", "/api/signals/reply", as_="dave", json={"signal_id": 99999, "content": "Hello?"})
reply("F.reply-after-404", "dave", "d1", "Count me in")
reply("F.reply-by-author", "alice", "d1", "Thanks all, @dave take note")
reply("F.reply-strategy", "erin", "s1", "@alice what about AMD? cc @zed-bot @Zed-Bot")
http("F.reply-id-not-a-number", "POST", "/api/signals/reply", as_="erin", json={"signal_id": "abc", "content": "x"})
http("F.reply-no-content", "POST", "/api/signals/reply", as_="erin", json={"signal_id": "${d1}"})
http(
    "F.replies",
    "GET",
    "/api/signals/${d1}/replies",
    save={"r_bob": "reply:replies.0.id", "r_carol": "reply:replies.1.id", "r_alice": "reply:replies.2.id"},
)
http("F.replies-missing-signal", "GET", "/api/signals/99999/replies")
http("F.replies-not-a-number", "GET", "/api/signals/abc/replies")
ws_frames("F.frames", *AGENTS, "zed")

# -- G. accepting a reply ----------------------------------------------------------------------------
http("G.accept-not-author", "POST", "/api/signals/${d1}/replies/${r_carol}/accept", as_="bob")
http("G.accept", "POST", "/api/signals/${d1}/replies/${r_bob}/accept", as_="alice")
http("G.accept-own-reply", "POST", "/api/signals/${d1}/replies/${r_alice}/accept", as_="alice")
http("G.accept-missing-reply", "POST", "/api/signals/${d1}/replies/99999/accept", as_="alice")
http("G.accept-other-signal", "POST", "/api/signals/${s1}/replies/${r_bob}/accept", as_="alice")
http("G.accept-not-a-number", "POST", "/api/signals/${d1}/replies/x/accept", as_="alice")
http("G.accept-no-auth", "POST", "/api/signals/${d1}/replies/${r_bob}/accept")
http("G.strategy-replies", "GET", "/api/signals/${s1}/replies", save={"r_erin": "reply:replies.0.id"})
http("G.accept-strategy", "POST", "/api/signals/${s1}/replies/${r_erin}/accept", as_="alice")
http("G.replies-after-accept", "GET", "/api/signals/${d1}/replies")
ws_frames("G.frames", "alice", "bob", "erin")
for name in ("alice", "bob", "erin"):
    http(f"G.me-{name}", "GET", "/api/claw/agents/me", as_=name)
http("G.points-erin", "GET", "/api/claw/agents/me/points", as_="erin")
http("G.feed-after-replies", "GET", "/api/signals/feed", as_="bob")
http("G.agent-signals-after-accept", "GET", "/api/signals/${alice}")

# -- H. the inbox: summary, recent, heartbeat, mark-read, direct messages and tasks ------------------
http("H.unread-summary", "GET", "/api/claw/messages/unread-summary", as_="alice")
http("H.recent", "GET", "/api/claw/messages/recent", as_="alice")
http("H.recent-discussion", "GET", "/api/claw/messages/recent", as_="alice", params={"category": "discussion"})
http("H.recent-unknown-category", "GET", "/api/claw/messages/recent", as_="alice", params={"category": "bogus", "limit": "3"})
http("H.recent-limit-0", "GET", "/api/claw/messages/recent", as_="alice", params={"limit": "0"})
http("H.recent-strategy", "GET", "/api/claw/messages/recent", as_="alice", params={"category": "strategy", "limit": "500"})
http("H.recent-limit-not-a-number", "GET", "/api/claw/messages/recent", params={"limit": "x"})
http("H.heartbeat", "POST", "/api/claw/agents/heartbeat", as_="alice")
http("H.unread-summary-after", "GET", "/api/claw/messages/unread-summary", as_="alice")
http("H.recent-after", "GET", "/api/claw/messages/recent", as_="alice", params={"limit": "2"})
http("H.summary-carol", "GET", "/api/claw/messages/unread-summary", as_="carol")
http("H.mark-read", "POST", "/api/claw/messages/mark-read", as_="carol", json={"categories": ["discussion"]})
http("H.mark-read-unknown", "POST", "/api/claw/messages/mark-read", as_="carol", json={"categories": ["bogus"]})
http("H.mark-read-not-a-list", "POST", "/api/claw/messages/mark-read", as_="carol", json={"categories": "discussion"})
http(
    "H.message",
    "POST",
    "/api/claw/messages",
    as_="bob",
    json={"agent_id": "${carol}", "type": "custom_note", "content": "hello", "data": {}},
)
http(
    "H.message-with-data",
    "POST",
    "/api/claw/messages",
    as_="bob",
    json={"agent_id": "${carol}", "type": "x", "content": "c", "data": {"k": 1}},
)
http("H.message-nobody", "POST", "/api/claw/messages", as_="bob", json={"agent_id": 99999, "type": "x", "content": "y"})
http("H.message-bad", "POST", "/api/claw/messages", as_="bob", json={"agent_id": "x", "type": 1})
ws_frames("H.frames", "carol")
http("H.task", "POST", "/api/claw/tasks", as_="alice", json={"agent_id": "${carol}", "type": "analyze", "input_data": {"symbol": "BTC"}})
http("H.task-empty-input", "POST", "/api/claw/tasks", as_="alice", json={"agent_id": "${carol}", "type": "empty", "input_data": {}})
http("H.task-bad", "POST", "/api/claw/tasks", as_="alice", json={"type": "x"})
http("H.heartbeat-carol", "POST", "/api/claw/agents/heartbeat", as_="carol", json={"agent_id": 1, "status": "alive"})
http("H.heartbeat-carol-again", "POST", "/api/claw/agents/heartbeat", as_="carol", content="not json", headers=JSON)
http("H.heartbeat-no-auth", "POST", "/api/claw/agents/heartbeat")
http("H.summary-bob", "GET", "/api/claw/messages/unread-summary", as_="bob")
http("H.heartbeat-bob", "POST", "/api/claw/agents/heartbeat", as_="bob")

# -- I. one socket per agent ----------------------------------------------------------------------------
ws_open("I.ws-open-bob-again", "bob2", "${bob}")
http(
    "I.message-bob",
    "POST",
    "/api/claw/messages",
    as_="carol",
    json={"agent_id": "${bob}", "type": "note", "content": "to the newest socket"},
)
ws_frames("I.frames", "bob2", "bob")
ws_close("I.ws-close-old-bob", "bob")
http(
    "I.message-bob-after-close",
    "POST",
    "/api/claw/messages",
    as_="carol",
    json={"agent_id": "${bob}", "type": "note", "content": "after close"},
)
ws_frames("I.frames-after-close", "bob2")
ws_open("I.ws-open-carol-signed", "carol2", "+${carol}")
http("I.message-carol", "POST", "/api/claw/messages", as_="bob", json={"agent_id": "${carol}", "type": "note", "content": "signed id"})
ws_frames("I.frames-carol", "carol2", "carol")

# -- J. content rate limits over time: cooldowns end, duplicates, the per-window limits -----------------
discussion("J.window-discussion-1", "dave", "w1", market="crypto", symbol="ETH", title="Window 1", content="First post.")
reply("J.window-reply-1", "frank", "w1", "reply number 1")
for n in range(2, 12):  # frank replies every 20 s: ten in 300 s, the eleventh is refused
    wait(f"J.wait-{n}", 20)
    if n == 2:
        reply("J.duplicate-reply", "bob", "d1", "Agree, @carol and @erin should see this. @nobody")
        reply("J.reply-after-cooldown", "bob", "d1", "Back after the cooldown")
    if n in (4, 7, 10):  # t = 60, 120, 180: dave posts again once the 60 s cooldown is over
        discussion(f"J.window-discussion-{n // 3 + 1}", "dave", market="crypto", title=f"Window {n // 3 + 1}", content=f"Post {n}.")
    if n == 4:
        discussion("J.alice-after-cooldown", "alice", market="crypto", title="Second thought", content="Not too soon now.")
    reply(f"J.window-reply-{n}", "frank", "w1", f"reply number {n}")
wait("J.wait-240", 40)
discussion("J.duplicate-discussion", "dave", market="crypto", symbol="ETH", title="Window 1", content="First post.")
discussion("J.window-discussion-5", "dave", market="crypto", title="Window 5", content="Fifth post.")
wait("J.wait-300", 60)
discussion("J.window-discussion-6", "dave", market="crypto", title="Window 6", content="Sixth post.")
reply("J.duplicate-reply-window", "frank", "w1", "Reply   NUMBER 1")
reply("J.window-reply-12", "frank", "w1", "reply number 12")

# -- K. the state afterwards ----------------------------------------------------------------------------
http("K.heartbeat-dave", "POST", "/api/claw/agents/heartbeat", as_="dave")
http("K.replies-window", "GET", "/api/signals/${w1}/replies")
http("K.feed-active", "GET", "/api/signals/feed", params={"sort": "active", "limit": "5"})
http("K.feed-following-dave", "GET", "/api/signals/feed", as_="dave", params={"sort": "following", "limit": "4"})
http("K.subscribers", "GET", "/api/signals/subscribers", as_="alice")
http("K.following-frank", "GET", "/api/signals/following", as_="frank")
for name in (*AGENTS, "frank"):
    http(f"K.me-{name}", "GET", "/api/claw/agents/me", as_=name)
http("K.count", "GET", "/api/claw/agents/count")
http("K.following-limit-0", "GET", "/api/signals/following", as_="frank", params={"limit": "0"})
http("K.heartbeat-zed", "POST", "/api/claw/agents/heartbeat", as_="zed-bot")
http("K.heartbeat-erin", "POST", "/api/claw/agents/heartbeat", as_="erin")
# routes the profile does not serve (README, fidelity notes): what the server answers without prices or wallets
http("K.grouped", "GET", "/api/signals/grouped")
http("K.token-recovery", "POST", "/api/claw/agents/token-recovery/request", json={"name": "alice"})
ws_frames("K.frames", "alice", "bob2", "carol2", "dave", "erin")

SEQUENCE: list[Step] = _steps
