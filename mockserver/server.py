"""One event loop, one uvicorn listener per API plus the control listener (DECISIONS D2).

``MockServer`` composes each API's Starlette app behind the journaling/fault edge,
binds the sockets (port 0 = ephemeral), drives the clock, and can stop listening
on an API's port for a ``refuse`` fault. ``MockServer.in_thread()`` runs it all
in a background thread for tests and in-process use.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request as WsRequest

from .adapters.driver import ClockDriver
from .adapters.edge import TRANSPORT_KEY, ApiEdge
from .apis.registry import APIS, CONTROL_PORT
from .control.app import build_control_app
from .core.errors import MockServerError
from .faults.model import FaultSpec
from .runtime import Runtime
from .scenario.model import Scenario

__all__ = ["MockServer", "ThreadedMockServer", "env_lines"]

T = TypeVar("T")


class _AgentfeedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, exposing the transport to the edge (resets, truncation)."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {TRANSPORT_KEY: self.transport}  # type: ignore[dict-item]

    def send_400_response(self, msg: str) -> None:
        """Bytes that are not HTTP never reach the app: journal them here (D7)."""
        if isinstance(self.app, ApiEdge):
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "local"
            self.app.runtime.journal.record(self.app.api, "http.invalid", {"status": 400, "error": msg}, conn=client, direction="in")
        super().send_400_response(msg)


class _AgentfeedWsProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, exposing the transport (abrupt resets)."""

    def handle_connect(self, event: WsRequest) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][TRANSPORT_KEY] = self.transport

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            self.handshake_complete = True  # a denial response completes the handshake (uvicorn would log an error)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to us (several run in one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
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
    ) -> None:
        unknown = set(ports or {}) - set(APIS)
        if unknown:
            raise ValueError(f"unknown API in ports: {', '.join(sorted(unknown))}; known: {', '.join(APIS)}")
        self.runtime = runtime
        self.host = host
        self.ports = {name: (ports or {}).get(name, api.default_port) for name, api in APIS.items()}
        self.control_port = control_port
        self.control_host = control_host
        self.control_token = control_token
        self.log_level = log_level
        self.driver: ClockDriver | None = None
        self.listeners: dict[str, _Listener] = {}
        self.edges: dict[str, ApiEdge] = {}
        self._pending: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------
    def _config(self, app: Any) -> uvicorn.Config:
        return uvicorn.Config(
            app,
            http=_AgentfeedProtocol,
            ws=_AgentfeedWsProtocol,
            ws_per_message_deflate=False,  # 7x the CPU per small frame (reference/performance.md)
            ws_ping_interval=None,  # protocol pings would run on wall time (D4); APIs ping on the virtual clock
            ws_max_size=1 << 20,  # 1 MiB: no API here sends or expects bigger frames; bigger ones are closed 1009
            lifespan="off",
            access_log=False,
            log_level=self.log_level,
            date_header=False,
            server_header=False,
            proxy_headers=False,  # a mock is not behind a proxy: keep the client's own address as its connection id
            timeout_graceful_shutdown=2,
        )

    async def start(self) -> None:
        self.driver = ClockDriver(self.runtime)
        self.runtime.on_fault = self._on_fault
        apps: dict[str, tuple[str, int, Any]] = {}
        for name, api in APIS.items():
            module_name, _, func = api.adapter.partition(":")
            build = getattr(importlib.import_module(module_name), func)
            error_body = importlib.import_module(module_name).error_body
            edge = ApiEdge(build(self.runtime), runtime=self.runtime, api=name, driver=self.driver, error_body=error_body)
            self.edges[name] = edge
            apps[name] = (self.host, self.ports[name], edge)
        control = build_control_app(self.runtime, self.driver, urls=self.urls, token=self.control_token)
        apps["control"] = (self.control_host, self.control_port, control)
        sockets: dict[str, socket.socket] = {}
        try:  # bind every port before serving any, so a taken port leaves nothing running
            for name, (host, port, _app) in apps.items():
                sockets[name] = _bind(host, port)
        except OSError as exc:
            for sock in sockets.values():
                sock.close()
            raise MockServerError(f"cannot listen on {host}:{port} for {name}: {exc.strerror or exc}") from None
        for name, (host, _port, app) in apps.items():
            sock = sockets[name]
            listener = _Listener(name, host, sock.getsockname()[1], _Server(self._config(app)))
            listener.task = asyncio.get_running_loop().create_task(listener.server.serve(sockets=[sock]), name=f"listen-{name}")
            self.listeners[name] = listener
        while not all(lst.server.started for lst in self.listeners.values()):
            for lst in self.listeners.values():
                if lst.task is not None and lst.task.done():
                    lst.task.result()  # re-raise a startup failure
            await asyncio.sleep(0.01)
        self.driver.start()
        for active in list(self.runtime.faults.values()):  # refuse faults the scenario started at 0s, before we listened
            if active.spec.kind == "refuse":
                for name in list(APIS) if active.spec.api == "*" else [active.spec.api]:
                    await self._set_refusing(name, True)
        self.runtime.journal.record("mock", "server.started", {"urls": self.urls()})

    async def stop(self) -> None:
        for hook in self.runtime.on_stop:
            hook()
        for lst in self.listeners.values():
            lst.server.should_exit = True
        await asyncio.gather(*(lst.task for lst in self.listeners.values() if lst.task is not None), return_exceptions=True)
        if self.driver is not None:
            await self.driver.stop()
        self.runtime.journal.close()

    async def serve_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    # -- refuse faults ---------------------------------------------------------------
    def _on_fault(self, spec: FaultSpec, started: bool) -> None:
        names = list(APIS) if spec.api == "*" else [spec.api]
        for name in names:
            if spec.kind == "refuse":
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


def env_lines(server: MockServer) -> list[str]:
    """The client-under-test contract (DECISIONS D6) for the APIs served."""
    urls = server.urls()
    creds = server.runtime.credentials()
    lines = [f"MOCK_CONTROL_URL={urls['control']}"]
    if "aitrader" in urls:
        lines.append(f"AITRADER_BASE_URL={urls['aitrader']}")
        if creds["aitrader"]:  # a fresh server (aitrader/upstream-fresh) has no agent until a client registers one
            agent = creds["aitrader"][0]
            lines += [f"AITRADER_TOKEN={agent['token']}", f"AITRADER_AGENT_ID={agent['agent_id']}"]
    if "tradeready" in urls:
        lines.append("TRADEREADY_WS_URL=" + urls["tradeready"].replace("http://", "ws://", 1))
        lines.append(f"TRADEREADY_API_KEY={creds['tradeready'][0]['key']}")
    if "tradingpartners" in urls:
        user = creds["tradingpartners"][0]
        token = server.runtime.apis["tradingpartners"].token_for(user["email"], server.runtime.clock.now())
        lines += [
            f"TRADINGPARTNERS_BASE_URL={urls['tradingpartners']}",
            f"TRADINGPARTNERS_TOKEN={token}",
            f"TRADINGPARTNERS_EMAIL={user['email']}",
            f"TRADINGPARTNERS_PASSWORD={user['password']}",
        ]
    if "cryptorobot" in urls:
        user = creds["cryptorobot"][0]
        lines += [
            f"CRYPTOROBOT_URL={urls['cryptorobot']}",
            f"CRYPTOROBOT_EMAIL={user['email']}",
            f"CRYPTOROBOT_PASSWORD={user['password']}",
        ]
    if "luckylobster" in urls:
        lines.append(f"LUCKYLOBSTER_BASE_URL={urls['luckylobster']}/api/agent/v1")
        lines.append(f"LUCKYLOBSTER_API_KEY={creds['luckylobster'][0]['key']}")
    return lines


class ThreadedMockServer:
    """A :class:`MockServer` on its own event loop in a daemon thread.

    ``call(fn)`` runs ``fn()`` on the server's loop and returns its result, so a
    test can move the clock or read the journal without racing the server.
    """

    def __init__(self, scenario: Scenario, **options: Any) -> None:
        runtime_keys = {"speed", "start", "profiles", "journal_limit"}
        runtime_options = {k: options.pop(k) for k in list(options) if k in runtime_keys}
        options.setdefault("control_port", 0)
        options.setdefault("ports", dict.fromkeys(APIS, 0))
        self.runtime = Runtime(scenario, real_time=time.monotonic, wall_time=time.time, **runtime_options)
        self.server = MockServer(self.runtime, **options)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="agentfeed-mock", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

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

    def start(self) -> ThreadedMockServer:
        self._thread.start()
        if not self._ready.wait(30):
            raise MockServerError("the mock server did not start within 30 seconds")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(15)

    def __enter__(self) -> ThreadedMockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return self.run(run())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def advance(self, seconds: float) -> int:
        def step() -> int:
            ran = self.runtime.scheduler.advance(seconds)
            if self.server.driver is not None:
                self.server.driver.poke()
            return ran

        return self.call(step)

    def url(self, name: str) -> str:
        return self.server.base_url(name)
