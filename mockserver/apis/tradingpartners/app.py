"""TradingPartners over HTTP: login, closed alerts, history, and the SSE alert stream.

The stream is a raw ASGI endpoint inside the Starlette router (like a hand-written
StreamingResponse: about twice sse-starlette's throughput, and no wall-clock keep-alive).
Frames are exactly ``event: <type>`` / [``id: <n>``] / ``data: <compact JSON>`` / blank
line; pings come from the virtual clock. Stream faults (close, cut, silence, dribble,
duplicate, reorder, id_gap) are applied here, frame by frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ...adapters.edge import FRAMES_KEY, SESSION_KEY, SSE_META_KEY, end_stream
from ...adapters.responses import reply_response, send_reply
from ...adapters.routing import ApiRouter
from ...adapters.wake import Wake
from ...adapters.wsedge import TRANSPORT_KEY, abort
from ...core.catalogue import SSE_HELD, SSE_OVERFLOW, SSE_RESET, SSE_SUPPRESSED, SSE_WITHHELD, SseOverflow, SseReset, SseText
from ...core.clock import format_instant
from ...core.reply import Reply
from ...core.scheduler import Timer
from ...core.sessions import Session
from ...faults.model import ActiveFault, FaultSpec
from ...runtime import Runtime
from .domain import TradingPartners, User, error

__all__ = ["build_app", "error_body"]

API = "tradingpartners"
STREAM = "/api/v1/alerts"
#: frames sent in one body chunk (one write) at most
BATCH = 64
#: frames a stream's pump writes per turn of the event loop at most, when no fault is active
DRAIN = 1024


def error_body(status: int, message: str) -> dict[str, Any]:
    """The API's error shape for injected faults: ``{code, message, description}``."""
    return {"code": status, "message": message.lower(), "description": message}


def frame(event: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head.encode() + b"data: " + orjson.dumps(data) + b"\n\n"


@dataclass(slots=True)
class _Stream:
    session: Session
    user: str
    send: Send
    transport: Any
    queue: deque[bytes] = field(default_factory=deque)
    wake: Wake = field(default_factory=Wake)
    end: bool = False  # end the stream after what is queued (credits gone, a close fault)
    ping: Timer | None = None
    held: bytes | None = None
    withheld: list[bytes] = field(default_factory=list)  # events a silence keeps back, in order
    gone: bool = False  # the client left


class _Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.streams: dict[str, _Stream] = {}
        runtime.on_reset.append(self.rewire)
        runtime.fault_listeners.append(self.on_fault)
        runtime.on_stop.append(lambda: self.rewire(close=True))
        self.rewire(close=False)

    @property
    def domain(self) -> TradingPartners:
        domain: TradingPartners = self.runtime.apis[API]
        return domain

    def rewire(self, close: bool = True) -> None:
        self.domain.listener = self.on_event
        board = self.runtime.faults
        self.domain.should_gap = lambda: bool(board) and board.draw(API, "id_gap", STREAM) is not None
        if close:
            for stream in list(self.streams.values()):
                stream.end = True
                stream.wake.set()

    def _fault(self, kind: str, stream: _Stream) -> ActiveFault | None:
        board = self.runtime.faults
        return board.draw(API, kind, STREAM, session=stream.session) if board else None

    def on_event(self, email: str, event: str, data: dict[str, Any], event_id: int | None) -> None:
        payload = frame(event, data, event_id)
        limit = self.domain.queue_limit
        for stream in list(self.streams.values()):
            if stream.user == email and not stream.end:
                if len(stream.queue) >= limit:  # a reader this slow is cut loose: it can resume with Last-Event-ID
                    self.runtime.journal.record(
                        API, SSE_OVERFLOW, SseOverflow(path=STREAM, discarded=len(stream.queue), limit=limit), session=stream.session
                    )
                    stream.queue.clear()
                    stream.end = True
                else:
                    stream.queue.append(payload)
                    if event == "error":  # credits gone: this is the last message
                        stream.end = True
                stream.wake.set()

    def on_fault(self, spec: FaultSpec, started: bool) -> None:
        """A close fault started: end open streams cleanly (each drawn with the fault's probability)."""
        if not started or spec.kind != "close" or not spec.applies_to(API, "GET", STREAM):
            return
        for stream in list(self.streams.values()):
            if self.runtime.faults.hits_open(spec.id, API, STREAM, session=stream.session) is not None:
                stream.session.fault = spec.id  # the edge journals the end, by the fault
                stream.end = True
                stream.wake.set()

    # -- pings -----------------------------------------------------------------------------------
    def _schedule_ping(self, stream: _Stream, at: float) -> None:
        def ping(due: float) -> None:
            if stream.end:
                return
            stream.queue.append(frame("ping", {"ping": format_instant(due, precision="ns")}))
            stream.wake.set()
            self._schedule_ping(stream, due + self.domain.ping_interval)

        stream.ping = self.runtime.scheduler.call_at(at, ping, name="sse ping")

    # -- sending ----------------------------------------------------------------------------------
    async def _write(self, stream: _Stream, payload: bytes) -> bool:
        """Send one frame through the faults; False when the connection is gone."""
        silence = self._fault("silence", stream)
        if silence is not None:  # nothing goes out: pings are dropped, events kept back in order
            kind = SSE_SUPPRESSED if payload.startswith(b"event: ping\n") else SSE_WITHHELD
            self.runtime.journal.record(
                API, kind, SseText(path=STREAM, text=payload.decode(), fault=silence.spec.id), session=stream.session
            )
            if kind is SSE_WITHHELD:
                stream.withheld.append(payload)
            return True
        while stream.withheld:  # the silence is over: what it kept back goes first
            if not await self._send_frame(stream, stream.withheld.pop(0)):
                return False
        return await self._send_frame(stream, payload)

    def _body(self, payload: bytes, **meta: Any) -> dict[str, Any]:
        return {"type": "http.response.body", "body": payload, "more_body": True, SSE_META_KEY: meta}

    async def _send_frame(self, stream: _Stream, payload: bytes) -> bool:
        cut = self._fault("cut", stream)
        if cut is not None:  # part of a frame, then a TCP reset
            await stream.send(self._body(payload[: max(1, len(payload) // 2)], partial=True, fault=cut.spec.id))
            await asyncio.sleep(0)
            stream.session.fault = cut.spec.id
            unsent = abort(stream.transport)
            data = SseReset(path=STREAM, by="fault", fault=cut.spec.id)
            if unsent:
                data["unsent_bytes"] = unsent
                data["lost"] = stream.session.lost(unsent)
            end_stream(self.runtime, API, stream.session, SSE_RESET, data)
            return False
        reorder = self._fault("reorder", stream) if stream.held is None else None
        if reorder is not None:
            stream.held = payload
            self.runtime.journal.record(
                API, SSE_HELD, SseText(path=STREAM, text=payload.decode(), fault=reorder.spec.id), session=stream.session
            )
            return True
        dribble = self._fault("dribble", stream)
        if dribble is not None:
            size = max(1, math.ceil(len(payload) / max(1, dribble.spec.chunks)))
            for start in range(0, len(payload), size):
                if start:
                    assert self.runtime.sleep is not None, "the clock driver provides the virtual sleep"
                    await self.runtime.sleep(dribble.spec.interval)
                last = start + size >= len(payload)
                piece = payload[start : start + size]
                await stream.send(self._body(piece, text=payload, fault=dribble.spec.id) if last else self._body(piece, piece=True))
        else:
            await stream.send({"type": "http.response.body", "body": payload, "more_body": True})
        duplicate = self._fault("duplicate", stream)
        if duplicate is not None:
            await stream.send(self._body(payload, duplicate=True, fault=duplicate.spec.id))
        if stream.held is not None:
            held, stream.held = stream.held, None
            await stream.send(self._body(held, reordered=True))
        return True

    async def _send_batch(self, stream: _Stream) -> int:
        """No fault active: up to ``BATCH`` queued frames in one body chunk (one write), each journaled by the edge."""
        queue = stream.queue
        frames = [queue.popleft() for _ in range(min(len(queue), BATCH))]
        body = frames[0] if len(frames) == 1 else b"".join(frames)
        await stream.send({"type": "http.response.body", "body": body, "more_body": True, FRAMES_KEY: frames})
        return len(frames)

    async def _pump(self, stream: _Stream) -> None:
        runtime = self.runtime
        transport = stream.transport
        while True:
            await stream.wake.wait()
            stream.wake.clear()
            written = 0
            while stream.queue and not stream.gone:
                if transport is not None and transport.is_closing():  # the client vanished: nothing more is sent or journaled
                    stream.gone = True
                    return
                if not runtime.faults and not stream.withheld and stream.held is None:  # the common case
                    written += await self._send_batch(stream)
                    # a producer that never lets the queue empty must not starve the disconnect watcher; but drain
                    # more per turn than the clock driver makes in one (TURN_BUDGET), or an overload would collapse
                    if written >= DRAIN and stream.queue:
                        written = 0
                        await asyncio.sleep(0)
                    continue
                if not await self._write(stream, stream.queue.popleft()):
                    return
                written += 1
                if written % BATCH == 0:
                    await asyncio.sleep(0)
            if stream.gone:
                return
            if stream.end:
                await stream.send({"type": "http.response.body", "body": b"", "more_body": False})
                return

    # -- one stream ---------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        domain = self.domain
        now = self.runtime.clock.now()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        user = domain.authenticate(headers.get("authorization"), now)
        if isinstance(user, Reply):
            await send_reply(send, user)
            return
        if user.access != "FULL":
            await send_reply(send, error(402, 30, "The real-time stream needs FULL API access: FREE users use /api/v1/alerts/closed."))
            return
        if user.exhausted:
            await send_reply(send, error(402, 30, "No credits left and auto-renewal is off."))
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store"), (b"x-accel-buffering", b"no")],
            }
        )
        session: Session = scope[SESSION_KEY]  # the edge made the stream a session when the head went out
        stream = _Stream(session, user.email, send, (scope.get("extensions") or {}).get(TRANSPORT_KEY))
        if domain.retry_ms is not None:
            retry = f"retry: {domain.retry_ms}\n\n".encode()
            await send({"type": "http.response.body", "body": retry, "more_body": True, FRAMES_KEY: [retry]})
        missed = [frame(event, data, event_id) for event_id, event, data in domain.replay(user, headers.get("last-event-id"))]
        if missed:
            await send(
                {
                    "type": "http.response.body",
                    "body": b"".join(missed),
                    "more_body": True,
                    FRAMES_KEY: missed,
                    SSE_META_KEY: {"replay": True},
                }
            )
        self.streams[session.id] = stream
        domain.watch(+1)
        self._schedule_ping(stream, now + domain.ping_interval)
        # the pump is a task; this one waits for the client to leave or the pump to end the response (no asyncio.wait:
        # a held stream keeps no wait machinery alive)
        pump = asyncio.get_running_loop().create_task(self._pump(stream))
        pump.add_done_callback(lambda task: self._pump_done(task, stream))
        try:
            await self._await_disconnect(receive)
            stream.gone = not pump.done() or stream.gone  # the client left (the edge journals that end)
        finally:
            stream.end = True
            if stream.ping is not None:
                stream.ping.cancel()
            self.streams.pop(session.id, None)
            if self.domain is domain:
                domain.watch(-1)
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump

    @staticmethod
    def _pump_done(pump: asyncio.Task[None], stream: _Stream) -> None:
        """A pump that failed leaves the response unfinished: close the connection, so the wait for the client ends."""
        if not pump.cancelled() and pump.exception() is not None and stream.transport is not None:
            stream.transport.close()

    @staticmethod
    async def _await_disconnect(receive: Receive) -> None:
        """Until the client leaves, or the response is complete (uvicorn then answers ``http.disconnect`` too)."""
        while (await receive())["type"] != "http.disconnect":
            pass


def build_app(runtime: Runtime) -> ApiRouter:
    hub = _Hub(runtime)

    def domain() -> TradingPartners:
        current: TradingPartners = runtime.apis[API]
        return current

    def authed(handler: Callable[[TradingPartners, User, Request, float], Reply]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            app, now = domain(), runtime.clock.now()
            user = app.authenticate(request.headers.get("authorization"), now)
            if isinstance(user, Reply):
                return reply_response(user)
            return reply_response(handler(app, user, request, now))

        return endpoint

    async def login(request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError:
            return reply_response(error(400, 20))
        return reply_response(domain().login(body, runtime.clock.now()))

    def closed(app: TradingPartners, user: User, request: Request, now: float) -> Reply:
        return app.closed(user, now)

    def history(app: TradingPartners, user: User, request: Request, now: float) -> Reply:
        return app.history(user, request.query_params)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        text = {404: "not found", 405: "method not allowed"}.get(status, "internal server error")
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        return reply_response(
            Reply(status, {"code": status, "message": text, "description": f"{request.method} {request.url.path}: {text}"}, headers)
        )

    routes = [
        Route("/api/v1/users/login", login, methods=["POST"]),
        Route(STREAM, hub, methods=["GET"]),
        Route("/api/v1/alerts/closed", authed(closed), methods=["GET"]),
        Route("/api/v1/alerts/history", authed(history), methods=["GET"]),
    ]
    app = ApiRouter(routes, http_error)
    app.state.hub = hub
    return app
