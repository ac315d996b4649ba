"""Journal queries: the filters rules, tests and the control API select entries with, and near misses.

A :class:`JournalQuery` is a conjunction of filters; every one given must match. Filter values
are checked when the query is built (``JournalQuery.build``): an unknown kind, API or direction
is an error listing the valid values, never a query that silently matches nothing.

``near_misses`` ranks the entries that match *almost*: the fewest filters differing, then the
most recent, each with what differs, for failure messages ("expected ..., the closest were ...").
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any, get_args

from .catalogue import CATALOGUE, Direction
from .clock import format_instant, parse_instant
from .journal import Entry

__all__ = ["FILTERS", "Difference", "JournalQuery", "QueryError", "describe_entry", "explain_miss", "near_misses"]

#: Filters a query takes by name (the control API's query parameters, the pytest plugin's keywords).
FILTERS = (
    "kind",
    "api",
    "direction",
    "conn",
    "session",
    "principal",
    "fault",
    "path",
    "since",
    "until",
    "after",
    "before",
    "contains",
)
#: API names that are not an API's: the mock's own entries, and faults for every API.
MOCK_APIS = ("mock", "*")
_PREFIXES = sorted({name.split(".", 1)[0] + "." for name in CATALOGUE})


class QueryError(ValueError):
    """A filter that cannot match anything (a typo): the caller is at fault."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One filter an entry does not meet: the filter, what it asked for, what the entry has."""

    filter: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"{self.filter}: expected {self.expected!r}, got {self.actual!r}"


def _kind_matches(patterns: tuple[str, ...], kind: str) -> bool:
    for pattern in patterns:
        if pattern.endswith("."):
            if kind.startswith(pattern):
                return True
        elif kind == pattern:
            return True
    return False


def _text_of(entry: Entry) -> str:
    data = entry.data
    for key in ("text", "body"):
        value = data.get(key)
        if isinstance(value, str):
            return value
    if entry.kind == "sio.packet":
        return json.dumps([data.get("event"), *data.get("args", ())] if "event" in data else data.get("data"), default=str)
    return ""


@dataclass(frozen=True, slots=True)
class JournalQuery:
    """Filters over the journal; every one given must match.

    ``kind``: one kind or several, exact (``http.request``) or a prefix ending in ``.`` (``ws.``);
    ``fault``: the entry names that fault (``data.fault``); ``since``/``until``: sequence numbers
    (``since`` exclusive, ``until`` inclusive); ``after``/``before``: virtual instants (inclusive);
    ``contains``: text in the frame, body or Socket.IO event; ``data``: data fields equal to these
    values; ``where``: any predicate over the entry.
    """

    kind: tuple[str, ...] = ()
    api: str | None = None
    direction: Direction | None = None
    conn: str | None = None
    session: str | None = None
    principal: str | None = None
    fault: str | None = None
    path: str | None = None
    since_seq: int | None = None
    until_seq: int | None = None
    after: float | None = None
    before: float | None = None
    contains: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    where: Callable[[Entry], bool] | None = None

    # -- building, with the checks ------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        *,
        kind: str | Sequence[str] | None = None,
        api: str | None = None,
        direction: str | None = None,
        conn: str | None = None,
        session: str | None = None,
        principal: str | None = None,
        fault: str | None = None,
        path: str | None = None,
        since: int | None = None,
        until: int | None = None,
        after: float | str | None = None,
        before: float | str | None = None,
        contains: str | None = None,
        data: Mapping[str, Any] | None = None,
        where: Callable[[Entry], bool] | None = None,
        apis: Iterable[str] | None = None,
    ) -> JournalQuery:
        """A checked query: unknown kinds, APIs (when ``apis`` are given) and directions raise QueryError."""
        kinds = (kind,) if isinstance(kind, str) else tuple(kind or ())
        checked = tuple(_check_kind(k) for k in kinds)
        if api is not None and apis is not None:
            known = [*apis, *MOCK_APIS]
            if api not in known:
                raise QueryError(_unknown("API", api, known))
        if direction is not None and direction not in get_args(Direction):
            raise QueryError(_unknown("direction", direction, get_args(Direction)))
        return cls(
            kind=checked,
            api=api,
            direction=direction,  # type: ignore[arg-type]
            conn=conn,
            session=session,
            principal=principal,
            fault=fault,
            path=path,
            since_seq=since,
            until_seq=until,
            after=_instant(after, "after"),
            before=_instant(before, "before"),
            contains=contains,
            data=dict(data or {}),
            where=where,
        )

    @classmethod
    def from_params(cls, params: Iterable[tuple[str, str]], *, apis: Iterable[str]) -> JournalQuery:
        """From query-string pairs (the control API): the FILTERS, ``kind`` repeatable or comma-separated,
        and ``data.<field>=<value>`` (the value read as JSON when it is JSON, else as text)."""
        kinds: list[str] = []
        values: dict[str, str] = {}
        data: dict[str, Any] = {}
        for name, value in params:
            if name == "kind":
                kinds += [k for k in value.split(",") if k]
            elif name.startswith("data.") and len(name) > 5:
                try:
                    data[name[5:]] = json.loads(value)
                except ValueError:
                    data[name[5:]] = value
            elif name in FILTERS:
                values[name] = value
            elif name != "limit":
                raise QueryError(_unknown("filter", name, [*FILTERS, "data.<field>", "limit"]))

        def seq(name: str) -> int | None:
            text = values.get(name)
            if text is None:
                return None
            if not (text.isascii() and text.isdigit()):
                raise QueryError(f"'{name}' must be a sequence number, got {text!r}")
            return int(text)

        return cls.build(
            kind=kinds,
            api=values.get("api"),
            direction=values.get("direction"),
            conn=values.get("conn"),
            session=values.get("session"),
            principal=values.get("principal"),
            fault=values.get("fault"),
            path=values.get("path"),
            since=seq("since"),
            until=seq("until"),
            after=values.get("after"),
            before=values.get("before"),
            contains=values.get("contains"),
            data=data,
            apis=apis,
        )

    # -- matching --------------------------------------------------------------------------------------------
    def matches(self, entry: Entry) -> bool:
        if self.kind and not _kind_matches(self.kind, entry.kind):
            return False
        if self.api is not None and entry.api != self.api:
            return False
        if self.direction is not None and entry.direction != self.direction:
            return False
        if self.since_seq is not None and entry.seq <= self.since_seq:
            return False
        if self.until_seq is not None and entry.seq > self.until_seq:
            return False
        if self.conn is not None and entry.conn != self.conn:
            return False
        if self.session is not None and entry.session != self.session:
            return False
        if self.principal is not None and entry.principal != self.principal:
            return False
        if self.after is not None and entry.vtime < self.after:
            return False
        if self.before is not None and entry.vtime > self.before:
            return False
        data = entry.data
        if self.fault is not None and data.get("fault") != self.fault:
            return False
        if self.path is not None and data.get("path") != self.path:
            return False
        for key, value in self.data.items():
            if key not in data or data[key] != value:
                return False
        if self.contains is not None and self.contains not in _text_of(entry):
            return False
        return self.where is None or self.where(entry)

    def differences(self, entry: Entry) -> list[Difference]:
        """Every filter ``entry`` does not meet (empty: it matches)."""
        out: list[Difference] = []
        if self.kind and not _kind_matches(self.kind, entry.kind):
            out.append(Difference("kind", self.kind[0] if len(self.kind) == 1 else list(self.kind), entry.kind))
        for name, actual in (
            ("api", entry.api),
            ("direction", entry.direction),
            ("conn", entry.conn),
            ("session", entry.session),
            ("principal", entry.principal),
        ):
            expected = getattr(self, name)
            if expected is not None and actual != expected:
                out.append(Difference(name, expected, actual))
        if self.since_seq is not None and entry.seq <= self.since_seq:
            out.append(Difference("since", f"seq > {self.since_seq}", entry.seq))
        if self.until_seq is not None and entry.seq > self.until_seq:
            out.append(Difference("until", f"seq <= {self.until_seq}", entry.seq))
        if self.after is not None and entry.vtime < self.after:
            out.append(Difference("after", format_instant(self.after, precision="ms"), format_instant(entry.vtime, precision="ms")))
        if self.before is not None and entry.vtime > self.before:
            out.append(Difference("before", format_instant(self.before, precision="ms"), format_instant(entry.vtime, precision="ms")))
        data = entry.data
        for name, expected in (("fault", self.fault), ("path", self.path), *self.data.items()):
            if expected is not None and data.get(name) != expected:
                out.append(Difference(name, expected, data.get(name)))
        if self.contains is not None and self.contains not in _text_of(entry):
            out.append(Difference("contains", self.contains, _text_of(entry)[:120]))
        if self.where is not None and not self.where(entry):
            out.append(Difference("where", getattr(self.where, "__name__", "predicate"), "false"))
        return out

    def describe(self) -> str:
        """The filters, as a reader would write them: ``kind=http.request api=luckylobster status=401``."""
        parts = []
        if self.kind:
            parts.append("kind=" + ",".join(self.kind))
        for name in ("api", "direction", "conn", "session", "principal", "fault", "path", "contains"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if self.since_seq is not None:
            parts.append(f"since={self.since_seq}")
        if self.until_seq is not None:
            parts.append(f"until={self.until_seq}")
        if self.after is not None:
            parts.append("after=" + format_instant(self.after, precision="ms"))
        if self.before is not None:
            parts.append("before=" + format_instant(self.before, precision="ms"))
        parts += [f"{k}={v!r}" for k, v in self.data.items()]
        if self.where is not None:
            parts.append(f"where={getattr(self.where, '__name__', 'predicate')}")
        return " ".join(parts) or "(any entry)"


def _unknown(what: str, value: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    close = get_close_matches(value, valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {value!r}{hint} Valid: {', '.join(valid)}"


def _check_kind(kind: str) -> str:
    if kind in CATALOGUE:
        return kind
    if kind.endswith(".*"):
        kind = kind[:-1]
    if kind.endswith(".") and kind in _PREFIXES:
        return kind
    if kind + "." in _PREFIXES:
        raise QueryError(f"kind {kind!r} is a family, not a kind: write {kind + '.'!r} for every {kind}.* entry")
    close = get_close_matches(kind, [*CATALOGUE, *_PREFIXES], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise QueryError(f"unknown journal kind {kind!r}{hint} Kinds: {', '.join(CATALOGUE)}; families: {', '.join(_PREFIXES)}")


def _instant(value: float | str | None, name: str) -> float | None:
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_instant(value)
    except ValueError:
        raise QueryError(f"'{name}' must be an ISO 8601 instant or epoch seconds, got {value!r}") from None


def describe_entry(entry: Entry) -> str:
    """One line for a failure message: ``#12 00:05:00.000 luckylobster http.request in GET /heartbeat``."""
    data = entry.data
    detail = ""
    if entry.kind == "http.request":
        detail = f"{data.get('method')} {data.get('path')}"
    elif entry.kind == "http.response":
        detail = f"{data.get('status')} {data.get('outcome')} {data.get('path')}"
    elif "text" in data:
        detail = str(data["text"])[:80]
    elif entry.kind == "sio.packet":
        detail = " ".join(str(data[k]) for k in ("eio", "sio", "event") if k in data)
    elif "by" in data:
        detail = f"by {data['by']}" + (f" code {data['code']}" if "code" in data else "")
    where = " ".join(x for x in (entry.session, entry.principal) if x)
    stamp = format_instant(entry.vtime, precision="ms")[11:]
    return f"#{entry.seq} {stamp} {entry.api} {entry.kind} {entry.direction} {detail}".rstrip() + (f" [{where}]" if where else "")


def near_misses(entries: Iterable[Entry], query: JournalQuery, *, count: int = 5) -> list[tuple[Entry, list[Difference]]]:
    """The ``count`` entries closest to matching ``query``: fewest differences, then the most recent."""

    def scored() -> Iterator[tuple[int, int, Entry, list[Difference]]]:
        for entry in entries:
            diffs = query.differences(entry)
            if diffs:
                # a wrong kind weighs more than a wrong field: an entry of the right kind is the closer miss
                yield len(diffs) + sum(1 for d in diffs if d.filter == "kind"), -entry.seq, entry, diffs

    best = heapq.nsmallest(count, scored(), key=lambda item: (item[0], item[1]))
    return [(entry, diffs) for _w, _s, entry, diffs in best]


def explain_miss(query: JournalQuery, entries: Iterable[Entry], *, wanted: str, found: int) -> str:
    """A failure message: what was wanted, how many matched, and the closest entries with what differs."""
    lines = [f"{wanted}: {query.describe()}; {found} matched."]
    misses = near_misses(entries, query)
    if not misses:
        lines.append("The journal has no entry at all to compare.")
    else:
        lines.append("The closest entries (near misses):")
        for entry, diffs in misses:
            lines.append(f"  {describe_entry(entry)}")
            lines.append("      differs in " + "; ".join(str(d) for d in diffs))
    return "\n".join(lines)
