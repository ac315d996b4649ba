"""HTTP fault specifications and the decision of which request gets one.

The kinds are WireMock's fault list plus MockServer's chaos kinds:

=============  ===========================================================
``latency``    wait ``delay`` (fixed) or a uniform draw in ``[min_delay, max_delay]``
               virtual seconds, then answer normally
``error``      answer ``status`` with ``body``, ``headers`` and ``retry_after``
``rate_limit`` allow ``limit`` requests per ``window``, then 429 + ``Retry-After``
``reset``      close the TCP connection with RST, no response at all
``empty``      close the connection without sending a byte (WireMock EMPTY_RESPONSE)
``truncate``   send the real headers, then only ``fraction`` of the body, then close
``malformed``  200 with a JSON content type and a body that is not JSON
``dribble``    send the real body in ``chunks`` pieces, ``interval`` apart
``refuse``     refuse new connections: reset each as it opens (``how: reset``, the
               default: every attempt is journaled, ``conn.refused``), or stop
               listening (``how: unlisten``: ECONNREFUSED, attempts unseen)
=============  ===========================================================

WebSocket connections (the routes of a streaming API) meet these:

==================  ======================================================
``close``           close open sockets with ``code`` (and ``reason``) when the fault
                    starts, and sockets accepted while it lasts
``reset``           the same, by TCP reset with no close frame
``silence``         send nothing (no data, no pings) while it lasts; TCP stays open
``refuse_upgrade``  answer new handshakes with HTTP ``status`` (503) while it lasts
``duplicate``       send an outgoing frame twice (each frame drawn with ``probability``)
``reorder``         hold an outgoing frame back and send it after the next one
==================  ======================================================

Event streams (SSE) meet ``close`` (end the stream cleanly), ``silence`` (no events, no
pings, connection open), ``duplicate``, ``reorder``, ``dribble`` (each frame in ``chunks``
pieces ``interval`` apart), and:

==================  ======================================================
``cut``             send part of the next frame, then reset the TCP connection
``id_gap``          skip an event id (when ids are on): the stream has a hole
==================  ======================================================

Whether a matching request is hit is drawn from a random stream seeded by the
scenario seed and the fault id, so the same seed gives the same run.
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.durations import DURATION_SCHEMA, parse_duration

__all__ = ["FAULT_KINDS", "FAULT_SCHEMA", "HTTP_KINDS", "WS_KINDS", "ActiveFault", "FaultSpec"]

HTTP_KINDS = ("latency", "error", "rate_limit", "reset", "empty", "truncate", "malformed", "dribble", "refuse")
WS_KINDS = ("close", "reset", "silence", "refuse_upgrade", "duplicate", "reorder")
#: Event streams (SSE) meet close, silence, duplicate, reorder and these, plus dribble (frame by frame).
STREAM_KINDS = ("cut", "id_gap")
FAULT_KINDS = (*HTTP_KINDS, *(k for k in WS_KINDS if k not in HTTP_KINDS), *STREAM_KINDS)


FAULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "description": "name used by stop_fault; generated if absent"},
        "kind": {"enum": list(FAULT_KINDS)},
        "api": {"type": "string", "description": "API name, or '*' (default) for every API"},
        "route": {"type": "string", "description": "path glob (fnmatch) or prefix the fault applies to"},
        "method": {"type": "string"},
        "probability": {"type": "number", "minimum": 0, "maximum": 1},
        "duration": DURATION_SCHEMA,
        "times": {"type": "integer", "minimum": 1, "description": "apply at most this many times"},
        "delay": DURATION_SCHEMA,
        "min_delay": DURATION_SCHEMA,
        "max_delay": DURATION_SCHEMA,
        "status": {"type": "integer", "minimum": 200, "maximum": 599, "description": "200-599 (a fault answers with a final status)"},
        "body": {},
        "headers": {
            "type": "object",
            "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
            "additionalProperties": {"type": "string", "pattern": "^[^\\r\\n]*$"},
            "description": "extra headers: token names, values without line breaks",
        },
        "retry_after": DURATION_SCHEMA,
        "limit": {"type": "integer", "minimum": 0},
        "window": DURATION_SCHEMA,
        "chunks": {"type": "integer", "minimum": 1},
        "interval": DURATION_SCHEMA,
        "fraction": {"type": "number", "minimum": 0, "maximum": 1},
        "code": {"type": "integer", "minimum": 1000, "maximum": 4999, "description": "close: the WebSocket close code"},
        "reason": {"type": "string", "maxLength": 123},
        "how": {
            "enum": ["reset", "unlisten"],
            "description": "refuse: reset each new connection as it opens, journaled (reset, the default), or stop listening (unlisten: ECONNREFUSED, attempts not journaled)",
        },
    },
}


@dataclass(frozen=True, slots=True)
class FaultSpec:
    id: str
    kind: str
    api: str = "*"
    route: str | None = None
    method: str | None = None
    probability: float = 1.0
    duration: float | None = None
    times: int | None = None
    delay: float = 0.0
    min_delay: float | None = None
    max_delay: float | None = None
    status: int = 503
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    limit: int = 0
    window: float = 60.0
    chunks: int = 5
    interval: float = 1.0
    fraction: float = 0.5
    code: int = 1001
    reason: str = ""
    how: str = "reset"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, default_id: str) -> FaultSpec:
        kind = str(raw["kind"])
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")

        def dur(name: str) -> float | None:
            return None if raw.get(name) is None else parse_duration(raw[name])

        kwargs: dict[str, Any] = {"id": str(raw.get("id") or default_id), "kind": kind}
        for name in ("api", "route", "method", "body", "reason", "how"):
            if raw.get(name) is not None:
                kwargs[name] = raw[name]
        if kwargs.get("method"):
            kwargs["method"] = str(kwargs["method"]).upper()
        for name in ("probability", "fraction"):
            if raw.get(name) is not None:
                kwargs[name] = float(raw[name])
        for name in ("times", "status", "limit", "chunks", "code"):
            if raw.get(name) is not None:
                kwargs[name] = int(raw[name])
        for name in ("duration", "min_delay", "max_delay", "retry_after"):
            kwargs[name] = dur(name)
        for name in ("delay", "window", "interval"):
            value = dur(name)
            if value is not None:
                kwargs[name] = value
        if raw.get("headers"):
            kwargs["headers"] = {str(k): str(v) for k, v in raw["headers"].items()}
        if kind == "rate_limit" and raw.get("status") is None:
            kwargs["status"] = 429
        if (kwargs.get("min_delay") is None) != (kwargs.get("max_delay") is None):
            raise ValueError("min_delay and max_delay go together")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, Mapping):
                value = dict(value)
            out[name] = value
        return out

    def applies_to(self, api: str, method: str, path: str) -> bool:
        if self.api not in ("*", api):
            return False
        if self.method is not None and self.method != method:
            return False
        if self.route is None:
            return True
        if any(ch in self.route for ch in "*?["):
            return fnmatch.fnmatchcase(path, self.route)
        return path == self.route or path.startswith(self.route.rstrip("/") + "/")


class ActiveFault:
    """A started fault: its spec, its seeded random stream and its counters."""

    def __init__(self, spec: FaultSpec, *, seed: int, started_at: float) -> None:
        self.spec = spec
        self.started_at = started_at
        self.rng = random.Random(f"{seed}:{spec.id}")
        self.applied = 0
        self.seen = 0
        self._window_start: float | None = None
        self._window_count = 0

    @property
    def exhausted(self) -> bool:
        return self.spec.times is not None and self.applied >= self.spec.times

    def draw(self) -> bool:
        """Should this matching request be hit? (Consumes one draw when probability < 1.)"""
        self.seen += 1
        if self.exhausted:
            return False
        if self.spec.probability >= 1.0:
            return True
        return self.rng.random() < self.spec.probability

    def latency(self) -> float:
        spec = self.spec
        if spec.min_delay is not None and spec.max_delay is not None:
            return self.rng.uniform(spec.min_delay, spec.max_delay)
        return spec.delay

    def rate_limited(self, now: float) -> float | None:
        """For ``rate_limit``: None if the request is allowed, else seconds until the window resets."""
        spec = self.spec
        if self._window_start is None or now >= self._window_start + spec.window:
            self._window_start = now
            self._window_count = 0
        self._window_count += 1
        if self._window_count <= spec.limit:
            return None
        return max(0.0, self._window_start + spec.window - now)

    def snapshot(self) -> dict[str, Any]:
        return {"spec": self.spec.to_dict(), "started_at": self.started_at, "applied": self.applied, "seen": self.seen}
