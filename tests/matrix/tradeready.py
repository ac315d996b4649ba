"""TradeReady's WebSocket at x30 under time warp (the 10 s pong deadline keeps 333 ms of real time, which a busy
2-core machine meets; the firehose at x1, where it is graded): the reference agent on every scenario (the upstream
one in the server's protocol), each mutant where its defect shows, for as long as it takes to show."""

from __future__ import annotations

from . import Case, python

AGENT = "tradeready_agent.py"
SPEED = 30


def mutant(scenario: str, defect: str, fails: str, duration: str | None = None, *flags: str) -> Case:
    return Case(f"tradeready/{scenario}", python(AGENT, *flags, "--defect", defect), SPEED, fails=f"tradeready.{fails}", duration=duration)


CASES = [
    Case("tradeready/ticker-stream", python(AGENT), SPEED, duration="2m"),
    Case("tradeready/drop-and-reconnect", python(AGENT), SPEED),
    Case("tradeready/stale-connection", python(AGENT), SPEED, duration="3m"),
    Case("tradeready/auth-revoked", python(AGENT), SPEED, duration="2m"),
    Case("tradeready/upstream-stream", python(AGENT), SPEED),
    Case("tradeready/all-pairs-firehose", python(AGENT, "--all-pairs"), 1, duration="20s"),
    mutant("ticker-stream", "no-pong", "ws.answers-pings", "2m"),
    mutant("ticker-stream", "no-subscribe", "ws.subscribes", "2m"),
    mutant("drop-and-reconnect", "first-channel-only", "ws.resubscribes", "2m"),
    mutant("drop-and-reconnect", "every-second", "ws.reconnects-with-backoff"),
    mutant("auth-revoked", "transient-403", "ws.stops-on-auth-failure", "2m"),
    mutant("stale-connection", "no-watchdog", "ws.detects-stale", "2m30s"),
    Case(
        "tradeready/all-pairs-firehose",
        python(AGENT, "--all-pairs", "--defect", "slow-reader"),
        1,
        fails="tradeready.ws.keeps-up",
        duration="20s",
    ),
    mutant("ticker-stream", "no-close", "stream.closes-on-sigterm", "2m"),
    mutant("ticker-stream", "two-sessions", "stream.one-session", "2m"),
    mutant("upstream-stream", "too-many-subscriptions", "protocol.no-client-errors", "2m"),
    mutant("ticker-stream", "bad-frame", "contract.frames-match-asyncapi", "2m"),
]
