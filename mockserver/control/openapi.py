"""The OpenAPI 3.1 documents the mock publishes (``GET /_mock/openapi.json`` and ``/_mock/openapi/<api>.json``),
and the AsyncAPI 3.0 documents of its WebSocket, Socket.IO and event-stream protocols (``/_mock/asyncapi/<api>.json``).

The documents are YAML files shipped inside the package: ``control/openapi.yaml``
for the control API and, for each mocked API, ``apis/<name>/openapi.<profile>.yaml``
(one per profile) or ``apis/<name>/openapi.yaml`` (one for all its profiles); likewise
``apis/<name>/asyncapi.<profile>.yaml`` or ``apis/<name>/asyncapi.yaml``. They are
parsed once and cached; the returned dicts are shared, so callers must not mutate
them (serialize them, or ``copy.deepcopy`` first).
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from ..apis.registry import APIS
from ..core.catalogue import journal_schema
from ..faults.model import FAULT_KINDS, FAULT_SCHEMA

__all__ = ["KINDS", "NoDocument", "api_asyncapi", "api_document_kinds", "api_openapi", "control_openapi"]

_API_NAME = re.compile(r"^[a-z0-9_]+$")
#: document kind (file stem) -> its name in messages
KINDS = {"openapi": "OpenAPI", "asyncapi": "AsyncAPI"}
#: why an API has no document of a kind, where it is worth saying
_WHY_NONE = {
    ("tradeready", "openapi"): "its only route is the WebSocket /ws/v1, whose handshake (and its 403) the AsyncAPI document describes",
    ("luckylobster", "asyncapi"): "it has no WebSocket and no event stream, only HTTP routes",
}


class NoDocument(FileNotFoundError):
    """A mocked API has no document of this kind; ``other`` is the kind it does have (None: none at all)."""

    def __init__(self, name: str, kind: str, other: str | None) -> None:
        self.name, self.kind, self.other = name, kind, other
        why = _WHY_NONE.get((name, kind))
        super().__init__(f"{name} has no {KINDS[kind]} document" + (f": {why}" if why else ""))


def _load(*parts: str, kind: str = "OpenAPI") -> dict[str, Any]:
    resource = resources.files("mockserver")
    for part in parts:
        resource = resource / part
    document = yaml.safe_load(resource.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"mockserver/{'/'.join(parts)} is not an {kind} document (a YAML mapping)")
    return document


@lru_cache(maxsize=1)
def control_openapi() -> dict[str, Any]:
    """The control API's OpenAPI 3.1 document (cached and shared: do not mutate).

    The fault request schema and the fault kinds come from :mod:`mockserver.faults.model`,
    the one definition scenarios are validated with, and a journal entry's schema from the
    journal catalogue, so neither can drift apart.
    """
    document = _load("control", "openapi.yaml")
    schemas = document["components"]["schemas"]
    schemas["FaultKind"] = {"type": "string", "enum": list(FAULT_KINDS)}
    entry = journal_schema()
    for key in ("$schema", "$id"):  # the document's own dialect and base URI apply inside it
        entry.pop(key)
    schemas["JournalEntry"] = entry
    schemas["FaultRequest"] = {**copy.deepcopy(FAULT_SCHEMA), "description": "A fault to start (the scenario fault step's schema)."}
    return document


def _document_file(name: str, profile: str, stem: str) -> str:
    """``<stem>.<profile>.yaml`` when the API has one per profile, else ``<stem>.yaml``; checks name and profile."""
    if not _API_NAME.match(name):
        raise ValueError(f"not an API name: {name!r}")
    if not _API_NAME.match(profile):
        raise ValueError(f"not a profile name: {profile!r}")
    api = APIS.get(name)
    if api is not None and profile not in api.profiles:
        raise ValueError(f"{name} has no profile {profile!r}; it offers: {', '.join(api.profiles)}")
    folder = resources.files("mockserver") / "apis" / name
    file = f"{stem}.{profile}.yaml"
    return file if (folder / file).is_file() else f"{stem}.yaml"


def api_document_kinds(name: str) -> tuple[str, ...]:
    """The kinds of document (``openapi``, ``asyncapi``) the mocked API ``name`` has, in any profile."""
    if not _API_NAME.match(name):
        raise ValueError(f"not an API name: {name!r}")
    folder = resources.files("mockserver") / "apis" / name
    if not folder.is_dir():
        return ()
    return tuple(
        kind for kind in KINDS if any(entry.name.startswith(kind + ".") and entry.name.endswith(".yaml") for entry in folder.iterdir())
    )


def _api_file(name: str, profile: str, kind: str) -> str:
    file = _document_file(name, profile, kind)
    if not (resources.files("mockserver") / "apis" / name / file).is_file():
        if name not in APIS:
            raise FileNotFoundError(f"no API {name!r}; known: {', '.join(APIS)}")
        other = next((k for k in api_document_kinds(name) if k != kind), None)
        raise NoDocument(name, kind, other)
    return file


def api_openapi(name: str, profile: str = "documented") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the mocked API ``name`` in ``profile`` (cached and shared: do not mutate).

    ``apis/<name>/openapi.<profile>.yaml`` when the API has one per profile, else
    ``apis/<name>/openapi.yaml`` (an API whose profiles share one document).
    Raises :class:`NoDocument` (a :class:`FileNotFoundError`) when the API has no OpenAPI document,
    :class:`FileNotFoundError` for an API that does not exist, and :class:`ValueError` for a name or
    profile that is not one, or a profile the API does not offer.
    """
    return _api_document(name, _api_file(name, profile, "openapi"))


def api_asyncapi(name: str, profile: str = "documented") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the mocked API ``name``'s WebSocket, Socket.IO or event stream in ``profile`` (cached and shared: do not mutate).

    ``apis/<name>/asyncapi.<profile>.yaml`` when the API has one per profile, else
    ``apis/<name>/asyncapi.yaml``. Raises :class:`NoDocument` (a :class:`FileNotFoundError`)
    when the API has no AsyncAPI document, :class:`FileNotFoundError` for an API that does not
    exist, and :class:`ValueError` for a name or profile that is not one, or a profile the API
    does not offer.
    """
    return _api_document(name, _api_file(name, profile, "asyncapi"))


@lru_cache(maxsize=16)
def _api_document(name: str, file: str) -> dict[str, Any]:
    return _load("apis", name, file, kind="AsyncAPI" if file.startswith("asyncapi") else "OpenAPI")
