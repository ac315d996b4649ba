"""What a scenario may say about TradingPartners: users, alert generation, stream options, events."""

from __future__ import annotations

from typing import Any

from ...core.durations import DURATION_SCHEMA
from ..routes import RouteSpec

__all__ = ["EVENT_SCHEMAS", "INSTRUMENTS", "OPTIONS_SCHEMA", "ROUTES", "STATE_PATCH_SCHEMA", "STATE_SCHEMA"]

#: Tickers that fit each instrument class (the seed's enum).
INSTRUMENTS: dict[str, tuple[str, ...]] = {
    "CRYPTOCURRENCIES": ("BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD"),
    "FOREX": ("EUR/USD", "GBP/USD", "USD/JPY", "AUD/USD", "EUR/GBP"),
    "INDICES": ("SPX500", "NAS100", "US30", "GER40", "UK100"),
    "COMMODITIES": ("XAU/USD", "XAG/USD", "WTI", "BRENT", "NATGAS"),
    "FUTURES": ("ES", "NQ", "YM", "CL", "GC"),
    "STOCKS": ("AAPL", "TSLA", "NVDA", "MSFT", "AMZN"),
    "ETFS": ("SPY", "QQQ", "IWM", "GLD", "TLT"),
}

USER: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "email": {"type": "string", "minLength": 1, "maxLength": 255},
        "password": {"type": "string", "minLength": 1, "maxLength": 30},
        "access": {"enum": ["FULL", "FREE"]},
        "credits": {"type": ["integer", "null"], "minimum": 0, "description": "alert credits; null: unlimited"},
        "auto_renewal": {"type": "boolean", "description": "credits renew: the stream never runs dry"},
    },
}

ALERTS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "every": {**DURATION_SCHEMA, "description": "a new alert this often (2m); 0: only from emits"},
        "instruments": {"type": "array", "items": {"enum": list(INSTRUMENTS)}, "minItems": 1, "uniqueItems": True},
        "abort_probability": {"type": "number", "minimum": 0, "maximum": 1, "description": "working -> aborted instead of onGoing (0.3)"},
        "win_probability": {"type": "number", "minimum": 0, "maximum": 1, "description": "a closed alert reaches its target (0.6)"},
        "start_after": {**DURATION_SCHEMA, "description": "working -> onGoing/aborted after this long (1m)"},
        "close_after": {**DURATION_SCHEMA, "description": "onGoing -> closed after this long (5m)"},
        "consume_threshold": {
            "type": "number",
            "minimum": 0,
            "description": "gain (in % of start) from which the credit is CONSUMED (0.5)",
        },
    },
}

STATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"users": {"type": "array", "items": USER, "minItems": 1}, "alerts": ALERTS},
}

STATE_PATCH_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {"alerts": ALERTS}}

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ping_interval": {**DURATION_SCHEMA, "description": "event: ping every this long (15s)"},
        "event_ids": {"type": "boolean", "description": "add id: lines and honour Last-Event-ID (the docs are silent: off)"},
        "replay_window": {"type": "integer", "minimum": 0, "description": "events kept per user for Last-Event-ID replay (1000)"},
        "retry_ms": {"type": ["integer", "null"], "minimum": 0, "description": "send retry: <ms> first on every stream"},
        "queue_limit": {
            "type": "integer",
            "minimum": 10,
            "description": "events waiting per stream before a too-slow reader is cut loose (10000)",
        },
        "token_ttl": {**DURATION_SCHEMA, "description": "JWT lifetime (86400 s)"},
        "history_limit": {
            "type": "integer",
            "minimum": 1,
            "description": "finished (closed or aborted) alerts kept for closed alerts and history, the most recently "
            "finished; live alerts are always kept (10000)",
        },
    },
}

_USER_REF = {"type": "string", "description": "user email (default: every FULL user)"}

EVENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "alert": {
        "type": "object",
        "additionalProperties": False,
        "description": "a new alert now (working), with its lifecycle on the alert timings",
        "properties": {
            "instrument": {"enum": list(INSTRUMENTS)},
            "ticker": {"type": "string"},
            "direction": {"enum": ["BUY", "SELL"]},
            "outcome": {"enum": ["aborted", "won", "lost"]},
            "start_after": DURATION_SCHEMA,
            "close_after": DURATION_SCHEMA,
        },
    },
    "credits": {
        "type": "object",
        "additionalProperties": False,
        "required": ["credits"],
        "description": "set a user's credits",
        "properties": {"user": _USER_REF, "credits": {"type": ["integer", "null"], "minimum": 0}},
    },
}

#: The routes the app serves (tests/apis/test_routes.py keeps this in step with app.py).
ROUTES = (
    RouteSpec("/api/v1/users/login", ("POST",), "http"),
    RouteSpec("/api/v1/alerts", ("GET",), "sse"),
    RouteSpec("/api/v1/alerts/closed", ("GET",), "http"),
    RouteSpec("/api/v1/alerts/history", ("GET",), "http"),
)
