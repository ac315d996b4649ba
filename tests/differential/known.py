"""Differences from the public server that the upstream profile keeps on purpose, each with its reason.

Matched by ``fnmatch`` on the step id and on where in the answer the difference is. The README's
"Fidelity notes (AI-Trader)" lists the same facts for users.
"""

from __future__ import annotations

__all__ = ["KNOWN"]

_NOT_SERVED = "answered 501 with the reason: the profile does not serve routes that need {}"

KNOWN: list[dict[str, str]] = [
    {"step": "K.grouped", "where": "*", "reason": _NOT_SERVED.format("trades and positions priced with live market data")},
    {"step": "K.token-recovery", "where": "*", "reason": _NOT_SERVED.format("an Ethereum wallet's signature")},
]
