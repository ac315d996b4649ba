"""AI-Trader's heartbeat (and notify socket): the reference on every scenario, with and without its socket, and each mutant where its defect shows."""

from __future__ import annotations

from . import Case, python

CASES = [
    Case("aitrader/ws-drops-notifications", python("aitrader_agent.py"), 60),
    Case("aitrader/duplicate-delivery", python("aitrader_agent.py"), 60),
    Case("aitrader/duplicate-delivery", python("aitrader_agent.py", "--no-socket"), 60),
    Case("aitrader/message-burst", python("aitrader_agent.py"), 40),
    Case("aitrader/token-rotated", python("aitrader_agent.py"), 60),
    Case("aitrader/server-errors", python("aitrader_agent.py"), 30),
    Case("aitrader/ws-drops-notifications", python("aitrader_agent.py", "--defect", "fast"), 60, fails="aitrader.heartbeat.min-interval"),
    Case(
        "aitrader/duplicate-delivery", python("aitrader_agent.py", "--defect", "slow"), 60, fails="aitrader.heartbeat.recommended-cadence"
    ),
    Case(
        "aitrader/token-rotated",
        python("aitrader_agent.py", "--no-socket", "--defect", "very-slow"),
        60,
        fails="aitrader.heartbeat.max-interval",
    ),
    Case(
        "aitrader/ws-drops-notifications",
        python("aitrader_agent.py", "--defect", "socket-only"),
        60,
        fails="aitrader.heartbeat.primary-mechanism",
    ),
    Case("aitrader/message-burst", python("aitrader_agent.py", "--defect", "no-drain"), 40, fails="aitrader.heartbeat.drains-has-more"),
    Case(
        "aitrader/duplicate-delivery",
        python("aitrader_agent.py", "--defect", "double-process"),
        60,
        fails="aitrader.heartbeat.ignores-duplicates",
    ),
    Case("aitrader/token-rotated", python("aitrader_agent.py", "--defect", "keeps-token"), 60, fails="aitrader.auth.relogin-on-401"),
    Case(
        "aitrader/server-errors",
        python("aitrader_agent.py", "--defect", "retry-after-ignored"),
        30,
        fails="aitrader.http.honours-retry-after",
    ),
    Case("aitrader/server-errors", python("aitrader_agent.py", "--defect", "no-backoff"), 30, fails="aitrader.http.backs-off-on-5xx"),
    # the notify socket, and what every API is graded on: streams, the documents, client errors
    Case("aitrader/upstream-notify", python("aitrader_agent.py"), 60),
    Case("aitrader/upstream-fresh", python("aitrader_agent.py"), 60, duration="3m"),  # no agent yet: it registers one
    Case(
        "aitrader/upstream-notify", python("aitrader_agent.py", "--defect", "agent-prefix"), 60, fails="aitrader.notify.numeric-client-id"
    ),
    Case(
        "aitrader/ws-drops-notifications",
        python("aitrader_agent.py", "--defect", "no-close"),
        60,
        fails="aitrader.stream.closes-on-sigterm",
        duration="3m",
    ),
    Case(
        "aitrader/ws-drops-notifications",
        python("aitrader_agent.py", "--defect", "two-sockets"),
        60,
        fails="aitrader.stream.one-session",
        duration="3m",
    ),
    Case(
        "aitrader/ws-drops-notifications",
        python("aitrader_agent.py", "--defect", "bad-frame"),
        60,
        fails="aitrader.contract.frames-match-asyncapi",
        duration="3m",
    ),
    Case(
        "aitrader/upstream-notify",
        python("aitrader_agent.py", "--defect", "bad-request"),
        60,
        fails="aitrader.contract.requests-match-openapi",
        duration="3m",
    ),
    Case(
        "aitrader/ws-drops-notifications",
        python("aitrader_agent.py", "--defect", "client-error"),
        60,
        fails="aitrader.protocol.no-client-errors",
        duration="3m",
    ),
]
