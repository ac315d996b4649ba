"""LuckyLobster's agent API as a pure state machine (no framework, no clock reads).

Every handler takes the virtual ``now`` and returns a :class:`Reply`. The adapter
(``app.py``) turns HTTP into calls here; the scenario runner calls :meth:`emit`
and :meth:`patch`.

Choices where the seed and the docs are silent (see README "Fidelity notes"):
ORDER_FILLED / STRATEGY_EXECUTED / STRATEGY_COMPLETED / STRATEGY_CANCELLED report
what happened since this key's previous reporting heartbeat; a SLEEPING answer
does not move that cursor (its body has no orderActivity), so nothing is lost
overnight. ``recentFills`` lists the fills of the last 24 virtual hours, newest
first, at most 10.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from faker import Faker

from ...core.clock import format_instant
from ...core.durations import parse_duration
from ...core.reply import Reply
from .schema import ACTION_TYPES, PERMISSIONS, STRATEGY_TYPES

__all__ = ["ActiveHours", "ApiKey", "LuckyLobster"]

_PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}
_TABLE_ORDER = {kind: index for index, kind in enumerate(ACTION_TYPES)}
_ASSETS = ("Bitcoin", "Ethereum", "Solana", "XRP", "Dogecoin")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")


def _money(value: float) -> float:
    return round(value + 0.0, 2)


@lru_cache(maxsize=256)
def _iso(instant: float) -> str:
    return format_instant(instant, precision="s")


def _iso_ms_if_needed(instant: float) -> str:
    return _iso(instant) if instant == int(instant) else format_instant(instant, precision="ms")


@dataclass(frozen=True, slots=True)
class ActiveHours:
    start: str
    end: str
    timezone: str

    def contains(self, instant: float) -> bool:
        """Is ``instant`` inside the window, read in the window's time zone (DST-aware)?"""
        local = datetime.fromtimestamp(instant, UTC).astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        start = int(self.start[:2]) * 60 + int(self.start[3:])
        end = int(self.end[:2]) * 60 + int(self.end[3:])
        if start == end:
            return True
        if start < end:
            return start <= minute < end
        return minute >= start or minute < end  # across midnight

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start, "end": self.end, "timezone": self.timezone}


@dataclass(slots=True)
class ApiKey:
    key: str
    name: str
    permissions: tuple[str, ...] = PERMISSIONS
    interval_ms: int = 60_000
    active_hours: ActiveHours | None = None
    rate_limit: int | None = 100
    revoked: bool = False
    #: who the key identifies in the journal: ``key:<name>`` (``#2``, ``#3`` ... for keys sharing a name)
    principal: str = ""
    # per-key counters
    heartbeat_count: int = 0
    cursor: int = 0  # last notification sequence reported to this key
    window_start: float | None = None
    window_count: int = 0

    def credentials(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "permissions": list(self.permissions)}


@dataclass(slots=True)
class Position:
    conditionId: str
    title: str
    outcome: str
    size: float
    avgPrice: float
    currentPrice: float
    redeemable: bool = False
    negRisk: bool = False
    closesAt: float | None = None


@dataclass(slots=True)
class Strategy:
    id: str
    name: str
    type: str
    status: str = "ACTIVE"
    changed_at: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something that happened, reported once to each key (fills, executions, ...)."""

    seq: int
    kind: str  # fill | executed | completed | cancelled
    at: float
    data: Mapping[str, Any] = field(default_factory=dict)


class LuckyLobster:
    name = "luckylobster"

    def __init__(
        self, *, state: Mapping[str, Any], options: Mapping[str, Any], seed: int, start: float, profile: str = "documented"
    ) -> None:
        self.seed = seed
        self.start = start
        self.options = dict(options)
        self.fake = Faker()
        self.fake.seed_instance(seed)
        self.keys: dict[str, ApiKey] = {}
        names: dict[str, int] = {}
        for spec in state.get("keys") or [{}]:
            for _ in range(int(spec.get("copies", 1))):
                key = self._make_key(spec)
                names[key.name] = names.get(key.name, 0) + 1
                key.principal = f"key:{key.name}" + (f"#{names[key.name]}" if names[key.name] > 1 else "")
                self.keys[key.key] = key
        self.latest_skill_version = int(state.get("latest_skill_version", 9))
        wallet = state.get("wallet") or {}
        self.wallet_balance = float(wallet.get("balance", round(self.fake.pyfloat(min_value=50, max_value=500, right_digits=2), 2)))
        self.wallet_address: str | None = wallet.get("address", "0x" + self.fake.hexify("^" * 40))
        budget = state.get("budget") or {}
        self.limited_by = str(budget.get("limitedBy", "percent"))
        self.budget_limit = float(budget.get("limit", _money(self.wallet_balance * 0.5)))
        self.budget_available = float(budget.get("available", self.budget_limit))
        self.open_orders = int(state.get("open_orders", self.fake.random_int(0, 3)))
        self.seek_trades = bool(state.get("seek_trades", False))
        self.builder_api = bool(state.get("builder_api", True))
        self.recent_window = parse_duration(state.get("recent_fills_window", "24h"))
        positions = state.get("positions", 3)
        self.positions: list[Position] = (
            [self._make_position({}) for _ in range(positions)]
            if isinstance(positions, int)
            else [self._make_position(p) for p in positions]
        )
        strategies = state.get("strategies", 2)
        self.strategies: dict[str, Strategy] = {}
        for spec in [{}] * strategies if isinstance(strategies, int) else strategies:
            strategy = self._make_strategy(spec)
            self.strategies[strategy.id] = strategy
        self.notices: list[Notice] = []
        self._notice_seq = 0
        self.fills_total = 0
        self._memo: dict[str, Any] = {}

    # -- generation (Faker, seeded) ------------------------------------------
    def _make_key(self, spec: Mapping[str, Any]) -> ApiKey:
        key = spec.get("key") if spec.get("copies", 1) == 1 else None
        if not key:
            key = "ll_" + self.fake.pystr(min_chars=64, max_chars=64)
        hours = spec.get("active_hours")
        return ApiKey(
            key=str(key),
            name=str(spec.get("name") or f"{self.fake.user_name()}-agent"),
            permissions=tuple(spec.get("permissions", PERMISSIONS)),
            interval_ms=int(spec.get("interval_ms", 60_000)),
            active_hours=ActiveHours(**hours) if hours else None,
            rate_limit=spec.get("rate_limit", 100),
            revoked=bool(spec.get("revoked", False)),
        )

    def _market_title(self) -> str:
        asset = self.fake.random_element(_ASSETS)
        month = self.fake.random_element(_MONTHS)
        day = self.fake.random_int(1, 28)
        return self.fake.random_element(
            (
                f"{asset} Up or Down - {month} {day}",
                f"Will {asset} close above ${self.fake.random_int(1, 120) * 1000:,} on {month} {day}?",
                f"{asset} above ${self.fake.random_int(1, 9) * 100:,} at end of {month}?",
            )
        )

    def _make_position(self, spec: Mapping[str, Any]) -> Position:
        title = str(spec.get("title") or self._market_title())
        avg = float(spec.get("avgPrice", round(self.fake.pyfloat(min_value=0.05, max_value=0.95), 2)))
        closes_in = spec.get("closes_in")
        return Position(
            conditionId=str(spec.get("conditionId") or "0x" + self.fake.hexify("^" * 64)),
            title=title,
            outcome=str(spec.get("outcome") or self.fake.random_element(("Up", "Down") if "Up or Down" in title else ("Yes", "No"))),
            size=float(spec.get("size", self.fake.random_int(5, 200))),
            avgPrice=avg,
            currentPrice=float(
                spec.get("currentPrice", round(min(0.99, max(0.01, avg + self.fake.pyfloat(min_value=-0.2, max_value=0.2))), 2))
            ),
            redeemable=bool(spec.get("redeemable", False)),
            negRisk=bool(spec.get("negRisk", False)),
            closesAt=None if closes_in is None else self.start + parse_duration(closes_in),
        )

    def _make_strategy(self, spec: Mapping[str, Any]) -> Strategy:
        kind = str(spec.get("type") or self.fake.random_element(STRATEGY_TYPES))
        asset = self.fake.random_element(_ASSETS)
        default_name = {
            "PRICE_ALERT": f"{asset} dip buyer",
            "RECURRING_BUY": f"Daily {asset} accumulation",
            "TAKE_PROFIT": f"{asset} take-profit",
            "STOP_LOSS": f"{asset} stop-loss",
        }[kind]
        return Strategy(
            id=str(spec.get("id") or "strat_" + self.fake.bothify("??##??##").lower()),
            name=str(spec.get("name") or default_name),
            type=kind,
            status=str(spec.get("status", "ACTIVE")),
            changed_at=self.start,
        )

    # -- credentials ------------------------------------------------------------
    def credentials(self) -> list[dict[str, Any]]:
        return [k.credentials() for k in self.keys.values()]

    def primary_key(self) -> ApiKey:
        return next(iter(self.keys.values()))

    # -- auth and rate limit --------------------------------------------------
    @staticmethod
    def error(status: int, error: str, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        return Reply(status, {"success": False, "error": error, "message": message}, dict(headers or {}))

    def authenticate(self, authorization: str | None, x_api_key: str | None) -> ApiKey | Reply:
        token: str | None = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                token = value.strip()
        if token is None and x_api_key:
            token = x_api_key.strip()
        key = self.keys.get(token or "")
        if key is None or key.revoked:
            return self.error(401, "Unauthorized", "Invalid or missing API key")
        return key

    def identify(self, headers: Sequence[tuple[bytes, bytes]], query: bytes) -> str | None:
        """The key a request's ``Authorization: Bearer`` or ``X-API-Key`` names (also a revoked one)."""
        token: str | None = None
        for name, value in headers:
            if name == b"authorization":
                scheme, _, rest = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and rest.strip():
                    token = rest.strip()
            elif name == b"x-api-key" and token is None:
                token = value.decode("latin-1").strip()
        key = self.keys.get(token) if token else None
        return key.principal if key is not None else None

    def settings(self) -> dict[str, Any]:
        """What shapes a client's timing in this run (journaled when the scenario starts)."""
        return {
            #: who the client under test is (the credential it is given)
            "client": self.primary_key().principal,
            "keys": {
                k.principal: {
                    "interval_ms": k.interval_ms,
                    "rate_limit": k.rate_limit,
                    "rate_limit_window": 60.0,
                    "active_hours": k.active_hours.to_dict() if k.active_hours else None,
                    "permissions": list(k.permissions),
                    "revoked": k.revoked,
                }
                for k in self.keys.values()
            },
            "rate_limit_reset": self.options.get("rate_limit_reset", "epoch"),
        }

    def authorize(self, key: ApiKey, permission: str) -> Reply | None:
        if permission not in key.permissions:
            return self.error(403, "Forbidden", "Insufficient permissions for this action")
        return None

    def rate_limit(self, key: ApiKey, now: float) -> tuple[Reply | None, dict[str, str]]:
        """Count one request; returns (429 reply or None, X-RateLimit-* headers)."""
        if key.rate_limit is None:
            return None, {}
        if key.window_start is None or now >= key.window_start + 60.0:
            key.window_start = now
            key.window_count = 0
        key.window_count += 1
        reset_at = key.window_start + 60.0
        reset = _iso(reset_at) if self.options.get("rate_limit_reset") == "iso" else str(int(-(-reset_at // 1)))
        headers = {
            "X-RateLimit-Limit": str(key.rate_limit),
            "X-RateLimit-Remaining": str(max(0, key.rate_limit - key.window_count)),
            "X-RateLimit-Reset": reset,
        }
        if key.window_count > key.rate_limit:
            wait = max(1, int(-(-(reset_at - now) // 1)))
            headers["Retry-After"] = str(wait)
            return self.error(429, "Too Many Requests", f"Rate limit exceeded. Try again in {wait} seconds.", headers), headers
        return None, headers

    # -- heartbeat ---------------------------------------------------------------
    def heartbeat(self, key: ApiKey, now: float) -> Reply:
        key.heartbeat_count += 1
        stamp = int(now)  # the seed shows whole seconds
        heartbeat = {
            "next_check_at": _iso_ms_if_needed(stamp + key.interval_ms / 1000.0),
            "interval_ms": key.interval_ms,
            "active_hours": key.active_hours.to_dict() if key.active_hours else None,
            "heartbeat_count": key.heartbeat_count,
            "latest_skill_version": self.latest_skill_version,
        }
        if key.active_hours is not None and not key.active_hours.contains(now):
            hours = key.active_hours
            data: dict[str, Any] = {
                "status": "SLEEPING",
                "timestamp": _iso(stamp),
                "message": f"Outside active hours ({hours.start}-{hours.end} {hours.timezone}). Suggested next check at next_check_at.",
                "heartbeat": heartbeat,
            }
            return Reply(200, {"success": True, "data": data})
        fresh = self.notices[key.cursor :]  # notice n has seq n + 1: no scan of the whole history
        actions = self._actions(now, fresh)
        data = {"status": "ACTION_NEEDED" if actions else "OK", "timestamp": _iso(stamp)}
        if actions:
            data["actions"] = actions
        data["portfolio"] = self._portfolio()
        data["orderActivity"] = self._order_activity(now, fresh)
        data["budget"] = {
            "available": _money(self.budget_available),
            "limitedBy": self.limited_by,
            "walletBalance": _money(self.wallet_balance),
        }
        data["heartbeat"] = heartbeat
        key.cursor = self._notice_seq
        return Reply(200, {"success": True, "data": data})

    def _open_positions(self) -> list[Position]:
        return [p for p in self.positions if not p.redeemable]

    def _redeemable(self) -> list[Position]:
        return [p for p in self.positions if p.redeemable]

    def _redeem_value(self, position: Position) -> float:
        return _money(position.size * 1.0)  # a winning share redeems at $1

    def _portfolio(self) -> dict[str, Any]:
        portfolio: dict[str, Any] = self._memoized("portfolio", self._build_portfolio)
        return portfolio

    def _build_portfolio(self) -> dict[str, Any]:
        open_positions = self._open_positions()
        redeemable = self._redeemable()
        return {
            "openPositions": len(open_positions),
            "totalValue": _money(sum(p.size * p.currentPrice for p in open_positions)),
            "unrealizedPnl": _money(sum(p.size * (p.currentPrice - p.avgPrice) for p in open_positions)),
            "redeemableCount": len(redeemable),
            "redeemableValue": _money(sum(self._redeem_value(p) for p in redeemable)),
        }

    def _order_activity(self, now: float, fresh: list[Notice]) -> dict[str, Any]:
        recent: list[Mapping[str, Any]] = []
        for notice in reversed(self.notices):  # newest first; stop at the window's edge
            if notice.at < now - self.recent_window or len(recent) == 10:
                break
            if notice.kind == "fill":
                recent.append(notice.data)
        return {
            "openOrders": self.open_orders,
            "filledSinceLastHeartbeat": sum(1 for n in fresh if n.kind == "fill"),
            "recentFills": recent,
        }

    # The state-derived parts of an answer only change when the state does: they are memoized
    # until the next emit, patch, redeem or resume (_touch). The heartbeat is every client's hot path.
    def _touch(self) -> None:
        self._memo.clear()

    def _memoized(self, name: str, build: Callable[[], Any]) -> Any:
        if name not in self._memo:
            self._memo[name] = build()
        return self._memo[name]

    def _actions(self, now: float, fresh: list[Notice]) -> list[dict[str, Any]]:
        """Actions sorted by priority, then in the seed's table order."""
        standing: list[dict[str, Any]] = self._memoized("standing", self._standing_actions)
        closing: list[Position] = self._memoized("closing", lambda: [p for p in self._open_positions() if p.closesAt is not None])
        if not fresh and not closing:
            return standing
        news = self._news_actions(now, fresh, closing)
        if not news:
            return standing
        return sorted([*standing, *news], key=lambda a: (_PRIORITY_ORDER[a["priority"]], _TABLE_ORDER[a["type"]]))

    def _standing_actions(self) -> list[dict[str, Any]]:
        """REDEEM, BUDGET_LOW, SEEK_TRADES, STRATEGY_ERROR, STRATEGY_PAUSED: they last as long as their cause."""
        actions: list[dict[str, Any]] = []

        def add(kind: str, summary: str, details: dict[str, Any]) -> None:
            actions.append({"type": kind, "priority": ACTION_TYPES[kind], "summary": summary, "details": details})

        redeemable = self._redeemable()
        if redeemable:
            value = sum(self._redeem_value(p) for p in redeemable)
            add(
                "REDEEM",
                f"{len(redeemable)} position(s) ready to redeem (~${value:,.2f})",
                {
                    "count": len(redeemable),
                    "estimatedValue": _money(value),
                    "positions": [
                        {"conditionId": p.conditionId, "title": p.title, "outcome": p.outcome, "size": p.size} for p in redeemable
                    ],
                    "action": "POST /settlements/redeem",
                },
            )
        if self.budget_available < 5 or (self.budget_limit > 0 and self.budget_available < 0.1 * self.budget_limit):
            add(
                "BUDGET_LOW",
                f"Budget low: ${self.budget_available:,.2f} available",
                {
                    "available": _money(self.budget_available),
                    "limit": _money(self.budget_limit),
                    "limitedBy": self.limited_by,
                    "percentRemaining": round(100 * self.budget_available / self.budget_limit, 1) if self.budget_limit else 0.0,
                },
            )
        if self.seek_trades and self.budget_available >= 5:
            add(
                "SEEK_TRADES",
                f"${self.budget_available:,.2f} available - trading opportunities may exist",
                {"available": _money(self.budget_available), "limitedBy": self.limited_by},
            )
        for status, kind, verb in (
            ("ERROR", "STRATEGY_ERROR", "auto-paused after consecutive errors"),
            ("PAUSED", "STRATEGY_PAUSED", "paused from the dashboard"),
        ):
            hit = [s for s in self.strategies.values() if s.status == status]
            if hit:
                add(
                    kind,
                    f"{len(hit)} strateg{'y' if len(hit) == 1 else 'ies'} {verb}",
                    {
                        "count": len(hit),
                        "strategies": [self._strategy_view(s) for s in hit],
                        "action": "POST /strategies/{id}/resume",
                    },
                )
        actions.sort(key=lambda a: (_PRIORITY_ORDER[a["priority"]], _TABLE_ORDER[a["type"]]))
        return actions

    def _news_actions(self, now: float, fresh: list[Notice], closing: list[Position]) -> list[dict[str, Any]]:
        """ORDER_FILLED, POSITION_EXPIRING, STRATEGY_EXECUTED/COMPLETED/CANCELLED: news since the key's last report."""
        actions: list[dict[str, Any]] = []

        def add(kind: str, summary: str, details: dict[str, Any]) -> None:
            actions.append({"type": kind, "priority": ACTION_TYPES[kind], "summary": summary, "details": details})

        fills = [n.data for n in fresh if n.kind == "fill"]
        if fills:
            pnl = sum(float(f["realizedPnl"]) for f in fills)
            add(
                "ORDER_FILLED",
                f"{len(fills)} order(s) filled since last check",
                {"count": len(fills), "totalPnl": _money(pnl), "fills": fills},
            )
        expiring = [p for p in closing if p.closesAt is not None and now <= p.closesAt <= now + 1800]
        if expiring:
            add(
                "POSITION_EXPIRING",
                f"{len(expiring)} position(s) in markets closing within 30 minutes",
                {
                    "count": len(expiring),
                    "positions": [
                        {
                            "conditionId": p.conditionId,
                            "title": p.title,
                            "outcome": p.outcome,
                            "size": p.size,
                            "closesAt": _iso(p.closesAt or now),
                            "minutesRemaining": int(((p.closesAt or now) - now) // 60),
                        }
                        for p in expiring
                    ],
                },
            )
        executed = [n.data for n in fresh if n.kind == "executed"]
        if executed:
            add(
                "STRATEGY_EXECUTED", f"{len(executed)} trade(s) placed by your strategies", {"count": len(executed), "executions": executed}
            )
        for notice_kind, kind, text in (
            ("completed", "STRATEGY_COMPLETED", "finished"),
            ("cancelled", "STRATEGY_CANCELLED", "cancelled from the dashboard"),
        ):
            hit_data = [n.data for n in fresh if n.kind == notice_kind]
            if hit_data:
                details: dict[str, Any] = {"count": len(hit_data), "strategies": hit_data}
                if kind == "STRATEGY_CANCELLED":
                    details["action"] = "Create a new strategy if needed"
                add(kind, f"{len(hit_data)} strateg{'y' if len(hit_data) == 1 else 'ies'} {text}", details)
        return actions

    def _strategy_view(self, strategy: Strategy) -> dict[str, Any]:
        view = {
            "id": strategy.id,
            "name": strategy.name,
            "type": strategy.type,
            "status": strategy.status,
            "changedAt": _iso(strategy.changed_at),
        }
        if strategy.reason:
            view["reason"] = strategy.reason
        return view

    # -- settlements --------------------------------------------------------------
    def redeem_preview(self) -> Reply:
        if self.wallet_address is None:
            return self.error(404, "Not Found", "Wallet not found")
        redeemable = self._redeemable()
        total = sum(self._redeem_value(p) for p in redeemable)
        return Reply(
            200,
            {
                "success": True,
                "message": f"{len(redeemable)} position(s) ready to redeem",
                "data": {
                    "positions": [
                        {
                            "conditionId": p.conditionId,
                            "title": p.title,
                            "outcome": p.outcome,
                            "size": p.size,
                            "estimatedValue": f"${self._redeem_value(p):,.2f}",
                            "negRisk": p.negRisk,
                        }
                        for p in redeemable
                    ],
                    "count": len(redeemable),
                    "totalValue": f"${total:,.2f}",
                    "wallet": self.wallet_address,
                },
            },
        )

    def redeem(self, body: Any) -> Reply:
        self._touch()
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return self.error(400, "Bad Request", "Request body must be a JSON object")
        limit = body.get("limit", 10)
        min_value = body.get("minValue", 0.10)
        if isinstance(limit, float) and limit.is_integer():  # 36.0 is the integer 36 to the API's JavaScript (and to JSON Schema)
            limit = int(limit)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
            return self.error(400, "Bad Request", "limit must be an integer between 1 and 50")
        if not isinstance(min_value, (int, float)) or isinstance(min_value, bool) or min_value < 0:
            return self.error(400, "Bad Request", "minValue must be a non-negative number")
        wanted: set[str] | None = None
        if body.get("conditionId") is not None or body.get("conditionIds") is not None:
            ids = body["conditionIds"] if body.get("conditionIds") is not None else [body.get("conditionId")]
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                return self.error(400, "Bad Request", "conditionIds must be a list of strings")
            wanted = set(ids)
        dry_run = body.get("dryRun", False)
        if not isinstance(dry_run, bool):
            return self.error(400, "Bad Request", "dryRun must be a boolean")
        if self.wallet_address is None:
            return self.error(404, "Not Found", "Wallet not found")
        if not self.builder_api and not dry_run:
            return self.error(501, "Not Implemented", "Builder API not configured")
        candidates = [p for p in self._redeemable() if (wanted is None or p.conditionId in wanted) and self._redeem_value(p) >= min_value]
        chosen = candidates[:limit]
        redeemed = []
        for p in chosen:
            item: dict[str, Any] = {"conditionId": p.conditionId, "title": p.title, "outcome": p.outcome, "size": p.size}
            if not dry_run:
                digest = hashlib.sha256(f"{self.seed}:{p.conditionId}".encode()).hexdigest()
                item["txHash"] = "0x" + digest
            redeemed.append(item)
        total = sum(self._redeem_value(p) for p in chosen)
        if not dry_run:
            for p in chosen:
                self.positions.remove(p)
            self.wallet_balance += total
        remaining = len(self._redeemable()) - (len(chosen) if dry_run else 0)
        reply: dict[str, Any] = {
            "success": True,
            "message": (f"Dry run: {len(chosen)} position(s) would be redeemed" if dry_run else f"Redeemed {len(chosen)} position(s)"),
            "data": {
                "processed": len(chosen),
                "redeemed": redeemed,
                "failed": [],
                "remaining": remaining,
                "totalValueRedeemed": _money(total),
            },
        }
        if dry_run:
            reply["dryRun"] = True
        return Reply(200, reply)

    # -- strategies -----------------------------------------------------------------
    def resume_strategy(self, strategy_id: str, now: float) -> Reply:
        self._touch()
        strategy = self.strategies.get(strategy_id)
        if strategy is None:
            return self.error(404, "Not Found", "Strategy not found")
        if strategy.status in ("COMPLETED", "CANCELLED"):
            return self.error(400, "Bad Request", f"Strategy cannot be resumed (status: {strategy.status})")
        strategy.status = "ACTIVE"
        strategy.changed_at = now
        strategy.reason = ""
        return Reply(
            200, {"success": True, "message": "Strategy resumed", "data": {**self._strategy_view(strategy), "resumedAt": _iso(now)}}
        )

    # -- scenario hooks -------------------------------------------------------------
    def _notice(self, kind: str, at: float, data: Mapping[str, Any]) -> None:
        self._notice_seq += 1
        self.notices.append(Notice(self._notice_seq, kind, at, data))

    def emit(self, event: str, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Apply a scenario or control-API event; returns what it did (journaled)."""
        self._touch()
        if event == "fill":
            done = [self._fill(data, now) for _ in range(int(data.get("count", 1)))]
            return {"fills": done}
        if event == "settle":
            count = int(data.get("count", 1))
            opened = self._open_positions()
            while len(opened) < count:
                self.positions.append(self._make_position({}))
                opened = self._open_positions()
            for p in opened[:count]:
                p.redeemable = True
                p.currentPrice = 1.0
            return {"settled": [p.conditionId for p in opened[:count]]}
        if event == "expiring":
            within = parse_duration(data.get("within", "20m"))
            count = int(data.get("count", 1))
            opened = self._open_positions()
            while len(opened) < count:
                self.positions.append(self._make_position({}))
                opened = self._open_positions()
            for p in opened[:count]:
                p.closesAt = now + within
            return {"expiring": [p.conditionId for p in opened[:count]]}
        if event == "strategy":
            return self._strategy_event(data, now)
        if event == "budget":
            self._apply_budget(data)
            return {"budget": {"available": self.budget_available, "limit": self.budget_limit, "limitedBy": self.limited_by}}
        if event == "position":
            position = self._make_position(data)
            self.positions.append(position)
            return {"position": position.conditionId}
        if event == "clear":
            for p in self._redeemable():
                self.positions.remove(p)
            for s in self.strategies.values():
                if s.status in ("PAUSED", "ERROR"):
                    s.status = "ACTIVE"
            for key in self.keys.values():
                key.cursor = self._notice_seq
            self.seek_trades = False
            return {"cleared": True}
        raise ValueError(f"unknown luckylobster event {event!r}")

    def _fill(self, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        size = float(data.get("size", self.fake.random_int(5, 100)))
        price = float(data.get("price", round(self.fake.pyfloat(min_value=0.05, max_value=0.95), 2)))
        side = str(data.get("side") or self.fake.random_element(("BUY", "SELL")))
        pnl = float(data.get("realizedPnl", round(self.fake.pyfloat(min_value=-5, max_value=10), 2) if side == "SELL" else 0.0))
        title = str(data.get("market") or self._market_title())
        fill = {
            "id": "ord_" + self.fake.bothify("???###").lower(),
            "side": side,
            "size": size,
            "filledSize": size,
            "avgFillPrice": price,
            "realizedPnl": _money(pnl),
            "marketQuestion": title if title.endswith("?") else title.split(" - ")[0] + "?",
            "outcome": str(data.get("outcome") or self.fake.random_element(("Up", "Down", "Yes", "No"))),
            "filledAt": _iso(now),
        }
        self.open_orders = max(0, self.open_orders - 1)
        self.fills_total += 1
        self._notice("fill", now, fill)
        return fill

    def _strategy_event(self, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        strategy_id = data.get("id")
        if strategy_id is None:
            if not self.strategies:
                created = self._make_strategy({})
                self.strategies[created.id] = created
            strategy = next(iter(self.strategies.values()))
        elif strategy_id in self.strategies:
            strategy = self.strategies[str(strategy_id)]
        else:
            strategy = self._make_strategy({"id": strategy_id})
            self.strategies[strategy.id] = strategy
        status = str(data["status"])
        if status == "EXECUTED":
            side = str(data.get("side") or "BUY")
            execution = {
                "strategyId": strategy.id,
                "strategyName": strategy.name,
                "type": strategy.type,
                "orderId": "ord_" + self.fake.bothify("???###").lower(),
                "side": side,
                "size": float(data.get("size", self.fake.random_int(5, 50))),
                "price": float(data.get("price", round(self.fake.pyfloat(min_value=0.05, max_value=0.95), 2))),
                "executedAt": _iso(now),
            }
            self._notice("executed", now, execution)
            return {"executed": execution}
        strategy.status = status
        strategy.changed_at = now
        strategy.reason = str(data.get("reason", ""))
        if status == "COMPLETED":
            self._notice(
                "completed",
                now,
                {**self._strategy_view(strategy), "reason": strategy.reason or "budget_exhausted", "completedAt": _iso(now)},
            )
        elif status == "CANCELLED":
            self._notice("cancelled", now, {**self._strategy_view(strategy), "cancelledAt": _iso(now)})
        return {"strategy": self._strategy_view(strategy)}

    def _apply_budget(self, data: Mapping[str, Any]) -> None:
        if "available" in data:
            self.budget_available = float(data["available"])
        if "limit" in data:
            self.budget_limit = float(data["limit"])
        if "limitedBy" in data:
            self.limited_by = str(data["limitedBy"])

    def patch(self, changes: Mapping[str, Any]) -> None:
        """Apply a ``state`` step (validated against STATE_PATCH_SCHEMA by the loader)."""
        self._touch()
        for name, value in changes.items():
            if name == "budget":
                self._apply_budget(value)
            elif name == "wallet":
                if "balance" in value:
                    self.wallet_balance = float(value["balance"])
                if "address" in value:
                    self.wallet_address = value["address"]
            elif name == "keys":
                for ref, patch in value.items():
                    self._patch_key(str(ref), patch)
            elif name == "recent_fills_window":
                self.recent_window = parse_duration(value)
            elif name in ("latest_skill_version", "open_orders"):
                setattr(self, name, int(value))
            elif name in ("seek_trades", "builder_api"):
                setattr(self, name, bool(value))
            else:
                raise ValueError(f"luckylobster state has no field {name!r}")

    def _patch_key(self, ref: str, patch: Mapping[str, Any]) -> None:
        keys = list(self.keys.values())
        matches = [k for k in keys if k.name == ref or k.key == ref] or (
            [keys[int(ref)]] if ref.isascii() and ref.isdigit() and int(ref) < len(keys) else []
        )
        if not matches:
            raise ValueError(f"no luckylobster key named {ref!r}; keys: {', '.join(k.name for k in keys)}")
        for key in matches:
            for field_name, value in patch.items():
                if field_name == "active_hours":
                    key.active_hours = ActiveHours(**value) if value else None
                elif field_name == "permissions":
                    key.permissions = tuple(value)
                else:
                    setattr(key, field_name, value)

    def snapshot(self) -> dict[str, Any]:
        return {
            "keys": [
                {
                    **k.credentials(),
                    "heartbeat_count": k.heartbeat_count,
                    "interval_ms": k.interval_ms,
                    "active_hours": k.active_hours.to_dict() if k.active_hours else None,
                    "revoked": k.revoked,
                }
                for k in self.keys.values()
            ],
            "portfolio": self._portfolio(),
            "budget": {
                "available": self.budget_available,
                "limit": self.budget_limit,
                "limitedBy": self.limited_by,
                "walletBalance": self.wallet_balance,
            },
            "open_orders": self.open_orders,
            "fills_total": self.fills_total,
            "strategies": [self._strategy_view(s) for s in self.strategies.values()],
            "seek_trades": self.seek_trades,
        }


def _check_zone(hours: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(hours, Mapping) and isinstance(hours.get("timezone"), str):
        try:
            ZoneInfo(hours["timezone"])
        except Exception:
            return [((*path, "timezone"), f"unknown IANA time zone {hours['timezone']!r}")]
    return []


def validate_state(state: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Checks JSON Schema cannot express (time zones, unique keys); returns (path, message) pairs."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    seen: dict[str, int] = {}
    for index, key in enumerate(state.get("keys") or []):
        problems += _check_zone(key.get("active_hours"), ("keys", index, "active_hours"))
        if key.get("key") is not None:
            if key["key"] in seen:
                problems.append(
                    (("keys", index, "key"), f"the key {key['key']!r} is already keys[{seen[key['key']]}]; expected each key once")
                )
            seen[key["key"]] = index
            if key.get("copies", 1) > 1:
                problems.append((("keys", index, "copies"), "copies > 1 generates the keys: expected no 'key' beside it"))
    return problems


def validate_patch(state: Mapping[str, Any], changes: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """A ``state`` step's ``set``: key references must name a key of the initial state."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    keys = state.get("keys") or [{}]
    names = [str(k["name"]) for k in keys if k.get("name")] + [str(k["key"]) for k in keys if k.get("key")]
    for ref, patch in (changes.get("keys") or {}).items():
        ref = str(ref)
        if ref not in names and not (ref.isascii() and ref.isdigit() and int(ref) < len(keys)):
            problems.append(
                (
                    ("keys", ref),
                    f"no key named {ref!r}; expected a name, key or index of apis.luckylobster.state.keys ({', '.join(names) or '0'})",
                )
            )
        problems += _check_zone(patch.get("active_hours"), ("keys", ref, "active_hours"))
    return problems
