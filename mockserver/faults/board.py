"""The one place faults are decided: which active fault hits this request, handshake, connection or frame.

The runtime keeps the active faults on a :class:`FaultBoard`. Each transport's edge asks it at
its decision point and only applies what it is told:

=====================  ==============================================================
``at_request``         an HTTP request: latency faults (each drawn), then at most one of
                       error, rate_limit, reset, empty, truncate, malformed, dribble
``at_handshake``       a WebSocket handshake: refuse_upgrade, reset or close
``at_connection``      a new TCP connection: refuse
``hits_open``          a fault that just started, for each open connection it may end
``draw``               anything else, by kind: a frame (silence, duplicate, reorder, cut,
                       dribble), an event id (id_gap)
=====================  ==============================================================

Matching (API, method, route), the seeded probability draw, ``times`` and the rate-limit window
are decided here; every hit counts towards the fault's ``applied`` and is journaled as
``fault.applied`` with the fault's id, the connection and what was done. Pure: no framework,
no clock (``now`` comes in).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.catalogue import FAULT_APPLIED, FaultApplied
from ..core.journal import Journal
from ..core.sessions import Session
from .model import HTTP_KINDS, ActiveFault

__all__ = ["BODY_KINDS", "FaultBoard", "RequestFaults"]

_RESPONSE_KINDS = frozenset(HTTP_KINDS) - {"refuse", "latency"}
#: Faults that rework a whole body: an event stream's body never ends, so the stream applies its own.
BODY_KINDS = frozenset({"truncate", "malformed", "dribble"})
_HANDSHAKE_KINDS = ("refuse_upgrade", "reset", "close")


@dataclass(frozen=True, slots=True)
class RequestFaults:
    """What one HTTP request meets: wait ``latency`` virtual seconds, then ``fault`` (or answer normally)."""

    latency: float
    fault: ActiveFault | None


def _effect(active: ActiveFault) -> str:
    spec = active.spec
    return {
        "latency": "delayed the answer",
        "error": f"answered {spec.status}",
        "rate_limit": f"answered {spec.status} (rate limit)",
        "reset": "reset the connection",
        "empty": "closed the connection without an answer",
        "truncate": "truncated the answer",
        "malformed": "broke the answer's body",
        "dribble": "dribbled the answer",
        "refuse": "refused the connection",
        "close": f"closed the connection ({spec.code})",
        "silence": "kept a frame off the wire",
        "refuse_upgrade": f"refused the upgrade ({spec.status})",
        "duplicate": "sent a frame twice",
        "reorder": "held a frame back",
        "cut": "cut the stream mid-frame",
        "id_gap": "skipped an event id",
    }.get(spec.kind, spec.kind)


class FaultBoard:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        #: the active faults by id, in the order they started (the first started wins a tie)
        self.active: dict[str, ActiveFault] = {}

    def __bool__(self) -> bool:
        return bool(self.active)

    # -- applying ---------------------------------------------------------------------------------
    def applied(
        self,
        active: ActiveFault,
        api: str,
        *,
        path: str | None = None,
        conn: str | None = None,
        session: Session | None = None,
        principal: str | None = None,
        delay: float | None = None,
    ) -> None:
        """Count and journal one hit of ``active`` (the decision methods call this; so may an edge for a
        fault it applies to each open connection)."""
        active.applied += 1
        data = FaultApplied(fault=active.spec.id, fault_kind=active.spec.kind, effect=_effect(active))
        if path is not None:
            data["path"] = path
        if delay is not None:
            data["delay"] = delay
        self.journal.record(api, FAULT_APPLIED, data, conn=conn, session=session, principal=principal)

    def _matching(self, kind: str, api: str, path: str, method: str) -> list[ActiveFault]:
        return [a for a in self.active.values() if a.spec.kind == kind and a.spec.applies_to(api, method, path)]

    # -- decisions -------------------------------------------------------------------------------------
    def draw(
        self,
        api: str,
        kind: str,
        path: str,
        *,
        method: str = "GET",
        conn: str | None = None,
        session: Session | None = None,
        principal: str | None = None,
    ) -> ActiveFault | None:
        """The first active fault of ``kind`` for this route that this occasion draws (journaled as applied)."""
        for active in self.active.values():
            spec = active.spec
            if spec.kind == kind and spec.applies_to(api, method, path) and active.draw():
                self.applied(active, api, path=path, conn=conn, session=session, principal=principal)
                return active
        return None

    def active_kind(self, api: str, kind: str, path: str) -> ActiveFault | None:
        """An active fault of ``kind`` for this route, without drawing (is a silence on, say)."""
        for active in self.active.values():
            if active.spec.kind == kind and active.spec.applies_to(api, "GET", path) and not active.exhausted:
                return active
        return None

    def at_request(
        self,
        api: str,
        method: str,
        path: str,
        *,
        now: float,
        streaming: bool = False,
        conn: str | None = None,
        principal: str | None = None,
    ) -> RequestFaults | None:
        """The faults an HTTP request meets (None: none). Each matching fault draws from its seeded stream."""
        latency = 0.0
        hit_latency = False
        chosen: ActiveFault | None = None
        for active in list(self.active.values()):
            spec = active.spec
            if not spec.applies_to(api, method, path):
                continue
            if spec.kind == "latency":
                if active.draw():
                    delay = active.latency()
                    latency += delay
                    hit_latency = True
                    self.applied(active, api, path=path, conn=conn, principal=principal, delay=delay)
            elif chosen is not None or spec.kind not in _RESPONSE_KINDS or (streaming and spec.kind in BODY_KINDS):
                continue
            elif spec.kind == "rate_limit":
                if active.rate_limited(now) is not None and active.draw():
                    chosen = active
            elif active.draw():
                chosen = active
        if chosen is not None:
            self.applied(chosen, api, path=path, conn=conn, principal=principal)
        if chosen is None and not hit_latency:
            return None
        return RequestFaults(latency=latency, fault=chosen)

    def at_handshake(self, api: str, path: str, *, session: Session) -> ActiveFault | None:
        """The fault a new WebSocket handshake meets: refuse_upgrade, reset or close (first started wins)."""
        for active in list(self.active.values()):
            if active.spec.kind in _HANDSHAKE_KINDS and active.spec.applies_to(api, "GET", path) and active.draw():
                self.applied(active, api, path=path, session=session)
                return active
        return None

    def at_connection(self, api: str, *, conn: str) -> ActiveFault | None:
        """A refuse fault for a new TCP connection to ``api`` (drawn), if one is active."""
        for active in list(self.active.values()):
            if active.spec.kind == "refuse" and active.spec.api in ("*", api) and active.draw():
                self.applied(active, api, conn=conn)
                return active
        return None

    def hits_open(self, fault_id: str, api: str, path: str, *, session: Session) -> ActiveFault | None:
        """A fault that just started meets an open connection of ``session``: does it hit it (drawn)?"""
        active = self.active.get(fault_id)
        if active is None or not active.spec.applies_to(api, "GET", path) or not active.draw():
            return None
        self.applied(active, api, path=path, session=session)
        return active
