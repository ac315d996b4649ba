"""Journal every Engine.IO / Socket.IO packet, in and out, on both transports (DECISIONS D7).

An ASGI wrapper around a python-socketio app, inside the API's edge (which journals the
raw WebSocket frames and HTTP exchanges). It decodes what crosses it with
``core.sio_codec`` and records one ``sio.packet`` entry per packet: WebSocket text
frames one by one, long-polling bodies split on the record separator. Entries carry
the Engine.IO session id (``eio_sid``) and the transport, so a client's sessions and
reconnects can be told apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from ..core.sio_codec import decode_eio, decode_payload, problem
from ..runtime import Runtime
from .edge import connection_id

__all__ = ["PacketJournal"]

Message = dict[str, Any]


class PacketJournal:
    def __init__(
        self,
        app: Callable[..., Any],
        *,
        runtime: Runtime,
        api: str,
        path: str = "/socket.io/",
        on_handshake: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.on_handshake = on_handshake
        self.runtime = runtime
        self.api = api
        self.path = path

    def _record(self, packets: list[dict[str, Any]], conn: str, direction: str, transport: str, sid: str | None) -> None:
        for packet in packets:
            self.runtime.journal.record(
                self.api, "sio.packet", {**packet, "transport": transport, "eio_sid": sid}, conn=conn, direction=direction
            )

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] not in ("http", "websocket") or not (scope["path"].rstrip("/") + "/").startswith(self.path):
            await self.app(scope, receive, send)
            return
        conn = connection_id(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        sid: str | None = (query.get("sid") or [None])[0]
        if sid is None and self.on_handshake is not None:  # a new Engine.IO session is about to open
            self.on_handshake()
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send, conn, sid)
        else:
            await self._polling(scope, receive, send, conn, sid)

    async def _websocket(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any], conn: str, sid: str | None
    ) -> None:
        async def rx() -> Message:
            message: Message = await receive()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                packet = decode_eio(text) if text is not None else {"eio": "binary", "length": len(message.get("bytes") or b"")}
                self._record([packet], conn, "in", "websocket", sid)
                refused = problem(packet)
                if refused is not None:  # what socket.io's JavaScript server does: drop the connection
                    self.runtime.journal.record(
                        self.api,
                        "sio.invalid",
                        {"reason": refused, "transport": "websocket", "eio_sid": sid},
                        conn=conn,
                        direction="internal",
                    )
                    await send({"type": "websocket.close", "code": 1000, "reason": ""})
                    return {"type": "websocket.disconnect", "code": 1000}
            return message

        async def tx(message: Message) -> None:
            nonlocal sid
            if message["type"] == "websocket.send":
                text = message.get("text")
                packet = decode_eio(text) if text is not None else {"eio": "binary", "length": len(message.get("bytes") or b"")}
                opened = packet.get("data") if packet.get("eio") == "open" else None
                if sid is None and isinstance(opened, dict):
                    sid = str(opened.get("sid"))
                self._record([packet], conn, "out", "websocket", sid)
            await send(message)

        await self.app(scope, rx, tx)

    async def _polling(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any], conn: str, sid: str | None
    ) -> None:
        method = scope["method"]
        inbound = bytearray()
        outbound = bytearray()
        status = 0

        async def rx() -> Message:
            message: Message = await receive()
            if method == "POST" and message["type"] == "http.request":
                inbound.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    self._record(_packets(bytes(inbound)), conn, "in", "polling", sid)
            return message

        async def tx(message: Message) -> None:
            nonlocal status, sid
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and method == "GET" and status == 200:
                outbound.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    packets = _packets(bytes(outbound))
                    if sid is None:
                        opened = next((p for p in packets if p.get("eio") == "open" and isinstance(p.get("data"), dict)), None)
                        sid = str(opened["data"].get("sid")) if opened else None
                    self._record(packets, conn, "out", "polling", sid)
            await send(message)

        await self.app(scope, rx, tx)


def _packets(body: bytes) -> list[dict[str, Any]]:
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return [{"eio": "binary", "length": len(body)}]
    if text.startswith("{"):  # an Engine.IO HTTP error body ({"code":..,"message":..})
        try:
            return [{"eio": "error", "data": json.loads(text)}]
        except ValueError:
            pass
    return decode_payload(text)
