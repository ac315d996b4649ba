"""Journal every Engine.IO / Socket.IO packet, in and out, on both transports (DECISIONS D7).

An ASGI wrapper around a python-socketio app, inside the API's edge (which journals the
raw WebSocket frames and HTTP exchanges). It decodes what crosses it with
``core.sio_codec`` and records one ``sio.packet`` entry per packet: WebSocket frames one
by one, long-polling bodies split on the record separator. Entries carry the Engine.IO
session id (``eio_sid``) and the transport, so a client's sessions and reconnects can be
told apart; an outgoing packet a ``silence`` fault keeps from the wire is marked
``suppressed``.

A packet socket.io's own (JavaScript) parser would refuse ends that client's session, as
the JavaScript server does, where python-socketio alone would log a traceback and go on:
a WebSocket is closed, a long-polling POST answered 400 and its session disconnected.
Either way the journal has the packet and a ``sio.invalid`` entry saying why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from ..core.sio_codec import decode_eio, decode_payload, problem
from ..runtime import Runtime
from .edge import connection_id

__all__ = ["PacketJournal"]

Message = dict[str, Any]
#: Binary attachments are journaled by their first bytes (hex), length and SHA-256.
BINARY_HEAD = 1024


def _binary(data: bytes) -> dict[str, Any]:
    packet: dict[str, Any] = {"eio": "message", "binary": True, "length": len(data), "bytes": data[:BINARY_HEAD].hex()}
    if len(data) > BINARY_HEAD:
        packet["sha256"] = hashlib.sha256(data).hexdigest()
    return packet


class _Attachments:
    """Binary attachments a client announced (``51-[...]``) and has not sent yet, per session."""

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}

    def check(self, sid: str | None, packet: dict[str, Any]) -> str | None:
        """socket.io-parser's rules for binary data; None when the packet is acceptable."""
        key = sid or ""
        waiting = self.pending.get(key, 0)
        if packet.get("binary"):
            if not waiting:
                return "got binary data when not reconstructing a packet"
            self.pending[key] = waiting - 1
            return None
        if waiting and packet.get("eio") == "message":
            return "got plaintext data when reconstructing a packet"
        if packet.get("attachments"):
            self.pending[key] = int(packet["attachments"])
        return problem(packet)

    def forget(self, sid: str | None) -> None:
        self.pending.pop(sid or "", None)


class PacketJournal:
    def __init__(
        self,
        app: Callable[..., Any],
        *,
        runtime: Runtime,
        api: str,
        path: str = "/socket.io/",
        on_handshake: Callable[[], None] | None = None,
        on_invalid: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.api = api
        self.path = path
        self.on_handshake = on_handshake
        self.on_invalid = on_invalid  # end an Engine.IO session (by its sid) that sent a refused packet
        self.attachments = _Attachments()

    def _record(self, packets: list[dict[str, Any]], conn: str, direction: str, transport: str, sid: str | None) -> None:
        for packet in packets:
            self.runtime.journal.record(
                self.api, "sio.packet", {**packet, "transport": transport, "eio_sid": sid}, conn=conn, direction=direction
            )

    def _invalid(self, reason: str, conn: str, transport: str, sid: str | None) -> None:
        self.attachments.forget(sid)
        self.runtime.journal.record(
            self.api, "sio.invalid", {"reason": reason, "transport": transport, "eio_sid": sid}, conn=conn, direction="internal"
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
        path = scope["path"]

        async def rx() -> Message:
            message: Message = await receive()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                packet = decode_eio(text) if text is not None else _binary(message.get("bytes") or b"")
                self._record([packet], conn, "in", "websocket", sid)
                refused = self.attachments.check(sid, packet)
                if refused is not None:
                    self._invalid(refused, conn, "websocket", sid)
                    await send({"type": "websocket.close", "code": 1000, "reason": ""})
                    return {"type": "websocket.disconnect", "code": 1000}
            elif message["type"] == "websocket.disconnect":
                self.attachments.forget(sid)
            return message

        async def tx(message: Message) -> None:
            nonlocal sid
            if message["type"] == "websocket.send":
                text = message.get("text")
                packet = decode_eio(text) if text is not None else _binary(message.get("bytes") or b"")
                opened = packet.get("data") if packet.get("eio") == "open" else None
                if sid is None and isinstance(opened, dict):
                    sid = str(opened.get("sid"))
                if self.runtime.faults and self.runtime.silenced(self.api, path) is not None:
                    packet = {**packet, "suppressed": True}  # the edge keeps it off the wire (ws.suppressed)
                self._record([packet], conn, "out", "websocket", sid)
            await send(message)

        await self.app(scope, rx, tx)

    async def _polling(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any], conn: str, sid: str | None
    ) -> None:
        method = scope["method"]
        if method == "POST":
            replay = await self._read_post(receive, send, conn, sid)
            if replay is None:
                return
            receive = replay
        outbound = bytearray()
        status = 0

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

        await self.app(scope, receive, tx)

    async def _read_post(
        self, receive: Callable[..., Any], send: Callable[..., Any], conn: str, sid: str | None
    ) -> Callable[[], Awaitable[Message]] | None:
        """Read a long-polling POST, journal its packets and check them; None when it was refused."""
        body = bytearray()
        while True:
            message: Message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                break
        packets = _packets(bytes(body))
        self._record(packets, conn, "in", "polling", sid)
        for packet in packets:
            refused = self.attachments.check(sid, packet)
            if refused is not None:
                self._invalid(refused, conn, "polling", sid)
                await send({"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b'"Bad Request"'})
                if sid is not None and self.on_invalid is not None:
                    await self.on_invalid(sid)
                return None
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            result: Message = await receive()
            return result

        return replay


def _packets(body: bytes) -> list[dict[str, Any]]:
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return [_binary(body)]
    return decode_payload(text)
