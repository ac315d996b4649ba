"""TradingPartners: the SSE alert stream (``GET /api/v1/alerts``) kept alive, resumed, backed off, stopped, re-authorised.

A client's stream attempts are the ``GET /api/v1/alerts`` requests its JWT names (``user:<email>``);
an attempt answered 200 opens a session (``sse-N``) whose frames, end (``sse.end``: by the server,
a fault or the client) or reset (``sse.reset``) the journal holds. A frame reached the client
unless it was ``partial`` or among a reset's ``lost`` frames. Who grades what, so that one defect
fails one rule:

- the first attempt after the server ends a stream, and trying again after a transient refusal:
  ``reconnects-after-end``; how soon that first attempt may come (``retry:``): ``honours-retry``;
- the gaps between refused attempts (``Retry-After``, else growing): ``backs-off-on-refusal``;
- ``Last-Event-ID``: ``resumes-with-last-event-id``; a stream left open with no pings:
  ``detects-missing-pings``; anything after a 402: ``stops-on-payment-required``; a 401:
  ``auth.relogin-on-401``;
- what the client did with the events (``MOCK_OBSERVE`` lines ``{"api": "tradingpartners",
  "kind": "processed", "id": <alert id>, "event": <type>}``): ``lifecycle-order``,
  ``ignores-duplicates``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass

from mockserver.core.journal import Entry

from ..evidence import Evidence, Exchange, SessionView, body_json
from ..model import Finding, Window
from ..registry import Inconclusive, NotApplicable, Params, rule
from ._shared import at, by_principal, retry_after, seconds

__all__: list[str] = []

API = "tradingpartners"
STREAM = "/api/v1/alerts"
LOGIN = "/api/v1/users/login"
SEED = "TradingPartners docs, Receive alerts in real time"
#: an alert's lifecycle: working -> onGoing -> closed, or working -> aborted
RANK = {"working": 0, "onGoing": 1, "aborted": 2, "closed": 2}
#: statuses after which trying again later is the right answer (the rest are the auth and stop rules' business)
TRANSIENT = frozenset({408, 425, 429}) | frozenset(range(500, 600))


# -- what the journal says about a client's streams ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Attempt:
    """One ``GET /api/v1/alerts`` and the stream it opened, if it opened one."""

    exchange: Exchange
    session: SessionView | None

    @property
    def vtime(self) -> float:
        return self.exchange.vtime

    @property
    def opened(self) -> bool:
        return self.session is not None

    @property
    def refused(self) -> bool:
        """Answered with something other than a stream (a status, a reset, nothing)."""
        return self.session is None and self.exchange.response is not None

    @property
    def status(self) -> int | None:
        return self.exchange.status

    @property
    def what(self) -> str:
        """How it was answered, in a few words."""
        if self.opened:
            return "a stream"
        status = self.status
        return str(status) if status is not None else str(self.exchange.outcome or "nothing")

    def header(self, name: str) -> str | None:
        """A request header (lower-case name)."""
        value = (self.exchange.request.data.get("headers") or {}).get(name)
        return str(value) if value is not None else None


def _horizon(ev: Evidence) -> float:
    """Until when the client could still have acted: until it was stopped; for ever when it exited by itself (it never will)."""
    ended = next((e for e in ev.entries if e.kind == "run.ended"), None)
    return float("inf") if ended is not None and ended.data.get("how") == "exited" else ev.stopped


def _attempts(ev: Evidence) -> dict[str, list[Attempt]]:
    """Each principal's stream attempts, oldest first (requests no credential names are left out)."""
    opened: dict[int, SessionView] = {}
    for session in ev.sessions(API, transport="sse"):
        first = session.entries[0]
        if first.kind == "http.response" and "request" in first.data:
            opened[int(first.data["request"])] = session
    out: dict[str, list[Attempt]] = {}
    for principal, xs in by_principal(ev.exchanges(API, method="GET", path=STREAM)).items():
        if principal is not None:
            out[principal] = [Attempt(x, opened.get(x.request.seq)) for x in xs]
    return out


def _delivered(ev: Evidence, session: SessionView) -> list[Entry]:
    """The frames of a session that reached the client whole."""
    end = session.end_entry
    lost = set(end.data.get("lost") or ()) if end is not None and end.kind == "sse.reset" else set()
    return [e for e in session.entries if e.kind == "sse.frame" and not e.data.get("partial") and e.seq not in lost]


def _field(text: str, name: str) -> str | None:
    """A field of one SSE frame (``id``, ``event``, ``data``, ``retry``): its first line's value."""
    for line in text.split("\n"):
        key, colon, value = line.partition(":")
        if colon and key == name:
            return value[1:] if value.startswith(" ") else value
    return None


def _retry_hint(ev: Evidence, attempts: list[Attempt], before: float) -> tuple[float, Entry] | None:
    """The last ``retry:`` (in seconds) the client got before ``before``, with its frame."""
    found: tuple[float, Entry] | None = None
    for attempt in attempts:
        if attempt.session is None:
            continue
        for frame in _delivered(ev, attempt.session):
            value = _field(str(frame.data.get("text", "")), "retry")
            if frame.vtime <= before and value is not None and value.strip().isdigit():
                found = (int(value.strip()) / 1000.0, frame)
    return found


def _payment_required(ev: Evidence, session: SessionView) -> Entry | None:
    """The ``event: error`` frame that ended a stream because the credits ran out (the server's last message)."""
    frames = _delivered(ev, session)
    if frames and _field(str(frames[-1].data.get("text", "")), "event") == "error":
        return frames[-1]
    return None


@dataclass(frozen=True, slots=True)
class End:
    """A stream the server ended (cleanly, by a fault, by a reset), and what happened next."""

    attempt: Attempt
    entry: Entry
    #: the attempts the client made after it
    after: list[Attempt]

    @property
    def vtime(self) -> float:
        return self.entry.vtime

    @property
    def session(self) -> str:
        return self.attempt.session.id if self.attempt.session is not None else "?"

    @property
    def how(self) -> str:
        kind = "reset" if self.entry.kind == "sse.reset" else "ended"
        return {"server": f"{kind} by the server", "fault": f"{kind} by a fault"}.get(str(self.entry.data.get("by")), kind)


def _server_ends(ev: Evidence, attempts: list[Attempt]) -> Iterator[End]:
    """Streams the server (or a fault) ended, not for credits: the client is due to reconnect."""
    for index, attempt in enumerate(attempts):
        session = attempt.session
        end = session.end_entry if session is not None else None
        if session is None or end is None or end.data.get("by") == "client" or _payment_required(ev, session) is not None:
            continue
        yield End(attempt, end, [a for a in attempts[index + 1 :] if a.vtime >= end.vtime])


# -- reconnecting -------------------------------------------------------------------------------------------------
@rule(
    "tradingpartners.sse.reconnects-after-end",
    severity="must",
    api=API,
    summary="When the server ends the stream (cleanly or by a reset), opens it again soon (after the retry: hint), "
    "and after a transient refusal (5xx, 429, no answer) keeps trying until it has a stream.",
    cites=f'{SEED}: "The client connects to the endpoint and receives events produced by the server" (a real-time feed '
    "must be reopened); the SSE standard (WHATWG HTML §9.2): a user agent reconnects after a stream ends",
    params={"within": 30.0, "max_gap": 120.0, "tolerance": 1.0},
)
def reconnects_after_end(ev: Evidence, p: Params) -> Iterator[Finding]:
    within, max_gap, tolerance = float(p["within"]), float(p["max_gap"]), ev.tolerance(float(p["tolerance"]))
    horizon = _horizon(ev)
    judged = False
    for principal, attempts in _attempts(ev).items():
        for end in _server_ends(ev, attempts):
            hint = _retry_hint(ev, attempts, end.vtime)
            deadline = end.vtime + (hint[0] if hint else 0.0) + within + tolerance
            following = end.after[0] if end.after else None
            if following is None and horizon <= deadline:
                continue
            judged = True
            if following is None or following.vtime > deadline:
                what = f"only at {at(following.vtime)}" if following is not None else "never"
                yield Finding(
                    f"{principal}'s stream {end.session} {end.how} at {at(end.vtime)}; "
                    f"it tried to open it again {what} (by {at(deadline)} expected)",
                    (end.entry.seq, *((following.exchange.request.seq,) if following else ())),
                    end.vtime,
                    Window(end.vtime, deadline, "reconnect"),
                )
        for current, following in zip(attempts, [*attempts[1:], None], strict=False):
            if not current.refused or not (current.status in TRANSIENT or current.status is None):
                continue
            wait = retry_after(current.exchange) or 0.0
            deadline = current.exchange.done + max(max_gap, wait) + tolerance
            if following is None and horizon <= deadline:
                continue
            judged = True
            if following is None or following.vtime > deadline:
                what = f"only at {at(following.vtime)}" if following is not None else "never"
                yield Finding(
                    f"{principal}'s attempt to open the stream was refused ({current.what}) at {at(current.exchange.done)}; "
                    f"it tried again {what} (a transient refusal: by {at(deadline)} expected)",
                    current.exchange.seqs + (following.exchange.seqs if following else ()),
                    current.exchange.done,
                    Window(current.exchange.done, deadline, "try again"),
                )
    if not judged:
        raise NotApplicable("the server never ended a stream, nor refused one for a while, before the run's end")


@rule(
    "tradingpartners.sse.honours-retry",
    severity="must",
    api=API,
    summary="After the server ends the stream, waits at least the last retry: hint before opening it again.",
    cites="the SSE standard (WHATWG HTML §9.2.3): the retry field sets the reconnection time a user agent waits before it reconnects",
    params={"tolerance": 0.5},
)
def honours_retry(ev: Evidence, p: Params) -> Iterator[Finding]:
    tolerance = ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, attempts in _attempts(ev).items():
        for end in _server_ends(ev, attempts):
            hint = _retry_hint(ev, attempts, end.vtime)
            if hint is None or not end.after:
                continue
            judged = True
            wait, frame = hint
            following = end.after[0]
            if following.vtime < end.vtime + wait - tolerance:
                yield Finding(
                    f"{principal}'s stream {end.session} {end.how} at {at(end.vtime)}; it tried again at {at(following.vtime)}, "
                    f"{seconds(following.vtime - end.vtime)} later, though the stream said retry: {round(wait * 1000)} "
                    f"(at {at(frame.vtime)})",
                    (frame.seq, end.entry.seq, following.exchange.request.seq),
                    following.vtime,
                    Window(end.vtime + wait, end.vtime + 2 * wait, "not before retry:"),
                )
    if not judged:
        raise NotApplicable("no stream that said retry: was ended by the server and opened again")


def _event_ids(ev: Evidence, attempts: list[Attempt], before: float) -> list[tuple[str, Entry]]:
    """The event ids the client received before ``before``, oldest first, with their frames."""
    out = []
    for attempt in attempts:
        if attempt.session is None:
            continue
        for frame in _delivered(ev, attempt.session):
            event_id = _field(str(frame.data.get("text", "")), "id")
            if frame.vtime < before and event_id is not None:
                out.append((event_id, frame))
    return sorted(out, key=lambda item: item[1].seq)


@rule(
    "tradingpartners.sse.resumes-with-last-event-id",
    severity="must",
    api=API,
    summary="When the stream carries event ids, every later attempt to open it sends Last-Event-ID: the last id received.",
    cites="the SSE standard (WHATWG HTML §9.2.4): a reconnecting user agent sends the last event ID in Last-Event-ID; "
    "the server then sends what was missed (TradingPartners with event ids on)",
    params={"tolerance": 1.0},
)
def resumes_with_last_event_id(ev: Evidence, p: Params) -> Iterator[Finding]:
    tolerance = ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, attempts in _attempts(ev).items():
        for attempt in attempts[1:]:
            received = _event_ids(ev, attempts, attempt.vtime)
            if not received:
                continue
            judged = True
            last_id, last_frame = received[-1]
            # frames sent a moment before the client left may not have reached it: any of those ids will do
            recent = {event_id for event_id, frame in received if frame.vtime >= last_frame.vtime - tolerance}
            sent = attempt.header("last-event-id")
            if sent is None or sent.strip() not in recent:
                what = "without Last-Event-ID" if sent is None else f"with Last-Event-ID: {sent}"
                yield Finding(
                    f"{principal} opened the stream again at {at(attempt.vtime)} {what}; the last event id it had received "
                    f"was {last_id} (at {at(last_frame.vtime)})",
                    (last_frame.seq, attempt.exchange.request.seq),
                    attempt.vtime,
                )
    if not judged:
        raise NotApplicable("no event id was received before a later attempt to open the stream")


# -- a stream that says nothing ----------------------------------------------------------------------------------
@rule(
    "tradingpartners.sse.detects-missing-pings",
    severity="should",
    api=API,
    summary="Closes a stream on which nothing arrived for several ping intervals (pings stopped, the connection still "
    "open) and opens a new one.",
    cites=f'{SEED}: "Ping event is used to keep the connection alive" (every ping_interval, 15 s in the mock); '
    "a stream without pings is dead although TCP says nothing",
    params={"missed": 3.0, "within": 30.0, "tolerance": 1.0},
)
def detects_missing_pings(ev: Evidence, p: Params) -> Iterator[Finding]:
    interval = float(ev.options(API).get("ping_interval") or 15.0)
    limit, within, tolerance = float(p["missed"]) * interval, float(p["within"]), ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, attempts in _attempts(ev).items():
        for index, attempt in enumerate(attempts):
            session = attempt.session
            if session is None:
                continue
            end = session.end_entry
            stop = end.vtime if end is not None else ev.end
            marks = [session.start, *(f.vtime for f in _delivered(ev, session)), stop]
            quiet = [(a, b) for a, b in zip(marks, marks[1:], strict=False) if b - a > limit]
            if quiet or any(e.kind == "sse.suppressed" for e in session.entries):
                judged = True
            for start, stop_at in quiet:
                if stop_at - start <= limit + tolerance:
                    continue  # closed, ended or broken in time
                yield Finding(
                    f"{principal}'s stream {session.id} received nothing from {at(start)} to {at(stop_at)} "
                    f"({seconds(stop_at - start)}; pings every {interval:g} s) and the client kept it open: "
                    f"expected it closed by {at(start + limit)} and opened again",
                    (session.entries[0].seq, *((end.seq,) if end is not None and end.vtime == stop_at else ())),
                    start + limit,
                    Window(start + interval, start + limit, "close the silent stream"),
                )
            if end is None or end.data.get("by") != "client" or end.vtime - marks[-2] <= 1.5 * interval:
                continue  # not the client closing a stream that was missing pings
            judged = True  # its watchdog: did it open a new stream?
            following = attempts[index + 1] if index + 1 < len(attempts) else None
            deadline = end.vtime + within + tolerance
            if (following is None and _horizon(ev) > deadline) or (following is not None and following.vtime > deadline):
                what = f"only at {at(following.vtime)}" if following is not None else "never"
                yield Finding(
                    f"{principal} closed its stream {session.id} at {at(end.vtime)}, {seconds(end.vtime - marks[-2])} after its "
                    f"last frame, and opened a new one {what} (by {at(deadline)} expected)",
                    (end.seq, *((following.exchange.request.seq,) if following else ())),
                    end.vtime,
                    Window(end.vtime, deadline, "reconnect"),
                )
    if not judged:
        raise NotApplicable(f"no stream went {seconds(limit)} without a frame, and no ping was kept back")


# -- refusals ------------------------------------------------------------------------------------------------------
def _logins(ev: Evidence) -> dict[str, list[Exchange]]:
    """Successful logins, by the principal of the user who logged in (the request names no token)."""
    out: dict[str, list[Exchange]] = {}
    for x in ev.exchanges(API, method="POST", path=LOGIN):
        body = body_json(x.request.data.get("body"))
        if x.status == 200 and isinstance(body, dict) and isinstance(body.get("email"), str):
            out.setdefault(f"user:{body['email']}", []).append(x)
    return out


def _streaks(attempts: list[Attempt]) -> Iterator[list[Attempt]]:
    """Runs of refused attempts without Retry-After (402 ends the run: the stop rule's), each with the attempt after it."""
    streak: list[Attempt] = []
    for attempt in attempts:
        plain = attempt.refused and attempt.status != 402 and retry_after(attempt.exchange) is None
        if streak:
            streak.append(attempt)
            if not plain:
                yield streak
                streak = []
                continue
        elif plain:
            streak = [attempt]
    if len(streak) > 1:
        yield streak


@rule(
    "tradingpartners.sse.backs-off-on-refusal",
    severity="must",
    api=API,
    summary="When an attempt to open the stream is refused, waits as long as Retry-After says; without one, the gaps "
    "between refused attempts grow (x1.5 from 1 s, and never shrink) up to a cap.",
    cites='RFC 9110 §10.2.3 "Retry-After"; the SSE standard (WHATWG HTML §9.2.3): user agents "are encouraged to use '
    'exponential backoff" when reconnecting fails',
    params={"initial": 1.0, "factor": 1.5, "cap": 60.0, "slack": 0.2, "tolerance": 1.0},
)
def backs_off_on_refusal(ev: Evidence, p: Params) -> Iterator[Finding]:
    initial, factor, cap, slack = float(p["initial"]), float(p["factor"]), float(p["cap"]), float(p["slack"])
    tolerance = ev.tolerance(float(p["tolerance"]))
    logins = _logins(ev)
    judged = False
    for principal, attempts in _attempts(ev).items():
        for current, following in zip(attempts, attempts[1:], strict=False):
            wait = retry_after(current.exchange) if current.refused else None
            if wait is None:
                continue
            judged = True
            allowed = current.exchange.done + wait
            if following.vtime < allowed - tolerance:
                yield Finding(
                    f"{principal}'s attempt at {at(current.vtime)} was refused ({current.what}, Retry-After: {wait:g}); "
                    f"it tried again at {at(following.vtime)}, {seconds(allowed - following.vtime)} early",
                    current.exchange.seqs + following.exchange.seqs,
                    following.vtime,
                    Window(allowed, allowed + wait, "not before Retry-After"),
                )
        own = logins.get(principal, [])
        for streak in _streaks(attempts):
            previous: float | None = None
            excused = False
            for k, (a, b) in enumerate(zip(streak, streak[1:], strict=False)):
                gap = b.vtime - a.exchange.done
                if not excused and any(a.exchange.done <= x.vtime and x.done <= b.vtime for x in own):
                    excused = True  # logging in again after a refusal and trying at once is right, once
                    continue
                judged = True
                needed = min(cap, max(initial * factor**k, factor * previous if previous is not None else 0.0))
                previous = gap
                if gap < needed - ev.tolerance(slack * needed):
                    yield Finding(
                        f"{principal}'s attempt at {at(a.vtime)} was refused ({a.what}), the {_nth(k + 1)} refusal in a row; "
                        f"it tried again {seconds(gap)} later, at {at(b.vtime)}: at least {seconds(needed)} was due",
                        a.exchange.seqs + b.exchange.seqs,
                        b.vtime,
                        Window(a.exchange.done + needed, a.exchange.done + needed * factor, f"backoff x{factor:g}"),
                    )
                    break  # one finding a streak: the rest of a storm says the same
    if not judged:
        raise NotApplicable("no refused attempt to open the stream was followed by another")


def _nth(n: int) -> str:
    return f"{n}{'st' if n % 10 == 1 and n != 11 else 'nd' if n % 10 == 2 and n != 12 else 'rd' if n % 10 == 3 and n != 13 else 'th'}"


@rule(
    "tradingpartners.sse.stops-on-payment-required",
    severity="must",
    api=API,
    summary="After a 402 (the stream's last message when the credits run out, or an answer to an attempt), "
    "does not try to open the stream again.",
    cites="TradingPartners errors: 402 payment required; when a FULL user without auto-renewal spends the last "
    "credit, the payment-required error is the last message and the stream closes",
    params={"attempts": 0},
)
def stops_on_payment_required(ev: Evidence, p: Params) -> Iterator[Finding]:
    allowed = int(p["attempts"])
    judged = False
    for principal, attempts in _attempts(ev).items():
        told: tuple[float, tuple[int, ...]] | None = None
        for attempt in attempts:
            if attempt.session is not None and (frame := _payment_required(ev, attempt.session)) is not None:
                told = (frame.vtime, (frame.seq,))
                break
            if attempt.status == 402:
                told = (attempt.exchange.done, attempt.exchange.seqs)
                break
        if told is None:
            continue
        judged = True
        since, seqs = told
        again = [a for a in attempts if a.vtime > since]
        if len(again) > allowed:
            yield Finding(
                f"{principal} was told 402 (payment required) at {at(since)} and tried to open the stream "
                f"{len(again)} more time{'s' if len(again) > 1 else ''}, first at {at(again[0].vtime)} "
                f"(answered {again[0].what}; at most {allowed} expected)",
                seqs + tuple(a.exchange.request.seq for a in again[:5]),
                again[0].vtime,
            )
    if not judged:
        raise NotApplicable("no 402 was answered or sent on the stream")


# -- the token -----------------------------------------------------------------------------------------------------
def _expiry(token: str | None) -> float | None:
    """A JWT's ``exp`` (read without checking its signature: the server checked it)."""
    try:
        payload = (token or "").split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _issued(login: Exchange) -> str | None:
    """The token a login answered with."""
    body = login.json()
    return str(body["accessToken"]) if isinstance(body, dict) and body.get("accessToken") else None


def _bearer(exchange: Exchange) -> str | None:
    scheme, _, token = str((exchange.request.data.get("headers") or {}).get("authorization", "")).partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@rule(
    "tradingpartners.auth.relogin-on-401",
    severity="must",
    api=API,
    summary="When its token is refused (401: expired, code 12, or invalid), logs in again (POST /api/v1/users/login) "
    "and never uses the refused token again.",
    cites="TradingPartners login: the accessToken expires (expiresIn, 86400 s) and there is no refresh endpoint: "
    "log in again; errors: 401 code 12 session expired",
    params={"within": 60.0, "tolerance": 1.0},
)
def relogin_on_401(ev: Evidence, p: Params) -> Iterator[Finding]:
    within, tolerance = float(p["within"]), ev.tolerance(float(p["tolerance"]))
    logins = _logins(ev)
    judged = False
    for principal, xs in by_principal(ev.exchanges(API)).items():
        if principal is None:
            continue
        if any(ev.start < (_expiry(_bearer(x)) or 0.0) < ev.end for x in xs):
            judged = True  # a token it used expired during the run (a client may log in again before it is refused)
        refused_tokens: set[str] = set()
        for refused in (x for x in xs if x.status == 401 and x.path != LOGIN):
            token = _bearer(refused)
            if token is None or token in refused_tokens:
                continue
            refused_tokens.add(token)
            judged = True
            login = next((x for x in logins.get(principal, []) if x.vtime >= refused.done), None)
            deadline = refused.done + within + tolerance
            if (login is None and _horizon(ev) > deadline) or (login is not None and login.vtime > deadline):
                when = f"only at {at(login.vtime)}" if login is not None else "never"
                yield Finding(
                    f"{principal}'s token was refused ({refused.status}) at {at(refused.done)}; it logged in again {when} "
                    f"(by {at(deadline)} expected)",
                    refused.seqs + (login.seqs if login is not None else ()),
                    refused.done,
                    Window(refused.done, deadline, "log in again"),
                )
            # (a login that handed the same token out again, within the same second, makes it the client's to use)
            given = min((x.done for x in logins.get(principal, []) if x.vtime >= refused.done and _issued(x) == token), default=None)
            reused = [x for x in xs if x.vtime > refused.done and _bearer(x) == token and (given is None or x.vtime < given)]
            if reused:
                yield Finding(
                    f"{principal} went on with the token refused at {at(refused.done)}: {len(reused)} more request"
                    f"{'s' if len(reused) > 1 else ''} with it, the first at {at(reused[0].vtime)} ({reused[0].method} {reused[0].path})",
                    refused.seqs + tuple(x.request.seq for x in reused[:5]),
                    reused[0].vtime,
                )
    if not judged:
        raise NotApplicable("no token was refused and none expired during the run")


# -- what the client did with the events (MOCK_OBSERVE) ------------------------------------------------------------
def _lifecycle_events(ev: Evidence) -> list[tuple[object, str, Entry]]:
    """Every alert event sent to a client whole: (alert id, event type, frame)."""
    out = []
    for session in ev.sessions(API, transport="sse"):
        for frame in _delivered(ev, session):
            text = str(frame.data.get("text", ""))
            event = _field(text, "event")
            data = body_json(_field(text, "data"))
            if event in RANK and isinstance(data, dict) and "id" in data:
                out.append((data["id"], str(event), frame))
    return out


def _processed(ev: Evidence) -> list[tuple[object, str, Entry]]:
    """What the client said it processed: (alert id, event type, observation)."""
    out = []
    for entry in ev.observations(API):
        line = entry.data.get("line") or {}
        if entry.data.get("kind") == "processed" and "id" in entry.data and line.get("event") in RANK:
            out.append((entry.data["id"], str(line["event"]), entry))
    return out


@rule(
    "tradingpartners.sse.lifecycle-order",
    severity="should",
    api=API,
    summary="Processes each alert's events in lifecycle order (working, then onGoing, then closed; or working, then "
    'aborted), even when the stream delivers them out of order (it says what it processed on MOCK_OBSERVE, with "event").',
    cites=f'{SEED}: "working: an alert that has just been detected", "onGoing: an alert that has started", '
    '"closed: closure of an alert", "aborted: an alert that has been invalidated"',
    observes=True,
)
def lifecycle_order(ev: Evidence, p: Params) -> Iterator[Finding]:
    sent: dict[object, set[str]] = {}
    for alert, event, _frame in _lifecycle_events(ev):
        sent.setdefault(alert, set()).add(event)
    if not any(len(events) > 1 for events in sent.values()):
        raise NotApplicable("no alert had more than one of its events sent")
    if not ev.observed:
        raise Inconclusive("the client wrote nothing to MOCK_OBSERVE: in which order it processed the events is unknown")
    latest: dict[object, tuple[str, Entry]] = {}
    for alert, event, entry in _processed(ev):
        before = latest.get(alert)
        if before is not None and RANK[event] < RANK[before[0]]:
            yield Finding(
                f"alert {alert}: {event} was processed at {at(entry.vtime)}, after {before[0]} (at {at(before[1].vtime)})",
                (before[1].seq, entry.seq),
                entry.vtime,
            )
        if before is None or RANK[event] >= RANK[before[0]]:
            latest[alert] = (event, entry)


@rule(
    "tradingpartners.sse.ignores-duplicates",
    severity="should",
    api=API,
    summary='Processes each event once, even when the stream delivers it again (it says what it processed on MOCK_OBSERVE, with "event").',
    cites=f"{SEED}: an alert's events are working, aborted, onGoing, closed, once each; \"token - ID of the credit "
    'used": acting twice on onGoing or closed trades twice',
    observes=True,
)
def ignores_duplicates(ev: Evidence, p: Params) -> Iterator[Finding]:
    counts: dict[tuple[object, str], int] = {}
    for alert, event, _frame in _lifecycle_events(ev):
        counts[(alert, event)] = counts.get((alert, event), 0) + 1
    if not any(n > 1 for n in counts.values()):
        raise NotApplicable("no event was delivered twice")
    if not ev.observed:
        raise Inconclusive("the client wrote nothing to MOCK_OBSERVE: which events it processed is unknown")
    seen: dict[tuple[object, str], Entry] = {}
    for alert, event, entry in _processed(ev):
        first = seen.get((alert, event))
        if first is not None:
            yield Finding(
                f"alert {alert}: {event} was processed twice, at {at(first.vtime)} and again at {at(entry.vtime)}",
                (first.seq, entry.seq),
                entry.vtime,
            )
        else:
            seen[(alert, event)] = entry
