"""Cryptorobot over Socket.IO (python-socketio) and REST (Starlette), as Feathers v5 serves it.

``socketio.ASGIApp`` answers ``/socket.io/`` (polling and websocket, upgrades, CORS open)
and hands everything else to the Starlette REST mirror (``other_asgi_app``). Each service
method is a Socket.IO event named after the method; the handler returns the ack
(``(None, result)`` or ``(error,)``), and event names that are no method get no handler,
hence no ack, as in Feathers. Events and server-side disconnects leave through one queue,
so they reach the wire in the order the domain made them. ``PacketJournal`` records every
packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import orjson
import socketio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...adapters.edge import SESSION_KEY
from ...adapters.responses import JSONBytesResponse
from ...adapters.siojournal import PacketJournal
from ...core.catalogue import SIO_DISCONNECT, SIO_KICK, WS_OVERFLOW, By, SioDisconnect, SioKick, WsOverflow
from ...core.sessions import Session
from ...runtime import Runtime
from .domain import AUTH_PATH, Cryptorobot
from .errors import FeathersError
from .query import parse_query_string
from .schema import SERVICES

__all__ = ["build_app", "error_body"]

API = "cryptorobot"
METHODS = ("find", "get", "create", "update", "patch", "remove")


def error_body(status: int, message: str) -> dict[str, Any]:
    """Feathers' error JSON, used by injected faults on the REST side and on polling requests."""
    body = FeathersError.for_status(status, message).to_json()
    body["code"] = status
    return body


class _LibraryLog(logging.Handler):
    """python-engineio's and python-socketio's log. What they log without an exception is a client's error that
    the journal already shows (a 400 answer, a ``sio.invalid``); an exception they caught and logged is one
    inside the mock: a ``server.error``, raised to whoever drives the mock, never a traceback on the console."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(logging.ERROR)
        self.runtime = runtime

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and isinstance(record.exc_info[1], Exception):
            self.runtime.report_error("task", f"{record.name}: {record.getMessage()}", record.exc_info[1])


def _library_logger(runtime: Runtime, name: str) -> logging.Logger:
    logger = logging.Logger(f"mockserver.{API}.{name}", logging.ERROR)  # not in logging's tree: nothing propagates
    logger.addHandler(_LibraryLog(runtime))
    return logger


class _Hub:
    """The python-socketio server, wired to whichever domain the runtime runs now."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins="*",
            async_handlers=False,
            logger=_library_logger(runtime, "socketio"),
            engineio_logger=_library_logger(runtime, "engineio"),
        )
        self._out: deque[tuple[str, str, Any]] = deque()
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self.sids: dict[str, Session] = {}  # open Socket.IO connections (across scenario resets) -> their session
        self.left: set[str] = set()  # sessions whose client sent a Socket.IO DISCONNECT (their end says so)
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        eio_disconnect = self.sio.eio.handlers["disconnect"]  # python-socketio's own

        async def on_eio_disconnect(eio_sid: str, reason: Any = None) -> None:
            try:
                await eio_disconnect(eio_sid, reason)
            finally:
                # forget the session now: python-engineio keeps a closed one until a poll or its sweep, and a
                # long-polling POST meanwhile (after the client's own close packet, say) made it raise: a 500
                self.sio.eio.sockets.pop(eio_sid, None)
                self.session_ended(eio_sid, str(reason or "client disconnect"))

        self.sio.eio.on("disconnect", on_eio_disconnect)
        for method in METHODS:
            self.sio.on(method, self._handler(method))
        runtime.on_reset.append(self.rewire)
        runtime.on_stop.append(self.stop)
        self.rewire(first=True)

    @property
    def domain(self) -> Cryptorobot:
        domain: Cryptorobot = self.runtime.apis[API]
        return domain

    def rewire(self, first: bool = False) -> None:
        """A scenario (re)started: the new domain's events and kicks come here; old sessions end."""
        domain = self.domain
        domain.listener = self.on_event
        domain.kicker = self.kick
        self.keepalive()
        if not first:
            self.left.clear()  # session ids start again
            for sid in list(self.sids):
                self.kick(sid, "scenario reset")

    def keepalive(self) -> None:
        """Engine.IO's keep-alive pace in real seconds: the scenario's virtual interval and timeout over the speed.

        python-engineio pings and checks pongs on the wall clock, so at speed ``k`` it pings every
        ``ping_interval / k`` real seconds and waits ``ping_timeout / k`` for the pong (a manual
        clock, speed 0, counts as 1), with no floor: a client under time warp at x60 expects a
        ping within 45 of *its* seconds, 0.75 s of ours. What the OPEN packet announces is the
        virtual values (:meth:`announce`): a client under time warp reads them on the mock's
        clock, and a client that is not is pinged more often than it was told, which it accepts.
        Set at each handshake and reset (python-engineio reads them at every ping of every
        session): a speed change reaches open sessions at the next handshake.
        """
        domain, speed = self.domain, self.runtime.speed
        scale = speed if speed > 0 else 1.0
        self.sio.eio.ping_interval = domain.ping_interval / scale
        self.sio.eio.ping_timeout = domain.ping_timeout / scale

    def announce(self, opened: dict[str, Any]) -> dict[str, Any]:
        """The OPEN packet as the client reads it: the scenario's virtual pingInterval and pingTimeout (ms)."""
        domain = self.domain
        return {**opened, "pingInterval": round(domain.ping_interval * 1000), "pingTimeout": round(domain.ping_timeout * 1000)}

    def session_ended(self, eio_sid: str, reason: str) -> None:
        """An Engine.IO session ended: its one ``sio.disconnect``, saying by whom."""
        session = self.runtime.sessions.find(API, f"eio:{eio_sid}")
        if session is None or session.ended:
            return
        if session.id in self.left:  # the client sent a Socket.IO DISCONNECT before its transport went
            self.left.discard(session.id)
            reason = "client disconnect"
        by: By = "client" if reason in ("client disconnect", "transport close", "transport error") else "server"
        if session.ending:  # the server disconnected it (a kick): the client closing the transport is only the end of that
            by = "server"
        data = SioDisconnect(sid=eio_sid, by=by, reason=reason)
        if session.fault is not None:
            data["by"], data["fault"] = "fault", session.fault
        self.runtime.journal.record(API, SIO_DISCONNECT, data, session=session)
        self.runtime.sessions.end(session)

    async def end_session(self, eio_sid: str) -> None:
        """Close an Engine.IO session (a long-polling client sent a packet socket.io would refuse).

        Not ``eio.disconnect``, which waits until a poll has drained the session's queue: a client that does
        not poll would keep the request that ended it waiting for ever. The close packet waits in the queue for
        the client's next poll; python-engineio forgets the closed session then, or at its next sweep."""
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close(wait=False, reason=self.sio.eio.reason.SERVER_DISCONNECT)

    # -- Socket.IO handlers ---------------------------------------------------------------------
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
        session: Session | None = (environ.get("asgi.scope") or {}).get(SESSION_KEY)  # the handshake's Engine.IO session
        if session is not None:
            self.runtime.sessions.alias(session, sid)  # the domain journals logins by the Socket.IO sid
            session.principal = None  # who it is comes from the handshake's or a later authentication
        try:
            self.domain.connect(sid, headers, self.runtime.clock.now())
        except FeathersError as exc:  # handshake-header authentication failed: Socket.IO CONNECT_ERROR
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.to_json()) from None
        if session is not None:
            self.sids[sid] = session

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = self.sids.pop(sid, None)
        if session is not None and reason == self.sio.reason.CLIENT_DISCONNECT:
            self.left.add(session.id)
        self.domain.disconnect(sid, str(reason or ""))

    def _handler(self, method: str) -> Any:
        async def handle(sid: str, *args: Any) -> tuple[Any, ...]:
            try:
                result = self.domain.call(sid, method, list(args), self.runtime.clock.now())
            except FeathersError as exc:
                return (exc.to_json(),)
            except Exception as exc:  # a bug of ours: the client gets Feathers' GeneralError, the journal the cause
                self.runtime.report_error("handler", f"{API} {method} (Socket.IO {sid})", exc)
                return (FeathersError("GeneralError", str(exc) or type(exc).__name__).to_json(),)
            return (None, result)

        return handle

    # -- server-sent events and kicks, in order ------------------------------------------------------
    def on_event(self, user_id: str | None, event: str, payload: dict[str, Any]) -> None:
        for conn in list(self.domain.connections.values()):
            if conn.user is not None and (user_id is None or conn.user.id == user_id):
                self._enqueue(("emit", conn.id, (event, payload)))

    def kick(self, sid: str, reason: str) -> None:
        self._enqueue(("disconnect", sid, reason))

    def _enqueue(self, item: tuple[str, str, Any]) -> None:
        self._out.append(item)
        self._wake.set()
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._run(), name="cryptorobot-out")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._out:
                kind, sid, data = self._out.popleft()
                with contextlib.suppress(Exception):  # the socket may be gone meanwhile
                    if kind == "emit":
                        if self._full(sid):
                            await self._overflow(sid)
                            continue
                        await self.sio.emit(data[0], data[1], to=sid)
                    else:
                        session = self.sids.get(sid)
                        if session is not None:
                            session.ending = True
                        self.runtime.journal.record(API, SIO_KICK, SioKick(sid=sid, reason=data), session=session)
                        await self.sio.disconnect(sid)

    # -- slow consumers ----------------------------------------------------------------------------------
    def _socket(self, sid: str) -> Any:
        """python-engineio's socket under a Socket.IO sid (its queue holds the packets not yet sent), if any."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        return self.sio.eio.sockets.get(eio_sid) if eio_sid is not None else None

    def _full(self, sid: str) -> bool:
        socket = self._socket(sid)
        return socket is not None and not socket.closing and socket.queue.qsize() >= self.domain.queue_limit

    async def _overflow(self, sid: str) -> None:
        """A session whose client does not take its packets: journaled, then ended by the server (memory stays
        bounded). No Feathers event can be dropped alone without the client's records going wrong, so the whole
        session goes, as TradeReady's connection does when its queue holds only frames it may not drop."""
        socket = self._socket(sid)
        session = self.sids.get(sid)
        queued = socket.queue.qsize() if socket is not None else 0
        reason = f"slow consumer: {queued} Engine.IO packets waiting (queue_limit {self.domain.queue_limit})"
        self.runtime.journal.record(API, WS_OVERFLOW, WsOverflow(path="/socket.io/", queued=queued, reason=reason), session=session)
        if session is not None:
            session.ending = True  # ended by the server, whatever the transport reports
        if socket is not None:
            await socket.close(wait=False, abort=True, reason="slow consumer")
        if session is not None and session.abort is not None:  # its WebSocket: a writer stuck on a client that does not read
            session.abort("slow consumer: queue full")

    def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONBytesResponse(body, status_code=status, headers=headers)


def _error(exc: FeathersError) -> Response:
    headers = {}
    if exc.name == "TooManyRequests" and isinstance(exc.data, dict) and "retryAfter" in exc.data:
        headers["Retry-After"] = str(exc.data["retryAfter"])
    return _json(exc.to_json(), exc.code, headers)


def build_app(runtime: Runtime) -> Any:
    hub = _Hub(runtime)

    def domain() -> Cryptorobot:
        return hub.domain

    async def body(request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise FeathersError("BadRequest", "Unexpected token in JSON") from None

    async def rest(request: Request) -> Response:
        """``/<service>[/<id>]``: find, get, create, update, patch, remove, as Feathers' REST transport maps them."""
        path = request.path_params["path"].strip("/")
        app, now = domain(), runtime.clock.now()
        service = next((s for s in sorted([*SERVICES, AUTH_PATH], key=len, reverse=True) if path == s or path.startswith(s + "/")), None)
        try:
            if service is None:
                raise FeathersError("NotFound", "Page not found", data={"url": request.url.path})
            record_id: str | None = path[len(service) + 1 :] or None
            verb = request.method
            method = {"GET": "get" if record_id else "find", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "remove"}[verb]
            user = None if service == AUTH_PATH else app.rest_user(request.headers.get("authorization"), now)
            query = parse_query_string(request.query_params.multi_items())
            args: list[Any] = [service]
            if method in ("get", "remove", "update", "patch"):
                args.append(record_id)
            if method in ("create", "update", "patch"):
                args.append(await body(request))
            args.append(query)
            if service == AUTH_PATH:
                if method == "create":
                    return _json(app.call(None, "create", args, now), 201)
                if method == "remove":  # logout: the token comes in the Authorization header
                    return _json(app.rest_logout(request.headers.get("authorization"), record_id, now))
                raise FeathersError("MethodNotAllowed", f"Method '{method}' not allowed on service '{service}'")
            if method in ("update", "patch", "remove") and record_id is None:
                raise FeathersError("MethodNotAllowed", f"Can not {method} multiple entries")
            result = app.call(None, method, args, now, user=user)
            return _json(result, 201 if method == "create" else 200)
        except FeathersError as exc:
            return _error(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = {404: "Page not found", 405: "Method not allowed"}.get(status, "Internal server error")
        return _json(error_body(status, message), status)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    rest_app = Starlette(
        routes=[Route("/{path:path}", rest, methods=methods)], exception_handlers={HTTPException: http_error, 500: http_error}
    )
    asgi = socketio.ASGIApp(hub.sio, other_asgi_app=rest_app, socketio_path="socket.io")
    app = PacketJournal(
        asgi,
        runtime=runtime,
        api=API,
        on_handshake=hub.keepalive,
        on_open=hub.announce,
        on_invalid=hub.end_session,
        connected=lambda eio_sid, nsp: hub.sio.manager.sid_from_eio_sid(eio_sid, nsp) is not None,
    )
    app.hub = hub  # type: ignore[attr-defined]
    return app
