"""Run a differential sequence against one AI-Trader server and record what it answered.

A sequence is a list of steps (plain data, see :mod:`.sequence`):

``{"id": ..., "do": "http", "method", "path", "as"?, "headers"?, "params"?, "json"?, "content"?, "save"?}``
    one request. ``as`` names an agent whose saved token goes in ``Authorization: Bearer``;
    ``save`` maps a variable to ``"namespace:dotted.path"`` in the answer (``"agent:agent_id"``).
``{"id": ..., "do": "ws_open" | "ws_frames" | "ws_close", "socket": name, "client"?: path segment}``
    the notify WebSocket: open one (and see whether the server keeps it), take the frames it
    received since the last look, close it.
``{"id": ..., "do": "wait", "seconds": n}``
    let time pass.

Time: a recording notes when each step's answer arrived (``at``, seconds after the run began,
and the fraction of a second the run began at). The server's clock decides more than
cooldowns: SQLite stamps rows to the second and sorts rows stamped in the same second oldest
first, so *which* steps shared a second shows in the order of a heartbeat's messages. A replay
against a mock on a manual clock therefore moves the mock's clock to each step's recorded
instant (``timeline``) instead of sleeping, and the mock sees the same seconds, the same ties
and the same elapsed cooldowns as the reference server did. (A server stamps a row while it
answers, a few milliseconds before the answer arrives: a step whose request and answer fall in
different seconds is reported when recording, as its rows may be in either.)

Strings may hold ``${var}`` (the saved value; alone in the string it keeps its JSON type,
``${var!s}`` makes it a string). Each answer is recorded as status, content type, the headers
the application adds, the normalised body and its shape (:mod:`.normalize`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .normalize import Symbols, normalize, shape

__all__ = ["COMPARED_HEADERS", "Runner", "run_sequence"]

#: the headers an application (not the HTTP server) decides: compared by value or, for X-Process-Time, by kind
COMPARED_HEADERS = (
    "content-type",
    "allow",
    "vary",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "x-process-time",
)
_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.-]+)(!s)?\}")


class Runner:
    """Runs steps against ``base_url``; ``wait(seconds)`` lets time pass (sleep, or advance a mock's clock)."""

    def __init__(
        self,
        base_url: str,
        *,
        wait: Callable[[float], None] = time.sleep,
        timeline: Callable[[float], None] | None = None,
        quiet: float = 0.4,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.wait = wait
        self.timeline = timeline  # replay: move the server's clock to an instant (seconds since the recording's whole second)
        self.quiet = quiet
        self.variables: dict[str, Any] = {}
        self.symbols = Symbols()
        self.sockets: dict[str, ClientConnection] = {}
        self.stack = ExitStack()
        self.http = self.stack.enter_context(httpx.Client(timeout=15))

    def close(self) -> None:
        self.stack.close()

    # -- templating -------------------------------------------------------------------
    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = _VARIABLE.fullmatch(value)
            if whole:
                found = self._variable(whole.group(1))
                return str(found) if whole.group(2) else found
            return _VARIABLE.sub(lambda m: str(self._variable(m.group(1))), value)
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    def _variable(self, name: str) -> Any:
        if name not in self.variables:
            raise KeyError(f"the sequence uses ${{{name}}} before any step saved it")
        return self.variables[name]

    # -- steps ------------------------------------------------------------------------------
    def run(self, step: Mapping[str, Any], *, frames: int | None = None) -> dict[str, Any]:
        """One step's answer; ``frames``: how many frames a ``ws_frames`` step should see (a replay waits for them)."""
        kind = step["do"]
        if kind == "http":
            return self._http(step)
        if kind == "wait":
            if self.timeline is None:
                self.wait(float(step["seconds"]))
            return {}
        if kind == "ws_open":
            return self._ws_open(step["socket"], str(self.fill(step["client"])), frames)
        if kind == "ws_frames":
            return self._ws_frames(step["socket"], frames)
        if kind == "ws_close":
            self.sockets.pop(step["socket"]).close()
            return {}
        raise ValueError(f"step {step['id']}: unknown action {kind!r}")

    def _http(self, step: Mapping[str, Any]) -> dict[str, Any]:
        headers = {name: str(value) for name, value in self.fill(step.get("headers") or {}).items() if value is not None}
        if step.get("as"):
            headers["Authorization"] = f"Bearer {self._variable(step['as'] + '.token')}"
        request: dict[str, Any] = {"headers": headers, "params": self.fill(step.get("params"))}
        if "json" in step:
            request["json"] = self.fill(step["json"])
        elif "content" in step:
            request["content"] = self.fill(step["content"]).encode()
        response = self.http.request(step["method"], self.base_url + self.fill(step["path"]), **request)
        content_type = response.headers.get("content-type")
        body: Any
        if content_type and content_type.startswith("application/json") and response.content:
            body = response.json()
        else:
            body = response.text[:300]
        for variable, spec in (step.get("save") or {}).items():
            namespace, _, path = spec.partition(":")
            value = _dig(body, path)
            self.variables[variable] = value
            if namespace != "token" and value is not None:
                self.symbols.bind(namespace, value, variable)
        normalized = normalize(body, self.symbols)
        return {
            "status": response.status_code,
            "headers": {name: _header(name, response.headers) for name in COMPARED_HEADERS},
            "body": normalized,
            "shape": shape(normalized),
        }

    def _ws_open(self, name: str, client: str, frames: int | None) -> dict[str, Any]:
        url = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws/notify/" + client
        socket = self.stack.enter_context(connect(url, open_timeout=10, ping_interval=None, max_size=None))
        self.sockets[name] = socket
        time.sleep(0.15)  # real time for the server to register the socket (it does so right after the handshake)
        return self._ws_frames(name, frames)

    def _ws_frames(self, name: str, expect: int | None) -> dict[str, Any]:
        """The frames that arrive until none comes for ``quiet`` seconds (a replay first waits for the ``expect`` recorded)."""
        socket = self.sockets[name]
        frames: list[Any] = []
        try:
            while True:
                waiting = 10.0 if expect is not None and len(frames) < expect else self.quiet
                text = socket.recv(timeout=waiting)
                frames.append(normalize(json.loads(text), self.symbols))
        except TimeoutError:
            return {"frames": frames, "closed": None}
        except ConnectionClosed as closed:
            return {"frames": frames, "closed": closed.rcvd.code if closed.rcvd else 1006}


def _dig(body: Any, path: str) -> Any:
    """The value at a dotted path, or None when the answer has none there (the comparison shows why)."""
    value = body
    for part in path.split(".") if path else []:
        try:
            value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return value


def _header(name: str, headers: httpx.Headers) -> Any:
    value = headers.get(name)
    if value is None:
        return None
    if name == "x-process-time":
        try:
            float(value)
        except ValueError:
            return value
        return "<seconds>"
    if name == "allow":
        return ", ".join(sorted(part.strip() for part in value.split(",")))
    return value


def _frame_count(recorded: list[dict[str, Any]] | None, index: int) -> int | None:
    frames = recorded[index].get("frames") if recorded else None
    return len(frames) if isinstance(frames, list) else None


@contextmanager
def _runner(base_url: str, wait: Callable[[float], None], timeline: Callable[[float], None] | None, quiet: float) -> Iterator[Runner]:
    runner = Runner(base_url, wait=wait, timeline=timeline, quiet=quiet)
    try:
        yield runner
    finally:
        runner.close()


def run_sequence(
    base_url: str,
    steps: list[dict[str, Any]],
    *,
    wait: Callable[[float], None] = time.sleep,
    replay: tuple[float, list[float], Callable[[float], None]] | None = None,
    recorded: list[dict[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
    straddled: list[str] | None = None,
) -> tuple[float, list[float], list[dict[str, Any]]]:
    """Run the steps: (the run's fraction of a second, when each step's answer came after the start, each answer).

    ``recorded``: the reference answers; a socket step then waits for as many frames as they had
    (so a replay need not idle long to be sure no frame is late). ``straddled`` collects the
    steps whose request and answer fell in different seconds.

    ``replay=(fraction, starts, move_clock)``: before each step, ``move_clock(fraction + start)``
    sets the server's clock to the recorded instant (relative to the whole second the recording began in).
    """
    answers: list[dict[str, Any]] = []
    starts: list[float] = []
    fraction = time.time() % 1.0
    origin = time.monotonic()
    with _runner(base_url, wait, replay[2] if replay else None, 0.1 if recorded else 0.4) as runner:
        if replay:
            fraction = replay[0]
        for index, step in enumerate(steps):
            if progress:
                progress(step["id"])
            if replay:
                replay[2](replay[0] + replay[1][index])
                starts.append(replay[1][index])
                answers.append(runner.run(step, frames=_frame_count(recorded, index)))
                continue
            began = time.monotonic() - origin
            answers.append(runner.run(step))
            ended = time.monotonic() - origin if step["do"] == "http" else began
            starts.append(round(ended, 6))
            if straddled is not None and int(fraction + began) != int(fraction + ended):
                straddled.append(step["id"])
    return round(fraction, 6), starts, answers
