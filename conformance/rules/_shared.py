"""What several rules need: exchanges grouped by who sent them, instants and durations in answers, the words of findings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from email.utils import parsedate_to_datetime

from mockserver.core.clock import format_instant, parse_instant

from ..evidence import Exchange

__all__ = ["at", "by_principal", "instant", "retry_after", "seconds"]


def by_principal(exchanges: Iterable[Exchange]) -> dict[str | None, list[Exchange]]:
    """Exchanges grouped by the principal their credential names (a client's own sequence), oldest first."""
    groups: dict[str | None, list[Exchange]] = defaultdict(list)
    for exchange in exchanges:
        groups[exchange.principal].append(exchange)
    return dict(groups)


def instant(text: object) -> float | None:
    """An ISO 8601 instant in an answer (``next_check_at``) as epoch seconds; None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        return parse_instant(text)
    except ValueError:
        return None


def retry_after(exchange: Exchange) -> float | None:
    """The answer's ``Retry-After`` in seconds from when it was sent (delta seconds or an HTTP date)."""
    value = exchange.header("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - exchange.done)
    except (TypeError, ValueError):
        return None


def at(vtime: float) -> str:
    """A virtual instant for a finding's sentence: ``14:31:00.250``."""
    return format_instant(vtime, precision="ms")[11:23]


def seconds(value: float) -> str:
    """A duration for a finding's sentence: ``12.5 s``."""
    return f"{value:.1f} s" if value < 600 else f"{value / 60:.1f} min"


def pairs(items: Sequence[Exchange]) -> Iterable[tuple[Exchange, Exchange]]:
    return zip(items, items[1:], strict=False)
