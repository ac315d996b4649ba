"""TradeReady's ``/ws/v1`` over a Starlette WebSocket route: auth, the channel protocol, pings, fan-out.

Every connection has a bounded queue and a sender task. When a slow consumer's queue is
full, the oldest market frame (ticker, candle) is dropped and journaled (``ws.dropped``);
order, portfolio, reply and ping frames are never dropped: if the queue holds only those,
the connection is closed 1013 ("try again later"), journaled. So the server never grows
without bound and never loses a frame silently. Fan-out frames are journaled once per
message with their recipients (``ws.broadcast``) instead of once per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ...adapters.edge import connection_id
from ...adapters.routing import ApiRouter
from ...adapters.wsedge import JOURNALED_KEY, RESET_KEY, SEND_JOURNALED_KEY, SESSION_KEY, TRANSPORT_KEY
from ...core.catalogue import (
    WS_BROADCAST,
    WS_DISCARDED,
    WS_DROPPED,
    WS_OVERFLOW,
    WS_PONG_TIMEOUT,
    WsBroadcast,
    WsDiscarded,
    WsDropped,
    WsOverflow,
    WsPongTimeout,
)
from ...core.scheduler import Timer
from ...core.sessions import Session
from ...runtime import Runtime
from .channels import Subscriptions, candle_message, order_message, portfolio_message, ticker_message
from .domain import TradeReady
from .market import Candle, Trade

__all__ = ["build_app", "error_body"]

API = "tradeready"
PATH = "/ws/v1"


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"detail": message}


def _text(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


PING = _text({"type": "ping"})


@dataclass(slots=True)
class _Conn:
    conn: str
    websocket: WebSocket
    channels: Subscriptions
    session: Session
    key: str
    #: (frame, critical, broadcast): critical frames (replies, pings, per-key) are never dropped; fan-out
    #: frames were journaled once for all their recipients, as the ``ws.broadcast`` entry ``broadcast`` (else 0)
    queue: deque[tuple[str, bool, int]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ping_timer: Timer | None = None
    awaiting_pong: Timer | None = None
    #: a ping is queued and not yet written; when the last one was written (virtual); the deadline waits for the write
    ping_queued: bool = False
    ping_written: float | None = None
    deadline_on_write: bool = False
    closing: bool = False
    sending: bool = False  # the sender is inside a send (a client that does not read keeps it there)
    close_with: tuple[int, str, bool] | None = None  # code, reason, send what is queued first


class _Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.conns: dict[str, _Conn] = {}
        runtime.on_reset.append(self.rewire)
        self.rewire(close=False)

    @property
    def domain(self) -> TradeReady:
        domain: TradeReady = self.runtime.apis[API]
        return domain

    def rewire(self, close: bool = True) -> None:
        self.domain.listener = self.on_market
        if close:
            for conn in list(self.conns.values()):
                self._close(conn, 1012, "scenario reset")

    # -- queues -----------------------------------------------------------------------------------
    def _put(self, conn: _Conn, frame: str, *, critical: bool, broadcast: int = 0) -> None:
        if conn.closing:  # nothing more after a close was decided
            return
        queue = conn.queue
        if len(queue) >= self.domain.queue_limit:
            for index, (_old, old_critical, old_broadcast) in enumerate(queue):
                if not old_critical:
                    dropped = queue[index][0]
                    del queue[index]
                    data = WsDropped(path=PATH, text=dropped, reason="slow consumer: queue full")
                    if old_broadcast:
                        data["broadcast"] = old_broadcast
                    self.runtime.journal.record(API, WS_DROPPED, data, session=conn.session)
                    break
            else:
                self.runtime.journal.record(
                    API,
                    WS_OVERFLOW,
                    WsOverflow(path=PATH, queued=len(queue), reason="slow consumer: queue full of frames that may not be dropped"),
                    session=conn.session,
                )
                self._close(conn, 1013, "slow consumer")
                return
        queue.append((frame, critical, broadcast))
        conn.wake.set()

    def _send_direct(self, conn: _Conn, message: dict[str, Any]) -> None:
        """A reply, ping or per-key frame: journaled by the edge as an ordinary frame."""
        self._put(conn, _text(message), critical=True)

    def _broadcast(self, message: dict[str, Any], recipients: list[_Conn]) -> None:
        if not recipients:
            return
        text = _text(message)
        seq = self.runtime.journal.record(
            API,
            WS_BROADCAST,
            WsBroadcast(path=PATH, text=text, sessions=[c.session.id for c in recipients], conns=[c.conn for c in recipients]),
        ).seq
        item = (text, False, seq)
        limit = self.domain.queue_limit
        for conn in recipients:
            if len(conn.queue) < limit and not conn.closing:  # the common case, inline
                conn.queue.append(item)
                conn.wake.set()
            else:
                self._put(conn, text, critical=False, broadcast=seq)

    async def _sender(self, conn: _Conn) -> None:
        websocket = conn.websocket
        send_journaled = websocket.scope.get(SEND_JOURNALED_KEY)  # the edge's short path for fan-out frames
        with contextlib.suppress(Exception):
            while True:
                await conn.wake.wait()
                conn.wake.clear()
                sent = 0
                queue = conn.queue
                while queue and (conn.close_with is None or conn.close_with[2]):
                    frame, _critical, broadcast = queue.popleft()
                    conn.sending = True
                    if broadcast and send_journaled is not None:
                        await send_journaled(frame, broadcast)
                    elif broadcast:
                        await websocket.send({"type": "websocket.send", "text": frame, JOURNALED_KEY: broadcast})
                    else:
                        await websocket.send({"type": "websocket.send", "text": frame})
                        if frame == PING:
                            self._ping_written(conn)
                    conn.sending = False
                    sent += 1
                    if sent % 256 == 0:  # let the loop notice a client that left meanwhile
                        await asyncio.sleep(0)
                if conn.close_with is not None:
                    code, reason, _flush = conn.close_with
                    self._discard(conn, "closing")
                    await websocket.close(code=code, reason=reason)
                    return
                if conn.closing:
                    return

    def _discard(self, conn: _Conn, why: str) -> None:
        """Frames that will never be sent: journaled (which broadcasts, and the text of the others), never lost silently."""
        if conn.queue:
            broadcasts = [b for _t, _c, b in conn.queue if b]
            texts = [t for t, _c, b in conn.queue if not b]
            self.runtime.journal.record(
                API,
                WS_DISCARDED,
                WsDiscarded(path=PATH, reason=why, frames=len(conn.queue), broadcasts=broadcasts, texts=texts),
                session=conn.session,
            )
            conn.queue.clear()

    def _close(self, conn: _Conn, code: int, reason: str, *, flush: bool = False) -> None:
        """Close after what is queued (``flush``) or at once. A client that stopped reading, whose
        socket cannot take even a close frame, is cut off (TCP reset), journaled."""
        if conn.closing:
            return
        conn.closing = True
        conn.close_with = (code, reason, flush)
        if conn.sending and not flush:  # the sender is stuck writing to a client that does not read
            self._discard(conn, f"{reason}: the client stopped reading")
            reset = conn.websocket.scope.get(RESET_KEY)
            if reset is not None:
                reset(f"{reason}: cannot send a close frame")
        conn.wake.set()

    # -- the market, orders, portfolios -----------------------------------------------------------------
    def on_market(self, kind: str, *args: Any) -> None:
        profile = self.domain.profile
        conns = [c for c in self.conns.values() if not c.closing]
        if kind == "trades":
            trades: list[Trade] = args[0]
            # who gets what, worked out once per tick rather than once per trade and connection
            everyone = [c for c in conns if "ticker:all" in c.channels.subscriptions]
            by_symbol: dict[str, list[_Conn]] = {}
            for conn in conns:
                if "ticker:all" not in conn.channels.subscriptions:
                    for key in conn.channels.subscriptions:
                        if key.startswith("ticker:"):
                            by_symbol.setdefault(key[7:], []).append(conn)
            for trade in trades:
                specific = by_symbol.get(trade.symbol)
                self._broadcast(ticker_message(profile, trade), everyone + specific if specific else everyone)
        elif kind == "candles":
            candles: list[Candle] = args[0]
            for candle in candles:
                key = f"candles:{candle.symbol}:{candle.interval}"
                self._broadcast(candle_message(profile, candle), [c for c in conns if key in c.channels.subscriptions])
        elif kind in ("order", "portfolio"):
            owner, payload = args
            channel = "orders" if kind == "order" else "portfolio"
            # upstream broadcast_to_agent ignores subscriptions; the documented SDK subscribes first
            targets = [c for c in conns if c.key == owner and (profile == "upstream" or channel in c.channels.subscriptions)]
            build = order_message if kind == "order" else portfolio_message
            for conn in targets:
                self._send_direct(conn, build(profile, payload))

    # -- pings on the virtual clock --------------------------------------------------------------------
    def _schedule_ping(self, conn: _Conn, at: float) -> None:
        scheduler = self.runtime.scheduler

        def ping(due: float) -> None:
            if conn.closing:
                return
            conn.ping_queued = True
            self._send_direct(conn, {"type": "ping"})  # a silence fault keeps it off the wire (journaled by the edge)
            if self.runtime.faults.active_kind(API, "silence", PATH) is None:  # a silenced server waits for no pong
                if conn.awaiting_pong is None and not conn.deadline_on_write:
                    self._arm_pong(conn, due + self.domain.pong_timeout)
            self._schedule_ping(conn, due + self.domain.ping_interval)

        conn.ping_timer = scheduler.call_at(at, ping, name="tradeready ping")

    def _ping_written(self, conn: _Conn) -> None:
        """The ping left the queue: a deadline that came first waits for this (the client has its time from the write)."""
        conn.ping_queued = False
        conn.ping_written = now = self.runtime.clock.now()
        if conn.deadline_on_write and not conn.closing:
            conn.deadline_on_write = False
            self._arm_pong(conn, now + self.domain.pong_timeout)

    def _arm_pong(self, conn: _Conn, at: float) -> None:
        conn.awaiting_pong = self.runtime.scheduler.call_at(at, lambda when: self._pong_missed(conn, when), name="pong deadline")

    def _pong_missed(self, conn: _Conn, due: float) -> None:
        conn.awaiting_pong = None
        # the upstream server waits for the pong after its send completes: a ping held in a slow queue
        # (or a busy sender) does not eat into the client's time
        if conn.ping_queued:
            conn.deadline_on_write = True
            return
        written = conn.ping_written
        if written is not None and written + self.domain.pong_timeout > due:
            self._arm_pong(conn, written + self.domain.pong_timeout)
            return
        self.runtime.journal.record(API, WS_PONG_TIMEOUT, WsPongTimeout(path=PATH, timeout=self.domain.pong_timeout), session=conn.session)
        self._close(conn, 1000, "pong timeout", flush=not conn.sending)

    # -- one connection ---------------------------------------------------------------------------------
    async def serve(self, websocket: WebSocket) -> None:
        domain = self.domain
        key = domain.authenticate(websocket.query_params.get("api_key"))
        if key is None:
            if domain.auth_failure == "close_4401":  # what the docs say
                await websocket.accept()
                await websocket.close(code=4401, reason="Invalid API key")
            else:  # what the server does: close before accept, which ASGI turns into HTTP 403
                await websocket.close(code=4401)
            return
        await websocket.accept()
        if domain.send_buffer:
            _limit_send_buffer(websocket, domain.send_buffer)
        conn = _Conn(connection_id(websocket.scope), websocket, Subscriptions(domain.profile), websocket.scope[SESSION_KEY], key.key)
        self.conns[conn.conn] = conn
        domain.watch(+1)
        self._schedule_ping(conn, self.runtime.clock.now() + domain.ping_interval)
        sender = asyncio.get_running_loop().create_task(self._sender(conn))
        try:
            while not conn.closing:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:  # a binary frame is not a JSON text message either
                    raw = (message.get("bytes") or b"").decode("utf-8", "replace") + "\x00"
                incoming = conn.channels.receive(raw)
                if incoming.pong:
                    conn.deadline_on_write = False
                    if conn.awaiting_pong is not None:
                        conn.awaiting_pong.cancel()
                        conn.awaiting_pong = None
                for reply in incoming.replies:
                    self._send_direct(conn, reply)
                if incoming.close is not None:  # the replies already queued go out first, as the server sends them
                    self._close(conn, incoming.close, "invalid message", flush=True)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            conn.closing = True
            conn.wake.set()
            for timer in (conn.ping_timer, conn.awaiting_pong):
                if timer is not None:
                    timer.cancel()
            self.conns.pop(conn.conn, None)
            if self.domain is domain:
                domain.watch(-1)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(sender, 1.0)


def _limit_send_buffer(websocket: WebSocket, size: int) -> None:
    """Fix the connection's kernel send buffer (no autotuning): a client that does not read meets the queue sooner."""
    transport = (websocket.scope.get("extensions") or {}).get(TRANSPORT_KEY)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def build_app(runtime: Runtime) -> ApiRouter:
    hub = _Hub(runtime)
    app = ApiRouter([WebSocketRoute(PATH, hub.serve)])
    app.state.hub = hub
    return app
