"""Each API's routes as data (pure): what a fault's ``route`` may name, and which fault kinds each transport meets.

The server's apps are built from their own route lists; ``tests/apis/test_routes.py`` keeps these
tables in step with them. The validator and the control API use them to refuse a fault that
would silently never fire: a route no path of the API matches, a kind its transport never meets
(``silence`` on a plain HTTP route), an ``error`` with a status that is no error.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from functools import lru_cache
from typing import Literal

__all__ = ["FAULT_TRANSPORTS", "RouteSpec", "Transport", "fault_problems"]

#: ``http`` plain requests, ``ws`` a WebSocket, ``sse`` an event stream, ``eio`` Engine.IO (long-polling
#: requests and a WebSocket).
Transport = Literal["http", "ws", "sse", "eio"]

_ALL: frozenset[Transport] = frozenset({"http", "ws", "sse", "eio"})
#: The transports each fault kind acts on (``refuse`` acts on every connection to the API, not a route).
FAULT_TRANSPORTS: dict[str, frozenset[Transport]] = {
    "latency": frozenset({"http", "sse", "eio"}),
    "error": frozenset({"http", "sse", "eio"}),
    "rate_limit": frozenset({"http", "sse", "eio"}),
    "reset": _ALL,
    "empty": frozenset({"http", "sse", "eio"}),
    "truncate": frozenset({"http", "eio"}),
    "malformed": frozenset({"http", "eio"}),
    "dribble": frozenset({"http", "sse", "eio"}),
    "refuse": _ALL,
    "close": frozenset({"ws", "sse", "eio"}),
    "silence": frozenset({"ws", "sse", "eio"}),
    "refuse_upgrade": frozenset({"ws", "eio"}),
    "duplicate": frozenset({"ws", "sse", "eio"}),
    "reorder": frozenset({"ws", "sse", "eio"}),
    "cut": frozenset({"sse"}),
    "id_gap": frozenset({"sse"}),
}
_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route: a path template (Starlette's: ``/api/signals/{signal_id:int}/replies``), its methods, its transport."""

    path: str
    methods: tuple[str, ...]
    transport: Transport

    def example(self) -> str:
        """A concrete path of this route (``1`` for a number, ``x`` for any other parameter)."""
        return _PARAM.sub(lambda m: "1" if m.group(2) == "int" else "x", self.path)

    def met_by(self, route: str) -> bool:
        """Does a fault's ``route`` (a path prefix, or a glob) reach requests of this route?"""
        if _GLOB.search(route):
            return fnmatch.fnmatchcase(self.example(), route)
        wanted = [part for part in route.strip("/").split("/") if part] if route.strip("/") else []
        segments = _segments(self.path)
        if len(wanted) > len(segments) and not self.path.endswith(":path}"):
            return False
        for index, part in enumerate(wanted):
            pattern = segments[min(index, len(segments) - 1)]
            if not pattern.fullmatch(part):
                return False
        return True


@lru_cache(maxsize=256)
def _segments(path: str) -> list[re.Pattern[str]]:
    """One pattern per path segment: a parameter's (``int``: digits, ``path``: anything), else the literal."""
    out = []
    for segment in path.strip("/").split("/"):
        param = _PARAM.fullmatch(segment)
        if param is None:
            out.append(re.compile(re.escape(segment)))
        else:
            out.append(re.compile({"int": r"\d+", "path": r".*"}.get(param.group(2) or "", r"[^/]+")))
    return out


def fault_problems(
    kind: str, route: str | None, method: str | None, status: int | None, routes: Sequence[RouteSpec], api: str
) -> list[tuple[str, str]]:
    """What makes a fault one that would never fire (or not as written): ``(field, message)`` pairs."""
    problems: list[tuple[str, str]] = []
    if kind in ("error", "rate_limit") and status is not None and status < 400:
        problems.append(("status", f"an {kind} fault answers an error: {status} is not one; expected a status from 400 to 599"))
    if kind == "refuse":
        if route is not None:
            problems.append(("route", "a refuse fault refuses every connection to the API: it takes no route"))
        return problems
    transports = FAULT_TRANSPORTS.get(kind, _ALL)
    reached = [r for r in routes if route is None or r.met_by(route)]
    if route is not None and not reached:
        hint = _suggest(route, (r.example() for r in routes))
        problems.append(("route", f"no route of {api} matches {route!r}{hint}; its routes: {', '.join(sorted({r.path for r in routes}))}"))
        return problems
    if method is not None:
        with_method = [r for r in reached if method.upper() in r.methods or r.transport in ("ws", "eio")]
        if not with_method:
            problems.append(("method", f"no route of {api} that {route or 'the fault'} reaches takes {method.upper()}"))
            return problems
        reached = with_method
    if not any(r.transport in transports for r in reached):
        found = ", ".join(sorted({r.transport for r in reached}))
        where = f"{route!r} ({found})" if route is not None else f"{api}'s routes ({found})"
        problems.append(("kind", f"a {kind} fault acts on {_names(transports)}; {where} has none, so it would never fire"))
    return problems


def _names(transports: Iterable[Transport]) -> str:
    words = {"http": "HTTP requests", "ws": "WebSockets", "sse": "event streams", "eio": "Socket.IO"}
    return " or ".join(words[t] for t in sorted(transports))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = get_close_matches(word, list(dict.fromkeys(choices)), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
