"""AI-Trader as a pure state machine, in two profiles (no framework, no clock reads).

``documented``: what the heartbeat SKILL.md (the seed) says: ``X-Claw-Token``, the
``minimal`` or ``extended`` heartbeat, messages handed out once (unless redelivered),
the seed's four notification types and its flat WebSocket frames.

``upstream``: what the public server does (HKUDS/AI-Trader ``service/server`` at 05cbc0e):
the token in ``Authorization`` only, the 12-key heartbeat, the newest 50 unread marked
read on delivery, pending tasks on every call, nine type strings, each made by the action
that makes it on the server, ``{type, content, data}`` frames, login rotating the token,
content rate limits, FastAPI's error bodies. Its operations are in :mod:`.upstream`.

Signals, replies and follows live in :mod:`.social`; this module holds agents, follows,
messages, tasks, the heartbeat and the notification push (with its seeded losses).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from faker import Faker

from ...core.catalogue import (
    AGENT_REGISTERED,
    MESSAGE_REDELIVERY,
    TOKEN_ROTATED,
    WS_LOST,
    AgentRegistered,
    MessageRedelivery,
    TokenRotated,
    WsLost,
)
from ...core.clock import format_instant
from ...core.limits import AITRADER_QUEUE_LIMIT
from ...core.recorder import DISCARD, Recorder
from ...core.reply import Reply
from .schema import DOCUMENTED_TYPES, UPSTREAM_TYPES

__all__ = ["Agent", "AiTrader", "Message", "Subscription", "Task", "detail", "int_param", "int_param_error", "validation_error"]

_URLSAFE = string.ascii_letters + string.digits + "-_"


def detail(status: int, text: str) -> Reply:
    """FastAPI's error shape."""
    return Reply(status, {"detail": text})


def validation_error(errors: list[tuple[tuple[str | int, ...], str, str, Any]]) -> Reply:
    """FastAPI/pydantic v2's 422: ``{"detail": [{type, loc, msg, input}]}``."""
    return Reply(422, {"detail": [{"type": kind, "loc": list(loc), "msg": msg, "input": given} for loc, kind, msg, given in errors]})


def check_body(
    body: Any, fields: Mapping[str, type | tuple[type, ...]], optional: Mapping[str, type | tuple[type, ...]] | None = None
) -> Reply | None:
    if not isinstance(body, dict):
        return validation_error(
            [(("body",), "model_attributes_type", "Input should be a valid dictionary or object to extract fields from", body)]
        )
    errors: list[tuple[tuple[str | int, ...], str, str, Any]] = []
    for name, kinds in fields.items():
        if name not in body:
            errors.append((("body", name), "missing", "Field required", body))
        elif not isinstance(body[name], kinds) or (
            isinstance(body[name], bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))
        ):
            errors.append((("body", name), "type_error", f"Input should be a valid {_type_name(kinds)}", body[name]))
    for name, kinds in (optional or {}).items():
        if body.get(name) is not None and not isinstance(body[name], kinds):
            errors.append((("body", name), "type_error", f"Input should be a valid {_type_name(kinds)}", body[name]))
    return validation_error(errors) if errors else None


def int_param(value: str) -> int | None:
    """A query parameter FastAPI would parse as an int (ASCII digits, one optional sign), else None."""
    text = value.strip()
    digits = text[1:] if text[:1] in "+-" else text
    return int(text) if digits.isascii() and digits.isdigit() else None


def int_param_error(name: str, value: str) -> Reply:
    return Reply(
        422,
        {
            "detail": [
                {
                    "type": "int_parsing",
                    "loc": ["query", name],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "input": value,
                }
            ]
        },
    )


def _type_name(kinds: type | tuple[type, ...]) -> str:
    first = kinds[0] if isinstance(kinds, tuple) else kinds
    return {str: "string", int: "integer", float: "number", dict: "dictionary", list: "list", bool: "boolean"}.get(first, first.__name__)


@dataclass(slots=True)
class Agent:
    id: int
    name: str
    password: str
    token: str
    initial_balance: float = 100000.0
    wallet_address: str | None = None
    points: int = 0
    reputation_score: float = 0  # an INTEGER column on the server: 0, not 0.0
    followers: set[int] = field(default_factory=set)  # ids of active follows (kept by AiTrader.subscribe)
    following: set[int] = field(default_factory=set)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(slots=True)
class Message:
    id: int
    agent_id: int
    type: str
    content: str
    data: dict[str, Any] | None
    created_at: float
    read: bool = False
    delivered: bool = False
    frame_extra: dict[str, Any] = field(default_factory=dict)  # documented frames carry fields the row does not
    frame_data: dict[str, Any] | None = None  # upstream: the data as pushed (the row stores an empty object as null)


@dataclass(slots=True)
class Subscription:
    """A follow: the server keeps rows, inactive after an unfollow, a new one on the next follow."""

    id: int
    leader_id: int
    follower_id: int
    created_at: float
    active: bool = True


@dataclass(slots=True)
class Task:
    id: int
    agent_id: int
    type: str
    input_data: dict[str, Any] | None
    created_at: float
    status: str = "pending"
    result_data: dict[str, Any] | None = None
    updated_at: float = 0.0
    delivered: bool = False


class AiTrader:
    name = "aitrader"

    def __init__(
        self, *, state: Mapping[str, Any], options: Mapping[str, Any], seed: int, start: float, profile: str = "documented"
    ) -> None:
        from .social import Social  # the social graph builds on agents made here
        from .upstream import Upstream

        self.profile = profile
        self.upstream = profile == "upstream"
        self.options = dict(options)
        self.seed = seed
        self.fake = Faker()
        self.fake.seed_instance(seed)
        self.rng = random.Random(f"{seed}:aitrader")
        self.loss_rng = random.Random(f"{seed}:aitrader:ws-loss")
        self.trade_rng = random.Random(f"{seed}:aitrader:trades")
        self.agents: dict[int, Agent] = {}
        self.messages: list[Message] = []
        self.tasks: list[Task] = []
        self.subscriptions: list[Subscription] = []
        self._ids = {"agent": 0, "message": 0, "task": 0}
        #: notify frames waiting per socket before a push counts as lost (a client that does not read)
        self.queue_limit = int(self.options.get("queue_limit", AITRADER_QUEUE_LIMIT))
        self.ws_loss: dict[str, Any] = dict(state.get("ws_loss") or {})
        self._pushes = 0
        self.redeliver_probability = float(state.get("redeliver_probability", 0.0))
        #: set by the adapter: send a frame to the agent's socket (agent id, frame, message id)
        self.pusher: Callable[[int, dict[str, Any], int], None] | None = None
        #: agent ids with an open notify socket (kept by the adapter)
        self.connected: set[int] = set()
        #: set by the runtime: journal what only the domain knows
        self.journal: Recorder = DISCARD
        #: tokens that no longer work, and whose they were (a request with one still names its agent)
        self.retired_tokens: dict[str, int] = {}
        specs: list[dict[str, Any]] = (
            state["agents"] if state.get("agents") is not None else [{"name": "demo-bot", "password": "demo-password"}]
        )
        for spec in specs:
            self.new_agent(
                spec.get("name") or self._peer_name(),
                spec.get("password") or "password",
                start,
                agent_id=spec.get("id"),
                token=spec.get("token"),
            )
        #: the default agent of scenario events; None when the scenario starts with no agent (a fresh server)
        self.me: Agent | None = next(iter(self.agents.values()), None)
        self.up = Upstream(self)
        self.social = Social(self, state, start)
        for _ in range(int(state.get("unread", 0))):
            self.emit("message", {}, start)
        for _ in range(int(state.get("pending_tasks", 0))):
            self.emit("task", {}, start)

    # -- ids, names, tokens, times ----------------------------------------------
    def next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def _peer_name(self) -> str:
        return self.fake.user_name().replace(".", "_")[:24] + self.fake.bothify("##")

    def new_token(self) -> str:
        if self.upstream:  # secrets.token_urlsafe(32): 43 URL-safe characters
            return "".join(self.rng.choice(_URLSAFE) for _ in range(43))
        return "claw_" + "".join(self.rng.choice("0123456789abcdef") for _ in range(32))

    def new_agent(
        self,
        name: str,
        password: str,
        now: float,
        *,
        agent_id: int | None = None,
        token: str | None = None,
        balance: float = 100000.0,
        seeded: bool = True,
    ) -> Agent:
        """An agent; ``seeded``: with a generated wallet, points and reputation (a registration on the server has none)."""
        if agent_id is None:
            agent_id = self.next_id("agent")
            while agent_id in self.agents:
                agent_id = self.next_id("agent")
        agent = Agent(
            id=int(agent_id),
            name=name,
            password=password,
            token=token or self.new_token(),
            initial_balance=balance,
        )
        if seeded:
            agent.wallet_address = "0x" + self.fake.hexify("^" * 40)
            agent.points = self.fake.random_int(0, 500)
            score = self.fake.pyfloat(min_value=0, max_value=100)
            agent.reputation_score = int(score) if self.upstream else round(score, 1)  # an INTEGER column on the server
        self.agents[agent.id] = agent
        return agent

    def stamp(self, instant: float) -> str:
        """A row's ``created_at``: ISO with Z (documented), SQLite's format or ISO-Z microseconds (upstream)."""
        if not self.upstream:
            return format_instant(instant)
        if self.options.get("created_at_format") == "iso":
            return format_instant(instant, precision="us")
        return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%d %H:%M:%S")

    @staticmethod
    def server_time(instant: float) -> str:
        """``datetime.utcnow().isoformat() + 'Z'``: microseconds, omitted when zero."""
        moment = datetime.fromtimestamp(instant, UTC).replace(tzinfo=None)
        return moment.isoformat() + "Z"

    def agent_ref(self, ref: Any) -> Agent:
        if ref is None:
            if self.me is None:
                raise ValueError("this scenario has no aitrader agents: name the agent (id or name) the event is for")
            return self.me
        for agent in self.agents.values():
            if agent.id == ref or agent.name == ref or str(agent.id) == str(ref):
                return agent
        raise ValueError(f"no aitrader agent {ref!r}; agents: {', '.join(a.name for a in self.agents.values())}")

    # -- auth -----------------------------------------------------------------------
    def authenticate(self, authorization: str | None, claw_token: str | None) -> Agent | Reply:
        token: str | None = None
        if authorization:
            token = authorization[7:].strip() if authorization.startswith("Bearer ") else authorization.strip()
        if token is None and claw_token and not self.upstream:
            token = claw_token.strip()
        for agent in self.agents.values():
            if token and agent.token == token:
                return agent
        return detail(401, "Invalid token")

    def identify(self, headers: Sequence[tuple[bytes, bytes]], query: bytes) -> str | None:
        """The agent a request's token names (also a token it no longer has: a rotated one)."""
        token: str | None = None
        for name, value in headers:
            if name == b"authorization":
                text = value.decode("latin-1")
                token = text[7:].strip() if text.startswith("Bearer ") else text.strip()
            elif name == b"x-claw-token" and token is None:
                token = value.decode("latin-1").strip()
        if not token:
            return None
        for agent in self.agents.values():
            if agent.token == token:
                return f"agent:{agent.id}"
        retired = self.retired_tokens.get(token)
        return f"agent:{retired}" if retired is not None else None

    def settings(self) -> dict[str, Any]:
        """What shapes timing and delivery in this run (journaled when the scenario starts)."""
        under_test = self.credentials()
        return {
            #: who the client under test is (the credential it is given)
            "client": f"agent:{under_test[0]['agent_id']}" if under_test else None,
            "heartbeat_variant": self.options.get("heartbeat_variant", "minimal"),
            "message_limit": int(self.options.get("message_limit", 50)),
            "task_limit": int(self.options.get("task_limit", 10)),
            "ws_loss": dict(self.ws_loss),
            "queue_limit": self.queue_limit,
            "redeliver_probability": self.redeliver_probability,
        }

    def register(self, body: Any, now: float) -> Reply:
        problem = check_body(body, {"name": str, "password": str}, {"initial_balance": (int, float), "wallet_address": str})
        if problem:
            return problem
        if any(a.name == body["name"] for a in self.agents.values()):
            return detail(400, "Agent name already exists")
        agent = self.new_agent(
            body["name"],
            body["password"],
            now,
            balance=float(body["initial_balance"] if body.get("initial_balance") is not None else 100000.0),
        )
        self.journal.record(AGENT_REGISTERED, AgentRegistered(agent_id=agent.id, name=agent.name), principal=f"agent:{agent.id}")
        return Reply(200, {"token": agent.token, "agent_id": agent.id, "name": agent.name, "initial_balance": agent.initial_balance})

    def login(self, body: Any) -> Reply:
        problem = check_body(body, {"name": str, "password": str})
        if problem:
            return problem
        agent = next((a for a in self.agents.values() if a.name == body["name"] and a.password == body["password"]), None)
        if agent is None:
            return detail(401, "Invalid credentials")
        return Reply(200, {"token": agent.token, "agent_id": agent.id, "name": agent.name})

    def rotate(self, agent: Agent, *, reason: str) -> None:
        old = agent.token
        agent.token = self.new_token()
        self.retired_tokens[old] = agent.id
        self.journal.record(
            TOKEN_ROTATED,
            TokenRotated(agent_id=agent.id, reason=reason, old=old[:8] + "...", new=agent.token[:8] + "..."),
            principal=f"agent:{agent.id}",
        )

    def me_view(self, agent: Agent) -> Reply:
        return Reply(
            200,
            {
                "id": agent.id,
                "name": agent.name,
                "token": agent.token,
                "wallet_address": agent.wallet_address,
                "points": agent.points,
                "cash": agent.initial_balance,
                "reputation_score": agent.reputation_score,
            },
        )

    # -- follows -------------------------------------------------------------------------------
    def subscribe(self, follower_id: int, leader_id: int, now: float) -> bool:
        """A new active follow (False when it is one already)."""
        if any(s.active and s.follower_id == follower_id and s.leader_id == leader_id for s in self.subscriptions):
            return False
        self.subscriptions.append(Subscription(self.next_id("subscription"), leader_id, follower_id, now))
        if follower_id in self.agents:
            self.agents[follower_id].following.add(leader_id)
        if leader_id in self.agents:
            self.agents[leader_id].followers.add(follower_id)
        return True

    def unsubscribe(self, follower_id: int, leader_id: int) -> None:
        for s in self.subscriptions:
            if s.follower_id == follower_id and s.leader_id == leader_id:
                s.active = False
        if follower_id in self.agents:
            self.agents[follower_id].following.discard(leader_id)
        if leader_id in self.agents:
            self.agents[leader_id].followers.discard(follower_id)

    def followers_of(self, leader_id: int) -> list[int]:
        """Active followers, in the order they followed."""
        return [s.follower_id for s in self.subscriptions if s.active and s.leader_id == leader_id and s.follower_id != leader_id]

    def leaders_of(self, follower_id: int) -> set[int]:
        return {s.leader_id for s in self.subscriptions if s.active and s.follower_id == follower_id}

    # -- messages and their push -------------------------------------------------------
    def store_message(
        self, agent_id: int, kind: str, content: str, data: dict[str, Any] | None, now: float, *, frame_extra: dict[str, Any] | None = None
    ) -> Message:
        if self.upstream:  # json.dumps(data) if data else None; the push sends the data as given
            message = Message(self.next_id("message"), agent_id, kind, content, data or None, now, frame_data=data)
        else:
            message = Message(self.next_id("message"), agent_id, kind, content, data, now, frame_extra=frame_extra or {})
        self.messages.append(message)
        self._push(message, now)
        return message

    def frame(self, message: Message, now: float) -> dict[str, Any]:
        if self.upstream:
            return {"type": message.type, "content": message.content, "data": message.frame_data}
        frame: dict[str, Any] = {"type": message.type}
        # the seed's frames are flat: the payload's fields at the top, never overriding type/content/timestamp
        frame.update(
            (k, v) for k, v in {**(message.data or {}), **message.frame_extra}.items() if k not in ("type", "content", "timestamp")
        )
        frame["content"] = message.frame_extra.get("content", message.content)
        frame["timestamp"] = format_instant(now)
        return frame

    def _lost(self) -> bool:
        pattern = self.ws_loss.get("pattern")
        index = self._pushes
        self._pushes += 1
        if pattern:
            return bool(pattern[index % len(pattern)] == "x")
        probability = float(self.ws_loss.get("probability", 0.0))
        return probability > 0 and self.loss_rng.random() < probability

    def _push(self, message: Message, now: float) -> None:
        if self.pusher is None or message.agent_id not in self.connected:
            return
        frame = self.frame(message, now)
        if self._lost():
            self.journal.record(
                WS_LOST,
                WsLost(agent_id=message.agent_id, message_id=message.id, type=message.type, frame=frame),
                link=f"agent:{message.agent_id}",
                principal=f"agent:{message.agent_id}",
            )
            return
        self.pusher(message.agent_id, frame, message.id)

    def _row(self, message: Message) -> dict[str, Any]:
        return {
            "id": message.id,
            "type": message.type,
            "content": message.content,
            "data": message.data,
            "created_at": self.stamp(message.created_at),
        }

    def _task_row(self, task: Task) -> dict[str, Any]:
        return {
            "id": task.id,
            "type": task.type,
            "status": task.status,
            "input_data": task.input_data,
            "created_at": self.stamp(task.created_at),
        }

    # -- heartbeat ----------------------------------------------------------------------------
    def heartbeat(self, agent: Agent, body: Any, now: float) -> Reply:
        if self.upstream:
            return self.up.heartbeat(agent, now)
        if body is not None:
            if not isinstance(body, dict):
                return check_body(body, {}) or detail(422, "invalid body")
            if "agent_id" in body and body["agent_id"] != agent.id:
                return detail(403, "agent_id does not match the token")
        messages = sorted((m for m in self.messages if m.agent_id == agent.id and not m.delivered), key=lambda m: m.id)
        rows = [self._row(m) for m in messages]
        for m in messages:
            m.delivered = m.read = True
            if self.redeliver_probability and self.rng.random() < self.redeliver_probability:
                m.delivered = False
                self.journal.record(
                    MESSAGE_REDELIVERY, MessageRedelivery(agent_id=agent.id, message_id=m.id), principal=f"agent:{agent.id}"
                )
        tasks = [t for t in self.tasks if t.agent_id == agent.id and t.status == "pending" and not t.delivered]
        for t in tasks:
            t.delivered = True
        task_rows = [self._task_row(t) for t in tasks]
        if self.options.get("heartbeat_variant") == "extended":
            return Reply(
                200,
                {
                    "status": "ok",
                    "agent_status": "online",
                    "heartbeat_interval_ms": 300000,
                    "messages": rows,
                    "tasks": task_rows,
                    "server_time": format_instant(now),
                },
            )
        return Reply(200, {"messages": rows, "tasks": task_rows})

    # -- the inbox API (documented; upstream: :class:`.upstream.Upstream`) --------------------------
    def send_message(self, body: Any, now: float) -> Reply:
        problem = check_body(body, {"agent_id": int, "type": str, "content": str}, {"data": dict})
        if problem:
            return problem
        message = self.store_message(body["agent_id"], body["type"], body["content"], body.get("data"), now)
        return Reply(200, {"success": True, "message_id": message.id})

    def create_task(self, body: Any, now: float) -> Reply:
        problem = check_body(body, {"agent_id": int, "type": str}, {"input_data": dict})
        if problem:
            return problem
        task = Task(self.next_id("task"), body["agent_id"], body["type"], body.get("input_data"), now, updated_at=now)
        self.tasks.append(task)
        return Reply(200, {"success": True, "task_id": task.id})

    @staticmethod
    def category(kind: str) -> str | None:
        prefix = kind.split("_", 1)[0]
        return prefix if prefix in ("discussion", "strategy") and kind != prefix else None

    def unread_summary(self, agent: Agent) -> Reply:
        by_type: dict[str, int] = {}
        for m in self.messages:
            if m.agent_id == agent.id and not m.read:
                by_type[m.type] = by_type.get(m.type, 0) + 1
        discussion = sum(n for k, n in by_type.items() if self.category(k) == "discussion")
        strategy = sum(n for k, n in by_type.items() if self.category(k) == "strategy")
        return Reply(
            200, {"discussion_unread": discussion, "strategy_unread": strategy, "total_unread": discussion + strategy, "by_type": by_type}
        )

    def recent(self, agent: Agent, category: str | None, limit: int) -> Reply:
        limit = min(50, max(1, limit))
        rows = [m for m in self.messages if m.agent_id == agent.id and (category is None or self.category(m.type) == category)]
        rows.sort(key=lambda m: (m.created_at, m.id), reverse=True)
        return Reply(200, {"messages": [self._row(m) for m in rows[:limit]]})

    def mark_read(self, agent: Agent, body: Any) -> Reply:
        problem = check_body(body, {"categories": list})
        if problem:
            return problem
        wrong: list[tuple[tuple[str | int, ...], str, str, Any]] = [
            (("body", "categories", i), "string_type", "Input should be a valid string", c)
            for i, c in enumerate(body["categories"])
            if not isinstance(c, str)
        ]
        if wrong:
            return validation_error(wrong)  # pydantic's list[str]: was a TypeError (a 500) for an item that is no string
        wanted = set(body["categories"])
        updated = 0
        for m in self.messages:
            if m.agent_id == agent.id and not m.read and self.category(m.type) in wanted:
                m.read = True
                updated += 1
        return Reply(200, {"success": True, "updated": updated})

    # -- scenario hooks ----------------------------------------------------------------------
    def emit(self, event: str, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        real_action = event == "message" and data.get("content") is None and data.get("data") is None
        if self.upstream and (
            event in ("reply", "follow", "trade_copied", "signal") or (real_action and data.get("type") in (None, *UPSTREAM_TYPES))
        ):
            return self.up.emit(event, data, now)  # made by the server's own actions
        if event in ("reply", "follow", "trade_copied", "signal"):
            return self.social.emit(event, data, now)
        agent = self.agent_ref(data.get("agent"))
        count = int(data.get("count", 1))
        if event == "message":
            stored = []
            for _ in range(count):
                kind = str(data.get("type") or self.rng.choice(DOCUMENTED_TYPES))
                if data.get("type") is None and data.get("content") is None:
                    stored.append(self.social.notify(agent, kind, now).id)
                    continue
                content = str(data.get("content") or self.fake.sentence(nb_words=8))
                stored.append(self.store_message(agent.id, kind, content, dict(data.get("data") or {}) or None, now).id)
            return {"message_ids": stored}
        if event == "task":
            ids = []
            for _ in range(count):
                kind = str(data.get("type") or self.rng.choice(("analyze_market", "publish_signal", "rebalance_portfolio")))
                input_data = dict(data.get("input_data") or {"symbol": self.rng.choice(("BTC/USD", "ETH/USD", "NVDA", "AAPL"))})
                task = Task(self.next_id("task"), agent.id, kind, input_data, now, updated_at=now)
                self.tasks.append(task)
                ids.append(task.id)
            return {"task_ids": ids}
        if event == "complete_task":
            done = []
            for task in self.tasks:
                if task.status == "pending" and (data.get("id") is None or task.id == data["id"]):
                    task.status = "completed"
                    task.result_data = dict(data.get("result_data") or {"ok": True})
                    task.updated_at = now
                    done.append(task.id)
            return {"completed": done}
        if event == "redeliver":
            delivered = sorted((m for m in self.messages if m.agent_id == agent.id and m.delivered), key=lambda m: m.id)[-count:]
            for m in delivered:
                m.delivered = m.read = False
            return {"redelivered": [m.id for m in delivered]}
        if event == "rotate_token":
            self.rotate(agent, reason="scenario")
            return {"agent_id": agent.id}
        raise ValueError(f"unknown aitrader event {event!r}")

    def patch(self, changes: Mapping[str, Any]) -> None:
        if "ws_loss" in changes:
            self.ws_loss = dict(changes["ws_loss"] or {})
            self._pushes = 0
        if "redeliver_probability" in changes:
            self.redeliver_probability = float(changes["redeliver_probability"])

    def credentials(self) -> list[dict[str, Any]]:
        return [
            {"agent_id": a.id, "name": a.name, "password": a.password, "token": a.token}
            for a in self.agents.values()
            if a.id in self._under_test()
        ]

    def _under_test(self) -> set[int]:
        return {a.id for a in self.agents.values() if not self.social.is_peer(a.id)}

    def snapshot(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "agents": self.credentials(),
            "messages": len(self.messages),
            "unread": sum(1 for m in self.messages if not m.read),
            "tasks_pending": sum(1 for t in self.tasks if t.status == "pending"),
            "signals": len(self.social.signals),
            "ws_loss": self.ws_loss,
        }
