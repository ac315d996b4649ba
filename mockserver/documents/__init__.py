"""The API documents' checkers: HTTP traffic against OpenAPI 3.1, frames against AsyncAPI 3.0.

Pure (no web framework, no clock). Each check returns :class:`Finding` objects naming the value
that failed and the JSON pointer, in the document, of the rule it broke; the ``assert_*`` forms
raise :class:`Mismatch` (an ``AssertionError``) carrying them. The documents themselves are loaded
by :mod:`mockserver.control.openapi` (``api_openapi``, ``api_asyncapi``, ``control_openapi``);
:mod:`.wire` turns SSE blocks and Socket.IO packets into the message payloads the documents describe.
"""

from .asyncapi import (
    Direction,
    assert_frame_matches,
    assert_valid_asyncapi,
    check_asyncapi,
    check_frame,
    check_reply,
    direction_messages,
    match_frame,
    payload_validator,
    reply_messages,
)
from .findings import Finding, Mismatch
from .openapi import (
    Operation,
    assert_matches_openapi,
    assert_request_matches,
    check_request,
    check_response,
    find_operation,
    response_for,
    schema_validator,
)
from .wire import sio_payload, sse_payload, sse_payloads

__all__ = [
    "Direction",
    "Finding",
    "Mismatch",
    "Operation",
    "assert_frame_matches",
    "assert_matches_openapi",
    "assert_request_matches",
    "assert_valid_asyncapi",
    "check_asyncapi",
    "check_frame",
    "check_reply",
    "check_request",
    "check_response",
    "direction_messages",
    "find_operation",
    "match_frame",
    "payload_validator",
    "reply_messages",
    "response_for",
    "schema_validator",
    "sio_payload",
    "sse_payload",
    "sse_payloads",
]
