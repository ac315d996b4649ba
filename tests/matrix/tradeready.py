"""TradeReady's WebSocket at x60 under time warp (the firehose at x1, where it is graded): the reference agent on every
scenario (the upstream one in the server's protocol), each mutant where its defect shows."""

from __future__ import annotations

from . import Case, python

AGENT = "tradeready_agent.py"

CASES = [
    Case("tradeready/ticker-stream", python(AGENT), 60),
    Case("tradeready/drop-and-reconnect", python(AGENT), 60),
    Case("tradeready/stale-connection", python(AGENT), 60),
    Case("tradeready/auth-revoked", python(AGENT), 60, duration="3m"),
    Case("tradeready/upstream-stream", python(AGENT, "--protocol", "upstream"), 60),
    Case("tradeready/all-pairs-firehose", python(AGENT, "--all-pairs"), 1),
    Case("tradeready/ticker-stream", python(AGENT, "--defect", "no-pong"), 60, fails="tradeready.ws.answers-pings"),
    Case("tradeready/ticker-stream", python(AGENT, "--defect", "no-subscribe"), 60, fails="tradeready.ws.subscribes"),
    Case("tradeready/drop-and-reconnect", python(AGENT, "--defect", "first-channel-only"), 60, fails="tradeready.ws.resubscribes"),
    Case("tradeready/drop-and-reconnect", python(AGENT, "--defect", "every-second"), 60, fails="tradeready.ws.reconnects-with-backoff"),
    Case(
        "tradeready/auth-revoked",
        python(AGENT, "--defect", "transient-403"),
        60,
        fails="tradeready.ws.stops-on-auth-failure",
        duration="3m",
    ),
    Case("tradeready/stale-connection", python(AGENT, "--defect", "no-watchdog"), 60, fails="tradeready.ws.detects-stale"),
    Case("tradeready/all-pairs-firehose", python(AGENT, "--all-pairs", "--defect", "slow-reader"), 1, fails="tradeready.ws.keeps-up"),
    Case("tradeready/ticker-stream", python(AGENT, "--defect", "no-close"), 60, fails="tradeready.stream.closes-on-sigterm"),
    Case("tradeready/ticker-stream", python(AGENT, "--defect", "two-sessions"), 60, fails="tradeready.stream.one-session"),
    Case(
        "tradeready/upstream-stream",
        python(AGENT, "--protocol", "upstream", "--defect", "too-many-subscriptions"),
        60,
        fails="tradeready.protocol.no-client-errors",
    ),
    Case(
        "tradeready/ticker-stream",
        python(AGENT, "--defect", "bad-frame"),
        60,
        fails="tradeready.contract.frames-match-asyncapi",
    ),
]
