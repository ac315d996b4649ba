"""JSON responses encoded with orjson (the heartbeat hot path)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.responses import Response

from ..core.journal import dumps_json
from ..core.reply import Reply

__all__ = ["JSONBytesResponse", "reply_response", "send_reply"]

Send = Callable[[dict[str, Any]], Awaitable[None]]


class JSONBytesResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps_json(content)  # orjson; what it refuses (integers beyond 64 bits) the standard library


def reply_response(reply: Reply, extra_headers: Mapping[str, str] | None = None) -> Response:
    headers = dict(reply.headers)
    if extra_headers:
        headers = {**extra_headers, **headers}
    return JSONBytesResponse(reply.body, status_code=reply.status, headers=headers)


async def send_reply(send: Send, reply: Reply, extra_headers: Mapping[str, str] | None = None) -> None:
    """Send ``reply`` as JSON straight to ASGI ``send`` (the hot path: no Response object)."""
    body = dumps_json(reply.body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    merged = {**extra_headers, **reply.headers} if extra_headers else reply.headers
    for name, value in merged.items():
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
