"""LuckyLobster over HTTP: Starlette routes (an ``ApiRouter``) that pump requests into the domain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ...adapters.responses import reply_response, send_reply
from ...adapters.routing import ApiRouter
from ...core.reply import Reply
from ...runtime import Runtime
from .domain import ApiKey, LuckyLobster

__all__ = ["PREFIX", "build_app", "error_body"]

PREFIX = "/api/agent/v1"
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """LuckyLobster's own error envelope, used by injected faults too."""
    return {"success": False, "error": _REASONS.get(status, "Error"), "message": message}


#: (domain, key, ASGI scope, receive, now): the scope is enough for most; those that need a body make a Request
Handler = Callable[[LuckyLobster, ApiKey, Scope, Receive, float], Awaitable[Reply] | Reply]


class _Guarded:
    """An ASGI endpoint: authenticate, count the request, check the permission, run the handler.

    A plain ASGI callable inside the router (no Request or Response object per request):
    the heartbeat is the hot path of every polling client.
    """

    def __init__(self, runtime: Runtime, permission: str, handler: Handler) -> None:
        self.runtime = runtime
        self.permission = permission
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        domain: LuckyLobster = runtime.apis["luckylobster"]
        now = runtime.clock.now()
        authorization = api_key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-api-key":
                api_key = value.decode("latin-1")
        key = domain.authenticate(authorization, api_key)
        if isinstance(key, Reply):
            await send_reply(send, key)
            return
        limited, rate_headers = domain.rate_limit(key, now)
        if limited is not None:
            await send_reply(send, limited)
            return
        denied = domain.authorize(key, self.permission)
        if denied is not None:
            await send_reply(send, denied, rate_headers)
            return
        reply = self.handler(domain, key, scope, receive, now)
        if not isinstance(reply, Reply):
            reply = await reply
        await send_reply(send, reply, rate_headers)


def build_app(runtime: Runtime) -> ApiRouter:
    def guarded(permission: str, handler: Handler) -> _Guarded:
        return _Guarded(runtime, permission, handler)

    def heartbeat(domain: LuckyLobster, key: ApiKey, scope: Scope, receive: Receive, now: float) -> Reply:
        version = Request(scope).query_params.get("skill_version") if scope["query_string"] else None
        if version is not None and not (version.isascii() and version.isdigit()):
            return domain.error(400, "Bad Request", "skill_version must be an integer")
        return domain.heartbeat(key, now)

    def redeem_preview(domain: LuckyLobster, key: ApiKey, scope: Scope, receive: Receive, now: float) -> Reply:
        return domain.redeem_preview()

    async def redeem(domain: LuckyLobster, key: ApiKey, scope: Scope, receive: Receive, now: float) -> Reply:
        raw = await Request(scope, receive).body()
        try:
            body = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            return domain.error(400, "Bad Request", "Request body is not valid JSON")
        return domain.redeem(body)

    def resume(domain: LuckyLobster, key: ApiKey, scope: Scope, receive: Receive, now: float) -> Reply:
        return domain.resume_strategy(scope["path_params"]["strategy_id"], now)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = {404: "Route not found", 405: "Method not allowed"}.get(status, "Internal server error")
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        return reply_response(Reply(status, error_body(status, message), headers))

    routes = [
        Route(f"{PREFIX}/heartbeat", guarded("read", heartbeat), methods=["GET"]),
        Route(f"{PREFIX}/settlements/redeem", guarded("redeem", redeem_preview), methods=["GET"]),
        Route(f"{PREFIX}/settlements/redeem", guarded("redeem", redeem), methods=["POST"]),
        Route(f"{PREFIX}/strategies/{{strategy_id}}/resume", guarded("trade", resume), methods=["POST"]),
    ]
    return ApiRouter(routes, http_error)
