"""Check HTTP traffic against an OpenAPI 3.1 document: requests (what clients send) and responses.

``check_request(document, "GET", "/strategies", query="$limit=1", headers={...})`` finds the
operation whose templated path matches the concrete path and returns a :class:`Finding` for each
way the request differs from it: its path, query and header parameters (deserialized as the
document's ``style``/``explode`` say; a ``form`` object parameter takes every query key no other
parameter names, bracket keys too when it says ``x-query-format: qs``), its credentials (one of
the security requirements met: the scheme's header, query key or ``Authorization`` scheme), and
its body (the media type documented, JSON that the schema accepts). ``check_response`` does the
same for a status, body and headers. Schemas are JSON Schema 2020-12, ``$ref`` resolved against
the whole document; each finding names the document pointer of the rule that failed.
``assert_matches_openapi`` / ``assert_request_matches`` raise :class:`Mismatch` instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ..apis.cryptorobot.query import parse_query_string
from .findings import Finding, Mismatch, findings_of, lookup, pointer, resolve

__all__ = [
    "Operation",
    "assert_matches_openapi",
    "assert_request_matches",
    "check_request",
    "check_response",
    "find_operation",
    "response_for",
    "schema_validator",
]

_DOCUMENT_URI = "urn:agentfeed-mock:openapi-document"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: what ``find_operation`` raises for a path or method the document does not have
NOT_DOCUMENTED = "not documented"


@dataclass(frozen=True, slots=True)
class Operation:
    """The operation a concrete request maps to."""

    method: str  #: lower case
    template: str  #: ``/strategies/{id}``
    where: str  #: its JSON pointer: ``/paths/~1strategies~1{id}/get``
    node: Mapping[str, Any]
    path_params: dict[str, str] = field(default_factory=dict)


def _path_regex(template: str, greedy: frozenset[str] = frozenset()) -> tuple[re.Pattern[str], list[str]]:
    names: list[str] = []
    parts = re.split(r"(\{[^}/]+\})", template)
    regex = ""
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1])
            regex += f"(?P<p{len(names) - 1}>{'.*' if part[1:-1] in greedy else '[^/]+'})"
        else:
            regex += re.escape(part)
    return re.compile(f"^{regex}$"), names


def _greedy(item: Mapping[str, Any]) -> frozenset[str]:
    """Path parameters marked ``x-multi-segment: true`` (a catch-all route's ``{path:path}``): they match slashes too."""
    operations = [item, *(item.get(m) or {} for m in METHODS)]
    return frozenset(
        p["name"]
        for o in operations
        for p in o.get("parameters") or []
        if isinstance(p, Mapping) and p.get("in") == "path" and p.get("x-multi-segment")
    )


def find_operation(document: Mapping[str, Any], method: str, path: str) -> Operation:
    """The operation for ``method path`` (a concrete path; a query after ``?`` is ignored); raises :class:`Mismatch`."""
    concrete = path.split("?", 1)[0]
    paths: Mapping[str, Any] = document.get("paths") or {}
    # concrete (less templated) paths win, as the spec says; a catch-all comes last
    for template in sorted(paths, key=lambda t: (bool(_greedy(paths[t])), t.count("{"), t)):
        regex, names = _path_regex(template, _greedy(paths[template]))
        found = regex.match(concrete)
        if found is None:
            continue
        item, item_where = resolve(document, paths[template], pointer("paths", template))
        operation = item.get(method.lower())
        if operation is None:
            documented = ", ".join(m.upper() for m in METHODS if m in item) or "none"
            raise Mismatch(
                f"{method.upper()} {path}: {NOT_DOCUMENTED}",
                [Finding("request", f"{method.upper()} is not documented for {template} (documented: {documented})", item_where)],
            )
        params = {name: found.group(f"p{i}") for i, name in enumerate(names)}
        return Operation(method.lower(), template, item_where + pointer(method.lower()), operation, params)
    raise Mismatch(f"{method.upper()} {path}: {NOT_DOCUMENTED}", [Finding("request", f"no documented path matches {concrete}", "/paths")])


_VALIDATORS: dict[tuple[int, str], tuple[Mapping[str, Any], Draft202012Validator]] = {}


def schema_validator(document: Mapping[str, Any], where: str) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator for the schema at ``where``, ``$ref`` resolved against the whole document.

    Cached per document object and pointer (the documents are cached and never mutated)."""
    cached = _VALIDATORS.get((id(document), where))
    if cached is not None and cached[0] is document:
        return cached[1]
    registry: Registry[Any] = Registry().with_resource(_DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012))
    validator = Draft202012Validator({"$ref": f"{_DOCUMENT_URI}#{where}"}, registry=registry)
    _VALIDATORS[(id(document), where)] = (document, validator)  # the document is kept alive: its id stays its own
    return validator


def _validate(document: Mapping[str, Any], where: str, value: Any, label: str) -> list[Finding]:
    return findings_of(schema_validator(document, where).iter_errors(value), document, where, label)


# -- media types and bodies ---------------------------------------------------------------------------------------
def _bare(media: str) -> str:
    return media.split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    bare = _bare(media)
    return bare == "application/json" or bare.endswith("+json")


def _pick_media(content: Mapping[str, Any], given: str | None) -> str | None:
    """The documented media type for a ``Content-Type`` (None: not documented); without one, JSON first."""
    if given:
        bare = _bare(given)
        for wanted in (bare, bare.split("/", 1)[0] + "/*", "*/*"):
            match = next((m for m in content if _bare(m) == wanted), None)
            if match is not None:
                return match
        return None
    return next((m for m in content if _is_json(m)), next(iter(content), None))


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _decode_body(body: Any, media: str) -> tuple[Any, str | None]:
    """A raw body (bytes) as the media type reads it; anything else is taken as already decoded. (value, problem)."""
    if not isinstance(body, bytes | bytearray):
        return body, None
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        return body, "the body is not UTF-8"
    if not _is_json(media):
        return text, None
    try:
        return json.loads(text), None
    except ValueError as exc:
        return text, f"the body is not JSON ({exc})"


def _empty(body: Any) -> bool:
    if isinstance(body, str):
        return not body.strip()
    if isinstance(body, bytes | bytearray):
        return not bytes(body).strip()
    return body is None


# -- parameters ---------------------------------------------------------------------------------------------------
def _type_of(document: Mapping[str, Any], schema: Any, where: str) -> list[str]:
    schema, _ = resolve(document, schema, where)
    kinds = schema.get("type") if isinstance(schema, Mapping) else None
    return [kinds] if isinstance(kinds, str) else list(kinds or [])


def _coerce(text: str, kinds: Sequence[str]) -> Any:
    """A parameter's text as the schema's primitive type, when it reads as one (else the text: the schema says why not)."""
    for kind in kinds:
        if kind == "integer" and re.fullmatch(r"[+-]?[0-9]+", text.strip()):
            return int(text)
        if kind == "number" and re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text.strip()):
            return float(text)
        if kind == "boolean" and text in ("true", "false"):
            return text == "true"
        if kind == "null" and text == "":
            return None
    return text


def _parameters(document: Mapping[str, Any], operation: Operation) -> list[tuple[Mapping[str, Any], str]]:
    """Path-level and operation-level parameters (resolved, with their pointers); the operation's win by (name, in)."""
    item_where = operation.where.rsplit("/", 1)[0]
    item = lookup(document, item_where)
    found: dict[tuple[str, str], tuple[Mapping[str, Any], str]] = {}
    for node, where in ((item, item_where), (operation.node, operation.where)):
        for index, raw in enumerate(node.get("parameters") or []):
            param, param_where = resolve(document, raw, where + pointer("parameters", index))
            found[(str(param.get("name")), str(param.get("in")))] = (param, param_where)
    return list(found.values())


def _query_pairs(query: str | Mapping[str, Any] | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(query, str):
        return parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if isinstance(query, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, value in query.items():
            pairs += [(str(key), str(v)) for v in value] if isinstance(value, list | tuple) else [(str(key), str(value))]
        return pairs
    return [(str(k), str(v)) for k, v in query]


def _form_object(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form-style query keys as an object: a repeated key is a list of its values."""
    value: dict[str, Any] = {}
    for key, text in pairs:
        if key not in value:
            value[key] = text
        elif isinstance(value[key], list):
            value[key].append(text)
        else:
            value[key] = [value[key], text]
    return value


def _query_value(
    document: Mapping[str, Any], param: Mapping[str, Any], schema_where: str, pairs: list[tuple[str, str]], named: set[str]
) -> tuple[Any, set[str], str]:
    """(the parameter's value as its style reads it, the query keys it takes (none: absent), what findings call it)."""
    name = str(param["name"])
    schema = param.get("schema") or {}
    kinds = _type_of(document, schema, schema_where)
    style = param.get("style", "form")
    explode = param.get("explode", style == "form")
    if "object" in kinds and style == "form" and explode:  # every key no other parameter names
        rest = [(k, v) for k, v in pairs if k not in named and k.split("[", 1)[0] not in named]
        value = parse_query_string(rest) if param.get("x-query-format") == "qs" else _form_object(rest)
        return value, {k for k, _ in rest}, "query"  # the keys are the value's: findings say `query $.key`
    if "object" in kinds and style == "deepObject":
        inner = [(k, v) for k, v in pairs if k.startswith(name + "[")]
        return parse_query_string(inner).get(name, {}), {k for k, _ in inner}, f"query {name}"
    texts = [v for k, v in pairs if k == name]
    keys: set[str] = {name} if texts else set()
    if "array" in kinds:
        items = texts if explode else [part for text in texts for part in text.split(",")]
        item_schema = (resolve(document, schema, schema_where)[0] or {}).get("items") or {}
        return [_coerce(t, _type_of(document, item_schema, schema_where + "/items")) for t in items], keys, f"query {name}"
    return (_coerce(texts[-1], kinds) if texts else None), keys, f"query {name}"


def _check_query(
    document: Mapping[str, Any], operation: Operation, params: list[tuple[Mapping[str, Any], str]], pairs: list[tuple[str, str]]
) -> list[Finding]:
    found: list[Finding] = []
    named = {str(p["name"]) for p, _ in params if p.get("in") == "query"}
    claimed: set[str] = set()
    for param, where in params:
        if param.get("in") != "query":
            continue
        name, schema_where = str(param["name"]), where + "/schema"
        value, keys, label = _query_value(document, param, schema_where, pairs, named)
        if not keys:
            if param.get("required"):
                found.append(Finding(f"query {name}", "required, missing", where + "/required"))
            continue
        claimed |= keys
        if label != "query" and sum(1 for k, _ in pairs if k == name) > 1 and not isinstance(value, list):
            found.append(Finding(label, "given more than once, documented once", where))
        found += _validate(document, schema_where, value, label)
    for key in dict.fromkeys(k for k, _ in pairs if k not in claimed):
        found.append(Finding(f"query {key}", "not a parameter of this operation", operation.where + "/parameters"))
    return found


def _check_headers_and_path(
    document: Mapping[str, Any], params: list[tuple[Mapping[str, Any], str]], operation: Operation, headers: Mapping[str, str] | None
) -> list[Finding]:
    found: list[Finding] = []
    for param, where in params:
        name, place, schema_where = str(param["name"]), param.get("in"), where + "/schema"
        if place == "path":
            text = operation.path_params.get(name)
            if text is not None:
                found += _validate(
                    document, schema_where, _coerce(text, _type_of(document, param.get("schema") or {}, schema_where)), f"path {name}"
                )
        elif place == "header" and name.lower() not in ("accept", "content-type", "authorization"):
            text = _header(headers, name)
            if text is None:
                if param.get("required"):
                    found.append(Finding(f"header {name}", "required, missing", where + "/required"))
                continue
            found += _validate(
                document, schema_where, _coerce(text, _type_of(document, param.get("schema") or {}, schema_where)), f"header {name}"
            )
    return found


# -- credentials --------------------------------------------------------------------------------------------------
def _satisfied(scheme: Mapping[str, Any], headers: Mapping[str, str] | None, pairs: list[tuple[str, str]]) -> bool:
    kind = scheme.get("type")
    if kind == "apiKey":
        name, place = str(scheme.get("name", "")), scheme.get("in")
        if place == "query":
            return any(k == name and v for k, v in pairs)
        if place == "cookie":
            return any(part.strip().startswith(name + "=") for part in (_header(headers, "cookie") or "").split(";"))
        return bool(_header(headers, name))
    authorization = (_header(headers, "authorization") or "").strip()
    given, _, credentials = authorization.partition(" ")
    wanted = str(scheme.get("scheme", "bearer")) if kind == "http" else "bearer"
    return given.lower() == wanted.lower() and bool(credentials.strip())


def _check_security(
    document: Mapping[str, Any], operation: Operation, headers: Mapping[str, str] | None, pairs: list[tuple[str, str]]
) -> list[Finding]:
    if "security" in operation.node:
        requirements, where = operation.node["security"], operation.where + "/security"
    else:
        requirements, where = document.get("security") or [], "/security"
    if not requirements or any(not requirement for requirement in requirements):
        return []
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    for requirement in requirements:
        if all(
            _satisfied(resolve(document, schemes.get(name) or {}, pointer("components", "securitySchemes", name))[0], headers, pairs)
            for name in requirement
        ):
            return []
    options = " | ".join(" + ".join(requirement) for requirement in requirements)
    return [Finding("credentials", f"none of the security requirements is met ({options})", where)]


def check_request(
    document: Mapping[str, Any],
    method: str,
    path: str,
    *,
    query: str | Mapping[str, Any] | Sequence[tuple[str, str]] = "",
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> list[Finding]:
    """Every way the request differs from its operation in ``document`` (empty: it matches).

    ``query`` is the raw query string (or pairs, or a mapping of lists); ``body`` the raw body as bytes (read
    as the ``Content-Type`` header says) or an already decoded value (a text body: its text); None or empty: no body.
    """
    try:
        operation = find_operation(document, method, path)
    except Mismatch as exc:
        return list(exc.findings)
    pairs = _query_pairs(query)
    params = _parameters(document, operation)
    found = _check_headers_and_path(document, params, operation, headers)
    found += _check_query(document, operation, params, pairs)
    found += _check_security(document, operation, headers, pairs)
    raw = operation.node.get("requestBody")
    if raw is None:
        if not _empty(body):
            found.append(Finding("body", "this operation takes no request body", operation.where))
        return found
    request_body, where = resolve(document, raw, operation.where + "/requestBody")
    if _empty(body):
        if request_body.get("required"):
            found.append(Finding("body", "required, missing", where + "/required"))
        return found
    content: Mapping[str, Any] = request_body.get("content") or {}
    given = _header(headers, "content-type")
    media = _pick_media(content, given)
    if media is None:
        found.append(Finding("header Content-Type", f"{given!r} is not documented (documented: {', '.join(content)})", where + "/content"))
        return found
    value, problem = _decode_body(body, media)
    if problem is not None:
        found.append(Finding("body", problem, where + pointer("content", media)))
    elif "schema" in content[media]:
        found += _validate(document, where + pointer("content", media, "schema"), value, "body")
    return found


def assert_request_matches(document: Mapping[str, Any], method: str, path: str, **request: Any) -> None:
    """Raise :class:`Mismatch` unless the request matches its operation (see :func:`check_request`)."""
    found = check_request(document, method, path, **request)
    if found:
        raise Mismatch(f"request {method.upper()} {path} does not match the document", found)


# -- responses ----------------------------------------------------------------------------------------------------
def response_for(document: Mapping[str, Any], method: str, path: str, status: int) -> tuple[Mapping[str, Any], str]:
    """The (resolved) response object documented for ``status`` (then ``4XX``-style ranges, then ``default``) and its pointer."""
    operation = find_operation(document, method, path)
    responses: Mapping[str, Any] = operation.node.get("responses") or {}
    for key in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
        if key in responses:
            node, where = resolve(document, responses[key], operation.where + pointer("responses", key))
            return node, where
    raise Mismatch(
        f"{method.upper()} {path} -> {status}: status not documented",
        [
            Finding(
                "status",
                f"{status} is not documented for {operation.template} (documented: {', '.join(responses) or 'none'})",
                operation.where + "/responses",
            )
        ],
    )


def _check_response_headers(
    document: Mapping[str, Any], response: Mapping[str, Any], where: str, headers: Mapping[str, str]
) -> list[Finding]:
    found: list[Finding] = []
    for name, raw in (response.get("headers") or {}).items():
        header, header_where = resolve(document, raw, where + pointer("headers", name))
        value = _header(headers, name)
        if value is None:
            if header.get("required", False):
                found.append(
                    Finding(f"header {name}", f"required, missing (got: {', '.join(headers) or 'none'})", header_where + "/required")
                )
            continue
        if "schema" in header:
            kinds = _type_of(document, header["schema"], header_where + "/schema")
            found += _validate(document, header_where + "/schema", _coerce(value.strip(), kinds), f"header {name}")
    return found


def check_response(
    document: Mapping[str, Any],
    method: str,
    path: str,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every way a response differs from what ``document`` says ``method path`` answers with ``status``.

    ``body`` is the decoded JSON (or the text of a text media type), or the raw body as bytes, decoded as
    the ``Content-Type`` in ``headers`` says; when ``headers`` are given, the ``Content-Type`` must be a
    documented one and the headers the response marks required must be there. An event stream's body
    is not checked here (its events are in the API's AsyncAPI document).
    """
    try:
        response, where = response_for(document, method, path, status)
    except Mismatch as exc:
        return list(exc.findings)
    found: list[Finding] = []
    content: Mapping[str, Any] = response.get("content") or {}
    given = _header(headers, "content-type")
    if not content:
        if not _empty(body):
            found.append(Finding("body", f"documented without a body, got {body!r:.200}", where))
    else:
        media = _pick_media(content, given)
        if media is None:
            found.append(
                Finding("header Content-Type", f"{given!r} is not documented (documented: {', '.join(content)})", where + "/content")
            )
        elif _bare(media) != "text/event-stream" and "schema" in content[media]:
            value, problem = _decode_body(body, media)
            if problem is not None:
                found.append(Finding("body", problem, where + pointer("content", media)))
            else:
                found += _validate(document, where + pointer("content", media, "schema"), value, "body")
    if headers is not None:
        found += _check_response_headers(document, response, where, headers)
    return found


def assert_matches_openapi(
    document: Mapping[str, Any],
    method: str,
    path: str,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`Mismatch` unless the response matches the document (see :func:`check_response`)."""
    found = check_response(document, method, path, status, body, headers)
    if found:
        raise Mismatch(f"{method.upper()} {path} -> {status} does not match the document", found, f"body: {body!r:.2000}")
