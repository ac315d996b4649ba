"""Every rule, registered on import: one module per API, plus the generic ones (one instance per API):
HTTP (Retry-After, backoff, storms), streams (one session, a clean stop) and the contract (documents, client errors)."""

from . import aitrader, contract, http, luckylobster, streams, tradeready

__all__ = ["aitrader", "contract", "http", "luckylobster", "streams", "tradeready"]
