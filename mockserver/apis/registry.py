"""The APIs the mock serves: name, port, profiles and what scenarios may say about each.

This module is pure (schemas and names only); each API's web adapter is imported
lazily from ``adapter`` by the server layer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .aitrader import schema as aitrader_schema
from .cryptorobot import schema as cryptorobot_schema
from .luckylobster import schema as luckylobster_schema
from .routes import RouteSpec, fault_problems
from .tradeready import schema as tradeready_schema
from .tradingpartners import schema as tradingpartners_schema

__all__ = ["API_NAMES", "APIS", "CONTROL_PORT", "ApiDescriptor", "check_fault"]

#: DECISIONS D2
CONTROL_PORT = 8700


def _lazy(path: str) -> Callable[..., Any]:
    """``module:name``, imported on the first call: the domains (Faker, their tables) are not needed to read the
    registry, so ``mockserver --help`` and ``validate`` start without them."""
    target: list[Callable[..., Any]] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not target:
            module, name = path.split(":")
            target.append(getattr(importlib.import_module(module), name))
        return target[0](*args, **kwargs)

    call.__qualname__ = call.__name__ = path.rsplit(":", 1)[-1]
    return call


def _no_checks(state: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    return []


@dataclass(frozen=True, slots=True)
class ApiDescriptor:
    name: str
    title: str
    default_port: int
    profiles: tuple[str, ...]
    adapter: str  # "module:function" building the ASGI app
    factory: Callable[..., Any]  # the pure domain: factory(state=, options=, seed=, start=)
    state_schema: Mapping[str, Any] = field(default_factory=dict)
    patch_schema: Mapping[str, Any] = field(default_factory=dict)
    options_schema: Mapping[str, Any] = field(default_factory=dict)
    events: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    validate_state: Callable[[Mapping[str, Any]], list[tuple[tuple[Any, ...], str]]] = _no_checks
    #: (initial state, a state step's ``set``) -> problems
    validate_patch: Callable[[Mapping[str, Any], Mapping[str, Any]], list[tuple[tuple[Any, ...], str]]] = lambda state, changes: []
    #: the routes its app serves (what a fault's ``route`` may name), and per profile where they differ
    routes: tuple[RouteSpec, ...] = ()
    profile_routes: Mapping[str, tuple[RouteSpec, ...]] = field(default_factory=dict)

    def routes_for(self, profile: str | None) -> tuple[RouteSpec, ...]:
        """The routes of one profile; None: of every profile (a fault's route may name any of them)."""
        if profile is None:
            return tuple({spec: None for routes in (self.routes, *self.profile_routes.values()) for spec in routes})
        return self.profile_routes.get(profile, self.routes)


APIS: dict[str, ApiDescriptor] = {
    "aitrader": ApiDescriptor(
        name="aitrader",
        title="AI-Trader (heartbeat, messages, tasks, signals, notify WebSocket)",
        default_port=8701,
        profiles=("documented", "upstream"),
        adapter="mockserver.apis.aitrader.app:build_app",
        factory=_lazy("mockserver.apis.aitrader.domain:AiTrader"),
        state_schema=aitrader_schema.STATE_SCHEMA,
        patch_schema=aitrader_schema.STATE_PATCH_SCHEMA,
        options_schema=aitrader_schema.OPTIONS_SCHEMA,
        events=aitrader_schema.EVENT_SCHEMAS,
        routes=aitrader_schema.ROUTES,
        profile_routes={"upstream": aitrader_schema.ROUTES_UPSTREAM},
    ),
    "luckylobster": ApiDescriptor(
        name="luckylobster",
        title="LuckyLobster agent API (heartbeat)",
        default_port=8702,
        profiles=("documented",),
        adapter="mockserver.apis.luckylobster.app:build_app",
        factory=_lazy("mockserver.apis.luckylobster.domain:LuckyLobster"),
        state_schema=luckylobster_schema.STATE_SCHEMA,
        patch_schema=luckylobster_schema.STATE_PATCH_SCHEMA,
        options_schema=luckylobster_schema.OPTIONS_SCHEMA,
        events=luckylobster_schema.EVENT_SCHEMAS,
        routes=luckylobster_schema.ROUTES,
        validate_state=_lazy("mockserver.apis.luckylobster.domain:validate_state"),
        validate_patch=_lazy("mockserver.apis.luckylobster.domain:validate_patch"),
    ),
    "tradeready": ApiDescriptor(
        name="tradeready",
        title="TradeReady AgentExchange WebSocket (ticker, candles, orders, portfolio)",
        default_port=8703,
        profiles=("documented", "upstream"),
        adapter="mockserver.apis.tradeready.app:build_app",
        factory=_lazy("mockserver.apis.tradeready.domain:TradeReady"),
        state_schema=tradeready_schema.STATE_SCHEMA,
        patch_schema=tradeready_schema.STATE_PATCH_SCHEMA,
        options_schema=tradeready_schema.OPTIONS_SCHEMA,
        events=tradeready_schema.EVENT_SCHEMAS,
        routes=tradeready_schema.ROUTES,
    ),
    "cryptorobot": ApiDescriptor(
        name="cryptorobot",
        title="Cryptorobot.ai (Feathers services and events over Socket.IO, REST mirror)",
        default_port=8704,
        profiles=("documented",),
        adapter="mockserver.apis.cryptorobot.app:build_app",
        factory=_lazy("mockserver.apis.cryptorobot.domain:Cryptorobot"),
        state_schema=cryptorobot_schema.STATE_SCHEMA,
        patch_schema=cryptorobot_schema.STATE_PATCH_SCHEMA,
        options_schema=cryptorobot_schema.OPTIONS_SCHEMA,
        events=cryptorobot_schema.EVENT_SCHEMAS,
        routes=cryptorobot_schema.ROUTES,
    ),
    "tradingpartners": ApiDescriptor(
        name="tradingpartners",
        title="TradingPartners AI (login, SSE alert stream, closed alerts, history)",
        default_port=8705,
        profiles=("documented",),
        adapter="mockserver.apis.tradingpartners.app:build_app",
        factory=_lazy("mockserver.apis.tradingpartners.domain:TradingPartners"),
        state_schema=tradingpartners_schema.STATE_SCHEMA,
        patch_schema=tradingpartners_schema.STATE_PATCH_SCHEMA,
        options_schema=tradingpartners_schema.OPTIONS_SCHEMA,
        events=tradingpartners_schema.EVENT_SCHEMAS,
        routes=tradingpartners_schema.ROUTES,
    ),
}

API_NAMES = tuple(APIS)


def check_fault(
    api: str, kind: str, route: str | None, method: str | None, status: int | None, profiles: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """Why a fault would never fire (or not as written), as ``(field, message)`` pairs; ``api`` may be ``*``.

    ``profiles``: each API's profile (its routes may differ); an API missing from it is checked against every profile's."""
    chosen = profiles or {}
    if api != "*":
        return fault_problems(kind, route, method, status, APIS[api].routes_for(chosen.get(api)), api)
    every = [r for name, descriptor in APIS.items() for r in descriptor.routes_for(chosen.get(name))]
    return fault_problems(kind, route, method, status, every, "any API")
