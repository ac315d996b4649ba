"""LuckyLobster over HTTP: a Starlette app that pumps requests into the domain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...adapters.responses import reply_response
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
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """LuckyLobster's own error envelope, used by injected faults too."""
    return {"success": False, "error": _REASONS.get(status, "Error"), "message": message}


Handler = Callable[[LuckyLobster, ApiKey, Request, float], Awaitable[Reply] | Reply]


def build_app(runtime: Runtime) -> Starlette:
    def guarded(permission: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            domain: LuckyLobster = runtime.apis["luckylobster"]
            now = runtime.clock.now()
            key = domain.authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
            if isinstance(key, Reply):
                return reply_response(key)
            limited, rate_headers = domain.rate_limit(key, now)
            if limited is not None:
                return reply_response(limited)
            denied = domain.authorize(key, permission)
            if denied is not None:
                return reply_response(denied, rate_headers)
            reply = handler(domain, key, request, now)
            if not isinstance(reply, Reply):
                reply = await reply
            return reply_response(reply, rate_headers)

        return endpoint

    def heartbeat(domain: LuckyLobster, key: ApiKey, request: Request, now: float) -> Reply:
        version = request.query_params.get("skill_version")
        if version is not None and not (version.isascii() and version.isdigit()):
            return domain.error(400, "Bad Request", "skill_version must be an integer")
        return domain.heartbeat(key, now)

    def redeem_preview(domain: LuckyLobster, key: ApiKey, request: Request, now: float) -> Reply:
        return domain.redeem_preview()

    async def redeem(domain: LuckyLobster, key: ApiKey, request: Request, now: float) -> Reply:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            return domain.error(400, "Bad Request", "Request body is not valid JSON")
        return domain.redeem(body)

    def resume(domain: LuckyLobster, key: ApiKey, request: Request, now: float) -> Reply:
        return domain.resume_strategy(request.path_params["strategy_id"], now)

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
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, 500: http_error})
