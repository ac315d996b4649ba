"""Plausible Cryptorobot records from the scenario's seed: strategies, bots, tickers, trades, signals ...

``RecordMaker`` owns the seeded random stream and the symbols' random-walk prices; each method
returns the fields of one new record (the domain adds ``_id``, ``userId`` and time stamps).
Feed builders take the owner's traders, so trades and pod events name the owner's own bots.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_SYMBOLS", "EXCHANGES", "STRATEGY_TYPES", "RecordMaker"]

STRATEGY_TYPES = ("momentum", "mean_reversion", "grid", "dca", "breakout", "arbitrage")
EXCHANGES = ("binance", "kraken", "coinbase", "bybit")
DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ADA/USDT", "DOGE/USDT", "AVAX/USDT")
_PRICES = {"BTC": 42400.0, "ETH": 2250.0, "SOL": 98.0, "BNB": 310.0, "XRP": 0.62, "ADA": 0.55, "DOGE": 0.09, "AVAX": 36.0}


class RecordMaker:
    def __init__(self, rng: random.Random, symbols: list[str]) -> None:
        self.rng = rng
        self.symbols = symbols
        self.prices: dict[str, float] = {}
        for symbol in symbols:
            self.prices[symbol] = _PRICES.get(symbol.split("/")[0], round(math.exp(rng.uniform(-3, 5)), 4))

    def symbol(self) -> str:
        return str(self.rng.choice(self.symbols))

    def strategy(self, kind: str | None = None) -> dict[str, Any]:
        kind = kind or self.rng.choice(STRATEGY_TYPES)
        pair = self.symbol()
        return {
            "name": f"{kind.replace('_', ' ').title()} {pair.split('/')[0]}",
            "type": kind,
            "pair": pair,
            "timeframe": self.rng.choice(("5m", "15m", "1h", "4h")),
            "active": True,
            "parameters": {"lookback": self.rng.choice((14, 20, 50)), "threshold": round(self.rng.uniform(0.5, 3), 2)},
        }

    def trader(self, strategy: Mapping[str, Any], status: str) -> dict[str, Any]:
        return {
            "name": f"Bot {strategy['name']}",
            "status": status,
            "strategyId": strategy["_id"],
            "exchange": self.rng.choice(EXCHANGES),
            "pair": strategy["pair"],
            "podId": f"pod-{self.rng.randint(100, 999)}",
            "mode": "paper",
        }

    def price(self, symbol: str, step: float = 0.002) -> float:
        price = self.prices.get(symbol) or 1.0
        price = max(price * math.exp(self.rng.gauss(0, step)), 1e-8)
        self.prices[symbol] = price
        return round(price, 2 if price >= 10 else 6)

    def ticker(self, symbol: str, now: float) -> dict[str, Any]:
        last = self.price(symbol)
        spread = last * 0.0002
        return {
            "_id": f"binance:{symbol}",
            "symbol": symbol,
            "exchange": "binance",
            "last": last,
            "bid": round(last - spread, 2 if last >= 10 else 6),
            "ask": round(last + spread, 2 if last >= 10 else 6),
            "volume": round(self.rng.uniform(1e3, 5e6), 2),
            "change24h": round(self.rng.uniform(-6, 6), 2),
            "timestamp": int(now * 1000),
        }

    def trade(self, traders: list[dict[str, Any]]) -> dict[str, Any]:
        trader = self.rng.choice(traders) if traders else None
        symbol = trader["pair"] if trader else self.symbol()
        price = self.price(symbol, 0.0005)
        return {
            "traderId": trader["_id"] if trader else None,
            "podId": trader["podId"] if trader else None,
            "symbol": symbol,
            "side": self.rng.choice(("buy", "sell")),
            "amount": round(self.rng.choice((0.01, 0.05, 0.1, 0.25, 1.0)) * (1 if price > 100 else 1000), 4),
            "price": price,
            "fee": round(price * 0.001, 6),
            "exchange": trader["exchange"] if trader else "binance",
        }

    def pod_event(self, traders: list[dict[str, Any]]) -> dict[str, Any]:
        trade = self.trade(traders)
        base = trade["symbol"].split("/")[0]
        verb = "Bought" if trade["side"] == "buy" else "Sold"
        return {
            "type": "trade_executed",
            "podId": trade["podId"] or f"pod-{self.rng.randint(100, 999)}",
            "traderId": trade["traderId"],
            "message": f"{verb} {trade['amount']:g} {base} @ {trade['price']:g}",
            "data": {"symbol": trade["symbol"], "side": trade["side"], "amount": trade["amount"], "price": trade["price"]},
        }

    def signal(self, traders: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "type": self.rng.choice(("buy", "sell")),
            "pair": self.symbol(),
            "confidence": round(self.rng.uniform(0.55, 0.97), 2),
            "model": self.rng.choice(("lstm-v3", "xgb-momentum", "transformer-1h")),
            "timeframe": self.rng.choice(("15m", "1h", "4h")),
        }

    def message(self, traders: list[dict[str, Any]]) -> dict[str, Any]:
        symbol = self.symbol()
        return {
            "title": self.rng.choice(("Order filled", "Bot stopped", "Price alert", "Weekly report")),
            "text": f"{symbol} moved {self.rng.uniform(-5, 5):+.2f}% in the last hour",
            "level": self.rng.choice(("info", "warning")),
            "read": False,
        }

    def event(self, traders: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "type": self.rng.choice(("maintenance", "exchange_status", "system")),
            "level": "info",
            "message": self.rng.choice(("Exchange API latency back to normal", "Scheduled maintenance in 2 hours", "New model deployed")),
        }
