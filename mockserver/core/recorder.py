"""What an API's domain may journal: a typed seam between the pure domains and the runtime's journal.

A domain journals what only it knows (a lost push, a rotated token, a login) through a
:class:`Recorder`: entries of the catalogue's kinds, linked to a session by a key the adapter
registered (a Socket.IO sid, an agent's notify socket) and, where a credential identifies
someone, with that ``principal``. ``bind`` tells the session who it is from now on (a login).
"""

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from .catalogue import Kind
from .journal import Journal
from .sessions import SessionTable

__all__ = ["DISCARD", "DomainJournal", "Recorder"]

D = TypeVar("D", bound=Mapping[str, Any])


class Recorder(Protocol):
    def record(self, kind: Kind[D], data: D, *, link: str | None = None, principal: str | None = None) -> None: ...

    def bind(self, link: str, principal: str | None) -> None: ...


class _Discard:
    """The recorder of a domain no runtime runs (unit tests of a domain alone)."""

    def record(self, kind: Kind[D], data: D, *, link: str | None = None, principal: str | None = None) -> None:
        pass

    def bind(self, link: str, principal: str | None) -> None:
        pass


DISCARD: Recorder = _Discard()


class DomainJournal:
    """The runtime's recorder for one API."""

    def __init__(self, journal: Journal, sessions: SessionTable, api: str) -> None:
        self._journal = journal
        self._sessions = sessions
        self._api = api

    def record(self, kind: Kind[D], data: D, *, link: str | None = None, principal: str | None = None) -> None:
        session = self._sessions.find(self._api, link) if link is not None else None
        self._journal.record(self._api, kind, data, session=session, principal=principal)

    def bind(self, link: str, principal: str | None) -> None:
        session = self._sessions.find(self._api, link)
        if session is not None:
            session.principal = principal
