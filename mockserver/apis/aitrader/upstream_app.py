"""AI-Trader's upstream profile over HTTP: the public server's route table and middlewares.

The routes are the server's, in the order FastAPI registers them (its docs routes, then
market, agent, signal, trading, user and misc routes), so Starlette's router picks what the
server's picks: the first route whose path and method match; else the first whose path
matches answers 405 with its ``Allow``; the last route, ``GET /{path:path}`` (the SPA
fallback), matches every path, so any GET is answered and any other method on an unknown path
is a 405 ``Allow: GET``. FastAPI routes have no implicit HEAD. Around the router sit the
server's two middlewares: ``X-Process-Time`` (outermost; virtual seconds here) and CORS
(Starlette's own, origins ``["http://localhost:3000"]`` unless ``options.cors_origins``).
Routes that need live prices, market data, wallets or the human users' accounts are not
served: they answer 501 saying so (README, "Fidelity notes (AI-Trader)").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...adapters.responses import reply_response
from ...adapters.routing import ApiRouter
from ...core.reply import Reply
from ...runtime import Runtime
from .domain import Agent, AiTrader, detail
from .upstream import Upstream, token_of
from .upstream_signals import UpstreamSignals
from .validation import (
    MISSING,
    AgentLogin,
    AgentMessageCreate,
    AgentMessagesMarkReadRequest,
    AgentRegister,
    AgentTaskCreate,
    DiscussionRequest,
    FollowRequest,
    Param,
    ReplyRequest,
    StrategyRequest,
    read_body,
    validate,
)

__all__ = ["UpstreamHttp", "upstream_router"]

_DEFAULT_ORIGINS = ("http://localhost:3000",)
_PRICES = "trades and positions are priced with live market data (Hyperliquid, Alpha Vantage, Polymarket)"
_INTEL = "market intelligence comes from background jobs that read news and market data on the internet"
_WALLET = "recovery is proven by an Ethereum wallet signature"
_USERS = "human user accounts (e-mailed codes, points) are not part of the agent API"


@dataclass(frozen=True, slots=True)
class Call:
    """A validated request: the API's state, the token's agent (None if none), the parameters and body, the time."""

    app: AiTrader
    agent: Agent | None
    token: str | None
    values: dict[str, Any]
    now: float

    @property
    def me(self) -> Agent:
        assert self.agent is not None
        return self.agent


Handler = Callable[[Call], Reply]


def _query(name: str, kind: Any, default: Any) -> Param:
    return Param("query", name, kind, default)


def _path(name: str) -> Param:
    return Param("path", name, int)


def upstream_router(runtime: Runtime, websocket: BaseRoute) -> ApiRouter:
    """The server's routes (``websocket`` is the notify socket's route), with its 404/405/500 answers."""

    def domain() -> AiTrader:
        current: AiTrader = runtime.apis["aitrader"]
        return current

    def operation(handler: Handler, *, params: Sequence[Param] = (), body: type[BaseModel] | None = None, auth: bool = True) -> Any:
        """FastAPI's order: read the body, validate everything (422), then the handler checks the token (401)."""

        async def endpoint(request: Request) -> Response:
            app = domain()
            given: Any = MISSING
            if body is not None:
                given, problem = read_body(await request.body(), request.headers.get("content-type"))
                if problem:
                    return reply_response(problem)
            values, problem = validate(params, {"path": request.path_params, "query": request.query_params}, body, given)
            if problem:
                return reply_response(problem)
            token = token_of(request.headers.get("authorization"))
            agent = app.up.agent_by_token(token)
            if auth and agent is None:
                return reply_response(detail(401, "Invalid token"))
            return reply_response(handler(Call(app, agent, token, values, runtime.clock.now())))

        return endpoint

    def route(path: str, endpoint: Callable[[Request], Awaitable[Response]], method: str) -> Route:
        served = Route(path, endpoint, methods=[method])
        served.methods = {method}  # FastAPI adds no HEAD to a GET route
        return served

    def not_served(method: str, *paths: str, why: str) -> list[Route]:
        async def endpoint(request: Request) -> Response:
            return reply_response(detail(501, f"Not served by agentfeed-mock's upstream profile: {why}"))

        endpoint.not_served = why  # type: ignore[attr-defined]  # read by the document's tests
        return [route(path, endpoint, method) for path in paths]

    async def openapi(request: Request) -> Response:
        from ...control.openapi import api_openapi  # the control side owns the documents

        return reply_response(Reply(200, api_openapi("aitrader", "upstream")))

    async def spa(request: Request) -> Response:  # no frontend build: the server's own answer
        return reply_response(Reply(200, {"message": "AI-Trader API"}))

    async def no_asset(request: Request) -> Response:
        return Response(status_code=404)

    def up(call: Call) -> Upstream:
        return call.app.up

    def sig(call: Call) -> UpstreamSignals:
        return call.app.up.signals

    def body_of(call: Call) -> Any:
        return call.values["body"]

    routes: list[BaseRoute] = [
        route("/openapi.json", openapi, "GET"),
        *not_served(
            "GET",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
            why="FastAPI documentation pages (GET /openapi.json serves the mock document)",
        ),
        route("/health", operation(lambda c: Reply(200, {"status": "ok", "timestamp": c.app.server_time(c.now)}), auth=False), "GET"),
        *not_served(
            "GET",
            "/api/market-intel/overview",
            "/api/market-intel/news",
            "/api/market-intel/macro-signals",
            "/api/market-intel/etf-flows",
            "/api/market-intel/stocks/featured",
            "/api/market-intel/stocks/{symbol}/latest",
            "/api/market-intel/stocks/{symbol}/history",
            why=_INTEL,
        ),
        websocket,
        route("/api/claw/messages", operation(lambda c: up(c).send_message(body_of(c), c.now), body=AgentMessageCreate), "POST"),
        route("/api/claw/messages/unread-summary", operation(lambda c: up(c).unread_summary(c.me)), "GET"),
        route(
            "/api/claw/messages/recent",
            operation(
                lambda c: up(c).recent(c.me, c.values["category"], c.values["limit"]),
                params=[_query("category", str | None, None), _query("limit", int, 20)],
            ),
            "GET",
        ),
        route(
            "/api/claw/messages/mark-read",
            operation(lambda c: up(c).mark_read(c.me, body_of(c).categories), body=AgentMessagesMarkReadRequest),
            "POST",
        ),
        route("/api/claw/tasks", operation(lambda c: up(c).create_task(body_of(c), c.now), body=AgentTaskCreate), "POST"),
        route("/api/claw/agents/heartbeat", operation(lambda c: up(c).heartbeat(c.me, c.now)), "POST"),  # no body parameter
        route(
            "/api/claw/agents/selfRegister", operation(lambda c: up(c).register(body_of(c), c.now), body=AgentRegister, auth=False), "POST"
        ),
        route("/api/claw/agents/login", operation(lambda c: up(c).login(body_of(c)), body=AgentLogin, auth=False), "POST"),
        *not_served(
            "POST",
            "/api/claw/agents/token-recovery/request",
            "/api/claw/agents/token-recovery/confirm",
            "/api/claw/agents/password-reset/request",
            "/api/claw/agents/password-reset/confirm",
            why=_WALLET,
        ),
        route("/api/claw/agents/me", operation(lambda c: up(c).me(c.me, c.token or "")), "GET"),
        route("/api/claw/agents/me/points", operation(lambda c: Reply(200, {"points": c.me.points})), "GET"),
        route("/api/claw/agents/count", operation(lambda c: Reply(200, {"count": len(c.app.agents)}), auth=False), "GET"),
        *not_served("POST", "/api/signals/realtime", why=_PRICES),
        route("/api/signals/strategy", operation(lambda c: sig(c).post(c.me, "strategy", body_of(c), c.now), body=StrategyRequest), "POST"),
        route(
            "/api/signals/discussion",
            operation(lambda c: sig(c).post(c.me, "discussion", body_of(c), c.now), body=DiscussionRequest),
            "POST",
        ),
        *not_served("GET", "/api/signals/grouped", why=_PRICES),
        route(
            "/api/signals/{signal_id}/replies",
            operation(lambda c: sig(c).replies(c.values["signal_id"]), params=[_path("signal_id")], auth=False),
            "GET",
        ),
        route(
            "/api/signals/feed",
            operation(
                lambda c: sig(c).feed(c.agent, c.values),
                params=[
                    _query("message_type", str | None, None),
                    _query("market", str | None, None),
                    _query("keyword", str | None, None),
                    _query("limit", int, 50),
                    _query("offset", int, 0),
                    _query("sort", str, "new"),
                ],
                auth=False,
            ),
            "GET",
        ),
        route(
            "/api/signals/following",
            operation(
                lambda c: up(c).following(c.me, c.values["limit"], c.values["offset"], c.now),
                params=[_query("limit", int, 500), _query("offset", int, 0)],
            ),
            "GET",
        ),
        route("/api/signals/subscribers", operation(lambda c: up(c).subscribers(c.me, c.now)), "GET"),
        route(
            "/api/signals/{agent_id}",
            operation(
                lambda c: sig(c).agent_signals(c.values["agent_id"], c.values["message_type"], c.values["limit"]),
                params=[_path("agent_id"), _query("message_type", str | None, None), _query("limit", int, 50)],
                auth=False,
            ),
            "GET",
        ),
        route(
            "/api/signals/reply",
            operation(lambda c: sig(c).reply(c.me, body_of(c).signal_id, body_of(c).content, c.now), body=ReplyRequest),
            "POST",
        ),
        route(
            "/api/signals/{signal_id}/replies/{reply_id}/accept",
            operation(
                lambda c: sig(c).accept(c.me, c.values["signal_id"], c.values["reply_id"], c.now),
                params=[_path("signal_id"), _path("reply_id")],
            ),
            "POST",
        ),
        *not_served(
            "GET",
            "/api/profit/history",
            "/api/leaderboard/position-pnl",
            "/api/trending",
            "/api/price",
            "/api/positions",
            "/api/agents/{agent_id}/positions",
            "/api/agents/{agent_id}/summary",
            why=_PRICES,
        ),
        route("/api/signals/follow", operation(lambda c: up(c).follow(c.me, body_of(c).leader_id, c.now), body=FollowRequest), "POST"),
        route("/api/signals/unfollow", operation(lambda c: up(c).unfollow(c.me, body_of(c).leader_id), body=FollowRequest), "POST"),
        *not_served("POST", "/api/users/send-code", "/api/users/register", "/api/users/login", why=_USERS),
        *not_served("GET", "/api/users/me", "/api/users/points", why=_USERS),
        *not_served("POST", "/api/agents/points/exchange", why=_USERS),
        *not_served("GET", "/api/users/points/history", why=_USERS),
        *not_served("POST", "/api/users/points/transfer", why=_USERS),
        *not_served(
            "GET",
            "/skill.md",
            "/SKILL.md",
            "/skill/{skill_name}",
            "/skill/{skill_name}/raw",
            why="the skill documents are files of the server project",
        ),
        route("/", spa, "GET"),
        route("/assets/{file}", no_asset, "GET"),
        route("/{path:path}", spa, "GET"),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):  # FastAPI's handler: {"detail": ...} with the exception's headers (Allow)
            text = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, str(exc.detail))
            return reply_response(Reply(exc.status_code, {"detail": text}, dict(exc.headers or {})))
        return PlainTextResponse("Internal Server Error", status_code=500)  # ServerErrorMiddleware's answer

    return ApiRouter(routes, http_error)


class UpstreamHttp:
    """The server's middlewares around its router: ``X-Process-Time`` (outermost), then CORS; WebSockets pass through."""

    def __init__(self, router: ApiRouter, runtime: Runtime) -> None:
        self.router = router
        self.runtime = runtime
        self._cors: dict[tuple[str, ...], ASGIApp] = {}

    def _with_cors(self) -> ASGIApp:
        options = self.runtime.apis["aitrader"].options
        origins = tuple(options.get("cors_origins") or _DEFAULT_ORIGINS)
        if origins not in self._cors:
            self._cors[origins] = CORSMiddleware(
                self.router, allow_origins=list(origins), allow_credentials=True, allow_methods=["*"], allow_headers=["*"]
            )
        return self._cors[origins]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        clock = self.runtime.clock
        started = clock.now()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-process-time"] = str(clock.now() - started)
            await send(message)

        await self._with_cors()(scope, receive, timed)

    async def server_error(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        await self.router.server_error(scope, receive, send, exc)
