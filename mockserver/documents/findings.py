"""What a check found, and where in the document: findings, JSON pointers, ``$ref`` resolution.

A :class:`Finding` names the value that failed (``where``: ``body $.data[0].price``, ``query limit``,
``frame $[2]``), what was wrong, and the JSON pointer *into the document* of the rule that failed
(``/components/schemas/Ticker/properties/price/pattern``), so a report can quote the document.
:class:`Mismatch` carries findings as an :class:`AssertionError` (tests use the checkers as
assertions; pytest shows the findings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError

__all__ = [
    "Finding",
    "Mismatch",
    "escape",
    "findings_of",
    "leaves",
    "lookup",
    "pointer",
    "resolve",
    "schema_location",
    "unescape",
]

#: Longest message text a finding keeps (a schema's enum can be long).
MESSAGE_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Finding:
    """One way a request, response or frame differs from its document."""

    where: str  #: what was checked, and where in it: ``body $.data[0]``, ``header Authorization``, ``frame $[1]``
    message: str  #: what is wrong, in a sentence
    schema_path: str  #: JSON pointer into the document of the rule that failed (``""``: the document as a whole)

    def __str__(self) -> str:
        return f"{self.where}: {self.message} (schema path {self.schema_path or '/'})"

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message, "schema_path": self.schema_path}


class Mismatch(AssertionError):
    """Raised by the ``assert_*`` checkers: ``findings`` says what differs and where."""

    def __init__(self, summary: str, findings: Iterable[Finding], detail: str = "") -> None:
        self.summary = summary
        self.findings: tuple[Finding, ...] = tuple(findings)
        lines = [summary, *(f"  {f}" for f in self.findings[:8])]
        if len(self.findings) > 8:
            lines.append(f"  ... and {len(self.findings) - 8} more")
        if detail:
            lines.append(detail)
        super().__init__("\n".join(lines))


# -- JSON pointers (RFC 6901) -------------------------------------------------------------------------------------
def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def pointer(*tokens: str | int) -> str:
    """``pointer("paths", "/x", "get")`` -> ``/paths/~1x/get``."""
    return "".join("/" + escape(str(t)) for t in tokens)


def lookup(document: Any, where: str) -> Any:
    """The node at JSON pointer ``where``; raises KeyError, IndexError, ValueError or TypeError when there is none."""
    node: Any = document
    for token in where.split("/")[1:] if where else ():
        node = node[int(token)] if isinstance(node, list) else node[unescape(token)]
    return node


def resolve(document: Mapping[str, Any], node: Any, where: str) -> tuple[Any, str]:
    """Follow local ``$ref`` chains from ``node`` (found at ``where``); returns the node reached and its pointer.

    Raises :class:`Mismatch` for a ``$ref`` that is not local, does not resolve, or loops: the document is at fault.
    """
    seen: set[str] = set()
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        ref = str(node["$ref"])
        if not ref.startswith("#"):
            raise Mismatch("the document is broken", [Finding("document", f"only local $refs are supported, got {ref!r}", where)])
        if ref in seen:
            raise Mismatch("the document is broken", [Finding("document", f"$ref cycle through {ref}", where)])
        seen.add(ref)
        try:
            node, where = lookup(document, ref[1:]), ref[1:]
        except (KeyError, IndexError, ValueError, TypeError):
            raise Mismatch("the document is broken", [Finding("document", f"$ref {ref!r} does not resolve", where)]) from None
    return node, where


# -- schema errors as findings ------------------------------------------------------------------------------------
def schema_location(document: Mapping[str, Any], root: str, path: Iterable[Any]) -> str:
    """The document pointer of a failing keyword: ``root`` (the schema validated against) walked along a
    jsonschema ``absolute_schema_path``, following the ``$ref`` hops the path leaves out."""
    where = root
    try:
        node, where = resolve(document, lookup(document, root), root)
        for step in path:
            key = str(step)
            while isinstance(node, Mapping) and key not in node and isinstance(node.get("$ref"), str):
                node, where = resolve(document, node, where)
            if isinstance(node, list):
                node = node[int(key)]
            elif isinstance(node, Mapping):
                node = node[key]
            else:
                break
            where += pointer(key)
    except (KeyError, IndexError, ValueError, TypeError, Mismatch):
        pass  # the path left the document (a schema built on the fly): the last pointer reached is the best answer
    return where


def _message(error: ValidationError) -> str:
    message = error.message
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    discriminator = schema.get("discriminator") or {}
    name = discriminator.get("propertyName")
    if error.validator in ("oneOf", "anyOf") and name and isinstance(error.instance, Mapping):
        known = ", ".join(discriminator.get("mapping") or {}) or "see the schema"
        message = f"{name} {error.instance.get(name, '<missing>')!r} matches no {error.validator} branch (known: {known})"
    return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT] + "..."


def _rank(errors: list[ValidationError]) -> tuple[int, int]:
    """Fewer is closer: wrong values at the top of the instance (a ``type``/``const`` that names the variant), then errors."""
    shallow = sum(1 for e in errors if e.validator in ("const", "enum", "type") and len(e.relative_path) <= 1)
    return shallow, len(errors)


def _branch(error: ValidationError) -> list[ValidationError] | None:
    """For a failed oneOf/anyOf, the errors of the branch the instance was meant for (None: can't tell)."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    if not branches:
        return None
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    name = (schema.get("discriminator") or {}).get("propertyName")
    if name and isinstance(error.instance, Mapping):
        target = ((schema.get("discriminator") or {}).get("mapping") or {}).get(str(error.instance.get(name)))
        for index, option in enumerate(schema.get(str(error.validator), [])):
            if target is not None and isinstance(option, Mapping) and option.get("$ref") == target:
                return branches.get(index, [])
        return None  # the discriminator value names no branch: the oneOf error itself is the news
    return min(branches.values(), key=lambda errors: _rank([leaf for e in errors for leaf in leaves(e)]))


def leaves(error: ValidationError) -> list[ValidationError]:
    """The errors worth reporting: for a failed oneOf/anyOf, those of the branch the instance was meant for."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        branch = _branch(error)
        if branch:
            return [leaf for sub in branch for leaf in leaves(sub)]
    return [error]


def findings_of(errors: Iterable[ValidationError], document: Mapping[str, Any], root: str, where: str) -> list[Finding]:
    """Findings for jsonschema errors of a value validated against the schema at ``root``; ``where`` names the value."""
    found: list[Finding] = []
    for error in errors:
        for leaf in leaves(error):
            finding = Finding(f"{where} {leaf.json_path}", _message(leaf), schema_location(document, root, leaf.absolute_schema_path))
            if finding not in found:
                found.append(finding)
    return found
