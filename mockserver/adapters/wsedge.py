"""The WebSocket side of an API's edge: journal every open, frame and close; apply WebSocket faults.

Each WebSocket is a session (``ws-N``; an Engine.IO session's WebSocket joins that session) from
``ws.connect`` to its one end entry: ``ws.close`` (a close frame, or code 1006 without one),
``ws.reset`` (a TCP reset) or ``ws.reject`` (the handshake refused), each saying ``by`` whom.
Frames are ``ws.frame`` (in and out, ``text`` or ``bytes`` as hex); ``ws.suppressed`` and
``ws.held`` are frames a ``silence`` or ``reorder`` fault kept back. Which fault hits is decided
by the runtime's fault board; this edge only applies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from ..core.catalogue import (
    WS_ACCEPT,
    WS_CLOSE,
    WS_CONNECT,
    WS_FRAME,
    WS_HELD,
    WS_REJECT,
    WS_RESET,
    WS_SUPPRESSED,
    By,
    WsAccept,
    WsClose,
    WsConnect,
    WsFrame,
    WsReject,
    WsReset,
)
from ..core.sessions import Session
from ..faults.model import ActiveFault, FaultSpec
from ..runtime import Runtime

__all__ = [
    "CLOSED_BY_KEY",
    "JOURNALED_KEY",
    "LIMIT_KEY",
    "RESET_KEY",
    "SEND_JOURNALED_KEY",
    "SESSION_KEY",
    "TRANSPORT_KEY",
    "SocketHandle",
    "WebSocketEdge",
    "wire_size",
]

Message = dict[str, Any]
TRANSPORT_KEY = "agentfeed.transport"
#: In a scope: the :class:`~mockserver.core.sessions.Session` the connection belongs to (set by the edge).
SESSION_KEY = "agentfeed.session"
#: In a WebSocket scope: ``async send_journaled(text, seq)`` for a text frame the app has already journaled
#: (a broadcast, journaled once for all its recipients as entry ``seq``). With no fault active it goes straight
#: to the server, past the framework's and the edge's per-frame layers; else through the edge as any frame.
SEND_JOURNALED_KEY = "agentfeed.send_journaled"
#: In a ``websocket.send`` message: the seq of the entry that journaled the frame already (a broadcast).
JOURNALED_KEY = "agentfeed.journaled"
#: In a WebSocket scope: ``reset(reason)`` ends the connection with a TCP reset, journaled (by the server).
RESET_KEY = "agentfeed.reset"
#: In a ``websocket.disconnect`` message: who ended the connection when it was not the client (``"server"``: the
#: server's protocol layer closed it for a frame that broke RFC 6455, see mockserver.server).
CLOSED_BY_KEY = "agentfeed.by"
#: Frames larger than this are journaled by their head, length and SHA-256 (memory stays bounded).
JOURNAL_FRAME_LIMIT = 65_536

#: In a scope's ``extensions``: the name of the limit the connection is over (``connections``), if any (set by the
#: server's protocol; ``adapters/limits.py`` re-exports it).
LIMIT_KEY = "agentfeed.limit"

#: A session resolver: the Engine.IO session a connection belongs to (None: not an Engine.IO request).
SessionResolver = Callable[[dict[str, Any], str, "str | None"], "Session | None"]


def wire_size(payload_length: int) -> int:
    """Bytes of a server frame on the wire (unmasked): header plus payload."""
    return payload_length + (2 if payload_length < 126 else 4 if payload_length < 65536 else 10)


def _frame(path: str, message: Message) -> WsFrame:
    text = message.get("text")
    if text is not None:
        if len(text) <= JOURNAL_FRAME_LIMIT:
            return WsFrame(path=path, text=text)
        return WsFrame(
            path=path,
            text=text[:JOURNAL_FRAME_LIMIT],
            length=len(text),
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            truncated=True,
        )
    data = message.get("bytes") or b""
    if len(data) <= JOURNAL_FRAME_LIMIT // 2:
        return WsFrame(path=path, bytes=data.hex())
    return WsFrame(
        path=path,
        bytes=data[: JOURNAL_FRAME_LIMIT // 2].hex(),
        length=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        truncated=True,
    )


def _marked(frame: WsFrame, *, fault: str | None = None, duplicate: bool = False, reordered: bool = False) -> WsFrame:
    """A copy of a frame's entry, with what a fault did to it."""
    marked = frame.copy()
    if fault is not None:
        marked["fault"] = fault
    if duplicate:
        marked["duplicate"] = True
    if reordered:
        marked["reordered"] = True
    return marked


def _size(message: Message) -> int:
    text = message.get("text")
    return wire_size(len(text) if text is not None else len(message.get("bytes") or b""))


def abort(transport: Any) -> int:
    """Reset a TCP connection (RST, no FIN); returns the bytes it still had to send (lost with it)."""
    if transport is None:
        return 0
    unsent = 0
    with contextlib.suppress(Exception):
        unsent = int(transport.get_write_buffer_size())
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return unsent


class SocketHandle:
    """One open WebSocket: what a fault needs to close or reset it from outside the app."""

    def __init__(self, session: Session, path: str, send: Callable[[Message], Awaitable[None]], transport: Any) -> None:
        self.session = session
        self.path = path
        self._send = send
        self.transport = transport
        self.closed = False
        self.held: tuple[Message, WsFrame] | None = None  # a frame a reorder fault holds back
        #: an Engine.IO session moving to this socket (it began on long-polling, and lives on if this one fails)
        self.upgrade = False
        #: the connection ended under the app (its close was refused or ignored): the end waits in the receive queue
        self.gone = False
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

    def reset(self) -> int:
        self.closed = True
        return abort(self.transport)

    def ended(self) -> bool:
        """Has the connection ended under the app (the transport closing while the app has not closed it)?"""
        return self.transport is not None and bool(self.transport.is_closing())


#: The body and headers of an HTTP answer that refuses a handshake (``status``, ``message``) in the API's own shape.
RefuseBody = Callable[[int, str], "tuple[bytes, list[tuple[bytes, bytes]]]"]


class WebSocketEdge:
    def __init__(
        self,
        app: Callable[..., Any],
        *,
        runtime: Runtime,
        api: str,
        resolve: SessionResolver | None = None,
        refuse_body: RefuseBody | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.api = api
        self.resolve = resolve
        self.refuse_body = refuse_body
        self.sockets: dict[str, SocketHandle] = {}

    def _end(self, handle: SocketHandle, kind: Any, data: Any, direction: str) -> None:
        """Journal the socket's one end. A plain WebSocket's session ends with it; an Engine.IO session ends
        when Engine.IO says so (``sio.disconnect``), unless this handshake was refused before it began."""
        session = handle.session
        self.runtime.journal.record(self.api, kind, data, session=session, direction=direction)  # type: ignore[arg-type]
        if session.transport == "ws" or (kind is WS_REJECT and not handle.upgrade):
            self.runtime.sessions.end(session)

    def _by(self, session: Session, default: By) -> tuple[By, str | None]:
        return ("fault", session.fault) if session.fault is not None else (default, None)

    # -- faults that start while sockets are open ----------------------------------------
    def on_fault(self, spec: FaultSpec, started: bool) -> None:
        if not started or spec.kind not in ("close", "reset"):
            return
        for handle in list(self.sockets.values()):
            if handle.closed or handle.gone:
                continue
            if self.runtime.faults.hits_open(spec.id, self.api, handle.path, session=handle.session) is not None:
                self._apply(spec, handle)

    def _apply(self, spec: FaultSpec, handle: SocketHandle) -> None:
        handle.session.fault = spec.id
        if spec.kind == "reset":
            if handle.closed:
                return
            unsent = handle.reset()
            data = WsReset(path=handle.path, by="fault", fault=spec.id)
            if unsent:
                data["unsent_bytes"] = unsent
                data["lost"] = handle.session.lost(unsent)
            self._end(handle, WS_RESET, data, "out")
        elif not handle.closed:
            self._end(handle, WS_CLOSE, WsClose(path=handle.path, by="fault", code=spec.code, reason=spec.reason, fault=spec.id), "out")
            handle.close(spec.code, spec.reason)

    # -- one connection --------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any], conn: str) -> None:
        runtime, api = self.runtime, self.api
        journal, board = runtime.journal, runtime.faults
        path = scope["path"]
        principal = runtime.identify(api, scope["headers"], scope["query_string"])
        session = self.resolve(scope, conn, principal) if self.resolve is not None else None
        if session is None:
            session = runtime.sessions.open(api, "ws", conn, principal)
        scope[SESSION_KEY] = session
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        journal.record(
            api, WS_CONNECT, WsConnect(path=path, query=scope["query_string"].decode("latin-1"), headers=headers), session=session
        )
        transport = (scope.get("extensions") or {}).get(TRANSPORT_KEY)
        handle = SocketHandle(session, path, send, transport)
        handle.upgrade = session.transport == "eio" and b"sid=" in scope["query_string"]
        limit = (scope.get("extensions") or {}).get(LIMIT_KEY)
        if limit is not None:  # over the listener's connection limit: HTTP 503 in the API's shape, no WebSocket
            await self._over_limit(scope, send, handle, limit)
            return
        fault = board.at_handshake(api, path, session=session) if board else None
        if fault is not None and fault.spec.kind == "refuse_upgrade":
            await self._refuse(scope, send, fault, handle)
            return
        pending_fault = fault  # reset / close: applied right after the app accepts
        accepted = False
        recent = session.recent

        async def rx() -> Message:
            message: Message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                journal.record(api, WS_FRAME, _frame(path, message), session=session, direction="in")
            elif kind == "websocket.disconnect":
                if not handle.closed:
                    closer: By = message.get(CLOSED_BY_KEY, "client")
                    by, fault_id = self._by(session, closer)
                    data = WsClose(path=path, by=by, code=message.get("code", 1005), reason=message.get("reason") or "")
                    if fault_id is not None:
                        data["fault"] = fault_id
                    self._end(handle, WS_CLOSE, data, "in" if closer == "client" else "out")
                handle.closed = True
            return message

        async def tx(message: Message) -> None:
            nonlocal pending_fault, accepted
            kind = message["type"]
            if kind == "websocket.send":
                if handle.closed or handle.gone:
                    return
                journaled = message.pop(JOURNALED_KEY, None)  # a broadcast frame, journaled once for all recipients
                if not board:  # the hot path: no fault can touch this frame
                    await send(message)
                    seq = (
                        journaled
                        if journaled is not None
                        else journal.record(api, WS_FRAME, _frame(path, message), session=session, direction="out").seq
                    )
                    recent.append((seq, _size(message)))
                    return
                frame = _frame(path, message)
                silence = board.draw(api, "silence", path, session=session)
                if silence is not None:
                    frame["fault"] = silence.spec.id
                    journal.record(api, WS_SUPPRESSED, frame, session=session)
                    return
                reorder = board.draw(api, "reorder", path, session=session) if handle.held is None else None
                if reorder is not None:
                    handle.held = (message, frame)  # sent after the next frame
                    journal.record(api, WS_HELD, _marked(frame, fault=reorder.spec.id), session=session)
                    return
                await send(message)
                seq = journaled if journaled is not None else journal.record(api, WS_FRAME, frame, session=session, direction="out").seq
                recent.append((seq, _size(message)))
                duplicate = board.draw(api, "duplicate", path, session=session)
                if duplicate is not None:
                    await send(message)
                    entry = journal.record(
                        api, WS_FRAME, _marked(frame, duplicate=True, fault=duplicate.spec.id), session=session, direction="out"
                    )
                    recent.append((entry.seq, _size(message)))
                if handle.held is not None:
                    held, held_frame = handle.held
                    handle.held = None
                    await send(held)
                    entry = journal.record(api, WS_FRAME, _marked(held_frame, reordered=True), session=session, direction="out")
                    recent.append((entry.seq, _size(held)))
                return
            if kind == "websocket.accept":
                accepted = True
                await send(message)
                journal.record(api, WS_ACCEPT, WsAccept(path=path, subprotocol=message.get("subprotocol")), session=session)
                if pending_fault is not None:
                    spec, pending_fault = pending_fault.spec, None
                    self._apply(spec, handle)
                return
            if kind == "websocket.close" and not accepted:  # before accept: ASGI servers answer the handshake with HTTP 403
                handle.closed = True
                await send(message)
                self._end(handle, WS_REJECT, WsReject(path=path, status=403, by="server", close_code=message.get("code", 1000)), "out")
                return
            if kind == "websocket.close":
                if handle.closed:
                    return
                # the connection may have ended before the app closed it: the client's close frame (answered by the
                # protocol layer at once), its going away, or the protocol layer's close for a frame the client broke
                # waits in the receive queue behind frames the app has not read, and the server refuses this close,
                # or ignores it (uvicorn does once its transport is closing). That end is the one to journal: rx does
                # when the app reads on to it, the app's return (below) when it does not.
                ended = handle.ended()
                handle.closed = True
                try:
                    await send(message)
                except BaseException:
                    handle.closed, handle.gone = False, True
                    raise
                if ended:
                    handle.closed, handle.gone = False, True
                    return
                by, fault_id = self._by(session, "server")
                data = WsClose(path=path, by=by, code=message.get("code", 1000), reason=message.get("reason") or "")
                if fault_id is not None:
                    data["fault"] = fault_id
                self._end(handle, WS_CLOSE, data, "out")
                return
            await send(message)

        async def send_journaled(text: str, seq: int) -> None:
            if handle.closed or handle.gone:
                return
            if not board:  # the hot path of a fan-out: nothing can touch this frame
                await send({"type": "websocket.send", "text": text})
                recent.append((seq, wire_size(len(text))))
            else:
                await tx({"type": "websocket.send", "text": text, JOURNALED_KEY: seq})

        def server_reset(reason: str) -> None:
            if handle.closed or handle.gone:
                return
            unsent = handle.reset()
            data = WsReset(path=path, by="server", reason=reason)
            if unsent:
                data["unsent_bytes"] = unsent
                data["lost"] = session.lost(unsent)
            self._end(handle, WS_RESET, data, "out")

        scope[SEND_JOURNALED_KEY] = send_journaled
        scope[RESET_KEY] = server_reset
        session.abort = server_reset  # an app that only knows the session (a slow Socket.IO consumer) can reset it
        self.sockets[conn] = handle
        try:
            await self.app(scope, rx, tx)
        finally:
            self.sockets.pop(conn, None)
            if session.abort is server_reset:
                session.abort = None
            if not handle.closed and (handle.gone or handle.ended()):
                await self._end_from_queue(handle, rx)
            if not handle.closed:
                handle.closed = True
                # uvicorn closes the TCP connection without a close frame: the client sees 1006
                self._end(handle, WS_CLOSE, WsClose(path=path, by="server", code=1006, reason="handler ended without a close frame"), "out")

    @staticmethod
    async def _end_from_queue(handle: SocketHandle, rx: Callable[[], Awaitable[Message]]) -> None:
        """Journal the end of a connection whose app has returned from the disconnect waiting in its receive queue
        (with the frames the app did not read before it)."""
        with contextlib.suppress(Exception):
            while not handle.closed:
                await asyncio.wait_for(rx(), 0.5)

    async def _over_limit(self, scope: dict[str, Any], send: Callable[..., Any], handle: SocketHandle, limit: str) -> None:
        data = WsReject(path=handle.path, status=503, by="server", exceeded=limit)
        if "websocket.http.response" in (scope.get("extensions") or {}) and self.refuse_body is not None:
            body, headers = self.refuse_body(503, "too many connections open on this API (connections limit)")
            data["retry_after"] = 1
            await send({"type": "websocket.http.response.start", "status": 503, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # a server without the denial extension answers 403
            await send({"type": "websocket.close", "code": 1013})
            data["status"] = 403
        handle.closed = True
        self._end(handle, WS_REJECT, data, "out")

    async def _refuse(self, scope: dict[str, Any], send: Callable[..., Any], fault: ActiveFault, handle: SocketHandle) -> None:
        spec = fault.spec
        status = spec.status
        body = b'{"detail":"Service Unavailable"}' if status == 503 else b""
        data = WsReject(path=handle.path, status=status, by="fault", fault=spec.id)
        if "websocket.http.response" in (scope.get("extensions") or {}):
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            if spec.retry_after is not None:
                headers.append((b"retry-after", str(int(spec.retry_after)).encode()))
                data["retry_after"] = int(spec.retry_after)
            await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # a server without the denial extension answers 403
            await send({"type": "websocket.close", "code": 1008})
            data["status"] = 403
        handle.closed = True
        handle.session.fault = spec.id
        self._end(handle, WS_REJECT, data, "out")
