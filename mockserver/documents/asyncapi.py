"""Check frames against an AsyncAPI 3.0 document: what the server sends, what clients send, and replies.

Directions are the application's (the mock server's), as AsyncAPI 3 says them: ``"send"`` is every
message of an ``action: send`` operation plus the replies of every ``action: receive`` operation
(what the server sends); ``"receive"`` the other way round (what clients send). A frame is the
message *payload* (a decoded WebSocket JSON frame, or what :mod:`.wire` makes of an SSE event or a
Socket.IO packet). ``check_frame`` validates it against each message's payload (JSON Schema draft 7,
AsyncAPI's default schema format; ``$ref`` resolved against the whole document) and returns no
findings when one accepts it, else the findings of the closest message, each naming the document
pointer of the rule that failed. ``check_reply`` checks an answer against the replies of the
operations that take a given request message only. ``check_asyncapi`` is a structural check of a
document. The ``assert_*``/``match_frame`` forms raise :class:`Mismatch`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from .findings import Finding, Mismatch, escape, findings_of, leaves, lookup, pointer, resolve

__all__ = [
    "Direction",
    "assert_frame_matches",
    "assert_valid_asyncapi",
    "check_asyncapi",
    "check_frame",
    "check_reply",
    "direction_messages",
    "match_frame",
    "payload_validator",
    "reply_messages",
]

Direction = Literal["send", "receive"]

_DOCUMENT_URI = "urn:agentfeed-mock:asyncapi-document"
#: Keys whose value tells which message a frame is: a mismatch there means "another message".
DISCRIMINATORS = ("type", "channel", "action", "event")
_TOP_LEVEL = {"asyncapi", "id", "info", "servers", "defaultContentType", "channels", "operations", "components"}
_COMPONENT_KINDS = {
    "schemas",
    "servers",
    "channels",
    "operations",
    "messages",
    "securitySchemes",
    "serverVariables",
    "parameters",
    "correlationIds",
    "replies",
    "replyAddresses",
    "externalDocs",
    "tags",
    "operationTraits",
    "messageTraits",
    "serverBindings",
    "channelBindings",
    "operationBindings",
    "messageBindings",
}


def _operation_messages(document: Mapping[str, Any], operation: Mapping[str, Any], op_where: str) -> list[tuple[str, Any]]:
    """(pointer, reference) of the messages an operation lists (none listed: every message of its channel)."""
    listed = operation.get("messages")
    if listed is None:
        channel, channel_where = resolve(document, operation["channel"], op_where + "/channel")
        return [(channel_where + pointer("messages", k), v) for k, v in (channel.get("messages") or {}).items()]
    return [(op_where + pointer("messages", i), m) for i, m in enumerate(listed)]


def _reply_refs(document: Mapping[str, Any], operation: Mapping[str, Any], op_where: str) -> list[tuple[str, Any]]:
    if operation.get("reply") is None:
        return []
    reply, reply_where = resolve(document, operation["reply"], op_where + "/reply")
    return [(reply_where + pointer("messages", i), m) for i, m in enumerate(reply.get("messages") or [])]


def _operations(document: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], str]]:
    for name, raw in (document.get("operations") or {}).items():
        yield resolve(document, raw, pointer("operations", name))


def _named_payloads(document: Mapping[str, Any], refs: list[tuple[str, Any]]) -> dict[str, str]:
    """Message name -> the pointer of its payload schema."""
    found: dict[str, str] = {}
    for where, ref in refs:
        message, message_where = resolve(document, ref, where)
        if "payload" not in message:
            continue
        payload, payload_where = resolve(document, message["payload"], message_where + "/payload")
        if isinstance(payload, Mapping) and "schemaFormat" in payload and "schema" in payload:  # a Multi Format Schema Object
            payload_where += "/schema"
        name = str(message.get("name") or message_where.rsplit("/", 1)[-1])
        if found.get(name, payload_where) != payload_where:
            name = f"{name} ({message_where})"
        found[name] = payload_where
    return found


def direction_messages(document: Mapping[str, Any], direction: Direction) -> dict[str, str]:
    """Message name -> the JSON pointer of its payload, for every message the application uses in ``direction``."""
    if direction not in ("send", "receive"):
        raise ValueError(f"direction must be 'send' or 'receive', not {direction!r}")
    other = "receive" if direction == "send" else "send"
    refs: list[tuple[str, Any]] = []
    for operation, op_where in _operations(document):
        if operation.get("action") == direction:
            refs += _operation_messages(document, operation, op_where)
        elif operation.get("action") == other:
            refs += _reply_refs(document, operation, op_where)
    found = _named_payloads(document, refs)
    if not found:
        raise Mismatch(
            f"the document has no message the application may {direction}", [Finding("document", "no such message", "/operations")]
        )
    return found


def reply_messages(document: Mapping[str, Any], request: str) -> dict[str, str]:
    """Message name -> payload pointer of the replies documented for the message named ``request`` (empty: none)."""
    refs: list[tuple[str, Any]] = []
    for operation, op_where in _operations(document):
        if request in _named_payloads(document, _operation_messages(document, operation, op_where)):
            refs += _reply_refs(document, operation, op_where)
    return _named_payloads(document, refs)


_VALIDATORS: dict[tuple[int, str], tuple[Mapping[str, Any], Draft7Validator]] = {}


def payload_validator(document: Mapping[str, Any], where: str) -> Draft7Validator:
    """A draft 7 validator for the schema at ``where``, ``$ref`` resolved against the whole document.

    Cached per document object and pointer (the documents are cached and never mutated)."""
    cached = _VALIDATORS.get((id(document), where))
    if cached is not None and cached[0] is document:
        return cached[1]
    registry: Registry[Any] = Registry().with_resource(_DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT7))
    validator = Draft7Validator({"$ref": f"{_DOCUMENT_URI}#{where}"}, registry=registry)
    _VALIDATORS[(id(document), where)] = (document, validator)  # the document is kept alive: its id stays its own
    return validator


def _wrong_discriminators(errors: list[ValidationError]) -> set[str]:
    """The keys that tell messages apart (``type``, ``event``, ... or a Socket.IO event's name, item 0) the errors say are wrong."""
    wrong: set[str] = set()
    for e in errors:
        if len(e.path) == 1 and (e.path[0] in DISCRIMINATORS or e.path[0] == 0) and e.validator in ("const", "enum", "pattern", "type"):
            wrong.add(str(e.path[0]))
        elif len(e.path) == 0 and isinstance(e.instance, Mapping) and isinstance(e.schema, Mapping):
            if e.validator == "required" and isinstance(e.validator_value, list):
                wrong.update(k for k in e.validator_value if k in DISCRIMINATORS and k not in e.instance)
            elif e.validator == "additionalProperties":
                known = e.schema.get("properties") or {}
                wrong.update(k for k in e.instance if k in DISCRIMINATORS and k not in known)
        elif len(e.path) == 0 and e.validator == "type":
            wrong.add("(type)")  # an array for an object, or the other way round
    return wrong


def _rank(errors: list[ValidationError]) -> tuple[int, int, int]:
    """Fewer is closer: wrong discriminators, other wrong top-level values, then errors."""
    flat = [leaf for e in errors for leaf in leaves(e)]
    shallow = sum(1 for e in flat if e.validator in ("const", "enum", "type") and len(e.path) <= 1)
    return len(_wrong_discriminators(flat)), shallow, len(flat)


def _closest(document: Mapping[str, Any], messages: Mapping[str, str], payload: Any) -> tuple[str | None, list[Finding], str]:
    """(the accepting message's name or None, the findings of the closest one, the names tried)."""
    for name, where in messages.items():  # the common case first: some message accepts it (stops at the first error)
        if payload_validator(document, where).is_valid(payload):
            return name, [], ""
    candidates: list[tuple[tuple[int, int, int], str, str, list[ValidationError]]] = []
    for name, where in messages.items():
        errors = list(payload_validator(document, where).iter_errors(payload))
        candidates.append((_rank(errors), name, where, errors))
    if not candidates:
        return None, [], ""
    _, name, where, errors = min(candidates, key=lambda c: c[0])
    return None, findings_of(errors, document, where, f"frame (closest: {name})"), ", ".join(c[1] for c in candidates)


def check_frame(document: Mapping[str, Any], direction: Direction, payload: Any) -> list[Finding]:
    """No findings when ``payload`` is the payload of a message the application may ``send`` or ``receive``."""
    name, found, _tried = _closest(document, direction_messages(document, direction), payload)
    return [] if name is not None else found


def match_frame(document: Mapping[str, Any], direction: Direction, payload: Any) -> str:
    """The name of the first message (of the application's ``direction``) whose payload accepts ``payload``;
    raises :class:`Mismatch` with the closest message's findings when none does."""
    name, found, tried = _closest(document, direction_messages(document, direction), payload)
    if name is None:
        party = "server" if direction == "send" else "client"
        raise Mismatch(
            f"frame matches no message the server may {direction} (a {party} frame; tried: {tried})", found, f"frame: {payload!r:.2000}"
        )
    return name


#: The name tests have used for :func:`match_frame`.
assert_frame_matches = match_frame


def check_reply(document: Mapping[str, Any], request: str, payload: Any) -> list[Finding]:
    """No findings when ``payload`` is one of the replies documented for the message named ``request``."""
    replies = reply_messages(document, request)
    if not replies:
        return [Finding("reply", f"no reply is documented for {request}", "/operations")]
    name, found, _tried = _closest(document, replies, payload)
    return [] if name is not None else found


# -- the document itself ------------------------------------------------------------------------------------------
def _walk(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    yield where, node
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _walk(value, where + pointer(str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, where + pointer(index))


def _problem(where: str, message: str) -> Mismatch:
    return Mismatch("not a sound AsyncAPI 3.0 document", [Finding("document", message, where)])


def _check_refs(document: Mapping[str, Any]) -> None:
    for where, node in _walk(document):
        if isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise _problem(where, f"$ref {ref!r} is not a local reference")
            try:
                lookup(document, ref[1:])
            except (KeyError, IndexError, ValueError, TypeError):
                raise _problem(where, f"$ref {ref!r} does not resolve") from None


def _check_schema(schema: Any, where: str) -> None:
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        raise _problem(where, f"not a valid JSON Schema (draft 7): {exc.message}") from None


def _ref_target(ref: Any, where: str, what: str) -> str:
    if not isinstance(ref, Mapping) or not isinstance(ref.get("$ref"), str):
        raise _problem(where, f"{what} must be a Reference Object ($ref)")
    return str(ref["$ref"])


def _check_messages(document: Mapping[str, Any], channels: Mapping[str, Any]) -> None:
    for name, raw in channels.items():
        channel, channel_where = resolve(document, raw, pointer("channels", name))
        address = channel.get("address")
        if address is not None and not isinstance(address, str):
            raise _problem(channel_where + "/address", "address must be a string or null")
        for key, raw_message in (channel.get("messages") or {}).items():
            message, message_where = resolve(document, raw_message, channel_where + pointer("messages", key))
            if not isinstance(message, Mapping):
                raise _problem(message_where, f"channel {name}: message {key} is not a Message Object")
            if "payload" not in message:
                continue
            payload, payload_where = resolve(document, message["payload"], message_where + "/payload")
            _check_schema(payload, payload_where)
            validator = payload_validator(document, payload_where)
            for index, example in enumerate(message.get("examples") or []):
                if "payload" in example:
                    errors = findings_of(validator.iter_errors(example["payload"]), document, payload_where, "example")
                    if errors:
                        raise Mismatch(f"{message_where}/examples/{index} does not match its payload", errors)


def _check_operations(document: Mapping[str, Any]) -> set[str]:
    used: set[str] = set()
    for name, raw in (document.get("operations") or {}).items():
        operation, where = resolve(document, raw, pointer("operations", name))
        if operation.get("action") not in ("send", "receive"):
            raise _problem(where + "/action", f"operation {name}: action must be send or receive, got {operation.get('action')!r}")
        channel_ref = _ref_target(operation.get("channel"), where + "/channel", f"operation {name}: channel")
        if not channel_ref.startswith("#/channels/"):
            raise _problem(where + "/channel", f"operation {name}: channel must reference #/channels/..., got {channel_ref}")
        for index, message in enumerate(operation.get("messages") or []):
            target = _ref_target(message, where + pointer("messages", index), f"operation {name}: messages[{index}]")
            if not target.startswith(channel_ref + "/messages/"):
                raise _problem(
                    where + pointer("messages", index), f"operation {name}: {target} is not a message of its channel {channel_ref}"
                )
            used.add(target)
        if operation.get("reply") is not None:
            reply, reply_where = resolve(document, operation["reply"], where + "/reply")
            reply_channel = _ref_target(
                reply.get("channel", operation["channel"]), reply_where + "/channel", f"operation {name}: reply.channel"
            )
            for index, message in enumerate(reply.get("messages") or []):
                target = _ref_target(message, reply_where + pointer("messages", index), f"operation {name}: reply.messages[{index}]")
                if not target.startswith(reply_channel + "/messages/"):
                    raise _problem(
                        reply_where + pointer("messages", index), f"operation {name}: reply {target} is not a message of {reply_channel}"
                    )
                used.add(target)
    return used


def assert_valid_asyncapi(document: Mapping[str, Any]) -> None:
    """Raise :class:`Mismatch` unless ``document`` is a structurally sound AsyncAPI 3.0.0 document: the version,
    every ``$ref`` local and resolvable, components of known kinds and key syntax, payloads that are valid
    JSON Schemas, examples that match their payload, operations that reference their channel and that
    channel's messages, and no channel message that no operation uses."""
    if document.get("asyncapi") != "3.0.0":
        raise _problem("/asyncapi", f"asyncapi must be '3.0.0', got {document.get('asyncapi')!r}")
    unknown = [k for k in document if k not in _TOP_LEVEL and not str(k).startswith("x-")]
    if unknown:
        raise _problem("", f"unknown top-level fields: {unknown}")
    info = document.get("info")
    if not isinstance(info, Mapping) or not isinstance(info.get("title"), str) or not isinstance(info.get("version"), str):
        raise _problem("/info", "info needs a title and a version (strings)")
    _check_refs(document)
    for name, raw in (document.get("servers") or {}).items():
        server, where = resolve(document, raw, pointer("servers", name))
        if not isinstance(server.get("host"), str) or not isinstance(server.get("protocol"), str):
            raise _problem(where, f"server {name}: host and protocol are required")
    components = document.get("components") or {}
    for kind, entries in components.items():
        if kind not in _COMPONENT_KINDS:
            raise _problem(pointer("components", kind), f"components.{kind} is not an AsyncAPI 3.0 component kind")
        for key in entries:
            if not key or not all(c.isalnum() or c in "._-" for c in key):
                raise _problem(pointer("components", kind, key), f"components.{kind}.{key}: keys must match ^[\\w\\d.\\-_]+$")
    for key, schema in (components.get("schemas") or {}).items():
        _check_schema(schema, pointer("components", "schemas", key))
    channels = document.get("channels") or {}
    _check_messages(document, channels)
    used = _check_operations(document)
    for name, channel in channels.items():
        for key in (channel.get("messages") or {}) if isinstance(channel, Mapping) else ():
            if f"#/channels/{escape(name)}/messages/{escape(key)}" not in used:
                raise _problem(pointer("channels", name, "messages", key), f"channel {name}: message {key} is used by no operation")


def check_asyncapi(document: Mapping[str, Any]) -> list[Finding]:
    """The structural problems of ``document`` (the first one found; empty: sound)."""
    try:
        assert_valid_asyncapi(document)
    except Mismatch as exc:
        return list(exc.findings)
    return []
