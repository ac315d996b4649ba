"""A Feathers-over-Socket.IO client for the tests, on python-socketio's AsyncClient.

``call`` emits the method name as the event with ``path, *args`` and returns the ack the way
``@feathersjs/socketio-client`` reads it: ``[null, result]`` -> result, ``[error]`` -> raises
``FeathersCallError`` carrying the error JSON.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import aiohttp
import socketio

__all__ = ["FeathersCallError", "FeathersSocket"]


class FeathersCallError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('name')}: {error.get('message')}")
        self.error = error


class FeathersSocket:
    """Create inside a running event loop; ``close_all()`` ends every one (and its HTTP session) at the end of a test."""

    created: ClassVar[list[FeathersSocket]] = []

    def __init__(self, url: str, *, transports: list[str] | None = None, headers: dict[str, str] | None = None, **options: Any) -> None:
        self.url = url
        self.transports = transports or ["websocket"]
        self.headers = headers or {}
        self.http = aiohttp.ClientSession()  # ours, so that it is closed for certain (no ResourceWarning at some later GC)
        self.sio = socketio.AsyncClient(http_session=self.http, **options)
        FeathersSocket.created.append(self)
        self.events: list[tuple[str, Any]] = []
        self.sio.on("*", self._any)

    async def _any(self, event: str, *args: Any) -> None:
        self.events.append((event, args[0] if len(args) == 1 else list(args)))

    async def connect(self) -> FeathersSocket:
        await self.sio.connect(self.url, transports=self.transports, headers=self.headers, wait_timeout=10)
        return self

    async def call(self, method: str, *args: Any, timeout: float = 10) -> Any:
        ack = await self.sio.call(method, tuple(args), timeout=timeout)
        if isinstance(ack, tuple) and len(ack) == 2 and ack[0] is None:
            return ack[1]
        if isinstance(ack, dict):
            raise FeathersCallError(ack)
        raise AssertionError(f"not a Feathers ack: {ack!r}")

    async def login(self, email: str, password: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "create", "authentication", {"strategy": "local", "email": email, "password": password}, {}
        )
        return result

    def named(self, event: str) -> list[Any]:
        return [payload for name, payload in self.events if name == event]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()
        await self.http.close()

    @classmethod
    async def close_all(cls) -> None:
        while cls.created:
            await cls.created.pop().close()
