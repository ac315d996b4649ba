"""TradingPartners as a pure state machine: users, JWTs on the virtual clock, credits, alerts.

Alerts are generated on the scheduler (seeded) and live ``working`` -> ``aborted``, or
``working`` -> ``onGoing`` -> ``closed``. Each event is stamped per user (an id, kept in a
replay window for ``Last-Event-ID``) and handed to ``listener(email, event, data, id)``,
set by the SSE adapter. Choices where the docs are silent are in the README.
"""

from __future__ import annotations

import base64
import functools
import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...core.catalogue import CREDITS_RENEWED, SSE_ID_GAP, CreditsRenewed, SseIdGap
from ...core.clock import format_instant, parse_instant
from ...core.durations import parse_duration
from ...core.limits import TRADINGPARTNERS_HISTORY_LIMIT, TRADINGPARTNERS_QUEUE_LIMIT, TRADINGPARTNERS_REPLAY_WINDOW
from ...core.recorder import DISCARD, Recorder
from ...core.reply import Reply
from ...core.scheduler import Scheduler
from .schema import INSTRUMENTS

__all__ = ["Alert", "TradingPartners", "User", "error"]

_REFERENCE = {
    "BTC/USD": 69000.0,
    "ETH/USD": 3500.0,
    "SOL/USD": 180.0,
    "XRP/USD": 0.62,
    "ADA/USD": 0.65,
    "EUR/USD": 1.085,
    "GBP/USD": 1.27,
    "USD/JPY": 151.3,
    "AUD/USD": 0.655,
    "EUR/GBP": 0.856,
    "SPX500": 5200.0,
    "NAS100": 18200.0,
    "US30": 39500.0,
    "GER40": 18400.0,
    "UK100": 7950.0,
    "XAU/USD": 2200.0,
    "XAG/USD": 24.8,
    "WTI": 81.5,
    "BRENT": 85.9,
    "NATGAS": 1.78,
    "ES": 5230.0,
    "NQ": 18300.0,
    "YM": 39700.0,
    "CL": 81.4,
    "GC": 2210.0,
    "AAPL": 171.5,
    "TSLA": 177.0,
    "NVDA": 903.0,
    "MSFT": 421.0,
    "AMZN": 180.0,
    "SPY": 523.0,
    "QQQ": 444.0,
    "IWM": 208.0,
    "GLD": 203.0,
    "TLT": 94.5,
}
_MESSAGES = {
    10: ("missing authorization header", "The Authorization header is required: Authorization: Bearer <token>."),
    11: ("invalid authorization header", "The Authorization header must be 'Bearer <token>' with a token issued by /api/v1/users/login."),
    12: ("session expired", "The token has expired: log in again."),
    13: ("invalid email/password combination", "No user matches this email and password."),
    20: ("invalid body", "The body must be a JSON object."),
    21: ("missing body field", "A required field is missing."),
    22: ("invalid body field", "A field has the wrong type or length."),
    30: ("payment required", "This needs FULL API access, or credits: subscribe or renew your credits."),
    31: ("too many requests", "FREE users may call this once every 15 minutes (an empty answer may be retried at once)."),
}


def error(status: int, code: int, description: str | None = None) -> Reply:
    message, default = _MESSAGES[code]
    return Reply(status, {"code": code, "message": message, "description": description or default})


def _uuid4_text(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))``, without building a UUID (one per alert and user)."""
    bits = (bits & ~(0xC000 << 48) | 0x8000 << 48) & ~(0xF000 << 64) | 4 << 76
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _round(value: float, reference: float) -> float:
    places = 1 if reference >= 1000 else 2 if reference >= 100 else 4 if reference >= 1 else 5
    return round(value, places)


@dataclass(slots=True)
class User:
    email: str
    password: str
    access: str = "FULL"
    credits: int | None = None
    auto_renewal: bool = True
    last_login: float | None = None
    closed_polled_at: float | None = None
    next_id: int = 1
    log: deque[tuple[int, str, dict[str, Any]]] = field(default_factory=deque)
    exhausted: bool = False


@dataclass(slots=True)
class Alert:
    id: int
    instrument: str
    ticker: str
    direction: str
    duration_strategy: str
    start: float
    target: float
    stop: float
    started_at: float
    outcome: str  # aborted | won | lost (decided at birth, seeded)
    state: str = "working"
    exit: float | None = None
    gain: float | None = None
    closed_at: float | None = None
    tokens: dict[str, str] = field(default_factory=dict)  # email -> credit uuid
    token_state: str | None = None

    def status(self) -> str:
        if self.state == "working":
            return "ONMARK"
        if self.state == "onGoing":
            return "ONGOING"
        if self.state == "aborted":
            return "ABORTED"
        return "WON" if self.outcome == "won" else "LOST"


class TradingPartners:
    name = "tradingpartners"

    def __init__(
        self, *, state: Mapping[str, Any], options: Mapping[str, Any], seed: int, start: float, profile: str = "documented"
    ) -> None:
        self.profile = profile
        self.rng = random.Random(f"{seed}:tradingpartners")
        self.secret = base64.b64encode(self.rng.randbytes(32)).decode()
        self.ping_interval = parse_duration(options.get("ping_interval", "15s"))
        self.event_ids = bool(options.get("event_ids", False))
        self.replay_window = int(options.get("replay_window", TRADINGPARTNERS_REPLAY_WINDOW))
        self.queue_limit = int(options.get("queue_limit", TRADINGPARTNERS_QUEUE_LIMIT))
        #: finished (closed or aborted) alerts kept for closed alerts and history; older ones are forgotten
        self.history_limit = int(options.get("history_limit", TRADINGPARTNERS_HISTORY_LIMIT))
        self.retry_ms: int | None = options.get("retry_ms")
        self.token_ttl = parse_duration(options.get("token_ttl", 86400))
        self.users: dict[str, User] = {}
        for spec in state.get("users") or [{"email": "trader@example.com", "password": "secret-password"}]:
            user = User(
                str(spec.get("email", "trader@example.com")),
                str(spec.get("password", "secret-password")),
                str(spec.get("access", "FULL")),
                spec.get("credits"),
                bool(spec.get("auto_renewal", spec.get("credits") is None)),
            )
            self.users[user.email] = user
        self.alert_settings: dict[str, Any] = {}
        self.configure(dict(state.get("alerts") or {}))
        #: the alerts a client can still see: every live one, and the ``history_limit`` most recently finished
        self.alerts: dict[int, Alert] = {}
        self._finished: deque[int] = deque()  # ids of finished alerts, in the order they finished
        self.forgotten = 0  # finished alerts dropped from history (the oldest first)
        self._next_alert = 35443  # the seed's example id
        self.listener: Callable[[str, str, dict[str, Any], int | None], None] | None = None
        #: set by the runtime: journal what only the domain knows
        self.journal: Recorder = DISCARD
        #: set by the adapter: should the next event id skip one (an id_gap fault)?
        self.should_gap: Callable[[], bool] = lambda: False
        self.scheduler: Scheduler | None = None
        self._generator: Any = None
        self.watchers = 0
        self._subjects: dict[str, str] = {}  # token -> sub, for identify (bounded)

    def configure(self, alerts: Mapping[str, Any]) -> None:
        current = self.alert_settings
        self.alert_settings = {
            "every": parse_duration(alerts.get("every", current.get("every", "2m"))),
            "instruments": list(alerts.get("instruments", current.get("instruments", list(INSTRUMENTS)))),
            "abort_probability": float(alerts.get("abort_probability", current.get("abort_probability", 0.3))),
            "win_probability": float(alerts.get("win_probability", current.get("win_probability", 0.6))),
            "start_after": parse_duration(alerts.get("start_after", current.get("start_after", "1m"))),
            "close_after": parse_duration(alerts.get("close_after", current.get("close_after", "5m"))),
            "consume_threshold": float(alerts.get("consume_threshold", current.get("consume_threshold", 0.5))),
        }

    # -- the clock ------------------------------------------------------------------------------
    def attach(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def watch(self, delta: int) -> None:
        """A stream opened (+1) or closed (-1): new alerts come while anyone listens (emits always work)."""
        self.watchers = max(0, self.watchers + delta)
        if self.scheduler is not None and (self.watchers > 0) != (self._generator is not None):
            self._schedule_generation(self.scheduler.clock.now())

    def _schedule_generation(self, now: float) -> None:
        if self._generator is not None:
            self._generator.cancel()
            self._generator = None
        every = self.alert_settings["every"]
        if self.scheduler is None or not every or not self.watchers:
            return

        def generate(due: float) -> None:
            self.new_alert({}, due)
            self._generator = self.scheduler.call_at(due + every, generate, name="tradingpartners alert") if self.scheduler else None

        self._generator = self.scheduler.call_at(now + every, generate, name="tradingpartners alert")

    # -- auth -------------------------------------------------------------------------------------
    def login(self, body: Any, now: float) -> Reply:
        import jwt  # on first use: PyJWT (with http.client, email) is ~40 ms of start-up

        if not isinstance(body, dict):
            return error(400, 20)
        for name in ("email", "password"):
            if name not in body:
                return error(400, 21, f"'{name}' is required.")
            if not isinstance(body[name], str) or not 1 <= len(body[name]) <= (255 if name == "email" else 30):
                return error(400, 22, f"'{name}' must be a string of 1 to {255 if name == 'email' else 30} characters.")
        user = self.users.get(body["email"])
        if user is None or user.password != body["password"]:
            return error(401, 13)
        last, user.last_login = user.last_login, now
        token = jwt.encode(
            {"sub": user.email, "access": user.access, "iat": int(now), "exp": int(now + self.token_ttl)}, self.secret, algorithm="HS256"
        )
        return Reply(
            200,
            {
                "accessToken": token,
                "tokenType": "bearer",
                "expiresIn": int(self.token_ttl),
                "lastLogin": format_instant(last, precision="ms") if last is not None else None,
            },
        )

    def authenticate(self, authorization: str | None, now: float) -> User | Reply:
        import jwt  # on first use: PyJWT (with http.client, email) is ~40 ms of start-up

        if not authorization:
            return error(401, 10)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error(401, 11)
        try:  # the JWT library reads the wall clock for exp, iat and nbf: they are checked on the virtual clock instead
            claims = jwt.decode(
                token.strip(),
                self.secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["exp", "sub"]},
            )
        except jwt.PyJWTError:
            return error(401, 11)
        user = self.users.get(str(claims["sub"]))
        if user is None:
            return error(401, 11)
        if now >= float(claims["exp"]):
            return error(401, 12)
        return user

    # -- alerts and their lifecycle ------------------------------------------------------------------
    def new_alert(self, data: Mapping[str, Any], now: float) -> Alert:
        s = self.alert_settings
        instrument = str(data.get("instrument") or self.rng.choice(s["instruments"]))
        ticker = str(data.get("ticker") or self.rng.choice(INSTRUMENTS[instrument]))
        reference = _REFERENCE.get(ticker, 100.0) * self.rng.uniform(0.97, 1.03)
        direction = str(data.get("direction") or self.rng.choice(("BUY", "SELL")))
        sign = 1 if direction == "BUY" else -1
        start = _round(reference, reference)
        target = _round(start * (1 + sign * self.rng.uniform(0.005, 0.02)), reference)
        stop = _round(start * (1 - sign * self.rng.uniform(0.00005, 0.003)), reference)
        outcome = str(
            data.get("outcome")
            or ("aborted" if self.rng.random() < s["abort_probability"] else "won" if self.rng.random() < s["win_probability"] else "lost")
        )
        alert = Alert(
            self._next_alert, instrument, ticker, direction, self.rng.choice(("short", "long")), start, target, stop, now, outcome
        )
        self._next_alert += 1
        self.alerts[alert.id] = alert
        for user in self.users.values():
            if user.access == "FULL":
                self._deliver_working(user, alert)
        start_after = parse_duration(data["start_after"]) if data.get("start_after") is not None else s["start_after"]
        close_after = parse_duration(data["close_after"]) if data.get("close_after") is not None else s["close_after"]
        if self.scheduler is not None:
            self.scheduler.call_at(now + start_after, functools.partial(self._advance, alert, close_after), name=f"alert {alert.id}")
        return alert

    def _deliver_working(self, user: User, alert: Alert) -> None:
        if user.exhausted:
            return
        if user.credits is not None and user.credits <= 0:
            if user.auto_renewal:
                user.credits = 10
                self.journal.record(CREDITS_RENEWED, CreditsRenewed(user=user.email, credits=10), principal=f"user:{user.email}")
            else:  # the last credit is gone: a final error, then the stream closes
                user.exhausted = True
                self._send(user, "error", dict(error(402, 30, "No credits left and auto-renewal is off: the stream ends.").body))
                return
        if user.credits is not None:
            user.credits -= 1
        alert.tokens[user.email] = _uuid4_text(self.rng.getrandbits(128))
        self._send(
            user,
            "working",
            {
                "id": alert.id,
                "durationStrategy": alert.duration_strategy,
                "instrument": alert.instrument,
                "ticker": alert.ticker,
                "start": alert.start,
                "target": alert.target,
                "stop": alert.stop,
                "startedAt": format_instant(alert.started_at, precision="ms"),
                "token": alert.tokens[user.email],
            },
        )

    def _advance(self, alert: Alert, close_after: float, due: float) -> None:
        if alert.outcome == "aborted":
            alert.state, alert.token_state, alert.closed_at = "aborted", "REIMBURSED", due
            for user, token in self._holders(alert):
                self._refund(user)
                self._send(user, "aborted", {"id": alert.id, "token": token, "tokenState": "REIMBURSED"})
            self._finished_alert(alert)
            return
        alert.state = "onGoing"
        for user, token in self._holders(alert):
            self._send(user, "onGoing", {"id": alert.id, "token": token})
        if self.scheduler is not None:
            self.scheduler.call_at(due + close_after, functools.partial(self._close, alert), name=f"alert {alert.id} close")

    def _close(self, alert: Alert, due: float) -> None:
        sign = 1 if alert.direction == "BUY" else -1
        if alert.outcome == "won":
            exit_price = alert.start + (alert.target - alert.start) * self.rng.uniform(0.6, 1.0)
        else:
            exit_price = alert.stop
        alert.exit = _round(exit_price, alert.start)
        alert.gain = _round(sign * (alert.exit - alert.start), alert.start)
        alert.state, alert.closed_at = "closed", due
        consumed = alert.gain / alert.start * 100 >= self.alert_settings["consume_threshold"]
        alert.token_state = "CONSUMED" if consumed else "REIMBURSED"
        for user, token in self._holders(alert):
            if not consumed:
                self._refund(user)
            self._send(
                user,
                "closed",
                {
                    "id": alert.id,
                    "exit": alert.exit,
                    "gain": alert.gain,
                    "closedAt": format_instant(due, precision="ms"),
                    "token": token,
                    "tokenState": alert.token_state,
                },
            )
        self._finished_alert(alert)

    def _finished_alert(self, alert: Alert) -> None:
        """Keep the ``history_limit`` most recently finished alerts (memory stays bounded however long a run)."""
        self._finished.append(alert.id)
        while len(self._finished) > self.history_limit:
            self.alerts.pop(self._finished.popleft(), None)
            self.forgotten += 1

    def _holders(self, alert: Alert) -> list[tuple[User, str]]:
        return [(self.users[email], token) for email, token in alert.tokens.items() if email in self.users]

    def _refund(self, user: User) -> None:
        if user.credits is not None:
            user.credits += 1

    def _send(self, user: User, event: str, data: dict[str, Any]) -> None:
        event_id: int | None = None
        if self.event_ids:
            if self.should_gap():
                self.journal.record(SSE_ID_GAP, SseIdGap(user=user.email, skipped=user.next_id), principal=f"user:{user.email}")
                user.next_id += 1
            event_id = user.next_id
            user.next_id += 1
            user.log.append((event_id, event, data))
            while len(user.log) > self.replay_window:
                user.log.popleft()
        if self.listener is not None:
            self.listener(user.email, event, data, event_id)

    def replay(self, user: User, last_event_id: str | None) -> list[tuple[int, str, dict[str, Any]]]:
        """Events after ``Last-Event-ID`` still in the window (ids on only)."""
        text = (last_event_id or "").strip()
        if not self.event_ids or not (text.isascii() and text.isdigit()):  # str.isdigit alone: "²" too, which int() refuses
            return []
        after = int(text)
        return [item for item in user.log if item[0] > after]

    # -- closed alerts and history -------------------------------------------------------------------
    def _row(self, alert: Alert) -> dict[str, Any]:
        return {
            "id": alert.id,
            "ticker": alert.ticker,
            "instrument": alert.instrument,
            "durationStrategy": alert.duration_strategy,
            "direction": alert.direction,
            "start": alert.start,
            "target": alert.target,
            "stop": alert.stop,
            "exit": alert.exit,
            "gain": alert.gain,
            "status": alert.status(),
            "startedAt": format_instant(alert.started_at, precision="ms"),
            "closedAt": format_instant(alert.closed_at, precision="ms") if alert.closed_at is not None else None,
        }

    def closed(self, user: User, now: float) -> Reply:
        done = [a for a in self.alerts.values() if a.state == "closed"]
        if user.access == "FULL":
            return Reply(200, [self._row(a) for a in sorted(done, key=lambda a: a.closed_at or 0, reverse=True)])
        if user.closed_polled_at is not None and now < user.closed_polled_at + 900:
            wait = max(1, math.ceil(user.closed_polled_at + 900 - now))
            return Reply(429, error(429, 31).body, {"Retry-After": str(wait)})
        rows = [self._row(a) for a in done if a.outcome == "won" and (a.closed_at or 0) >= now - 900]
        if rows:  # an empty answer may be retried at once
            user.closed_polled_at = now
        return Reply(200, rows)

    def history(self, user: User, params: Mapping[str, str]) -> Reply:
        try:
            page = int(params.get("page", "1"))
            size = int(params.get("size", "10"))
            since = parse_instant(params["from"]) if params.get("from") else None
            until = parse_instant(params["to"]) if params.get("to") else None
        except ValueError as exc:
            return error(400, 22, f"Invalid query parameter: {exc}")
        order_by = params.get("orderBy", "accessDate")
        order_dir = params.get("orderDir", "desc")
        status = params.get("status")
        keys = {
            "accessDate": "startedAt",
            "startedAt": "startedAt",
            "closedAt": "closedAt",
            "ticker": "ticker",
            "instrument": "instrument",
            "figureTime": "startedAt",
            "gain": "gain",
            "status": "status",
        }
        if (
            page < 1
            or not 1 <= size <= 100
            or order_by not in keys
            or order_dir not in ("asc", "desc")
            or (status is not None and status not in ("ONMARK", "ONGOING", "WON", "LOST", "ABORTED"))
        ):
            return error(400, 22, "page >= 1, size 1..100, orderBy and orderDir and status from their lists")
        rows = [self._row(a) for a in self.alerts.values() if user.email in a.tokens or user.access == "FULL"]
        rows = [
            r
            for r in rows
            if (not params.get("ticker") or r["ticker"] == params["ticker"])
            and (not params.get("instrument") or r["instrument"] == params["instrument"])
            and (status is None or r["status"] == status)
            and (since is None or parse_instant(r["startedAt"]) >= since)
            and (until is None or parse_instant(r["startedAt"]) <= until)
        ]
        field_name = keys[order_by]
        rows.sort(key=lambda r: (r[field_name] is None, r[field_name] if r[field_name] is not None else 0), reverse=order_dir == "desc")
        return Reply(200, {"total": len(rows), "page": page, "size": size, "data": rows[(page - 1) * size : page * size]})

    # -- scenario hooks -------------------------------------------------------------------------------
    def emit(self, event: str, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        if event == "alert":
            alert = self.new_alert(data, now)
            return {"alert": alert.id, "ticker": alert.ticker, "outcome": alert.outcome}
        if event == "credits":
            targets = [self.users[data["user"]]] if data.get("user") else [u for u in self.users.values() if u.access == "FULL"]
            for user in targets:
                user.credits = data["credits"]
                user.exhausted = False
            return {"users": [u.email for u in targets], "credits": data["credits"]}
        raise ValueError(f"unknown tradingpartners event {event!r}")

    def patch(self, changes: Mapping[str, Any]) -> None:
        if "alerts" in changes:
            self.configure(changes["alerts"])
            if self.scheduler is not None:
                self._schedule_generation(self.scheduler.clock.now())

    def identify(self, headers: Sequence[tuple[bytes, bytes]], query: bytes) -> str | None:
        """The user a request's bearer JWT names (its ``sub``; the token need not be valid any more)."""
        import jwt  # on first use: PyJWT (with http.client, email) is ~40 ms of start-up

        for name, value in headers:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    return None
                sub = self._subjects.get(token)
                if sub is None:
                    try:
                        claims = jwt.decode(token.strip(), options={"verify_signature": False})
                    except jwt.PyJWTError:
                        return None
                    sub = str(claims.get("sub", ""))
                    if len(self._subjects) < 10_000:
                        self._subjects[token] = sub
                return f"user:{sub}" if sub in self.users else None
        return None

    def settings(self) -> dict[str, Any]:
        """What shapes a client's timing in this run (journaled when the scenario starts)."""
        first = next(iter(self.users.values()), None)
        return {
            #: who the client under test is (the credential it is given)
            "client": f"user:{first.email}" if first is not None else None,
            "ping_interval": self.ping_interval,
            "event_ids": self.event_ids,
            "replay_window": self.replay_window,
            "retry_ms": self.retry_ms,
            "token_ttl": self.token_ttl,
            "queue_limit": self.queue_limit,
            "history_limit": self.history_limit,
            "alerts": {k: v for k, v in self.alert_settings.items() if k != "instruments"},
        }

    def credentials(self) -> list[dict[str, Any]]:
        return [{"email": u.email, "password": u.password, "access": u.access, "credits": u.credits} for u in self.users.values()]

    def token_for(self, email: str, now: float) -> str:
        """A valid JWT for ``email`` (for the printed table and the env file)."""
        import jwt  # on first use: PyJWT (with http.client, email) is ~40 ms of start-up

        user = self.users[email]
        return str(
            jwt.encode(
                {"sub": user.email, "access": user.access, "iat": int(now), "exp": int(now + self.token_ttl)},
                self.secret,
                algorithm="HS256",
            )
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "users": self.credentials(),
            "alerts": len(self.alerts),
            "forgotten": self.forgotten,
            "open": sum(1 for a in self.alerts.values() if a.state in ("working", "onGoing")),
        }
