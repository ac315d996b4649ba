"""One event loop, one uvicorn listener per API plus the control listener (DECISIONS D2).

``MockServer`` composes each API's app behind the journaling/fault edge, binds the sockets
(port 0 = ephemeral), drives the clock, and refuses connections for a ``refuse`` fault.
``ThreadedMockServer`` runs it all in a background thread for tests and in-process use, with
the :class:`~mockserver.control.facade.MockControl` façade's methods callable from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import ipaddress
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request as WsRequest

from .adapters.driver import ClockDriver
from .adapters.edge import TRANSPORT_KEY, ApiEdge
from .adapters.journalfile import JournalFile
from .adapters.limits import LIMIT_KEY, REASONS, HeadGuard, raw_response
from .adapters.wsedge import CLOSED_BY_KEY, abort
from .apis.registry import APIS, CONTROL_PORT
from .control.app import build_control_app
from .control.facade import Duration, Instant, MockControl, ScenarioRef, duration_seconds
from .core.catalogue import CONN_REFUSED, HTTP_INVALID, SERVER_STARTED, ConnRefused, HttpInvalid, ServerStarted
from .core.clock import AUTO_THRESHOLD, check_auto_threshold, format_instant
from .core.errors import JournalWaitTimeout, MockServerError
from .core.journal import Entry
from .core.limits import COLLECT_INTERVAL, ApiLimits, Limits
from .core.query import JournalQuery, explain_miss
from .faults.model import FaultSpec
from .runtime import Runtime
from .scenario.loader import resolve_scenario
from .scenario.model import Scenario

__all__ = ["MockServer", "ThreadedMockServer", "env_lines", "is_loopback"]

T = TypeVar("T")


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "local"


def _limits(config: uvicorn.Config) -> ApiLimits:
    return getattr(config, "limits", None) or ApiLimits()


class _AgentfeedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, exposing the transport to the edge (resets, truncation), with the
    listener's limits on idle connections and request heads (``adapters/limits.py``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = HeadGuard(_limits(self.config), self.loop, self._refuse)
        self.over_limit: str | None = None  # a limit this connection is over (its requests get the API's 503)
        self.refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.guard.opened()
        if len(self.connections) > self.guard.limits.connections:
            self.over_limit = "connections"
        edge = self.app
        if isinstance(edge, ApiEdge):
            edge.driver.client_connected()  # a clock that moves by itself waits for its first client
        if isinstance(edge, ApiEdge) and edge.runtime.held_speed is not None:  # the first client: the clock starts now
            edge.runtime.release_clock("client", conn=_peer(transport))
            edge.driver.poke()
        if isinstance(edge, ApiEdge) and edge.runtime.faults:  # a refuse fault: reset the connection as it opens
            conn = _peer(transport)
            refused = edge.runtime.faults.at_connection(edge.api, conn=conn)
            if refused is not None and refused.spec.how == "reset":
                edge.runtime.journal.record(edge.api, CONN_REFUSED, ConnRefused(fault=refused.spec.id), conn=conn)
                abort(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        continued = self.guard.reading
        super().data_received(data)
        if not self.refused and self.parser is not None:
            self.guard.fed(len(data), continued=continued)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.guard.begin()
        extensions: dict[str, Any] = {TRANSPORT_KEY: self.transport}
        if self.over_limit is not None:
            extensions[LIMIT_KEY] = self.over_limit
        self.scope["extensions"] = extensions

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self.guard.url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self.guard.header(name, value)

    def on_headers_complete(self) -> None:
        self.guard.complete()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self.guard.answered()
        super().on_response_complete()

    def handle_websocket_upgrade(self) -> None:
        self.guard.cancel()  # a WebSocket lives by its pings from here
        super().handle_websocket_upgrade()

    def _refuse(self, status: int, message: str, limit: str) -> None:
        """A limit the connection broke before its request reached the app: answer in the listener's shape, close."""
        self.refused = True
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if status == 0:  # idle: nothing was asked, nothing to answer
            transport.close()
            return
        edge = self.app if isinstance(self.app, ApiEdge) else None
        if edge is not None:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "local"
            edge.runtime.journal.record(edge.api, HTTP_INVALID, HttpInvalid(status=status, error=message, exceeded=limit), conn=client)
        if self.cycle is None or self.cycle.response_complete:  # nothing else is being answered on this connection
            reason = REASONS.get(status, "Error")
            body = edge.error_body(status, f"{reason}: {message}") if edge is not None else {"error": f"{reason}: {message}"}
            transport.write(raw_response(status, body, date=edge.date() if edge is not None else None))
        transport.close()

    def send_400_response(self, msg: str) -> None:
        """Bytes that are not HTTP never reach the app: journal them here (D7)."""
        if self.refused:  # a limit stopped the parser: answered already
            return
        if isinstance(self.app, ApiEdge):
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "local"
            self.app.runtime.journal.record(self.app.api, HTTP_INVALID, HttpInvalid(status=400, error=msg), conn=client)
        super().send_400_response(msg)


class _AgentfeedWsProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, exposing the transport (abrupt resets)."""

    def handle_connect(self, event: WsRequest) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][TRANSPORT_KEY] = self.transport
            if len(self.connections) > _limits(self.config).connections:
                scope["extensions"][LIMIT_KEY] = "connections"  # the edge answers the handshake 503

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            self.handshake_complete = True  # a denial response completes the handshake (uvicorn would log an error)

    def send_receive_event_to_app(self) -> None:
        # a text message that is not UTF-8 is the client's error: close 1007 (RFC 6455 §8.1) as websockets' own
        # server does, where uvicorn would log a traceback first; the journal's ws.close says why
        if self.curr_msg_data_type == "text" and not self.close_sent and self.frames:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError as exc:
                self.frames = []
                self.conn.send_close(1007, f"{exc.reason} at position {exc.start}")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def handle_parser_exception(self) -> None:
        """The client broke the protocol (a frame over the ``message`` limit: 1009; one websockets' parser refused; text
        that is not UTF-8): the server closes, and says so to the edge (uvicorn's message would read as the client's)."""
        close = self.conn.close_sent
        assert close is not None
        message: Any = {"type": "websocket.disconnect", "code": int(close.code), "reason": close.reason, CLOSED_BY_KEY: "server"}
        self.queue.put_nowait(message)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()

    def shutdown(self) -> None:
        """The server is stopping: close 1012 (service restart), said to the edge as the server's doing (uvicorn's
        message would read as the client's close)."""
        if self.close_sent or not self.handshake_complete:
            super().shutdown()
            return
        self.stop_keepalive()
        message: Any = {"type": "websocket.disconnect", "code": 1012, "reason": "", CLOSED_BY_KEY: "server"}
        self.queue.put_nowait(message)
        self.conn.send_close(1012)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.handshake_complete and self.conn.close_rcvd is None:
            # gone without a close frame: RFC 6455 §7.1.5 calls that 1006 (uvicorn would say 1005, "no status code
            # in a close frame", and a client killed mid-session would look like one that closed politely)
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
        super().connection_lost(exc)


class _Config(uvicorn.Config):
    """uvicorn's configuration, carrying the listener's limits to its protocols."""

    def __init__(self, app: Any, *, limits: ApiLimits, **options: Any) -> None:
        super().__init__(app, **options)
        self.limits = limits


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to us (several run in one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is this machine's loopback (``127.0.0.1``, ``::1``, ``localhost``)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None)
    except OSError:
        return False  # cannot tell: treat it as reachable from elsewhere
    return bool(found) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in found)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when their proto says TCP
    # (uvloop always does); without it Nagle meets the client's delayed ACK, ~40 ms a keep-alive request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


@dataclass(slots=True)
class _Listener:
    name: str
    host: str
    port: int
    server: _Server
    task: asyncio.Task[None] | None = None
    refusing: bool = False


class MockServer:
    def __init__(
        self,
        runtime: Runtime,
        *,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        control_port: int = CONTROL_PORT,
        control_host: str = "127.0.0.1",
        control_token: str | None = None,
        log_level: str = "warning",
        stall_timeout: float | None = None,
        limits: Limits | None = None,
        journal_file: str | os.PathLike[str] | None = None,
        scenario_dirs: Sequence[str | os.PathLike[str]] = (),
        allow_unauthenticated_remote_control: bool = False,
        collect_interval: float | None = COLLECT_INTERVAL,
    ) -> None:
        unknown = set(ports or {}) - set(APIS)
        if unknown:
            raise ValueError(f"unknown API in ports: {', '.join(sorted(unknown))}; known: {', '.join(APIS)}")
        if not control_token and not allow_unauthenticated_remote_control and not is_loopback(control_host):
            raise MockServerError(
                f"the control API would listen on {control_host}, beyond this machine, with no token: anyone who can reach "
                "it could load scenarios, read the journal and the credentials; give --control-token (or pass "
                "--allow-unauthenticated-remote-control if that is really meant)"
            )
        self.runtime = runtime
        #: the transport limits of every listener (mockserver.core.limits)
        self.limits = limits or Limits()
        #: append every journal entry to this file as JSON Lines as it happens (adapters/journalfile.py)
        self.journal_file = journal_file
        self._journal_writer: JournalFile | None = None
        self.host = host
        self.ports = {name: (ports or {}).get(name, api.default_port) for name, api in APIS.items()}
        self.control_port = control_port
        self.control_host = control_host
        self.control_token = control_token
        self.log_level = log_level
        #: real seconds a request may wait on a manual clock nobody advances before it is reported and released
        self.stall_timeout = stall_timeout
        self.driver: ClockDriver | None = None
        self.listeners: dict[str, _Listener] = {}
        self.edges: dict[str, ApiEdge] = {}
        self._pending: set[asyncio.Task[None]] = set()
        #: real seconds between full garbage collections (mockserver.core.limits.COLLECT_INTERVAL; None: Python's own)
        self.collect_interval = collect_interval
        self._collector: asyncio.TimerHandle | None = None
        #: the façade: everything that steers this mock goes through it
        self.control = MockControl(
            runtime, poke=self._poke, urls=self.urls, control_token=control_token, scenario_dirs=scenario_dirs, limits=self.limits
        )

    def _poke(self) -> None:
        if self.driver is not None:
            self.driver.poke()

    # -- lifecycle ---------------------------------------------------------------
    def _config(self, app: Any, limits: ApiLimits) -> uvicorn.Config:
        return _Config(
            app,
            limits=limits,
            http=_AgentfeedProtocol,
            ws=_AgentfeedWsProtocol,
            ws_per_message_deflate=False,  # 7x the CPU per small frame (reference/performance.md)
            ws_ping_interval=None,  # protocol pings would run on wall time (D4); APIs ping on the virtual clock
            ws_max_size=limits.message,  # 1 MiB by default: no API here sends or expects bigger; bigger ones are closed 1009
            timeout_keep_alive=limits.idle_timeout,  # between requests; a new connection: the protocol's HeadGuard
            lifespan="off",
            access_log=False,
            log_level=self.log_level,
            date_header=False,
            server_header=False,
            proxy_headers=False,  # a mock is not behind a proxy: keep the client's own address as its connection id
            timeout_graceful_shutdown=2,
        )

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An exception nothing awaited (a task of ours or a library's): journaled, raised to whoever drives the mock."""
        exc = context.get("exception")
        if isinstance(exc, Exception) and not isinstance(exc, (ConnectionError, asyncio.CancelledError)):
            task = context.get("task") or context.get("future")
            name = task.get_name() if isinstance(task, asyncio.Task) else str(context.get("message", "event loop"))
            self.runtime.report_error("task", name, exc)
        loop.default_exception_handler(context)

    async def start(self, *, before_serving: Callable[[], None] | None = None) -> None:
        """Bind every port, then serve; ``before_serving`` runs once the ports are known and before any answers."""
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_exception)
        self.driver = ClockDriver(self.runtime, stall_timeout=self.stall_timeout)
        self.runtime.on_fault = self._on_fault
        apps: dict[str, tuple[str, int, Any]] = {}
        for name, api in APIS.items():
            module_name, _, func = api.adapter.partition(":")
            build = getattr(importlib.import_module(module_name), func)
            error_body = importlib.import_module(module_name).error_body
            edge = ApiEdge(
                build(self.runtime),
                runtime=self.runtime,
                api=name,
                driver=self.driver,
                error_body=error_body,
                limits=self.limits.for_api(name),
            )
            self.edges[name] = edge
            apps[name] = (self.host, self.ports[name], edge)
        apps["control"] = (
            self.control_host,
            self.control_port,
            build_control_app(self.control, token=self.control_token, limits=self.limits.for_control()),
        )
        sockets: dict[str, socket.socket] = {}
        try:  # bind every port before serving any, so a taken port leaves nothing running
            for name, (host, port, _app) in apps.items():
                sockets[name] = _bind(host, port)
        except OSError as exc:
            for sock in sockets.values():
                sock.close()
            raise MockServerError(f"cannot listen on {host}:{port} for {name}: {exc.strerror or exc}") from None
        for name, (host, _port, app) in apps.items():
            limits = self.limits.for_control() if name == "control" else self.limits.for_api(name)
            self.listeners[name] = _Listener(name, host, sockets[name].getsockname()[1], _Server(self._config(app, limits)))
        if self.journal_file is not None:  # from the first entry on (the scenario's start), before anything answers
            self._journal_writer = JournalFile(self.journal_file, self.runtime.journal)
        if before_serving is not None:  # every port is known, nothing answers yet (an env file is written here)
            before_serving()
        for name, listener in self.listeners.items():
            listener.task = loop.create_task(listener.server.serve(sockets=[sockets[name]]), name=f"listen-{name}")
        while not all(lst.server.started for lst in self.listeners.values()):
            for lst in self.listeners.values():
                if lst.task is not None and lst.task.done():
                    lst.task.result()  # re-raise a startup failure
            await asyncio.sleep(0.01)
        self.driver.start()
        self._schedule_collection()
        for active in list(self.runtime.faults.active.values()):  # refuse faults the scenario started at 0s, before we listened
            if active.spec.kind == "refuse" and active.spec.how == "unlisten":
                for name in list(APIS) if active.spec.api == "*" else [active.spec.api]:
                    await self._set_refusing(name, True)
        self.runtime.journal.record("mock", SERVER_STARTED, ServerStarted(urls=self.urls()))

    def _schedule_collection(self) -> None:
        if self.collect_interval:
            self._collector = asyncio.get_running_loop().call_later(self.collect_interval, self._collect_garbage)

    def _collect_garbage(self) -> None:
        """A full collection now and then: every closed connection leaves reference cycles (uvicorn's, uvloop's,
        websockets', engineio's), and Python's own full collections wait for a quarter of the long-lived objects
        (the journal's) to be new: meanwhile the garbage, and the server's memory, grow by megabytes a minute."""
        gc.collect()
        self._schedule_collection()

    async def stop(self) -> None:
        if self._collector is not None:
            self._collector.cancel()
        for hook in self.runtime.on_stop:
            hook()
        for lst in self.listeners.values():
            lst.server.should_exit = True
        await asyncio.gather(*(lst.task for lst in self.listeners.values() if lst.task is not None), return_exceptions=True)
        if self.driver is not None:
            await self.driver.stop()
        if self._journal_writer is not None:
            self._journal_writer.close()  # everything recorded, to the last entry
        self.runtime.journal.close()

    async def serve_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def drop_connections(self, *, timeout: float = 5.0) -> int:
        """Reset every client connection to the APIs and wait until their handlers have ended; returns how many.

        A session of tests shares one server: what a test left connected must not reach into the next.
        """
        listeners = [lst for name, lst in self.listeners.items() if name != "control"]
        dropped = 0
        for listener in listeners:
            for protocol in list(listener.server.server_state.connections):
                transport = getattr(protocol, "transport", None)
                if transport is not None and not transport.is_closing():
                    abort(transport)
                    dropped += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(lst.server.server_state.connections or lst.server.server_state.tasks for lst in listeners):
            if loop.time() > deadline:
                raise MockServerError(f"client connections did not end within {timeout:g} s of being reset")
            await asyncio.sleep(0.005)
        return dropped

    def open_connections(self) -> int:
        """Client connections to the APIs open now (the control API's not counted)."""
        return sum(len(lst.server.server_state.connections) for name, lst in self.listeners.items() if name != "control")

    # -- refuse faults ---------------------------------------------------------------
    def _on_fault(self, spec: FaultSpec, started: bool) -> None:
        names = list(APIS) if spec.api == "*" else [spec.api]
        for name in names:
            if spec.kind == "refuse":
                if spec.how == "unlisten":
                    task = asyncio.get_running_loop().create_task(self._set_refusing(name, started))
                    self._pending.add(task)
                    task.add_done_callback(self._pending.discard)
            elif name in self.edges:
                self.edges[name].ws.on_fault(spec, started)

    async def _set_refusing(self, name: str, refuse: bool) -> None:
        listener = self.listeners.get(name)
        if listener is None or listener.refusing == refuse:
            return
        listener.refusing = refuse
        server = listener.server
        if refuse:
            for srv in server.servers:
                srv.close()
            return
        config = server.config
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=server.server_state, app_state=server.lifespan.state, _loop=loop
            )

        srv = await loop.create_server(protocol, sock=_bind(listener.host, listener.port), backlog=config.backlog)
        server.servers.append(srv)

    # -- views -------------------------------------------------------------------------
    def port(self, name: str) -> int:
        return self.listeners[name].port

    def base_url(self, name: str) -> str:
        listener = self.listeners[name]
        host = f"[{listener.host}]" if ":" in listener.host else listener.host
        return f"http://{host}:{listener.port}"

    def urls(self) -> dict[str, str]:
        return {name: self.base_url(name) for name in self.listeners}


def _clock_note(clock: Mapping[str, Any], began: float, deadline: float, armed: bool) -> str:
    """Why a wait with a virtual deadline ended on its real timeout: where the clock got to."""
    done = f"the clock moved {clock['epoch'] - began:g} s of the {deadline - began:g} s window"
    if clock["speed"] == 0 and not armed:
        return f"{done}: a manual clock moves by itself only once a client has connected to an API, and none has"
    return f"{done} before the real timeout (raise timeout=, or advance the clock in smaller windows)"


_PLAIN = re.compile(r"^[A-Za-z0-9_@%+=:,./-]*$")


def _env_value(value: str) -> str:
    """As is when a shell and dotenv read it alike; else quoted (single quotes, or double with escapes)."""
    if _PLAIN.match(value):
        return value
    if "'" not in value:
        return f"'{value}'"
    return '"' + re.sub(r'([\\"$`])', r"\\\1", value) + '"'


def env_lines(server: MockServer) -> list[str]:
    """The client environment as ``KEY=VALUE`` lines a shell can source and dotenv can read."""
    return [f"{key}={_env_value(value)}" for key, value in server.control.env().items()]


class ThreadedMockServer:
    """A :class:`MockServer` on its own event loop in a daemon thread, steered from any thread.

    The façade's methods (``advance``, ``emit``, ``start_fault``, ``journal``, ``url``, ``env``, ...) run
    on the server's loop; an exception inside the server is raised again in the calling thread at
    the next call and at ``stop()``. ``call(fn)`` runs any ``fn()`` on the loop.

    ``speed``: virtual seconds per real second (0: manual; None: the scenario's), or ``"auto"``: a
    manual clock that jumps to its next timer once a client has connected and nothing has moved
    for ``auto_threshold`` real seconds. ``stall_timeout``: real seconds after which a request
    waiting on a manual clock nobody advances is reported (a ServerError at the next call) and
    released, instead of waiting forever (None: it waits).
    """

    def __init__(
        self,
        scenario: ScenarioRef = "demo",
        *,
        speed: float | Literal["auto"] | None = None,
        auto_threshold: float = AUTO_THRESHOLD,
        stall_timeout: float | None = None,
        start: float | None = None,
        profiles: Mapping[str, str] | None = None,
        journal_limit: int = 50_000,
        wait_for_client: bool | None = None,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        control_port: int = 0,
        control_host: str = "127.0.0.1",
        control_token: str | None = None,
        log_level: str = "warning",
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
        limits: Limits | None = None,
        journal_file: str | os.PathLike[str] | None = None,
        scenario_dirs: Sequence[str | os.PathLike[str]] = (),
        allow_unauthenticated_remote_control: bool = False,
    ) -> None:
        model = scenario if isinstance(scenario, Scenario) else resolve_scenario(os.fspath(scenario))
        self._auto_threshold = check_auto_threshold(auto_threshold)
        self.runtime = Runtime(
            model,
            real_time=time.monotonic,
            wall_time=time.time,
            speed=0.0 if speed == "auto" else speed,
            auto_advance=auto_threshold if speed == "auto" else None,
            start=start,
            profiles=profiles,
            journal_limit=journal_limit,
            wait_for_client=wait_for_client,
        )
        self.server = MockServer(
            self.runtime,
            host=host,
            ports={**dict.fromkeys(APIS, 0), **(ports or {})},
            control_port=control_port,
            control_host=control_host,
            control_token=control_token,
            log_level=log_level,
            stall_timeout=stall_timeout,
            limits=limits,
            journal_file=journal_file,
            scenario_dirs=scenario_dirs,
            allow_unauthenticated_remote_control=allow_unauthenticated_remote_control,
        )
        self.control = self.server.control
        self._loop = loop_factory()  # asyncio's by default; uvloop.new_event_loop as mockserver serve runs
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="agentfeed-mock", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped = False

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            try:
                await self.server.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                raise
            self._ready.set()
            await self._stop.wait()
            await self.server.stop()

        with contextlib.suppress(BaseException):
            self._loop.run_until_complete(main())
        with contextlib.suppress(BaseException):  # as asyncio.run does: end what libraries left running (Engine.IO pingers)
            leftovers = asyncio.all_tasks(self._loop)
            for task in leftovers:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        self._loop.close()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> ThreadedMockServer:
        self._thread.start()
        if not self._ready.wait(30):
            raise MockServerError("the mock server did not start within 30 seconds")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop serving; raises what went wrong inside the server since the last call, or if it could not stop."""
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(15)
            if self._thread.is_alive():
                raise MockServerError("the mock server did not stop within 15 seconds (a handler that never returns?)")
        self._stopped = not self._thread.is_alive() and self._thread.ident is not None
        self.control.check()

    def __enter__(self) -> ThreadedMockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- running code on the server's loop ------------------------------------------------------
    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the server's loop; then raise what went wrong inside the server meanwhile. Once the server
        has stopped nothing races it any more: ``fn()`` runs here (reading the journal after a test, say)."""
        if self._stopped:
            return fn()

        async def run() -> T:
            return fn()

        return self.run(run())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if not self._thread.is_alive():
            coro.close()
            raise MockServerError("the mock server is not running (start it, or use it as a context manager)")
        result = asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)
        self.control.check()
        return result

    def check(self) -> None:
        """Raise :class:`~mockserver.core.errors.ServerError` for an exception inside the server since the last call."""
        self.call(lambda: None)

    # -- the façade, from any thread ------------------------------------------------------------
    def load(self, scenario: ScenarioRef) -> dict[str, Any]:
        return self.call(lambda: self.control.load(scenario))

    def reset(self) -> dict[str, Any]:
        return self.call(self.control.reset)

    def advance(self, duration: Duration) -> int:
        """Move the virtual clock forward (``60``, ``"5m"``, a timedelta), running the timers on the way."""
        return self.call(lambda: self.control.advance(duration))

    def advance_to(self, instant: Instant) -> int:
        return self.call(lambda: self.control.advance_to(instant))

    def set_speed(self, speed: float | Literal["auto"]) -> None:
        """Virtual seconds per real second (0: manual), or ``"auto"``: manual, moving by itself when nothing else does."""
        if speed == "auto":
            self.call(lambda: self.control.set_auto_advance(self._auto_threshold))
        else:
            self.call(lambda: self.control.set_speed(speed))

    def set_auto_advance(self, threshold: float | None) -> None:
        """A manual clock that jumps to its next timer after ``threshold`` real seconds of quiet (None: off)."""
        self.call(lambda: self.control.set_auto_advance(threshold))

    def now(self) -> float:
        return self.call(self.control.now)

    def clock(self) -> dict[str, Any]:
        return self.call(self.control.clock)

    def emit(self, api: str, event: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.call(lambda: self.control.emit(api, event, data))

    def patch_state(self, api: str, changes: Mapping[str, Any]) -> None:
        """Set fields of an API's state, as a scenario's ``state`` step does."""
        self.call(lambda: self.control.patch_state(api, changes))

    def start_fault(self, spec: Mapping[str, Any] | None = None, **fields: Any) -> FaultSpec:
        """Start a fault: a spec mapping, or its fields as keywords (``kind="error", api="luckylobster", status=503``)."""
        return self.call(lambda: self.control.start_fault({**(spec or {}), **fields}))

    def stop_fault(self, fault_id: str) -> None:
        self.call(lambda: self.control.stop_fault(fault_id))

    def faults(self) -> list[dict[str, Any]]:
        return self.call(self.control.faults)

    def credentials(self) -> dict[str, list[dict[str, Any]]]:
        """Each API's credentials with their names (a principal is ``key:<name>``, ``agent:<id>``, ``user:<email>``)."""
        return self.call(self.control.credentials)

    def journal(self, query: JournalQuery | None = None, *, limit: int | None = None, **filters: Any) -> list[Entry]:
        """The journal's entries matching a query or filters (``kind="http.", api="luckylobster", status=200``)."""
        return self.call(lambda: self.control.journal(query, limit=limit, **filters))

    def export(self, path: str | os.PathLike[str], query: JournalQuery | None = None) -> int:
        return self.call(lambda: self.control.export(path, query))

    def wait_for(
        self,
        query: JournalQuery | None = None,
        *,
        count: int = 1,
        timeout: float | None = None,
        within: Duration | None = None,
        **filters: Any,
    ) -> list[Entry]:
        """Block until ``count`` entries match; return the matches.

        ``timeout``: real seconds (default 10). ``within``: a virtual deadline (``"5m"``, seconds, a timedelta) from
        now: a manual clock is moved toward it timer by timer whenever nothing else moves (as ``speed="auto"``
        does, once a client has connected), a running clock is waited for. An exception inside the server ends
        the wait at once (raised as :class:`~mockserver.core.errors.ServerError`). Raises
        :class:`~mockserver.core.errors.JournalWaitTimeout` listing the closest entries when they do not come.
        """
        selected = self.call(lambda: self.control.select(query, **filters))
        seconds = None if within is None else duration_seconds(within)
        arrived = threading.Event()
        found: list[Entry] = []

        driver = self.server.driver

        def done(entries: list[Entry]) -> None:  # on the server's loop, as the entry is recorded
            found[:] = entries
            ended()

        def ended(_entries: list[Entry] | None = None) -> None:
            if seconds is not None and driver is not None:
                driver.drive(None)  # at once: the clock must not move on while this thread wakes up
            arrived.set()

        def start() -> tuple[Callable[[], None], float]:
            since = self.runtime.journal.last_seq
            stops = [
                self.control.watch(JournalQuery(kind=("server.error",), since_seq=since), 1, ended),
                self.control.watch(selected, count, done),
            ]
            now = self.runtime.clock.now()
            if seconds is not None and driver is not None and not arrived.is_set():
                driver.drive(now + seconds)

            def stop() -> None:
                for each in stops:
                    each()

            return stop, now

        stop, began = self.call(start)
        deadline = None if seconds is None else began + seconds
        if timeout is None:  # a running clock's deadline comes in its own real time
            speed = self.runtime.clock.speed
            timeout = max(10.0, seconds / speed + 5.0) if seconds is not None and speed > 0 else 10.0
        settled = False
        try:
            limit = time.monotonic() + timeout
            while not arrived.is_set() and not settled:
                left = limit - time.monotonic()
                if left <= 0:
                    break
                arrived.wait(left if deadline is None else min(left, 0.02))
                if deadline is not None and not arrived.is_set():
                    settled = self.call(lambda: driver is not None and driver.settled(deadline))
        finally:

            def end() -> None:
                stop()
                if deadline is not None and driver is not None:
                    driver.drive(None)

            self.call(end)  # raises a ServerError that ended the wait
        if found:
            return found
        entries, clock, armed = self.call(lambda: (list(self.control.entries()), self.control.clock(), bool(driver and driver.armed)))
        matched = sum(1 for e in entries if selected.matches(e))
        what = f"{count} entr{'y' if count == 1 else 'ies'} matching"
        if settled:
            wanted = f"waited {seconds:g} s of virtual time (to {format_instant(deadline or 0, precision='ms')}) for {what}"
        else:
            wanted = f"waited {timeout:g} s (real) for {what}"
        message = explain_miss(selected, entries, wanted=wanted, found=matched)
        if deadline is not None and not settled:
            message += "\n" + _clock_note(clock, began, deadline, armed)
        raise JournalWaitTimeout(message)

    def url(self, name: str) -> str:
        """The base URL of an API (``http://127.0.0.1:<port>``) or of ``control``."""
        return self.control.url(name)

    def urls(self) -> dict[str, str]:
        return self.control.urls()

    def port(self, name: str) -> int:
        """The port an API (or ``control``) listens on."""
        self.control.url(name)  # an unknown name: the error that lists the known ones
        return self.server.port(name)

    @property
    def env(self) -> dict[str, str]:
        """The client-under-test environment (base URLs, credentials, the clock), to hand a subprocess."""
        return self.call(self.control.env)
