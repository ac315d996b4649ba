"""The edge of every API: journal each request and response, apply HTTP faults.

``ApiEdge`` wraps an API's ASGI app. For each HTTP request it records
``http.request``, asks the runtime which faults apply, waits any latency on the
virtual clock, then either answers normally, or applies the fault, and records
``http.response`` with what the client really got (status, headers, body, or
the outcome ``reset`` / ``empty`` / ``truncated``). A ``Date`` header from the
virtual clock replaces the server's wall-clock one.
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct
from collections.abc import Callable, Iterator, Mapping
from email.utils import formatdate
from typing import Any

import orjson

from ..faults.model import ActiveFault
from ..runtime import Runtime
from .driver import ClockDriver
from .wsedge import TRANSPORT_KEY, WebSocketEdge

__all__ = ["FRAMES_KEY", "TRANSPORT_KEY", "ApiEdge", "connection_id"]

#: An event stream's body message may carry several SSE frames in one chunk (one write): this key of
#: the message lists them, so that the journal still has one ``sse.frame`` entry per frame.
FRAMES_KEY = "agentfeed.frames"

ASGIApp = Callable[..., Any]
Message = dict[str, Any]


def connection_id(scope: Mapping[str, Any]) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "local"


def _headers_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


class RawHeaders(Mapping[str, str]):
    """ASGI header pairs, decoded to a lower-case dict only when someone reads them (not on the hot path)."""

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._decoded: dict[str, str] | None = None

    def _dict(self) -> dict[str, str]:
        if self._decoded is None:
            self._decoded = _headers_dict(self._raw)
        return self._decoded

    def __getitem__(self, key: str) -> str:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __repr__(self) -> str:
        return repr(self._dict())

    def __reduce__(self) -> tuple[type[RawHeaders], tuple[list[tuple[bytes, bytes]]]]:
        return (RawHeaders, (self._raw,))


def _body_text(body: bytes) -> str:
    if not body:
        return ""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


class _DateHeader:
    """An HTTP ``Date`` from virtual time, formatted once per virtual second."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._second = -1
        self._value = b""

    def __call__(self) -> bytes:
        second = int(self._runtime.clock.now())
        if second != self._second:
            self._second = second
            self._value = formatdate(second, usegmt=True).encode()
        return self._value


class ApiEdge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Runtime,
        api: str,
        driver: ClockDriver,
        error_body: Callable[[int, str], Any],
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.api = api
        self.driver = driver
        self.error_body = error_body
        self.date = _DateHeader(runtime)
        self.ws = WebSocketEdge(app, runtime=runtime, api=api)

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "websocket":
            await self.ws(scope, receive, send, connection_id(scope))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        journal = self.runtime.journal
        conn = connection_id(scope)
        # read the request body up front so it is journaled even if the app never reads it
        chunks: list[bytes] = []
        message: Message = await receive()
        while True:
            if message["type"] == "http.disconnect":  # gone mid-body: keep what did arrive
                journal.record(
                    self.api,
                    "http.request",
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "query": scope["query_string"].decode("latin-1"),
                        "headers": RawHeaders(scope["headers"]),
                        "body": _body_text(b"".join(chunks)),
                        "outcome": "client disconnected",
                    },
                    conn=conn,
                    direction="in",
                )
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
            message = await receive()
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        method, path = scope["method"], scope["path"]
        journal.record(
            self.api,
            "http.request",
            {
                "method": method,
                "path": path,
                "query": scope["query_string"].decode("latin-1"),
                "headers": RawHeaders(scope["headers"]),
                "body": _body_text(body),
            },
            conn=conn,
            direction="in",
        )
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            following: Message = await receive()
            return following

        decision = None
        if self.runtime.faults:
            # an event stream's body never ends: faults that rework a whole body are the stream's own business
            accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
            decision = self.runtime.decide_fault(self.api, method, path, streaming=b"text/event-stream" in accept)
        fault: ActiveFault | None = None
        if decision is not None:
            if decision.latency > 0:
                journal.record(
                    self.api,
                    "fault.applied",
                    {"ids": list(decision.latency_faults), "kind": "latency", "delay": decision.latency, "path": path},
                    conn=conn,
                )
                await self.driver.sleep(decision.latency)
            fault = decision.fault
        if fault is None:
            await self._pass_through(scope, replay, send, conn, path)
            return
        spec = fault.spec
        journal.record(self.api, "fault.applied", {"id": spec.id, "kind": spec.kind, "path": path}, conn=conn)
        if spec.kind in ("error", "rate_limit"):
            await self._error(send, fault, conn, path)
        elif spec.kind in ("reset", "empty"):
            self._close(scope, reset=spec.kind == "reset")
            journal.record(
                self.api,
                "http.response",
                {"path": path, "status": None, "outcome": spec.kind, "fault": spec.id},
                conn=conn,
                direction="out",
            )
            await self._await_disconnect(receive)
        else:  # truncate, malformed, dribble: mangle the real answer
            await self._answer(scope, replay, send, conn, path, fault)

    # -- answering ----------------------------------------------------------------
    async def _pass_through(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any], conn: str, path: str
    ) -> None:
        """No fault: forward each message as the app sends it, adding the virtual Date, and journal the answer."""
        record: dict[str, Any] = {"path": path}
        parts: list[bytes] = []
        streaming = False  # an event stream: journal the head at once, then each chunk (an SSE frame) as it goes

        async def tap(message: Message) -> None:
            nonlocal streaming
            kind = message["type"]
            if kind == "http.response.start":
                # uvicorn runs with date_header=False and our apps set no Date: the virtual one is the only one
                headers = [*message.get("headers", ()), (b"date", self.date())]
                record["status"] = message["status"]
                record["headers"] = RawHeaders(headers)
                message["headers"] = headers  # each message is the app's fresh dict: no copy needed
                for name, value in headers:
                    if name == b"content-type":
                        streaming = value.startswith(b"text/event-stream")
                        break
                if streaming:
                    self.runtime.journal.record(self.api, "http.response", {**record, "stream": True}, conn=conn, direction="out")
            elif kind == "http.response.body" and streaming:
                frames = message.pop(FRAMES_KEY, None)  # several frames in one chunk: each is its own entry
                if frames is not None:
                    self.runtime.journal.record_many(
                        self.api, "sse.frame", [{"path": path, "text": _body_text(frame)} for frame in frames], conn=conn, direction="out"
                    )
                elif chunk := message.get("body", b""):
                    self.runtime.journal.record(
                        self.api, "sse.frame", {"path": path, "text": _body_text(chunk)}, conn=conn, direction="out"
                    )
                if not message.get("more_body", False):
                    self.runtime.journal.record(self.api, "sse.end", {"path": path, "by": "server"}, conn=conn, direction="out")
            elif kind == "http.response.body":
                body = message.get("body", b"")
                if message.get("more_body", False):
                    parts.append(body)
                else:  # one message carries the whole body in the common case: no join
                    record["body"] = _body_text(b"".join((*parts, body)) if parts else body)
                    self.runtime.journal.record(self.api, "http.response", record, conn=conn, direction="out")
            try:
                await send(message)
            except Exception as exc:  # the client went away: say so, then let the server clean up
                self.runtime.journal.record(
                    self.api, "http.send_failed", {"path": path, "error": f"{type(exc).__name__}: {exc}"}, conn=conn
                )
                raise

        try:
            await self.app(scope, receive, tap)
        except Exception as exc:
            if "status" not in record:  # nothing sent yet: the API's own 500 answer
                await self._server_error(scope, receive, tap, exc)
            raise

    async def _answer(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any], conn: str, path: str, fault: ActiveFault
    ) -> None:
        """A mangling fault (truncate, malformed, dribble): buffer the real answer, then deliver it damaged."""
        start: Message | None = None
        parts: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    assert start is not None
                    await self._deliver(scope, send, receive, start, b"".join(parts), conn, path, fault)
            else:
                await send(message)

        try:
            await self.app(scope, receive, capture)
        except Exception as exc:
            if start is None:  # nothing answered yet: the API's own 500 answer, damaged like any other
                await self._server_error(scope, receive, capture, exc)
            raise

    async def _server_error(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any], exc: Exception) -> None:
        """An unhandled exception before any answer: an ``ApiRouter`` answers 500 in the API's own shape.

        (A full Starlette app answers by itself, in its ServerErrorMiddleware.) The exception goes on to
        the server either way, which logs it.
        """
        server_error = getattr(self.app, "server_error", None)
        if server_error is not None:
            await server_error(scope, receive, send, exc)

    async def _deliver(
        self,
        scope: dict[str, Any],
        send: Callable[..., Any],
        receive: Callable[..., Any],
        start: Message,
        body: bytes,
        conn: str,
        path: str,
        fault: ActiveFault,
    ) -> None:
        headers = [*start.get("headers", ()), (b"date", self.date())]
        status = start["status"]
        record: dict[str, Any] = {"path": path, "status": status, "headers": RawHeaders(headers)}
        if fault.spec.kind == "malformed":
            garbage = body[: max(1, len(body) // 2)] + b'\x00\xff{"malformed'
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(garbage)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": garbage})
            record.update(body=_body_text(garbage), outcome="malformed", fault=fault.spec.id)
        elif fault.spec.kind == "truncate":
            cut = body[: int(len(body) * fault.spec.fraction)]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": cut, "more_body": True})
            await asyncio.sleep(0)  # let the transport write what was sent before it closes
            self._close(scope, reset=False)
            record.update(body=_body_text(cut), outcome="truncated", sent_bytes=len(cut), full_bytes=len(body), fault=fault.spec.id)
            self.runtime.journal.record(self.api, "http.response", record, conn=conn, direction="out")
            await self._await_disconnect(receive)
            return
        else:  # dribble
            await send({"type": "http.response.start", "status": status, "headers": headers})
            chunks = max(1, fault.spec.chunks)
            size = max(1, math.ceil(len(body) / chunks))
            pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1
                await send({"type": "http.response.body", "body": piece, "more_body": not last})
                if not last:
                    await self.driver.sleep(fault.spec.interval)
            record.update(body=_body_text(body), outcome="dribbled", chunks=len(pieces), fault=fault.spec.id)
        self.runtime.journal.record(self.api, "http.response", record, conn=conn, direction="out")

    async def _error(self, send: Callable[..., Any], fault: ActiveFault, conn: str, path: str) -> None:
        spec = fault.spec
        status = spec.status
        retry_after = spec.retry_after
        if spec.kind == "rate_limit":
            window_left = (fault._window_start or 0.0) + spec.window - self.runtime.clock.now()
            retry_after = retry_after if retry_after is not None else max(1.0, window_left)
        if spec.body is None:
            reason = "Too Many Requests" if status == 429 else "Service Unavailable" if status == 503 else "Error"
            payload = self.error_body(status, reason)
        else:
            payload = spec.body
        if status in (204, 304):  # these carry no body
            body, content_type = b"", b"text/plain; charset=utf-8"
        elif isinstance(payload, (dict, list)):
            body = orjson.dumps(payload)
            content_type = b"application/json"
        else:
            body = str(payload).encode()
            content_type = b"text/plain; charset=utf-8"
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), (b"date", self.date())]
        headers += [(k.lower().encode(), v.encode()) for k, v in spec.headers.items()]
        if retry_after is not None:
            headers.append((b"retry-after", str(math.ceil(retry_after)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.runtime.journal.record(
            self.api,
            "http.response",
            {"path": path, "status": status, "headers": RawHeaders(headers), "body": _body_text(body), "fault": spec.id},
            conn=conn,
            direction="out",
        )

    # -- closing the connection ----------------------------------------------------------
    @staticmethod
    def _close(scope: dict[str, Any], *, reset: bool) -> None:
        transport = (scope.get("extensions") or {}).get(TRANSPORT_KEY)
        if transport is None:
            raise RuntimeError("this fault needs the agentfeed uvicorn protocol (mockserver.server)")
        if reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            transport.abort()
        else:
            transport.close()

    @staticmethod
    async def _await_disconnect(receive: Callable[..., Any]) -> None:
        """Wait until the server saw the close, so it does not try to answer 500."""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
