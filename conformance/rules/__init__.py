"""Every rule, registered on import: one module per API, plus the generic HTTP rules (one instance per API)."""

from . import aitrader, http, luckylobster, tradeready

__all__ = ["aitrader", "http", "luckylobster", "tradeready"]
