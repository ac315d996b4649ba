"""Cryptorobot: a Feathers v5 API over Socket.IO (and a REST mirror), from its realtime guide.

A connection is an Engine.IO session; a call is an EVENT packet named after the method with the
service path first (``create authentication {strategy, ...}`` logs in). Who a connection is comes
from its ``sio.login``; a connection nobody authenticated belongs to the client under test (one
client per run). Timing parameters are virtual seconds, with the run's real-time floor.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from mockserver.core.clock import format_instant

from ..evidence import Evidence, Exchange
from ..model import Finding, Window
from ..registry import NotApplicable, Params, rule
from ._shared import at, retry_after, seconds
from ._socketio import AUTH, READS, Call, Connection, connections

__all__: list[str] = []

API = "cryptorobot"
GUIDE = "Cryptorobot realtime guide"
SOCKET_IO = "socket.io-client's defaults: reconnectionDelay 1 s, doubling to reconnectionDelayMax 5 s, randomization 0.5"


def _rest(ev: Evidence) -> list[Exchange]:
    """The REST mirror's requests (not Engine.IO's long-polling)."""
    return [x for x in ev.exchanges(API) if not x.path.startswith("/socket.io")]


def _is_rest_auth(x: Exchange) -> bool:
    return x.path.strip("/").split("/")[0] == AUTH


@rule(
    "cryptorobot.sio.authenticates-first",
    severity="must",
    api=API,
    summary="Authenticates a connection before it calls any other service on it; REST requests carry their credentials.",
    cites=f"{GUIDE}: \"await client.authenticate({{strategy: 'local', ...}})\" comes first; "
    '"By default, you receive events for resources you own ... Authentication handles channel membership"',
)
def authenticates_first(ev: Evidence, p: Params) -> Iterator[Finding]:
    judged = False
    for conn in connections(ev, API):
        first_login = conn.logins[0].seq if conn.logins else None
        early = [c for c in conn.calls if not c.is_auth and (first_login is None or c.request.seq < first_login)]
        judged = judged or bool(conn.calls)
        if early:
            first = early[0]
            error = first.error or {}
            answer = f" (answered {error.get('name')} {error.get('message')!r})" if error else ""
            yield Finding(
                f"{conn.id}: called {first.describe()} at {at(first.vtime)} before the connection was authenticated{answer}; "
                f"{len(early)} call(s) before authentication in all",
                tuple(s for c in early[:5] for s in c.seqs),
                first.vtime,
            )
    for x in _rest(ev):
        judged = True
        headers = x.request.data.get("headers") or {}
        if not _is_rest_auth(x) and not headers.get("authorization"):
            yield Finding(f"{x.method} {x.path} at {at(x.vtime)} carried no Authorization header (answered {x.status})", x.seqs, x.vtime)
    if not judged:
        raise NotApplicable("the client called no service")


def _instant(vtime: float) -> str:
    return format_instant(vtime, precision="s")


def _lost_authenticated(conns: list[Connection], stop: float) -> bool:
    return any(c.logins and c.lost(stop) for c in conns)


@rule(
    "cryptorobot.sio.reauthenticates-after-reconnect",
    severity="must",
    api=API,
    summary="On every new connection after a lost one, re-authenticates at once with its stored JWT (strategy jwt) "
    "while that token is still valid.",
    cites=f'{GUIDE}: "The client SDK automatically re-authenticates after reconnection using the stored JWT token."',
    params={"within": 10.0, "tolerance": 2.0},
)
def reauthenticates_after_reconnect(ev: Evidence, p: Params) -> Iterator[Finding]:
    within, tolerance = float(p["within"]), ev.tolerance(float(p["tolerance"]))
    conns, stop = connections(ev, API), ev.stopped
    logins = [e for e in ev.of(API, "sio.login")]
    judged = False
    for conn in conns:
        prior = [e for e in logins if e.seq < conn.first_seq]
        after_loss = any(c.logins and c.lost(stop) and c.end is not None and c.end.seq < conn.first_seq for c in conns)
        if not prior or not after_loss or conn.connected is None or float(prior[-1].data["exp"]) <= conn.connected.vtime:
            continue  # no authenticated connection lost before it, never established, or the token expired (relogin's business)
        token = prior[-1]
        opened = conn.connected.vtime
        auth = next((c for c in conn.calls if c.is_auth), None)
        handshake = conn.logins[0] if conn.logins and (auth is None or conn.logins[0].seq < auth.request.seq) else None
        first = handshake.vtime if handshake is not None else (auth.vtime if auth is not None else None)
        if first is None and conn.until(stop) - opened <= within + tolerance:
            continue  # it did not live long enough to be judged
        judged = True
        window = Window(opened, opened + within, "re-authenticate")
        if first is None:
            yield Finding(
                f"{conn.id} connected at {at(opened)} after a lost connection and never re-authenticated "
                f"(it lived {seconds(conn.until(stop) - opened)}; its JWT was valid until {_instant(float(token.data['exp']))})",
                (token.seq, conn.connected.seq),
                opened,
                window,
            )
        elif first - opened > within + tolerance:
            yield Finding(
                f"{conn.id} connected at {at(opened)} and re-authenticated only at {at(first)}, {seconds(first - opened)} later "
                f"(within {within:g} s expected)",
                (conn.connected.seq, handshake.seq if handshake is not None else auth.request.seq),  # type: ignore[union-attr]
                first,
                window,
            )
        elif handshake is None and auth is not None and auth.strategy != "jwt":
            yield Finding(
                f"{conn.id} re-authenticated at {at(auth.vtime)} with strategy {auth.strategy!r} although its stored JWT "
                f"(journal seq {token.seq}) was valid until {_instant(float(token.data['exp']))}: expected strategy 'jwt' with that token",
                (token.seq, *auth.seqs),
                auth.vtime,
            )
    if not judged and not _lost_authenticated(conns, stop):
        raise NotApplicable("no authenticated connection was lost")


@rule(
    "cryptorobot.sio.reconnects",
    severity="must",
    api=API,
    summary="After a connection is lost (transport closed or reset, pings withheld, server disconnect, handshake refused), "
    "connects again within 30 s.",
    cites=f'{GUIDE}: "Always implement reconnection logic. Network interruptions are normal in long-lived connections."',
    params={"within": 30.0, "tolerance": 2.0},
)
def reconnects(ev: Evidence, p: Params) -> Iterator[Finding]:
    within, tolerance = float(p["within"]), ev.tolerance(float(p["tolerance"]))
    conns, stop = connections(ev, API), ev.stopped
    judged = False
    for index, conn in enumerate(conns):
        if not conn.lost(stop):
            continue
        assert conn.end is not None
        lost = conn.end.vtime
        others = [c for c in conns if c is not conn and c.connected is not None and c.start < lost and c.until(stop) > lost]
        if others:
            continue  # the client still had a connection
        following = next((c for c in conns[index + 1 :] if c.first_seq > conn.end.seq), None)
        if following is None and stop - lost <= within + tolerance:
            continue  # the run ended too soon to tell
        judged = True
        if following is None or following.start - lost > within + tolerance:
            how = f"connected again only at {at(following.start)}" if following is not None else "never connected again"
            yield Finding(
                f"{conn.id} was lost at {at(lost)} ({conn.cause}); the client {how} (within {within:g} s expected)",
                (conn.end.seq, following.first_seq) if following is not None else (conn.end.seq,),
                lost,
                Window(lost, lost + within, "reconnect"),
            )
    if not judged and not any(c.lost(stop) for c in conns):
        raise NotApplicable("no connection was lost")


@rule(
    "cryptorobot.sio.reconnect-backoff",
    severity="must",
    api=API,
    summary="Spaces its connection attempts: at most 20 Engine.IO handshakes in any 60 s.",
    cites=f'{SOCKET_IO} (at most about 15 attempts a minute); {GUIDE}: "Always implement reconnection logic"',
    params={"max_attempts": 20, "window": 60.0},
)
def reconnect_backoff(ev: Evidence, p: Params) -> Iterator[Finding]:
    limit, window = int(p["max_attempts"]), float(p["window"])
    conns, stop = connections(ev, API), ev.stopped
    if not any(c.lost(stop) for c in conns):
        raise NotApplicable("no connection was lost")
    starts = [c for c in conns if c.start <= stop]
    index = 0
    while index < len(starts):
        first = starts[index]
        burst = [c for c in starts[index:] if c.start < first.start + window]
        if len(burst) > limit:
            last = burst[-1]
            yield Finding(
                f"{len(burst)} connection attempts from {at(first.start)} to {at(last.start)}, within {seconds(window)} "
                f"(at most {limit}): the gaps between attempts must grow, as socket.io-client's 1 s doubling to 5 s do",
                tuple(c.first_seq for c in burst[:: max(1, len(burst) // 8)]),
                last.start,
                Window(first.start, first.start + window, f"at most {limit} attempts"),
            )
            index += len(burst)
        else:
            index += 1


@rule(
    "cryptorobot.jwt.relogin-after-expiry",
    severity="must",
    api=API,
    summary="When the server disconnects it because its JWT expired, connects again and logs in with its credentials "
    "(strategy local) within 30 s, retrying the dead token at most twice.",
    cites='Feathers disconnects a connection when its JWT expires; the token then answers NotAuthenticated "jwt expired" '
    "(Cryptorobot errors guide); only a new login (strategy local) gives a new one",
    params={"within": 30.0, "tolerance": 2.0, "max_retries": 2},
)
def relogin_after_expiry(ev: Evidence, p: Params) -> Iterator[Finding]:
    within, tolerance, retries = float(p["within"]), ev.tolerance(float(p["tolerance"])), int(p["max_retries"])
    stop = ev.stopped
    expiries = ev.of(API, "sio.jwt_expired")
    if not expiries:
        raise NotApplicable("no JWT expired during the run")
    calls = [c for conn in connections(ev, API) for c in conn.calls if c.is_auth]
    logins = ev.of(API, "sio.login")
    for expired in expiries:
        user = expired.data.get("user")
        login = next((e for e in logins if e.seq > expired.seq and e.data.get("user") == user and e.data.get("strategy") == "local"), None)
        end = login.vtime if login is not None else stop
        dead = [c for c in calls if expired.seq < c.request.seq and c.vtime <= end and c.strategy == "jwt" and c.error is not None]
        window = Window(expired.vtime, expired.vtime + within, "log in again")
        if login is None and stop - expired.vtime <= within + tolerance:
            continue  # the run ended too soon to tell
        if login is None or login.vtime - expired.vtime > within + tolerance:
            how = f"logged in again (strategy local) only at {at(login.vtime)}" if login is not None else "never logged in again"
            retried = f"; it retried the dead token {len(dead)} times" if dead else ""
            yield Finding(
                f"{user}'s JWT expired at {at(expired.vtime)} and the server disconnected it; it {how} "
                f"(within {within:g} s expected){retried}",
                (expired.seq, *(c.request.seq for c in dead[:5]), *((login.seq,) if login is not None else ())),
                expired.vtime,
                window,
            )
        elif len(dead) > retries:
            yield Finding(
                f"{user}'s JWT expired at {at(expired.vtime)}; it retried the dead token {len(dead)} times "
                f"(at most {retries}) before logging in again at {at(login.vtime)}",
                (expired.seq, *(c.request.seq for c in dead[:5]), login.seq),
                dead[retries].vtime,
                window,
            )


def _refusal(call: Call) -> float | None:
    """A TooManyRequests answer's retryAfter (seconds), or None."""
    error = call.error or {}
    data = error.get("data")
    if error.get("name") == "TooManyRequests" and isinstance(data, dict) and isinstance(data.get("retryAfter"), int | float):
        return float(data["retryAfter"])
    return None


@rule(
    "cryptorobot.plan.respects-limits",
    severity="must",
    api=API,
    summary="Stays within its plan: no more authenticated sockets than it allows, no more calls in a minute, "
    "and nothing before a TooManyRequests answer's retryAfter has passed.",
    cites="Cryptorobot errors guide: requests a minute and concurrent WebSocket connections per plan "
    "(Free 60 / 1, Pro 300 / 5, Enterprise 1000 / 25); 429 TooManyRequests with Retry-After",
    params={"tolerance": 1.0},
)
def respects_limits(ev: Evidence, p: Params) -> Iterator[Finding]:
    tolerance = ev.tolerance(float(p["tolerance"]))
    plans: dict[str, Any] = ev.options(API).get("plans") or {}
    # (vtime, seqs, retryAfter or None, what) of every call that counts, per principal
    counted: dict[str, list[tuple[float, tuple[int, ...], float | None, str]]] = defaultdict(list)
    judged = False
    for conn in connections(ev, API):
        for call in conn.calls:
            principal = call.request.principal
            if call.is_auth:
                error = call.error or {}
                if error.get("name") == "TooManyRequests":
                    judged = True
                    limit = (error.get("data") or {}).get("limit")
                    yield Finding(
                        f"{conn.id} authenticated at {at(call.vtime)} while the plan's {limit} socket(s) were in use: "
                        f"answered TooManyRequests {error.get('message')!r}",
                        call.seqs,
                        call.vtime,
                    )
                continue
            if principal is not None:
                counted[principal].append((call.vtime, call.seqs, _refusal(call), call.describe()))
    for x in _rest(ev):
        if x.principal is not None and not _is_rest_auth(x):
            wait = retry_after(x) if x.status == 429 else None
            counted[x.principal].append((x.vtime, x.seqs, wait, f"{x.method} {x.path}"))
    for principal, calls in counted.items():
        calls.sort()
        judged = True
        rate = int((plans.get(principal) or {}).get("requests_per_minute") or 0)
        plan = (plans.get(principal) or {}).get("plan", "?")
        if rate:
            for index, (vtime, _seqs, _wait, _what) in enumerate(calls):
                window = [c for c in calls[: index + 1] if c[0] > vtime - (60.0 - tolerance)]
                if len(window) > rate:
                    yield Finding(
                        f"{principal} sent {len(window)} calls within a minute, from {at(window[0][0])} to {at(vtime)} "
                        f"(its {plan} plan allows {rate})",
                        tuple(s for c in window[:: max(1, len(window) // 6)] for s in c[1]),
                        vtime,
                        Window(window[0][0], window[0][0] + 60.0, f"at most {rate} calls"),
                    )
                    break
        for index, (vtime, seqs, wait, what) in enumerate(calls):
            if wait is None:
                continue
            allowed = vtime + wait
            early = [c for c in calls[index + 1 :] if c[0] < allowed - tolerance]
            if early:
                yield Finding(
                    f"{what} was refused at {at(vtime)} with retryAfter {wait:g} s; {principal} called again "
                    f"{len(early)} time(s) before {at(allowed)}, the first at {at(early[0][0])}",
                    seqs + early[0][1],
                    early[0][0],
                    Window(allowed, allowed + wait, "not before retryAfter"),
                )
                break
    if not judged:
        raise NotApplicable("no authenticated call")


@rule(
    "cryptorobot.events.no-polling",
    severity="should",
    api=API,
    summary="Listens to service events instead of polling: never reads the same thing more than twice on one connection.",
    cites=f'{GUIDE}: "Instead of polling REST endpoints for updates, listen to WebSocket events." and '
    '"Fetch the initial state via REST (GET /traders), then subscribe to real-time updates via WebSocket"',
    params={"max_repeats": 2},
)
def no_polling(ev: Evidence, p: Params) -> Iterator[Finding]:
    limit = int(p["max_repeats"])
    conns = connections(ev, API)
    starts = [c.start for c in conns]
    # every successful read, Socket.IO or REST, keyed by what it read and the connection epoch it fell in
    reads: dict[tuple[int, str], list[tuple[float, tuple[int, ...]]]] = defaultdict(list)
    for conn in conns:
        for call in conn.calls:
            if call.method in READS and call.path != AUTH and call.ok:
                reads[(_epoch(starts, call.vtime), call.key)].append((call.vtime, call.seqs))
    for x in _rest(ev):
        if x.method == "GET" and x.status == 200:
            key = f"GET {x.path}?{x.request.data.get('query', '')}"
            reads[(_epoch(starts, x.vtime), key)].append((x.vtime, x.seqs))
    if not reads:
        raise NotApplicable("the client read nothing")
    repeated = Counter({key: len(found) for key, found in reads.items() if len(found) > limit})
    for (_epoch_index, what), count in repeated.most_common():
        found = reads[(_epoch_index, what)]
        yield Finding(
            f"read {what!r} {count} times on one connection, from {at(found[0][0])} to {at(found[-1][0])} "
            f"(at most {limit}): listen to the service's events instead",
            tuple(s for f in found[:6] for s in f[1]),
            found[limit][0],
        )


def _epoch(starts: list[float], vtime: float) -> int:
    """Which connection's time a moment falls in (the index of the last connection started at or before it)."""
    index = 0
    for i, start in enumerate(starts):
        if start <= vtime:
            index = i
    return index
