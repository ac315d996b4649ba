"""LuckyLobster: scheduling by ``next_check_at``, sleeping outside active hours, acting on actions, the rate limit.

The heartbeat is ``GET /api/agent/v1/heartbeat``; a client's requests are those its key names
(``key:<name>``). ``next_check_at`` has one-second resolution, so "not before" allows a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..evidence import Evidence, Exchange
from ..model import Finding, Window
from ..registry import NotApplicable, Params, rule
from ._shared import at, by_principal, instant, retry_after, seconds

__all__: list[str] = []

API = "luckylobster"
PREFIX = "/api/agent/v1"
HEARTBEAT = PREFIX + "/heartbeat"
REDEEM = PREFIX + "/settlements/redeem"
DOCS = "LuckyLobster heartbeat docs"


def _data(exchange: Exchange) -> dict[str, Any]:
    body = exchange.json()
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) and exchange.status == 200 else {}


def _status(exchange: Exchange) -> str | None:
    status = _data(exchange).get("status")
    return str(status) if status is not None else None


def _next_check(exchange: Exchange) -> float | None:
    heartbeat = _data(exchange).get("heartbeat")
    return instant(heartbeat.get("next_check_at")) if isinstance(heartbeat, dict) else None


def _heartbeats(ev: Evidence) -> dict[str | None, list[Exchange]]:
    return by_principal(ev.exchanges(API, method="GET", path=HEARTBEAT))


def _all(ev: Evidence) -> dict[str | None, list[Exchange]]:
    return by_principal(ev.exchanges(API))


def _limit_reset(exchange: Exchange) -> float | None:
    """When the rate-limit window of an answer with ``X-RateLimit-Remaining: 0`` resets."""
    if exchange.header("x-ratelimit-remaining") != "0":
        return None
    reset = exchange.header("x-ratelimit-reset")
    if reset is None:
        return None
    return float(reset) if reset.isdigit() else instant(reset)


@rule(
    "luckylobster.heartbeat.honours-next-check-at",
    severity="must",
    api=API,
    summary="Never polls the heartbeat before the next_check_at of the last answer.",
    cites=f'{DOCS}: "Use next_check_at as a scheduling suggestion. The server computes this based on your API key\'s configuration."',
    params={"resolution": 1.0, "tolerance": 0.5},
)
def honours_next_check_at(ev: Evidence, p: Params) -> Iterator[Finding]:
    slack = float(p["resolution"]) + ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, xs in _heartbeats(ev).items():
        for a, b in zip(xs, xs[1:], strict=False):
            due = _next_check(a)
            if due is None:
                continue
            judged = True
            if b.vtime < due - slack:
                yield Finding(
                    f"{principal} polled at {at(b.vtime)}, {seconds(due - b.vtime)} before next_check_at ({at(due)})",
                    a.seqs + b.seqs,
                    b.vtime,
                    Window(due, due + 60, "not before next_check_at"),
                )
    if not judged:
        raise NotApplicable("fewer than two heartbeats")


@rule(
    "luckylobster.heartbeat.not-late",
    severity="should",
    api=API,
    summary="While awake, polls by next_check_at (later only as far as a rate limit or Retry-After asks), "
    "also once a failure streak is over.",
    cites=f'{DOCS}: "next_check_at - suggested time for next check"; interval_ms "configured per API key"',
    params={"late_factor": 0.5, "tolerance": 1.0},
)
def not_late(ev: Evidence, p: Params) -> Iterator[Finding]:
    factor, tolerance = float(p["late_factor"]), ev.tolerance(float(p["tolerance"]))
    judged = False
    requests = _all(ev)
    for principal, xs in _heartbeats(ev).items():
        every = requests.get(principal, xs)
        for index, a in enumerate(xs):
            due = _next_check(a)
            if due is None or _status(a) not in ("OK", "ACTION_NEEDED"):
                continue
            interval = float((_data(a).get("heartbeat") or {}).get("interval_ms", 60_000)) / 1000.0
            # a rate limit or a Retry-After on the client's later answers may push the check back
            later = [x for x in every if a.vtime <= x.vtime <= due]
            waits = [r for r in (_limit_reset(x) for x in later) if r is not None]
            waits += [x.done + w for x in later for w in [retry_after(x)] if w is not None]
            deadline = max([due, *waits]) + factor * interval + tolerance
            following = xs[index + 1] if index + 1 < len(xs) else None
            if following is None and ev.stopped <= deadline:
                continue
            judged = True
            if following is None or following.vtime > deadline:
                what = f"polled only at {at(following.vtime)}" if following is not None else "never polled again"
                yield Finding(
                    f"{principal} was told next_check_at {at(due)} while awake and {what} (by {at(deadline)} expected)",
                    a.seqs + (following.seqs if following is not None else ()),
                    deadline,
                    Window(due, deadline, "the next heartbeat"),
                )
    if not judged:
        raise NotApplicable("no awake answer to judge the next poll by")


def _sleeping_spans(ev: Evidence, xs: list[Exchange]) -> Iterator[tuple[Exchange, float, Exchange | None]]:
    """Each stretch the key slept: its first SLEEPING answer, when the client learnt it, and the first awake answer after."""
    start: Exchange | None = None
    for x in xs:
        status = _status(x)
        if status == "SLEEPING" and start is None:
            start = x
        elif status in ("OK", "ACTION_NEEDED") and start is not None:
            yield start, start.done, x
            start = None
    if start is not None:
        yield start, start.done, None


@rule(
    "luckylobster.heartbeat.sleeps-outside-active-hours",
    severity="must",
    api=API,
    summary="While the heartbeat says SLEEPING, sends no orders, redeems or strategy changes (nothing but reads).",
    cites=f'{DOCS}: "SLEEPING | Outside configured active hours"',
)
def sleeps(ev: Evidence, p: Params) -> Iterator[Finding]:
    requests = _all(ev)
    judged = False
    for principal, xs in _heartbeats(ev).items():
        for first, since, awake in _sleeping_spans(ev, xs):
            judged = True
            until = awake.vtime if awake is not None else ev.end
            for x in requests.get(principal, []):
                if since < x.vtime < until and x.method != "GET":
                    yield Finding(
                        f"{principal} sent {x.method} {x.path} at {at(x.vtime)} while SLEEPING (since {at(since)})",
                        first.seqs + x.seqs,
                        x.vtime,
                        Window(since, until, "SLEEPING: reads only"),
                    )
    if not judged:
        raise NotApplicable("the heartbeat never said SLEEPING")


def _opening(hours: dict[str, Any], after: float) -> float | None:
    """The first instant after ``after`` at which the active hours begin (their ``start`` in their time zone)."""
    try:
        zone = ZoneInfo(str(hours["timezone"]))
        hour, minute = (int(part) for part in str(hours["start"]).split(":"))
    except (KeyError, ValueError, TypeError):
        return None
    local = datetime.fromtimestamp(after, zone)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate.timestamp() <= after:
        candidate = (local + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return candidate.timestamp()


@rule(
    "luckylobster.heartbeat.wakes-on-time",
    severity="must",
    api=API,
    summary="Polls again soon after the active hours begin: at most two intervals after the window opens.",
    cites=f'{DOCS}: "Every response (including SLEEPING) includes a heartbeat object with scheduling information" '
    "(active_hours, interval_ms)",
    params={"intervals": 2.0, "tolerance": 1.0},
)
def wakes_on_time(ev: Evidence, p: Params) -> Iterator[Finding]:
    intervals, tolerance = float(p["intervals"]), ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, xs in _heartbeats(ev).items():
        for first, _since, _awake in _sleeping_spans(ev, xs):
            heartbeat = _data(first).get("heartbeat") or {}
            hours = heartbeat.get("active_hours")
            last_sleeping = max((x.done for x in xs if x.vtime >= first.vtime and _status(x) == "SLEEPING"), default=first.done)
            opening = _opening(hours, last_sleeping) if isinstance(hours, dict) else None
            if opening is None:
                continue
            allowance = intervals * float(heartbeat.get("interval_ms", 60_000)) / 1000.0
            deadline = opening + allowance + tolerance
            if ev.stopped <= deadline:
                continue  # the client was stopped before the key was due awake again
            judged = True
            woke = next((x for x in xs if x.vtime >= opening - tolerance), None)
            if woke is None or woke.vtime > deadline:
                what = f"polled only at {at(woke.vtime)}" if woke is not None else "never polled again"
                yield Finding(
                    f"{principal}'s active hours began at {at(opening)}; it {what} (by {at(deadline)} expected)",
                    first.seqs + (woke.seqs if woke is not None else ()),
                    opening,
                    Window(opening, deadline, "awake again"),
                )
    if not judged:
        raise NotApplicable("no active hours began again while the run lasted")


def _redeem_conditions(x: Exchange) -> set[str] | None:
    """The conditions a redeem request names (None: all of them)."""
    import json as _json

    try:
        body = _json.loads(str(x.request.data.get("body") or "{}") or "{}")
    except ValueError:
        return set()
    if not isinstance(body, dict):
        return set()
    ids = body.get("conditionIds") or ([body["conditionId"]] if body.get("conditionId") else None)
    return {str(i) for i in ids} if ids else None


@rule(
    "luckylobster.heartbeat.acts-on-actions",
    severity="should",
    api=API,
    summary="Redeems what a REDEEM action offers (POST /settlements/redeem) within a few minutes, once per condition.",
    cites=f'{DOCS}: "REDEEM | high | Settled positions ready to redeem. Call POST /settlements/redeem."',
    params={"within": 300.0, "tolerance": 1.0},
)
def acts_on_actions(ev: Evidence, p: Params) -> Iterator[Finding]:
    within, tolerance = float(p["within"]), ev.tolerance(float(p["tolerance"]))
    redeems = _all(ev)
    judged = False
    for principal, xs in _heartbeats(ev).items():
        offered: dict[str, Exchange] = {}
        for x in xs:
            for action in _data(x).get("actions") or []:
                if isinstance(action, dict) and action.get("type") == "REDEEM":
                    for position in (action.get("details") or {}).get("positions") or []:
                        offered.setdefault(str(position.get("conditionId")), x)
        if not offered:
            continue
        judged = True
        posts = [r for r in redeems.get(principal, []) if r.method == "POST" and r.path == REDEEM]
        redeemed: dict[str, Exchange] = {}
        for post in posts:
            named = _redeem_conditions(post)
            body = post.json() if post.status == 200 else None
            done = (
                {str(r.get("conditionId")) for r in ((body or {}).get("data") or {}).get("redeemed") or []}
                if isinstance(body, dict)
                else set()
            )
            for condition in named if named is not None else set():
                if condition in redeemed:
                    yield Finding(
                        f"{principal} asked again at {at(post.vtime)} to redeem {condition}, redeemed at {at(redeemed[condition].done)}",
                        redeemed[condition].seqs + post.seqs,
                        post.vtime,
                    )
            for condition in done:
                redeemed.setdefault(condition, post)
        for condition, seen in offered.items():
            deadline = seen.done + within + tolerance
            if ev.stopped <= deadline:
                continue
            acted = next(
                (
                    r
                    for r in posts
                    if r.vtime >= seen.vtime and (_redeem_conditions(r) is None or condition in (_redeem_conditions(r) or ()))
                ),
                None,
            )
            if acted is None or acted.vtime > deadline:
                yield Finding(
                    f"{principal} was offered {condition} to redeem at {at(seen.done)} and did not ask to redeem it within {seconds(within)}",
                    seen.seqs,
                    seen.done,
                    Window(seen.done, deadline, "redeem"),
                )
    if not judged:
        raise NotApplicable("no REDEEM action was offered")


@rule(
    "luckylobster.http.respects-rate-limit",
    severity="should",
    api=API,
    summary="Once X-RateLimit-Remaining is 0, sends nothing until X-RateLimit-Reset.",
    cites="LuckyLobster docs: rate limit per key, headers X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset",
    params={"tolerance": 1.0},
)
def respects_rate_limit(ev: Evidence, p: Params) -> Iterator[Finding]:
    tolerance = ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, xs in _all(ev).items():
        for index, x in enumerate(xs):
            reset = _limit_reset(x)
            if reset is None:
                continue
            judged = True
            following = xs[index + 1] if index + 1 < len(xs) else None
            if following is not None and following.vtime < reset - tolerance:
                yield Finding(
                    f"{principal} had no requests left at {at(x.done)} (X-RateLimit-Remaining: 0, reset {at(reset)}) "
                    f"and sent {following.method} {following.path} at {at(following.vtime)}",
                    x.seqs + following.seqs,
                    following.vtime,
                    Window(reset, reset + 60, "after X-RateLimit-Reset"),
                )
    if not judged:
        raise NotApplicable("no answer said X-RateLimit-Remaining: 0")
