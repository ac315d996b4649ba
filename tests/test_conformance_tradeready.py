"""TradeReady's rules on small journals written by hand: the edges the mutant matrix does not reach.

Each journal is what the mock would record for a few connections (``ws.connect``, ``ws.accept``,
frames, the end), at the virtual times given; the matrix (tests/matrix/tradeready.py) proves
every rule against real clients.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import conformance.rules  # noqa: F401  (registers every rule)
from conformance.evidence import Evidence
from conformance.model import RuleResult
from conformance.registry import RULES, run_rule
from mockserver.core.catalogue import CATALOGUE
from mockserver.core.journal import Entry

T0 = 1_771_860_600.0
PING = json.dumps({"type": "ping"})


class Journal:
    """A run's journal, built entry by entry (times in virtual seconds from the start)."""

    def __init__(self, *, profile: str = "documented", speed: float = 1.0, duration: float = 600.0) -> None:
        self.entries: list[Entry] = []
        options = {"tradeready": {"client": "key:a", "ping_interval": 30.0, "pong_timeout": 10.0}}
        loaded = {"id": "t", "start": T0, "apis": ["tradeready"], "profiles": {"tradeready": profile}, "options": options}
        self.add("scenario.loaded", 0, api="mock", principal=None, **loaded)
        self.add("run.started", 0, api="mock", principal=None, speed=speed, duration=duration, scenario="t", warp="none")
        self.duration = duration

    def add(self, kind: str, at: float, *, session: str | None = None, direction: str = "out", api: str = "tradeready",
            principal: str | None = "key:a", **data: Any) -> Entry:  # fmt: skip
        assert kind in CATALOGUE, kind
        entry = Entry(len(self.entries) + 1, T0 + at, 0.0, api, kind, direction, None, session, principal, data)  # type: ignore[arg-type]
        self.entries.append(entry)
        return entry

    def connect(self, session: str, at: float, *, subscribe: tuple[str, ...] = (), accept: bool = True) -> None:
        self.add("ws.connect", at, session=session, direction="in", path="/ws/v1", query="api_key=k", headers={})
        if accept:
            self.add("ws.accept", at, session=session, path="/ws/v1", subprotocol=None)
        for key in subscribe:
            self.send(session, at + 0.1, {"action": "subscribe", "channel": key})

    def send(self, session: str, at: float, frame: dict[str, Any] | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        self.add("ws.frame", at, session=session, direction="in", path="/ws/v1", text=text)

    def receive(self, session: str, at: float, frame: dict[str, Any] | str) -> Entry:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        return self.add("ws.frame", at, session=session, path="/ws/v1", text=text)

    def ticks(self, session: str, start: float, end: float, every: float = 1.0) -> None:
        t = start
        while t < end:
            self.receive(session, t, {"channel": "ticker:BTCUSDT", "type": "ticker", "price": "1"})
            t += every

    def close(self, session: str, at: float, *, by: str = "server", code: int = 1000, **extra: Any) -> None:
        self.add("ws.close", at, session=session, direction="in" if by == "client" else "out", path="/ws/v1", by=by, code=code,
                 reason="", **extra)  # fmt: skip

    def reject(self, session: str, at: float, status: int, *, by: str = "server") -> None:
        self.connect(session, at, accept=False)
        self.add("ws.reject", at, session=session, path="/ws/v1", status=status, by=by)

    def judge(self, rule_id: str, *, targeted: bool = False, **params: Any) -> RuleResult:
        self.add("run.ended", self.duration + 1, api="mock", principal=None, how="terminated")
        spec = RULES[rule_id]
        return run_rule(spec, Evidence(self.entries), {**spec.params, **params}, targeted=targeted)


def messages(result: RuleResult) -> list[str]:
    return [finding.message for finding in result.findings]


# -- answers-pings ------------------------------------------------------------------------------------
def test_a_pong_within_the_deadline_passes_and_a_missing_one_fails_with_the_servers_timeout() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("orders",))
    j.receive("ws-1", 31, PING)
    j.send("ws-1", 31.2, {"type": "pong"})
    j.receive("ws-1", 61, PING)
    timeout = j.add("ws.pong_timeout", 71, session="ws-1", path="/ws/v1", timeout=10.0)
    j.close("ws-1", 71)
    result = j.judge("tradeready.ws.answers-pings")
    assert result.verdict == "fail"
    (finding,) = result.findings
    assert "ping at 15:31:01.000 on ws-1 and sent no pong within 10 s" in finding.message
    assert "the server closed the connection at 15:31:11.000 (pong timeout)" in finding.message
    assert timeout.seq in finding.seqs


def test_upstream_wants_action_pong_and_says_what_the_client_sent_instead() -> None:
    j = Journal(profile="upstream")
    j.connect("ws-1", 1, subscribe=("orders",))
    j.receive("ws-1", 31, PING)
    j.send("ws-1", 31.1, {"type": "pong"})
    j.receive("ws-1", 61, PING)
    j.send("ws-1", 61.1, {"action": "pong"})
    result = j.judge("tradeready.ws.answers-pings")
    assert messages(result) == [
        'key:a got a ping at 15:30:31.000 on ws-1 and sent no pong within 10 s; it sent {"type": "pong"} instead, '
        "which the upstream server does not take as a pong"
    ]


def test_a_connection_the_server_had_to_drop_frames_on_is_left_to_keeps_up() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("ticker:all",))
    j.add("ws.dropped", 20, session="ws-1", path="/ws/v1", text="{}", reason="slow consumer: queue full")
    j.receive("ws-1", 31, PING)
    assert j.judge("tradeready.ws.answers-pings").verdict == "not-applicable"


def test_a_ping_just_before_the_connection_ended_is_not_judged() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("orders",))
    j.receive("ws-1", 31, PING)
    j.close("ws-1", 33, code=1012)
    assert j.judge("tradeready.ws.answers-pings").verdict == "not-applicable"


# -- subscribes, resubscribes --------------------------------------------------------------------------
def test_a_connection_without_a_subscribe_fails_subscribes_but_not_resubscribes() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("ticker:BTCUSDT", "orders"))
    j.close("ws-1", 40, code=1012)
    j.connect("ws-2", 41)  # nothing sent: subscribes' finding, not resubscribes'
    j.receive("ws-2", 71, PING)
    j.send("ws-2", 71.1, {"type": "pong"})
    assert messages(j.judge("tradeready.ws.subscribes")) == [
        "key:a's connection ws-2 was accepted at 15:30:41.000 and sent no subscribe frame (within 10 s expected); ws-2 was still open"
    ]
    assert j.judge("tradeready.ws.resubscribes").verdict == "not-applicable"


def test_a_connection_too_short_to_subscribe_on_is_not_judged() -> None:
    j = Journal()
    j.connect("ws-1", 1)
    j.close("ws-1", 3, code=1012)
    result = j.judge("tradeready.ws.subscribes", targeted=True)
    assert result.verdict == "fail" and messages(result)[0].startswith("not exercised")


def test_resubscribes_needs_every_active_key_back_but_not_one_unsubscribed_before() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("ticker:btcusdt", "candles:BTCUSDT:1m", "orders", "portfolio"))
    j.send("ws-1", 20, {"action": "unsubscribe", "channel": "portfolio"})
    j.close("ws-1", 40, code=1012)
    j.connect("ws-2", 41, subscribe=("ticker:BTCUSDT",))  # the same key, as the server resolves it
    j.send("ws-2", 45, {"action": "subscribe", "channel": "candles", "symbol": "BTCUSDT", "interval": "1m"})  # structured
    assert messages(j.judge("tradeready.ws.resubscribes")) == [
        "key:a reconnected (ws-2, accepted at 15:30:41.000) and re-subscribed to candles:BTCUSDT:1m, ticker:BTCUSDT "
        "within 10 s; missing orders, active on ws-1"
    ]


def test_a_second_connection_in_parallel_is_no_reconnect() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("ticker:BTCUSDT", "orders"))
    j.connect("ws-2", 1.5, subscribe=("orders",))  # the same key, another connection at once: one-session's business
    j.close("ws-1", 40, code=1012)
    j.connect("ws-3", 41, subscribe=("ticker:BTCUSDT", "orders"))
    result = j.judge("tradeready.ws.resubscribes")
    assert result.verdict == "pass", messages(result)


def test_a_resubscription_after_the_window_is_late() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("orders", "portfolio"))
    j.close("ws-1", 40, code=1012)
    j.connect("ws-2", 41, subscribe=("orders",))
    j.send("ws-2", 80, {"action": "subscribe", "channel": "portfolio"})
    assert j.judge("tradeready.ws.resubscribes").verdict == "fail"


# -- reconnects-with-backoff ---------------------------------------------------------------------------
def test_failing_attempts_must_be_spaced_1_2_4_8_and_the_first_too_soon_is_reported() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("orders",))
    j.receive("ws-1", 2, {"type": "subscribed", "subscription": "orders"})
    j.close("ws-1", 10, code=1012)
    at = 10.0
    for index, gap in enumerate((1, 2, 4, 8, 16), start=2):
        at += gap
        j.reject(f"ws-{index}", at, 503, by="fault")
    j.connect("ws-7", at + 32, subscribe=("orders",))
    assert j.judge("tradeready.ws.reconnects-with-backoff").verdict == "pass"

    j = Journal()
    j.connect("ws-1", 1, subscribe=("orders",))
    j.receive("ws-1", 2, {"type": "subscribed", "subscription": "orders"})
    j.close("ws-1", 10, code=1012)
    for index in range(2, 12):
        j.reject(f"ws-{index}", 10 + index - 1, 503, by="fault")
    j.connect("ws-12", 21, subscribe=("orders",))
    result = j.judge("tradeready.ws.reconnects-with-backoff")
    assert len(result.findings) == 1  # one per streak
    assert "(3 failed attempts in a row); it connected again 1.0 s later (ws-5), about 4.0 s was due" in messages(result)[0]


def test_a_dropped_client_must_come_back_within_the_cap() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("orders",))
    j.receive("ws-1", 2, {"type": "subscribed", "subscription": "orders"})
    j.add("ws.reset", 10, session="ws-1", path="/ws/v1", by="fault", fault="cut")
    j.connect("ws-2", 100, subscribe=("orders",))
    assert messages(j.judge("tradeready.ws.reconnects-with-backoff")) == [
        "key:a's connection ws-1 was reset by the fault 'cut' at 15:30:10.000; it connected again only at 15:31:40.000 "
        "(within 60 s expected)"
    ]


def test_attempts_after_a_refused_key_are_left_to_stops_on_auth_failure() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("orders",))
    j.receive("ws-1", 2, {"type": "subscribed", "subscription": "orders"})
    j.close("ws-1", 10, code=1008)
    j.reject("ws-2", 11, 403)
    for index in range(3, 9):
        j.reject(f"ws-{index}", 9 + index, 403)  # every second: a storm, but of refused handshakes
    assert j.judge("tradeready.ws.reconnects-with-backoff").verdict == "pass"
    result = j.judge("tradeready.ws.stops-on-auth-failure")
    assert (
        "went on connecting with it, 7 attempts from then on, the last at 15:30:17.000 (at most 2 in all expected)" in (messages(result)[0])
    )


def test_one_retry_after_a_refused_key_is_allowed_and_a_close_4401_is_a_refusal_too() -> None:
    j = Journal()
    j.connect("ws-1", 1)
    j.close("ws-1", 1.1, code=4401)
    j.connect("ws-2", 2)
    j.close("ws-2", 2.1, code=4401)
    assert j.judge("tradeready.ws.stops-on-auth-failure").verdict == "pass"


# -- detects-stale --------------------------------------------------------------------------------------
def test_closing_a_silent_connection_after_40_s_and_reconnecting_passes() -> None:
    j = Journal(duration=200)
    j.connect("ws-1", 1, subscribe=("ticker:BTCUSDT",))
    j.ticks("ws-1", 2, 50)
    j.close("ws-1", 89.2, by="client")
    j.connect("ws-2", 90.3, subscribe=("ticker:BTCUSDT",))
    j.ticks("ws-2", 91, 200)
    assert j.judge("tradeready.ws.detects-stale").verdict == "pass"


def test_a_silent_connection_left_open_fails_and_says_when_frames_came_again() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("ticker:BTCUSDT",))
    j.ticks("ws-1", 2, 50)
    j.ticks("ws-1", 140, 200)
    (message,) = messages(j.judge("tradeready.ws.detects-stale"))
    assert message == (
        "key:a's connection ws-1 received nothing from 15:30:49.000 on; it was still open 45.0 s later (closed and "
        "reconnected after 40 s of silence expected); it was still open when frames came again at 15:32:20.000"
    )


def test_a_silent_connection_closed_but_never_reopened_fails() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("ticker:BTCUSDT",))
    j.ticks("ws-1", 2, 50)
    j.close("ws-1", 89.5, by="client")
    assert (
        "closed the silent connection ws-1 at 15:31:29.500 and connected again never" in messages(j.judge("tradeready.ws.detects-stale"))[0]
    )


def test_frames_a_silence_fault_suppressed_do_not_count_as_received() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("ticker:all",))
    text = json.dumps({"channel": "ticker:ETHUSDT"})
    for t in range(2, 100):
        j.add("ws.broadcast", t, principal=None, path="/ws/v1", text=text, sessions=["ws-1"], conns=["c"])
        if t >= 50:
            j.add("ws.suppressed", t, session="ws-1", path="/ws/v1", text=text, fault="hush")
    assert "received nothing from 15:30:49.000 on" in messages(j.judge("tradeready.ws.detects-stale"))[0]


def test_a_connection_the_server_ended_while_silent_is_not_the_clients_to_detect() -> None:
    j = Journal()
    j.connect("ws-1", 1, subscribe=("ticker:BTCUSDT",))
    j.ticks("ws-1", 2, 50)
    j.close("ws-1", 70, code=1012)
    assert j.judge("tradeready.ws.detects-stale").verdict == "not-applicable"


# -- keeps-up ------------------------------------------------------------------------------------------
def firehose(j: Journal, frames: int, dropped: int) -> None:
    j.connect("ws-1", 1, subscribe=("ticker:all",))
    for index in range(frames):
        entry = j.add("ws.broadcast", 2 + index / 100, principal=None, path="/ws/v1", text="{}", sessions=["ws-1"], conns=["c"])
        if index < dropped:
            j.add("ws.dropped", 2 + index / 100, session="ws-1", path="/ws/v1", text="{}", reason="slow", broadcast=entry.seq)


@pytest.mark.parametrize(("dropped", "verdict"), [(0, "pass"), (5, "pass"), (20, "fail")])
def test_keeps_up_tolerates_a_share_of_dropped_frames(dropped: int, verdict: str) -> None:
    j = Journal()
    firehose(j, 1000, dropped)
    result = j.judge("tradeready.ws.keeps-up")
    assert result.verdict == verdict
    if verdict == "fail":
        assert "the server dropped 20 of the 1000 market frames meant for it (2.0%)" in messages(result)[0]


def test_keeps_up_is_inconclusive_under_time_warp() -> None:
    j = Journal(speed=60)
    firehose(j, 10, 5)
    result = j.judge("tradeready.ws.keeps-up", targeted=True)
    assert result.verdict == "inconclusive" and "this run was at x60" in result.reason


def test_keeps_up_grades_only_a_client_that_chose_the_firehose_even_where_the_scenario_targets_it() -> None:
    """ticker:all is optional (the seed's wildcard): a client of two tickers is not failed "not exercised" by
    tradeready/all-pairs-firehose, unlike a targeted rule whose evidence every client owes (subscribes, above)."""
    j = Journal()
    j.connect("ws-1", 1, subscribe=("ticker:BTCUSDT", "ticker:ETHUSDT"))
    result = j.judge("tradeready.ws.keeps-up", targeted=True)
    assert result.verdict == "not-applicable" and "a client's choice" in result.reason


# -- protocol.no-client-errors (the generic rule's TradeReady instance) ----------------------------------------------
def test_an_error_frame_is_charged_to_the_frame_it_names_not_to_the_last_one_sent() -> None:
    """A client pipelining subscribes: the error for its first (a flat key the upstream protocol lacks, the contract
    rule's finding) comes after it sent a valid one; the valid one is not a client error (a flake seen on a busy run)."""
    journal = Journal(profile="upstream")
    journal.connect("ws-1", 1)
    journal.send("ws-1", 1.1, {"action": "subscribe", "channel": "ticker:BTCUSDT"})
    journal.send("ws-1", 1.2, {"action": "subscribe", "channel": "portfolio"})
    journal.receive("ws-1", 1.3, {"type": "error", "code": "INVALID_CHANNEL", "message": "Invalid channel: ticker:BTCUSDT"})
    assert journal.judge("tradeready.protocol.no-client-errors").verdict == "pass"
    assert journal.judge("tradeready.contract.frames-match-asyncapi").verdict == "fail"


def test_an_error_frame_naming_nothing_the_client_sent_is_charged_to_its_last_frame() -> None:
    journal = Journal()
    journal.connect("ws-1", 1, subscribe=("ticker:BTCUSDT",))
    journal.send("ws-1", 2, {"action": "unsubscribe", "channel": "ticker:BTCUSDT"})
    journal.receive("ws-1", 2.1, {"type": "error", "code": "NOT_SUBSCRIBED", "message": "not subscribed"})
    (finding,) = journal.judge("tradeready.protocol.no-client-errors").findings
    assert "unsubscribe" in finding.message and "NOT_SUBSCRIBED" in finding.message
