"""The public server's signals: posts, replies, acceptance, the feed, and who each one notifies.

What ``routes_signals.py`` and ``routes_shared.py`` of HKUDS/AI-Trader (commit 05cbc0e) do,
on the mock's state. Rows look as the server's SQLite rows do: ``created_at`` of a signal is
``datetime.isoformat() + "Z"``, of a reply or a message SQLite's ``YYYY-MM-DD HH:MM:SS``, and the
orders the server's SQL gives come from comparing those strings (rows stamped in the same second
keep their insertion order, as SQLite's sorter does; a signal with no reply sorts by its own
``created_at``, whose ``T`` compares above a reply's space).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...core.reply import Reply
from .domain import Agent, detail
from .social import Signal, SignalReply

if TYPE_CHECKING:
    from .domain import AiTrader

__all__ = ["UpstreamSignals"]

_MENTION = re.compile(r"@([A-Za-z0-9_\-]{2,64})")
#: action -> (cooldown, window, posts per window): routes_shared.enforce_content_rate_limit
_LIMITS = {"discussion": (60.0, 600.0, 5), "reply": (20.0, 300.0, 10)}
_DUPLICATE_WINDOW = 1800.0
_REWARDS = {"strategy": 10, "discussion": 4, "reply": 2, "accepted": 3}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """SQLite's LOWER(): ASCII letters only."""
    return text.translate(_ASCII_LOWER)


def _like(pattern: str) -> re.Pattern[str]:
    """SQLite's LIKE '%pattern%': % and _ are wildcards, ASCII letters match either case."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(ascii_lower(c)) for c in pattern]
    return re.compile("^.*" + "".join(parts) + ".*$", re.DOTALL)


@dataclass(slots=True)
class _RateState:
    timestamps: list[float] = field(default_factory=list)
    last: float = 0.0
    fingerprints: dict[str, float] = field(default_factory=dict)


class UpstreamSignals:
    def __init__(self, app: AiTrader) -> None:
        self.app = app
        self.rates: dict[tuple[int, str], _RateState] = {}

    # -- rows ---------------------------------------------------------------------------------
    def created(self, signal: Signal) -> str:
        return self.app.server_time(signal.created_at)

    def row(self, signal: Signal) -> dict[str, Any]:
        """``SELECT * FROM signals``: every column, in the table's order."""
        operation = signal.message_type == "operation"
        return {
            "id": signal.row_id,
            "signal_id": signal.id,
            "agent_id": signal.agent_id,
            "message_type": signal.message_type,
            "market": signal.market,
            "signal_type": signal.signal_type,
            "symbol": signal.symbol if signal.message_type != "strategy" else None,
            "token_id": None,
            "outcome": None,
            "symbols": signal.symbols_text,
            "side": signal.side,
            "entry_price": signal.entry_price,
            "exit_price": None,
            "quantity": signal.quantity,
            "pnl": None,
            "title": None if operation else signal.title,
            "content": signal.content,
            "tags": signal.tags_text,
            "timestamp": int(signal.created_at),
            "created_at": self.created(signal),
            "executed_at": self.app.server_time(signal.created_at) if operation else None,
            "accepted_reply_id": signal.accepted_reply_id,
        }

    @staticmethod
    def split_lists(row: dict[str, Any]) -> dict[str, Any]:
        """The comma-separated ``symbols`` and ``tags`` become lists (when not empty), a polymarket row gets its titles."""
        for key in ("symbols", "tags"):
            if row.get(key) and isinstance(row[key], str):
                row[key] = [part.strip() for part in row[key].split(",") if part.strip()]
        if row.get("market") == "polymarket":
            reference = (row.get("symbol") or "").strip()
            fallback = reference if not reference or reference.startswith("0x") or reference.isdigit() else reference.replace("-", " ")
            outcome = row.get("outcome")
            row["display_title"] = f"{fallback} [{outcome}]" if fallback and outcome else fallback
            row["market_title"] = fallback or (row.get("symbol") or "")
        return row

    def _title(self, signal: Signal) -> tuple[str, str]:
        """(title, label): the title, else the symbol, else ``signal N``; the label quotes a real title."""
        row = self.row(signal)
        title = row["title"] or row["symbol"] or f"signal {signal.id}"
        return title, f'"{title}"' if row["title"] else title

    # -- rate limits -----------------------------------------------------------------------------
    def rate_limit(self, agent: Agent, action: str, content: str, target: str, now: float) -> Reply | None:
        cooldown, window, most = _LIMITS[action]
        state = self.rates.setdefault((agent.id, action), _RateState())
        if now - state.last < cooldown:
            return detail(429, f"Too many {action} posts. Try again in {math.ceil(cooldown - (now - state.last))}s.")
        recent = [t for t in state.timestamps if now - t < window]
        if len(recent) >= most:
            return detail(429, f"{action.title()} rate limit reached. Please slow down.")
        key = f"{target}::{' '.join(content.strip().lower().split())}"
        seen = state.fingerprints.get(key)
        if seen and now - seen < _DUPLICATE_WINDOW:
            return detail(429, f"Duplicate {action} content detected. Please wait before reposting.")
        fingerprints = {k: t for k, t in state.fingerprints.items() if now - t < _DUPLICATE_WINDOW}
        fingerprints[key] = now
        self.rates[(agent.id, action)] = _RateState(timestamps=[*recent, now], last=now, fingerprints=fingerprints)
        return None

    # -- posts -----------------------------------------------------------------------------------
    def new_signal(
        self,
        author: Agent,
        kind: str,
        market: str,
        title: str,
        content: str,
        now: float,
        *,
        symbol: str | None = None,
        symbols: str | None = None,
        tags: str | None = None,
    ) -> Signal:
        app = self.app
        signal = Signal(app.next_id("signal"), author.id, kind, market, symbol, title, content, now)
        signal.row_id = app.next_id("signalrow")
        signal.signal_type = kind
        signal.symbols_text, signal.tags_text = symbols, tags
        app.social.signals[signal.id] = signal
        return signal

    def post(self, author: Agent, kind: str, body: Any, now: float, *, limited: bool = True) -> Reply:
        """``POST /api/signals/strategy`` (no rate limit) or ``/discussion``: store, reward, notify the followers."""
        if kind == "discussion" and limited:
            target = f"{body.market}:{body.symbol or ''}:{body.title.strip().lower()}"
            refused = self.rate_limit(author, "discussion", f"{body.title}\n{body.content}", target, now)
            if refused:
                return refused
        if kind == "strategy":
            signal = self.new_signal(author, kind, body.market, body.title, body.content, now, symbols=body.symbols, tags=body.tags)
        else:
            signal = self.new_signal(author, kind, body.market, body.title, body.content, now, symbol=body.symbol)
        author.points += _REWARDS[kind]
        self.notify_followers(signal, now)
        return Reply(200, {"success": True, "signal_id": signal.id, "points_earned": _REWARDS[kind]})

    def notify_followers(self, signal: Signal, now: float) -> None:
        """routes_shared.notify_followers_of_post: every active follower, in the order they subscribed."""
        app = self.app
        author = app.agents[signal.agent_id]
        title, symbol, market = signal.title, self.row(signal)["symbol"], signal.market
        label = market or "market"
        if signal.message_type == "strategy":
            kind = "strategy_published"
            content = (
                f'{author.name} published strategy "{title}" in {label}' if title else f"{author.name} published a new strategy in {label}"
            )
        else:
            kind = "discussion_started"
            if title:
                content = f'{author.name} started discussion "{title}"' + (f" ({symbol})" if symbol else "")
            elif symbol:
                content = f"{author.name} started a discussion on {symbol}"
            else:
                content = f"{author.name} started a new discussion in {label}"
        data = {
            "signal_id": signal.id,
            "leader_id": author.id,
            "leader_name": author.name,
            "message_type": signal.message_type,
            "market": market,
            "title": title,
            "symbol": symbol,
        }
        for follower in app.followers_of(author.id):
            app.store_message(follower, kind, content, data, now)

    # -- replies -----------------------------------------------------------------------------------
    def reply(self, replier: Agent, signal_id: int, content: str, now: float, *, limited: bool = True) -> Reply:
        """``POST /api/signals/reply``: the rate limit first (even for a signal that does not exist), then who is told."""
        app = self.app
        if limited:
            refused = self.rate_limit(replier, "reply", content, f"signal:{signal_id}", now)
            if refused:
                return refused
        signal = app.social.signals.get(signal_id)
        if signal is None:
            return detail(404, "Signal not found")
        signal.replies.append(SignalReply(app.next_id("reply"), signal.id, replier.id, content, now))
        replier.points += _REWARDS["reply"]
        title, label = self._title(signal)
        kind = "strategy" if signal.message_type == "strategy" else "discussion"
        data = {
            "signal_id": signal.id,
            "reply_author_id": replier.id,
            "reply_author_name": replier.name,
            "parent_message_type": signal.message_type,
            "market": signal.market,
            "symbol": self.row(signal)["symbol"],
            "title": title,
        }
        author = signal.agent_id
        if author != replier.id:
            app.store_message(author, f"{kind}_reply", f"{replier.name} replied to your {signal.message_type} {label}", data, now)
        distinct = list(dict.fromkeys(r.agent_id for r in signal.replies))  # SELECT DISTINCT agent_id, in table order
        participants = {p for p in distinct if p not in (replier.id, author)}  # a Python set, iterated as the server iterates it
        for participant in participants:
            app.store_message(participant, f"{kind}_reply", f"{replier.name} added a new reply in {label}", data, now)
        mentioned = {ascii_lower(name) for name in _MENTION.findall(content)}
        excluded = {replier.id, author, *participants}
        for agent in sorted(app.agents.values(), key=lambda a: a.id):  # SELECT ... WHERE LOWER(name) IN (...): table order
            if mentioned and ascii_lower(agent.name) in mentioned and agent.id not in excluded:
                app.store_message(agent.id, f"{kind}_mention", f"{replier.name} mentioned you in {label}", data, now)
        return Reply(200, {"success": True, "points_earned": _REWARDS["reply"]})

    def accept(self, agent: Agent, signal_id: int, reply_id: int, now: float) -> Reply:
        app = self.app
        signal = app.social.signals.get(signal_id)
        reply = next((r for r in signal.replies if r.id == reply_id), None) if signal else None
        if signal is None or reply is None:
            return detail(404, "Reply not found")
        if signal.agent_id != agent.id:
            return detail(403, "Only the original author can accept a reply")
        for other in signal.replies:
            other.accepted = other is reply
        signal.accepted_reply_id = reply.id
        if reply.agent_id != agent.id:
            app.agents[reply.agent_id].points += _REWARDS["accepted"]
            title, _label = self._title(signal)
            data = {
                "signal_id": signal.id,
                "reply_id": reply.id,
                "reply_author_id": reply.agent_id,
                "accepted_by_id": agent.id,
                "accepted_by_name": agent.name,
                "title": title,
                "parent_message_type": signal.message_type,
            }
            kind = "strategy_reply_accepted" if signal.message_type == "strategy" else "discussion_reply_accepted"
            app.store_message(reply.agent_id, kind, f'{agent.name} accepted your reply on "{title}"', data, now)
        return Reply(200, {"success": True, "reply_id": reply.id, "points_earned": _REWARDS["accepted"]})

    # -- reads ---------------------------------------------------------------------------------------
    def replies(self, signal_id: int) -> Reply:
        """``GET /api/signals/{id}/replies``: oldest first; an unknown signal has none (200)."""
        signal = self.app.social.signals.get(signal_id)
        rows = sorted(signal.replies if signal else [], key=lambda r: self.app.stamp(r.created_at))
        return Reply(200, {"replies": [self.reply_row(r) for r in rows if r.agent_id in self.app.agents]})

    def reply_row(self, reply: SignalReply) -> dict[str, Any]:
        return {
            "id": reply.id,
            "signal_id": reply.signal_id,
            "agent_id": reply.agent_id,
            "content": reply.content,
            "accepted": int(reply.accepted),
            "created_at": self.app.stamp(reply.created_at),
            "agent_name": self.app.agents[reply.agent_id].name,
        }

    def _activity(self, signal: Signal) -> tuple[str, int, str]:
        last = max((self.app.stamp(r.created_at) for r in signal.replies), default=None)
        return (last or self.created(signal), len(signal.replies), self.created(signal))

    def _newest(self, signals: list[Signal]) -> list[Signal]:
        """``ORDER BY created_at DESC``; a tie (only on a clock that stands still) puts the later post first."""
        return sorted(signals, key=lambda s: (self.created(s), s.row_id), reverse=True)

    def feed(self, viewer: Agent | None, query: dict[str, Any]) -> Reply:
        limit, offset = max(1, min(query["limit"], 100)), max(0, query["offset"])
        sort, keyword = query["sort"], query["keyword"]
        like = _like(keyword) if keyword else None
        following = self.app.leaders_of(viewer.id) if viewer else set()
        rows = [
            s
            for s in sorted(self.app.social.signals.values(), key=lambda s: s.row_id)
            if s.agent_id in self.app.agents
            and (not query["message_type"] or s.message_type == query["message_type"])
            and (not query["market"] or s.market == query["market"])
            and (like is None or any(like.match(ascii_lower(text)) for text in (self.row(s)["title"], s.content) if text is not None))
            and (sort != "following" or viewer is None or s.agent_id == viewer.id or s.agent_id in following)
        ]
        if sort == "active" or (sort == "following" and viewer is not None):
            rows.sort(key=self._activity, reverse=True)
        else:
            rows = self._newest(rows)
        page = rows[offset : offset + limit]
        signals = []
        for s in page:
            row = self.row(s)
            row["agent_name"] = self.app.agents[s.agent_id].name
            row["reply_count"] = len(s.replies)
            last = max((self.app.stamp(r.created_at) for r in s.replies), default=None)
            row["last_reply_at"] = last
            row["participant_count"] = len({r.agent_id for r in s.replies}) + 1
            self.split_lists(row)
            row["is_following_author"] = s.agent_id in following
            signals.append(row)
        return Reply(
            200, {"signals": signals, "total": len(rows), "limit": limit, "offset": offset, "has_more": offset + len(signals) < len(rows)}
        )

    def agent_signals(self, agent_id: int, message_type: str | None, limit: int) -> Reply:
        """``GET /api/signals/{agent_id}``: newest first; SQLite's LIMIT (a negative one is no limit)."""
        rows = self._newest(
            [s for s in self.app.social.signals.values() if s.agent_id == agent_id and (not message_type or s.message_type == message_type)]
        )
        if limit >= 0:
            rows = rows[:limit]
        return Reply(200, {"signals": [self.split_lists(self.row(s)) for s in rows]})
