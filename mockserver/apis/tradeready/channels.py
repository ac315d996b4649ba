"""TradeReady's WebSocket protocol, sans I/O: client frames in, replies and subscription changes out.

``documented`` (the seed's SDK): flat channel keys (``ticker:BTCUSDT``, ``ticker:all``,
``candles:BTCUSDT:1m``, ``orders``, ``portfolio``; the structured form is accepted too),
intervals 1m 5m 15m 1h 4h 1d, ``{"type":"pong"}`` (or ``{"action":"pong"}``), acks
``{"type":"subscribed","subscription":KEY}`` and messages with their fields at the top level.

``upstream`` (the public server, reference/protocols.md §3.2-3.3): structured subscribe
``{"action":"subscribe","channel":"ticker","symbol":...}``, at most 10 subscriptions,
intervals 1m 5m 1h 1d, ``{"action":"pong"}``, envelopes ``{"channel","symbol","data"}``,
invalid JSON closes the connection (1000).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ...core.clock import format_instant
from .market import Candle, Trade, decimal

__all__ = [
    "INTERVALS",
    "MAX_SUBSCRIPTIONS",
    "Incoming",
    "Subscriptions",
    "candle_message",
    "order_message",
    "portfolio_message",
    "ticker_message",
]

INTERVALS = {"documented": ("1m", "5m", "15m", "1h", "4h", "1d"), "upstream": ("1m", "5m", "1h", "1d")}
MAX_SUBSCRIPTIONS = 10
#: The seed is silent; the mock caps the documented profile too, so no client can make every tick walk a huge set.
MAX_DOCUMENTED_SUBSCRIPTIONS = 100
MAX_KEY_LENGTH = 64


def _iso_ms(instant: float) -> str:
    return format_instant(instant, precision="ms")


@dataclass(slots=True)
class Incoming:
    """What one client frame did: replies to send, whether it was a pong, a close code."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    pong: bool = False
    close: int | None = None


@dataclass(slots=True)
class Subscriptions:
    profile: str
    subscriptions: set[str] = field(default_factory=set)

    def _error(self, code: str, message: str) -> dict[str, Any]:
        return {"type": "error", "code": code, "message": message}

    def receive(self, text: str) -> Incoming:
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            frame = None
        if not isinstance(frame, dict):
            if self.profile == "upstream":  # the receive loop ends: the server closes the socket
                return Incoming(close=1000)
            return Incoming(replies=[self._error("INVALID_MESSAGE", "Messages must be JSON objects")])
        action = frame.get("action")
        if action == "pong" or (self.profile == "documented" and action is None and frame.get("type") == "pong"):
            return Incoming(pong=True)
        if action not in ("subscribe", "unsubscribe"):
            return Incoming(replies=[self._error("UNKNOWN_ACTION", f"Unknown action: {action}")])
        key = self.resolve(frame)
        if isinstance(key, dict):
            return Incoming(replies=[key])
        if action == "unsubscribe":
            self.subscriptions.discard(key)
            return Incoming(replies=[self._ack("unsubscribed", key)])
        limit = MAX_SUBSCRIPTIONS if self.profile == "upstream" else MAX_DOCUMENTED_SUBSCRIPTIONS
        if key not in self.subscriptions and len(self.subscriptions) >= limit:
            return Incoming(replies=[self._error("SUBSCRIPTION_LIMIT", f"Maximum {limit} subscriptions per connection")])
        self.subscriptions.add(key)
        return Incoming(replies=[self._ack("subscribed", key)])

    def _ack(self, kind: str, key: str) -> dict[str, Any]:
        # The SDK dispatches anything with a "channel" to that key's handlers, so an ack shaped
        # like the server's would reach the seed's ticker handler, which reads data['price']:
        # the documented profile names the key "subscription" so the seed's examples work as written.
        return {"type": kind, "channel": key} if self.profile == "upstream" else {"type": kind, "subscription": key}

    def resolve(self, frame: dict[str, Any]) -> str | dict[str, Any]:
        """The subscription key a subscribe/unsubscribe frame names, or an INVALID_CHANNEL error."""
        key = self._resolve(frame)
        if isinstance(key, str) and len(key) > MAX_KEY_LENGTH:
            return self._error("INVALID_CHANNEL", f"Channel too long (at most {MAX_KEY_LENGTH} characters)")
        return key

    def _resolve(self, frame: dict[str, Any]) -> str | dict[str, Any]:
        channel = frame.get("channel")
        intervals = INTERVALS[self.profile]
        if channel in ("orders", "portfolio"):
            return str(channel)
        if not isinstance(channel, str) or not channel:
            return self._error("INVALID_CHANNEL", "Missing channel")
        if self.profile == "documented" and isinstance(frame.get("symbol"), str) and ":" in frame["symbol"]:
            return self._error("INVALID_CHANNEL", f"Invalid symbol: {frame['symbol']}")
        if self.profile == "documented" and ":" in channel:
            parts = channel.split(":")
            if parts[0] == "ticker" and len(parts) == 2 and parts[1]:
                return "ticker:all" if parts[1].lower() == "all" else f"ticker:{parts[1].upper()}"
            if parts[0] == "candles" and len(parts) == 3 and parts[1] and parts[2] in intervals:
                return f"candles:{parts[1].upper()}:{parts[2]}"
            return self._error("INVALID_CHANNEL", f"Invalid channel: {channel}")
        symbol = frame.get("symbol")
        if channel == "ticker":
            if not isinstance(symbol, str) or not symbol:
                return self._error("INVALID_CHANNEL", "Missing symbol for ticker channel")
            return f"ticker:{symbol.upper()}"
        if channel == "ticker_all":
            return "ticker:all"
        if channel == "candles":
            interval = frame.get("interval")
            if not isinstance(symbol, str) or not symbol:
                return self._error("INVALID_CHANNEL", "Missing symbol for candles channel")
            if interval not in intervals:
                return self._error("INVALID_CHANNEL", f"Invalid interval: {interval}. Valid: {', '.join(intervals)}")
            return f"candles:{symbol.upper()}:{interval}"
        if channel == "battle" and self.profile == "upstream":
            battle = frame.get("battle_id")
            if not isinstance(battle, str) or not battle:
                return self._error("INVALID_CHANNEL", "Missing battle_id for battle channel")
            return f"battle:{battle}"
        return self._error("INVALID_CHANNEL", f"Invalid channel: {channel}")

    def wants_ticker(self, symbol: str) -> bool:
        return "ticker:all" in self.subscriptions or f"ticker:{symbol}" in self.subscriptions


# -- messages ----------------------------------------------------------------------------
def ticker_message(profile: str, trade: Trade) -> dict[str, Any]:
    price, quantity, stamp = decimal(trade.price), f"{trade.quantity:.6f}".rstrip("0").rstrip(".") or "0", _iso_ms(trade.at)
    if profile == "upstream":
        return {
            "channel": "ticker",
            "symbol": trade.symbol,
            "data": {"price": price, "quantity": quantity, "timestamp": stamp, "is_buyer_maker": trade.is_buyer_maker},
        }
    return {
        "channel": f"ticker:{trade.symbol}",
        "type": "ticker",
        "symbol": trade.symbol,
        "price": price,
        "quantity": quantity,
        "timestamp": stamp,
    }


def candle_message(profile: str, candle: Candle) -> dict[str, Any]:
    ref = candle.close
    ohlcv = {
        "open": decimal(candle.open, ref),
        "high": decimal(candle.high, ref),
        "low": decimal(candle.low, ref),
        "close": decimal(candle.close, ref),
        "volume": f"{candle.volume:.6f}",
    }
    if profile == "upstream":
        return {
            "channel": "candles",
            "symbol": candle.symbol,
            "interval": candle.interval,
            "data": {"time": _iso_ms(candle.open_time), **ohlcv, "is_closed": True},
        }
    return {
        "channel": f"candles:{candle.symbol}:{candle.interval}",
        "type": "candle",
        "symbol": candle.symbol,
        "interval": candle.interval,
        **ohlcv,
        "open_time": _iso_ms(candle.open_time),
    }


def order_message(profile: str, order: dict[str, Any]) -> dict[str, Any]:
    if profile == "upstream":
        return {"channel": "orders", "data": order}
    return {"channel": "orders", **order}  # flat, as the seed's handler reads it (its "type" is the order type)


def portfolio_message(profile: str, snapshot: dict[str, Any]) -> dict[str, Any]:
    if profile == "upstream":
        upstream_keys = ("total_equity", "unrealized_pnl", "realized_pnl", "timestamp", "available_cash")
        return {"channel": "portfolio", "data": {k: snapshot[k] for k in upstream_keys}}
    keys = ("total_equity", "available_cash", "unrealized_pnl", "realized_pnl", "roi_pct", "timestamp")
    return {"channel": "portfolio", "type": "portfolio", **{k: snapshot[k] for k in keys}}
