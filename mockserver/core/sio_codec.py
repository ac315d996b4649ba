"""Decode Engine.IO 4 / Socket.IO 5 packets for the journal (no framework, no I/O).

The server side of the protocol is python-socketio's; this codec only *reads* what
went over the wire, so the journal can say ``EVENT create ["authentication", {...}]``
rather than ``42["create",...]``. It never raises: text that is not a packet is
described as ``{"eio": "invalid"}``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["EIO_TYPES", "IGNORED", "SEPARATOR", "SIO_TYPES", "decode_eio", "decode_payload", "describe", "ignored", "problem"]

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


#: Event names a client may not emit (socket.io-parser's RESERVED_EVENTS).
RESERVED_EVENTS = frozenset({"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"})


#: the longest ack id read as a number (int() refuses longer ones)
_MAX_DIGITS = 4000
#: the longest attachment count: python-socketio raises 'too many attachments' beyond it (socket.io's parser
#: would wait for them all)
_MAX_ATTACHMENT_DIGITS = 10


class _NotJson(str):
    """Text that should have been JSON: kept as it came, flagged for :func:`problem`."""


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return _NotJson(text)


def _decode_sio(text: str) -> dict[str, Any]:
    if not text or text[0] not in SIO_TYPES:
        return {"sio": "invalid", "raw": text}
    out: dict[str, Any] = {"sio": SIO_TYPES[text[0]]}
    rest = text[1:]
    if out["sio"] in ("BINARY_EVENT", "BINARY_ACK"):
        count, dash, rest = rest.partition("-")
        if not dash or not (count.isascii() and count.isdigit()):
            return {"sio": "invalid", "raw": text}
        if len(count) > _MAX_ATTACHMENT_DIGITS or int(count) == 0:
            # python-socketio raises 'too many attachments' beyond 10 digits; a binary packet with no attachment
            # it keeps waiting for one, taking the next packet for it ('Unexpected binary attachment')
            out["invalid"] = "illegal attachments"
            return out
        out["attachments"] = int(count)
    nsp = "/"
    if rest.startswith("/"):
        nsp, comma, after = rest.partition(",")
        rest = after if comma else ""
    out["nsp"] = nsp
    digits = 0
    while digits < len(rest) and "0" <= rest[digits] <= "9":
        digits += 1
    if digits > _MAX_DIGITS:  # more than int() converts (sys.get_int_max_str_digits): no id any client could ack
        out["invalid"] = "ack id too long"
        return out
    if digits:
        out["id"] = int(rest[:digits])
        rest = rest[digits:]
    if rest:
        data = _json(rest)
        if isinstance(data, _NotJson):
            out["invalid"] = "invalid payload"
            data = str(data)
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


def problem(packet: dict[str, Any]) -> str | None:
    """Why socket.io's own server would refuse this packet from a client (None: it would not): its parser,
    engine.io's heartbeat direction (a client ``ping`` other than an upgrade's probe), a client's CONNECT_ERROR.

    The JavaScript server closes the connection on such a packet; python-socketio would log a
    traceback and carry on (or ignore it), so the adapter applies the JavaScript rule (see ``siojournal``).
    """
    if packet.get("eio") == "invalid":
        return "parse error"
    if packet.get("eio") == "ping" and packet.get("data") != "probe":  # Engine.IO 4: the server pings, the client pongs
        return "invalid heartbeat direction"
    if packet.get("eio") != "message" or packet.get("binary"):
        return None
    sio = packet.get("sio")
    if sio == "invalid":
        return "unknown packet type"
    if sio == "CONNECT_ERROR":  # only a server sends one: socket.io closes a client that does ("invalid state")
        return "invalid state: CONNECT_ERROR from a client"
    if packet.get("invalid"):
        return str(packet["invalid"])
    if "event" in packet or "args" in packet:
        return f"reserved event name {packet['event']!r}" if packet["event"] in RESERVED_EVENTS else None
    data = packet.get("data", None)
    if sio == "CONNECT" and "data" in packet and not isinstance(data, dict):
        return "invalid payload"
    if sio == "DISCONNECT" and "data" in packet:
        return "invalid payload"
    if sio in ("EVENT", "BINARY_EVENT") and not (isinstance(data, list) and data and isinstance(data[0], int | float)):
        return "invalid payload"
    if sio in ("ACK", "BINARY_ACK") and not isinstance(data, list):
        return "invalid payload"
    return None


#: Engine.IO packets socket.io's server takes from a client and ignores (its ``onPacket`` has no case for them);
#: python-engineio would end a long-polling session for one and then wait for a poll to drain its queue
IGNORED = frozenset({"open", "upgrade", "noop"})


def ignored(packet: dict[str, Any], transport: str) -> str | None:
    """Why socket.io ignores this client packet on ``transport`` (None: it does not). On a WebSocket only an
    ``upgrade`` outside the upgrade's handshake is ignored, and python-engineio sees to that itself."""
    if transport == "polling" and packet.get("eio") in IGNORED:
        return f"{packet['eio']} from a client: ignored"
    return None


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
