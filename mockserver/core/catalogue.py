"""The catalogue of journal entry kinds: the one place a kind and its fields are defined (DECISIONS D7).

Every entry the mock records is of a kind listed here. A kind is a :class:`Kind`: its name
(``<area>.<event>``, lower case, words joined by ``_``), the direction its entries travel, a
sentence saying what it records, and a ``TypedDict`` of its ``data`` fields, which is also
its constructor: record sites build their data with it (``HttpRequest(method=..., ...)``), so
``mypy --strict`` checks every field at every site, and at run time it is a plain dict.

From this module come the published JSON Schema of a journal line (``mockserver schema
journal``), the README's table of kinds and the strict check the test suite runs on every
entry recorded (``check_entry``).

Conventions that hold for every kind:

* instants (``vtime``, ``start``, ``exp``) are virtual epoch seconds (floats), durations are
  seconds; entries a timer caused carry the timer's due instant;
* ``fault`` is the id of the fault that caused the entry (on every fault effect);
* the end of a WebSocket, event stream or Socket.IO session is one entry of an
  :data:`END_KINDS` kind, with ``by`` (``client``, ``server`` or ``fault``);
* ``session`` and ``principal`` live on the entry itself (see :class:`~mockserver.core.journal.Entry`).

(No ``from __future__ import annotations`` here: Python 3.11 tells a TypedDict's optional keys
only from evaluated annotations.)
"""

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar, get_args, get_origin

__all__ = [
    "AGENT_REGISTERED",
    "AgentRegistered",
    "By",
    "CATALOGUE",
    "CLOCK_ADVANCE",
    "CLOCK_JUMP",
    "CLOCK_RELEASED",
    "CLOCK_SET",
    "CLOCK_SPEED",
    "CONN_REFUSED",
    "CONTROL_EMIT",
    "CONTROL_STATE",
    "CREDITS_RENEWED",
    "ClockAdvance",
    "ClockJump",
    "ClockReleased",
    "ClockSet",
    "ClockSpeed",
    "ConnRefused",
    "ControlEmit",
    "ControlState",
    "CreditsRenewed",
    "Direction",
    "END_KINDS",
    "FAULT_APPLIED",
    "FAULT_START",
    "FAULT_STOP",
    "FaultApplied",
    "FaultStart",
    "FaultStop",
    "HTTP_ABORTED",
    "HTTP_INVALID",
    "HTTP_REQUEST",
    "HTTP_RESPONSE",
    "HttpAborted",
    "HttpInvalid",
    "HttpRequest",
    "HttpResponse",
    "Kind",
    "KindName",
    "MESSAGE_REDELIVERY",
    "MessageRedelivery",
    "OBSERVE_EVENT",
    "OBSERVE_INVALID",
    "ObserveEvent",
    "ObserveInvalid",
    "Outcome",
    "RUN_ENDED",
    "RUN_STARTED",
    "RunEnded",
    "RunStarted",
    "SCENARIO_LOADED",
    "SCENARIO_STEP",
    "SERVER_ERROR",
    "SERVER_STARTED",
    "SIO_DISCONNECT",
    "SIO_INVALID",
    "SIO_JWT_EXPIRED",
    "SIO_KICK",
    "SIO_LOGIN",
    "SIO_LOGOUT",
    "SIO_PACKET",
    "SSE_END",
    "SSE_FRAME",
    "SSE_HELD",
    "SSE_ID_GAP",
    "SSE_OVERFLOW",
    "SSE_RESET",
    "SSE_SUPPRESSED",
    "SSE_WITHHELD",
    "ScenarioLoaded",
    "ScenarioStep",
    "ServerError",
    "ServerStarted",
    "SioDisconnect",
    "SioInvalid",
    "SioJwtExpired",
    "SioKick",
    "SioLogin",
    "SioLogout",
    "SioPacket",
    "SseEnd",
    "SseFrame",
    "SseIdGap",
    "SseOverflow",
    "SseReset",
    "SseText",
    "TOKEN_ROTATED",
    "TokenRotated",
    "WS_ACCEPT",
    "WS_BROADCAST",
    "WS_CLOSE",
    "WS_CONNECT",
    "WS_DISCARDED",
    "WS_DROPPED",
    "WS_FRAME",
    "WS_HELD",
    "WS_LOST",
    "WS_OVERFLOW",
    "WS_PONG_TIMEOUT",
    "WS_PUSH",
    "WS_REJECT",
    "WS_RESET",
    "WS_SUPPRESSED",
    "WsAccept",
    "WsBroadcast",
    "WsClose",
    "WsConnect",
    "WsDiscarded",
    "WsDropped",
    "WsFrame",
    "WsLost",
    "WsOverflow",
    "WsPongTimeout",
    "WsPush",
    "WsReject",
    "WsReset",
    "check_entry",
    "data_schema",
    "journal_schema",
    "kind",
    "kinds_markdown",
]

#: ``in``: client to mock; ``out``: mock to client; ``internal``: steps, faults, notes, bookkeeping.
Direction = Literal["in", "out", "internal"]
#: Who ended a connection, stream or session.
By = Literal["client", "server", "fault"]
#: What became of an HTTP request (``http.response``).
Outcome = Literal["answered", "error", "reset", "empty", "truncated", "malformed", "dribbled", "stream"]

KindName = Literal[
    "scenario.loaded",
    "scenario.step",
    "server.started",
    "server.error",
    "clock.speed",
    "clock.advance",
    "clock.set",
    "clock.jump",
    "clock.released",
    "control.emit",
    "control.state",
    "fault.start",
    "fault.stop",
    "fault.applied",
    "conn.refused",
    "http.request",
    "http.response",
    "http.invalid",
    "http.aborted",
    "ws.connect",
    "ws.accept",
    "ws.reject",
    "ws.frame",
    "ws.close",
    "ws.reset",
    "ws.suppressed",
    "ws.held",
    "ws.broadcast",
    "ws.dropped",
    "ws.overflow",
    "ws.discarded",
    "ws.pong_timeout",
    "ws.push",
    "ws.lost",
    "sse.frame",
    "sse.end",
    "sse.reset",
    "sse.suppressed",
    "sse.withheld",
    "sse.held",
    "sse.overflow",
    "sse.id_gap",
    "sio.packet",
    "sio.invalid",
    "sio.login",
    "sio.logout",
    "sio.jwt_expired",
    "sio.kick",
    "sio.disconnect",
    "agent.registered",
    "token.rotated",
    "message.redelivery",
    "credits.renewed",
    "run.started",
    "run.ended",
    "observe.event",
    "observe.invalid",
]


# -- the scenario, the server, the clock, the control API ------------------------------------------------
class ScenarioLoaded(TypedDict):
    id: str
    seed: int
    #: the clock's start instant and speed (0: manual)
    start: float
    speed: float
    profiles: dict[str, str]
    #: the APIs the scenario uses (its ``apis:`` and the APIs its steps name)
    apis: list[str]
    #: each API's resolved timing and limit options (ping interval, pong timeout, rate limits, ...)
    options: dict[str, dict[str, Any]]
    #: the conformance rules the scenario targets (ids, or ``{id: {param: value}}``)
    rules: list[Any]
    #: a manual clock that moves by itself (see ``clock.speed``)
    auto_advance: NotRequired[float]


class ScenarioStep(TypedDict):
    action: Literal["state", "emit", "fault", "stop_fault", "note"]
    #: the step's line in the scenario file (0 when unknown)
    step: int
    #: 1 for the first run of a step, 2 for its first repetition, ...
    run: int
    args: dict[str, Any]
    result: NotRequired[Any]


class ServerStarted(TypedDict):
    urls: dict[str, str]


class ServerError(TypedDict):
    #: where it happened: a timer (a scenario step, a protocol timer), a request handler, a task
    source: Literal["timer", "handler", "task"]
    name: str
    error: str
    traceback: str


class ClockSpeed(TypedDict):
    speed: float
    #: a manual clock that moves by itself: real seconds of quiet after which it jumps to its next timer
    auto_advance: NotRequired[float]


class ClockAdvance(TypedDict):
    seconds: float
    timers_run: int


class ClockSet(TypedDict):
    to: float
    timers_run: int


class ClockJump(TypedDict):
    seconds: float
    #: the instant jumped to: the next timer's (never further), or the end of a wait's window
    to: float
    timers_run: int
    #: ``auto``: an auto-advancing clock found nothing moving; ``wait``: a wait with a virtual deadline
    #: drove it; ``stall``: a request waited on a manual clock nobody advanced (also a ``server.error``)
    cause: Literal["auto", "wait", "stall"]
    #: ``stall``: the seq of the request that waited
    request: NotRequired[int]


class ClockReleased(TypedDict):
    #: the speed the clock runs at from now on
    speed: float
    #: what released it: the first client connection, or the control API
    cause: Literal["client", "control"]


class ControlEmit(TypedDict):
    event: str
    data: dict[str, Any]
    result: dict[str, Any]


class ControlState(TypedDict):
    #: the fields set (as a scenario's ``state`` step sets them)
    set: dict[str, Any]


# -- faults --------------------------------------------------------------------------------------------
class FaultStart(TypedDict):
    fault: str
    spec: dict[str, Any]


class FaultStop(TypedDict):
    fault: str
    reason: Literal["duration", "control", "scenario", "replaced", "reset"]
    applied: int


class FaultApplied(TypedDict):
    fault: str
    fault_kind: str
    #: what was done, in a few words ("delayed", "answered 503", "reset", "suppressed a frame", ...)
    effect: str
    path: NotRequired[str]
    delay: NotRequired[float]


class ConnRefused(TypedDict):
    fault: str


# -- HTTP ----------------------------------------------------------------------------------------------
class HttpRequest(TypedDict):
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: str
    #: the client went away before the body was complete (what did arrive is in ``body``)
    incomplete: NotRequired[bool]
    #: a body over the ``body`` limit: ``body`` holds its first 64 KiB, ``length`` the bytes read (or announced)
    truncated: NotRequired[bool]
    length: NotRequired[int]


class HttpResponse(TypedDict):
    #: the ``seq`` of the ``http.request`` this answers
    request: int
    path: str
    #: None when nothing was answered (a reset or an empty answer)
    status: int | None
    outcome: Outcome
    headers: NotRequired[Mapping[str, str]]
    body: NotRequired[str]
    fault: NotRequired[str]
    sent_bytes: NotRequired[int]
    full_bytes: NotRequired[int]
    chunks: NotRequired[int]
    #: the transport limit this answer enforces (``body``, ``body_timeout``, ``connections``: mockserver.core.limits)
    exceeded: NotRequired[str]


class HttpInvalid(TypedDict):
    status: int
    error: str
    #: the transport limit it broke (``headers``, ``header_count``, ``head_timeout``: mockserver.core.limits)
    exceeded: NotRequired[str]


class HttpAborted(TypedDict):
    request: int
    path: str
    error: str


# -- WebSocket -----------------------------------------------------------------------------------------
class WsConnect(TypedDict):
    path: str
    query: str
    headers: dict[str, str]


class WsAccept(TypedDict):
    path: str
    subprotocol: str | None


class WsReject(TypedDict):
    path: str
    status: int
    by: By
    close_code: NotRequired[int]
    retry_after: NotRequired[int]
    fault: NotRequired[str]
    #: the transport limit that refused it (``connections``)
    exceeded: NotRequired[str]


class WsFrame(TypedDict):
    path: str
    #: a text frame (its first 64 KiB) ...
    text: NotRequired[str]
    #: ... or a binary one, hex (its first 32 KiB)
    bytes: NotRequired[str]
    #: for a frame too big to keep whole: its full length, SHA-256, and ``truncated``
    length: NotRequired[int]
    sha256: NotRequired[str]
    truncated: NotRequired[bool]
    duplicate: NotRequired[bool]
    reordered: NotRequired[bool]
    fault: NotRequired[str]


class WsClose(TypedDict):
    path: str
    by: By
    code: int
    reason: str
    fault: NotRequired[str]


class WsReset(TypedDict):
    path: str
    by: By
    reason: NotRequired[str]
    fault: NotRequired[str]
    #: bytes the server had written that never left it (lost with the connection)
    unsent_bytes: NotRequired[int]
    #: the ``seq`` of ``ws.frame``/``ws.broadcast`` entries whose bytes were among them
    lost: NotRequired[list[int]]


class WsBroadcast(TypedDict):
    path: str
    text: str
    #: the recipients' sessions and connections (in the same order)
    sessions: list[str]
    conns: list[str]


class WsDropped(TypedDict):
    path: str
    text: str
    reason: str
    #: the ``ws.broadcast`` the dropped frame belonged to
    broadcast: NotRequired[int]


class WsOverflow(TypedDict):
    path: str
    queued: int
    reason: str


class WsDiscarded(TypedDict):
    path: str
    reason: str
    frames: int
    #: the ``ws.broadcast`` entries among the discarded frames, and the text of the others
    broadcasts: list[int]
    texts: list[str]


class WsPongTimeout(TypedDict):
    path: str
    timeout: float


class WsPush(TypedDict):
    agent_id: int
    message_id: int
    type: str | None


class WsLost(TypedDict):
    agent_id: int
    message_id: int
    type: str | None
    frame: dict[str, Any]


# -- event streams -------------------------------------------------------------------------------------
class SseFrame(TypedDict):
    path: str
    text: str
    #: re-sent after ``Last-Event-ID`` (missed while the client was away)
    replay: NotRequired[bool]
    duplicate: NotRequired[bool]
    reordered: NotRequired[bool]
    #: only part of the frame was sent: the connection was cut after it
    partial: NotRequired[bool]
    fault: NotRequired[str]


class SseText(TypedDict):
    path: str
    text: str
    fault: str


class SseEnd(TypedDict):
    path: str
    by: By
    reason: NotRequired[str]
    fault: NotRequired[str]


class SseReset(TypedDict):
    path: str
    by: By
    fault: NotRequired[str]
    #: bytes the server had written that never left it (lost with the connection)
    unsent_bytes: NotRequired[int]
    #: the ``seq`` of ``sse.frame`` entries whose bytes were among them
    lost: NotRequired[list[int]]


class SseOverflow(TypedDict):
    path: str
    discarded: int
    limit: int


class SseIdGap(TypedDict):
    user: str
    skipped: int


class CreditsRenewed(TypedDict):
    user: str
    credits: int


# -- Socket.IO -----------------------------------------------------------------------------------------
class SioPacket(TypedDict):
    transport: Literal["polling", "websocket"]
    #: the Engine.IO session id, once the server has given it
    eio_sid: str | None
    #: Engine.IO packet type: open close ping pong message upgrade noop invalid
    eio: str
    #: Socket.IO packet type (for ``message`` packets): CONNECT DISCONNECT EVENT ACK CONNECT_ERROR ...
    sio: NotRequired[str]
    nsp: NotRequired[str]
    id: NotRequired[int]
    event: NotRequired[str]
    args: NotRequired[list[Any]]
    data: NotRequired[Any]
    attachments: NotRequired[int]
    binary: NotRequired[bool]
    length: NotRequired[int]
    bytes: NotRequired[str]
    sha256: NotRequired[str]
    raw: NotRequired[str]
    invalid: NotRequired[str]
    #: a client packet socket.io ignores (why), kept from python-engineio (``open``, ``upgrade``, ``noop`` on long-polling)
    ignored: NotRequired[str]
    #: an outgoing packet a ``silence`` fault kept off the wire
    suppressed: NotRequired[bool]
    fault: NotRequired[str]


class SioInvalid(TypedDict):
    reason: str
    transport: Literal["polling", "websocket"]
    eio_sid: str | None


class SioLogin(TypedDict):
    sid: str
    user: str
    strategy: str
    #: the token's expiry
    exp: float


class SioLogout(TypedDict):
    sid: str
    user: str | None


class SioJwtExpired(TypedDict):
    sid: str
    user: str


class SioKick(TypedDict):
    sid: str
    reason: str


class SioDisconnect(TypedDict):
    sid: str
    by: By
    #: python-socketio's reason: client disconnect, server disconnect, ping timeout, transport close, ...
    reason: str
    fault: NotRequired[str]


# -- AI-Trader's domain --------------------------------------------------------------------------------
class AgentRegistered(TypedDict):
    agent_id: int
    name: str


class TokenRotated(TypedDict):
    agent_id: int
    reason: str
    #: the first 8 characters of the old and the new token
    old: str
    new: str


class MessageRedelivery(TypedDict):
    agent_id: int
    message_id: int


# -- conformance runs --------------------------------------------------------------------------------------
class RunStarted(TypedDict):
    scenario: str
    #: the client's command line
    command: list[str]
    #: virtual seconds per real second, and how the client's clock follows (faketime or none)
    speed: float
    warp: str
    #: how long the run lasts, in virtual seconds
    duration: float
    #: rule parameter overrides given on the command line
    params: dict[str, Any]
    #: the client's process id
    pid: int
    #: a run of several scenarios: the rules of an API the client never reached are not graded (not-applicable)
    skip_unreached: NotRequired[bool]


class RunEnded(TypedDict):
    #: the client's exit status (negative: killed by that signal); None if it was still running and was stopped
    exit_status: int | None
    #: how it ended: the client exited by itself, or was stopped (SIGTERM, then SIGKILL after the grace)
    how: Literal["exited", "terminated", "killed"]
    #: the virtual instant the runner sent SIGTERM (absent when the client exited by itself first)
    stopped_at: NotRequired[float]


class ObserveEvent(TypedDict):
    #: what the client said it handled, as it wrote it on its MOCK_OBSERVE line
    api: str
    kind: str
    id: NotRequired[Any]
    line: dict[str, Any]


class ObserveInvalid(TypedDict):
    line: str
    error: str


D = TypeVar("D", bound=Mapping[str, Any])


@dataclass(frozen=True, slots=True)
class Kind(Generic[D]):
    """One kind of journal entry: its name, its data fields (a TypedDict), its direction, what it records."""

    name: KindName
    fields: type[D]
    #: the directions its entries may have (the first is the usual one)
    directions: tuple[Direction, ...]
    summary: str
    #: true for the kinds that end a connection, stream or session
    ends: bool = False

    @property
    def default_direction(self) -> Direction | None:
        """The direction an entry has when the recorder gives none: a kind's only one (None: it must be given)."""
        return self.directions[0] if len(self.directions) == 1 else None


CATALOGUE: dict[str, Kind[Any]] = {}


def kind(name: KindName, fields: type[D], summary: str, *directions: Direction, ends: bool = False) -> Kind[D]:
    """Register a kind (module level only: the catalogue is fixed at import)."""
    if name in CATALOGUE:
        raise ValueError(f"journal kind {name!r} is defined twice")
    spec = Kind(name, fields, directions or ("internal",), summary, ends)
    CATALOGUE[name] = spec
    return spec


# fmt: off
SCENARIO_LOADED = kind("scenario.loaded", ScenarioLoaded, "A scenario started (or restarted): its clock, profiles, resolved API options and target rules.")
SCENARIO_STEP = kind("scenario.step", ScenarioStep, "A timeline step ran, at its own instant.")
SERVER_STARTED = kind("server.started", ServerStarted, "The server is listening.")
SERVER_ERROR = kind("server.error", ServerError, "An exception inside the mock (a bug, or a scenario step that failed), with its traceback.")
CLOCK_SPEED = kind("clock.speed", ClockSpeed, "The clock's speed was set.")
CLOCK_ADVANCE = kind("clock.advance", ClockAdvance, "The clock was advanced by hand; the timers due on the way ran.")
CLOCK_SET = kind("clock.set", ClockSet, "The clock was moved to an instant; the timers due on the way ran.")
CLOCK_JUMP = kind("clock.jump", ClockJump, "The clock moved by itself to its next timer: nothing had moved for a while (auto-advance), a wait drove it, or a stalled request.")
CLOCK_RELEASED = kind("clock.released", ClockReleased, "A clock held at its start (wait_for_client) started running.")
CONTROL_EMIT = kind("control.emit", ControlEmit, "An event was emitted into an API from outside the scenario.")
CONTROL_STATE = kind("control.state", ControlState, "An API's state was patched from outside the scenario.")
FAULT_START = kind("fault.start", FaultStart, "A fault started.")
FAULT_STOP = kind("fault.stop", FaultStop, "A fault stopped, and how often it was applied.")
FAULT_APPLIED = kind("fault.applied", FaultApplied, "A fault hit one request, handshake, connection or frame.", "internal")
CONN_REFUSED = kind("conn.refused", ConnRefused, "A connection attempt refused by a refuse fault (reset as it opened).", "out", ends=True)
HTTP_REQUEST = kind("http.request", HttpRequest, "An HTTP request, as it arrived.", "in")
HTTP_RESPONSE = kind("http.response", HttpResponse, "What the client got for a request: an answer, an error, or the connection's end.", "out")
HTTP_INVALID = kind("http.invalid", HttpInvalid, "Bytes that were not HTTP (answered 400), or a request head over a limit or too slow (431, 408: see exceeded).", "in")
HTTP_ABORTED = kind("http.aborted", HttpAborted, "The client went away while an answer was being sent.", "internal")
WS_CONNECT = kind("ws.connect", WsConnect, "A WebSocket handshake arrived.", "in")
WS_ACCEPT = kind("ws.accept", WsAccept, "The handshake was accepted.", "out")
WS_REJECT = kind("ws.reject", WsReject, "The handshake was answered with an HTTP status: no WebSocket.", "out", ends=True)
WS_FRAME = kind("ws.frame", WsFrame, "A WebSocket frame in either direction.", "in", "out")
WS_CLOSE = kind("ws.close", WsClose, "A WebSocket ended with a close frame (or, code 1006, without one).", "in", "out", ends=True)
WS_RESET = kind("ws.reset", WsReset, "A WebSocket ended by a TCP reset.", "out", "in", ends=True)
WS_SUPPRESSED = kind("ws.suppressed", WsFrame, "An outgoing frame a silence fault kept off the wire.", "internal")
WS_HELD = kind("ws.held", WsFrame, "An outgoing frame a reorder fault holds back (it goes out after the next one).", "internal")
WS_BROADCAST = kind("ws.broadcast", WsBroadcast, "One fan-out frame queued for many connections (each gets it unless a ws.dropped or ws.discarded says otherwise).", "out")
WS_DROPPED = kind("ws.dropped", WsDropped, "A queued market frame dropped for a slow consumer.", "internal")
WS_OVERFLOW = kind("ws.overflow", WsOverflow, "A slow consumer's queue was full of frames that may not be dropped (a Socket.IO session: of packets): the connection is closed.", "internal")
WS_DISCARDED = kind("ws.discarded", WsDiscarded, "Queued frames never sent because the connection ended.", "internal")
WS_PONG_TIMEOUT = kind("ws.pong_timeout", WsPongTimeout, "No pong within the deadline after a ping.", "internal")
WS_PUSH = kind("ws.push", WsPush, "AI-Trader: a notification handed to an agent's notify socket.", "internal")
WS_LOST = kind("ws.lost", WsLost, "AI-Trader: a notification the notify socket lost (the heartbeat still has it).", "internal")
SSE_FRAME = kind("sse.frame", SseFrame, "An event-stream frame (event, ping, retry) sent.", "out")
SSE_END = kind("sse.end", SseEnd, "An event stream ended cleanly.", "out", "in", ends=True)
SSE_RESET = kind("sse.reset", SseReset, "An event stream ended by a TCP reset.", "out", ends=True)
SSE_SUPPRESSED = kind("sse.suppressed", SseText, "A ping a silence fault kept off the wire.", "internal")
SSE_WITHHELD = kind("sse.withheld", SseText, "An event a silence fault keeps back (sent when it ends).", "internal")
SSE_HELD = kind("sse.held", SseText, "An event a reorder fault holds back (sent after the next one).", "internal")
SSE_OVERFLOW = kind("sse.overflow", SseOverflow, "A reader too far behind: its queue is discarded and the stream ends.", "internal")
SSE_ID_GAP = kind("sse.id_gap", SseIdGap, "An event id skipped (an id_gap fault).", "internal")
SIO_PACKET = kind("sio.packet", SioPacket, "One Engine.IO/Socket.IO packet, decoded, in either direction.", "in", "out")
SIO_INVALID = kind("sio.invalid", SioInvalid, "A packet socket.io's parser refuses: the session is ended.", "internal")
SIO_LOGIN = kind("sio.login", SioLogin, "Cryptorobot: a socket authenticated.", "internal")
SIO_LOGOUT = kind("sio.logout", SioLogout, "Cryptorobot: a socket logged out.", "internal")
SIO_JWT_EXPIRED = kind("sio.jwt_expired", SioJwtExpired, "Cryptorobot: a socket's token expired (the server disconnects it).", "internal")
SIO_KICK = kind("sio.kick", SioKick, "Cryptorobot: the server disconnects a socket.", "out")
SIO_DISCONNECT = kind("sio.disconnect", SioDisconnect, "A Socket.IO session ended.", "internal", ends=True)
AGENT_REGISTERED = kind("agent.registered", AgentRegistered, "AI-Trader: an agent registered.", "internal")
TOKEN_ROTATED = kind("token.rotated", TokenRotated, "AI-Trader: an agent's token changed (login, or a scenario's rotate_token).", "internal")
MESSAGE_REDELIVERY = kind("message.redelivery", MessageRedelivery, "AI-Trader: a message handed out again.", "internal")
RUN_STARTED = kind("run.started", RunStarted, "A conformance run started the client (its command, the speed, the warp, the parameters).")
RUN_ENDED = kind("run.ended", RunEnded, "The client under test ended (its exit status) or was stopped.")
OBSERVE_EVENT = kind("observe.event", ObserveEvent, "A line the client wrote to MOCK_OBSERVE: what it says it handled.", "in")
OBSERVE_INVALID = kind("observe.invalid", ObserveInvalid, "A MOCK_OBSERVE line that is not a JSON object with api and kind.", "in")
CREDITS_RENEWED = kind("credits.renewed", CreditsRenewed, "TradingPartners: a user's credits renewed automatically.", "internal")
# fmt: on

#: The kinds that end a connection, stream or session (each has ``by``).
END_KINDS = frozenset(name for name, spec in CATALOGUE.items() if spec.ends)


# -- the JSON Schema --------------------------------------------------------------------------------------
def _type_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema of a field's annotation (the subset of typing the catalogue uses)."""
    origin = get_origin(tp)
    if tp is Any or tp is object:
        return {}
    if tp is type(None):
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(arg) for arg in get_args(tp)]}
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        return {"type": "array", "items": _type_schema(item)}
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        args = get_args(tp)
        return {"type": "object", "additionalProperties": _type_schema(args[1]) if args else {}}
    raise TypeError(f"no JSON Schema for the annotation {tp!r}")


def data_schema(spec: Kind[Any]) -> dict[str, Any]:
    """The JSON Schema of one kind's ``data``: its fields, which are required, nothing else."""
    hints = typing.get_type_hints(spec.fields)
    required = sorted(spec.fields.__required_keys__)
    return {
        "type": "object",
        "properties": {name: _type_schema(hint) for name, hint in hints.items()},
        "required": required,
        "additionalProperties": False,
    }


def journal_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of one line of a journal export (``journal.jsonl``)."""
    nullable = {"type": ["string", "null"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://agentfeed-mock.invalid/schemas/journal-entry.json",
        "title": "agentfeed-mock journal entry",
        "description": (
            "One entry of the journal: everything that crossed the wire, every fault effect and every scenario step. "
            "vtime is virtual epoch seconds (a timer's entries carry its due instant), wall the real epoch seconds "
            "it was recorded at; conn is the client's TCP connection (address:port); session the logical session "
            "(a WebSocket, an event stream, an Engine.IO/Socket.IO session) from its first entry to its end; "
            "principal who the client's credential identifies."
        ),
        "type": "object",
        "required": ["seq", "vtime", "wall", "api", "kind", "direction", "conn", "session", "principal", "data"],
        "additionalProperties": False,
        "properties": {
            "seq": {"type": "integer", "minimum": 1},
            "vtime": {"type": "number"},
            "wall": {"type": "number"},
            "api": {"type": "string"},
            "kind": {"enum": list(CATALOGUE)},
            "direction": {"enum": list(get_args(Direction))},
            "conn": nullable,
            "session": nullable,
            "principal": nullable,
            "data": {"type": "object"},
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
                "then": {"properties": {"direction": {"enum": list(spec.directions)}, "data": data_schema(spec)}},
            }
            for name, spec in CATALOGUE.items()
        ],
    }


# -- the strict check ----------------------------------------------------------------------------------------
def check_entry(kind_name: str, direction: str, data: Mapping[str, Any]) -> str | None:
    """What is wrong with an entry's kind, direction and data keys (None: nothing); cheap enough for every entry."""
    spec = CATALOGUE.get(kind_name)
    if spec is None:
        return f"journal kind {kind_name!r} is not in the catalogue"
    if direction not in spec.directions:
        return f"{kind_name}: direction {direction!r} is not one of {', '.join(spec.directions)}"
    fields = spec.fields
    unknown = set(data) - set(fields.__annotations__)
    if unknown:
        return f"{kind_name}: field(s) {', '.join(sorted(unknown))} not declared in the catalogue"
    missing = set(fields.__required_keys__) - set(data)
    if missing:
        return f"{kind_name}: required field(s) {', '.join(sorted(missing))} missing"
    return None


# -- the README's table -----------------------------------------------------------------------------------------
def _type_text(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is Any:
        return "any"
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and origin is None:
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "dict": "object"}.get(tp.__name__, tp.__name__)
    if origin is Literal:
        return "\\|".join(str(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_text(a) for a in get_args(tp))
    if origin is list:
        return f"list of {_type_text(get_args(tp)[0])}"
    return "object"


def kinds_markdown() -> str:
    """The README's table of journal kinds (kept in step with this module by a test)."""
    rows = ["| kind | direction | data fields (? optional) | what it records |", "|---|---|---|---|"]
    for name, spec in CATALOGUE.items():
        hints = typing.get_type_hints(spec.fields)
        required = spec.fields.__required_keys__
        fields = ", ".join(f"`{f}{'' if f in required else '?'}` {_type_text(t)}" for f, t in hints.items())
        rows.append(f"| `{name}` | {' / '.join(spec.directions)} | {fields} | {spec.summary} |")
    return "\n".join(rows) + "\n"
