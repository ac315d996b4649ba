"""Generic rules of long-lived connections, one instance per streaming API: one session at a time, a clean stop.

A *stream* is an API's long-lived session: TradeReady's WebSocket, AI-Trader's notify WebSocket,
Cryptorobot's Engine.IO/Socket.IO session, TradingPartners' event stream. A session is *live*
from its first entry until its end entry; one the server refused at the handshake never was.
"""

from __future__ import annotations

from collections.abc import Iterator

from mockserver.core.journal import Entry

from ..evidence import Evidence, SessionView
from ..model import Finding, Window
from ..registry import NotApplicable, Params, rule
from ._shared import at, seconds

__all__ = ["STREAM_APIS", "clean_end", "live_sessions"]

#: Each streaming API and the transport of its sessions (the session ids' prefix).
STREAM_APIS = {"aitrader": "ws", "tradeready": "ws", "cryptorobot": "eio", "tradingpartners": "sse"}

CITE_ONE = "each API's documentation: one connection per agent (TradeReady, AI-Trader notify, TradingPartners stream; Cryptorobot plans count sockets)"
CITE_SIGTERM = (
    "RFC 6455 §7.1.2/§7.4.1: an endpoint going away closes with 1001 (or 1000); Socket.IO: a client disconnect sends "
    "a DISCONNECT packet; SIGTERM is the polite request to stop (POSIX)"
)

#: What refused a session at its start: it never was live.
_NEVER_OPENED = ("ws.reject", "conn.refused")


def live_sessions(ev: Evidence, api: str) -> list[SessionView]:
    """The API's streaming sessions that were open at some moment (not refused at the handshake)."""
    out = []
    for session in ev.sessions(api, transport=STREAM_APIS[api]):
        end = session.end_entry
        if end is not None and end.kind in _NEVER_OPENED:
            continue
        if api == "aitrader" and not any(str(e.data.get("path", "")).startswith("/ws/notify/") for e in session.entries):
            continue
        out.append(session)
    return out


def clean_end(end: Entry) -> str | None:
    """Why a session's end is not a clean close by the client (None: it is one)."""
    by = end.data.get("by")
    if by != "client":
        return f"it was ended by the {by} ({end.kind})"
    if end.kind == "ws.close":
        code = end.data.get("code")
        if code in (1000, 1001, 1005):  # 1005: a close frame without a code, still a closing handshake
            return None
        return "it went away without a close frame (1006)" if code == 1006 else f"the client closed with code {code}, not 1000 or 1001"
    if end.kind == "sio.disconnect":
        reason = str(end.data.get("reason", ""))
        return None if reason == "client disconnect" else f"the session ended by '{reason}', not a Socket.IO disconnect"
    if end.kind == "sse.end":
        return None
    return f"it ended by {end.kind} (no close)"


def _register(api: str) -> None:
    @rule(
        f"{api}.stream.one-session",
        severity="should",
        api=api,
        summary="Keeps at most one live streaming session per credential at a time (a reconnect replaces the old one).",
        cites=CITE_ONE,
        params={"overlap": 2.0},
    )
    def one_session(ev: Evidence, p: Params) -> Iterator[Finding]:
        overlap = ev.tolerance(float(p["overlap"]))
        by_principal: dict[str, list[SessionView]] = {}
        for session in live_sessions(ev, api):
            if session.principal is not None:
                by_principal.setdefault(session.principal, []).append(session)
        if not by_principal:
            raise NotApplicable("no streaming session with a credential")
        for principal, sessions in by_principal.items():
            for index, first in enumerate(sessions):
                first_end = first.end if first.end is not None else ev.end
                for second in sessions[index + 1 :]:
                    shared = min(first_end, second.end if second.end is not None else ev.end) - second.start
                    if second.start < first_end and shared > overlap:
                        yield Finding(
                            f"{principal} had two live sessions at once: {first.id} (from {at(first.start)}) and "
                            f"{second.id} (from {at(second.start)}) overlapped for {seconds(shared)} (at most {overlap:g} s)",
                            (first.entries[0].seq, second.entries[0].seq),
                            second.start,
                            Window(first_end, first_end + overlap, "the new session, once the old one ended"),
                        )

    @rule(
        f"{api}.stream.closes-on-sigterm",
        severity="should",
        api=api,
        summary="On SIGTERM, closes its open streams cleanly (WebSocket close 1000/1001, Socket.IO disconnect, the event "
        "stream closed) and exits within a few seconds.",
        cites=CITE_SIGTERM,
        params={"within_real": 3.0},
    )
    def closes_on_sigterm(ev: Evidence, p: Params) -> Iterator[Finding]:
        ended = next((e for e in ev.entries if e.kind == "run.ended"), None)
        if ended is None or "stopped_at" not in ended.data:
            raise NotApplicable("the client was not stopped by the runner (it exited by itself, or this is not a conformance run)")
        stopped = float(ended.data["stopped_at"])
        within = float(p["within_real"]) * ev.speed if ev.speed > 0 else float(p["within_real"])
        open_then = [s for s in live_sessions(ev, api) if s.start < stopped and (s.end is None or s.end >= stopped)]
        if not open_then:
            raise NotApplicable("no streaming session was open when the runner sent SIGTERM")
        if ended.data.get("how") == "killed":
            yield Finding(
                f"the client did not exit after SIGTERM at {at(stopped)}: it was killed (SIGKILL) after the grace period",
                (ended.seq,),
                ended.vtime,
                Window(stopped, stopped + within, "exit after SIGTERM"),
            )
            return
        for session in open_then:
            end = session.end_entry
            if end is None:
                yield Finding(f"{session.id} was still open when the client's run ended", (session.entries[0].seq, ended.seq), ended.vtime)
                continue
            why = clean_end(end)
            late = end.vtime - stopped > within
            if why is not None or late:
                problem = why or f"it closed {seconds(end.vtime - stopped)} after SIGTERM (within {p['within_real']:g} s real expected)"
                yield Finding(
                    f"{session.id} did not close cleanly on SIGTERM (sent at {at(stopped)}): {problem}",
                    (session.entries[0].seq, end.seq),
                    end.vtime,
                    Window(stopped, stopped + within, "a clean close after SIGTERM"),
                )


for _api in STREAM_APIS:
    _register(_api)
