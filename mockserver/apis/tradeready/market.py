"""A seeded market of 600+ USDT pairs: random-walk trades and candles that close on the virtual clock."""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass

__all__ = ["INTERVAL_SECONDS", "Candle", "Market", "Trade", "all_pairs", "decimal"]

_MAJORS = (
    "BTC ETH SOL BNB XRP ADA DOGE AVAX DOT LINK MATIC LTC TRX SHIB ATOM UNI XLM ETC FIL APT ARB OP NEAR ICP HBAR VET ALGO QNT AAVE "
    "GRT SAND MANA AXS EGLD THETA FTM EOS XTZ FLOW CHZ KAVA RUNE SNX CRV MKR COMP ZEC DASH NEO KSM ENJ BAT ZIL ONE IOTA CELO GALA "
    "IMX LDO INJ SUI SEI TIA PEPE WIF BONK JUP PYTH STX RNDR FET OCEAN WLD ORDI"
).split()
#: Typical prices of the majors, so BTCUSDT looks like bitcoin; the rest are drawn log-uniformly.
_ANCHORS = {
    "BTC": 64000.0,
    "ETH": 3400.0,
    "SOL": 150.0,
    "BNB": 580.0,
    "XRP": 0.52,
    "ADA": 0.45,
    "DOGE": 0.15,
    "AVAX": 35.0,
    "DOT": 7.0,
    "LINK": 15.0,
}
INTERVAL_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}


def all_pairs(count: int = 620) -> list[str]:
    """The same pair list for every scenario: the majors, then made-up tickers (seeded, stable)."""
    return list(_pairs(count))


@functools.lru_cache(maxsize=8)
def _pairs(count: int) -> tuple[str, ...]:  # made once: a reset (a test's setup) need not make them again
    names = list(_MAJORS)
    rng = random.Random(2026)
    taken = set(names)
    while len(names) < count:
        name = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.choice((3, 4, 4, 5))))
        if name not in taken:
            taken.add(name)
            names.append(name)
    return tuple(f"{name}USDT" for name in names[:count])


def decimal(value: float, reference: float | None = None) -> str:
    """A price as the exchange prints it: fewer decimals for larger prices."""
    size = abs(reference if reference is not None else value)
    places = 2 if size >= 1000 else 4 if size >= 1 else 6 if size >= 0.01 else 8
    return f"{value:.{places}f}"


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    price: float
    quantity: float
    is_buyer_maker: bool
    at: float


@dataclass(slots=True)
class Candle:
    symbol: str
    interval: str
    open_time: float
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


class Market:
    def __init__(
        self,
        *,
        seed: int,
        start: float,
        pairs: int = 620,
        symbols_per_tick: int = 20,
        hot: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
        volatility: float = 0.0005,
    ) -> None:
        self.rng = random.Random(f"{seed}:tradeready:market")
        self.symbols = all_pairs(pairs)
        self.known = frozenset(self.symbols)
        self.symbols_per_tick = symbols_per_tick
        self.hot = tuple(s for s in hot if s in self.known)
        self.volatility = volatility
        self.prices: dict[str, float] = {}
        for symbol in self.symbols:
            base = symbol.removesuffix("USDT")
            anchor = _ANCHORS.get(base) or math.exp(self.rng.uniform(math.log(0.0005), math.log(400)))
            self.prices[symbol] = anchor * self.rng.uniform(0.97, 1.03)
        self.candles: dict[tuple[str, str], Candle] = {}
        self.ended: list[Candle] = []
        self.start = start

    def _candle(self, symbol: str, interval: str, at: float) -> Candle:
        size = INTERVAL_SECONDS[interval]
        open_time = at - (at % size)
        key = (symbol, interval)
        candle = self.candles.get(key)
        if candle is None or candle.open_time != open_time:
            if candle is not None:  # it ended before its close timer ran (a tick at the same instant): keep it for the close
                self.ended.append(candle)
            price = self.prices[symbol]
            candle = Candle(symbol, interval, open_time, price, price, price, price)
            self.candles[key] = candle
        return candle

    def trade(self, symbol: str, at: float, *, price: float | None = None) -> Trade:
        old = self.prices[symbol]
        new = price if price is not None else old * math.exp(self.volatility * self.rng.gauss(0.0, 1.0))
        self.prices[symbol] = new
        quantity = round(self.rng.expovariate(1.0) * (50.0 / max(new, 0.0001)) ** 0.5, 6) or 0.000001
        for interval in INTERVAL_SECONDS:
            candle = self._candle(symbol, interval, at)
            candle.high = max(candle.high, new)
            candle.low = min(candle.low, new)
            candle.close = new
            candle.volume += quantity
        return Trade(symbol, new, quantity, self.rng.random() < 0.5, at)

    def tick(self, at: float, *, count: int | None = None) -> list[Trade]:
        """One tick: the hot pairs and ``symbols_per_tick`` others trade (all of them if count >= pairs)."""
        wanted = self.symbols_per_tick if count is None else count
        if wanted >= len(self.symbols):
            chosen = list(self.symbols)
        else:
            others = self.rng.sample(self.symbols, min(len(self.symbols), wanted))
            chosen = list(dict.fromkeys([*self.hot, *others]))
        return [self.trade(symbol, at) for symbol in chosen]

    def close(self, interval: str, boundary: float) -> list[Candle]:
        """Candles of ``interval`` that end at ``boundary`` (those that saw a trade), then start anew."""
        size = INTERVAL_SECONDS[interval]
        closed = [c for c in self.ended if c.interval == interval]
        self.ended = [c for c in self.ended if c.interval != interval]
        for (symbol, name), candle in list(self.candles.items()):
            if name == interval and candle.open_time + size <= boundary:
                closed.append(candle)
                del self.candles[(symbol, name)]
        return closed
