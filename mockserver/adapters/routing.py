"""An API's routes without Starlette's middleware stack.

A ``Starlette`` app wraps its router in ``ServerErrorMiddleware`` and ``ExceptionMiddleware``:
two more awaited layers, each wrapping ``send`` again, on every request and every WebSocket
frame. The APIs need neither: ``ApiRouter`` is Starlette's ``Router`` plus the API's own
error handler for what those middlewares did:

* 404 (no route) and 405 (a route for another method): Starlette's routing raises
  ``HTTPException`` when ``scope["app"]`` is set; the router answers with ``on_error``.
* an unhandled exception: the edge (``ApiEdge``), which sees whether the answer has started,
  calls :meth:`ApiRouter.server_error` to send the API's 500 answer if nothing was sent yet,
  then lets the exception go on to the server (which logs it), as ``ServerErrorMiddleware`` did.

Without ``on_error`` the answers are Starlette's defaults (plain text ``Not Found``, ...).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

__all__ = ["ApiRouter", "ErrorHandler"]

#: Like a Starlette exception handler: the request and the exception (an HTTPException, or any for a 500).
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


async def _plain_error(request: Request, exc: Exception) -> Response:
    """Starlette's default answers: the exception's detail for an HTTPException, else a plain 500."""
    if isinstance(exc, HTTPException):
        if exc.status_code in {204, 304}:
            return Response(status_code=exc.status_code, headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse("Internal Server Error", status_code=500)


class ApiRouter:
    """An ASGI app: the routes, the API's 404/405 answers, and its 500 answer for the edge."""

    def __init__(self, routes: Sequence[BaseRoute], on_error: ErrorHandler | None = None) -> None:
        self.router = Router(routes=list(routes))
        self.on_error = on_error or _plain_error
        self.state = State()  # like Starlette's app.state: adapters keep their hub here
        self._exact = self._exact_routes()
        self._exact_ws = self._exact_websockets()

    def _exact_routes(self) -> dict[tuple[str, str], Route]:
        """(path, method) -> the route Starlette's router would pick, for routes without path parameters.

        Only where that route is the first full match in the router's own order, so a lookup
        picks exactly what the linear scan would (the heartbeat skips matching every route).
        """
        exact: dict[tuple[str, str], Route] = {}
        for route in self.router.routes:
            if not isinstance(route, Route) or route.param_convertors or not route.methods:
                continue
            for method in route.methods:
                probe = {"type": "http", "path": route.path, "root_path": "", "method": method}
                first = next((r for r in self.router.routes if r.matches(probe)[0] is Match.FULL), None)
                if first is route:
                    exact.setdefault((route.path, method), route)
        return exact

    def _exact_websockets(self) -> dict[str, Callable[[WebSocket], Awaitable[Any]]]:
        """path -> the endpoint function of the WebSocket route Starlette's router would pick, for routes without path
        parameters: a held connection then keeps no router, route or exception-handler frames alive (about 3 KiB each)."""
        exact: dict[str, Callable[[WebSocket], Awaitable[Any]]] = {}
        for route in self.router.routes:
            if not isinstance(route, WebSocketRoute) or route.param_convertors:
                continue
            if not (inspect.isfunction(route.endpoint) or inspect.ismethod(route.endpoint)):
                continue  # a WebSocketEndpoint class: Starlette's own path
            probe = {"type": "websocket", "path": route.path, "root_path": ""}
            if next((r for r in self.router.routes if r.matches(probe)[0] is Match.FULL), None) is route:
                exact.setdefault(route.path, route.endpoint)
        return exact

    @property
    def routes(self) -> list[BaseRoute]:
        return self.router.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # Starlette's routing then raises HTTPException for 404/405 instead of answering plain text
        try:
            if scope["type"] == "http" and not scope.get("root_path"):
                route = self._exact.get((scope["path"], scope["method"]))
                if route is not None:  # what Router.app and Route.handle would do for this full match
                    scope.setdefault("router", self.router)
                    scope["route"] = route
                    scope["endpoint"] = route.endpoint
                    scope["path_params"] = dict(scope.get("path_params", {}))
                    await route.app(scope, receive, send)
                    return
            elif scope["type"] == "websocket" and not scope.get("root_path"):
                endpoint = self._exact_ws.get(scope["path"])
                if endpoint is not None:  # what Starlette's websocket_session does; an ApiRouter has no exception handlers
                    await endpoint(WebSocket(scope, receive=receive, send=send))
                    return
            await self.router(scope, receive, send)
        except HTTPException as exc:
            if scope["type"] != "http":
                raise
            response = await self.on_error(Request(scope, receive), exc)
            await response(scope, receive, send)
            exc.__traceback__ = None

    async def server_error(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        """The API's 500 answer to an unhandled exception (called by the edge before anything was sent)."""
        response = await self.on_error(Request(scope, receive), exc)
        await response(scope, receive, send)
