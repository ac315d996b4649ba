"""AI-Trader's social side: peers, signals (discussions, strategies), replies, follows.

The state both profiles share (the peers a scenario starts with, their signals and follows)
and the documented profile's social routes and notifications (the seed's four types). The
upstream profile's routes and its nine types are in :mod:`.upstream_signals` and
:mod:`.upstream`, on the same signals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...core.clock import parse_instant
from ...core.reply import Reply
from .domain import Agent, Message, check_body, detail, int_param, int_param_error

if TYPE_CHECKING:
    from .domain import AiTrader

__all__ = ["Signal", "SignalReply", "Social"]

_MARKETS = {
    "crypto": ("BTC/USD", "ETH/USD", "SOL/USD"),
    "us-stock": ("NVDA", "AAPL", "TSLA", "MSFT"),
    "polymarket": ("FED-MAR", "BTC-100K"),
}


@dataclass(slots=True)
class SignalReply:
    id: int
    signal_id: int
    agent_id: int
    content: str
    created_at: float
    accepted: bool = False


@dataclass(slots=True)
class Signal:
    id: int
    agent_id: int
    message_type: str  # operation | strategy | discussion
    market: str
    symbol: str | None
    title: str
    content: str
    created_at: float
    tags: list[str] = field(default_factory=list)
    replies: list[SignalReply] = field(default_factory=list)
    # the server's row besides (upstream): its own row id, signal_type, comma-separated symbols and tags, a trade's fields
    row_id: int = 0
    signal_type: str = ""
    symbols_text: str | None = None
    tags_text: str | None = None
    side: str | None = None
    entry_price: float | None = None
    quantity: float | None = None
    accepted_reply_id: int | None = None


class Social:
    def __init__(self, app: AiTrader, state: Mapping[str, Any], start: float) -> None:
        self.app = app
        self.signals: dict[int, Signal] = {}
        self._peers: set[int] = set()
        for _ in range(int(state.get("peers", 8))):
            self._peers.add(app.new_agent(app._peer_name(), "peer-password", start).id)
        peers = sorted(self._peers)
        under_test = [app.agents[a] for a in sorted(app.agents) if a not in self._peers]
        specs = state.get("agents") or [{}]
        for spec, agent in zip(specs, under_test, strict=False):
            if not peers:
                break
            for peer in app.rng.sample(peers, min(len(peers), int(spec.get("followers", 2)))):
                app.subscribe(peer, agent.id, start)
            app.subscribe(agent.id, app.rng.choice(peers), start)  # every agent under test follows one provider
        for index in range(int(state.get("signals", 12)) if peers else 0):
            self._new_signal(app.agents[app.rng.choice(peers)], start - 3600 * (index + 1), replies=app.rng.randint(0, 4))
        for index in range(int(state.get("own_discussions", 2)) if app.me and peers else 0):
            self._new_signal(app.agent_ref(None), start - 1800 * (index + 1), kind="discussion", replies=app.rng.randint(1, 3))

    def is_peer(self, agent_id: int) -> bool:
        return agent_id in self._peers

    def peer(self, now: float, *, besides: set[int] | frozenset[int] = frozenset()) -> Agent:
        """A generated agent (not one of ``besides``); a new one joins when there is none."""
        choices = sorted(self._peers - set(besides))
        if choices:
            return self.app.agents[self.app.rng.choice(choices)]
        agent = self.app.new_agent(self.app._peer_name(), "peer-password", now)
        self._peers.add(agent.id)
        return agent

    def _peer(self) -> Agent:
        return self.peer(0.0)

    def _new_signal(self, author: Agent, at: float, *, kind: str | None = None, replies: int = 0, title: str | None = None) -> Signal:
        app = self.app
        market = app.rng.choice(sorted(_MARKETS))
        symbol = app.rng.choice(_MARKETS[market])
        kind = kind or app.rng.choice(("operation", "strategy", "discussion"))
        title = title or app.rng.choice(
            (f"My {symbol} analysis", f"{symbol}: breakout or fakeout?", f"Why I am long {symbol}", f"{symbol} range trade plan")
        )
        signal = Signal(
            app.next_id("signal"),
            author.id,
            kind,
            market,
            symbol,
            title,
            app.fake.paragraph(nb_sentences=3),
            at,
            tags=[market, symbol.split("/")[0].lower()],
        )
        signal.row_id = app.next_id("signalrow")
        signal.signal_type = "realtime" if kind == "operation" else kind
        if kind == "strategy":
            signal.symbols_text, signal.tags_text = symbol, ",".join(signal.tags)
        elif kind == "operation":  # a trade: its side, price and size (made up: the mock has no market; own generator)
            signal.side = "buy" if app.trade_rng.random() < 0.5 else "sell"
            signal.entry_price = round(app.trade_rng.uniform(10, 70000), 2)
            signal.quantity = round(app.trade_rng.uniform(0.01, 5), 3)
        self.signals[signal.id] = signal
        for n in range(replies):
            replier = self._peer()
            signal.replies.append(
                SignalReply(app.next_id("reply"), signal.id, replier.id, app.fake.sentence(nb_words=10), at + 60 * (n + 1))
            )
        return signal

    # -- the documented profile's notifications ------------------------------------------------
    def notify(self, agent: Agent, kind: str, now: float) -> Message:
        """A plausible notification of ``kind`` for ``agent`` (used by scenario events)."""
        if kind in ("new_reply", "discussion_reply", "strategy_reply", "discussion_mention", "strategy_mention"):
            own = [s for s in self.signals.values() if s.agent_id == agent.id] or [self._new_signal(agent, now, kind="discussion")]
            signal = self.app.rng.choice(own)
            return self._reply(self._peer(), signal, self.app.fake.sentence(nb_words=10), now)[1][0]
        if kind == "new_follower":
            return self._follow(self._peer(), agent, now)
        if kind in ("signal", "discussion_started", "strategy_published"):
            leader = self._leader(agent)
            message_type = "strategy" if kind == "strategy_published" else "discussion"
            signal = self._new_signal(leader, now, kind=message_type)
            return self._announce(signal, now, only=agent)[0]
        if kind == "trade_copied":
            return self._trade_copied(agent, now, {})
        return self.app.store_message(agent.id, kind, self.app.fake.sentence(nb_words=8), None, now)

    def _leader(self, agent: Agent) -> Agent:
        leaders = sorted(a for a in agent.following if a in self.app.agents)
        return self.app.agents[self.app.rng.choice(leaders)] if leaders else self._peer()

    def _follow(self, follower: Agent, leader: Agent, now: float) -> Message:
        self.app.subscribe(follower.id, leader.id, now)
        data = {"leader_id": leader.id, "follower_id": follower.id, "follower_name": follower.name}
        return self.app.store_message(leader.id, "new_follower", f"{follower.name} started following you", data, now)

    def _announce(self, signal: Signal, now: float, *, only: Agent | None = None) -> list[Message]:
        app = self.app
        author = app.agents[signal.agent_id]
        targets = [only] if only else [app.agents[f] for f in sorted(author.followers) if f in app.agents]
        sent = []
        for target in targets:
            data = {
                "signal_id": signal.id,
                "leader_id": author.id,
                "leader_name": author.name,
                "title": signal.title,
                "symbol": signal.symbol,
            }
            sent.append(app.store_message(target.id, "signal", f"New signal from {author.name}: {signal.title}", data, now))
        return sent

    def _reply(self, replier: Agent, signal: Signal, content: str, now: float) -> tuple[SignalReply, list[Message]]:
        app = self.app
        reply = SignalReply(app.next_id("reply"), signal.id, replier.id, content, now)
        signal.replies.append(reply)
        sent: list[Message] = []
        parent = "strategy" if signal.message_type == "strategy" else "discussion"
        if signal.agent_id != replier.id:
            data: dict[str, Any] = {"signal_id": signal.id, "reply_id": reply.id}
            extra = {"title": signal.title, "content": content}
            sent.append(
                app.store_message(signal.agent_id, "new_reply", f"{replier.name} replied to your {parent}", data, now, frame_extra=extra)
            )
        return reply, sent

    def _trade_copied(self, leader: Agent, now: float, data: Mapping[str, Any]) -> Message:
        app = self.app
        followers = sorted(f for f in leader.followers if f in app.agents)
        follower = app.agents[app.rng.choice(followers)] if followers else self._peer()
        trade = {
            "symbol": str(data.get("symbol") or app.rng.choice(("BTC/USD", "ETH/USD", "NVDA"))),
            "side": str(data.get("side") or app.rng.choice(("buy", "sell"))),
            "quantity": round(app.rng.uniform(0.01, 2), 3),
            "price": round(app.rng.uniform(100, 70000), 2),
        }
        payload = {"leader_id": leader.id, "follower_id": follower.id, "follower_name": follower.name, "trade": trade}
        return app.store_message(
            leader.id, "trade_copied", f"{follower.name} copied your trade: {trade['side']} {trade['symbol']}", payload, now
        )

    def emit(self, event: str, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        app = self.app
        agent = app.agent_ref(data.get("agent"))
        count = int(data.get("count", 1))
        if event == "reply":
            ids = []
            for _ in range(count):
                own = [s for s in self.signals.values() if s.agent_id == agent.id] or [self._new_signal(agent, now, kind="discussion")]
                reply, _sent = self._reply(
                    self._peer(), app.rng.choice(own), str(data.get("content") or app.fake.sentence(nb_words=10)), now
                )
                ids.append(reply.id)
            return {"reply_ids": ids}
        if event == "follow":
            return {"message_ids": [self._follow(self._peer(), agent, now).id for _ in range(count)]}
        if event == "trade_copied":
            return {"message_ids": [self._trade_copied(agent, now, data).id]}
        if event == "signal":
            leader = self._leader(agent)
            signal = self._new_signal(leader, now, kind=str(data.get("message_type") or "discussion"), title=data.get("title"))
            return {"signal_id": signal.id, "message_ids": [m.id for m in self._announce(signal, now, only=agent)]}
        raise ValueError(f"unknown aitrader event {event!r}")

    # -- HTTP-facing operations ------------------------------------------------------------------
    def _view(self, signal: Signal, viewer: Agent | None) -> dict[str, Any]:
        author = self.app.agents[signal.agent_id]
        last = max((r.created_at for r in signal.replies), default=None)
        return {
            "id": signal.id,
            "signal_id": signal.id,
            "agent_id": signal.agent_id,
            "agent_name": author.name,
            "message_type": signal.message_type,
            "market": signal.market,
            "symbol": signal.symbol,
            "symbols": [signal.symbol],
            "title": signal.title,
            "content": signal.content,
            "tags": list(signal.tags),
            "created_at": self.app.stamp(signal.created_at),
            "reply_count": len(signal.replies),
            "last_reply_at": self.app.stamp(last) if last is not None else None,
            "participant_count": len({r.agent_id for r in signal.replies}),
            "is_following_author": bool(viewer and signal.agent_id in viewer.following),
        }

    def feed(self, params: Mapping[str, str], viewer: Agent | None) -> Reply:
        numbers: dict[str, int] = {}
        for name, default in (("limit", "50"), ("offset", "0")):
            value = int_param(params.get(name, default))
            if value is None:
                return int_param_error(name, params[name])
            numbers[name] = value
        limit, offset = min(100, max(1, numbers["limit"])), max(0, numbers["offset"])
        keyword = (params.get("keyword") or "").lower()
        rows = [
            s
            for s in self.signals.values()
            if (not params.get("message_type") or s.message_type == params["message_type"])
            and (not params.get("market") or s.market == params["market"])
            and (not keyword or keyword in s.title.lower() or keyword in s.content.lower())
        ]
        sort = params.get("sort", "new")
        if sort == "active":
            rows.sort(key=lambda s: max((r.created_at for r in s.replies), default=s.created_at), reverse=True)
        elif sort == "following" and viewer is not None:
            rows = [s for s in rows if s.agent_id in viewer.following]
            rows.sort(key=lambda s: s.created_at, reverse=True)
        else:
            rows.sort(key=lambda s: s.created_at, reverse=True)
        page = rows[offset : offset + limit]
        return Reply(
            200,
            {
                "signals": [self._view(s, viewer) for s in page],
                "total": len(rows),
                "limit": limit,
                "offset": offset,
                "has_more": offset + len(page) < len(rows),
            },
        )

    def replies(self, signal_id: int) -> Reply:
        signal = self.signals.get(signal_id)
        if signal is None:
            return detail(404, "Signal not found")
        return Reply(
            200,
            {
                "replies": [
                    {
                        "id": r.id,
                        "signal_id": r.signal_id,
                        "agent_id": r.agent_id,
                        "agent_name": self.app.agents[r.agent_id].name,
                        "content": r.content,
                        "accepted": int(r.accepted),
                        "created_at": self.app.stamp(r.created_at),
                    }
                    for r in signal.replies
                ]
            },
        )

    def my_discussions(self, agent: Agent, keyword: str | None) -> Reply:
        rows = [
            s for s in self.signals.values() if s.agent_id == agent.id and (not keyword or keyword.lower() in (s.title + s.content).lower())
        ]
        rows.sort(key=lambda s: s.created_at, reverse=True)
        return Reply(200, {"discussions": [self._view(s, agent) for s in rows], "total": len(rows)})

    def with_new_replies(self, agent: Agent, since: str | None) -> Reply:
        try:
            cutoff = parse_instant(since) if since else float("-inf")
        except ValueError:
            return detail(422, f"since must be an ISO 8601 date-time, got {since!r}")
        rows = []
        for s in sorted(self.signals.values(), key=lambda s: s.created_at, reverse=True):
            fresh = [r for r in s.replies if r.created_at > cutoff and r.agent_id != agent.id]
            if s.agent_id == agent.id and fresh:
                rows.append({**self._view(s, agent), "new_reply_count": len(fresh)})
        return Reply(200, {"discussions": rows, "total": len(rows)})

    def post_discussion(self, agent: Agent, body: Any, now: float) -> Reply:
        problem = check_body(body, {"title": str, "content": str}, {"market": str, "symbol": str, "tags": list})
        if problem:
            return problem
        signal = self._new_signal(agent, now, kind="discussion", title=body["title"])
        signal.content = body["content"]
        signal.market = body.get("market") or signal.market
        signal.symbol = body.get("symbol") or signal.symbol
        signal.tags = (
            [str(t) for t in body["tags"]] if body.get("tags") is not None else [signal.market, (signal.symbol or "").split("/")[0].lower()]
        )
        self._announce(signal, now)
        return Reply(200, {"success": True, "signal_id": signal.id})

    def post_reply(self, agent: Agent, body: Any, now: float) -> Reply:
        problem = check_body(body, {"signal_id": int, "content": str})
        if problem:
            return problem
        signal = self.signals.get(body["signal_id"])
        if signal is None:
            return detail(404, "Signal not found")
        reply, _sent = self._reply(agent, signal, body["content"], now)
        return Reply(200, {"success": True, "reply_id": reply.id})

    def follow(self, agent: Agent, body: Any, now: float) -> Reply:
        problem = check_body(body, {"leader_id": int})
        if problem:
            return problem
        if body["leader_id"] == agent.id:
            return detail(400, "Cannot follow yourself")
        leader = self.app.agents.get(body["leader_id"])
        if leader is None:
            return detail(404, "Agent not found")
        if leader.id not in agent.following:
            self._follow(agent, leader, now)
        return Reply(200, {"success": True, "leader_id": leader.id})

    def accept_reply(self, agent: Agent, signal_id: int, reply_id: int, now: float) -> Reply:
        signal = self.signals.get(signal_id)
        if signal is None:
            return detail(404, "Signal not found")
        reply = next((r for r in signal.replies if r.id == reply_id), None)
        if reply is None:
            return detail(404, "Reply not found")
        if signal.agent_id != agent.id:
            return detail(403, "Only the original author can accept a reply")
        reply.accepted = True
        parent = "strategy" if signal.message_type == "strategy" else "discussion"
        data = {
            "signal_id": signal.id,
            "reply_id": reply.id,
            "reply_author_id": reply.agent_id,
            "accepted_by_id": agent.id,
            "accepted_by_name": agent.name,
            "title": signal.title,
            "parent_message_type": parent,
        }
        if reply.agent_id != agent.id:
            self.app.store_message(reply.agent_id, "new_reply", f"{agent.name} accepted your reply on {signal.title}", data, now)
        return Reply(200, {"success": True, "reply_id": reply.id, "accepted": True})
