"""The WebSocket side of an API's edge: journal every open, frame and close; apply WebSocket faults.

Journal kinds: ``ws.connect`` (the handshake, in), ``ws.accept`` / ``ws.reject`` (out),
``ws.frame`` (in and out, ``text`` or ``bytes`` as hex), ``ws.close`` (who closed, code,
reason), ``ws.reset`` (an abrupt TCP reset), ``ws.suppressed`` (a frame a ``silence``
fault kept back).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from ..faults.model import ActiveFault, FaultSpec
from ..runtime import Runtime

__all__ = ["SEND_JOURNALED_KEY", "TRANSPORT_KEY", "SocketHandle", "WebSocketEdge"]

Message = dict[str, Any]
TRANSPORT_KEY = "agentfeed.transport"
#: In a WebSocket scope: ``async send_journaled(text)`` for a text frame the app has already journaled
#: (a broadcast, journaled once for all its recipients). With no fault active it goes straight to the
#: server, past the framework's and the edge's per-frame layers; else through the edge as any frame.
SEND_JOURNALED_KEY = "agentfeed.send_journaled"


#: Frames larger than this are journaled by their head, length and SHA-256 (memory stays bounded).
JOURNAL_FRAME_LIMIT = 65_536


def _frame(path: str, message: Message) -> dict[str, Any]:
    text = message.get("text")
    if text is not None:
        if len(text) <= JOURNAL_FRAME_LIMIT:
            return {"path": path, "text": text}
        return {
            "path": path,
            "text": text[:JOURNAL_FRAME_LIMIT],
            "length": len(text),
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "truncated": True,
        }
    data = message.get("bytes") or b""
    if len(data) <= JOURNAL_FRAME_LIMIT // 2:
        return {"path": path, "bytes": data.hex()}
    return {
        "path": path,
        "bytes": data[: JOURNAL_FRAME_LIMIT // 2].hex(),
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "truncated": True,
    }


class SocketHandle:
    """One open WebSocket: what a fault needs to close or reset it from outside the app."""

    def __init__(self, conn: str, path: str, send: Callable[[Message], Awaitable[None]], transport: Any) -> None:
        self.conn = conn
        self.path = path
        self._send = send
        self.transport = transport
        self.closed = False
        self.held: tuple[Message, dict[str, Any]] | None = None  # a frame a reorder fault holds back
        self._tasks: set[asyncio.Task[None]] = set()

    def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        task = asyncio.get_running_loop().create_task(self._close(code, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def reset(self) -> None:
        self.closed = True
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


class WebSocketEdge:
    def __init__(self, app: Callable[..., Any], *, runtime: Runtime, api: str) -> None:
        self.app = app
        self.runtime = runtime
        self.api = api
        self.sockets: dict[str, SocketHandle] = {}

    def _record(self, kind: str, data: dict[str, Any], conn: str, direction: str) -> None:
        self.runtime.journal.record(self.api, kind, data, conn=conn, direction=direction)

    # -- faults that start while sockets are open ----------------------------------------
    def on_fault(self, spec: FaultSpec, started: bool) -> None:
        if not started or spec.kind not in ("close", "reset"):
            return
        active = self.runtime.faults.get(spec.id)
        for handle in list(self.sockets.values()):
            if handle.closed or not spec.applies_to(self.api, "GET", handle.path):
                continue
            if active is not None and not active.draw():
                continue
            if active is not None:
                active.applied += 1
            self._apply(spec, handle)

    def _apply(self, spec: FaultSpec, handle: SocketHandle) -> None:
        if spec.kind == "reset":
            self._record("ws.reset", {"path": handle.path, "fault": spec.id}, handle.conn, "out")
            handle.reset()
        elif not handle.closed:
            self._record(
                "ws.close",
                {"path": handle.path, "by": "server", "code": spec.code, "reason": spec.reason, "fault": spec.id},
                handle.conn,
                "out",
            )
            handle.close(spec.code, spec.reason)

    # -- one connection --------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any], conn: str) -> None:
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self._record("ws.connect", {"path": path, "query": scope["query_string"].decode("latin-1"), "headers": headers}, conn, "in")
        fault = self.runtime.decide_ws_fault(self.api, path)
        if fault is not None and fault.spec.kind == "refuse_upgrade":
            await self._refuse(scope, receive, send, fault, conn, path)
            return
        transport = (scope.get("extensions") or {}).get(TRANSPORT_KEY)
        handle = SocketHandle(conn, path, send, transport)
        pending_fault = fault  # reset / close: applied right after the app accepts
        accepted = False

        async def rx() -> Message:
            message: Message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                self._record("ws.frame", _frame(path, message), conn, "in")
            elif kind == "websocket.disconnect":
                if not handle.closed:
                    self._record(
                        "ws.close",
                        {"path": path, "by": "client", "code": message.get("code", 1005), "reason": message.get("reason") or ""},
                        conn,
                        "in",
                    )
                handle.closed = True
            return message

        async def tx(message: Message) -> None:
            nonlocal pending_fault
            kind = message["type"]
            if kind == "websocket.accept":
                nonlocal accepted
                accepted = True
                await send(message)
                self._record("ws.accept", {"path": path, "subprotocol": message.get("subprotocol")}, conn, "out")
                if pending_fault is not None:
                    spec, pending_fault = pending_fault.spec, None
                    self._apply(spec, handle)
                return
            if kind == "websocket.send":
                if handle.closed:
                    return
                journaled = message.pop("agentfeed.journaled", False)  # a broadcast frame, journaled once for all recipients
                if not self.runtime.faults:  # the hot path: no fault can touch this frame
                    await send(message)
                    if not journaled:
                        self._record("ws.frame", _frame(path, message), conn, "out")
                    return
                frame = _frame(path, message)
                silence = self.runtime.silenced(self.api, path)
                if silence is not None:
                    silence.applied += 1
                    self._record("ws.suppressed", {**frame, "fault": silence.spec.id}, conn, "internal")
                    return
                mangle = self.runtime.mangle_frame(self.api, path) if self.runtime.faults else None
                if mangle is not None and mangle.spec.kind == "reorder" and handle.held is None:
                    handle.held = (message, frame)  # sent after the next frame
                    self._record("ws.held", {**frame, "fault": mangle.spec.id}, conn, "internal")
                    return
                await send(message)
                if not journaled:
                    self._record("ws.frame", frame, conn, "out")
                if mangle is not None and mangle.spec.kind == "duplicate":
                    await send(message)
                    self._record("ws.frame", {**frame, "duplicate": True, "fault": mangle.spec.id}, conn, "out")
                if handle.held is not None:
                    held, held_frame = handle.held
                    handle.held = None
                    await send(held)
                    self._record("ws.frame", {**held_frame, "reordered": True}, conn, "out")
                return
            if kind == "websocket.close" and not accepted:  # before accept: ASGI servers answer the handshake with HTTP 403
                handle.closed = True
                await send(message)
                self._record("ws.reject", {"path": path, "status": 403, "close_code": message.get("code", 1000)}, conn, "out")
                return
            if kind == "websocket.close":
                if handle.closed:
                    return
                handle.closed = True
                await send(message)
                self._record(
                    "ws.close",
                    {"path": path, "by": "server", "code": message.get("code", 1000), "reason": message.get("reason") or ""},
                    conn,
                    "out",
                )
                return
            await send(message)

        runtime = self.runtime

        async def send_journaled(text: str) -> None:
            if handle.closed:
                return
            if not runtime.faults:  # the hot path of a fan-out: nothing can touch this frame
                await send({"type": "websocket.send", "text": text})
            else:
                await tx({"type": "websocket.send", "text": text, "agentfeed.journaled": True})

        scope[SEND_JOURNALED_KEY] = send_journaled
        self.sockets[conn] = handle
        try:
            await self.app(scope, rx, tx)
        finally:
            self.sockets.pop(conn, None)
            if not handle.closed:
                handle.closed = True
                # uvicorn closes the TCP connection without a close frame: the client sees 1006
                self._record(
                    "ws.close", {"path": path, "by": "server", "code": 1006, "reason": "handler ended without a close frame"}, conn, "out"
                )

    async def _refuse(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any], fault: ActiveFault, conn: str, path: str
    ) -> None:
        status = fault.spec.status
        body = b'{"detail":"Service Unavailable"}' if status == 503 else b""
        if "websocket.http.response" in (scope.get("extensions") or {}):
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            if fault.spec.retry_after is not None:
                headers.append((b"retry-after", str(int(fault.spec.retry_after)).encode()))
            await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # a server without the denial extension answers 403
            await send({"type": "websocket.close", "code": 1008})
            status = 403
        self._record("ws.reject", {"path": path, "status": status, "fault": fault.spec.id}, conn, "out")
