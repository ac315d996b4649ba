"""What a scenario may say about TradeReady: keys, market, options and events (JSON Schema)."""

from __future__ import annotations

from typing import Any

from ...core.durations import DURATION_SCHEMA
from ..routes import RouteSpec

__all__ = ["EVENT_SCHEMAS", "OPTIONS_SCHEMA", "ROUTES", "STATE_PATCH_SCHEMA", "STATE_SCHEMA"]

KEY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "key": {"type": "string", "pattern": "^ak_live_[A-Za-z0-9_-]{8,}$", "description": "generated from the seed if absent"},
        "name": {"type": "string"},
        "cash": {"type": "number", "minimum": 0, "description": "starting USDT balance (10000)"},
        "revoked": {"type": "boolean"},
    },
}

MARKET: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "pairs": {"type": "integer", "minimum": 3, "maximum": 2000, "description": "USDT pairs (620)"},
        "tick_interval": {**DURATION_SCHEMA, "description": "a tick every this long (1s)"},
        "symbols_per_tick": {
            "type": "integer",
            "minimum": 0,
            "description": "pairs that trade each tick besides BTC/ETH/SOL (20); >= pairs: all",
        },
        "volatility": {"type": "number", "minimum": 0, "maximum": 0.1, "description": "per-tick log-price standard deviation (0.0005)"},
        "portfolio_interval": {
            "oneOf": [{"type": "null"}, DURATION_SCHEMA],
            "description": "portfolio snapshots this often (5s); null: only after fills",
        },
    },
}

STATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"keys": {"type": "array", "items": KEY, "minItems": 1}, "market": MARKET},
}

STATE_PATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"market": {**MARKET, "properties": {k: v for k, v in MARKET["properties"].items() if k != "pairs"}}},
}

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ping_interval": {**DURATION_SCHEMA, "description": "app-level ping every this long (30s)"},
        "pong_timeout": {**DURATION_SCHEMA, "description": "close a connection that has not answered a ping by then (10s)"},
        "auth_failure": {
            "enum": ["reject_403", "close_4401"],
            "description": "bad key: HTTP 403 at the handshake (what the server does) or accept and close 4401 (what the docs say)",
        },
        "queue_limit": {
            "type": "integer",
            "minimum": 10,
            "description": "frames waiting per connection before ticker frames are dropped (1000)",
        },
        "send_buffer": {
            "type": "integer",
            "minimum": 4096,
            "maximum": 16777216,
            "description": "the kernel's send buffer per connection, bytes (default: the kernel's, autotuned up to megabytes, "
            "which hide a slow consumer from the queue for a minute or more)",
        },
    },
}

_KEY_REF = {"type": "string", "description": "key or key name (default: the first key)"}

EVENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "order": {
        "type": "object",
        "additionalProperties": False,
        "description": "an order update for a key; a fill moves its portfolio",
        "properties": {
            "key": _KEY_REF,
            "order_id": {"type": "string"},
            "symbol": {"type": "string"},
            "side": {"enum": ["buy", "sell"]},
            "type": {"enum": ["market", "limit"]},
            "quantity": {"type": "number", "exclusiveMinimum": 0},
            "price": {"type": "number", "exclusiveMinimum": 0},
            "status": {"enum": ["pending", "filled", "partially_filled", "cancelled", "rejected"]},
        },
    },
    "portfolio": {
        "type": "object",
        "additionalProperties": False,
        "description": "push a portfolio snapshot to the key's connections now",
        "properties": {"key": _KEY_REF},
    },
    "burst": {
        "type": "object",
        "additionalProperties": False,
        "description": "this many market ticks at once",
        "properties": {"ticks": {"type": "integer", "minimum": 1, "maximum": 10000}, "symbols_per_tick": {"type": "integer", "minimum": 0}},
    },
    "price": {
        "type": "object",
        "additionalProperties": False,
        "required": ["symbol", "price"],
        "description": "a trade at this price",
        "properties": {"symbol": {"type": "string"}, "price": {"type": "number", "exclusiveMinimum": 0}},
    },
    "revoke": {
        "type": "object",
        "additionalProperties": False,
        "description": "revoke a key: its next handshake is refused",
        "properties": {"key": _KEY_REF},
    },
    "restore": {"type": "object", "additionalProperties": False, "description": "un-revoke a key", "properties": {"key": _KEY_REF}},
}

#: The routes the app serves (tests/apis/test_routes.py keeps this in step with app.py).
ROUTES = (RouteSpec("/ws/v1", (), "ws"),)
