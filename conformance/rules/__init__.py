"""Every rule, registered on import: one module per API, plus the generic ones (one instance per API):
HTTP (Retry-After, backoff, storms), streams (one session, a clean stop) and the contract (documents, client errors)."""

from . import aitrader, contract, cryptorobot, http, luckylobster, streams, tradeready, tradingpartners

__all__ = ["aitrader", "contract", "cryptorobot", "http", "luckylobster", "streams", "tradeready", "tradingpartners"]
