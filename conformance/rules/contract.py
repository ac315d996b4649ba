"""The contract in the client's direction: what a client sends, checked against the API's documents; and client errors.

``<api>.contract.requests-match-openapi``: every HTTP request validates against the API's OpenAPI
document for the run's profile (its operation, parameters, security, body). Engine.IO's polling
requests are Socket.IO's transport, not operations, and are left to the frames rule.
``<api>.contract.frames-match-asyncapi``: every frame or Socket.IO event the client sends is a
message the AsyncAPI document says the server may receive.
``<api>.protocol.no-client-errors``: nothing the client sends is answered as a client error (400,
404, 405, 409, 410, 413, 415, 422, bytes that are not HTTP, TradeReady's error frames, Feathers'
BadRequest/NotFound/MethodNotAllowed). What breaks the documents is the contract rules' business
and is not counted again here; 401, 402, 403 and 429 are the auth and limit rules'.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

from mockserver.control.openapi import api_asyncapi, api_openapi
from mockserver.core.journal import Entry
from mockserver.documents import Finding as DocFinding
from mockserver.documents import check_frame, check_request, sio_payload

from ..evidence import Evidence
from ..model import Finding
from ..registry import NotApplicable, Params, rule
from ._shared import at

__all__ = ["CLIENT_ERRORS", "FRAME_APIS", "OPENAPI_APIS", "frame_mismatches", "request_mismatches"]

#: The APIs with an OpenAPI document of what a client may request.
OPENAPI_APIS = ("aitrader", "luckylobster", "cryptorobot", "tradingpartners")
#: The APIs whose AsyncAPI document lists messages a client may send.
FRAME_APIS = ("aitrader", "tradeready", "cryptorobot")
ALL_APIS = ("aitrader", "luckylobster", "tradeready", "cryptorobot", "tradingpartners")

#: HTTP statuses that say the request itself was wrong (not auth, payment or a limit).
CLIENT_ERRORS = frozenset({400, 404, 405, 409, 410, 413, 415, 422})
#: Feathers error classes with the same meaning.
FEATHERS_CLIENT_ERRORS = frozenset({"BadRequest", "NotFound", "MethodNotAllowed", "Conflict", "Unprocessable", "Gone"})
CITE_OPENAPI = "the API's OpenAPI document (GET /_mock/openapi/<api>.json; from its seed document and server code)"
CITE_ASYNCAPI = "the API's AsyncAPI document (GET /_mock/asyncapi/<api>.json; from its seed document and server code)"
CITE_ERRORS = "RFC 9110 §15.5: 4xx answers mean the client erred; TradeReady's and Feathers' error messages say the same"


@lru_cache(maxsize=16)
def _openapi(api: str, profile: str) -> Mapping[str, Any]:
    return api_openapi(api, profile)


@lru_cache(maxsize=16)
def _asyncapi(api: str, profile: str) -> Mapping[str, Any]:
    return api_asyncapi(api, profile)


def _is_transport(entry: Entry) -> bool:
    """An Engine.IO polling request: Socket.IO's transport, judged as frames."""
    return entry.session is not None and entry.session.startswith("eio-")


def request_mismatches(ev: Evidence, api: str) -> Iterator[tuple[Entry, list[DocFinding]]]:
    """Each HTTP request of ``api`` and how it breaks the OpenAPI document (an empty list: it does not)."""
    document = _openapi(api, ev.profile(api))
    for entry in ev.of(api, "http.request"):
        if _is_transport(entry) or entry.data.get("incomplete"):
            continue
        data = entry.data
        text = data.get("body")
        body = text.encode("utf-8") if isinstance(text, str) and text else None  # read as its Content-Type says
        found = check_request(
            document,
            str(data["method"]),
            str(data["path"]),
            query=str(data.get("query", "")),
            headers=dict(data.get("headers") or {}),
            body=body,
        )
        yield entry, found


def _client_payloads(ev: Evidence, api: str) -> Iterator[tuple[Entry, Any, str | None]]:
    """(entry, the message payload, why it is no message) of each frame or Socket.IO event the client sent."""
    if api == "cryptorobot":
        for entry in ev.of(api, "sio.packet"):
            if entry.direction != "in":
                continue
            payload = sio_payload(entry.data)
            if payload is not None:
                yield entry, payload[1], None
        return
    for entry in ev.of(api, "ws.frame"):
        if entry.direction != "in":
            continue
        if "text" not in entry.data:
            yield entry, None, "a binary frame (the API speaks JSON text frames)"
            continue
        try:
            yield entry, json.loads(entry.data["text"]), None
        except ValueError:
            yield entry, None, f"not JSON: {str(entry.data['text'])[:80]!r}"


def frame_mismatches(ev: Evidence, api: str) -> Iterator[tuple[Entry, list[str]]]:
    """Each client frame of ``api`` and how it breaks the AsyncAPI document (an empty list: it does not)."""
    if api not in FRAME_APIS:
        return
    document = _asyncapi(api, ev.profile(api))
    for entry, payload, problem in _client_payloads(ev, api):
        if problem is not None:
            yield entry, [problem]
        else:
            yield entry, [str(f) for f in check_frame(document, "receive", payload)]


def _describe(entry: Entry) -> str:
    if entry.kind == "http.request":
        return f"{entry.data.get('method')} {entry.data.get('path')}"
    if entry.kind == "sio.packet":
        return f"Socket.IO event {entry.data.get('event')!r}"
    return f"frame {str(entry.data.get('text', ''))[:60]!r}"


def _mismatch_findings(checked: Iterable[tuple[Entry, Sequence[object]]], verdict: str, nothing: str) -> Iterator[Finding]:
    """A finding for each thing the client sent that its document refuses (the first three reasons); NotApplicable when
    it sent nothing of the kind."""
    judged = False
    for entry, found in checked:
        judged = True
        if found:
            yield Finding(
                f"{_describe(entry)} at {at(entry.vtime)} {verdict}: {'; '.join(str(f) for f in found[:3])}", (entry.seq,), entry.vtime
            )
    if not judged:
        raise NotApplicable(nothing)


def _register_openapi(api: str) -> None:
    @rule(
        f"{api}.contract.requests-match-openapi",
        severity="must",
        api=api,
        summary="Every request it sends validates against the API's OpenAPI document (operation, parameters, security, body).",
        cites=CITE_OPENAPI,
    )
    def requests_match_openapi(ev: Evidence, p: Params) -> Iterator[Finding]:
        return _mismatch_findings(request_mismatches(ev, api), "does not match the document", "the client sent no HTTP request")


def _register_asyncapi(api: str) -> None:
    @rule(
        f"{api}.contract.frames-match-asyncapi",
        severity="must",
        api=api,
        summary="Every frame or Socket.IO event it sends is a message the API's AsyncAPI document says the server receives.",
        cites=CITE_ASYNCAPI,
    )
    def frames_match_asyncapi(ev: Evidence, p: Params) -> Iterator[Finding]:
        return _mismatch_findings(frame_mismatches(ev, api), "is no message of the document", "the client sent no frame")


# -- client errors -------------------------------------------------------------------------------------------------
def _broken(ev: Evidence, api: str) -> set[int]:
    """The seqs of what the client sent that breaks the documents (graded by the contract rules)."""
    broken = set()
    if api in OPENAPI_APIS:
        broken |= {entry.seq for entry, found in request_mismatches(ev, api) if found}
    broken |= {entry.seq for entry, found in frame_mismatches(ev, api) if found}
    return broken


def _client_errors(ev: Evidence, api: str) -> Iterator[tuple[Entry | None, Entry, str]]:
    """(what the client sent, the answer, what it said) for each answer that calls the client wrong."""
    for exchange in ev.exchanges(api):
        if exchange.response is not None and exchange.status in CLIENT_ERRORS and exchange.fault is None:
            yield exchange.request, exchange.response, f"{exchange.status}"
    for entry in ev.of(api, "http.invalid"):
        yield entry, entry, "400 (not HTTP)"
    recent_in: dict[str, deque[Entry]] = {}
    asked: dict[tuple[str | None, int], Entry] = {}
    for entry in ev.of(api, "ws.frame", "sio.packet"):
        if entry.direction == "in":
            if entry.session is not None:
                recent_in.setdefault(entry.session, deque(maxlen=64)).append(entry)
            if entry.kind == "sio.packet" and entry.data.get("id") is not None:
                asked[(entry.session, int(entry.data["id"]))] = entry
            continue
        if entry.kind == "ws.frame" and api == "tradeready":
            try:
                frame = json.loads(str(entry.data.get("text", "")))
            except ValueError:
                continue
            if isinstance(frame, dict) and frame.get("type") == "error":
                cause = _cause(recent_in.get(entry.session or "", ()), str(frame.get("message") or ""))
                yield cause, entry, f"error {frame.get('code')}: {frame.get('message')}"
        elif entry.kind == "sio.packet" and entry.data.get("sio") == "ACK":
            args = entry.data.get("data") or entry.data.get("args") or []
            error = args[0] if isinstance(args, list) and args else None
            if isinstance(error, dict) and error.get("name") in FEATHERS_CLIENT_ERRORS:
                cause = asked.get((entry.session, int(entry.data.get("id", -1))))
                yield cause, entry, f"{error.get('name')}: {error.get('message')}"


def _cause(sent: Iterable[Entry], message: str) -> Entry | None:
    """The client frame an error frame answers: the latest one that names what the error names (``Invalid channel:
    ticker:BTCUSDT``: a client pipelining subscribes has sent others since), else the latest one."""
    frames: list[Entry] = list(sent)
    subject = message.rsplit(": ", 1)[-1].strip() if ": " in message else ""
    naming = [earlier for earlier in frames if subject and subject in str(earlier.data.get("text", ""))]
    chosen = naming or frames
    return chosen[-1] if chosen else None


def _register_errors(api: str) -> None:
    @rule(
        f"{api}.protocol.no-client-errors",
        severity="should",
        api=api,
        summary="Sends nothing the API answers as a client error (a 4xx other than auth, payment and limits; an error "
        "frame; a Feathers BadRequest/NotFound/MethodNotAllowed). What breaks the documents is the contract rules'.",
        cites=CITE_ERRORS,
    )
    def no_client_errors(ev: Evidence, p: Params) -> Iterator[Finding]:
        if not ev.of(api, "http.request", "ws.frame", "sio.packet", "http.invalid"):
            raise NotApplicable("the client sent nothing to this API")
        broken = _broken(ev, api)
        for cause, answer, said in _client_errors(ev, api):
            if cause is not None and cause.seq in broken:
                continue
            what = _describe(cause) if cause is not None else "a message"
            seqs = (cause.seq, answer.seq) if cause is not None and cause.seq != answer.seq else (answer.seq,)
            yield Finding(f"{what} at {at(answer.vtime)} was answered as a client error: {said}", seqs, answer.vtime)


for _api in OPENAPI_APIS:
    _register_openapi(_api)
for _api in FRAME_APIS:
    _register_asyncapi(_api)
for _api in ALL_APIS:
    _register_errors(_api)
