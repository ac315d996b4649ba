"""The WebSocket edge journals who ended a connection, also when the app closes after the client already did.

Here the server below the edge is a stand-in for uvicorn's sans-I/O protocol in the one state a real
socket reaches only by a race (tests/test_cryptorobot.py has the race on a real socket, and the
mutant matrix met it at random): the client's close frame has been answered by the protocol layer,
whose transport is closing while it still flushes, and the frames before the close wait unread.
Then uvicorn refuses the app's frames (``ClientDisconnected``) and ignores its close. And a socket
still open when the server stops is the server's to have closed (uvicorn tells the app as if the
client had).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from uvicorn.protocols.utils import ClientDisconnected

from mockserver.adapters.wsedge import TRANSPORT_KEY, WebSocketEdge
from mockserver.runtime import Runtime
from mockserver.scenario.loader import load_builtin, scenario_from_yaml
from mockserver.server import ThreadedMockServer

Message = dict[str, Any]


class _ClosingTransport:
    """A transport uvicorn has closed (after answering the client's close frame) but not yet lost."""

    def is_closing(self) -> bool:
        return True

    def get_extra_info(self, name: str) -> Any:
        return None


class _ClosedServer:
    """What the app meets below the edge: the client's frames, then its close, queued; sends refused, a close ignored."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        for text in ("a", "b"):
            self.queue.put_nowait({"type": "websocket.receive", "text": text})
        self.queue.put_nowait({"type": "websocket.disconnect", "code": 1001, "reason": "going away"})
        self.ignored: list[Message] = []

    async def receive(self) -> Message:
        return await self.queue.get()

    async def send(self, message: Message) -> None:
        if message["type"] == "websocket.send":
            raise ClientDisconnected()
        self.ignored.append(message)


@pytest.mark.parametrize("reads_on", [True, False], ids=["the app reads on", "the app returns"])
def test_an_app_that_closes_after_the_client_did_does_not_end_the_connection(reads_on: bool) -> None:
    runtime = Runtime(scenario_from_yaml("id: t/wsedge\ndescription: edge\nclock: {start: '2026-03-09T12:00:00Z'}\n"))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept"})
        await receive()  # "a"
        try:
            await send({"type": "websocket.send", "text": "answer"})
        except ClientDisconnected:
            await send({"type": "websocket.close", "code": 1000})
        await send({"type": "websocket.send", "text": "late"})  # after its close: dropped by the edge, as ever
        while reads_on and (await receive())["type"] != "websocket.disconnect":
            pass

    async def main() -> _ClosedServer:
        server = _ClosedServer()
        scope = {
            "type": "websocket",
            "path": "/ws/v1",
            "headers": [],
            "query_string": b"",
            "extensions": {TRANSPORT_KEY: _ClosingTransport()},
        }
        await WebSocketEdge(app, runtime=runtime, api="tradeready")(scope, server.receive, server.send, "127.0.0.1:1")
        return server

    server = asyncio.run(main())
    assert server.ignored[-1] == {"type": "websocket.close", "code": 1000}
    entries = [e for e in runtime.journal if e.api == "tradeready"]
    # "b": read by the app, or after it returned; nothing went out
    assert [(e.data.get("text"), e.direction) for e in entries if e.kind == "ws.frame"] == [("a", "in"), ("b", "in")]
    (end,) = [e for e in entries if e.kind == "ws.close"]
    assert (end.data["by"], end.data["code"], end.data["reason"], end.direction) == ("client", 1001, "going away", "in")


def test_a_socket_open_when_the_server_stops_was_closed_by_the_server() -> None:
    scenario = load_builtin("tradeready/ticker-stream")
    (key,) = scenario.apis["tradeready"].state["keys"]

    async def main(mock: ThreadedMockServer) -> int | None:
        url = mock.url("tradeready").replace("http://", "ws://") + f"/ws/v1?api_key={key['key']}"
        async with websockets.connect(url) as ws:
            await asyncio.to_thread(mock.wait_for, kind="ws.accept", api="tradeready")
            await asyncio.to_thread(mock.stop)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code if closed.value.rcvd else None

    with ThreadedMockServer(scenario, speed=0) as mock:
        assert asyncio.run(main(mock)) == 1012  # service restart
    (end,) = mock.journal(kind="ws.close", api="tradeready")
    assert (end.data["by"], end.data["code"], end.direction) == ("server", 1012, "out")
