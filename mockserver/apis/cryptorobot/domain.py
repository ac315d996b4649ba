"""Cryptorobot's Feathers application, framework-free: authentication, services, events, limits.

The Socket.IO adapter (``app.py``) hands every method call here as Feathers' socket
transport receives it (``method``, ``[path, *args]``) and sends back what this returns;
the REST mirror calls the same services. Events (``"<path> created"`` ...) go to the
``listener`` with the owner's user id (None: every authenticated connection); server-side
disconnects (JWT expiry, an emit) go to ``kicker``. Time is the virtual clock's, passed in.
"""

from __future__ import annotations

import base64
import math
import random
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...core.catalogue import SIO_JWT_EXPIRED, SIO_LOGIN, SIO_LOGOUT, SioJwtExpired, SioLogin, SioLogout
from ...core.clock import format_instant
from ...core.durations import parse_duration
from ...core.limits import CRYPTOROBOT_QUEUE_LIMIT
from ...core.recorder import DISCARD, Recorder
from ...core.scheduler import Scheduler, Timer
from .errors import FeathersError
from .query import paginate, select
from .records import DEFAULT_SYMBOLS, RecordMaker
from .schema import PLANS, SERVICES, STREAMS

__all__ = ["AUTH_PATH", "Connection", "Cryptorobot", "User"]

AUTH_PATH = "authentication"
AUDIENCE = "https://cryptorobot.ai"
ISSUER = "feathers"
#: Feathers' params position per method: ``find(params)``, ``get(id, params)``, ``patch(id, data, params)`` ...
PARAMS_POSITION = {"find": 0, "get": 1, "create": 1, "remove": 1, "update": 2, "patch": 2}
#: Generated feed records kept per service (older ones are dropped: memory stays bounded).
FEED_LIMIT = 1000
#: Records a client may create per service (memory stays bounded): beyond it, Unprocessable.
RECORD_LIMIT = 10_000
#: the types of the input fields the OpenAPI document declares (StrategyInput, TraderInput, MessagePatch, ...);
#: a tuple: the values allowed
_FIELD_TYPES: dict[str, dict[str, type | tuple[str, ...]]] = {
    "strategies": {"_id": str, "name": str, "type": str, "pair": str, "timeframe": str, "active": bool, "parameters": dict},
    "traders": {
        "_id": str,
        "name": str,
        "status": ("running", "stopped", "error"),
        "strategyId": str,
        "exchange": str,
        "pair": str,
        "podId": str,
        "mode": str,
    },
    "messages": {"read": bool, "title": str, "text": str, "level": str},
}
#: string fields that must not be empty (a record id, the required names)
_NON_EMPTY = ("_id", "name", "type", "pair", "strategyId")
_TYPE_NAMES = {str: "a string", bool: "a boolean", dict: "an object"}
DEFAULT_STREAMS = {"ticker": "5s", "pod_events": "1m", "trades": "2m", "signals": "5m", "messages": "10m", "events": "15m"}


def _not_authenticated(message: str = "Not authenticated", data: Any = None) -> FeathersError:
    return FeathersError("NotAuthenticated", message, data=data)


@dataclass(slots=True)
class User:
    id: str
    email: str
    password: str
    name: str
    plan: str
    api_key: str
    created: str
    window_start: float = -math.inf
    window_count: int = 0

    @property
    def socket_limit(self) -> int:
        return PLANS[self.plan][0]

    @property
    def rate_limit(self) -> int:
        return PLANS[self.plan][1]

    def public(self) -> dict[str, Any]:
        """The user as services answer with it: no password, no key."""
        return {"_id": self.id, "email": self.email, "name": self.name, "plan": self.plan, "createdAt": self.created}


@dataclass(slots=True)
class Connection:
    """One Socket.IO connection, and who it is authenticated as (Feathers' ``params.connection``)."""

    id: str
    headers: dict[str, str] = field(default_factory=dict)
    user: User | None = None
    token: str | None = None
    strategy: str | None = None
    expiry: Timer | None = None


def _ignore(*_args: Any) -> None:
    return None


class Cryptorobot:
    name = "cryptorobot"

    def __init__(
        self, *, state: Mapping[str, Any], options: Mapping[str, Any], seed: int, start: float, profile: str = "documented"
    ) -> None:
        self.profile = profile
        self.rng = random.Random(f"{seed}:cryptorobot")
        self.secret = base64.b64encode(self.rng.randbytes(32)).decode()
        self.token_ttl = parse_duration(options.get("token_ttl", "7d"))
        self.ping_interval = parse_duration(options.get("ping_interval", "25s"))
        self.ping_timeout = parse_duration(options.get("ping_timeout", "20s"))
        self.page_default = int(options.get("page_default", 25))
        self.page_max = int(options.get("page_max", 100))
        #: Engine.IO packets queued per session before the server ends it (a slow consumer)
        self.queue_limit = int(options.get("queue_limit", CRYPTOROBOT_QUEUE_LIMIT))
        self.symbols = list(state.get("symbols") or DEFAULT_SYMBOLS)
        self.users: dict[str, User] = {}
        created = format_instant(start - 90 * 86400, precision="ms")
        for spec in state.get("users") or [{}]:
            email = str(spec.get("email", "trader@example.com"))
            user = User(
                id=self._new_id(),
                email=email,
                password=str(spec.get("password", "secret-password")),
                name=str(spec.get("name", email.split("@")[0].replace(".", " ").title())),
                plan=str(spec.get("plan", "pro")),
                api_key=str(spec.get("api_key", "crk_" + self.rng.randbytes(16).hex())),
                created=created,
            )
            self.users[user.id] = user
        self.tables: dict[str, dict[str, dict[str, Any]]] = {path: {} for path in SERVICES if path != "users"}
        self.streams: dict[str, float] = {}
        self.connections: dict[str, Connection] = {}
        self.listener: Callable[[str | None, str, dict[str, Any]], None] = _ignore
        self.kicker: Callable[[str, str], None] = _ignore
        #: set by the runtime: journal what only the domain knows (logins, expiries, logouts: linked by the socket's sid)
        self.journal: Recorder = DISCARD
        self.scheduler: Scheduler | None = None
        self._feeds: dict[str, Timer] = {}
        self._generated: dict[str, deque[str]] = {}
        self.make = RecordMaker(self.rng, self.symbols)
        self._builders: dict[str, Callable[[list[dict[str, Any]]], dict[str, Any]]] = {
            "pod_events": self.make.pod_event,
            "trades": self.make.trade,
            "signals": self.make.signal,
            "messages": self.make.message,
            "events": self.make.event,
        }
        self._seed_records(state.get("records"), start)
        self.configure(state.get("streams") or {})

    # -- ids and records ------------------------------------------------------------------------
    def _new_id(self) -> str:
        """A MongoDB-like ObjectId, from the scenario's seed."""
        return self.rng.randbytes(12).hex()

    def _first_user(self) -> User:
        return next(iter(self.users.values()))

    def user_by_email(self, email: str) -> User:
        for user in self.users.values():
            if user.email == email:
                return user
        raise ValueError(f"no cryptorobot user {email!r}; users: {', '.join(u.email for u in self.users.values())}")

    def _seed_records(self, records: Mapping[str, Any] | None, start: float) -> None:
        if records:
            for path, rows in records.items():
                for row in rows:
                    row = dict(row)
                    owner = (
                        self.user_by_email(row.pop("user"))
                        if "user" in row
                        else (None if path == "exchanges/ticker" else self._first_user())
                    )
                    self._store(path, row, owner, start)
            if "exchanges/ticker" not in records:
                for symbol in self.symbols:
                    self._store("exchanges/ticker", self.make.ticker(symbol, start), None, start)
            return
        for symbol in self.symbols:
            self._store("exchanges/ticker", self.make.ticker(symbol, start), None, start)
        for user in self.users.values():
            strategies = [
                self._store("strategies", self.make.strategy(kind), user, start - 86400 * (i + 3))
                for i, kind in enumerate(("momentum", "mean_reversion", "grid"))
            ]
            for i, status in enumerate(("running", "stopped")):
                self._store("traders", self.make.trader(strategies[i], status), user, start - 86400 * (i + 1))
            for name in ("trades", "trades", "pod_events", "signals", "messages", "events"):
                self._store(STREAMS[name], self._builders[name](self._owned("traders", user)), user, start - self.rng.uniform(600, 7200))

    def _store(self, path: str, row: dict[str, Any], owner: User | None, now: float, *, client: bool = False) -> dict[str, Any]:
        """Keep a new record; ``client``: data a caller sent, which may not choose its owner or time stamps."""
        stamp = format_instant(now, precision="ms")
        table = self.tables[path]
        if client:
            for key in ("userId", "createdAt", "updatedAt"):
                row.pop(key, None)
            if owner is not None and sum(1 for r in table.values() if r.get("userId") == owner.id) >= RECORD_LIMIT:
                raise FeathersError("Unprocessable", f"This mock keeps at most {RECORD_LIMIT} {path} records per user")
        record_id = str(row.pop("_id")) if row.get("_id") not in (None, "") else self._new_id()
        if client and record_id in table:  # as MongoDB's unique _id index answers (E11000)
            raise FeathersError("Conflict", f'E11000 duplicate key error collection: {path} index: _id_ dup key: {{ _id: "{record_id}" }}')
        record: dict[str, Any] = {"_id": record_id, **row}
        if owner is not None:
            record["userId"] = owner.id
        record.setdefault("createdAt", stamp)
        record.setdefault("updatedAt", stamp)
        table[record_id] = record
        return record

    def _owned(self, path: str, user: User) -> list[dict[str, Any]]:
        return [r for r in self.tables[path].values() if r.get("userId") == user.id]

    # -- feeds on the clock -----------------------------------------------------------------------
    def attach(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def configure(self, streams: Mapping[str, Any]) -> None:
        settings = {**DEFAULT_STREAMS, **self.streams, **streams}
        self.streams = {name: parse_duration(value) for name, value in settings.items()}
        self._reschedule()

    def _watching(self) -> bool:
        return any(conn.user is not None for conn in self.connections.values())

    def _reschedule(self) -> None:
        """Feeds run while anyone is authenticated (emits always work)."""
        for timer in self._feeds.values():
            timer.cancel()
        self._feeds.clear()
        if self.scheduler is None or not self._watching():
            return
        now = self.scheduler.clock.now()
        for name, every in self.streams.items():
            if every > 0:
                self._schedule_feed(name, now + every, every)

    def _schedule_feed(self, name: str, when: float, every: float) -> None:
        assert self.scheduler is not None

        def fire(due: float) -> None:
            self.feed(name, {}, due)
            self._schedule_feed(name, due + every, every)

        self._feeds[name] = self.scheduler.call_at(when, fire, name=f"cryptorobot {name}")

    def feed(self, name: str, data: Mapping[str, Any], now: float, *, user: User | None = None, count: int = 1) -> list[str]:
        """New records on one feed (a tick of its timer, or an emit), each with its event."""
        path = STREAMS[name]
        ids = []
        for _ in range(count):
            if name == "ticker":
                symbols = [str(data["symbol"])] if "symbol" in data else self.symbols
                for symbol in symbols:
                    if symbol not in self.make.prices:
                        self.make.prices[symbol] = 100.0
                    row = {**self.make.ticker(symbol, now), **data}
                    ids.append(self._apply(None, "patch" if row["_id"] in self.tables[path] else "create", path, row["_id"], row, now))
                continue
            builder = self._builders[name]
            generated = self._generated.setdefault(path, deque())
            for owner in [user] if user is not None else list(self.users.values()):
                new_id = self._apply(owner, "create", path, None, {**builder(self._owned("traders", owner)), **data}, now)
                ids.append(new_id)
                generated.append(new_id)
                while len(generated) > FEED_LIMIT:  # the oldest generated records go; seeded ones stay
                    self.tables[path].pop(generated.popleft(), None)
        return ids

    # -- changing records, with their events ------------------------------------------------------------
    def _apply(
        self, owner: User | None, method: str, path: str, record_id: Any, data: Mapping[str, Any], now: float, *, client: bool = False
    ) -> str:
        table = self.tables[path]
        stamp = format_instant(now, precision="ms")
        if method == "create":
            record = self._store(path, dict(data), owner, now, client=client)
            self.listener(record.get("userId"), f"{path} created", dict(record))
            return str(record["_id"])
        record = table[str(record_id)]
        if method == "remove":
            del table[str(record_id)]
            self.listener(record.get("userId"), f"{path} removed", {"_id": record["_id"]})
            return str(record_id)
        keep: dict[str, Any] = {k: record[k] for k in ("_id", "userId", "createdAt") if k in record}
        fresh = {k: v for k, v in data.items() if k not in keep}
        if method == "update":
            record.clear()
        record.update(fresh)
        record.update(keep)
        record["updatedAt"] = stamp
        self.listener(record.get("userId"), f"{path} {'updated' if method == 'update' else 'patched'}", dict(record))
        return str(record_id)

    # -- connections -----------------------------------------------------------------------------------
    def connect(self, conn_id: str, headers: Mapping[str, str], now: float) -> dict[str, Any] | None:
        """A Socket.IO connection; an ``Authorization: Bearer|JWT`` handshake header authenticates it at once."""
        conn = Connection(conn_id, dict(headers))
        self.connections[conn_id] = conn
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() not in ("bearer", "jwt") or not token.strip():
            return None
        try:
            return self._login(conn, {"strategy": "jwt", "accessToken": token.strip()}, now)
        except FeathersError:
            self.connections.pop(conn_id, None)
            raise

    def disconnect(self, conn_id: str, reason: str = "") -> None:
        conn = self.connections.pop(conn_id, None)
        if conn is None:
            return
        self._logout(conn)
        if conn.user is not None:
            self._reschedule()

    def _logout(self, conn: Connection) -> None:
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None

    # -- tokens ------------------------------------------------------------------------------------------
    def issue(self, user: User, now: float) -> str:
        import jwt  # on first use: PyJWT (with http.client, email) is ~40 ms of start-up

        payload = {
            "iat": int(now),
            "exp": int(now + self.token_ttl),
            "aud": AUDIENCE,
            "iss": ISSUER,
            "sub": user.id,
            "jti": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
        }
        return jwt.encode(payload, self.secret, algorithm="HS256", headers={"typ": "access"})

    def verify(self, token: str, now: float) -> dict[str, Any]:
        """jsonwebtoken's checks and messages, with ``exp`` on the virtual clock."""
        import jwt  # on first use: PyJWT (with http.client, email) is ~40 ms of start-up

        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},  # on the virtual clock
            )
        except jwt.InvalidSignatureError:
            raise _not_authenticated("invalid signature", {"name": "JsonWebTokenError", "message": "invalid signature"}) from None
        except jwt.InvalidAudienceError:
            message = f"jwt audience invalid. expected: {AUDIENCE}"
            raise _not_authenticated(message, {"name": "JsonWebTokenError", "message": message}) from None
        except jwt.InvalidIssuerError:
            message = f"jwt issuer invalid. expected: {ISSUER}"
            raise _not_authenticated(message, {"name": "JsonWebTokenError", "message": message}) from None
        except jwt.PyJWTError:
            raise _not_authenticated("jwt malformed", {"name": "JsonWebTokenError", "message": "jwt malformed"}) from None
        exp = payload.get("exp")
        if isinstance(exp, int | float) and now >= exp:
            expired_at = format_instant(float(exp), precision="ms")
            raise _not_authenticated("jwt expired", {"name": "TokenExpiredError", "message": "jwt expired", "expiredAt": expired_at})
        return payload

    # -- authentication service ----------------------------------------------------------------------------
    def _login(self, conn: Connection | None, data: Any, now: float) -> dict[str, Any]:
        strategy = data.get("strategy") if isinstance(data, dict) else None
        if strategy not in ("local", "jwt"):
            info = " (no `strategy` set)" if not strategy else " (strategy not allowed in authStrategies)"
            raise _not_authenticated("Invalid authentication information" + info)
        assert isinstance(data, dict)
        if strategy == "local":
            email, password = data.get("email"), data.get("password")
            user = next((u for u in self.users.values() if u.email == email), None) if isinstance(email, str) else None
            if user is None or not isinstance(password, str) or user.password != password:
                raise _not_authenticated("Invalid login")
            token = self.issue(user, now)
            payload = self.verify(token, now)
        else:
            given = data.get("accessToken")
            if not isinstance(given, str) or not given:
                raise _not_authenticated("No access token")
            token = given
            payload = self.verify(token, now)
            found = self.users.get(str(payload.get("sub")))
            if found is None:
                raise _not_authenticated("Not authenticated")
            user = found
        if conn is not None:
            others = [c for c in self.connections.values() if c.user is user and c is not conn]
            if len(others) >= user.socket_limit:
                raise FeathersError(
                    "TooManyRequests",
                    f"Too many concurrent connections: the {user.plan} plan allows {user.socket_limit}",
                    data={"plan": user.plan, "limit": user.socket_limit},
                )
            self._attach(conn, user, token, str(strategy), float(payload["exp"]))
        return {
            "accessToken": token,
            "authentication": {"strategy": strategy, "accessToken": token, "payload": payload},
            "user": user.public(),
        }

    def _attach(self, conn: Connection, user: User, token: str, strategy: str, exp: float) -> None:
        watching = self._watching()
        self._logout(conn)
        conn.user, conn.token, conn.strategy = user, token, strategy
        self.journal.bind(conn.id, f"user:{user.email}")
        self.journal.record(SIO_LOGIN, SioLogin(sid=conn.id, user=user.email, strategy=strategy, exp=exp), link=conn.id)
        if self.scheduler is not None:
            conn_id = conn.id

            def expire(_due: float) -> None:
                live = self.connections.get(conn_id)
                if live is None or live.token != token:
                    return
                self.journal.record(SIO_JWT_EXPIRED, SioJwtExpired(sid=conn_id, user=user.email), link=conn_id)
                self.journal.bind(conn_id, None)
                live.user = live.token = None
                live.expiry = None
                self.kicker(conn_id, "jwt expired")
                self._reschedule()

            conn.expiry = self.scheduler.call_at(exp, expire, name="cryptorobot jwt expiry")
        if not watching:
            self._reschedule()

    def _auth_remove(self, conn: Connection | None, record_id: Any, now: float) -> dict[str, Any]:
        token = conn.token if conn is not None else None
        if conn is None or token is None:
            raise _not_authenticated("Invalid authentication information (no `strategy` set)")
        result = self._verify_logout(token, record_id, now)
        self._logout(conn)
        self.journal.record(SIO_LOGOUT, SioLogout(sid=conn.id, user=conn.user.email if conn.user else None), link=conn.id)
        self.journal.bind(conn.id, None)
        conn.user = conn.token = conn.strategy = None
        self._reschedule()
        return result

    def _verify_logout(self, token: str, record_id: Any, now: float) -> dict[str, Any]:
        """Feathers' ``remove``: the id, when given, must be the token; the result is the token re-verified."""
        if record_id is not None and record_id != token:
            raise _not_authenticated("Invalid access token")
        return self._login(None, {"strategy": "jwt", "accessToken": token}, now)

    def rest_logout(self, authorization: str | None, record_id: Any, now: float) -> dict[str, Any]:
        """``DELETE /authentication[/<token>]`` with the token in ``Authorization``."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() not in ("bearer", "jwt") or not token.strip():
            raise _not_authenticated("Invalid authentication information (no `strategy` set)")
        return self._verify_logout(token.strip(), record_id, now)

    # -- limits -------------------------------------------------------------------------------------------
    def _count_request(self, user: User, now: float) -> None:
        if now - user.window_start >= 60:
            user.window_start, user.window_count = now, 0
        user.window_count += 1
        if user.window_count > user.rate_limit:
            retry = max(1, math.ceil(user.window_start + 60 - now))
            raise FeathersError(
                "TooManyRequests",
                "Too many requests",
                data={"plan": user.plan, "limit": user.rate_limit, "window": 60, "retryAfter": retry},
            )

    # -- method calls ---------------------------------------------------------------------------------------
    def call(self, conn_id: str | None, method: str, args: list[Any], now: float, *, user: User | None = None) -> Any:
        """One service method call as Feathers' transport runs it (``runMethod``); raises FeathersError."""
        path_arg = args[0] if args else None
        path = path_arg.strip("/") if isinstance(path_arg, str) else None
        if path is None:
            raise FeathersError("NotFound", "Invalid service path")
        methods = ("create", "remove") if path == AUTH_PATH else SERVICES.get(path)
        if methods is None:
            raise FeathersError("NotFound", f"Service '{path}' not found")
        if method not in methods:
            raise FeathersError("MethodNotAllowed", f"Method '{method}' not allowed on service '{path}'")
        position = PARAMS_POSITION[method]
        rest = list(args[1:])
        if len(rest) > position + 1:
            raise FeathersError("BadRequest", f"Too many arguments for '{method}' method")
        rest += [None] * (position + 1 - len(rest))
        query = rest[position] if isinstance(rest[position], dict) else {}
        conn = self.connections.get(conn_id) if conn_id is not None else None
        if path == AUTH_PATH:
            if method == "create":
                return self._login(conn, rest[0], now)
            return self._auth_remove(conn, rest[0], now)
        who = user if user is not None else (conn.user if conn is not None else None)
        if who is None:
            raise _not_authenticated()
        self._count_request(who, now)
        return self._service(who, method, path, rest, query, now)

    def _visible(self, path: str, user: User) -> list[dict[str, Any]]:
        if path == "users":
            return [user.public()]
        return [r for r in self.tables[path].values() if r.get("userId") in (user.id, None)]

    def _lookup(self, path: str, user: User, record_id: Any) -> dict[str, Any]:
        for record in self._visible(path, user):
            if str(record["_id"]) == str(record_id):
                return record
        raise FeathersError("NotFound", f"No record found for id '{record_id}'")

    def _service(self, user: User, method: str, path: str, rest: list[Any], query: Mapping[str, Any], now: float) -> Any:
        if method == "find":
            return paginate(self._visible(path, user), query, default=self.page_default, maximum=self.page_max)
        if method == "get":
            return select(self._lookup(path, user, rest[0]), query.get("$select"))
        if method == "create":
            data = rest[0]
            if isinstance(data, list):
                raise FeathersError("MethodNotAllowed", "Can not create multiple entries")
            if not isinstance(data, dict):
                raise FeathersError("BadRequest", "Data must be an object")
            self._validate(path, data)
            record_id = self._apply(user, "create", path, None, data, now, client=True)
            return dict(self.tables[path][record_id])
        record_id = rest[0]
        if record_id is None:
            verb = {"update": "update", "patch": "patch", "remove": "remove"}[method]
            raise FeathersError("MethodNotAllowed", f"Can not {verb} multiple entries")
        record = self._lookup(path, user, record_id)
        if method == "remove":
            removed = dict(record)
            self._apply(user, "remove", path, record["_id"], {}, now)
            return removed
        data = rest[1]
        if not isinstance(data, dict):
            raise FeathersError("BadRequest", "Data must be an object")
        if path == "users":
            if "name" in data and isinstance(data["name"], str):
                user.name = data["name"]
            return user.public()
        self._validate(path, data, patch=method == "patch")
        self._apply(user, method, path, record["_id"], data, now)
        return dict(self.tables[path][str(record["_id"])])

    def _validate(self, path: str, data: Mapping[str, Any], *, patch: bool = False) -> None:
        """Cryptorobot's documented ``BadRequest "Validation failed"`` with ``errors: [{field, message}]``: the
        required fields (not for a patch) and the types of the fields the OpenAPI document declares for input, so
        that no record is kept that the documented record shape does not allow."""
        required = () if patch else {"strategies": ("name", "type", "pair"), "traders": ("name",)}.get(path, ())
        errors = [{"field": name, "message": f"'{name}' is required"} for name in required if not data.get(name)]
        for name, kind in _FIELD_TYPES.get(path, {}).items():
            value = data.get(name)
            if name not in data or name in required and not value:
                continue
            if isinstance(kind, tuple):
                if value not in kind:
                    errors.append({"field": name, "message": f"'{name}' must be one of {', '.join(kind)}"})
            elif not isinstance(value, kind) or kind is not bool and isinstance(value, bool):
                errors.append({"field": name, "message": f"'{name}' must be {_TYPE_NAMES[kind]}"})
            elif kind is str and name in _NON_EMPTY and not value:
                errors.append({"field": name, "message": f"'{name}' must not be empty"})
        if errors:
            raise FeathersError("BadRequest", "Validation failed", errors=errors)

    # -- REST credentials ----------------------------------------------------------------------------------
    def rest_user(self, authorization: str | None, now: float) -> User:
        """``Authorization: Bearer <jwt>`` or ``ApiKey <key>``."""
        scheme, _, value = (authorization or "").partition(" ")
        value = value.strip()
        if scheme.lower() in ("bearer", "jwt") and value:
            payload = self.verify(value, now)
            user = self.users.get(str(payload.get("sub")))
            if user is not None:
                return user
        elif scheme.lower() == "apikey" and value:
            for user in self.users.values():
                if user.api_key == value:
                    return user
            raise _not_authenticated("Invalid API key")
        raise _not_authenticated()

    # -- control and scenario ---------------------------------------------------------------------------------
    def emit(self, event: str, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        user = self.user_by_email(str(data["user"])) if data.get("user") else None
        if event in STREAMS:
            ids = self.feed(event, dict(data.get("data") or {}), now, user=user, count=int(data.get("count", 1)))
            return {"service": STREAMS[event], "ids": ids}
        if event == "record":
            path, method = str(data["service"]), str(data["method"])
            if method == "create":
                record_id = self._apply(user or self._first_user(), "create", path, None, dict(data.get("data") or {}), now)
            else:
                record_id = str(data.get("id"))
                if record_id not in self.tables[path]:
                    raise ValueError(f"{path} has no record {record_id!r}")
                self._apply(None, method, path, record_id, dict(data.get("data") or {}), now)
            return {"service": path, "method": method, "id": record_id}
        if event == "disconnect":
            kicked = [c.id for c in list(self.connections.values()) if user is None or c.user is user]
            for conn_id in kicked:
                self.kicker(conn_id, "server disconnect")
            return {"disconnected": kicked}
        raise ValueError(f"unknown cryptorobot event {event!r}")

    def patch(self, changes: Mapping[str, Any]) -> None:
        if "streams" in changes:
            self.configure(changes["streams"])

    def identify(self, headers: Sequence[tuple[bytes, bytes]], query: bytes) -> str | None:
        """The user a REST request's ``Authorization`` names: a JWT's ``sub`` (valid or not any more) or an API key."""
        import jwt  # on first use: PyJWT (with http.client, email) is ~40 ms of start-up

        for name, value in headers:
            if name != b"authorization":
                continue
            scheme, _, credential = value.decode("latin-1").partition(" ")
            credential = credential.strip()
            if scheme.lower() in ("bearer", "jwt") and credential:
                try:
                    sub = jwt.decode(credential, options={"verify_signature": False}).get("sub")
                except jwt.PyJWTError:
                    return None
                user = self.users.get(str(sub))
                return f"user:{user.email}" if user is not None else None
            if scheme.lower() == "apikey":
                found = next((u for u in self.users.values() if u.api_key == credential), None)
                return f"user:{found.email}" if found is not None else None
        return None

    def settings(self) -> dict[str, Any]:
        """What shapes a client's timing in this run (journaled when the scenario starts)."""
        first = next(iter(self.users.values()), None)
        return {
            #: who the client under test is (the credential it is given)
            "client": f"user:{first.email}" if first is not None else None,
            "token_ttl": self.token_ttl,
            "ping_interval": self.ping_interval,
            "ping_timeout": self.ping_timeout,
            "page_default": self.page_default,
            "page_max": self.page_max,
            "queue_limit": self.queue_limit,
            "streams": dict(self.streams),
            "plans": {
                f"user:{u.email}": {"plan": u.plan, "sockets": u.socket_limit, "requests_per_minute": u.rate_limit}
                for u in self.users.values()
            },
        }

    def credentials(self) -> list[dict[str, Any]]:
        return [{"email": u.email, "password": u.password, "plan": u.plan, "api_key": u.api_key} for u in self.users.values()]

    def snapshot(self) -> dict[str, Any]:
        return {
            "users": self.credentials(),
            "connections": [
                {"id": c.id, "user": c.user.email if c.user else None, "strategy": c.strategy} for c in self.connections.values()
            ],
            "records": {path: len(table) for path, table in self.tables.items()},
            "streams": dict(self.streams),
        }
