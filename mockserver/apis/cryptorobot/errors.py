"""Feathers errors (``@feathersjs/errors``): ``{name, message, code, className, data?, errors?}``."""

from __future__ import annotations

from typing import Any

__all__ = ["ERROR_CLASSES", "FeathersError"]

#: name -> (code, className), as ``@feathersjs/errors`` defines them.
ERROR_CLASSES: dict[str, tuple[int, str]] = {
    "BadRequest": (400, "bad-request"),
    "NotAuthenticated": (401, "not-authenticated"),
    "PaymentError": (402, "payment-error"),
    "Forbidden": (403, "forbidden"),
    "NotFound": (404, "not-found"),
    "MethodNotAllowed": (405, "method-not-allowed"),
    "NotAcceptable": (406, "not-acceptable"),
    "Timeout": (408, "timeout"),
    "Conflict": (409, "conflict"),
    "Gone": (410, "gone"),
    "LengthRequired": (411, "length-required"),
    "Unprocessable": (422, "unprocessable"),
    "TooManyRequests": (429, "too-many-requests"),
    "GeneralError": (500, "general-error"),
    "NotImplemented": (501, "not-implemented"),
    "BadGateway": (502, "bad-gateway"),
    "Unavailable": (503, "unavailable"),
}
_BY_CODE = {code: name for name, (code, _cls) in ERROR_CLASSES.items()}


class FeathersError(Exception):
    """An error a service method answers with; ``to_json()`` is what goes on the wire."""

    def __init__(self, name: str, message: str, *, data: Any = None, errors: Any = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.code, self.class_name = ERROR_CLASSES[name]
        self.data = data
        self.errors = errors

    @classmethod
    def for_status(cls, status: int, message: str) -> FeathersError:
        """The class for an HTTP status (an injected fault), GeneralError when Feathers has none."""
        return cls(_BY_CODE.get(status, "GeneralError"), message)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "message": self.message, "code": self.code, "className": self.class_name}
        if self.data is not None:
            body["data"] = self.data
        if self.errors is not None:
            body["errors"] = self.errors
        return body
