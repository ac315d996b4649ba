"""Check everything that crossed a mock's wire against the API documents (a test helper, not a test module).

``check_traffic(mock, "cryptorobot")`` reads the journal (in one place: the journal's shape is
being reworked) and checks, against the documents of the API's active profile:

- the server's side: every HTTP response against the OpenAPI operation of its request, every
  WebSocket frame, SSE event, Socket.IO event, ack (against the replies of the call it answers)
  and CONNECT_ERROR against the AsyncAPI document;
- the clients' side, apart: every request and every client frame or method call (tests send
  wrong ones on purpose, so a test module says whether its clients must be clean).

``checked_make_mock(*apis)`` is a ``make_mock`` fixture for a test module: every mock the module
starts has its traffic checked when the test ends.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from mockserver import ThreadedMockServer
from mockserver.control.openapi import NoDocument, api_asyncapi, api_openapi
from mockserver.core.journal import Entry
from mockserver.documents import (
    Finding,
    Mismatch,
    check_frame,
    check_reply,
    check_request,
    check_response,
    match_frame,
    sio_payload,
    sse_payloads,
)
from tests.conftest import MockFactory

__all__ = ["Traffic", "check_traffic", "checked_make_mock", "journal_of"]

#: outcomes of faults that break the body on purpose: nothing to check
_BROKEN = {"reset", "empty", "truncated", "malformed"}


@dataclass
class Traffic:
    checked: Counter[str] = field(default_factory=Counter)  #: what was checked, by kind (``response``, ``sse``, ``ack`` ...)
    server: list[str] = field(default_factory=list)  #: what the mock sent that its documents do not allow
    client: list[str] = field(default_factory=list)  #: what clients sent that the documents do not allow


def journal_of(mock: ThreadedMockServer) -> list[Entry]:
    """Every journal entry (through the server's loop while it runs, directly once it stopped)."""
    return mock.journal()


def _document(load: Callable[[str, str], dict[str, Any]], api: str, profile: str) -> dict[str, Any] | None:
    try:
        return load(api, profile)
    except NoDocument:
        return None


def _note(found: list[Finding], entry: Entry, what: str) -> list[str]:
    return [f"#{entry.seq} {what}: {f}" for f in found]


def _decode_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _http(openapi: dict[str, Any], entries: list[Entry], out: Traffic) -> None:
    pending: dict[int, tuple[Entry, bool]] = {}  # request seq -> (request, routed)
    for entry in entries:
        data = entry.data
        if entry.kind == "http.request":
            label = f"{data['method']} {data['path']}"
            body = str(data.get("body") or "").encode()
            found = check_request(
                openapi, data["method"], data["path"], query=data.get("query", ""), headers=data.get("headers"), body=body
            )
            out.client += _note(found, entry, label)
            out.checked["request"] += 1
            if not data.get("incomplete"):
                # a path the document does not have, or path parameters their schema refuses (`/signals/abc/replies`), reach
                # no operation: the server routes them elsewhere, and the request's finding says so
                routed = not any(f.where == "request" or f.where.startswith("path ") for f in found)
                pending[entry.seq] = (entry, routed)
        elif entry.kind == "http.response" and data["request"] in pending:
            request_entry, routed = pending.pop(data["request"])  # a response names the request it answers
            request = request_entry.data
            if not routed or data.get("outcome") in _BROKEN or data.get("status") is None:
                continue
            headers: Mapping[str, str] = data.get("headers") or {}
            # raw bytes: decoded as the Content-Type says
            raw = None if data["outcome"] == "stream" else str(data.get("body") or "").encode()
            found = check_response(openapi, request["method"], request["path"], int(data["status"]), raw, headers)
            out.server += _note(found, entry, f"{request['method']} {request['path']} -> {data['status']}")
            out.checked["response"] += 1


def _websocket(asyncapi: dict[str, Any], entries: list[Entry], out: Traffic, prefix: str) -> None:
    for entry in entries:
        data = entry.data
        if entry.kind not in ("ws.frame", "ws.broadcast") or not str(data.get("path", "")).startswith(prefix) or data.get("truncated"):
            continue
        payload = _decode_json(data["text"]) if "text" in data else {"binary": data.get("bytes")}
        if entry.direction == "out":
            out.server += _note(check_frame(asyncapi, "send", payload), entry, "server frame")
            out.checked["server frame"] += 1
        else:
            out.client += _note(check_frame(asyncapi, "receive", payload), entry, "client frame")
            out.checked["client frame"] += 1


def _sse(asyncapi: dict[str, Any], entries: list[Entry], out: Traffic) -> None:
    streams: dict[str | None, list[tuple[Entry, str]]] = defaultdict(list)  # by session: one stream each
    for entry in entries:
        if entry.kind == "sse.frame":
            streams[entry.session].append((entry, entry.data["text"]))
    for chunks in streams.values():
        if not chunks:
            continue
        payloads, _partial = sse_payloads("".join(text for _, text in chunks))  # a cut stream ends inside a frame
        for payload in payloads:
            out.server += _note(check_frame(asyncapi, "send", payload), chunks[0][0], f"SSE event on {chunks[0][0].conn}")
            out.checked["sse"] += 1


def _socketio(asyncapi: dict[str, Any], entries: list[Entry], out: Traffic) -> None:
    calls: dict[tuple[Any, Any], str] = {}
    for entry in entries:
        if entry.kind != "sio.packet" or entry.data.get("invalid") or entry.data.get("binary"):
            continue
        mapped = sio_payload(entry.data)
        if mapped is None:
            continue
        kind, payload = mapped
        sid = entry.data.get("eio_sid")
        if entry.direction == "in":
            if kind != "EVENT":
                continue  # a client's ACK: the server asks nothing of clients
            try:
                name = match_frame(asyncapi, "receive", payload)
            except Mismatch as exc:
                out.client += _note(list(exc.findings), entry, "method call")
            else:
                if "id" in entry.data:
                    calls[(sid, entry.data["id"])] = name
            out.checked["call"] += 1
        elif kind == "ACK" and (sid, entry.data.get("id")) in calls:
            request = calls.pop((sid, entry.data.get("id")))
            out.server += _note(check_reply(asyncapi, request, payload), entry, f"ack of {request}")
            out.checked["ack"] += 1
        else:
            out.server += _note(check_frame(asyncapi, "send", payload), entry, kind)
            out.checked[kind.lower()] += 1


def check_traffic(mock: ThreadedMockServer, api: str) -> Traffic:
    """Everything in ``mock``'s journal for ``api``, checked against its documents (see the module's docstring)."""
    journal = journal_of(mock)
    loaded = [e for e in journal if e.kind == "scenario.loaded"]  # the profiles of the scenario (re)started last
    profile = loaded[-1].data["profiles"].get(api, "documented")
    entries = [e for e in journal if e.api == api]
    out = Traffic()
    openapi = _document(api_openapi, api, profile)
    asyncapi = _document(api_asyncapi, api, profile)
    if openapi is not None:
        _http(openapi, entries, out)
    if asyncapi is not None:
        if api == "aitrader":
            _websocket(asyncapi, entries, out, "/ws/notify/")
        elif api == "tradingpartners":
            _sse(asyncapi, entries, out)
        elif api == "cryptorobot":
            _socketio(asyncapi, entries, out)
        elif api == "tradeready":
            _websocket(asyncapi, entries, out, "/ws/v1")
    return out


def checked_make_mock(*apis: str, clients: bool = False) -> Any:
    """A ``make_mock`` fixture for a test module: each mock's traffic for ``apis`` is checked when the test ends
    (the server's side always; the clients' too with ``clients=True``)."""

    @pytest.fixture
    def make_mock(make_mock: MockFactory) -> Iterator[MockFactory]:
        made: list[ThreadedMockServer] = []

        def factory(*args: Any, **kwargs: Any) -> ThreadedMockServer:
            mock = make_mock(*args, **kwargs)
            made.append(mock)
            return mock

        yield factory
        problems: list[str] = []
        for mock in made:
            for api in apis:
                traffic = check_traffic(mock, api)
                problems += traffic.server + (traffic.client if clients else [])
        assert not problems, f"{len(problems)} findings against the API documents:\n" + "\n".join(problems[:20])

    return make_mock
