"""What a frame on the wire is as a message payload of the APIs' AsyncAPI documents.

The documents say how their messages map to the wire (each in its ``info.description``); these
functions do that mapping, so a checker (the tests, the conformance suite) can hand the
payload to :func:`mockserver.documents.check_frame`:

- a WebSocket text frame is its decoded JSON (``json.loads``; no function needed);
- a Server-Sent Events block (``event: working`` / ``id: 3`` / ``data: {...}``) is
  ``{"event": "working", "id": "3", "data": {...}}``: the fields the block has, ``data`` decoded
  as JSON when it is JSON (:func:`sse_payload`, :func:`sse_payloads` for a stream's text);
- a Socket.IO packet, as the journal decodes it (``sio.packet``): an EVENT is the array
  ``[event, ...args]`` (what ``42[...]`` carries after the ack id), an ACK the array of its
  arguments (``[null, result]`` or ``[error]``), a CONNECT_ERROR its object; other packets are the
  transport, not messages (:func:`sio_payload`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["sio_payload", "sse_payload", "sse_payloads"]

_BLOCK_END = re.compile(r"\r\n\r\n|\n\n|\r\r")
_LINE = re.compile(r"\r\n|\n|\r")


def sse_payload(block: str) -> dict[str, Any] | None:
    """One event-stream block as a message payload (None: only comments or nothing).

    Parsed as the HTML living standard says (``field: value``, one optional space after the colon,
    ``data`` lines joined with newlines, comment lines starting with ``:``); ``retry`` is kept as an
    integer when it is one, and ``event`` is ``message`` when the block has data but names no event.
    """
    fields: dict[str, Any] = {}
    data: list[str] = []
    for line in _LINE.split(block):
        if not line or line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "retry":
            fields["retry"] = int(value) if value.isascii() and value.isdigit() else value
        elif name in ("event", "id"):
            fields[name] = value  # other field names are ignored, as the standard says
    if data:
        text = "\n".join(data)
        try:
            fields["data"] = json.loads(text)
        except ValueError:
            fields["data"] = text
        fields.setdefault("event", "message")
    return fields or None


def sse_payloads(text: str) -> tuple[list[dict[str, Any]], str]:
    """The payloads of every complete block in an event stream's text, and the incomplete rest."""
    parts = _BLOCK_END.split(text)
    rest = parts.pop()
    payloads = [payload for part in parts if (payload := sse_payload(part)) is not None]
    return payloads, rest


def sio_payload(packet: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(Socket.IO packet type, message payload) of a decoded packet (a journal ``sio.packet``'s data);
    None for the transport's packets (Engine.IO open, ping, pong, upgrade; CONNECT, DISCONNECT)."""
    kind = packet.get("sio")
    if kind in ("EVENT", "BINARY_EVENT"):
        if "event" in packet:
            return str(kind), [packet["event"], *(packet.get("args") or [])]
        return str(kind), packet.get("data")
    if kind in ("ACK", "BINARY_ACK", "CONNECT_ERROR"):
        return str(kind), packet.get("data")
    return None
