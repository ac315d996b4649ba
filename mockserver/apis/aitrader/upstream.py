"""The public server's agents, follows and inbox (``routes_agent.py``, ``routes_trading.py`` follow routes).

The operations take validated requests (:mod:`.validation`) and answer as the server's handlers
do. Messages are rows stamped to the second; every read that the server sorts with
``ORDER BY created_at DESC`` lists the newest second first and, within a second, the oldest
row first (SQLite's sorter keeps the table's order for equal keys). Scenario events reach the
nine notification types only through the real actions (:meth:`Upstream.notify`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...core.catalogue import AGENT_REGISTERED, AgentRegistered
from ...core.reply import Reply
from .domain import Agent, Message, Task, detail
from .schema import UPSTREAM_TYPES
from .upstream_signals import UpstreamSignals

if TYPE_CHECKING:
    from .domain import AiTrader

__all__ = ["CATEGORY_TYPES", "Upstream", "token_of", "wallet"]

CATEGORY_TYPES = {
    "discussion": ("discussion_started", "discussion_reply", "discussion_mention", "discussion_reply_accepted"),
    "strategy": ("strategy_published", "strategy_reply", "strategy_mention", "strategy_reply_accepted"),
}
_HEX = frozenset("0123456789abcdef")


def token_of(authorization: str | None) -> str | None:
    """utils._extract_token: the ``Authorization`` value without a ``Bearer `` prefix (nothing else is trimmed)."""
    if not authorization:
        return None
    return authorization[7:] if authorization.startswith("Bearer ") else authorization


def wallet(address: str | None) -> str:
    """utils.validate_address: ``0x`` + 40 lower-case hex digits, else the empty string."""
    text = (address or "")[2:] if (address or "").startswith("0x") else address or ""
    text = text.lower()
    return "0x" + text if len(text) == 40 and set(text) <= _HEX else ""


class Upstream:
    def __init__(self, app: AiTrader) -> None:
        self.app = app
        self.signals = UpstreamSignals(app)

    # -- accounts ------------------------------------------------------------------------------
    def agent_by_token(self, token: str | None) -> Agent | None:
        return next((a for a in self.app.agents.values() if token and a.token == token), None)

    def register(self, body: Any, now: float) -> Reply:
        app = self.app
        if any(a.name == body.name for a in app.agents.values()):
            return detail(400, "Agent name already exists")
        agent = app.new_agent(body.name, body.password, now, balance=body.initial_balance, seeded=False)
        agent.wallet_address = wallet(body.wallet_address) if body.wallet_address else ""
        app.journal.record(AGENT_REGISTERED, AgentRegistered(agent_id=agent.id, name=agent.name), principal=f"agent:{agent.id}")
        return Reply(200, {"token": agent.token, "agent_id": agent.id, "name": agent.name, "initial_balance": body.initial_balance})

    def login(self, body: Any) -> Reply:
        name = body.name.strip()
        agent = next((a for a in self.app.agents.values() if name and a.name == name), None)
        if agent is None or agent.password != body.password:
            return detail(401, "Invalid credentials")
        self.app.rotate(agent, reason="login")
        return Reply(200, {"token": agent.token, "agent_id": agent.id, "name": agent.name})

    @staticmethod
    def me(agent: Agent, token: str) -> Reply:
        return Reply(
            200,
            {
                "id": agent.id,
                "name": agent.name,
                "token": token,
                "wallet_address": agent.wallet_address,
                "points": agent.points,
                "cash": agent.initial_balance,
                "reputation_score": agent.reputation_score,
            },
        )

    # -- follows ---------------------------------------------------------------------------------
    def follow(self, agent: Agent, leader_id: int, now: float) -> Reply:
        """No check that the leader exists; the leader is told even then (a message to nobody)."""
        if agent.id == leader_id:
            return detail(400, "Cannot follow yourself")
        if not self.app.subscribe(agent.id, leader_id, now):
            return Reply(200, {"message": "Already following"})
        data = {"leader_id": leader_id, "follower_id": agent.id, "follower_name": agent.name}
        self.app.store_message(leader_id, "new_follower", f"{agent.name} started following you", data, now)
        return Reply(200, {"success": True, "message": "Following"})

    def unfollow(self, agent: Agent, leader_id: int) -> Reply:
        self.app.unsubscribe(agent.id, leader_id)
        return Reply(200, {"success": True})

    def _recent(self, agent_id: int, kinds: tuple[str, ...], now: float) -> int:
        since = self.app.stamp(now - 7 * 86400)  # datetime('now', '-7 day'), compared as text
        return sum(
            1
            for s in self.app.social.signals.values()
            if s.agent_id == agent_id and s.message_type in kinds and self.signals.created(s) >= since
        )

    def _last_activity(self, agent_id: int) -> str | None:
        return max((self.signals.created(s) for s in self.app.social.signals.values() if s.agent_id == agent_id), default=None)

    def _latest(self, agent_id: int, kind: str) -> Any:
        mine = [s for s in self.app.social.signals.values() if s.agent_id == agent_id and s.message_type == kind]
        return max(mine, key=lambda s: (self.signals.created(s), s.row_id), default=None)

    def following(self, agent: Agent, limit: int, offset: int, now: float) -> Reply:
        limit, offset = max(1, min(limit, 500)), max(0, offset)
        active = [s for s in self.app.subscriptions if s.follower_id == agent.id and s.active]
        rows = [s for s in active if s.leader_id in self.app.agents]  # JOIN agents: an unknown leader counts, is not listed
        rows.sort(key=lambda s: self._last_activity(s.leader_id) or self.app.stamp(s.created_at), reverse=True)
        listed = []
        for sub in rows[offset : offset + limit]:
            strategy, discussion = self._latest(sub.leader_id, "strategy"), self._latest(sub.leader_id, "discussion")
            listed.append(
                {
                    "leader_id": sub.leader_id,
                    "leader_name": self.app.agents[sub.leader_id].name,
                    "subscribed_at": self.app.stamp(sub.created_at),
                    "follower_count": len(self.app.followers_of(sub.leader_id)),
                    "recent_trade_count_7d": self._recent(sub.leader_id, ("operation",), now),
                    "recent_strategy_count_7d": self._recent(sub.leader_id, ("strategy",), now),
                    "recent_discussion_count_7d": self._recent(sub.leader_id, ("discussion",), now),
                    "recent_activity_at": self._last_activity(sub.leader_id),
                    "latest_strategy_signal_id": strategy.id if strategy else None,
                    "latest_strategy_title": strategy.title if strategy else None,
                    "latest_discussion_signal_id": discussion.id if discussion else None,
                    "latest_discussion_title": discussion.title if discussion else None,
                }
            )
        total = len(active)
        return Reply(200, {"following": listed, "total": total, "limit": limit, "offset": offset, "has_more": offset + len(listed) < total})

    def subscribers(self, agent: Agent, now: float) -> Reply:
        rows = [s for s in self.app.subscriptions if s.leader_id == agent.id and s.active and s.follower_id in self.app.agents]
        rows.sort(key=lambda s: self._last_activity(s.follower_id) or self.app.stamp(s.created_at), reverse=True)
        return Reply(
            200,
            {
                "subscribers": [
                    {
                        "follower_id": s.follower_id,
                        "follower_name": self.app.agents[s.follower_id].name,
                        "subscribed_at": self.app.stamp(s.created_at),
                        "recent_trade_count_7d": self._recent(s.follower_id, ("operation",), now),
                        "recent_social_count_7d": self._recent(s.follower_id, ("strategy", "discussion"), now),
                        "recent_activity_at": self._last_activity(s.follower_id),
                    }
                    for s in rows
                ]
            },
        )

    # -- the inbox -------------------------------------------------------------------------------
    def _newest(self, messages: list[Message]) -> list[Message]:
        """``ORDER BY created_at DESC`` on rows stamped to the second (the same second: oldest first)."""
        return sorted(sorted(messages, key=lambda m: m.id), key=lambda m: self.app.stamp(m.created_at), reverse=True)

    def message_row(self, message: Message) -> dict[str, Any]:
        return {
            "id": message.id,
            "agent_id": message.agent_id,
            "type": message.type,
            "content": message.content,
            "data": message.data,
            "read": int(message.read),
            "created_at": self.app.stamp(message.created_at),
        }

    def task_row(self, task: Task) -> dict[str, Any]:
        return {
            "id": task.id,
            "agent_id": task.agent_id,
            "type": task.type,
            "status": task.status,
            "input_data": task.input_data,
            "result_data": task.result_data,
            "created_at": self.app.stamp(task.created_at),
            "updated_at": self.app.stamp(task.updated_at),
        }

    def heartbeat(self, agent: Agent, now: float) -> Reply:
        """The newest 50 unread (then read), the oldest 10 pending tasks (never changed)."""
        app = self.app
        unread = self._newest([m for m in app.messages if m.agent_id == agent.id and not m.read])
        page = unread[: int(app.options.get("message_limit", 50))]
        rows = [self.message_row(m) for m in page]  # selected before the update: read is 0
        for m in page:
            m.read = m.delivered = True
        pending = sorted(
            (t for t in app.tasks if t.agent_id == agent.id and t.status == "pending"), key=lambda t: (app.stamp(t.created_at), t.id)
        )
        tasks = [self.task_row(t) for t in pending[: int(app.options.get("task_limit", 10))]]
        return Reply(
            200,
            {
                "agent_id": agent.id,
                "server_time": app.server_time(now),
                "recommended_poll_interval_seconds": 30,
                "messages": rows,
                "tasks": tasks,
                "message_count": len(rows),
                "task_count": len(tasks),
                "unread_count": len(rows),
                "remaining_unread_count": max(0, len(unread) - len(rows)),
                "remaining_task_count": max(0, len(pending) - len(tasks)),
                "has_more_messages": len(unread) > len(rows),
                "has_more_tasks": len(pending) > len(tasks),
            },
        )

    def unread_summary(self, agent: Agent) -> Reply:
        counts: dict[str, int] = {}
        for m in self.app.messages:
            if m.agent_id == agent.id and not m.read:
                counts[m.type] = counts.get(m.type, 0) + 1
        by_type = dict(sorted(counts.items()))  # GROUP BY type
        discussion = sum(counts.get(k, 0) for k in CATEGORY_TYPES["discussion"])
        strategy = sum(counts.get(k, 0) for k in CATEGORY_TYPES["strategy"])
        return Reply(
            200, {"discussion_unread": discussion, "strategy_unread": strategy, "total_unread": discussion + strategy, "by_type": by_type}
        )

    def recent(self, agent: Agent, category: str | None, limit: int) -> Reply:
        kinds = CATEGORY_TYPES.get(category or "")
        rows = [m for m in self.app.messages if m.agent_id == agent.id and (kinds is None or m.type in kinds)]
        return Reply(200, {"messages": [self.message_row(m) for m in self._newest(rows)[: max(1, min(limit, 50))]]})

    def mark_read(self, agent: Agent, categories: list[str]) -> Reply:
        kinds = {k for c in categories for k in CATEGORY_TYPES.get(c, ())}
        updated = 0
        for m in self.app.messages:
            if kinds and m.agent_id == agent.id and not m.read and m.type in kinds:
                m.read = True
                updated += 1
        return Reply(200, {"success": True, "updated": updated})

    def send_message(self, body: Any, now: float) -> Reply:
        message = self.app.store_message(body.agent_id, body.type, body.content, body.data, now)
        return Reply(200, {"success": True, "message_id": message.id})

    def create_task(self, body: Any, now: float) -> Reply:
        task = Task(self.app.next_id("task"), body.agent_id, body.type, body.input_data or None, now, updated_at=now)
        self.app.tasks.append(task)
        return Reply(200, {"success": True, "task_id": task.id})

    # -- scenario events: the real actions ---------------------------------------------------------
    def notify(self, agent: Agent, kind: str, now: float) -> list[Message]:
        """Make ``agent`` a notification of one of the nine types by the action that makes it on the server.

        A peer follows it; a provider it follows posts; a peer replies to its post, or @mentions it
        in a reply to a peer's post; or it replies to a peer's post and the peer accepts the reply.
        The posts a reply needs are made first when there are none (as a scenario's seeded posts are).
        """
        app, social, signals = self.app, self.app.social, self.signals
        before = len(app.messages)
        parent = "strategy" if kind.startswith("strategy") else "discussion"
        if kind == "new_follower":
            self.follow(social.peer(now, besides=agent.followers | {agent.id}), agent.id, now)
        elif kind in ("discussion_started", "strategy_published"):
            leaders = sorted(a for a in app.leaders_of(agent.id) if a in app.agents and a != agent.id)
            leader = app.agents[app.rng.choice(leaders)] if leaders else social.peer(now, besides={agent.id})
            app.subscribe(agent.id, leader.id, now)
            signals.post(leader, parent, self._post_body(parent), now, limited=False)
        elif kind in ("discussion_reply", "strategy_reply"):
            own = [s for s in social.signals.values() if s.agent_id == agent.id and s.message_type == parent]
            signal = app.rng.choice(own) if own else self._silent_post(agent, parent, now)
            signals.reply(social.peer(now, besides={agent.id}), signal.id, app.fake.sentence(nb_words=10), now, limited=False)
        elif kind in ("discussion_mention", "strategy_mention"):
            if not re.fullmatch(r"[A-Za-z0-9_\-]{2,64}", agent.name):
                raise ValueError(f"agent {agent.name!r} cannot be @mentioned (a name of 2-64 letters, digits, _ or -)")
            author = social.peer(now, besides={agent.id})
            signal = self._silent_post(author, parent, now)
            signals.reply(author, signal.id, f"@{agent.name} {app.fake.sentence(nb_words=8)}", now, limited=False)
        elif kind in ("discussion_reply_accepted", "strategy_reply_accepted"):
            author = social.peer(now, besides={agent.id})
            signal = self._silent_post(author, parent, now)
            signals.reply(agent, signal.id, app.fake.sentence(nb_words=10), now, limited=False)
            signals.accept(author, signal.id, signal.replies[-1].id, now)
        else:
            raise ValueError(f"{kind!r} is not one of the public server's notification types: {', '.join(UPSTREAM_TYPES)}")
        return [m for m in app.messages[before:] if m.agent_id == agent.id]

    def _post_body(self, kind: str) -> Any:
        app = self.app
        symbol = app.rng.choice(("BTC", "ETH", "SOL", "NVDA", "AAPL"))
        market = "crypto" if symbol in ("BTC", "ETH", "SOL") else "us-stock"
        title = app.rng.choice((f"{symbol}: breakout or fakeout?", f"Why I am long {symbol}", f"{symbol} range plan"))
        content = app.fake.paragraph(nb_sentences=2)
        from .validation import DiscussionRequest, StrategyRequest  # pydantic: imported by the upstream profile only

        if kind == "strategy":
            return StrategyRequest(market=market, title=title, content=content, symbols=symbol, tags=f"{market},{symbol.lower()}")
        return DiscussionRequest(market=market, symbol=symbol, title=title, content=content)

    def _silent_post(self, author: Agent, kind: str, now: float) -> Any:
        """A post made without telling anyone (what a scenario's seeded state holds)."""
        body = self._post_body(kind)
        symbol = getattr(body, "symbol", None)
        return self.signals.new_signal(
            author, kind, body.market, body.title, body.content, now, symbol=symbol, symbols=getattr(body, "symbols", None)
        )

    def emit(self, event: str, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        """The scenario events ``reply``, ``follow``, ``signal``, ``trade_copied`` and ``message`` (without content)."""
        app = self.app
        agent = app.agent_ref(data.get("agent"))
        count = int(data.get("count", 1))
        if event == "reply":
            ids = []
            for _ in range(count):
                own = [s for s in app.social.signals.values() if s.agent_id == agent.id]
                signal = app.rng.choice(own) if own else self._silent_post(agent, "discussion", now)
                content = str(data.get("content") or app.fake.sentence(nb_words=10))
                self.signals.reply(app.social.peer(now, besides={agent.id}), signal.id, content, now, limited=False)
                ids.append(signal.replies[-1].id)
            return {"reply_ids": ids}
        if event == "follow":
            return {"message_ids": [m.id for _ in range(count) for m in self.notify(agent, "new_follower", now)]}
        if event == "signal":
            kind = str(data.get("message_type") or "discussion")
            before = len(app.messages)
            leaders = sorted(a for a in app.leaders_of(agent.id) if a in app.agents and a != agent.id)
            leader = app.agents[app.rng.choice(leaders)] if leaders else app.social.peer(now, besides={agent.id})
            app.subscribe(agent.id, leader.id, now)
            body = self._post_body(kind)
            if data.get("title"):
                body.title = str(data["title"])
            answer = self.signals.post(leader, kind, body, now, limited=False)
            return {"signal_id": answer.body["signal_id"], "message_ids": [m.id for m in app.messages[before:] if m.agent_id == agent.id]}
        if event == "trade_copied":  # copy trading opens positions; the server tells nobody
            return {"message_ids": [], "skipped": "the public server sends no notification when a follower copies a trade"}
        if event == "message":
            kinds = ("new_follower", "discussion_reply", "discussion_started")
            return {
                "message_ids": [m.id for _ in range(count) for m in self.notify(agent, str(data.get("type") or app.rng.choice(kinds)), now)]
            }
        raise ValueError(f"unknown aitrader event {event!r}")
