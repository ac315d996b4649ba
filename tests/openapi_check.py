"""Check a concrete HTTP response against an OpenAPI 3.1 document (a test helper, not a test module).

``assert_matches_openapi(document, "GET", "/api/agent/v1/heartbeat", 200, body, headers)``
finds the operation whose templated path matches the concrete path, takes the
response documented for the status (then ``4XX``-style ranges, then ``default``),
validates ``body`` against its JSON schema with the Draft 2020-12 validator (``$ref``
into ``#/components/...`` resolved against the whole document) and, when
``headers`` is given, checks that every header the response marks ``required`` is
present (case-insensitively). Any mismatch raises :class:`AssertionError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["assert_matches_openapi", "find_operation", "response_for"]

_DOCUMENT_URI = "urn:agentfeed-mock:openapi-document"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(*tokens: str) -> str:
    return "".join("/" + _escape(t) for t in tokens)


def _lookup(document: Mapping[str, Any], pointer: str) -> Any:
    node: Any = document
    for token in pointer.split("/")[1:]:
        node = node[int(token)] if isinstance(node, list) else node[_unescape(token)]
    return node


def _resolve(document: Mapping[str, Any], node: Any, pointer: str) -> tuple[Any, str]:
    """Follow local ``$ref`` chains (responses, headers, ...); returns the node and its JSON pointer."""
    seen: set[str] = set()
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError(f"only local $refs are supported, got {ref!r} at {pointer}")
        if ref in seen:
            raise AssertionError(f"$ref cycle at {ref}")
        seen.add(ref)
        pointer = ref[1:]
        try:
            node = _lookup(document, pointer)
        except (KeyError, IndexError, ValueError, TypeError):
            raise AssertionError(f"$ref {ref!r} (at {pointer}) does not resolve") from None
    return node, pointer


def _path_regex(template: str, greedy: frozenset[str] = frozenset()) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    return re.compile(
        "^"
        + "".join((".*" if p[1:-1] in greedy else "[^/]+") if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
        + "$"
    )


def _greedy(item: Mapping[str, Any]) -> frozenset[str]:
    """Path parameters marked ``x-multi-segment: true`` (a catch-all route's ``{path:path}``): they match slashes too."""
    operations = [item, *(item.get(m) or {} for m in _METHODS)]
    return frozenset(p["name"] for o in operations for p in o.get("parameters") or [] if p.get("in") == "path" and p.get("x-multi-segment"))


def find_operation(document: Mapping[str, Any], method: str, path: str) -> tuple[str, Mapping[str, Any]]:
    """The templated path and the operation object for ``method path`` (concrete path, no query)."""
    concrete = path.split("?", 1)[0]
    paths: Mapping[str, Any] = document.get("paths") or {}
    # concrete (less templated) paths win, as the OpenAPI spec says; a catch-all comes last
    candidates = sorted(paths, key=lambda t: (bool(_greedy(paths[t])), t.count("{"), t))
    for template in candidates:
        if _path_regex(template, _greedy(paths[template])).match(concrete):
            item = paths[template]
            operation = item.get(method.lower())
            if operation is None:
                documented = ", ".join(m.upper() for m in _METHODS if m in item) or "none"
                raise AssertionError(f"{method.upper()} {path}: method not documented for {template} (documented: {documented})")
            return template, operation
    raise AssertionError(f"{method.upper()} {path}: no documented path matches (documented: {', '.join(paths)})")


def response_for(document: Mapping[str, Any], method: str, path: str, status: int) -> tuple[Mapping[str, Any], str]:
    """The (resolved) response object documented for ``status`` and its JSON pointer."""
    template, operation = find_operation(document, method, path)
    responses: Mapping[str, Any] = operation.get("responses") or {}
    for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
        if key in responses:
            pointer = _pointer("paths", template, method.lower(), "responses", key)
            node, pointer = _resolve(document, responses[key], pointer)
            return node, pointer
    raise AssertionError(
        f"{method.upper()} {path} -> {status}: status not documented for {template} (documented: {', '.join(responses) or 'none'})"
    )


def _schema_pointer(document: Mapping[str, Any], response: Mapping[str, Any], pointer: str) -> str | None:
    content: Mapping[str, Any] = response.get("content") or {}
    if not content:
        return None
    media = next((m for m in content if m.split(";")[0].strip() == "application/json"), None)
    if media is None:
        media = next((m for m in content if m.split(";")[0].strip().endswith("+json")), None)
    if media is None:
        media = next(iter(content))
    if "schema" not in content[media]:
        return None
    return pointer + _pointer("content", media, "schema")


def _describe(error: ValidationError) -> str:
    message = error.message
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    discriminator = schema.get("discriminator") or {}
    name = discriminator.get("propertyName")
    if error.validator in ("oneOf", "anyOf") and name and isinstance(error.instance, Mapping):
        known = ", ".join(discriminator.get("mapping") or {}) or "see the schema"
        value = error.instance.get(name, "<missing>")
        message = f"{name} {value!r} matches no {error.validator} branch (known: {known})"
    if len(message) > 300:
        message = message[:300] + "..."
    schema_where = "/".join(str(p) for p in error.absolute_schema_path)
    return f"{error.json_path}: {message} (schema path {schema_where})"


def _branch(error: ValidationError) -> list[ValidationError] | None:
    """For a failed oneOf/anyOf, the errors of the branch the instance was meant for (None: can't tell)."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    if not branches:
        return None
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    discriminator = schema.get("discriminator") or {}
    name = discriminator.get("propertyName")
    if name and isinstance(error.instance, Mapping):
        target = (discriminator.get("mapping") or {}).get(str(error.instance.get(name)))
        for index, option in enumerate(schema.get(str(error.validator), [])):
            if target is not None and isinstance(option, Mapping) and option.get("$ref") == target:
                return branches.get(index, [])
        return None  # the discriminator value names no branch: the oneOf error itself is the news

    def rank(errors: list[ValidationError]) -> tuple[int, int]:
        shallow_const = sum(1 for e in errors if e.validator in ("const", "enum", "type") and len(e.relative_path) <= 1)
        return shallow_const, len(errors)

    return min(branches.values(), key=rank)


def _explain(error: ValidationError) -> list[ValidationError]:
    """The leaf errors worth reporting: descend into the intended branch of oneOf/anyOf failures."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        branch = _branch(error)
        if branch:
            return [leaf for sub in branch for leaf in _explain(sub)]
    return [error]


def _report(errors: list[ValidationError]) -> list[str]:
    lines: list[str] = []
    for error in errors:
        for leaf in _explain(error):
            line = _describe(leaf)
            if line not in lines:
                lines.append(line)
    return lines


def _check_headers(document: Mapping[str, Any], response: Mapping[str, Any], pointer: str, headers: Mapping[str, str], label: str) -> None:
    present = {k.lower(): v for k, v in headers.items()}
    for name, raw in (response.get("headers") or {}).items():
        header, _ = _resolve(document, raw, pointer + _pointer("headers", name))
        value = present.get(name.lower())
        if value is None:
            if header.get("required", False):
                raise AssertionError(f"{label}: required response header {name!r} is missing (got: {', '.join(headers) or 'none'})")
            continue
        kind = (header.get("schema") or {}).get("type")
        if kind == "integer" and not re.fullmatch(r"-?\d+", value.strip()):
            raise AssertionError(f"{label}: header {name}: {value!r} is not an integer")
        if kind == "number" and not re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", value.strip()):
            raise AssertionError(f"{label}: header {name}: {value!r} is not a number")


def assert_matches_openapi(
    document: dict[str, Any],
    method: str,
    path: str,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Raise AssertionError unless ``body`` (decoded JSON) and ``headers`` match what ``document`` says
    ``method path`` answers with ``status``."""
    label = f"{method.upper()} {path} -> {status}"
    response, pointer = response_for(document, method, path, status)
    schema_pointer = _schema_pointer(document, response, pointer)
    if schema_pointer is None:
        if response.get("content") is None and body not in (None, b"", ""):
            raise AssertionError(f"{label}: documented without a body, got {body!r:.200}")
    else:
        registry: Registry[Any] = Registry().with_resource(
            _DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
        )
        validator = Draft202012Validator({"$ref": f"{_DOCUMENT_URI}#{schema_pointer}"}, registry=registry)
        errors = list(validator.iter_errors(body))
        if errors:
            details = "\n  ".join(_report(errors)[:5])
            raise AssertionError(f"{label}: body does not match {schema_pointer}:\n  {details}\nbody: {body!r:.2000}")
    if headers is not None:
        _check_headers(document, response, pointer, headers, label)
