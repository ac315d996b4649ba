"""TradeReady's ``/ws/v1``: pongs, subscriptions kept across reconnects, backoff, auth failures, stale sockets, the firehose.

The seed is the TradeReady SDK page "WebSocket Client" (``AgentExchangeWS``): its "Auto-Reconnect
Behavior" and "Heartbeat Protocol" lists are the rules' sources; the numbers the seed leaves out
(the pong deadline, what an authentication failure looks like on the wire) come from the server
(reference: 30 s pings, 10 s to answer; a bad key's handshake answered 403). A client's
connections are the WebSocket sessions its key names (``key:<name>``); a handshake refused by a
TCP ``refuse`` fault has no key and counts as the run's client's (``conn.refused``).

Each failure condition belongs to one rule: a session that sends no subscribe at all is
``subscribes``' (``resubscribes`` judges only sessions that subscribed to something); attempts
after an authentication failure are ``stops-on-auth-failure``'s (``reconnects-with-backoff``
stops at the first); a late pong on a session whose frames the server had to drop, because the
client did not read them, is ``keeps-up``'s; reconnecting after the client's own watchdog close
is ``detects-stale``'s.
"""

from __future__ import annotations

from collections.abc import Iterator

from mockserver.core.catalogue import WS_DROPPED, WS_OVERFLOW

from ..evidence import Evidence
from ..model import Finding, Window
from ..registry import Inconclusive, NotApplicable, NotChosen, Params, rule
from ._shared import at, seconds
from ._tradeready import API, Conn, keys, next_attempt, run_of, seqs, who

__all__: list[str] = []

SEED = "TradeReady SDK docs (WebSocket Client)"


# -- the rules -------------------------------------------------------------------------------------------
@rule(
    "tradeready.ws.answers-pings",
    severity="must",
    api=API,
    summary='Answers every {"type":"ping"} with the profile\'s pong on the same connection before the server\'s pong deadline.',
    cites=f'{SEED}: "Server sends: {{"type": "ping"}} / Client responds: {{"type": "pong"}}"; the server waits 10 s '
    'for the pong (upstream: {"action":"pong"} only), then closes 1000',
    params={"within": 10.0, "tolerance": 1.0},
)
def answers_pings(ev: Evidence, p: Params) -> Iterator[Finding]:
    run = run_of(ev)
    deadline = min(float(p["within"]), float(run.settings.get("pong_timeout") or p["within"]))
    tolerance = ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, conns in run.by_principal.items():
        for conn in conns:
            if conn.dropped:
                continue  # the server dropped frames the client did not read: a late pong there is keeps-up's finding
            pongs = [entry for entry, frame in conn.inbound if run.is_pong(frame)]
            for ping, frame in conn.outbound:
                if frame != {"type": "ping"}:
                    continue
                due = ping.vtime + deadline
                timed_out = next((e for e in conn.pong_timeouts if e.vtime >= ping.vtime), None)
                if timed_out is None and min(conn.end_time or run.stop, run.stop) < due:
                    continue  # the connection ended (or the run stopped) before the pong was due
                judged = True
                if any(ping.vtime <= pong.vtime <= due + tolerance for pong in pongs):
                    continue
                said = [e for e, f in conn.inbound if ping.vtime <= e.vtime <= due + tolerance and isinstance(f, dict)]
                wrong = [e for e in said if '"pong"' in str(e.data.get("text"))]
                instead = (
                    f"; it sent {wrong[0].data.get('text')} instead, which the {run.profile} server does not take as a pong"
                    if wrong
                    else ""
                )
                closed = f"; the server closed the connection at {at(timed_out.vtime)} (pong timeout)" if timed_out is not None else ""
                yield Finding(
                    f"{who(principal)} got a ping at {at(ping.vtime)} on {conn.id} and sent no pong within {deadline:g} s{instead}{closed}",
                    (ping.seq, *(e.seq for e in wrong[:1]), *((timed_out.seq,) if timed_out is not None else ())),
                    ping.vtime,
                    Window(ping.vtime, due, "pong"),
                )
    if not judged:
        raise NotApplicable("no ping reached a client whose connection stayed open until the pong was due")


@rule(
    "tradeready.ws.subscribes",
    severity="must",
    api=API,
    summary="Sends its subscribe frames right after each connection is accepted (within 10 s), first connection and reconnects alike.",
    cites=f'{SEED}: "Register handlers before calling connect()"; "All channel subscriptions are re-sent to the server '
    'after reconnect" (the server sends no data before a subscribe)',
    params={"within": 10.0, "tolerance": 1.0},
)
def subscribes(ev: Evidence, p: Params) -> Iterator[Finding]:
    run = run_of(ev)
    within, tolerance = float(p["within"]), ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, conns in run.by_principal.items():
        for conn in conns:
            if conn.accepted is None:
                continue
            due = conn.accepted + within + tolerance
            first = next((e for e, f in conn.inbound if isinstance(f, dict) and f.get("action") == "subscribe"), None)
            if first is not None and first.vtime <= due:
                judged = True
                continue
            if min(conn.end_time or run.stop, run.stop) < due:
                continue  # too short a connection to tell
            judged = True
            what = f"subscribed only at {at(first.vtime)}" if first is not None else "sent no subscribe frame"
            yield Finding(
                f"{who(principal)}'s connection {conn.id} was accepted at {at(conn.accepted)} and {what} "
                f"(within {within:g} s expected); {conn.id} was {conn.describe_end()}"
                + (f" at {at(conn.end.vtime)}" if conn.end is not None else ""),
                (conn.entries[0].seq, *((first.seq,) if first is not None else ())),
                conn.accepted,
                Window(conn.accepted, conn.accepted + within, "subscribe"),
            )
    if not judged:
        raise NotApplicable("no connection was accepted long enough to subscribe")


@rule(
    "tradeready.ws.resubscribes",
    severity="must",
    api=API,
    summary="After a reconnect, re-sends every subscription that was active (subscribed, not unsubscribed) on the "
    "connection before, within 10 s of the new one's accept.",
    cites=f'{SEED}: "All channel subscriptions are re-sent to the server after reconnect"',
    params={"within": 10.0, "tolerance": 1.0},
)
def resubscribes(ev: Evidence, p: Params) -> Iterator[Finding]:
    run = run_of(ev)
    within, tolerance = float(p["within"]), ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, conns in run.by_principal.items():
        # connections that ended and were not yet followed by another: (its end, it, what was active on it, by seq)
        ended: list[tuple[float, Conn, dict[str, int]]] = []
        for conn in conns:
            if conn.accepted is None:
                continue
            # the connection this one replaces: the latest to end before it opened (a parallel one replaces none)
            before = max((item for item in ended if item[0] <= conn.start), key=lambda item: item[0], default=None)
            if before is not None:
                ended.remove(before)
            intended = dict(before[2]) if before is not None else {}
            ops = run.subscriptions(conn)
            due = conn.accepted + within + tolerance
            subscribed_any = any(f.get("action") == "subscribe" for _e, f in conn.inbound if isinstance(f, dict))
            if before is not None and intended and subscribed_any and min(conn.end_time or run.stop, run.stop) >= due:
                judged = True
                early = [(e, action, key) for e, action, key in ops if e.vtime <= due]
                sent = {key for _e, action, key in early if action == "subscribe"}
                dropped = {key for _e, action, key in early if action == "unsubscribe"}
                missing = set(intended) - sent - dropped
                if missing:
                    yield Finding(
                        f"{who(principal)} reconnected ({conn.id}, accepted at {at(conn.accepted)}) and re-subscribed to "
                        f"{keys(sent)} within {within:g} s; missing {keys(missing)}, active on {before[1].id}",
                        tuple(sorted(intended[k] for k in missing))[:5] + tuple(e.seq for e, _a, _k in early)[:5],
                        conn.accepted,
                        Window(conn.accepted, conn.accepted + within, "re-subscribe"),
                    )
            for entry, action, key in ops:
                if action == "subscribe":
                    intended.setdefault(key, entry.seq)
                else:
                    intended.pop(key, None)
            if conn.end_time is not None:
                ended.append((conn.end_time, conn, intended))
    if not judged:
        raise NotApplicable("no reconnect after a connection with subscriptions")


@rule(
    "tradeready.ws.reconnects-with-backoff",
    severity="must",
    api=API,
    summary="After the server closes, resets or refuses a connection (not an authentication failure), connects again "
    "within the 60 s cap, and spaces failing attempts exponentially: 1 s, 2 s, 4 s ... 60 s.",
    cites=f'{SEED}: "The client reconnects automatically on disconnection: Exponential backoff: 1s -> 2s -> 4s -> 8s -> ... '
    '-> 60s maximum"',
    params={"base": 1.0, "factor": 2.0, "cap": 60.0, "slack": 0.25, "tolerance": 1.0},
)
def reconnects_with_backoff(ev: Evidence, p: Params) -> Iterator[Finding]:
    run = run_of(ev)
    base, factor, cap, slack = float(p["base"]), float(p["factor"]), float(p["cap"]), float(p["slack"])
    tolerance = ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, conns in run.by_principal.items():
        attempts = []
        for conn in conns:
            attempts.append(conn)
            if conn.auth_failure:
                break  # what follows an authentication failure is stops-on-auth-failure's
        streak = 0  # failed attempts in a row, up to this one
        reported = False  # one finding per streak: its first attempt that came too soon
        for conn in attempts:
            ended = conn.end_time
            if ended is None or conn.auth_failure or ended >= run.stop:
                continue
            following = next_attempt(attempts, conn, ended)
            streak, reported = (0, False) if conn.worked else (streak + 1, reported)
            # the first retry of an outage waits `base`, each further failure `factor` times longer
            expected = min(cap, base * factor ** max(streak - 1, 0))
            if conn.ended_by in ("server", "fault"):  # it must come back, at the latest after the cap
                latest = ended + cap + tolerance
                if (following.start if following is not None else run.stop) > latest:
                    judged = True
                    when = f"only at {at(following.start)}" if following is not None else "never"
                    yield Finding(
                        f"{who(principal)}'s connection {conn.id} was {conn.describe_end()} at {at(ended)}; "
                        f"it connected again {when} (within {cap:g} s expected)",
                        seqs(conn.end, following),
                        ended,
                        Window(ended, ended + cap, "reconnect"),
                    )
                    continue
            if following is None:
                continue
            judged = True
            gap = following.start - ended
            if gap < expected * (1 - slack) - tolerance and not reported:
                reported = True
                yield Finding(
                    f"{who(principal)}'s connection {conn.id} was {conn.describe_end()} at {at(ended)}"
                    + (f" ({streak} failed attempts in a row)" if streak > 1 else "")
                    + f"; it connected again {seconds(gap)} later ({following.id}), about {seconds(expected)} was due "
                    f"(backoff from {base:g} s, x{factor:g} per failed attempt, at most {cap:g} s)",
                    seqs(conn.end, following),
                    following.start,
                    Window(ended + expected * (1 - slack), ended + expected * (1 + slack), f"backoff {seconds(expected)}"),
                )
    if not judged:
        raise NotApplicable("no connection ended on the server's side before the run stopped")


@rule(
    "tradeready.ws.stops-on-auth-failure",
    severity="must",
    api=API,
    summary="Once a handshake is refused for its key (HTTP 401/403, or a close 4401), stops connecting: "
    "at most a couple of attempts with that key in all.",
    cites=f'{SEED}: "An AuthenticationError (invalid API key) stops reconnection permanently"; the server answers a '
    "bad key's handshake with HTTP 403 (the SDK raises AuthenticationError, code INVALID_API_KEY)",
    params={"attempts": 2},
)
def stops_on_auth_failure(ev: Evidence, p: Params) -> Iterator[Finding]:
    run = run_of(ev)
    allowed = int(p["attempts"])
    judged = False
    for principal, conns in run.by_principal.items():
        first = next((c for c in conns if c.auth_failure), None)
        if first is None:
            continue
        judged = True
        tried = [c for c in conns if c.start >= first.start]
        if len(tried) > allowed:
            extra = tried[allowed:]
            assert first.end is not None
            yield Finding(
                f"{who(principal)}'s connection {first.id} was {first.describe_end()} at {at(first.start)}: its key was "
                f"refused; it went on connecting with it, {len(tried)} attempts from then on, the last at {at(tried[-1].start)} "
                f"(at most {allowed} in all expected)",
                (first.end.seq, *(c.entries[0].seq for c in extra[:5] if c.entries)),
                extra[0].start,
                Window(first.start, run.stop, "no more attempts"),
            )
    if not judged:
        raise NotApplicable("no handshake was refused as an authentication failure")


@rule(
    "tradeready.ws.detects-stale",
    severity="must",
    api=API,
    summary="When nothing at all arrives on a connection for 40 s, closes it itself and connects again (within the 60 s cap).",
    cites=f'{SEED}: "If no message is received for 40 seconds, the client closes the stale connection and reconnects"',
    params={"silence": 40.0, "reconnect": 60.0, "tolerance": 5.0},
)
def detects_stale(ev: Evidence, p: Params) -> Iterator[Finding]:
    run = run_of(ev)
    silence, again, tolerance = float(p["silence"]), float(p["reconnect"]), ev.tolerance(float(p["tolerance"]))
    judged = False
    for principal, conns in run.by_principal.items():
        for conn in conns:
            if conn.accepted is None:
                continue
            stop = min(conn.end_time or run.stop, run.stop)
            times = [conn.accepted, *(t for t in conn.delivered if t < stop), stop]
            gap = next(((a, b) for a, b in zip(times, times[1:], strict=False) if b - a > silence + tolerance), None)
            end = conn.end
            if gap is None:
                last = times[-2]
                if end is None or conn.ended_by != "client" or end.vtime >= run.stop or end.vtime - last < silence - tolerance:
                    continue
                judged = True  # the client closed a connection silent for 40 s: did it come back?
                following = next_attempt(conns, conn, end.vtime)
                latest = end.vtime + again + tolerance
                if (following.start if following is not None else run.stop) <= latest:
                    continue
                when = f"only at {at(following.start)}" if following is not None else "never"
                yield Finding(
                    f"{who(principal)} closed the silent connection {conn.id} at {at(end.vtime)} and connected again {when} "
                    f"(within {again:g} s expected)",
                    seqs(end, following),
                    end.vtime,
                    Window(end.vtime, end.vtime + again, "reconnect"),
                )
                continue
            last, until = gap
            due = last + silence + tolerance
            judged = True
            resumed = f"; it was still open when frames came again at {at(until)}" if until < stop else ""
            yield Finding(
                f"{who(principal)}'s connection {conn.id} received nothing from {at(last)} on; it was still open "
                f"{seconds(due - last)} later (closed and reconnected after {silence:g} s of silence expected){resumed}",
                tuple(e.seq for e in conn.entries if e.vtime <= last)[-1:] + ((end.seq,) if end is not None else ()),
                due,
                Window(last + silence, due, "close the stale connection"),
            )
    if not judged:
        raise NotApplicable(f"no connection went {silence:g} s without a frame")


@rule(
    "tradeready.ws.keeps-up",
    severity="should",
    api=API,
    summary="Reads the ticker:all firehose as fast as it comes: the server drops (almost) none of its frames and never "
    "closes it as a slow consumer (1013). Graded at x1 only.",
    cites=f'{SEED}: "The \\"all\\" wildcard generates very high message volume (600+ pairs x tick frequency)"; '
    "the server's per-connection queue drops the oldest ticker frames of a client that does not read them",
    params={"max_dropped": 0.01, "max_speed": 1.0},
)
def keeps_up(ev: Evidence, p: Params) -> Iterator[Finding]:
    run = run_of(ev)
    share, max_speed = float(p["max_dropped"]), float(p["max_speed"])
    firehose = [
        (principal, conn)
        for principal, conns in run.by_principal.items()
        for conn in conns
        if any(key == "ticker:all" and action == "subscribe" for _e, action, key in run.subscriptions(conn))
    ]
    if not firehose:
        raise NotChosen("no connection subscribed to ticker:all (a client's choice: the rule grades those that do)")
    if not 0 < ev.speed <= max_speed:
        raise Inconclusive(
            f"graded at up to x{max_speed:g} only; this run was at x{ev.speed:g}, where the firehose is that many times "
            "as dense in real time (run the scenario with --speed 1)"
        )
    for principal, conn in firehose:
        overflow = [e for e in conn.dropped if e.kind == WS_OVERFLOW.name]
        dropped = [e for e in conn.dropped if e.kind == WS_DROPPED.name]
        meant = max(conn.broadcasts, 1)
        if overflow or len(dropped) > share * meant:
            first = (overflow or dropped)[0]
            what = f"dropped {len(dropped)} of the {conn.broadcasts} market frames meant for it ({len(dropped) / meant:.1%})"
            if overflow:
                what += " and closed it as a slow consumer (1013)"
            late = "; pongs waited behind the backlog" if conn.pong_timeouts else ""
            yield Finding(
                f"{who(principal)} did not keep up on {conn.id}: the server {what}, the first at {at(first.vtime)}, "
                f"because the client did not read them (at most {share:.0%} tolerated){late}",
                tuple(e.seq for e in (overflow + dropped)[:5]),
                first.vtime,
            )
