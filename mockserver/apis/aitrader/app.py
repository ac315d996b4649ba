"""AI-Trader over HTTP and the notify WebSocket: a Starlette app pumping into the domain.

Each request goes to the active profile's routes: the documented profile's here, the
upstream profile's (the public server's route table and middlewares) in :mod:`.upstream_app`.
Both share the notify WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from ...adapters.responses import reply_response
from ...adapters.routing import ApiRouter
from ...adapters.wsedge import SESSION_KEY
from ...core.catalogue import WS_LOST, WS_PUSH, WsLost, WsPush
from ...core.reply import Reply
from ...core.sessions import Session
from ...runtime import Runtime
from .domain import Agent, AiTrader, int_param, int_param_error

if TYPE_CHECKING:
    from .upstream_app import UpstreamHttp

__all__ = ["build_app", "error_body"]

_NOT_JSON = object()


def error_body(status: int, message: str) -> dict[str, Any]:
    """FastAPI's error shape, used by injected faults too."""
    return {"detail": message}


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _json_error() -> Reply:
    return Reply(
        422,
        {
            "detail": [
                {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}, "ctx": {"error": "Expecting value"}}
            ]
        },
    )


class _Notifier:
    """The open notify sockets, one per agent id (a new one replaces the old, which then gets nothing)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sockets: dict[int, tuple[WebSocket, asyncio.Queue[dict[str, Any]]]] = {}
        runtime.on_reset.append(self.rewire)
        self.rewire(close=False)

    @property
    def domain(self) -> AiTrader:
        domain: AiTrader = self.runtime.apis["aitrader"]
        return domain

    def rewire(self, close: bool = True) -> None:
        """A new scenario (or reset): the new domain pushes here; old sockets are told to reconnect."""
        self.domain.pusher = self.push
        self.domain.connected = set()
        if close:
            for websocket, _queue in list(self.sockets.values()):
                task = asyncio.get_running_loop().create_task(websocket.close(code=1012, reason="scenario reset"))
                task.add_done_callback(lambda t: t.exception())
            self.sockets.clear()

    def push(self, agent_id: int, frame: dict[str, Any], message_id: int) -> None:
        entry = self.sockets.get(agent_id)
        if entry is None:
            return
        websocket, queue = entry
        if queue.qsize() >= self.domain.queue_limit:  # a client that does not read: the push is lost, as the socket may
            self.runtime.journal.record(  # ("not guaranteed"); the heartbeat still hands the message out
                "aitrader",
                WS_LOST,
                WsLost(agent_id=agent_id, message_id=message_id, type=frame.get("type"), frame=frame),
                session=websocket.scope[SESSION_KEY],
            )
            return
        self.runtime.journal.record(
            "aitrader",
            WS_PUSH,
            WsPush(agent_id=agent_id, message_id=message_id, type=frame.get("type")),
            session=websocket.scope[SESSION_KEY],
        )
        queue.put_nowait(frame)

    def resolve(self, client_id: str) -> int | None:
        """upstream: Python's ``int(client_id)`` or nothing; documented: also ``agent_<id>`` or the agent's name."""
        if self.domain.upstream:
            try:
                return int(client_id)  # " 7", "+7" and "7_0" are numbers to int() too
            except ValueError:
                return None
        number = int_param(client_id)
        if number is not None:
            return number
        candidate = client_id.removeprefix("agent_")
        for agent in self.domain.agents.values():
            if str(agent.id) == candidate or agent.name == client_id:
                return agent.id
        return -1  # documented: accepted, but nothing will ever arrive

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        agent_id = self.resolve(websocket.path_params["client_id"])
        if agent_id is None:
            return  # the server's int() fails: the handler returns and the socket is closed normally
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        session: Session = websocket.scope[SESSION_KEY]
        if agent_id in self.domain.agents:  # the agent whose notifications this socket carries
            session.principal = f"agent:{agent_id}"
        self.runtime.sessions.alias(session, f"agent:{agent_id}")  # where the domain's lost pushes are journaled
        self.sockets[agent_id] = (websocket, queue)
        self.domain.connected.add(agent_id)
        sender = asyncio.get_running_loop().create_task(self._send_all(websocket, queue))
        try:
            while True:
                await websocket.receive_text()  # anything the client sends (e.g. {"token": ...}) is read and discarded
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            # upstream: the server deletes the agent's entry whichever socket closes, so closing a replaced
            # socket silences its replacement too; documented: only the socket's own entry goes
            if agent_id in self.sockets and (self.domain.upstream or self.sockets[agent_id][0] is websocket):
                del self.sockets[agent_id]
                self.domain.connected.discard(agent_id)

    @staticmethod
    async def _send_all(websocket: WebSocket, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with contextlib.suppress(Exception):  # send errors are swallowed, as upstream does
            while True:
                frame = await queue.get()
                await websocket.send_text(orjson.dumps(frame).decode())


Handler = Callable[[AiTrader, Agent, Request, float], Awaitable[Reply]]


class _Profiles:
    """The API's ASGI app: each request goes to the active profile's routes (a scenario picks the profile)."""

    def __init__(self, runtime: Runtime, documented: ApiRouter, upstream: Callable[[], UpstreamHttp]) -> None:
        self.runtime = runtime
        self.documented = documented
        self._build_upstream = upstream
        self._upstream: UpstreamHttp | None = None
        self.state = State()

    @property
    def upstream(self) -> UpstreamHttp:
        """The upstream profile's routes, built when a scenario first asks for them (pydantic: ~0.1 s of start-up)."""
        if self._upstream is None:
            self._upstream = self._build_upstream()
        return self._upstream

    def routes_for(self, profile: str) -> list[BaseRoute]:
        return self.upstream.router.routes if profile == "upstream" else self.documented.routes

    def _active(self) -> ApiRouter | UpstreamHttp:
        return self.upstream if self.runtime.apis["aitrader"].upstream else self.documented

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._active()(scope, receive, send)

    async def server_error(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        await self._active().server_error(scope, receive, send, exc)


def build_app(runtime: Runtime) -> _Profiles:
    notifier = _Notifier(runtime)
    socket = WebSocketRoute("/ws/notify/{client_id}", notifier.serve)

    def domain() -> AiTrader:
        current: AiTrader = runtime.apis["aitrader"]
        return current

    def authed(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            app = domain()
            agent = app.authenticate(request.headers.get("authorization"), request.headers.get("x-claw-token"))
            if isinstance(agent, Reply):
                return reply_response(agent)
            return reply_response(await handler(app, agent, request, runtime.clock.now()))

        return endpoint

    def public(handler: Callable[[AiTrader, Request, float], Awaitable[Reply]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return reply_response(await handler(domain(), request, runtime.clock.now()))

        return endpoint

    def with_body(call: Callable[[AiTrader, Agent, Any, float], Reply]) -> Handler:
        async def handler(app: AiTrader, agent: Agent, request: Request, now: float) -> Reply:
            body = await _json(request)
            return _json_error() if body is _NOT_JSON else call(app, agent, body, now)

        return handler

    async def register(app: AiTrader, request: Request, now: float) -> Reply:
        body = await _json(request)
        return _json_error() if body is _NOT_JSON else app.register(body, now)

    async def login(app: AiTrader, request: Request, now: float) -> Reply:
        body = await _json(request)
        return _json_error() if body is _NOT_JSON else app.login(body)

    async def heartbeat(app: AiTrader, agent: Agent, request: Request, now: float) -> Reply:
        body = await _json(request)
        return _json_error() if body is _NOT_JSON else app.heartbeat(agent, body, now)

    async def me(app: AiTrader, agent: Agent, request: Request, now: float) -> Reply:
        return app.me_view(agent)

    async def unread_summary(app: AiTrader, agent: Agent, request: Request, now: float) -> Reply:
        return app.unread_summary(agent)

    async def recent(app: AiTrader, agent: Agent, request: Request, now: float) -> Reply:
        text = request.query_params.get("limit", "20")
        limit = int_param(text)
        if limit is None:
            return int_param_error("limit", text)
        return app.recent(agent, request.query_params.get("category"), limit)

    async def feed(app: AiTrader, request: Request, now: float) -> Reply:
        viewer = app.authenticate(request.headers.get("authorization"), request.headers.get("x-claw-token"))
        return app.social.feed(request.query_params, viewer if isinstance(viewer, Agent) else None)

    async def replies(app: AiTrader, request: Request, now: float) -> Reply:
        return app.social.replies(request.path_params["signal_id"])

    async def my_discussions(request: Request) -> Response:
        app = domain()
        agent = app.authenticate(request.headers.get("authorization"), request.headers.get("x-claw-token"))
        if isinstance(agent, Reply):
            return reply_response(agent)
        if request.url.path.endswith("/with-new-replies"):
            return reply_response(app.social.with_new_replies(agent, request.query_params.get("since")))
        return reply_response(app.social.my_discussions(agent, request.query_params.get("keyword")))

    async def accept(app: AiTrader, agent: Agent, request: Request, now: float) -> Reply:
        return app.social.accept_reply(agent, request.path_params["signal_id"], request.path_params["reply_id"], now)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        text = {404: "Not Found", 405: "Method Not Allowed"}.get(status, "Internal Server Error")
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        return reply_response(Reply(status, {"detail": text}, headers))

    routes = [
        Route("/api/claw/agents/selfRegister", public(register), methods=["POST"]),
        Route("/api/claw/agents/login", public(login), methods=["POST"]),
        Route("/api/claw/agents/me", authed(me), methods=["GET"]),
        Route("/api/claw/agents/heartbeat", authed(heartbeat), methods=["POST"]),
        Route("/api/claw/messages", authed(with_body(lambda app, agent, body, now: app.send_message(body, now))), methods=["POST"]),
        Route("/api/claw/tasks", authed(with_body(lambda app, agent, body, now: app.create_task(body, now))), methods=["POST"]),
        Route("/api/claw/messages/unread-summary", authed(unread_summary), methods=["GET"]),
        Route("/api/claw/messages/recent", authed(recent), methods=["GET"]),
        Route(
            "/api/claw/messages/mark-read", authed(with_body(lambda app, agent, body, now: app.mark_read(agent, body))), methods=["POST"]
        ),
        Route("/api/signals/feed", public(feed), methods=["GET"]),
        Route("/api/signals/my/discussions", my_discussions, methods=["GET"]),
        Route("/api/signals/my/discussions/with-new-replies", my_discussions, methods=["GET"]),
        Route("/api/signals/{signal_id:int}/replies", public(replies), methods=["GET"]),
        Route(
            "/api/signals/discussion",
            authed(with_body(lambda app, agent, body, now: app.social.post_discussion(agent, body, now))),
            methods=["POST"],
        ),
        Route(
            "/api/signals/reply", authed(with_body(lambda app, agent, body, now: app.social.post_reply(agent, body, now))), methods=["POST"]
        ),
        Route(
            "/api/signals/follow", authed(with_body(lambda app, agent, body, now: app.social.follow(agent, body, now))), methods=["POST"]
        ),
        Route("/api/signals/{signal_id:int}/replies/{reply_id:int}/accept", authed(accept), methods=["POST"]),
        socket,
    ]

    def upstream() -> UpstreamHttp:
        from .upstream_app import UpstreamHttp, upstream_router

        return UpstreamHttp(upstream_router(runtime, socket), runtime)

    return _Profiles(runtime, ApiRouter(routes, http_error), upstream)
