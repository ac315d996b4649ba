"""Feathers' query language over in-memory records (what ``@feathersjs/memory`` does).

``$limit`` (default 25, at most 100), ``$skip``, ``$sort``, ``$select``, ``$or`` and the
field operators ``$gt $gte $lt $lte $ne $in $nin``; anything else starting with ``$`` is
``BadRequest "Invalid query parameter $x"``, as in ``@feathersjs/adapter-commons``.
Values that came from a URL are strings: they are compared with a record's number or
boolean after conversion (the REST mirror), the socket transport keeps JSON types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import FeathersError

__all__ = ["FILTERS", "OPERATORS", "Page", "paginate", "parse_query_string", "select"]

FILTERS = ("$limit", "$skip", "$sort", "$select", "$or")
OPERATORS = ("$gt", "$gte", "$lt", "$lte", "$ne", "$in", "$nin")

Page = dict[str, Any]

#: ``qs``'s defaults: deeper brackets stay in the key, indices above 20 become object keys, 1000 parameters.
QS_DEPTH = 5
QS_ARRAY_LIMIT = 20
QS_PARAMETER_LIMIT = 1000


def _bracket_parts(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not bracket or not head:
        return [key]
    parts = [head]
    rest = "[" + rest
    while rest.startswith("[") and "]" in rest and len(parts) <= QS_DEPTH:
        inner, _, rest = rest[1:].partition("]")
        parts.append(inner)
    if rest:  # what is beyond the depth limit (or not a bracket) stays one key, as qs keeps it
        parts.append(rest)
    return parts


def _as_dict(node: Any) -> dict[str, Any]:
    if isinstance(node, dict):
        return node
    if isinstance(node, list):
        return {str(i): v for i, v in enumerate(node) if v is not None}
    return {}


def parse_query_string(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A URL query in ``qs`` style (Feathers' REST transport): ``$sort[createdAt]=-1``,
    ``$select[]=name``, ``type[$in][]=a``, ``$or[0][type]=x``; values stay strings.

    Bounded like ``qs``: at most 1000 parameters, 5 levels of brackets, array indices up to 20
    (a larger index is an object key); conflicting keys (``a=1&a[b]=2``) never fail: the
    container wins, as ``qs`` merges them.
    """
    query: dict[str, Any] = {}
    for count, (key, value) in enumerate(pairs):
        if count >= QS_PARAMETER_LIMIT:
            break
        parts = _bracket_parts(key)
        parent: Any = query
        slot: Any = parts[0]
        for part in parts[1:]:
            current = (
                parent[slot] if (isinstance(parent, dict) and slot in parent) or (isinstance(parent, list) and slot < len(parent)) else None
            )
            if part == "" or (part.isascii() and part.isdigit() and int(part) <= QS_ARRAY_LIMIT):
                container: Any = (
                    current if isinstance(current, list) else ([] if current is None or not isinstance(current, dict) else current)
                )
            else:
                container = _as_dict(current) if not isinstance(current, dict) else current
            if isinstance(parent, list):
                while len(parent) <= slot:
                    parent.append(None)
            parent[slot] = container
            parent = container
            if isinstance(container, list):
                slot = len(container) if part == "" else int(part)
            else:
                slot = part
        if isinstance(parent, list):
            while len(parent) <= slot:
                parent.append(None)
            parent[slot] = value
        elif slot in parent and isinstance(parent[slot], list):
            parent[slot].append(value)
        elif slot in parent and not isinstance(parent[slot], dict):
            parent[slot] = [parent[slot], value]  # a repeated key: qs makes an array
        elif slot not in parent:
            parent[slot] = value
    return query


def _int(value: Any) -> int | None:
    """JavaScript's ``parseInt(value, 10)`` for what a query carries."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        sign = -1 if text.startswith("-") else 1
        text = text.lstrip("+-")
        digits = ""
        for char in text:
            if not "0" <= char <= "9":
                break
            digits += char
        return sign * int(digits) if digits else None
    return None


def _field(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _coerce(wanted: Any, actual: Any) -> Any:
    """A string from a URL compared with a typed value: convert it the way a schema would."""
    if not isinstance(wanted, str) or isinstance(actual, str) or actual is None:
        return wanted
    if isinstance(actual, bool):
        return {"true": True, "false": False}.get(wanted, wanted)
    if isinstance(actual, int | float):
        try:
            number = float(wanted)
        except ValueError:
            return wanted
        return int(number) if number.is_integer() and isinstance(actual, int) else number
    return wanted


def _compare(op: str, actual: Any, wanted: Any) -> bool:
    wanted = _coerce(wanted, actual)
    if op == "$ne":
        return bool(actual != wanted)
    if op in ("$in", "$nin"):
        if not isinstance(wanted, list):
            raise FeathersError("BadRequest", f"{op} needs an array")
        values = [_coerce(item, actual) for item in wanted]
        inside = actual in values or (isinstance(actual, list) and any(item in values for item in actual))
        return inside if op == "$in" else not inside
    if actual is None or wanted is None:
        return False
    try:
        if op == "$gt":
            return bool(actual > wanted)
        if op == "$gte":
            return bool(actual >= wanted)
        if op == "$lt":
            return bool(actual < wanted)
        return bool(actual <= wanted)
    except TypeError:
        return False


def _matches(record: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for key, wanted in query.items():
        if key == "$or":
            if not isinstance(wanted, list) or not all(isinstance(q, Mapping) for q in wanted):
                raise FeathersError("BadRequest", "$or needs an array of queries")
            if not any(_matches(record, sub) for sub in wanted):
                return False
            continue
        if key.startswith("$"):
            raise FeathersError("BadRequest", f"Invalid query parameter {key}", data=dict(query))
        actual = _field(record, key)
        if isinstance(wanted, Mapping) and any(str(k).startswith("$") for k in wanted):
            for op, operand in wanted.items():
                if op not in OPERATORS:
                    raise FeathersError("BadRequest", f"Invalid query parameter {op}", data=dict(query))
                if not _compare(op, actual, operand):
                    return False
        elif actual != _coerce(wanted, actual) and not (isinstance(actual, list) and _coerce(wanted, None) in actual):
            return False
    return True


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, str(value))


def _sort(records: list[dict[str, Any]], sort: Any) -> list[dict[str, Any]]:
    if not isinstance(sort, Mapping):
        raise FeathersError("BadRequest", "$sort needs an object of field: 1 | -1")
    for field in reversed(list(sort)):  # stable sorts, last key first
        direction = _int(sort[field])
        name = str(field)

        def key(record: dict[str, Any], name: str = name) -> tuple[int, Any]:
            return _sort_key(_field(record, name))

        records.sort(key=key, reverse=direction is not None and direction < 0)
    return records


def select(record: Mapping[str, Any], fields: Any, id_field: str = "_id") -> dict[str, Any]:
    """``$select``: only these fields, and always the id."""
    if fields is None:
        return dict(record)
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, list):
        raise FeathersError("BadRequest", "$select needs an array of field names")
    keep = {str(f) for f in fields} | {id_field}
    return {k: v for k, v in record.items() if k in keep}


def split(query: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(filters, conditions): ``$limit $skip $sort $select`` apart from what records must match."""
    filters = {k: v for k, v in query.items() if k in ("$limit", "$skip", "$sort", "$select")}
    conditions = {k: v for k, v in query.items() if k not in filters}
    return filters, conditions


def paginate(
    records: Iterable[Mapping[str, Any]], query: Mapping[str, Any], *, default: int = 25, maximum: int = 100, id_field: str = "_id"
) -> Page:
    """``find``: ``{total, limit, skip, data}`` as Feathers' paginated adapters answer."""
    if not isinstance(query, Mapping):
        raise FeathersError("BadRequest", "query must be an object")
    filters, conditions = split(query)
    matched = [dict(r) for r in records if _matches(r, conditions)]
    if "$sort" in filters:
        matched = _sort(matched, filters["$sort"])
    wanted = _int(filters.get("$limit"))
    limit = min(wanted if wanted is not None and wanted >= 0 else default, maximum)
    skip = max(0, _int(filters.get("$skip")) or 0)
    data = [select(r, filters.get("$select"), id_field) for r in matched[skip : skip + limit]]
    return {"total": len(matched), "limit": limit, "skip": skip, "data": data}
