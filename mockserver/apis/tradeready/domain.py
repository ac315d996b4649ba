"""TradeReady ("AgentExchange") as a pure state machine: keys, a market, accounts, on the scheduler.

The market ticks and candles close on timers of the runtime's scheduler, and only while
someone watches (:meth:`TradeReady.watch`): a scenario with no TradeReady client costs
nothing. What happens is handed to ``listener`` (set by the WebSocket adapter) as
``("trades", [Trade])``, ``("candles", [Candle])``, ``("order", key, order)`` and
``("portfolio", key, snapshot)``.
"""

from __future__ import annotations

import functools
import random
import string
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ...core.clock import format_instant
from ...core.durations import parse_duration
from ...core.scheduler import Scheduler, Timer
from .market import INTERVAL_SECONDS, Market, decimal

__all__ = ["Account", "ApiKey", "TradeReady"]

_KEY_CHARS = string.ascii_letters + string.digits + "-_"
Listener = Callable[..., None]


@dataclass(slots=True)
class ApiKey:
    key: str
    name: str
    revoked: bool = False


@dataclass(slots=True)
class Account:
    initial_cash: float
    cash: float
    positions: dict[str, list[float]] = field(default_factory=dict)  # symbol -> [quantity, average price]
    realized: float = 0.0


def _money(value: float, places: int = 2) -> str:
    """Fixed decimals, never "-0.00"."""
    return f"{round(value, places) + 0.0:.{places}f}"


def _quantity(value: float) -> str:
    """A quantity as exact as the account holds it (up to 8 decimals, no trailing zeros)."""
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"


class TradeReady:
    name = "tradeready"

    def __init__(
        self, *, state: Mapping[str, Any], options: Mapping[str, Any], seed: int, start: float, profile: str = "documented"
    ) -> None:
        self.profile = profile
        self.options = dict(options)
        self.rng = random.Random(f"{seed}:tradeready")
        market = dict(state.get("market") or {})
        self.market = Market(
            seed=seed,
            start=start,
            pairs=int(market.get("pairs", 620)),
            symbols_per_tick=int(market.get("symbols_per_tick", 20)),
            volatility=float(market.get("volatility", 0.0005)),
        )
        self.tick_interval = parse_duration(market.get("tick_interval", "1s"))
        self.portfolio_interval: float | None = (
            parse_duration(market["portfolio_interval"])
            if market.get("portfolio_interval") is not None
            else (None if "portfolio_interval" in market else 5.0)
        )
        self.ping_interval = parse_duration(self.options.get("ping_interval", "30s"))
        self.pong_timeout = parse_duration(self.options.get("pong_timeout", "10s"))
        self.auth_failure = str(self.options.get("auth_failure", "reject_403"))
        self.queue_limit = int(self.options.get("queue_limit", 1000))
        #: the kernel's send buffer per connection (bytes; None: the kernel's own, autotuned up to megabytes)
        self.send_buffer: int | None = int(self.options["send_buffer"]) if self.options.get("send_buffer") else None
        self.keys: dict[str, ApiKey] = {}
        self.accounts: dict[str, Account] = {}
        for spec in state.get("keys") or [{"name": "demo-agent"}]:
            key = ApiKey(
                str(spec.get("key") or "ak_live_" + "".join(self.rng.choice(_KEY_CHARS) for _ in range(64))),
                str(spec.get("name") or f"agent-{len(self.keys) + 1}"),
                bool(spec.get("revoked", False)),
            )
            self.keys[key.key] = key
            cash = float(spec.get("cash", 10000.0))
            self.accounts[key.key] = Account(cash, cash)
        self.listener: Listener | None = None
        self.scheduler: Scheduler | None = None
        self.watchers = 0
        self._timers: list[Timer] = []
        self._orders = 0

    # -- keys --------------------------------------------------------------------------------------
    def authenticate(self, api_key: str | None) -> ApiKey | None:
        key = self.keys.get(api_key or "")
        return None if key is None or key.revoked else key

    def identify(self, headers: Sequence[tuple[bytes, bytes]], query: bytes) -> str | None:
        """The key a handshake's ``api_key`` query parameter names (also a revoked one)."""
        for part in query.split(b"&"):
            name, _, value = part.partition(b"=")
            if name == b"api_key":
                key = self.keys.get(unquote(value.decode("latin-1")))
                return f"key:{key.name}" if key is not None else None
        return None

    def settings(self) -> dict[str, Any]:
        """What shapes a client's timing in this run (journaled when the scenario starts)."""
        first = next(iter(self.keys.values()), None)
        return {
            #: who the client under test is (the credential it is given)
            "client": f"key:{first.name}" if first is not None else None,
            "ping_interval": self.ping_interval,
            "pong_timeout": self.pong_timeout,
            "auth_failure": self.auth_failure,
            "queue_limit": self.queue_limit,
            "send_buffer": self.send_buffer,
            "tick_interval": self.tick_interval,
            "portfolio_interval": self.portfolio_interval,
        }

    def key_ref(self, ref: Any) -> ApiKey:
        if ref is None:
            return next(iter(self.keys.values()))
        for key in self.keys.values():
            if ref in (key.key, key.name):
                return key
        raise ValueError(f"no tradeready key {ref!r}; keys: {', '.join(k.name for k in self.keys.values())}")

    def credentials(self) -> list[dict[str, Any]]:
        return [{"key": k.key, "name": k.name, "revoked": k.revoked} for k in self.keys.values()]

    # -- the clock: ticks and candle closes, while watched ---------------------------------------------
    def attach(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def watch(self, delta: int) -> None:
        """A connection opened (+1) or closed (-1): the market runs while anyone watches."""
        self.watchers = max(0, self.watchers + delta)
        if self.watchers and not self._timers:
            self._start_timers()
        elif not self.watchers and self._timers:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()

    def _start_timers(self) -> None:
        scheduler = self.scheduler
        if scheduler is None:
            return
        now = scheduler.clock.now()
        self._repeat(now + self.tick_interval, self.tick_interval, self._tick)
        for interval, size in INTERVAL_SECONDS.items():
            self._repeat(now - (now % size) + size, float(size), functools.partial(self._close, interval))
        if self.portfolio_interval:
            self._repeat(now + self.portfolio_interval, self.portfolio_interval, self._portfolios)

    def _repeat(self, first: float, every: float, action: Callable[[float], None]) -> None:
        assert self.scheduler is not None
        index = len(self._timers)

        def fire(due: float) -> None:
            action(due)
            if self._timers and self.scheduler is not None:
                self._timers[index] = self.scheduler.call_at(due + every, fire, name="tradeready")

        self._timers.append(self.scheduler.call_at(first, fire, name="tradeready"))

    def _emit(self, *what: Any) -> None:
        if self.listener is not None:
            self.listener(*what)

    def _tick(self, due: float, count: int | None = None) -> None:
        self._emit("trades", self.market.tick(due, count=count))

    def _close(self, interval: str, due: float) -> None:
        closed = self.market.close(interval, due)
        if closed:
            self._emit("candles", closed)

    def _portfolios(self, due: float) -> None:
        for key in self.keys.values():
            self._emit("portfolio", key.key, self.snapshot_for(key.key, due))

    # -- accounts ----------------------------------------------------------------------------------
    def snapshot_for(self, key: str, now: float) -> dict[str, Any]:
        account = self.accounts[key]
        value = unrealized = 0.0
        for symbol, (quantity, average) in account.positions.items():
            price = self.market.prices.get(symbol, average)
            value += quantity * price
            unrealized += quantity * (price - average)
        equity = account.cash + value
        roi = (equity - account.initial_cash) / account.initial_cash * 100 if account.initial_cash else 0.0
        return {
            "total_equity": _money(equity),
            "available_cash": _money(account.cash),
            "unrealized_pnl": _money(unrealized),
            "realized_pnl": _money(account.realized),
            "roi_pct": _money(roi),
            "timestamp": format_instant(now, precision="ms"),
        }

    def _order(self, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        key = self.key_ref(data.get("key"))
        self._orders += 1
        symbol = str(data.get("symbol") or "BTCUSDT").upper()
        if symbol not in self.market.known:
            raise ValueError(f"unknown symbol {symbol!r}")
        side = str(data.get("side") or "buy")
        status = str(data.get("status") or "filled")
        market_price = self.market.prices[symbol]
        quantity = float(data.get("quantity") or round(100.0 / market_price, 6) or 0.000001)
        order: dict[str, Any] = {
            "order_id": str(data.get("order_id") or uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "status": status,
            "symbol": symbol,
            "side": side,
            "type": str(data.get("type") or "market"),
            "quantity": _quantity(quantity),
        }
        if data.get("price") is not None:
            order["price"] = decimal(float(data["price"]))
        if status in ("filled", "partially_filled"):
            price = float(data.get("price") or market_price)
            filled = quantity if status == "filled" else round(quantity / 2, 8)
            fee = filled * price * 0.001
            order.update(
                executed_price=decimal(price),
                executed_quantity=_quantity(filled),
                fee=_money(fee, 4),
                filled_at=format_instant(now, precision="ms"),
            )
            self._fill(key.key, symbol, side, filled, price, fee)
        elif status == "cancelled":
            order["cancelled_at"] = format_instant(now, precision="ms")
        elif status == "rejected":
            order["rejected_reason"] = "insufficient_balance"
        self._emit("order", key.key, order)
        if "executed_price" in order:
            self._emit("portfolio", key.key, self.snapshot_for(key.key, now))
        return order

    def _fill(self, key: str, symbol: str, side: str, quantity: float, price: float, fee: float) -> None:
        account = self.accounts[key]
        held, average = account.positions.get(symbol, [0.0, 0.0])
        if side == "buy":
            account.cash -= quantity * price + fee
            total = held + quantity
            account.positions[symbol] = [total, (held * average + quantity * price) / total]
        else:
            account.cash += quantity * price - fee
            account.realized += (price - average) * min(quantity, held) - fee
            left = held - quantity
            if left > 1e-12:
                account.positions[symbol] = [left, average]
            else:
                account.positions.pop(symbol, None)

    # -- scenario hooks ----------------------------------------------------------------------------
    def emit(self, event: str, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        if event == "order":
            return {"order": self._order(data, now)}
        if event == "portfolio":
            key = self.key_ref(data.get("key"))
            snapshot = self.snapshot_for(key.key, now)
            self._emit("portfolio", key.key, snapshot)
            return {"portfolio": snapshot}
        if event == "burst":
            ticks = int(data.get("ticks", 10))
            for _ in range(ticks):
                self._tick(now, count=data.get("symbols_per_tick"))
            return {"ticks": ticks}
        if event == "price":
            symbol = str(data["symbol"]).upper()
            if symbol not in self.market.known:
                raise ValueError(f"unknown symbol {symbol!r}")
            self._emit("trades", [self.market.trade(symbol, now, price=float(data["price"]))])
            return {"symbol": symbol, "price": data["price"]}
        if event in ("revoke", "restore"):
            key = self.key_ref(data.get("key"))
            key.revoked = event == "revoke"
            return {"key": key.name, "revoked": key.revoked}
        raise ValueError(f"unknown tradeready event {event!r}")

    def patch(self, changes: Mapping[str, Any]) -> None:
        market = dict(changes.get("market") or {})
        restart = False
        if "tick_interval" in market:
            self.tick_interval, restart = parse_duration(market["tick_interval"]), True
        if "symbols_per_tick" in market:
            self.market.symbols_per_tick = int(market["symbols_per_tick"])
        if "volatility" in market:
            self.market.volatility = float(market["volatility"])
        if "portfolio_interval" in market:
            value = market["portfolio_interval"]
            self.portfolio_interval, restart = (parse_duration(value) if value is not None else None), True
        if restart and self._timers:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self._start_timers()

    def snapshot(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "keys": self.credentials(),
            "pairs": len(self.market.symbols),
            "watchers": self.watchers,
            "prices": {s: decimal(self.market.prices[s]) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT") if s in self.market.known},
        }
