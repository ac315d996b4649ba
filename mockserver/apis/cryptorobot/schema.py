"""What a scenario may say about Cryptorobot: users and plans, records, event streams, emits."""

from __future__ import annotations

from typing import Any

from ...core.durations import DURATION_SCHEMA
from ..routes import RouteSpec

__all__ = ["EVENT_SCHEMAS", "OPTIONS_SCHEMA", "PLANS", "ROUTES", "SERVICES", "STATE_PATCH_SCHEMA", "STATE_SCHEMA", "STREAMS"]

ALL_METHODS = ("find", "get", "create", "update", "patch", "remove")

#: service path -> the methods it offers (what the docs show callers doing; reads only for the feeds).
SERVICES: dict[str, tuple[str, ...]] = {
    "strategies": ALL_METHODS,
    "traders": ALL_METHODS,
    "traders/pods/events": ("find", "get"),
    "exchanges/ticker": ("find", "get"),
    "trades": ("find", "get"),
    "models/signals": ("find", "get"),
    "messages": ("find", "get", "patch", "remove"),
    "events": ("find", "get"),
    "users": ("find", "get", "patch"),
}

#: plan -> (concurrent sockets, requests per minute), from the docs' limits table.
PLANS: dict[str, tuple[int, int]] = {"free": (1, 60), "pro": (5, 300), "enterprise": (25, 1000)}

#: stream name -> the service its records go to.
STREAMS: dict[str, str] = {
    "ticker": "exchanges/ticker",
    "pod_events": "traders/pods/events",
    "trades": "trades",
    "signals": "models/signals",
    "messages": "messages",
    "events": "events",
}

USER: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "email": {"type": "string", "minLength": 3, "maxLength": 255},
        "password": {"type": "string", "minLength": 1, "maxLength": 128},
        "name": {"type": "string", "maxLength": 200},
        "plan": {"enum": list(PLANS)},
        "api_key": {"type": "string", "minLength": 8, "maxLength": 200, "description": "for REST: Authorization: ApiKey <key>"},
    },
}

RECORD: dict[str, Any] = {
    "type": "object",
    "description": "a record as the service returns it; `user` (an email) makes it that user's (default: the first user)",
    "properties": {"_id": {"type": "string", "minLength": 1, "maxLength": 100}, "user": {"type": "string"}},
}

RECORDS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "initial records per service; without them a few plausible ones are generated",
    "properties": {path: {"type": "array", "items": RECORD, "maxItems": 10000} for path in SERVICES if path != "users"},
}

STREAM_SETTINGS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "how often each feed produces a record while someone is connected (0: only from emits)",
    "properties": {name: DURATION_SCHEMA for name in STREAMS},
}

STATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "users": {"type": "array", "items": USER, "minItems": 1, "maxItems": 1000},
        "records": RECORDS,
        "streams": STREAM_SETTINGS,
        "symbols": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9]+/[A-Z0-9]+$"}, "minItems": 1, "uniqueItems": True},
    },
}

STATE_PATCH_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {"streams": STREAM_SETTINGS}}

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "token_ttl": {**DURATION_SCHEMA, "description": "JWT lifetime (7 days); at expiry the server disconnects the socket"},
        "ping_interval": {**DURATION_SCHEMA, "description": "Engine.IO pingInterval in virtual time (25s)"},
        "ping_timeout": {**DURATION_SCHEMA, "description": "Engine.IO pingTimeout in virtual time (20s)"},
        "page_default": {"type": "integer", "minimum": 1, "maximum": 10000, "description": "$limit when none is given (25)"},
        "page_max": {"type": "integer", "minimum": 1, "maximum": 10000, "description": "largest $limit (100)"},
        "queue_limit": {
            "type": "integer",
            "minimum": 10,
            "description": "Engine.IO packets waiting per session before the server ends it as a slow consumer (1000)",
        },
    },
}

_USER_REF = {"type": "string", "description": "user email (default: every user, or the record's owner)"}
_FEED_EVENT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "user": _USER_REF,
        "data": {"type": "object", "description": "fields that override the generated ones"},
        "count": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "a burst: this many at once, per user (1)"},
    },
}

EVENT_SCHEMAS: dict[str, dict[str, Any]] = {
    **{
        name: {
            **_FEED_EVENT,
            "description": f"a new {path} record (an event `{path} " + ("patched" if name == "ticker" else "created") + "`)",
        }
        for name, path in STREAMS.items()
    },
    "record": {
        "type": "object",
        "additionalProperties": False,
        "required": ["service", "method"],
        "description": "change a record as its owner would: create, patch, update or remove, with the service event",
        "properties": {
            "service": {"enum": [p for p in SERVICES if p != "users"]},
            "method": {"enum": ["create", "patch", "update", "remove"]},
            "id": {"type": "string"},
            "data": {"type": "object"},
            "user": _USER_REF,
        },
    },
    "disconnect": {
        "type": "object",
        "additionalProperties": False,
        "description": "server-side disconnect (`io server disconnect`): the client must reconnect by itself",
        "properties": {"user": _USER_REF},
    },
}

#: The routes the app serves: Socket.IO, and the REST mirror's ``/<service>[/<id>]`` (one catch-all route in
#: app.py; tests/apis/test_routes.py checks each of these reaches it).
ROUTES = (
    RouteSpec("/socket.io/", ("GET", "POST"), "eio"),
    RouteSpec("/authentication", ("POST", "DELETE"), "http"),
    RouteSpec("/authentication/{token}", ("DELETE",), "http"),
    *(RouteSpec(f"/{service}", ("GET", "POST"), "http") for service in SERVICES),
    *(RouteSpec(f"/{service}/{{id}}", ("GET", "PUT", "PATCH", "DELETE"), "http") for service in SERVICES),
)
