"""LuckyLobster at x60, the reference on every scenario, each mutant where its defect shows.

Slower where a deadline is short: server errors at x30 (a 5 s Retry-After keeps 166 ms of real
time), the rate limit at x20 (a 5 s next_check_at is late after 2.5 s plus the 1 s tolerance: 175 ms;
at x60 it was 92 ms, and a client the loaded matrix held up 120 ms failed not-late).
"""

from __future__ import annotations

from . import Case, python

CASES = [
    Case("luckylobster/sleeping-overnight", python("luckylobster_agent.py"), 60),
    Case("luckylobster/action-needed", python("luckylobster_agent.py"), 60),
    Case("luckylobster/rate-limited", python("luckylobster_agent.py"), 20),
    Case("luckylobster/server-errors", python("luckylobster_agent.py"), 30),
    Case("luckylobster/key-revoked", python("luckylobster_agent.py"), 60),
    Case("luckylobster/short-nap", python("luckylobster_agent.py"), 60),
    Case(
        "luckylobster/action-needed",
        python("luckylobster_agent.py", "--defect", "early"),
        60,
        fails="luckylobster.heartbeat.honours-next-check-at",
    ),
    Case("luckylobster/action-needed", python("luckylobster_agent.py", "--defect", "late"), 60, fails="luckylobster.heartbeat.not-late"),
    Case(
        "luckylobster/action-needed",
        python("luckylobster_agent.py", "--defect", "ignores-redeem"),
        60,
        fails="luckylobster.heartbeat.acts-on-actions",
    ),
    Case(
        "luckylobster/short-nap",
        python("luckylobster_agent.py", "--defect", "sleepwalker"),
        60,
        fails="luckylobster.heartbeat.sleeps-outside-active-hours",
    ),
    Case(
        "luckylobster/short-nap",
        python("luckylobster_agent.py", "--defect", "oversleeps"),
        60,
        fails="luckylobster.heartbeat.wakes-on-time",
    ),
    Case(
        "luckylobster/rate-limited",
        python("luckylobster_agent.py", "--defect", "ignores-rate-limit"),
        20,
        fails="luckylobster.http.respects-rate-limit",
    ),
    Case(
        "luckylobster/server-errors",
        python("luckylobster_agent.py", "--defect", "retry-after-ignored"),
        30,
        fails="luckylobster.http.honours-retry-after",
    ),
    Case(
        "luckylobster/server-errors",
        python("luckylobster_agent.py", "--defect", "no-backoff"),
        30,
        fails="luckylobster.http.backs-off-on-5xx",
    ),
    Case("luckylobster/key-revoked", python("luckylobster_agent.py", "--defect", "storm"), 60, fails="luckylobster.http.no-retry-storm"),
    Case(
        "luckylobster/action-needed",
        python("luckylobster_agent.py", "--defect", "bad-request"),
        60,
        fails="luckylobster.contract.requests-match-openapi",
        duration="4m",
    ),
    Case(
        "luckylobster/action-needed",
        python("luckylobster_agent.py", "--defect", "client-error"),
        60,
        fails="luckylobster.protocol.no-client-errors",
        duration="4m",
    ),
]
