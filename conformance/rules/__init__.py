"""Every rule, registered on import: one module per API, plus the generic HTTP rules (one instance per API)."""

from . import aitrader, cryptorobot, http, luckylobster

__all__ = ["aitrader", "cryptorobot", "http", "luckylobster"]
