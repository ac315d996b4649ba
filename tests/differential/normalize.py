"""What of an answer two servers must agree on: ids become symbols, tokens and times their kind.

An id is replaced by a symbol of its namespace (``agent``, ``signal``, ``reply``, ...): the name
a step saved it under (``alice``), else ``agent#3`` in order of first appearance during the run.
Two servers that hand out different numbers but the same relations (the same agent followed,
the same reply accepted) normalise alike. A token becomes ``<token>``; a time its format
(``<time:sqlite>`` for ``YYYY-MM-DD HH:MM:SS``, ``<time:iso-z>`` for ``datetime.isoformat() + "Z"``,
``<epoch>`` for integer seconds), because the values differ from run to run but formats do not.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Symbols", "json_differences", "normalize", "shape", "time_kind"]

#: keys whose value is an agent's id, a signal's id, ...
_KEY_NAMESPACES = {
    **dict.fromkeys(("agent_id", "leader_id", "follower_id", "reply_author_id", "accepted_by_id", "to_user_id"), "agent"),
    **dict.fromkeys(
        ("signal_id", "latest_signal_id", "latest_strategy_signal_id", "latest_discussion_signal_id", "follower_signal_id"), "signal"
    ),
    **dict.fromkeys(("reply_id", "accepted_reply_id"), "reply"),
    "message_id": "message",
    "task_id": "task",
}
#: ``id`` inside a list under these keys (``{"messages": [{"id": ...}]}``)
_ID_NAMESPACES = {"messages": "message", "tasks": "task", "replies": "reply", "signals": "signalrow", "subscribers": "agent"}
_TIME_KEYS = frozenset(
    (
        "created_at",
        "updated_at",
        "server_time",
        "timestamp",
        "last_reply_at",
        "subscribed_at",
        "executed_at",
        "opened_at",
        "recent_activity_at",
        "last_signal_at",
        "expires_at",
    )
)
_SECRET_KEYS = frozenset(("token", "challenge"))
_TIME_FORMATS = (
    ("sqlite", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")),
    ("iso-z", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")),
    ("iso-offset", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d:\d\d$")),
)


def time_kind(value: Any) -> Any:
    """``<time:sqlite>``, ``<time:iso-z>``, ``<epoch>``; None stays None; anything else is kept (and so compared)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return "<epoch>"
    if isinstance(value, str):
        for name, pattern in _TIME_FORMATS:
            if pattern.match(value):
                return f"<time:{name}>"
    return value


class Symbols:
    """Id -> symbol, per namespace; names given by the sequence's ``save`` come first."""

    def __init__(self) -> None:
        self._names: dict[str, dict[Any, str]] = {}

    def bind(self, namespace: str, value: Any, name: str) -> None:
        self._names.setdefault(namespace, {})[value] = name

    def name(self, namespace: str, value: Any) -> Any:
        if value is None or isinstance(value, bool) or not isinstance(value, (int, str)):
            return value
        table = self._names.setdefault(namespace, {})
        if value not in table:
            table[value] = f"{namespace}#{len(table) + 1}"
        return table[value]


def normalize(value: Any, symbols: Symbols, *, key: str | None = None, container: str | None = None) -> Any:
    """The answer with ids, tokens and times replaced (see the module's docstring)."""
    if isinstance(value, dict):
        return {k: _field(k, v, symbols, container) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(item, symbols, key=key, container=key) for item in value]
    return value


def _field(key: str, value: Any, symbols: Symbols, container: str | None) -> Any:
    if key in _SECRET_KEYS and isinstance(value, str):
        return f"<{key}>"
    if key in _TIME_KEYS:
        return time_kind(value)
    if key in _KEY_NAMESPACES:
        return symbols.name(_KEY_NAMESPACES[key], value)
    if key == "id":
        return symbols.name(_ID_NAMESPACES.get(container or "", "agent" if container is None else container), value)
    return normalize(value, symbols, key=key, container=container)


def shape(value: Any) -> Any:
    """The JSON type skeleton: objects keep their keys, lists the distinct shapes of their items."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        distinct: list[Any] = []
        for item in value:
            item_shape = shape(item)
            if item_shape not in distinct:
                distinct.append(item_shape)
        return distinct
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def json_differences(expected: Any, actual: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, expected, actual) for every place two JSON values differ (a float is not an int)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[tuple[str, Any, Any]] = []
        for k in sorted(set(expected) | set(actual)):
            sub = f"{path}.{k}"
            if k not in actual:
                found.append((sub, expected[k], "<absent>"))
            elif k not in expected:
                found.append((sub, "<absent>", actual[k]))
            else:
                found += json_differences(expected[k], actual[k], sub)
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [(f"{path}[len]", len(expected), len(actual)), *_first_item_differences(expected, actual, path)]
        found = []
        for index, (a, b) in enumerate(zip(expected, actual, strict=True)):
            found += json_differences(a, b, f"{path}[{index}]")
        return found
    if type(expected) is not type(actual) or expected != actual:
        return [(path, expected, actual)]
    return []


def _first_item_differences(expected: list[Any], actual: list[Any], path: str) -> list[tuple[str, Any, Any]]:
    found: list[tuple[str, Any, Any]] = []
    for index, (a, b) in enumerate(zip(expected, actual, strict=False)):
        found += json_differences(a, b, f"{path}[{index}]")
    return found
