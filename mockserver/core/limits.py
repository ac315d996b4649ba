"""Every limit of the mock, in one place: what each listener accepts, how long it waits, what it keeps.

Two families, each with defaults a user can change:

* **Transport limits** (:class:`Limits`, per listener; ``mockserver serve --limit NAME=VALUE`` or
  ``--limit API.NAME=VALUE``, ``ThreadedMockServer(limits=...)``): the largest request body, header
  set and WebSocket message, connections per API, and the real-time timeouts that end an incomplete
  HTTP request (slowloris). Beyond a size or connection limit a client gets the API's own error
  (413, 431, 503; a WebSocket message closes 1009), journaled; an incomplete request gets 408.
  Established WebSocket, Engine.IO and SSE connections are governed by their pings (virtual time,
  each API's own), never by these timeouts.
* **Memory a run keeps** (scenario options, per API, in virtual terms): the per-connection send
  queues of the streaming APIs and TradingPartners' alert history (:data:`SCENARIO_LIMITS`).

The timeouts here are real seconds: they protect the server from clients that never finish a
request, they are no API's behaviour, and they hold whatever the virtual clock does (as uvicorn's
keep-alive timeout does). This module is pure: it reads no clock.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .durations import format_duration, parse_duration

__all__ = [
    "AITRADER_QUEUE_LIMIT",
    "COLLECT_INTERVAL",
    "CRYPTOROBOT_QUEUE_LIMIT",
    "LIMIT_DOCS",
    "SCENARIO_LIMITS",
    "TRADEREADY_QUEUE_LIMIT",
    "TRADINGPARTNERS_HISTORY_LIMIT",
    "TRADINGPARTNERS_QUEUE_LIMIT",
    "TRADINGPARTNERS_REPLAY_WINDOW",
    "ApiLimits",
    "LimitName",
    "Limits",
    "format_size",
    "limits_markdown",
    "parse_size",
]

LimitName = Literal[
    "body", "headers", "header_count", "message", "connections", "idle_timeout", "head_timeout", "body_timeout", "control_body"
]

KiB = 1024
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """The transport limits of one listener (an API's, or the control API's)."""

    #: bytes of an HTTP request body (413 beyond, the connection then closed; Engine.IO polling payloads too)
    body: int = 1 * MiB
    #: bytes of a request's head: request line and header fields (431 beyond)
    headers: int = 64 * KiB
    #: header fields in one request (431 beyond)
    header_count: int = 100
    #: bytes of one WebSocket message, whole or in fragments (close 1009 beyond); Engine.IO packets over WebSocket too
    message: int = 1 * MiB
    #: open connections on the listener (HTTP, WebSocket, event streams); beyond, requests get 503 and handshakes 503
    connections: int = 20_000
    #: real seconds a connection may stay open with no request in progress (new, or between keep-alive requests)
    idle_timeout: float = 5.0
    #: real seconds from a request's first byte to the end of its head (408 beyond: slowloris)
    head_timeout: float = 10.0
    #: real seconds from the end of the head to the end of the body (408 beyond)
    body_timeout: float = 30.0


#: What each limit means, for the README, ``--help`` and error messages.
LIMIT_DOCS: dict[str, str] = {
    "body": "bytes of an HTTP request body (Engine.IO polling payloads included); beyond: 413 in the API's error shape, then close",
    "headers": "bytes of a request head (request line and header fields); beyond: 431 in the API's error shape, then close",
    "header_count": "header fields in one request; beyond: 431 in the API's error shape, then close",
    "message": "bytes of one WebSocket message, whole or fragmented (Engine.IO packets over WebSocket included); beyond: close 1009",
    "connections": "open connections per API listener; beyond: 503 in the API's error shape (a WebSocket handshake: HTTP 503), then close",
    "idle_timeout": "real seconds a connection may stay open with no request in progress (new, or between keep-alive requests); then closed",
    "head_timeout": "real seconds from a request's first byte to the end of its head; beyond: 408 in the API's error shape, then close",
    "body_timeout": "real seconds from the end of a request's head to the end of its body; beyond: 408 in the API's error shape, then close",
    "control_body": "bytes of a control-API request body or scenario file (a scenario loaded by path too); beyond: 413",
}

_SIZES = frozenset({"body", "headers", "message", "control_body"})
_COUNTS = frozenset({"header_count", "connections"})
_TIMES = frozenset({"idle_timeout", "head_timeout", "body_timeout"})
_API_FIELDS = tuple(f.name for f in dataclasses.fields(ApiLimits))


@dataclass(frozen=True, slots=True)
class Limits:
    """The transport limits of a server: defaults for every listener, and per-API overrides."""

    default: ApiLimits = field(default_factory=ApiLimits)
    #: per API name: the fields that differ from ``default``
    per_api: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: bytes of a control-API request body, and of a scenario it loads (a YAML body or a file by path)
    control_body: int = 1 * MiB

    def for_api(self, name: str) -> ApiLimits:
        changes = self.per_api.get(name)
        return dataclasses.replace(self.default, **changes) if changes else self.default  # type: ignore[arg-type]

    def for_control(self) -> ApiLimits:
        """The control listener: the default transport limits, with its own body limit."""
        return dataclasses.replace(self.default, body=self.control_body)

    @classmethod
    def parse(cls, settings: Iterable[str], *, apis: Iterable[str]) -> Limits:
        """From ``NAME=VALUE`` / ``API.NAME=VALUE`` texts (``body=2MiB``, ``tradeready.message=64KiB``,
        ``head_timeout=5s``); raises ValueError naming the setting at fault and what is accepted."""
        known_apis = list(apis)
        default: dict[str, float] = {}
        per_api: dict[str, dict[str, float]] = {}
        control_body = cls().control_body
        for setting in settings:
            target, sep, text = setting.partition("=")
            if not sep or not text.strip():
                raise ValueError(f"expected NAME=VALUE or API.NAME=VALUE, got {setting!r}")
            api, dot, name = target.strip().rpartition(".")
            if name not in LIMIT_DOCS:
                raise ValueError(f"unknown limit {name!r} in {setting!r}; known: {', '.join(LIMIT_DOCS)}")
            if dot and api not in known_apis:
                raise ValueError(f"unknown API {api!r} in {setting!r}; known: {', '.join(known_apis)}")
            if name == "control_body" and dot:
                raise ValueError(f"control_body is the control API's own limit: give it without an API, got {setting!r}")
            value = _value(name, text.strip(), setting)
            if name not in _TIMES:
                value = int(value)
            if name == "control_body":
                control_body = int(value)
            elif dot:
                per_api.setdefault(api, {})[name] = value
            else:
                default[name] = value
        return cls(default=dataclasses.replace(ApiLimits(), **default), per_api=per_api, control_body=control_body)  # type: ignore[arg-type]

    def describe(self, apis: Iterable[str]) -> dict[str, Any]:
        """Every listener's limits as plain values (the control API's ``GET info``)."""
        out: dict[str, Any] = {name: dataclasses.asdict(self.for_api(name)) for name in apis}
        out["control"] = dataclasses.asdict(self.for_control())
        return out


def _value(name: str, text: str, setting: str) -> float:
    try:
        if name in _SIZES:
            return float(parse_size(text))
        if name in _COUNTS:
            if not text.isdigit() or int(text) < 1:
                raise ValueError(f"expected a whole number >= 1, got {text!r}")
            return float(int(text))
        seconds = parse_duration(text)
        if seconds <= 0:
            raise ValueError(f"expected a duration above 0, got {text!r}")
        return seconds
    except ValueError as exc:
        raise ValueError(f"{setting!r}: {exc}") from None


_SIZE = re.compile(r"^(\d+)\s*(b|kib|mib|gib|kb|mb|gb|k|m|g)?$", re.IGNORECASE)
_FACTORS = {
    "b": 1,
    "kib": KiB,
    "mib": MiB,
    "gib": 1024 * MiB,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "k": KiB,
    "m": MiB,
    "g": 1024 * MiB,
}


def parse_size(text: str | int) -> int:
    """Bytes in ``65536``, ``64KiB``, ``1MiB``, ``2MB``; raises ValueError with the accepted forms."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 1:
            raise ValueError(f"expected a size of at least 1 byte, got {text}")
        return text
    match = _SIZE.match(str(text).strip())
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"expected a size like 65536, 64KiB, 1MiB or 2MB, got {text!r}")
    return int(match.group(1)) * _FACTORS[(match.group(2) or "b").lower()]


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


#: Real seconds between the server's full garbage collections (closed connections leave reference cycles that
#: Python's own full collections, timed by the count of long-lived objects such as the journal's, leave for long).
COLLECT_INTERVAL = 60.0


#: Defaults of the scenario options that bound what a run keeps (the domains read them from here).
AITRADER_QUEUE_LIMIT = 1000
TRADEREADY_QUEUE_LIMIT = 1000
CRYPTOROBOT_QUEUE_LIMIT = 1000
TRADINGPARTNERS_QUEUE_LIMIT = 10_000
TRADINGPARTNERS_REPLAY_WINDOW = 1000
TRADINGPARTNERS_HISTORY_LIMIT = 10_000

#: The memory a run keeps, set per scenario (``apis: {API: {options: {NAME: VALUE}}}``): (API, option, default, meaning).
SCENARIO_LIMITS: tuple[tuple[str, str, int, str], ...] = (
    (
        "aitrader",
        "queue_limit",
        AITRADER_QUEUE_LIMIT,
        "notify frames queued per socket; when full a push is lost (`ws.lost`), as the socket's documentation allows: "
        "the heartbeat still hands the message out",
    ),
    (
        "tradeready",
        "queue_limit",
        TRADEREADY_QUEUE_LIMIT,
        "frames queued per connection; when full the oldest market frame is dropped (`ws.dropped`), and a queue "
        "holding only frames that may not be dropped closes the connection 1013 (`ws.overflow`, `ws.discarded`)",
    ),
    (
        "cryptorobot",
        "queue_limit",
        CRYPTOROBOT_QUEUE_LIMIT,
        "Engine.IO packets queued per Socket.IO session; when full the session is ended by the server "
        "(`ws.overflow`, then `sio.disconnect`: a WebSocket is reset, a long-polling session closed)",
    ),
    (
        "tradingpartners",
        "queue_limit",
        TRADINGPARTNERS_QUEUE_LIMIT,
        "event-stream frames queued per stream; when full the queue is discarded and the stream ends (`sse.overflow`)",
    ),
    (
        "tradingpartners",
        "replay_window",
        TRADINGPARTNERS_REPLAY_WINDOW,
        "events per user kept for `Last-Event-ID` replay (with `event_ids` on)",
    ),
    (
        "tradingpartners",
        "history_limit",
        TRADINGPARTNERS_HISTORY_LIMIT,
        "finished (closed or aborted) alerts kept for `/alerts/closed` and `/alerts/history`, the most recently "
        "finished; alerts still `working` or `onGoing` are always kept",
    ),
)


def limits_markdown() -> str:
    """The README's table of limits (kept in step with this module by a test)."""
    defaults, control = ApiLimits(), Limits().control_body
    rows = ["| limit | default | what it bounds, and what a client gets beyond it |", "|---|---|---|"]
    for name, doc in LIMIT_DOCS.items():
        value = control if name == "control_body" else getattr(defaults, name)
        shown = format_size(int(value)) if name in _SIZES else f"{format_duration(value)}" if name in _TIMES else f"{int(value):,}"
        rows.append(f"| `{name}` | {shown} | {doc} |")
    rows += ["", "| API | scenario option | default | what it keeps |", "|---|---|---|---|"]
    for api, option, default, doc in SCENARIO_LIMITS:
        rows.append(f"| {api} | `{option}` | {default:,} | {doc} |")
    return "\n".join(rows) + "\n"
