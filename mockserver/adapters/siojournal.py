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
Either way the journal has the packet and a ``sio.invalid`` entry saying why. Engine.IO
packets the JavaScript server ignores from a client (``open``, ``upgrade``, ``noop`` on
long-polling) are journaled with ``ignored`` and kept from python-engineio, which would end
the session for them and then wait, for ever, for a poll to drain its queue.

``on_open`` may rewrite the OPEN packet's data on its way out (the API announces its keep-alive
in virtual time while python-engineio keeps the pace in real time); the journal has what the
client received.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal, cast
from urllib.parse import parse_qs

from ..core.catalogue import SIO_INVALID, SIO_PACKET, Direction, SioInvalid, SioPacket
from ..core.sessions import Session
from ..core.sio_codec import SEPARATOR, decode_eio, decode_payload, ignored, problem
from ..runtime import Runtime
from .edge import SESSION_KEY

__all__ = ["PacketJournal"]

Message = dict[str, Any]
_Transport = Literal["polling", "websocket"]
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

    def check(self, sid: str | None, packet: dict[str, Any], transport: _Transport = "websocket") -> str | None:
        """socket.io-parser's rules for binary data; None when the packet is acceptable."""
        if transport == "polling" and packet.get("eio") == "ping":  # a probe too: probes belong to a WebSocket upgrade
            return "invalid heartbeat direction"
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
        on_open: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        on_invalid: Callable[[str], Awaitable[None]] | None = None,
        connected: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.api = api
        self.path = path
        #: the edge finds Engine.IO sessions under this path (by the ``sid`` query parameter)
        self.eio_path = path
        self.on_handshake = on_handshake
        self.on_open = on_open  # the OPEN packet's data as the client is to read it
        self.on_invalid = on_invalid  # end an Engine.IO session (by its sid) that sent a refused packet
        self.attachments = _Attachments()
        #: does socket.io have this Engine.IO session (sid) connected to this namespace?
        self.connected = connected

    def _record(
        self,
        packets: list[dict[str, Any]],
        conn: str,
        direction: Direction,
        transport: _Transport,
        sid: str | None,
        session: Session | None,
    ) -> None:
        journal = self.runtime.journal
        for packet in packets:
            data = cast(SioPacket, {**packet, "transport": transport, "eio_sid": sid})
            journal.record(self.api, SIO_PACKET, data, conn=conn, session=session, direction=direction)

    def _opened(self, session: Session | None, sid: str) -> None:
        """The handshake's open packet named the Engine.IO session: later requests find it by that sid."""
        if session is not None:
            self.runtime.sessions.alias(session, f"eio:{sid}")

    def _announce(self, text: str) -> str:
        """An Engine.IO text frame or polling body with its OPEN packet's data as ``on_open`` makes it."""
        if self.on_open is None:
            return text
        parts = text.split(SEPARATOR)
        for index, part in enumerate(parts):
            packet = decode_eio(part)
            if packet.get("eio") == "open" and isinstance(packet.get("data"), dict):
                parts[index] = "0" + json.dumps(self.on_open(packet["data"]), separators=(",", ":"))
        return SEPARATOR.join(parts)

    def _refused(self, sid: str | None, packet: dict[str, Any], transport: _Transport, namespaces: set[str]) -> str | None:
        """Why socket.io would refuse this client packet (None: it would not): its parser's rules, and its
        "invalid state" for a binary packet on a namespace the client is not connected to (python-socketio would
        raise for it: 'Unexpected binary packet'). ``namespaces``: those this connection's (WebSocket) or this
        payload's (long-polling) CONNECT packets asked for, which socket.io may not have handled yet."""
        refused = self.attachments.check(sid, packet, transport)
        if refused is not None or sid is None:
            return refused
        sio, nsp = packet.get("sio"), str(packet.get("nsp") or "/")
        if sio == "CONNECT":
            namespaces.add(nsp)
        elif sio == "DISCONNECT":
            namespaces.discard(nsp)
        elif sio in ("BINARY_EVENT", "BINARY_ACK") and nsp not in namespaces and not (self.connected and self.connected(sid, nsp)):
            return f"invalid state: {sio} for namespace {nsp}, not connected"
        return None

    def _invalid(self, reason: str, conn: str, transport: _Transport, sid: str | None, session: Session | None) -> None:
        self.attachments.forget(sid)
        self.runtime.journal.record(
            self.api, SIO_INVALID, SioInvalid(reason=reason, transport=transport, eio_sid=sid), conn=conn, session=session
        )

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] not in ("http", "websocket") or not (scope["path"].rstrip("/") + "/").startswith(self.path):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        conn = f"{client[0]}:{client[1]}" if client else "local"
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
        session: Session | None = scope.get(SESSION_KEY)
        ended = False  # the client sent Engine.IO's close packet
        namespaces: set[str] = set()  # the namespaces this connection's CONNECT packets asked for

        async def rx() -> Message:
            nonlocal ended
            if ended:  # python-engineio ended the session and would keep reading: close the socket, as socket.io does
                await send({"type": "websocket.close", "code": 1000, "reason": ""})
                return {"type": "websocket.disconnect", "code": 1000}
            message: Message = await receive()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                packet = decode_eio(text) if text is not None else _binary(message.get("bytes") or b"")
                self._record([packet], conn, "in", "websocket", sid, session)
                refused = self._refused(sid, packet, "websocket", namespaces)
                if refused is not None:
                    self._invalid(refused, conn, "websocket", sid, session)
                    await send({"type": "websocket.close", "code": 1000, "reason": ""})
                    return {"type": "websocket.disconnect", "code": 1000}
                ended = packet.get("eio") == "close"
            elif message["type"] == "websocket.disconnect":
                self.attachments.forget(sid)
            return message

        async def tx(message: Message) -> None:
            nonlocal sid
            if message["type"] == "websocket.send":
                text = message.get("text")
                if sid is None and text is not None and text.startswith("0"):
                    text = self._announce(text)
                    message = {**message, "text": text}
                packet = decode_eio(text) if text is not None else _binary(message.get("bytes") or b"")
                opened = packet.get("data") if packet.get("eio") == "open" else None
                if sid is None and isinstance(opened, dict):
                    sid = str(opened.get("sid"))
                    self._opened(session, sid)
                board = self.runtime.faults
                silence = board.active_kind(self.api, "silence", path) if board else None
                if silence is not None:
                    packet = {**packet, "suppressed": True, "fault": silence.spec.id}  # the edge keeps it off the wire (ws.suppressed)
                self._record([packet], conn, "out", "websocket", sid, session)
                if packet.get("sio") in ("CONNECT_ERROR", "DISCONNECT"):  # the server ended a namespace's connection
                    namespaces.discard(str(packet.get("nsp") or "/"))
            await send(message)

        await self.app(scope, rx, tx)

    async def _polling(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any], conn: str, sid: str | None
    ) -> None:
        method = scope["method"]
        session: Session | None = scope.get(SESSION_KEY)
        if method == "POST":
            replay = await self._read_post(receive, send, conn, sid, session)
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
                body = message.get("body", b"")
                if sid is None and not outbound and not message.get("more_body", False) and body.startswith(b"0"):
                    with contextlib.suppress(UnicodeDecodeError):  # the handshake's answer, whole (python-engineio sends it so)
                        body = self._announce(body.decode()).encode()
                        message = {**message, "body": body}
                outbound.extend(body)
                if not message.get("more_body", False):
                    packets = _packets(bytes(outbound))
                    if sid is None:
                        opened = next((p for p in packets if p.get("eio") == "open" and isinstance(p.get("data"), dict)), None)
                        sid = str(opened["data"].get("sid")) if opened else None
                        if sid is not None:
                            self._opened(session, sid)
                    self._record(packets, conn, "out", "polling", sid, session)
            await send(message)

        await self.app(scope, receive, tx)

    async def _read_post(
        self, receive: Callable[..., Any], send: Callable[..., Any], conn: str, sid: str | None, session: Session | None
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
        parts = _parts(bytes(body))
        packets = []
        for _raw, packet in parts:
            why = ignored(packet, "polling")
            packets.append({**packet, "ignored": why} if why else packet)
        self._record(packets, conn, "in", "polling", sid, session)
        namespaces: set[str] = set()  # the namespaces this payload's CONNECT packets ask for
        for packet in packets:
            refused = self._refused(sid, packet, "polling", namespaces)
            if refused is not None:
                self._invalid(refused, conn, "polling", sid, session)
                await send({"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b'"Bad Request"'})
                if sid is not None and self.on_invalid is not None:
                    await self.on_invalid(sid)
                return None
        if any("ignored" in packet for packet in packets):
            kept = [raw for (raw, _packet), packet in zip(parts, packets, strict=True) if "ignored" not in packet]
            body = bytearray(SEPARATOR.join(kept).encode())
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


def _parts(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """A long-polling body's packets, each with its text (a body that is not UTF-8 is one binary packet)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return [("", _binary(body))]
    return [(part, decode_eio(part)) for part in text.split(SEPARATOR)] if text else []
