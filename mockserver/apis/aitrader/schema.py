"""What a scenario may say about AI-Trader: options, state and events (JSON Schema)."""

from __future__ import annotations

from typing import Any

from ..routes import RouteSpec

__all__ = [
    "DOCUMENTED_TYPES",
    "EVENT_SCHEMAS",
    "OPTIONS_SCHEMA",
    "ROUTES",
    "ROUTES_UPSTREAM",
    "STATE_PATCH_SCHEMA",
    "STATE_SCHEMA",
    "UPSTREAM_TYPES",
]

#: The seed's notification types (heartbeat SKILL.md); ``signal`` is its fourth row.
DOCUMENTED_TYPES = ("new_reply", "new_follower", "trade_copied", "signal")
#: Every type the public server produces (reference/protocols.md §1.4).
UPSTREAM_TYPES = (
    "new_follower",
    "discussion_started",
    "strategy_published",
    "discussion_reply",
    "strategy_reply",
    "discussion_mention",
    "strategy_mention",
    "discussion_reply_accepted",
    "strategy_reply_accepted",
)

_PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
_WS_LOSS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "which notifications the WebSocket loses (the heartbeat still delivers them)",
    "properties": {
        "probability": {**_PROBABILITY, "description": "each push is lost with this probability (seeded)"},
        "pattern": {
            "type": "string",
            "pattern": "^[.x]+$",
            "description": "cycled per push: x = lost, . = sent (e.g. '.x' loses every second one)",
        },
    },
}

AGENT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{2,64}$"},
        "password": {"type": "string", "minLength": 1},
        "token": {"type": "string", "minLength": 8, "description": "generated from the seed if absent"},
        "followers": {"type": "integer", "minimum": 0, "description": "generated agents that follow this one"},
    },
}

STATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "agents": {
            "type": "array",
            "items": AGENT,
            "description": "agents under test (the first is the default); [] for a fresh server, where clients register",
        },
        "peers": {"type": "integer", "minimum": 0, "description": "other agents that post, reply and follow (more join when needed)"},
        "signals": {"type": "integer", "minimum": 0, "description": "signals the peers posted before the start"},
        "own_discussions": {"type": "integer", "minimum": 0, "description": "discussions the first agent posted before the start"},
        "unread": {"type": "integer", "minimum": 0, "description": "unread messages waiting for the first agent at the start"},
        "pending_tasks": {"type": "integer", "minimum": 0},
        "ws_loss": _WS_LOSS,
        "redeliver_probability": {**_PROBABILITY, "description": "documented profile: a delivered message comes again"},
    },
}

STATE_PATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"ws_loss": _WS_LOSS, "redeliver_probability": STATE_SCHEMA["properties"]["redeliver_probability"]},
}

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "heartbeat_variant": {"enum": ["minimal", "extended"], "description": "documented profile: which of the seed's two responses"},
        "created_at_format": {"enum": ["sqlite", "iso"], "description": "upstream profile: 'YYYY-MM-DD HH:MM:SS' (SQLite) or ISO with Z"},
        "message_limit": {"type": "integer", "minimum": 1, "description": "upstream: messages per heartbeat (50)"},
        "task_limit": {"type": "integer", "minimum": 1, "description": "upstream: tasks per heartbeat (10)"},
        "queue_limit": {
            "type": "integer",
            "minimum": 10,
            "description": "notify frames waiting per socket; beyond, a push is lost (ws.lost) as the socket may lose them (1000)",
        },
        "cors_origins": {
            "type": "array",
            "items": {"type": "string"},
            "description": "upstream: the origins CORS allows (the server's CLAWTRADER_CORS_ORIGINS; default http://localhost:3000)",
        },
    },
}

_AGENT_REF = {"type": ["integer", "string"], "description": "agent id or name (default: the first agent)"}

EVENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "message": {
        "type": "object",
        "additionalProperties": False,
        "description": (
            "store a notification for an agent (pushed on its WebSocket, handed out by the heartbeat); upstream, without "
            "content or data and with no type or one of the nine, the server's own action makes it (a peer follows, replies, ...)"
        ),
        "properties": {
            "agent": _AGENT_REF,
            "type": {"type": "string"},
            "content": {"type": "string"},
            "data": {"type": "object"},
            "count": {"type": "integer", "minimum": 1, "maximum": 10000},
        },
    },
    "reply": {
        "type": "object",
        "additionalProperties": False,
        "description": "a peer replies to one of the agent's posts (upstream: as POST /api/signals/reply does, telling whom it tells)",
        "properties": {"agent": _AGENT_REF, "content": {"type": "string"}, "count": {"type": "integer", "minimum": 1}},
    },
    "follow": {
        "type": "object",
        "additionalProperties": False,
        "description": "a peer starts following the agent (upstream: one that does not yet, as POST /api/signals/follow does)",
        "properties": {"agent": _AGENT_REF, "count": {"type": "integer", "minimum": 1}},
    },
    "trade_copied": {
        "type": "object",
        "additionalProperties": False,
        "description": "a follower copies the agent's trade (upstream: nothing, the server tells no one)",
        "properties": {"agent": _AGENT_REF, "symbol": {"type": "string"}, "side": {"enum": ["buy", "sell"]}},
    },
    "signal": {
        "type": "object",
        "additionalProperties": False,
        "description": "a provider the agent follows publishes a discussion or strategy (upstream: all its followers are told)",
        "properties": {"agent": _AGENT_REF, "message_type": {"enum": ["discussion", "strategy"]}, "title": {"type": "string"}},
    },
    "task": {
        "type": "object",
        "additionalProperties": False,
        "description": "create a task for an agent",
        "properties": {
            "agent": _AGENT_REF,
            "type": {"type": "string"},
            "input_data": {"type": "object"},
            "count": {"type": "integer", "minimum": 1},
        },
    },
    "complete_task": {
        "type": "object",
        "additionalProperties": False,
        "description": "complete pending tasks (all, or the one with this id)",
        "properties": {"id": {"type": "integer"}, "result_data": {"type": "object"}},
    },
    "redeliver": {
        "type": "object",
        "additionalProperties": False,
        "description": "hand out already delivered messages again (the newest `count`)",
        "properties": {"agent": _AGENT_REF, "count": {"type": "integer", "minimum": 1}},
    },
    "rotate_token": {
        "type": "object",
        "additionalProperties": False,
        "description": "the agent logs in elsewhere: a new token, the old one stops working",
        "properties": {"agent": _AGENT_REF},
    },
}

#: The routes each profile's app serves (tests/test_route_tables.py keeps these in step with app.py).
ROUTES_UPSTREAM = (
    RouteSpec("/openapi.json", ("GET",), "http"),
    RouteSpec("/docs", ("GET",), "http"),
    RouteSpec("/docs/oauth2-redirect", ("GET",), "http"),
    RouteSpec("/redoc", ("GET",), "http"),
    RouteSpec("/health", ("GET",), "http"),
    RouteSpec("/api/market-intel/overview", ("GET",), "http"),
    RouteSpec("/api/market-intel/news", ("GET",), "http"),
    RouteSpec("/api/market-intel/macro-signals", ("GET",), "http"),
    RouteSpec("/api/market-intel/etf-flows", ("GET",), "http"),
    RouteSpec("/api/market-intel/stocks/featured", ("GET",), "http"),
    RouteSpec("/api/market-intel/stocks/{symbol}/latest", ("GET",), "http"),
    RouteSpec("/api/market-intel/stocks/{symbol}/history", ("GET",), "http"),
    RouteSpec("/ws/notify/{client_id}", (), "ws"),
    RouteSpec("/api/claw/messages", ("POST",), "http"),
    RouteSpec("/api/claw/messages/unread-summary", ("GET",), "http"),
    RouteSpec("/api/claw/messages/recent", ("GET",), "http"),
    RouteSpec("/api/claw/messages/mark-read", ("POST",), "http"),
    RouteSpec("/api/claw/tasks", ("POST",), "http"),
    RouteSpec("/api/claw/agents/heartbeat", ("POST",), "http"),
    RouteSpec("/api/claw/agents/selfRegister", ("POST",), "http"),
    RouteSpec("/api/claw/agents/login", ("POST",), "http"),
    RouteSpec("/api/claw/agents/token-recovery/request", ("POST",), "http"),
    RouteSpec("/api/claw/agents/token-recovery/confirm", ("POST",), "http"),
    RouteSpec("/api/claw/agents/password-reset/request", ("POST",), "http"),
    RouteSpec("/api/claw/agents/password-reset/confirm", ("POST",), "http"),
    RouteSpec("/api/claw/agents/me", ("GET",), "http"),
    RouteSpec("/api/claw/agents/me/points", ("GET",), "http"),
    RouteSpec("/api/claw/agents/count", ("GET",), "http"),
    RouteSpec("/api/signals/realtime", ("POST",), "http"),
    RouteSpec("/api/signals/strategy", ("POST",), "http"),
    RouteSpec("/api/signals/discussion", ("POST",), "http"),
    RouteSpec("/api/signals/grouped", ("GET",), "http"),
    RouteSpec("/api/signals/{signal_id}/replies", ("GET",), "http"),
    RouteSpec("/api/signals/feed", ("GET",), "http"),
    RouteSpec("/api/signals/following", ("GET",), "http"),
    RouteSpec("/api/signals/subscribers", ("GET",), "http"),
    RouteSpec("/api/signals/{agent_id}", ("GET",), "http"),
    RouteSpec("/api/signals/reply", ("POST",), "http"),
    RouteSpec("/api/signals/{signal_id}/replies/{reply_id}/accept", ("POST",), "http"),
    RouteSpec("/api/profit/history", ("GET",), "http"),
    RouteSpec("/api/leaderboard/position-pnl", ("GET",), "http"),
    RouteSpec("/api/trending", ("GET",), "http"),
    RouteSpec("/api/price", ("GET",), "http"),
    RouteSpec("/api/positions", ("GET",), "http"),
    RouteSpec("/api/agents/{agent_id}/positions", ("GET",), "http"),
    RouteSpec("/api/agents/{agent_id}/summary", ("GET",), "http"),
    RouteSpec("/api/signals/follow", ("POST",), "http"),
    RouteSpec("/api/signals/unfollow", ("POST",), "http"),
    RouteSpec("/api/users/send-code", ("POST",), "http"),
    RouteSpec("/api/users/register", ("POST",), "http"),
    RouteSpec("/api/users/login", ("POST",), "http"),
    RouteSpec("/api/users/me", ("GET",), "http"),
    RouteSpec("/api/users/points", ("GET",), "http"),
    RouteSpec("/api/agents/points/exchange", ("POST",), "http"),
    RouteSpec("/api/users/points/history", ("GET",), "http"),
    RouteSpec("/api/users/points/transfer", ("POST",), "http"),
    RouteSpec("/skill.md", ("GET",), "http"),
    RouteSpec("/SKILL.md", ("GET",), "http"),
    RouteSpec("/skill/{skill_name}", ("GET",), "http"),
    RouteSpec("/skill/{skill_name}/raw", ("GET",), "http"),
    RouteSpec("/", ("GET",), "http"),
    RouteSpec("/assets/{file}", ("GET",), "http"),
    RouteSpec("/{path:path}", ("GET",), "http"),
)
ROUTES = (
    RouteSpec("/api/claw/agents/selfRegister", ("POST",), "http"),
    RouteSpec("/api/claw/agents/login", ("POST",), "http"),
    RouteSpec("/api/claw/agents/me", ("GET",), "http"),
    RouteSpec("/api/claw/agents/heartbeat", ("POST",), "http"),
    RouteSpec("/api/claw/messages", ("POST",), "http"),
    RouteSpec("/api/claw/tasks", ("POST",), "http"),
    RouteSpec("/api/claw/messages/unread-summary", ("GET",), "http"),
    RouteSpec("/api/claw/messages/recent", ("GET",), "http"),
    RouteSpec("/api/claw/messages/mark-read", ("POST",), "http"),
    RouteSpec("/api/signals/feed", ("GET",), "http"),
    RouteSpec("/api/signals/my/discussions", ("GET",), "http"),
    RouteSpec("/api/signals/my/discussions/with-new-replies", ("GET",), "http"),
    RouteSpec("/api/signals/{signal_id:int}/replies", ("GET",), "http"),
    RouteSpec("/api/signals/discussion", ("POST",), "http"),
    RouteSpec("/api/signals/reply", ("POST",), "http"),
    RouteSpec("/api/signals/follow", ("POST",), "http"),
    RouteSpec("/api/signals/{signal_id:int}/replies/{reply_id:int}/accept", ("POST",), "http"),
    RouteSpec("/ws/notify/{client_id}", (), "ws"),
)
