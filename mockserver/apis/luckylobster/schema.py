"""What a scenario may say about LuckyLobster: state, options and events (JSON Schema)."""

from __future__ import annotations

from typing import Any

from ...core.durations import DURATION_SCHEMA
from ..routes import RouteSpec

__all__ = ["ACTION_TYPES", "EVENT_SCHEMAS", "LIMITED_BY", "PERMISSIONS", "ROUTES", "STATE_SCHEMA", "STRATEGY_STATUSES"]

PERMISSIONS = ("read", "trade", "cancel", "redeem")
LIMITED_BY = ("wallet", "fixed_limit", "percent", "position_limit")
#: The seed's table, in its order, with its priorities.
ACTION_TYPES: dict[str, str] = {
    "REDEEM": "high",
    "ORDER_FILLED": "medium",
    "BUDGET_LOW": "medium",
    "POSITION_EXPIRING": "low",
    "SEEK_TRADES": "low",
    "STRATEGY_EXECUTED": "medium",
    "STRATEGY_ERROR": "high",
    "STRATEGY_COMPLETED": "low",
    "STRATEGY_PAUSED": "high",
    "STRATEGY_CANCELLED": "high",
}
STRATEGY_TYPES = ("PRICE_ALERT", "RECURRING_BUY", "TAKE_PROFIT", "STOP_LOSS")
STRATEGY_STATUSES = ("ACTIVE", "PAUSED", "ERROR", "COMPLETED", "CANCELLED")

_HHMM = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$", "description": "HH:MM, 24-hour clock"}

ACTIVE_HOURS: dict[str, Any] = {
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["start", "end", "timezone"],
            "properties": {"start": _HHMM, "end": _HHMM, "timezone": {"type": "string", "minLength": 1}},
        },
    ]
}

KEY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "key": {"type": "string", "pattern": r"^ll_[A-Za-z0-9_]{8,}$", "description": "generated from the seed if absent"},
        "name": {"type": "string"},
        "permissions": {"type": "array", "items": {"enum": list(PERMISSIONS)}, "uniqueItems": True},
        "interval_ms": {"type": "integer", "minimum": 1000},
        "active_hours": ACTIVE_HOURS,
        "rate_limit": {"type": ["integer", "null"], "minimum": 1, "description": "requests a minute; null: unlimited"},
        "revoked": {"type": "boolean"},
        "copies": {"type": "integer", "minimum": 1, "description": "this many keys alike (generated keys)"},
    },
}

POSITION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "conditionId": {"type": "string"},
        "title": {"type": "string"},
        "outcome": {"type": "string"},
        "size": {"type": "number", "minimum": 0},
        "avgPrice": {"type": "number", "minimum": 0, "maximum": 1},
        "currentPrice": {"type": "number", "minimum": 0, "maximum": 1},
        "redeemable": {"type": "boolean"},
        "negRisk": {"type": "boolean"},
        "closes_in": {**DURATION_SCHEMA, "description": "market closes this long after the scenario start"},
    },
}

STRATEGY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "type": {"enum": list(STRATEGY_TYPES)},
        "status": {"enum": list(STRATEGY_STATUSES)},
    },
}

BUDGET: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "available": {"type": "number", "minimum": 0},
        "limit": {"type": "number", "minimum": 0, "description": "the active limit BUDGET_LOW compares with"},
        "limitedBy": {"enum": list(LIMITED_BY)},
    },
}

STATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "keys": {"type": "array", "items": KEY, "minItems": 1},
        "latest_skill_version": {"type": "integer", "minimum": 1},
        "wallet": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"balance": {"type": "number", "minimum": 0}, "address": {"type": ["string", "null"]}},
        },
        "budget": BUDGET,
        "positions": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "array", "items": POSITION}]},
        "open_orders": {"type": "integer", "minimum": 0},
        "strategies": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "array", "items": STRATEGY}]},
        "seek_trades": {"type": "boolean", "description": "raise SEEK_TRADES while budget is available"},
        "builder_api": {"type": "boolean", "description": "false: POST /settlements/redeem answers 501"},
        "recent_fills_window": {**DURATION_SCHEMA, "description": "how far back recentFills looks (default 24h)"},
    },
}

#: ``state`` steps patch these (keys are addressed by name or index).
STATE_PATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **{k: v for k, v in STATE_SCHEMA["properties"].items() if k not in ("keys", "positions", "strategies")},
        "keys": {
            "type": "object",
            "additionalProperties": {**KEY, "properties": {k: v for k, v in KEY["properties"].items() if k not in ("key", "copies")}},
        },
    },
}

_EMPTY: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}

EVENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "fill": {
        "type": "object",
        "additionalProperties": False,
        "description": "an open order fills",
        "properties": {
            "side": {"enum": ["BUY", "SELL"]},
            "size": {"type": "number", "exclusiveMinimum": 0},
            "price": {"type": "number", "minimum": 0, "maximum": 1},
            "realizedPnl": {"type": "number"},
            "market": {"type": "string"},
            "outcome": {"type": "string"},
            "count": {"type": "integer", "minimum": 1},
        },
    },
    "settle": {
        "type": "object",
        "additionalProperties": False,
        "description": "markets settle: open positions become redeemable",
        "properties": {"count": {"type": "integer", "minimum": 1}},
    },
    "expiring": {
        "type": "object",
        "additionalProperties": False,
        "description": "open positions' markets now close soon",
        "properties": {"count": {"type": "integer", "minimum": 1}, "within": DURATION_SCHEMA},
    },
    "strategy": {
        "type": "object",
        "additionalProperties": False,
        "required": ["status"],
        "description": "a strategy changes status (EXECUTED records a trade it placed)",
        "properties": {
            "id": {"type": "string"},
            "status": {"enum": [*STRATEGY_STATUSES, "EXECUTED"]},
            "reason": {"type": "string"},
            "side": {"enum": ["BUY", "SELL"]},
            "size": {"type": "number", "exclusiveMinimum": 0},
            "price": {"type": "number", "minimum": 0, "maximum": 1},
        },
    },
    "budget": {**BUDGET, "description": "the budget changes"},
    "position": {**POSITION, "description": "a new open position"},
    "clear": {**_EMPTY, "description": "settle every pending notification (no actions left)"},
}

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "rate_limit_reset": {"enum": ["unix", "iso"], "description": "X-RateLimit-Reset format (docs: unix; skill: iso)"},
    },
}

#: The routes the app serves (tests/apis/test_routes.py keeps this in step with app.py).
ROUTES = (
    RouteSpec("/api/agent/v1/heartbeat", ("GET",), "http"),
    RouteSpec("/api/agent/v1/settlements/redeem", ("GET", "POST"), "http"),
    RouteSpec("/api/agent/v1/strategies/{strategy_id}/resume", ("POST",), "http"),
)
