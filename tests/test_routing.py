"""ApiRouter: Starlette's routing without its middleware stack; the API's own 404/405/500 answers."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Match, Route, WebSocketRoute
from starlette.websockets import WebSocket

from mockserver.adapters.driver import ClockDriver
from mockserver.adapters.edge import ApiEdge
from mockserver.adapters.routing import ApiRouter
from mockserver.runtime import Runtime
from mockserver.scenario.loader import scenario_from_yaml

SCENARIO = scenario_from_yaml("id: routing\ndescription: ApiRouter tests\nseed: 1\nclock: {start: '2026-01-01T00:00:00Z', speed: 0}\n")


async def _error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return JSONResponse({"status": status, "path": request.url.path}, status_code=status, headers=getattr(exc, "headers", None))


def _call(app: Any, method: str, path: str) -> tuple[int, bytes, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }

    async def run() -> None:
        try:
            await app(scope, receive, send)
        except RuntimeError:
            pass

    asyncio.run(run())
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), sent


async def _fixed(request: Request) -> Response:
    return PlainTextResponse("fixed")


async def _param(request: Request) -> Response:
    return PlainTextResponse(f"param {request.path_params['name']}")


async def _boom(request: Request) -> Response:
    raise RuntimeError("boom")


def test_exact_routes_pick_what_the_router_would_and_errors_are_the_apis_own() -> None:
    # /items/{name} comes first, so /items/fixed must go to it (no exact shortcut), as in Starlette
    router = ApiRouter(
        [
            Route("/items/{name}", _param, methods=["GET"]),
            Route("/items/fixed", _fixed, methods=["GET", "POST"]),
            Route("/other", _fixed, methods=["GET"]),
            Route("/boom", _boom, methods=["GET"]),
        ],
        _error,
    )
    for (path, method), route in router._exact.items():
        probe = {"type": "http", "path": path, "root_path": "", "method": method}
        assert next(r for r in router.routes if r.matches(probe)[0] is Match.FULL) is route
    assert ("/items/fixed", "GET") not in router._exact and ("/items/fixed", "POST") in router._exact
    assert _call(router, "GET", "/items/fixed")[:2] == (200, b"param fixed")
    assert _call(router, "POST", "/items/fixed")[:2] == (200, b"fixed")
    assert _call(router, "GET", "/other")[:2] == (200, b"fixed")
    assert _call(router, "GET", "/nowhere")[:2] == (404, b'{"status":404,"path":"/nowhere"}')
    status, body, sent = _call(router, "DELETE", "/other")
    assert (status, body) == (405, b'{"status":405,"path":"/other"}')
    allow = dict(sent[0]["headers"])[b"allow"]
    assert set(allow.split(b", ")) == {b"GET", b"HEAD"}


def test_an_unhandled_exception_gets_the_apis_500_through_the_edge_and_is_journaled() -> None:
    runtime = Runtime(SCENARIO)
    router = ApiRouter([Route("/boom", _boom, methods=["GET"])], _error)
    edge = ApiEdge(router, runtime=runtime, api="luckylobster", driver=ClockDriver(runtime), error_body=lambda s, m: {})
    status, body, _ = _call(edge, "GET", "/boom")
    assert (status, body) == (500, b'{"status":500,"path":"/boom"}')
    responses = [e for e in runtime.journal if e.kind == "http.response"]
    assert [(e.data["status"], e.data["body"]) for e in responses] == [(500, '{"status":500,"path":"/boom"}')]


def test_websocket_routes_reach_their_endpoint_as_the_router_would() -> None:
    """An exact WebSocket path goes straight to its endpoint (a held connection keeps no router frames); one the
    router would give to an earlier parameterised route, and a parameterised one, still go through the router."""
    reached: list[tuple[str, str, dict[str, Any]]] = []

    def endpoint(name: str) -> Any:
        async def serve(websocket: WebSocket) -> None:
            reached.append((name, websocket.url.path, dict(websocket.path_params)))
            await websocket.close()

        return serve

    router = ApiRouter(
        [
            WebSocketRoute("/ws/v1", endpoint("exact")),
            WebSocketRoute("/notify/{client}", endpoint("param")),
            WebSocketRoute("/notify/all", endpoint("shadowed")),
        ]
    )
    assert set(router._exact_ws) == {"/ws/v1"}, "/notify/all is the parameterised route's, as in Starlette"

    def connect(path: str) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "websocket", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": []}
        scope |= {"client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "scheme": "ws"}
        asyncio.run(router(scope, receive, send))
        return sent

    for path in ("/ws/v1", "/notify/7", "/notify/all"):
        assert connect(path) == [{"type": "websocket.close", "code": 1000, "reason": ""}]
    assert reached == [("exact", "/ws/v1", {}), ("param", "/notify/7", {"client": "7"}), ("param", "/notify/all", {"client": "all"})]
    assert connect("/nowhere") == [{"type": "websocket.close", "code": 1000, "reason": ""}] and len(reached) == 3
