"""JSON responses encoded with orjson (the heartbeat hot path)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from ..core.journal import json_default
from ..core.reply import Reply

__all__ = ["JSONBytesResponse", "reply_response"]


class JSONBytesResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=json_default)


def reply_response(reply: Reply, extra_headers: Mapping[str, str] | None = None) -> Response:
    headers = dict(reply.headers)
    if extra_headers:
        headers = {**extra_headers, **headers}
    return JSONBytesResponse(reply.body, status_code=reply.status, headers=headers)
