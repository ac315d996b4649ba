"""Decode Engine.IO 4 / Socket.IO 5 packets for the journal (no framework, no I/O).

The server side of the protocol is python-socketio's; this codec only *reads* what
went over the wire, so the journal can say ``EVENT create ["authentication", {...}]``
rather than ``42["create",...]``. It never raises: text that is not a packet is
described as ``{"eio": "invalid"}``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["EIO_TYPES", "SIO_TYPES", "decode_eio", "decode_payload", "describe"]

EIO_TYPES = {"0": "open", "1": "close", "2": "ping", "3": "pong", "4": "message", "5": "upgrade", "6": "noop"}
SIO_TYPES = {
    "0": "CONNECT",
    "1": "DISCONNECT",
    "2": "EVENT",
    "3": "ACK",
    "4": "CONNECT_ERROR",
    "5": "BINARY_EVENT",
    "6": "BINARY_ACK",
}
#: Engine.IO's record separator between packets of one HTTP long-polling payload.
SEPARATOR = "\x1e"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _decode_sio(text: str) -> dict[str, Any]:
    if not text or text[0] not in SIO_TYPES:
        return {"sio": "invalid", "raw": text}
    out: dict[str, Any] = {"sio": SIO_TYPES[text[0]]}
    rest = text[1:]
    if out["sio"] in ("BINARY_EVENT", "BINARY_ACK"):
        count, dash, rest = rest.partition("-")
        if not dash or not count.isdigit():
            return {"sio": "invalid", "raw": text}
        out["attachments"] = int(count)
    nsp = "/"
    if rest.startswith("/"):
        nsp, comma, after = rest.partition(",")
        rest = after if comma else ""
    out["nsp"] = nsp
    digits = 0
    while digits < len(rest) and rest[digits].isdigit():
        digits += 1
    if digits:
        out["id"] = int(rest[:digits])
        rest = rest[digits:]
    if rest:
        data = _json(rest)
        if out["sio"] in ("EVENT", "BINARY_EVENT") and isinstance(data, list) and data and isinstance(data[0], str):
            out["event"] = data[0]
            out["args"] = data[1:]
        else:
            out["data"] = data
    return out


def decode_eio(text: str) -> dict[str, Any]:
    """One Engine.IO packet (a WebSocket text frame, or one part of a polling payload)."""
    if not text:
        return {"eio": "invalid", "raw": text}
    if text[0] == "b":  # base64 binary in a polling payload
        return {"eio": "message", "binary": True, "length": len(text) - 1}
    kind = EIO_TYPES.get(text[0])
    if kind is None:
        return {"eio": "invalid", "raw": text[:200]}
    out: dict[str, Any] = {"eio": kind}
    body = text[1:]
    if kind == "message":
        out.update(_decode_sio(body))
    elif kind == "open":
        out["data"] = _json(body)
    elif body:
        out["data"] = body
    return out


def decode_payload(text: str) -> list[dict[str, Any]]:
    """A long-polling HTTP body: packets separated by ``\\x1e``."""
    return [decode_eio(part) for part in text.split(SEPARATOR)] if text else []


def describe(packet: dict[str, Any]) -> str:
    """A one-line summary: ``EVENT create authentication``, ``ACK 3``, ``ping``."""
    sio = packet.get("sio")
    if sio is None:
        return str(packet.get("eio"))
    if "event" in packet:
        first = packet["args"][0] if packet.get("args") and isinstance(packet["args"][0], str) else ""
        return f"{sio} {packet['event']} {first}".rstrip()
    if "id" in packet:
        return f"{sio} {packet['id']}"
    return str(sio)
