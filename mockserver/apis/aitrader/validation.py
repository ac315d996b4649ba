"""The public server's request validation: its pydantic models and FastAPI's way of applying them.

The server is a FastAPI app; before a handler runs, FastAPI reads the body (JSON only when the
``Content-Type`` says so), validates path, query and body parameters with pydantic 2 in lax mode
and answers 422 ``{"detail": [{type, loc, msg, input[, ctx]}]}`` listing every error, path
parameters first, then query, then body. Only then does the handler check the token, so a bad
body without a token is a 422, not a 401. pydantic itself validates here, so error types,
messages and coercions (``"5"`` for an int, ``"250.5"`` for a float) are pydantic's own.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ...core.reply import Reply

__all__ = [
    "MISSING",
    "AgentLogin",
    "AgentMessageCreate",
    "AgentMessagesMarkReadRequest",
    "AgentRegister",
    "AgentTaskCreate",
    "DiscussionRequest",
    "FollowRequest",
    "Param",
    "ReplyRequest",
    "StrategyRequest",
    "read_body",
    "validate",
]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: no body at all (FastAPI's ``Undefined``)
MISSING: Any = _Missing()


# -- the request bodies (field order decides the order of errors) ---------------------------------
class AgentRegister(BaseModel):
    name: str
    password: str
    wallet_address: str | None = None
    initial_balance: float = 100000.0
    positions: list[dict] | None = None  # type: ignore[type-arg]  # a bare dict, as the server declares it


class AgentLogin(BaseModel):
    name: str
    password: str


class StrategyRequest(BaseModel):
    market: str
    title: str
    content: str
    symbols: str | None = None
    tags: str | None = None


class DiscussionRequest(BaseModel):
    market: str
    symbol: str | None = None
    title: str
    content: str


class ReplyRequest(BaseModel):
    signal_id: int
    content: str


class AgentMessageCreate(BaseModel):
    agent_id: int
    type: str
    content: str
    data: dict[str, Any] | None = None


class AgentMessagesMarkReadRequest(BaseModel):
    categories: list[str]


class AgentTaskCreate(BaseModel):
    agent_id: int
    type: str
    input_data: dict[str, Any] | None = None


class FollowRequest(BaseModel):
    leader_id: int


# -- FastAPI's request handling ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Param:
    """A path or query parameter: where it is, its name, its type and (query only) its default."""

    where: str  # "path" | "query"
    name: str
    kind: Any
    default: Any = MISSING


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


def read_body(raw: bytes, content_type: str | None) -> tuple[Any, Reply | None]:
    """What FastAPI validates: ``MISSING`` (no bytes), the JSON value, or the raw bytes (not declared JSON)."""
    if not raw:
        return MISSING, None
    if content_type is None:  # FastAPI's strict_content_type: no Content-Type, no JSON
        return raw, None
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return raw, None
    try:
        return json.loads(raw), None  # what Starlette's Request.json() does: positions and messages are json's
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ["body", exc.pos], "msg": "JSON decode error", "input": {}, "ctx": {"error": exc.msg}}
        return MISSING, Reply(422, {"detail": [error]})
    except ValueError:  # not decodable text: FastAPI's catch-all for a body it cannot read
        return MISSING, Reply(400, {"detail": "There was an error parsing the body"})


def validate(
    params: Sequence[Param], values: Mapping[str, Mapping[str, str]], body_model: type[BaseModel] | None = None, body: Any = MISSING
) -> tuple[dict[str, Any], Reply | None]:
    """Validate like FastAPI: the parameters' values (and the body as ``"body"``), or the 422 listing every error.

    ``values`` maps ``"path"`` and ``"query"`` to what the request carried (strings).
    """
    result: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for param in params:
        given = values.get(param.where, {}).get(param.name, MISSING)
        if given is MISSING:
            if param.default is MISSING:
                errors.append(_missing((param.where, param.name)))
            else:
                result[param.name] = param.default
            continue
        value, problems = _validate(param.kind, given, (param.where, param.name))
        errors += problems
        result[param.name] = value
    if body_model is not None:
        if body is MISSING:
            errors.append(_missing(("body",)))
        else:
            value, problems = _validate(body_model, body, ("body",))
            errors += problems
            result["body"] = value
    if errors:
        return result, Reply(422, {"detail": errors})
    return result, None


def _validate(kind: Any, value: Any, loc: tuple[str | int, ...]) -> tuple[Any, list[dict[str, Any]]]:
    try:
        return _adapter(kind).validate_python(value, from_attributes=True), []
    except ValidationError as exc:
        return None, [_jsonable({**error, "loc": (*loc, *error["loc"])}) for error in exc.errors(include_url=False)]


def _missing(loc: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "missing", "loc": list(loc), "msg": "Field required", "input": None}


def _jsonable(value: Any) -> Any:
    """FastAPI's jsonable_encoder for what an error can hold: tuples are lists, bytes text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
