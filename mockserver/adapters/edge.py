"""The edge of every API: journal each request and response, apply HTTP faults.

``ApiEdge`` wraps an API's ASGI app. For each HTTP request it records ``http.request`` (with
the principal its credentials name), asks the runtime's fault board which faults apply, waits
any latency on the virtual clock, then either answers normally or applies the fault, and
records ``http.response`` naming the request, with one ``outcome``: what the client really
got. A ``Date`` header from the virtual clock replaces the server's wall-clock one.

An event stream (``text/event-stream``) is a session (``sse-N``) from its response head to its
one end (``sse.end``, or ``sse.reset`` when the stream cuts it); each frame is an ``sse.frame``.
Engine.IO requests (an app with an ``eio_path``) belong to their Engine.IO session (``eio-N``),
found by the ``sid`` query parameter, or opened by the handshake.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator, Mapping
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs

import orjson

from ..core.catalogue import (
    HTTP_ABORTED,
    HTTP_REQUEST,
    HTTP_RESPONSE,
    SSE_END,
    SSE_FRAME,
    HttpAborted,
    HttpRequest,
    HttpResponse,
    Outcome,
    SseEnd,
    SseFrame,
)
from ..core.limits import ApiLimits
from ..core.sessions import Session
from ..faults.model import ActiveFault
from ..runtime import Runtime
from .driver import ClockDriver
from .limits import LIMIT_KEY, REASONS
from .wsedge import JOURNAL_FRAME_LIMIT, SESSION_KEY, TRANSPORT_KEY, WebSocketEdge, abort

__all__ = ["FRAMES_KEY", "SESSION_KEY", "SSE_META_KEY", "TRANSPORT_KEY", "ApiEdge", "RawHeaders", "connection_id", "end_stream"]

#: An event stream's body message may carry several SSE frames in one chunk (one write): this key of
#: the message lists them, so that the journal still has one ``sse.frame`` entry per frame.
FRAMES_KEY = "agentfeed.frames"
#: An event stream's body message may say more about the frame(s) it carries, for their ``sse.frame``
#: entries: ``replay``, ``duplicate``, ``reordered``, ``partial``, ``fault``; ``text`` (journal this
#: text, the whole frame, instead of the body); ``piece`` (a piece of a dribbled frame: journaled whole
#: with its last piece).
SSE_META_KEY = "agentfeed.sse"

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
        return (RawHeaders, (self._raw,))  # spilled undecoded: decoding costs only when someone reads them


def _body_text(body: bytes) -> str:
    if not body:
        return ""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def _sse_frame(path: str, frame: bytes, meta: Mapping[str, Any] | None) -> SseFrame:
    data = SseFrame(path=path, text=_body_text(frame))
    if meta:
        for flag in ("replay", "duplicate", "reordered", "partial", "fault"):
            if flag in meta:
                data[flag] = meta[flag]
    return data


def end_stream(runtime: Runtime, api: str, session: Session, kind: Any, data: Any, *, direction: str = "out") -> None:
    """Journal an event stream's one end (``sse.end`` or ``sse.reset``) and end its session; later calls do nothing."""
    if session.ended:
        return
    runtime.journal.record(api, kind, data, session=session, direction=direction)  # type: ignore[arg-type]
    runtime.sessions.end(session)


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
        limits: ApiLimits | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.api = api
        self.driver = driver
        self.error_body = error_body
        #: the listener's transport limits: the body's size and time are enforced here (the head's by the protocol)
        self.limits = limits or ApiLimits()
        self.date = _DateHeader(runtime)
        #: the path prefix of an Engine.IO endpoint in this app ("/socket.io/"), if it has one
        self.eio_path: str | None = getattr(app, "eio_path", None)
        self.ws = WebSocketEdge(
            app, runtime=runtime, api=api, resolve=self._eio_session if self.eio_path else None, refuse_body=self._limit_body
        )

    def _limit_body(self, status: int, message: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """An answer in the API's own error shape, closing the connection (a limit; a refused WebSocket handshake)."""
        body = orjson.dumps(self.error_body(status, f"{REASONS.get(status, 'Error')}: {message}"))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"date", self.date()),
        ]
        if status == 503:
            headers.append((b"retry-after", b"1"))
        return body, headers

    def _eio_session(self, scope: dict[str, Any], conn: str, principal: str | None) -> Session | None:
        """The Engine.IO session of a request to the app's Engine.IO path: by its ``sid``, or new (a handshake)."""
        assert self.eio_path is not None
        if not (scope["path"].rstrip("/") + "/").startswith(self.eio_path):
            return None
        sid = (parse_qs(scope["query_string"].decode("latin-1")).get("sid") or [None])[0]
        if sid is not None:
            return self.runtime.sessions.find(self.api, f"eio:{sid}")
        return self.runtime.sessions.open(self.api, "eio", conn, principal)

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self.ws(scope, receive, send, connection_id(scope))
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        runtime, api = self.runtime, self.api
        journal = runtime.journal
        conn = connection_id(scope)
        method, path = scope["method"], scope["path"]
        principal = runtime.identify(api, scope["headers"], scope["query_string"])
        over = (scope.get("extensions") or {}).get(LIMIT_KEY)  # a connection over a limit opens no session
        session = self._eio_session(scope, conn, principal) if self.eio_path is not None and over is None else None
        if session is not None:
            scope[SESSION_KEY] = session
            principal = session.principal or principal
        # in flight until answered, for a clock that moves by itself when nothing does (the driver); an Engine.IO
        # long-poll waits for the server's packets, so it never counts
        busy = 0 if session is not None else 1
        driver = self.driver
        driver.inflight += busy
        try:
            # read the request body up front so it is journaled even if the app never reads it
            message: Message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):  # the common case: whole at once
                body = message.get("body", b"")
                if len(body) > self.limits.body:
                    await self._refuse(scope, send, conn, session, principal, body, "body", length=len(body))
                    return
            else:
                read = await self._read_body(scope, receive, send, message, conn, session, principal)
                if read is None:
                    return
                body = read
            if over is not None:  # a connection over the limit: the API's 503, then close
                await self._refuse(scope, send, conn, session, principal, body, over)
                return
            request = journal.record(
                api,
                HTTP_REQUEST,
                HttpRequest(
                    method=method,
                    path=path,
                    query=scope["query_string"].decode("latin-1"),
                    headers=RawHeaders(scope["headers"]),
                    body=_body_text(body),
                ),
                conn=conn,
                session=session,
                principal=principal,
            ).seq
            exchange = _Exchange(self, scope, receive, conn, path, request, principal, session, busy)

            async def replay() -> Message:
                if not exchange.replayed:
                    exchange.replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                following: Message = await receive()
                if following["type"] == "http.disconnect":
                    exchange.client_left()
                return following

            board = runtime.faults
            if board:
                # an event stream's body never ends: faults that rework a whole body are the stream's own business
                accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
                decision = board.at_request(
                    api, method, path, now=runtime.clock.now(), streaming=b"text/event-stream" in accept, conn=conn, principal=principal
                )
                if decision is not None:
                    if decision.latency > 0:
                        await exchange.wait_clock(decision.latency, f"latency fault, {decision.latency:g} s")
                    if decision.fault is not None:
                        await exchange.faulted(decision.fault, replay, send)
                        return
            await exchange.pass_through(replay, send)

        finally:
            driver.inflight -= busy

    async def _read_body(
        self,
        scope: dict[str, Any],
        receive: Callable[..., Any],
        send: Callable[..., Any],
        message: Message,
        conn: str,
        session: Session | None,
        principal: str | None,
    ) -> bytes | None:
        """A body in several messages, within the ``body`` limit and ``body_timeout``; None when it was answered
        (413, 408) or the client left (journaled either way)."""
        limits = self.limits
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > limits.body:  # refused before a byte of it is read
            await self._refuse(scope, send, conn, session, principal, message.get("body", b""), "body", length=int(declared))
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(limits.body_timeout):
                while True:
                    if message["type"] == "http.disconnect":  # gone mid-body: keep what did arrive
                        self._journal_request(scope, conn, session, principal, b"".join(chunks), incomplete=True)
                        return None
                    chunk = message.get("body", b"")
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limits.body:
                        await self._refuse(scope, send, conn, session, principal, b"".join(chunks), "body", length=size)
                        return None
                    if not message.get("more_body", False):
                        break
                    message = await receive()
        except TimeoutError:
            await self._refuse(scope, send, conn, session, principal, b"".join(chunks), "body_timeout", incomplete=True)
            return None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _journal_request(
        self,
        scope: dict[str, Any],
        conn: str,
        session: Session | None,
        principal: str | None,
        body: bytes,
        *,
        incomplete: bool = False,
        length: int | None = None,
    ) -> int:
        data = HttpRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=RawHeaders(scope["headers"]),
            body=_body_text(body[:JOURNAL_FRAME_LIMIT]),
        )
        if incomplete:
            data["incomplete"] = True
        if length is not None:
            data["truncated"], data["length"] = True, length
        return self.runtime.journal.record(self.api, HTTP_REQUEST, data, conn=conn, session=session, principal=principal).seq

    async def _refuse(
        self,
        scope: dict[str, Any],
        send: Callable[..., Any],
        conn: str,
        session: Session | None,
        principal: str | None,
        body: bytes,
        limit: str,
        *,
        length: int | None = None,
        incomplete: bool = False,
    ) -> None:
        """A request over a transport limit: journaled (what arrived of it), answered in the API's shape, connection closed."""
        limits = self.limits
        status, message = {
            "body": (413, f"the request body is over {limits.body} bytes (body limit)"),
            "body_timeout": (408, f"the request body was not complete within {limits.body_timeout:g} s (body_timeout)"),
            "connections": (503, f"this API has {limits.connections} connections open already (connections limit)"),
        }[limit]
        request = self._journal_request(scope, conn, session, principal, body, incomplete=incomplete, length=length)
        if session is not None and b"sid=" not in scope["query_string"]:  # an Engine.IO handshake that never happens
            self.runtime.sessions.end(session)
        payload, headers = self._limit_body(status, message)
        record = HttpResponse(
            request=request,
            path=scope["path"],
            status=status,
            outcome="error",
            headers=RawHeaders(headers),
            body=_body_text(payload),
            exceeded=limit,
        )
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        except Exception:  # the client is gone already
            record["outcome"] = "reset"
        self.runtime.journal.record(self.api, HTTP_RESPONSE, record, conn=conn, session=session, principal=principal)


class _Exchange:
    """One HTTP request and what the client gets for it (a plain answer, a fault's, or an event stream)."""

    __slots__ = (
        "api",
        "busy",
        "conn",
        "edge",
        "path",
        "principal",
        "receive",
        "replayed",
        "request",
        "runtime",
        "scope",
        "session",
        "stream",
    )

    def __init__(
        self,
        edge: ApiEdge,
        scope: dict[str, Any],
        receive: Callable[..., Any],
        conn: str,
        path: str,
        request: int,
        principal: str | None,
        session: Session | None,
        busy: int,
    ) -> None:
        self.edge = edge
        self.busy = busy  # 1 while the driver counts this request in flight (0: an Engine.IO poll)
        self.runtime = edge.runtime
        self.api = edge.api
        self.scope = scope
        self.receive = receive
        self.conn = conn
        self.path = path
        self.request = request
        self.principal = principal
        self.session = session  # an Engine.IO session, or the event stream's once it starts
        self.stream: Session | None = None
        self.replayed = False

    async def wait_clock(self, seconds: float, why: str) -> None:
        """Wait on the virtual clock (a latency, a dribble's pause): meanwhile the request is not in flight."""
        driver = self.edge.driver
        driver.inflight -= self.busy
        try:
            await driver.sleep(
                seconds, what=f"{self.api} request #{self.request} {self.scope['method']} {self.path} ({why})", request=self.request
            )
        finally:
            driver.inflight += self.busy

    def _respond(self, data: HttpResponse) -> None:
        self.runtime.journal.record(self.api, HTTP_RESPONSE, data, conn=self.conn, session=self.session, principal=self.principal)

    def client_left(self) -> None:
        """The client went away: an open event stream ends, by the client."""
        stream = self.stream
        if stream is not None and not stream.ended:
            end_stream(self.runtime, self.api, stream, SSE_END, SseEnd(path=self.path, by="client"), direction="in")

    # -- answering ----------------------------------------------------------------
    async def pass_through(self, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        """No fault: forward each message as the app sends it, adding the virtual Date, and journal the answer."""
        runtime, api, edge = self.runtime, self.api, self.edge
        journal = runtime.journal
        record = HttpResponse(request=self.request, path=self.path, status=None, outcome="answered")
        parts: list[bytes] = []
        streaming = False  # an event stream: journal the head at once, then each chunk (an SSE frame) as it goes

        async def tap(message: Message) -> None:
            nonlocal streaming
            kind = message["type"]
            if kind == "http.response.start":
                # uvicorn runs with date_header=False and our apps set no Date: the virtual one is the only one
                headers = [*message.get("headers", ()), (b"date", edge.date())]
                record["status"] = message["status"]
                record["headers"] = RawHeaders(headers)
                message["headers"] = headers  # each message is the app's fresh dict: no copy needed
                for name, value in headers:
                    if name == b"content-type":
                        streaming = value.startswith(b"text/event-stream")
                        break
                if streaming:
                    edge.driver.inflight -= self.busy  # answered: an open stream is not a request in flight (until it ends)
                    if self.session is None:  # the stream is a session from here to its end
                        self.stream = self.session = runtime.sessions.open(api, "sse", self.conn, self.principal)
                        self.scope[SESSION_KEY] = self.stream
                    record["outcome"] = "stream"
                    self._respond(record)
            elif kind == "http.response.body" and streaming:
                self._stream_body(message)
            elif kind == "http.response.body":
                body = message.get("body", b"")
                if message.get("more_body", False):
                    parts.append(body)
                else:  # one message carries the whole body in the common case: no join
                    record["body"] = _body_text(b"".join((*parts, body)) if parts else body)
                    self._respond(record)
            try:
                await send(message)
            except Exception as exc:  # the client went away: say so, then let the server clean up
                journal.record(
                    api,
                    HTTP_ABORTED,
                    HttpAborted(request=self.request, path=self.path, error=f"{type(exc).__name__}: {exc}"),
                    conn=self.conn,
                    session=self.session,
                    principal=self.principal,
                )
                raise

        try:
            await edge.app(self.scope, receive, tap)
        except Exception as exc:
            runtime.report_error("handler", f"{api} {self.scope['method']} {self.path}", exc)
            if record["status"] is None:  # nothing sent yet: the API's own 500 answer
                await self._server_error(receive, tap, exc)
            raise
        finally:
            if streaming:
                edge.driver.inflight += self.busy  # as it was: the edge's own count ends with the request

    def _stream_body(self, message: Message) -> None:
        stream = self.stream
        frames = message.pop(FRAMES_KEY, None)  # several frames in one chunk: each is its own entry
        meta = message.pop(SSE_META_KEY, None)
        if stream is None:
            return
        journal = self.runtime.journal
        if frames is not None:
            first = journal.record_many(self.api, SSE_FRAME, [_sse_frame(self.path, f, meta) for f in frames], session=stream)
            for offset, frame in enumerate(frames):
                stream.recent.append((first + offset, len(frame)))
        elif meta is not None:  # a frame a fault touched: its flags, or a piece of a dribbled frame
            if not meta.get("piece"):
                entry = journal.record(
                    self.api, SSE_FRAME, _sse_frame(self.path, meta.get("text", message.get("body", b"")), meta), session=stream
                )
                stream.recent.append((entry.seq, len(message.get("body", b""))))
        elif chunk := message.get("body", b""):
            entry = journal.record(self.api, SSE_FRAME, SseFrame(path=self.path, text=_body_text(chunk)), session=stream)
            stream.recent.append((entry.seq, len(chunk)))
        if not message.get("more_body", False):
            data = SseEnd(path=self.path, by="fault" if stream.fault is not None else "server")
            if stream.fault is not None:
                data["fault"] = stream.fault
            end_stream(self.runtime, self.api, stream, SSE_END, data)

    async def _server_error(self, receive: Callable[..., Any], send: Callable[..., Any], exc: Exception) -> None:
        """An unhandled exception before any answer: an ``ApiRouter`` answers 500 in the API's own shape.

        (A full Starlette app answers by itself, in its ServerErrorMiddleware.) The exception goes on to
        the server either way, which logs it.
        """
        server_error = getattr(self.edge.app, "server_error", None)
        if server_error is not None:
            await server_error(self.scope, receive, send, exc)

    # -- faults ---------------------------------------------------------------------------
    async def faulted(self, fault: ActiveFault, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        spec = fault.spec
        if spec.kind in ("error", "rate_limit"):
            await self._error(send, fault)
        elif spec.kind in ("reset", "empty"):
            self._close(reset=spec.kind == "reset")
            outcome: Outcome = "reset" if spec.kind == "reset" else "empty"
            self._respond(HttpResponse(request=self.request, path=self.path, status=None, outcome=outcome, fault=spec.id))
            await self._await_disconnect()
        else:  # truncate, malformed, dribble: mangle the real answer
            await self._mangle(receive, send, fault)

    async def _mangle(self, receive: Callable[..., Any], send: Callable[..., Any], fault: ActiveFault) -> None:
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
                    await self._deliver(send, start, b"".join(parts), fault)
            else:
                await send(message)

        try:
            await self.edge.app(self.scope, receive, capture)
        except Exception as exc:
            self.runtime.report_error("handler", f"{self.api} {self.scope['method']} {self.path}", exc)
            if start is None:  # nothing answered yet: the API's own 500 answer, damaged like any other
                await self._server_error(receive, capture, exc)
            raise

    async def _deliver(self, send: Callable[..., Any], start: Message, body: bytes, fault: ActiveFault) -> None:
        headers = [*start.get("headers", ()), (b"date", self.edge.date())]
        status = start["status"]
        spec = fault.spec
        record = HttpResponse(
            request=self.request, path=self.path, status=status, outcome="answered", headers=RawHeaders(headers), fault=spec.id
        )
        if spec.kind == "malformed":
            garbage = body[: max(1, len(body) // 2)] + b'\x00\xff{"malformed'
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(garbage)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": garbage})
            record["body"], record["outcome"] = _body_text(garbage), "malformed"
        elif spec.kind == "truncate":
            cut = body[: int(len(body) * spec.fraction)]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": cut, "more_body": True})
            await asyncio.sleep(0)  # let the transport write what was sent before it closes
            self._close(reset=False)
            record["body"], record["outcome"] = _body_text(cut), "truncated"
            record["sent_bytes"], record["full_bytes"] = len(cut), len(body)
            self._respond(record)
            await self._await_disconnect()
            return
        else:  # dribble
            await send({"type": "http.response.start", "status": status, "headers": headers})
            chunks = max(1, spec.chunks)
            size = max(1, math.ceil(len(body) / chunks))
            pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1
                await send({"type": "http.response.body", "body": piece, "more_body": not last})
                if not last:
                    await self.wait_clock(spec.interval, f"dribble fault {spec.id}")
            record["body"], record["outcome"], record["chunks"] = _body_text(body), "dribbled", len(pieces)
        self._respond(record)

    async def _error(self, send: Callable[..., Any], fault: ActiveFault) -> None:
        spec = fault.spec
        status = spec.status
        retry_after = spec.retry_after
        if spec.kind == "rate_limit":
            window_left = (fault._window_start or 0.0) + spec.window - self.runtime.clock.now()
            retry_after = retry_after if retry_after is not None else max(1.0, window_left)
        if spec.body is None:
            reason = "Too Many Requests" if status == 429 else "Service Unavailable" if status == 503 else "Error"
            payload = self.edge.error_body(status, reason)
        else:
            payload = spec.body
        if isinstance(payload, (dict, list)):
            body = orjson.dumps(payload)
            content_type = b"application/json"
        else:
            body = str(payload).encode()
            content_type = b"text/plain; charset=utf-8"
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), (b"date", self.edge.date())]
        headers += [(k.lower().encode(), v.encode()) for k, v in spec.headers.items()]
        if retry_after is not None:
            headers.append((b"retry-after", str(math.ceil(retry_after)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self._respond(
            HttpResponse(
                request=self.request,
                path=self.path,
                status=status,
                outcome="error",
                headers=RawHeaders(headers),
                body=_body_text(body),
                fault=spec.id,
            )
        )

    # -- closing the connection ----------------------------------------------------------
    def _close(self, *, reset: bool) -> None:
        transport = (self.scope.get("extensions") or {}).get(TRANSPORT_KEY)
        if transport is None:
            raise RuntimeError("this fault needs the agentfeed uvicorn protocol (mockserver.server)")
        if reset:
            abort(transport)
        else:
            transport.close()

    async def _await_disconnect(self) -> None:
        """Wait until the server saw the close, so it does not try to answer 500."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return
