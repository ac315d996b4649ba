"""TradingPartners' rules on journals written entry by entry: the edges the mutant matrix does not reach.

The matrix (tests/matrix/tradingpartners.py) proves each rule on real runs; here each case is a few
entries shaped as the mock journals them (stream attempts, their sessions, frames and ends, logins,
the run's end), so one condition at a time can be set: a retry before Retry-After, a login that
excuses one quick retry, a login that hands out the refused token again, a client that closed its
silent stream and never came back, a client that exited, a frame in flight when the client left.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import conformance.rules  # noqa: F401  (registers every rule)
from conformance.evidence import Evidence
from conformance.model import RuleResult
from conformance.registry import RULES, run_rule
from mockserver.core.journal import Entry

START = 1_711_569_000.0
USER = "user:t@example.com"


def jwt(exp: float, salt: str = "") -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"sub": "t@example.com", "exp": exp, "salt": salt}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{claims}.sig"


class Journal:
    """Entries in the mock's shapes, at virtual seconds after START."""

    def __init__(self, speed: float = 1.0, options: dict[str, Any] | None = None) -> None:
        self.entries: list[Entry] = []
        self.sessions = 0
        opts = {"client": USER, "ping_interval": 15.0, **(options or {})}
        self.add(
            0, "scenario.loaded", {"id": "t", "start": START, "apis": ["tradingpartners"], "options": {"tradingpartners": opts}}, api="mock"
        )
        self.add(0, "run.started", {"scenario": "t", "command": ["x"], "speed": speed, "warp": "none", "duration": 600.0}, api="mock")

    def add(self, t: float, kind: str, data: dict[str, Any], *, api: str = "tradingpartners", **fields: Any) -> int:
        seq = len(self.entries) + 1
        entry = Entry(
            seq, START + t, 0.0, api, kind, fields.get("direction", "internal"), None, fields.get("session"), fields.get("principal"), data
        )
        self.entries.append(entry)
        return seq

    def attempt(
        self,
        t: float,
        status: int = 200,
        *,
        token: str = "tok",
        headers: dict[str, str] | None = None,
        answer: dict[str, Any] | None = None,
    ) -> str | None:
        """GET /api/v1/alerts; 200 opens a session (its id is returned)."""
        head = {"authorization": f"Bearer {token}", **(headers or {})}
        request = self.add(
            t, "http.request", {"method": "GET", "path": "/api/v1/alerts", "query": "", "headers": head, "body": ""}, principal=USER
        )
        if status != 200:
            data = {"request": request, "path": "/api/v1/alerts", "status": status, "outcome": "error", **(answer or {})}
            self.add(t + 0.01, "http.response", data, principal=USER, direction="out")
            return None
        self.sessions += 1
        session = f"sse-{self.sessions}"
        data = {"request": request, "path": "/api/v1/alerts", "status": 200, "outcome": "stream"}
        self.add(t + 0.01, "http.response", data, session=session, principal=USER, direction="out")
        return session

    def frame(self, t: float, session: str, text: str) -> None:
        self.add(t, "sse.frame", {"path": "/api/v1/alerts", "text": text}, session=session, principal=USER, direction="out")

    def end(self, t: float, session: str, by: str) -> None:
        self.add(
            t, "sse.end", {"path": "/api/v1/alerts", "by": by}, session=session, principal=USER, direction="in" if by == "client" else "out"
        )

    def login(self, t: float, token: str) -> None:
        request = self.add(
            t,
            "http.request",
            {"method": "POST", "path": "/api/v1/users/login", "query": "", "headers": {}, "body": '{"email": "t@example.com"}'},
        )
        body = json.dumps({"accessToken": token, "tokenType": "bearer", "expiresIn": 86400})
        self.add(
            t + 0.01,
            "http.response",
            {"request": request, "path": "/api/v1/users/login", "status": 200, "outcome": "answered", "body": body},
        )

    def finish(self, t: float, how: str = "terminated", *, stopped_at: float | None = None) -> None:
        data: dict[str, Any] = {"exit_status": 0 if how == "exited" else None, "how": how}
        if stopped_at is not None:
            data["stopped_at"] = START + stopped_at
        self.add(t, "run.ended", data, api="mock")

    def judge(self, rule_id: str) -> RuleResult:
        spec = RULES[rule_id]
        return run_rule(spec, Evidence(self.entries), dict(spec.params), targeted=False)


def verdict(result: RuleResult) -> tuple[str, list[str]]:
    return result.verdict, [f.message for f in result.findings]


def test_a_retry_before_retry_after_fails_and_one_after_it_passes() -> None:
    found = {}
    for wait in (1.0, 6.0):
        journal = Journal()
        journal.attempt(10, 503, answer={"headers": {"retry-after": "5"}})
        journal.attempt(10.01 + wait)
        journal.finish(60)
        found[wait] = verdict(journal.judge("tradingpartners.sse.backs-off-on-refusal"))
    assert found[6.0] == ("pass", [])
    assert found[1.0] == (
        "fail",
        [f"{USER}'s attempt at 19:50:10.000 was refused (503, Retry-After: 5); it tried again at 19:50:11.010, 4.0 s early"],
    )


def test_one_quick_retry_after_logging_in_again_is_excused_but_not_a_second() -> None:
    journal = Journal()
    journal.attempt(10, 401, token="old")
    journal.login(10.2, "new")
    journal.attempt(10.3, 401, token="new")  # logged in and tried at once: right
    journal.attempt(13.0)  # backed off 2.7 s: at least 1.5 s was due for the second gap
    journal.finish(60)
    assert journal.judge("tradingpartners.sse.backs-off-on-refusal").verdict == "pass"

    storm = Journal()
    storm.attempt(10, 401, token="old")
    storm.login(10.2, "new")
    storm.attempt(10.3, 401, token="new")
    storm.login(10.4, "newer")
    storm.attempt(10.5, 401, token="newer")  # a second quick retry after a login is not excused
    storm.finish(60)
    found = verdict(storm.judge("tradingpartners.sse.backs-off-on-refusal"))
    assert found[0] == "fail" and "the 2nd refusal in a row" in found[1][0], found


def test_a_login_that_hands_out_the_refused_token_again_makes_it_usable() -> None:
    journal = Journal()
    journal.attempt(10, 401, token="same")
    journal.login(10.5, "same")  # the mock's JWT has no jti: a login in the same second gives the same token
    journal.attempt(11, token="same")
    journal.finish(60)
    assert journal.judge("tradingpartners.auth.relogin-on-401").verdict == "pass"

    kept = Journal()
    kept.attempt(10, 401, token="same")
    kept.attempt(12, 401, token="same")
    kept.login(13, "fresh")
    kept.finish(60)
    found = verdict(kept.judge("tradingpartners.auth.relogin-on-401"))
    assert found[0] == "fail" and found[1] == [
        f"{USER} went on with the token refused at 19:50:10.010: 1 more request with it, the first at 19:50:12.000 (GET /api/v1/alerts)"
    ]


def test_a_token_that_expired_during_the_run_is_judged_even_without_a_401() -> None:
    journal = Journal()
    journal.attempt(10, token=jwt(START + 100))
    journal.finish(300)
    assert journal.judge("tradingpartners.auth.relogin-on-401").verdict == "pass"
    unexpired = Journal()
    unexpired.attempt(10, token=jwt(START + 86400))
    unexpired.finish(300)
    assert unexpired.judge("tradingpartners.auth.relogin-on-401").verdict == "not-applicable"


def test_closing_a_silent_stream_in_time_but_never_reconnecting_fails() -> None:
    found = {}
    for reconnect in (True, False):
        journal = Journal()
        session = journal.attempt(10)
        assert session is not None
        journal.frame(25, session, 'event: ping\ndata: {"ping":"x"}\n\n')
        journal.end(62, session, "client")  # 37 s without a frame: closed before 3 pings were missed
        if reconnect:
            again = journal.attempt(65)
            assert again is not None
            for t in range(80, 200, 15):
                journal.frame(t, again, 'event: ping\ndata: {"ping":"x"}\n\n')
        journal.finish(200)
        found[reconnect] = verdict(journal.judge("tradingpartners.sse.detects-missing-pings"))
    assert found[True] == ("pass", [])
    assert found[False] == (
        "fail",
        [
            f"{USER} closed its stream sse-1 at 19:51:02.000, 37.0 s after its last frame, and opened a new one never (by 19:51:33.000 expected)"
        ],
    )


def test_a_stream_closed_on_the_stop_signal_owes_no_reconnect_however_late_the_client_exits() -> None:
    """At x60 a client's half second to exit after SIGTERM is half a virtual minute: its shutdown close of a quiet stream
    (the runner stopped it at 200 s, run.ended at 240 s) is no watchdog close that a reconnect must follow (a matrix flake)."""
    journal = Journal(speed=60)
    session = journal.attempt(10)
    assert session is not None
    for t in range(12, 163, 15):
        journal.frame(t, session, 'event: ping\ndata: {"ping":"x"}\n\n')
    journal.end(200.5, session, "client")  # 38.5 s after its last frame, on SIGTERM
    journal.finish(240, stopped_at=200)
    assert journal.judge("tradingpartners.sse.detects-missing-pings").verdict == "pass"


def test_a_client_that_exits_by_itself_never_tries_again() -> None:
    journal = Journal()
    journal.attempt(10, 502)
    journal.finish(11, how="exited")
    found = verdict(journal.judge("tradingpartners.sse.reconnects-after-end"))
    assert found[0] == "fail" and "it tried again never" in found[1][0], found

    stopped = Journal()
    stopped.attempt(10, 502)
    stopped.finish(11)  # the runner stopped it a second later: nothing to say yet
    assert stopped.judge("tradingpartners.sse.reconnects-after-end").verdict == "not-applicable"


def test_an_id_sent_a_moment_before_the_client_left_need_not_be_the_one_it_resumes_from() -> None:
    journal = Journal(options={"event_ids": True})
    session = journal.attempt(10)
    assert session is not None
    journal.frame(20, session, 'event: working\nid: 1\ndata: {"id": 7}\n\n')
    journal.frame(40, session, 'event: onGoing\nid: 2\ndata: {"id": 7}\n\n')
    journal.frame(40.2, session, 'event: closed\nid: 3\ndata: {"id": 7}\n\n')  # in flight as the client closed
    journal.end(40.3, session, "client")
    journal.attempt(45, headers={"last-event-id": "2"})
    journal.attempt(50, 503, headers={"last-event-id": "1"})
    journal.finish(60)
    found = verdict(journal.judge("tradingpartners.sse.resumes-with-last-event-id"))
    assert found == (
        "fail",
        [
            f"{USER} opened the stream again at 19:50:50.000 with Last-Event-ID: 1; the last event id it had received was 3 (at 19:50:40.200)"
        ],
    )


def test_after_the_streams_402_any_attempt_fails_the_stop_rule() -> None:
    journal = Journal()
    session = journal.attempt(10)
    assert session is not None
    journal.frame(30, session, 'event: error\ndata: {"code": 30, "message": "payment required"}\n\n')
    journal.end(30.1, session, "server")
    journal.attempt(33, 402)
    journal.finish(60)
    found = verdict(journal.judge("tradingpartners.sse.stops-on-payment-required"))
    assert found[0] == "fail" and "tried to open the stream 1 more time, first at 19:50:33.000 (answered 402" in found[1][0]
    # and the stream the credits ended is no stream the client was due to reopen
    assert journal.judge("tradingpartners.sse.reconnects-after-end").verdict == "not-applicable"
