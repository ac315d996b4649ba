"""The control API (DECISIONS D5), on its own port under ``/_mock/``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..adapters.responses import JSONBytesResponse
from ..apis.registry import APIS
from ..core import catalogue
from ..core.clock import AUTO_THRESHOLD, ClockError
from ..core.errors import ControlError, ScenarioError
from ..core.limits import ApiLimits
from ..core.query import JournalQuery, QueryError
from ..scenario.loader import builtin_scenarios, load_builtin, scenario_from_yaml
from .facade import MockControl

__all__ = ["build_control_app"]

Endpoint = Callable[[Request], Awaitable[Response]]


def _json(content: Any, status: int = 200) -> Response:
    return JSONBytesResponse(content, status_code=status)


async def _read(request: Request) -> bytes:
    """The request body, within the control API's body limit (413) and ``body_timeout`` (408)."""
    limits: ApiLimits = request.app.state.limits
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.body:
        raise ControlError(f"the request body is {declared} bytes, over the control API's limit of {limits.body}", status=413)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits.body_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limits.body:
                    raise ControlError(f"the request body is over the control API's limit of {limits.body} bytes", status=413)
                chunks.append(chunk)
    except TimeoutError:
        raise ControlError(f"the request body was not complete within {limits.body_timeout:g} s", status=408) from None
    return b"".join(chunks)


async def _body(request: Request) -> dict[str, Any]:
    raw = await _read(request)
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ControlError("request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ControlError("request body must be a JSON object")
    return value


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def build_control_app(control: MockControl, *, token: str | None = None, limits: ApiLimits | None = None) -> Starlette:
    runtime = control.runtime
    # compared as digests of equal length: the time taken says nothing about the token, its length included
    expected = _digest(token) if token is not None else None

    def guarded(handler: Endpoint, *, needs_token: bool = True) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if expected is not None and needs_token:
                given = request.headers.get("x-mock-token") or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                if not hmac.compare_digest(_digest(given), expected):
                    return _json({"error": "missing or wrong control token (X-Mock-Token or Authorization: Bearer)"}, 401)
            try:
                return await handler(request)
            except ControlError as exc:
                return _json({"error": str(exc)}, exc.status)
            except ScenarioError as exc:
                return _json({"error": "invalid scenario", "problems": exc.problems}, 422)
            except ClockError as exc:
                return _json({"error": str(exc)}, 409)

        return endpoint

    async def health(request: Request) -> Response:
        return _json({"status": "ok", "scenario": runtime.scenario.id, "clock": control.clock()})

    async def reset(request: Request) -> Response:
        return _json(control.reset())

    async def get_scenario(request: Request) -> Response:
        return _json(control.state())

    async def load_scenario(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if "yaml" in content_type:
            try:
                text = (await _read(request)).decode("utf-8")
            except UnicodeDecodeError:
                raise ControlError("the YAML body is not UTF-8") from None
            scenario = scenario_from_yaml(text, source="<request body>")
        else:
            try:
                body = await _body(request)
            except ControlError as exc:
                if exc.status != 400:  # too large, too slow: say that
                    raise
                raise ControlError(
                    "the body is not JSON: send a scenario's YAML with Content-Type: application/yaml, "
                    'or JSON {"id": <built-in scenario>}, {"path": <file in an allowed directory>} or {"yaml": <scenario text>}'
                ) from None
            if "yaml" in body:
                scenario = scenario_from_yaml(str(body["yaml"]), source="<request body>")
            elif "id" in body:
                scenario = load_builtin(str(body["id"]))
            elif "path" in body:
                return _json(control.load_path(body["path"]))
            else:
                raise ControlError(
                    "give {'id': <built-in scenario>}, {'path': <file in an allowed scenario directory>}, "
                    "{'yaml': <scenario text>} or a YAML body"
                )
        return _json(control.load(scenario))

    async def list_scenarios(request: Request) -> Response:
        items = []
        for scenario_id in builtin_scenarios():
            scenario = load_builtin(scenario_id)
            items.append({"id": scenario.id, "description": scenario.description})
        return _json({"scenarios": items})

    async def get_clock(request: Request) -> Response:
        return _json(control.clock())

    async def set_clock(request: Request) -> Response:
        body = await _body(request)
        if "now" in body:
            control.advance_to(str(body["now"]))
        if body.get("speed") == "auto":
            control.set_auto_advance(body.get("auto_advance", AUTO_THRESHOLD))
        elif "speed" in body:
            control.set_speed(body["speed"])
        return _json(control.clock())

    async def start_clock(request: Request) -> Response:
        released = control.release_clock()
        return _json({"clock": control.clock(), "released": released})

    async def advance(request: Request) -> Response:
        body = await _body(request)
        raw = body.get("seconds") if body.get("seconds") is not None else body.get("duration")
        if raw is None:
            raise ControlError("give 'seconds' (a number) or 'duration' (like 90s, 5m, 1h)")
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            raise ControlError(f"'seconds' or 'duration' must be a number or a duration text, got {raw!r}")
        ran = control.advance(raw)
        return _json({**control.clock(), "timers_run": ran})

    def _query(request: Request) -> JournalQuery:
        try:
            return JournalQuery.from_params(request.query_params.multi_items(), apis=APIS)
        except QueryError as exc:
            raise ControlError(str(exc)) from None

    async def journal(request: Request) -> Response:
        query = _query(request)
        limit_text = request.query_params.get("limit", "1000")
        if not (limit_text.isascii() and limit_text.isdigit()):  # str.isdigit: "²" too, int() refuses it
            raise ControlError(f"'limit' must be a positive integer, got {limit_text!r}")
        entries = control.journal(query, limit=int(limit_text))
        return _json({"entries": [e.to_dict() for e in entries], "count": len(entries), "last_seq": runtime.journal.last_seq})

    async def journal_jsonl(request: Request) -> Response:
        query = _query(request)
        lines: Iterator[str] = control.iter_jsonl(query)
        return StreamingResponse(lines, media_type="application/x-ndjson")

    async def emit(request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body.get("api"), str) or not isinstance(body.get("event"), str):
            raise ControlError("give 'api' and 'event' (and optional 'data')")
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise ControlError("'data' must be an object")
        return _json({"result": control.emit(body["api"], body["event"], data)})

    async def patch_state(request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body.get("api"), str) or not isinstance(body.get("set"), dict):
            raise ControlError("give 'api' and 'set' (the fields to set, as in a scenario's state step)")
        control.patch_state(body["api"], body["set"])
        return _json({"api": body["api"], "state": runtime.api(body["api"]).snapshot()})

    async def list_faults(request: Request) -> Response:
        return _json({"faults": control.faults()})

    async def start_fault(request: Request) -> Response:
        spec = control.start_fault(await _body(request))
        return _json({"fault": spec.to_dict()}, 201)

    async def stop_fault(request: Request) -> Response:
        control.stop_fault(request.path_params["fault_id"])
        return _json({"stopped": request.path_params["fault_id"]})

    async def info(request: Request) -> Response:
        return _json(
            {
                "urls": control.urls(),
                "credentials": runtime.credentials(),
                "profiles": runtime.profiles,
                "env": control.env(),
                "limits": control.limits.describe(APIS),
                "scenario_dirs": control.scenario_dirs.describe(),
            }
        )

    async def openapi(request: Request) -> Response:
        from .openapi import control_openapi

        return _json(control_openapi())

    async def openapi_for(request: Request) -> Response:
        name = request.path_params["api"]
        if name not in APIS:
            raise ControlError(f"unknown API {name!r}; known: {', '.join(APIS)}", status=404)
        profile = request.query_params.get("profile") or runtime.profiles.get(name, APIS[name].profiles[0])
        if profile not in APIS[name].profiles:
            raise ControlError(f"{name} has no profile {profile!r}; it offers: {', '.join(APIS[name].profiles)}")
        from .openapi import KINDS, NoDocument, api_asyncapi, api_openapi

        load = api_asyncapi if request.url.path.startswith("/_mock/asyncapi/") else api_openapi
        try:
            return _json(load(name, profile))
        except NoDocument as exc:  # say which document it has, if any
            hint = f"; its {KINDS[exc.other]} document: /_mock/{exc.other}/{name}.json" if exc.other else ""
            raise ControlError(f"{exc}{hint}", status=404) from None

    async def schema(request: Request) -> Response:
        from ..scenario.schema import scenario_schema

        return _json(scenario_schema())

    async def journal_schema(request: Request) -> Response:
        return _json(catalogue.journal_schema())

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return _json(
            {
                "error": f"{request.method} {request.url.path}: "
                + ("no such control route" if status == 404 else "method not allowed" if status == 405 else "internal error")
            },
            status,
        )

    p = "/_mock"
    routes = [
        Route(f"{p}/health", guarded(health, needs_token=False), methods=["GET"]),
        Route(f"{p}/info", guarded(info), methods=["GET"]),
        Route(f"{p}/reset", guarded(reset), methods=["POST"]),
        Route(f"{p}/scenario", guarded(get_scenario), methods=["GET"]),
        Route(f"{p}/scenario", guarded(load_scenario), methods=["POST", "PUT"]),
        Route(f"{p}/scenarios", guarded(list_scenarios), methods=["GET"]),
        Route(f"{p}/schema", guarded(schema), methods=["GET"]),
        Route(f"{p}/schema/journal", guarded(journal_schema), methods=["GET"]),
        Route(f"{p}/clock", guarded(get_clock), methods=["GET"]),
        Route(f"{p}/clock", guarded(set_clock), methods=["POST", "PATCH"]),
        Route(f"{p}/clock/advance", guarded(advance), methods=["POST"]),
        Route(f"{p}/clock/start", guarded(start_clock), methods=["POST"]),
        Route(f"{p}/journal", guarded(journal), methods=["GET"]),
        Route(f"{p}/journal.jsonl", guarded(journal_jsonl), methods=["GET"]),
        Route(f"{p}/emit", guarded(emit), methods=["POST"]),
        Route(f"{p}/state", guarded(patch_state), methods=["POST", "PATCH"]),
        Route(f"{p}/faults", guarded(list_faults), methods=["GET"]),
        Route(f"{p}/faults", guarded(start_fault), methods=["POST"]),
        Route(f"{p}/faults/{{fault_id}}", guarded(stop_fault), methods=["DELETE"]),
        Route(f"{p}/openapi.json", openapi, methods=["GET"]),
        Route(f"{p}/openapi/{{api}}.json", guarded(openapi_for), methods=["GET"]),
        Route(f"{p}/asyncapi/{{api}}.json", guarded(openapi_for), methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found, 500: not_found})
    app.state.limits = limits or control.limits.for_control()
    return app
