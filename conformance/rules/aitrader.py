"""AI-Trader: the heartbeat is the primary notification mechanism (the heartbeat SKILL.md).

The heartbeat is ``POST /api/claw/agents/heartbeat``; a client's heartbeats are those its
credential names (``agent:<id>``). Gaps are measured from a complete answer to the next request.
The lower bound (30 s) is ``min-interval``'s, the upper (5 minutes) ``max-interval``'s while no
notify socket is open and ``primary-mechanism``'s while one is; ``recommended-cadence`` looks at
the gaps within those bounds only, so one defect fails one rule.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator

from ..evidence import Evidence, Exchange, SessionView
from ..model import Finding, Window
from ..registry import Inconclusive, NotApplicable, Params, rule
from ._shared import at, by_principal, seconds

__all__: list[str] = []

API = "aitrader"
HEARTBEAT = "/api/claw/agents/heartbeat"
LOGIN = "/api/claw/agents/login"
SKILL = "AI-Trader heartbeat SKILL.md"


def _heartbeats(ev: Evidence) -> dict[str | None, list[Exchange]]:
    return {p: xs for p, xs in by_principal(ev.exchanges(API, method="POST", path=HEARTBEAT)).items() if p is not None}


def _has_more(exchange: Exchange) -> bool:
    body = exchange.json()
    return isinstance(body, dict) and bool(body.get("has_more_messages"))


def _complete(exchange: Exchange) -> bool:
    """A whole, successful answer that did not ask for another call at once."""
    return exchange.status == 200 and exchange.outcome == "answered" and not _has_more(exchange)


def _sockets(ev: Evidence) -> dict[str, list[SessionView]]:
    """The notify sockets of each agent (their principal), oldest first."""
    out: dict[str, list[SessionView]] = {}
    for session in ev.sessions(API, transport="ws"):
        if session.principal is not None and any(str(e.data.get("path", "")).startswith("/ws/notify/") for e in session.entries):
            out.setdefault(session.principal, []).append(session)
    return out


def _open(sockets: list[SessionView], start: float, end: float, run_end: float) -> bool:
    """Was a notify socket open at some moment between ``start`` and ``end``?"""
    return any(s.start < end and (s.end if s.end is not None else run_end) > start for s in sockets)


def _gaps(ev: Evidence, beats: list[Exchange]) -> Iterator[tuple[float, float, tuple[int, ...]]]:
    """(from, to, seqs) of each stretch without a heartbeat: between two, and from the last until the client was stopped."""
    if not beats:
        yield ev.start, ev.stopped, ()
        return
    # (not from the run's start to the first: a client's start-up takes its time, warped too)
    for a, b in zip(beats, beats[1:], strict=False):
        yield a.done, b.vtime, a.seqs + b.seqs
    yield beats[-1].done, max(ev.stopped, beats[-1].done), beats[-1].seqs


@rule(
    "aitrader.heartbeat.min-interval",
    severity="must",
    api=API,
    summary="Never polls the heartbeat again within 30 s of a complete answer.",
    cites=f'{SKILL}: "Recommended Polling Interval - Minimum: Every 30 seconds"',
    params={"minimum": 30.0, "tolerance": 1.0},
)
def min_interval(ev: Evidence, p: Params) -> Iterator[Finding]:
    minimum, tolerance = float(p["minimum"]), ev.tolerance(float(p["tolerance"]))
    beats = _heartbeats(ev)
    if not any(len(xs) > 1 for xs in beats.values()):
        raise NotApplicable("fewer than two heartbeats")
    for principal, xs in beats.items():
        for a, b in zip(xs, xs[1:], strict=False):
            if _complete(a) and b.vtime - a.done < minimum - tolerance:
                yield Finding(
                    f"{principal} polled at {at(b.vtime)}, {seconds(b.vtime - a.done)} after a complete answer (minimum {minimum:g} s)",
                    a.seqs + b.seqs,
                    b.vtime,
                    Window(a.done + minimum, a.done + 2 * minimum, "not before"),
                )


@rule(
    "aitrader.heartbeat.max-interval",
    severity="must",
    api=API,
    summary="While no notify socket is open, never goes 5 minutes without a heartbeat.",
    cites=f'{SKILL}: "Recommended: Every 60 seconds (5 minutes maximum)"',
    params={"maximum": 300.0, "tolerance": 2.0},
)
def max_interval(ev: Evidence, p: Params) -> Iterator[Finding]:
    maximum, tolerance = float(p["maximum"]), ev.tolerance(float(p["tolerance"]))
    if ev.stopped - ev.start <= maximum + tolerance:
        raise NotApplicable(f"the run lasted less than {maximum:g} s")
    sockets = _sockets(ev)
    beats = _heartbeats(ev)
    client = ev.client(API)
    if client is not None:
        beats.setdefault(client, [])  # a client that never polls at all
    for principal, xs in beats.items():
        own = sockets.get(str(principal), [])
        for start, end, seqs in _gaps(ev, xs):
            if end - start > maximum + tolerance and not _open(own, start, end, ev.end):
                yield Finding(
                    f"{principal} went {seconds(end - start)} without a heartbeat, from {at(start)} to {at(end)} (at most {maximum:g} s)",
                    seqs,
                    end,
                    Window(start, start + maximum, "the next heartbeat, at the latest"),
                )


@rule(
    "aitrader.heartbeat.recommended-cadence",
    severity="should",
    api=API,
    summary="Polls about every 60 s: the median gap between heartbeats (within 30 s and 5 minutes) is not above 60 s.",
    cites=f'{SKILL}: "Recommended: Every 60 seconds"; Best Practices: "Poll every 30-60 seconds"',
    params={"recommended": 60.0, "minimum": 30.0, "maximum": 300.0, "tolerance": 15.0},
)
def recommended_cadence(ev: Evidence, p: Params) -> Iterator[Finding]:
    recommended, tolerance = float(p["recommended"]), ev.tolerance(float(p["tolerance"]))
    low, high = float(p["minimum"]), float(p["maximum"])
    judged = False
    for principal, xs in _heartbeats(ev).items():
        gaps = [b.vtime - a.done for a, b in zip(xs, xs[1:], strict=False) if _complete(a)]
        gaps = [g for g in gaps if low - tolerance <= g <= high + tolerance]
        if len(gaps) < 3:
            continue
        judged = True
        median = statistics.median(gaps)
        if median > recommended + tolerance:
            yield Finding(
                f"{principal} polled every {seconds(median)} (median of {len(gaps)} gaps); about {recommended:g} s is recommended",
                tuple(x.request.seq for x in xs),
                xs[-1].vtime,
            )
    if not judged:
        raise NotApplicable("fewer than four heartbeats a recommended cadence could be read from")


@rule(
    "aitrader.heartbeat.primary-mechanism",
    severity="must",
    api=API,
    summary="Keeps polling the heartbeat while its notify socket is open, and every notification the socket lost "
    "is fetched by a later heartbeat.",
    cites=f'{SKILL}: "WebSocket is available but not guaranteed to deliver all notifications reliably. '
    'Always implement heartbeat polling as the primary mechanism."',
    params={"maximum": 300.0, "tolerance": 2.0},
)
def primary_mechanism(ev: Evidence, p: Params) -> Iterator[Finding]:
    maximum, tolerance = float(p["maximum"]), ev.tolerance(float(p["tolerance"]))
    sockets = _sockets(ev)
    if not sockets:
        raise NotApplicable("no notify socket was opened")
    beats = _heartbeats(ev)
    for principal, own in sockets.items():
        xs = beats.get(principal, [])
        for start, end, seqs in _gaps(ev, xs):
            if end - start > maximum + tolerance and _open(own, start, end, ev.end):
                yield Finding(
                    f"{principal} had its notify socket open and went {seconds(end - start)} without a heartbeat, "
                    f"from {at(start)} to {at(end)} (at most {maximum:g} s): the socket is only a supplement",
                    seqs,
                    end,
                    Window(start, start + maximum, "the next heartbeat, at the latest"),
                )
    fetched = {
        m.get("id")
        for xs in beats.values()
        for x in xs
        if isinstance(x.json(), dict)
        for m in (x.json().get("messages") or [])
        if isinstance(m, dict)
    }
    for lost in ev.of(API, "ws.lost"):
        if lost.data.get("message_id") not in fetched and ev.stopped - lost.vtime > maximum + tolerance:
            yield Finding(
                f"notification {lost.data.get('message_id')} ({lost.data.get('type')}), lost by the socket at {at(lost.vtime)}, "
                "was never fetched by a heartbeat",
                (lost.seq,),
                lost.vtime,
            )


@rule(
    "aitrader.heartbeat.drains-has-more",
    severity="must",
    api=API,
    summary="After a heartbeat answers has_more_messages: true, polls again at once until it is drained.",
    cites="the server hands out the newest 50 unread per heartbeat and says has_more_messages; "
    f'{SKILL}: "Process messages immediately to avoid missing updates"',
    params={"within": 5.0, "tolerance": 1.0},
)
def drains_has_more(ev: Evidence, p: Params) -> Iterator[Finding]:
    within, tolerance = float(p["within"]), ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, xs in _heartbeats(ev).items():
        for index, x in enumerate(xs):
            if x.status != 200 or not _has_more(x):
                continue
            judged = True
            following = xs[index + 1] if index + 1 < len(xs) else None
            deadline = x.done + within + tolerance
            if (following is None and ev.stopped > deadline) or (following is not None and following.vtime > deadline):
                late = f"polled again at {at(following.vtime)}" if following is not None else "never polled again"
                yield Finding(
                    f"{principal} was told has_more_messages at {at(x.done)} and {late} (within {within:g} s expected)",
                    x.seqs + (following.seqs if following is not None else ()),
                    x.done,
                    Window(x.done, x.done + within, "drain"),
                )
    if not judged:
        raise NotApplicable("no heartbeat answered has_more_messages")


def _handed_out_twice(ev: Evidence) -> bool:
    """Did some heartbeat answer carry a message id an earlier answer to the same agent carried? (Read off the wire.)"""
    for xs in _heartbeats(ev).values():
        given: set[object] = set()
        for x in xs:
            body = x.json() if x.status == 200 else None
            messages = body.get("messages") if isinstance(body, dict) else None
            ids = [m.get("id") for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
            if given.intersection(ids):
                return True
            given.update(ids)
    return False


@rule(
    "aitrader.heartbeat.ignores-duplicates",
    severity="should",
    api=API,
    summary="Processes each message once, even when the heartbeat hands it out again (it says what it processed on MOCK_OBSERVE).",
    cites=f'{SKILL}: "Store last processed message ID to track what you\'ve already processed"',
    observes=True,
)
def ignores_duplicates(ev: Evidence, p: Params) -> Iterator[Finding]:
    if not _handed_out_twice(ev):
        raise NotApplicable("no heartbeat answer handed out a message the client had already been given")
    if not ev.observed:
        raise Inconclusive("the client wrote nothing to MOCK_OBSERVE: which messages it processed is unknown")
    seen: dict[object, int] = {}
    for entry in ev.observations(API):
        if entry.data.get("kind") != "processed" or "id" not in entry.data:
            continue
        key = entry.data["id"]
        if key in seen:
            yield Finding(
                f"message {key} was processed twice (first journal seq {seen[key]}, again at {at(entry.vtime)})",
                (seen[key], entry.seq),
                entry.vtime,
            )
        else:
            seen[key] = entry.seq


@rule(
    "aitrader.auth.relogin-on-401",
    severity="must",
    api=API,
    summary="When its token is refused (401), logs in again with its name and password and uses the new token.",
    cites="the server rotates an agent's token at each login: the old one answers 401 'Invalid token'; "
    "POST /api/claw/agents/login gives the new one",
    params={"within": 60.0, "tolerance": 1.0},
)
def relogin_on_401(ev: Evidence, p: Params) -> Iterator[Finding]:
    within, tolerance = float(p["within"]), ev.tolerance(float(p["tolerance"]))
    logins = [x for x in ev.exchanges(API, method="POST", path=LOGIN) if x.status == 200 and isinstance(x.json(), dict)]
    judged = False
    for principal, xs in by_principal(ev.exchanges(API)).items():
        refused = next((x for x in xs if x.status == 401), None)
        if principal is None or refused is None:
            continue
        judged = True
        agent = int(principal.split(":")[1])
        login = next((x for x in logins if x.vtime >= refused.done and x.json().get("agent_id") == agent), None)
        if login is None or login.vtime > refused.done + within + tolerance:
            when = f"only at {at(login.vtime)}" if login is not None else "never"
            yield Finding(
                f"{principal}'s token was refused at {at(refused.done)}; it logged in again {when} (within {within:g} s expected)",
                refused.seqs + (login.seqs if login is not None else ()),
                refused.done,
                Window(refused.done, refused.done + within, "log in again"),
            )
            continue
        stale = [x for x in xs if x.vtime > login.done and x.status == 401]
        if stale:
            yield Finding(
                f"{principal} logged in again at {at(login.done)} but went on with a refused token: "
                f"{len(stale)} more 401s, the first at {at(stale[0].vtime)}",
                login.seqs + tuple(x.request.seq for x in stale[:5]),
                stale[0].vtime,
            )
    if not judged:
        raise NotApplicable("no request was refused with 401")


@rule(
    "aitrader.notify.numeric-client-id",
    severity="must",
    api=API,
    summary="Opens its notify socket as /ws/notify/<agent_id>, the agent's numeric id (the public server closes any other at once).",
    cites="the public server (routes_agent.py websocket_endpoint) does int(client_id) and returns on a ValueError, closing "
    "the socket; SKILL.md's ws://.../ws/notify/agent_xxx example is refused that way",
)
def numeric_client_id(ev: Evidence, p: Params) -> Iterator[Finding]:
    if ev.profile(API) != "upstream":
        raise NotApplicable("the documented profile also takes agent_<id> and the agent's name, as SKILL.md shows")
    connects = [e for e in ev.of(API, "ws.connect") if str(e.data.get("path", "")).startswith("/ws/notify/")]
    if not connects:
        raise NotApplicable("no notify socket was opened")
    client = ev.client(API)  # agent:<id>, the agent the client was given
    own = client.partition(":")[2] if client else None
    for entry in connects:
        client_id = str(entry.data["path"]).removeprefix("/ws/notify/")
        if client_id.isdigit() and (own is None or client_id == own):
            continue
        expected = own if own is not None else "a number"
        yield Finding(
            f"the notify socket at {at(entry.vtime)} was opened as /ws/notify/{client_id}; the client id must be the agent's "
            f"numeric id ({expected})",
            (entry.seq,),
            entry.vtime,
        )
