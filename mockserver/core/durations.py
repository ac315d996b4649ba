"""Durations written the way people write them: ``90``, ``1.5``, ``500ms``, ``10s``, ``5m``, ``1h30m``, ``2d``."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["DURATION_PATTERN", "DURATION_SCHEMA", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
#: The JSON Schema pattern for a duration string (kept in step with parse_duration).
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$|^\s*\d+(\.\d+)?\s*$"
#: The JSON Schema of a duration, shared by every schema that takes one.
DURATION_SCHEMA: dict[str, Any] = {
    "oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": DURATION_PATTERN}],
    "description": "seconds, or a string like 500ms, 10s, 5m, 1h30m, 2d",
}


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``value``; raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a duration, got {type(value).__name__} {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration can't be negative: {value}")
        return float(value)
    text = value.strip().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"expected a duration like 90, 500ms, 10s, 5m, 1h30m or 2d, got {value!r}")
    return total


def format_duration(seconds: float) -> str:
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    parts = []
    remaining = seconds
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if remaining >= size:
            count = int(remaining // size)
            parts.append(f"{count}{unit}")
            remaining -= count * size
    if remaining or not parts:
        parts.append(f"{remaining:g}s")
    return "".join(parts)
