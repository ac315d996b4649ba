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

__all__ = ["FILTERS", "OPERATORS", "Page", "paginate", "select"]

FILTERS = ("$limit", "$skip", "$sort", "$select", "$or")
OPERATORS = ("$gt", "$gte", "$lt", "$lte", "$ne", "$in", "$nin")

Page = dict[str, Any]


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
            if not char.isdigit():
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
            raise FeathersError.of("BadRequest", f"{op} needs an array")
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
                raise FeathersError.of("BadRequest", "$or needs an array of queries")
            if not any(_matches(record, sub) for sub in wanted):
                return False
            continue
        if key.startswith("$"):
            raise FeathersError.of("BadRequest", f"Invalid query parameter {key}", data=dict(query))
        actual = _field(record, key)
        if isinstance(wanted, Mapping) and any(str(k).startswith("$") for k in wanted):
            for op, operand in wanted.items():
                if op not in OPERATORS:
                    raise FeathersError.of("BadRequest", f"Invalid query parameter {op}", data=dict(query))
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
        raise FeathersError.of("BadRequest", "$sort needs an object of field: 1 | -1")
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
        raise FeathersError.of("BadRequest", "$select needs an array of field names")
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
        raise FeathersError.of("BadRequest", "query must be an object")
    filters, conditions = split(query)
    matched = [dict(r) for r in records if _matches(r, conditions)]
    if "$sort" in filters:
        matched = _sort(matched, filters["$sort"])
    wanted = _int(filters.get("$limit"))
    limit = min(wanted if wanted is not None and wanted >= 0 else default, maximum)
    skip = max(0, _int(filters.get("$skip")) or 0)
    data = [select(r, filters.get("$select"), id_field) for r in matched[skip : skip + limit]]
    return {"total": len(matched), "limit": limit, "skip": skip, "data": data}
