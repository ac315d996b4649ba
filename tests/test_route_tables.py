"""Each API's route table (what fault routes are checked against) lists exactly the routes its app serves."""

from __future__ import annotations

import importlib

import pytest
from starlette.routing import Route, WebSocketRoute

from mockserver import Runtime, scenario_from_yaml
from mockserver.apis.registry import APIS
from mockserver.apis.routes import RouteSpec


def _app(name: str) -> object:
    runtime = Runtime(scenario_from_yaml("id: t/routes\ndescription: routes\nclock: {start: '2026-03-09T12:00:00Z'}\n"))
    module, _, func = APIS[name].adapter.partition(":")
    return getattr(importlib.import_module(module), func)(runtime)


@pytest.mark.parametrize(
    ("name", "profile"),
    [("aitrader", "documented"), ("aitrader", "upstream"), ("luckylobster", None), ("tradeready", None), ("tradingpartners", None)],
)
def test_the_table_is_the_apps_routes(name: str, profile: str | None) -> None:
    app = _app(name)
    routes = app.routes_for(profile) if profile else app.routes  # type: ignore[attr-defined]
    served: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, WebSocketRoute):
            served.setdefault(route.path, set())
        elif isinstance(route, Route):
            served.setdefault(route.path, set()).update(m for m in route.methods or () if m != "HEAD")
    table = {spec.path: set(spec.methods) for spec in APIS[name].routes_for(profile or "documented")}
    assert table == served
    streams = {spec.path for spec in APIS[name].routes if spec.transport == "sse"}
    assert streams == ({"/api/v1/alerts"} if name == "tradingpartners" else set())


def test_cryptorobot_lists_socketio_and_every_rest_service() -> None:
    app = _app("cryptorobot")
    assert app.eio_path == "/socket.io/"  # type: ignore[attr-defined]
    paths = {spec.path for spec in APIS["cryptorobot"].routes}
    from mockserver.apis.cryptorobot.schema import SERVICES

    assert {f"/{service}" for service in SERVICES} <= paths and "/socket.io/" in paths and "/authentication" in paths


@pytest.mark.parametrize(
    ("route", "met"),
    [
        ("/api/signals/42/replies", True),
        ("/api/signals/x/replies", False),
        ("/api/signals", True),
        ("/api/signals/*/accept", True),
        ("/api/signals/1/replies/2/accept", True),
        ("/api/signals/1/replies/2/accept/more", False),
    ],
)
def test_a_fault_route_meets_a_template_by_prefix_or_glob(route: str, met: bool) -> None:
    specs = [
        RouteSpec("/api/signals/{signal_id:int}/replies", ("GET",), "http"),
        RouteSpec("/api/signals/{signal_id:int}/replies/{reply_id:int}/accept", ("POST",), "http"),
    ]
    assert any(spec.met_by(route) for spec in specs) is met
