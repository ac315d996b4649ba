"""Check WebSocket frames against an AsyncAPI 3.0 document (a test helper, not a test module).

``assert_frame_matches(document, "send", frame)`` takes the messages the application (the
mock server) sends: those of every ``action: send`` operation, and the replies of every
``action: receive`` operation; ``"receive"`` the other way round. It validates the decoded
frame against each message's payload (a Draft 7 JSON Schema, what AsyncAPI's default schema
format extends; ``$ref`` resolved against the whole document) and returns the name of the
first message whose payload accepts it. When none does, it raises :class:`AssertionError`
with the errors of the closest message.

``assert_valid_asyncapi(document)`` is a structural check of a document: version 3.0.0,
every ``$ref`` local and resolvable, operations that reference their channel and that
channel's messages, payloads that are valid JSON Schemas, examples that match their payload.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.openapi_check import _escape, _lookup, _pointer, _resolve  # one JSON-pointer implementation for both checkers

__all__ = ["assert_frame_matches", "assert_valid_asyncapi", "direction_messages", "payload_validator"]

Direction = Literal["send", "receive"]

_DOCUMENT_URI = "urn:agentfeed-mock:asyncapi-document"
#: Keys whose value tells which message a frame is: a mismatch there means "another message".
_DISCRIMINATORS = ("type", "channel", "action")
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


def _message_refs(document: Mapping[str, Any], direction: Direction) -> list[tuple[str, Any]]:
    """(pointer, node) of every message reference the application uses in ``direction``."""
    refs: list[tuple[str, Any]] = []
    other = "receive" if direction == "send" else "send"
    for op_name, operation in (document.get("operations") or {}).items():
        operation, op_pointer = _resolve(document, operation, _pointer("operations", op_name))
        action = operation.get("action")
        if action == direction:
            listed = operation.get("messages")
            if listed is None:  # no list: every message of the channel
                channel, channel_pointer = _resolve(document, operation["channel"], op_pointer + "/channel")
                refs += [(channel_pointer + _pointer("messages", k), v) for k, v in (channel.get("messages") or {}).items()]
            else:
                refs += [(op_pointer + _pointer("messages", str(i)), m) for i, m in enumerate(listed)]
        elif action == other and operation.get("reply") is not None:
            reply, reply_pointer = _resolve(document, operation["reply"], op_pointer + "/reply")
            refs += [(reply_pointer + _pointer("messages", str(i)), m) for i, m in enumerate(reply.get("messages") or [])]
    return refs


def direction_messages(document: Mapping[str, Any], direction: Direction) -> dict[str, str]:
    """Message name -> the JSON pointer of its payload, for every message the application uses in ``direction``."""
    if direction not in ("send", "receive"):
        raise ValueError(f"direction must be 'send' or 'receive', not {direction!r}")
    found: dict[str, str] = {}
    for pointer, ref in _message_refs(document, direction):
        message, message_pointer = _resolve(document, ref, pointer)
        if "payload" not in message:
            continue
        payload, payload_pointer = _resolve(document, message["payload"], message_pointer + "/payload")
        if isinstance(payload, Mapping) and "schemaFormat" in payload and "schema" in payload:  # a Multi Format Schema Object
            payload_pointer += "/schema"
        name = str(message.get("name") or message_pointer.rsplit("/", 1)[-1])
        if found.get(name, payload_pointer) != payload_pointer:
            name = f"{name} ({message_pointer})"
        found[name] = payload_pointer
    if not found:
        raise AssertionError(f"the document has no message the application may {direction}")
    return found


_VALIDATORS: dict[tuple[int, str], tuple[Mapping[str, Any], Draft7Validator]] = {}


def payload_validator(document: Mapping[str, Any], pointer: str) -> Draft7Validator:
    """A Draft 7 validator for the schema at ``pointer``, ``$ref`` resolved against the whole document.

    Cached per document object and pointer (the documents are cached and never mutated)."""
    cached = _VALIDATORS.get((id(document), pointer))
    if cached is not None and cached[0] is document:
        return cached[1]
    registry: Registry[Any] = Registry().with_resource(_DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT7))
    validator = Draft7Validator({"$ref": f"{_DOCUMENT_URI}#{pointer}"}, registry=registry)
    _VALIDATORS[(id(document), pointer)] = (document, validator)  # the document is kept alive: its id stays its own
    return validator


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors worth reporting: for a failed oneOf/anyOf, those of the closest branch."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        best = min(branches.values(), key=lambda errors: _rank([leaf for e in errors for leaf in _leaves(e)]))
        return [leaf for sub in best for leaf in _leaves(sub)]
    return [error]


def _wrong_discriminators(leaves: list[ValidationError]) -> set[str]:
    """The discriminator keys (``type``, ``channel``, ``action``) the errors say are wrong, missing or unexpected."""
    wrong: set[str] = set()
    for e in leaves:
        if len(e.path) == 1 and e.path[0] in _DISCRIMINATORS and e.validator in ("const", "enum", "pattern", "type"):
            wrong.add(str(e.path[0]))
        elif len(e.path) == 0 and isinstance(e.instance, Mapping) and isinstance(e.schema, Mapping):
            if e.validator == "required" and isinstance(e.validator_value, list):
                wrong.update(k for k in e.validator_value if k in _DISCRIMINATORS and k not in e.instance)
            elif e.validator == "additionalProperties":
                known = e.schema.get("properties") or {}
                wrong.update(k for k in e.instance if k in _DISCRIMINATORS and k not in known)
    return wrong


def _rank(leaves: list[ValidationError]) -> tuple[int, int, int]:
    """Fewer is closer: wrong discriminators, other wrong top-level values, then errors."""
    shallow = sum(1 for e in leaves if e.validator in ("const", "enum", "type") and len(e.path) <= 1)
    return len(_wrong_discriminators(leaves)), shallow, len(leaves)


def _describe(error: ValidationError) -> str:
    message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
    return f"{error.json_path}: {message} (schema path {'/'.join(str(p) for p in error.absolute_schema_path)})"


def assert_frame_matches(document: Mapping[str, Any], direction: Direction, frame: Any) -> str:
    """Raise AssertionError unless ``frame`` (a decoded JSON frame) is the payload of a message the application
    (the server) may ``send`` or ``receive`` according to ``document``; returns that message's name."""
    candidates: list[tuple[tuple[int, int, int], str, list[ValidationError]]] = []
    for name, pointer in direction_messages(document, direction).items():
        errors = list(payload_validator(document, pointer).iter_errors(frame))
        if not errors:
            return name
        leaves = [leaf for error in errors for leaf in _leaves(error)]
        candidates.append((_rank(leaves), name, leaves))
    _, name, leaves = min(candidates, key=lambda c: c[0])
    details = "\n  ".join(dict.fromkeys(_describe(e) for e in leaves[:8]))
    tried = ", ".join(c[1] for c in candidates)
    raise AssertionError(
        f"frame matches no message the server may {direction} (tried: {tried}); closest: {name}:\n  {details}\nframe: {frame!r:.2000}"
    )


# -- the document itself ------------------------------------------------------------------------------
def _walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    yield pointer, node
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _walk(value, pointer + _pointer(str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, pointer + _pointer(str(index)))


def _check_refs(document: Mapping[str, Any]) -> None:
    for pointer, node in _walk(document):
        if isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise AssertionError(f"{pointer}: $ref {ref!r} is not a local reference")
            try:
                _lookup(document, ref[1:])
            except (KeyError, IndexError, ValueError, TypeError):
                raise AssertionError(f"{pointer}: $ref {ref!r} does not resolve") from None


def _check_schema(schema: Any, where: str) -> None:
    try:
        Draft7Validator.check_schema(schema)
    except Exception as exc:  # jsonschema's SchemaError
        raise AssertionError(f"{where}: not a valid JSON Schema (draft 7): {exc}") from None


def _ref_target(ref: Any, where: str) -> str:
    if not isinstance(ref, Mapping) or not isinstance(ref.get("$ref"), str):
        raise AssertionError(f"{where}: must be a Reference Object ($ref)")
    return str(ref["$ref"])


def assert_valid_asyncapi(document: Mapping[str, Any]) -> None:
    """Raise AssertionError unless ``document`` is a structurally sound AsyncAPI 3.0.0 document."""
    if document.get("asyncapi") != "3.0.0":
        raise AssertionError(f"asyncapi must be '3.0.0', got {document.get('asyncapi')!r}")
    unknown = [k for k in document if k not in _TOP_LEVEL and not str(k).startswith("x-")]
    if unknown:
        raise AssertionError(f"unknown top-level fields: {unknown}")
    info = document.get("info")
    if not isinstance(info, Mapping) or not isinstance(info.get("title"), str) or not isinstance(info.get("version"), str):
        raise AssertionError("info needs a title and a version (strings)")
    _check_refs(document)
    for name, server in (document.get("servers") or {}).items():
        server, _ = _resolve(document, server, _pointer("servers", name))
        if not isinstance(server.get("host"), str) or not isinstance(server.get("protocol"), str):
            raise AssertionError(f"server {name}: host and protocol are required")
    components = document.get("components") or {}
    for kind, entries in components.items():
        if kind not in _COMPONENT_KINDS:
            raise AssertionError(f"components.{kind} is not an AsyncAPI 3.0 component kind")
        for key in entries:
            if not key or not all(c.isalnum() or c in "._-" for c in key):
                raise AssertionError(f"components.{kind}.{key}: keys must match ^[\\w\\d.\\-_]+$")
    for key, schema in (components.get("schemas") or {}).items():
        _check_schema(schema, f"components.schemas.{key}")
    channels = document.get("channels") or {}
    used: set[str] = set()
    for name, channel in channels.items():
        channel, _ = _resolve(document, channel, _pointer("channels", name))
        address = channel.get("address")
        if address is not None and not isinstance(address, str):
            raise AssertionError(f"channel {name}: address must be a string or null")
        for key, message in (channel.get("messages") or {}).items():
            message, message_pointer = _resolve(document, message, _pointer("channels", name, "messages", key))
            if not isinstance(message, Mapping):
                raise AssertionError(f"channel {name}: message {key} is not a Message Object")
            if "payload" in message:
                payload, payload_pointer = _resolve(document, message["payload"], message_pointer + "/payload")
                _check_schema(payload, payload_pointer)
                validator = payload_validator(document, payload_pointer)
                for index, example in enumerate(message.get("examples") or []):
                    if "payload" in example:
                        errors = [_describe(e) for e in validator.iter_errors(example["payload"])]
                        if errors:
                            raise AssertionError(f"{message_pointer}/examples/{index}: {'; '.join(errors[:3])}")
    for name, operation in (document.get("operations") or {}).items():
        operation, _ = _resolve(document, operation, _pointer("operations", name))
        if operation.get("action") not in ("send", "receive"):
            raise AssertionError(f"operation {name}: action must be send or receive, got {operation.get('action')!r}")
        channel_ref = _ref_target(operation.get("channel"), f"operation {name}: channel")
        if not channel_ref.startswith("#/channels/"):
            raise AssertionError(f"operation {name}: channel must reference #/channels/..., got {channel_ref}")
        for index, message in enumerate(operation.get("messages") or []):
            target = _ref_target(message, f"operation {name}: messages[{index}]")
            if not target.startswith(channel_ref + "/messages/"):
                raise AssertionError(f"operation {name}: message {target} is not a message of its channel {channel_ref}")
            used.add(target)
        reply = operation.get("reply")
        if reply is not None:
            reply, _ = _resolve(document, reply, _pointer("operations", name, "reply"))
            reply_channel = _ref_target(reply.get("channel", operation["channel"]), f"operation {name}: reply.channel")
            for index, message in enumerate(reply.get("messages") or []):
                target = _ref_target(message, f"operation {name}: reply.messages[{index}]")
                if not target.startswith(reply_channel + "/messages/"):
                    raise AssertionError(f"operation {name}: reply message {target} is not a message of {reply_channel}")
                used.add(target)
    for name, channel in channels.items():
        for key in (channel.get("messages") or {}) if isinstance(channel, Mapping) else ():
            if f"#/channels/{_escape(name)}/messages/{_escape(key)}" not in used:
                raise AssertionError(f"channel {name}: message {key} is used by no operation")
