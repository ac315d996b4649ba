"""TradingPartners' SSE stream: the Python reference (httpx-sse) on every scenario, the Node one (eventsource) where the library acts, each mutant where its defect shows.

Most scenarios' faults hit the first frames or attempts of a connection (``times: N`` from 0s), so
a client that starts late on a loaded machine meets them all the same; where they fall at a fixed
time (``stream-drop-resume`` at 2m, ``silent-stream`` from 1m, ``token-expiry``'s 2-minute token),
the runs leave a late start (about a minute at x60 under the matrix's load) its margin. A run is
cut short (``duration``) where the rule is decided early. Node's mutants are the ones about time
and the library's own reconnecting; the rest are the same code in both languages.
"""

from __future__ import annotations

from . import Case, node, python

PY = "tradingpartners_agent.py"
JS = "tradingpartners_agent.mjs"
#: scenario -> how long its reference runs (None: the scenario's duration)
REFERENCE = {
    "alert-lifecycle": "4m",
    "credits-exhausted": "4m",
    "reconnect-storm": None,
    "silent-stream": "3m30s",
    "stream-drop-resume": None,
    "token-expiry": None,
    "duplicates-and-reordering": None,
    "retry-hint": None,
    "server-down": None,
}
NODE_REFERENCE = ("stream-drop-resume", "retry-hint", "reconnect-storm", "silent-stream")
#: defect -> (the scenario it shows in, how long it runs, the one rule it breaks)
MUTANTS = {
    "slow-reconnect": ("retry-hint", None, "tradingpartners.sse.reconnects-after-end"),
    "ignores-retry": ("retry-hint", None, "tradingpartners.sse.honours-retry"),
    "no-last-event-id": ("stream-drop-resume", "3m", "tradingpartners.sse.resumes-with-last-event-id"),
    "no-watchdog": ("silent-stream", "3m", "tradingpartners.sse.detects-missing-pings"),
    "no-backoff": ("server-down", None, "tradingpartners.sse.backs-off-on-refusal"),
    "retries-after-402": ("credits-exhausted", "4m", "tradingpartners.sse.stops-on-payment-required"),
    "keeps-token": ("token-expiry", None, "tradingpartners.auth.relogin-on-401"),
    "no-reorder-guard": ("duplicates-and-reordering", None, "tradingpartners.sse.lifecycle-order"),
    "double-process": ("duplicates-and-reordering", None, "tradingpartners.sse.ignores-duplicates"),
    # what every streaming API is graded on
    "no-close": ("alert-lifecycle", "3m", "tradingpartners.stream.closes-on-sigterm"),
    "two-sessions": ("alert-lifecycle", "3m", "tradingpartners.stream.one-session"),
    "bad-request": ("alert-lifecycle", "3m", "tradingpartners.contract.requests-match-openapi"),
    "client-error": ("alert-lifecycle", "3m", "tradingpartners.protocol.no-client-errors"),
}
NODE_MUTANTS = ("ignores-retry", "no-last-event-id", "no-watchdog", "no-backoff", "keeps-token", "no-reorder-guard")

CASES = [
    *(Case(f"tradingpartners/{scenario}", python(PY), 60, duration=duration) for scenario, duration in REFERENCE.items()),
    *(Case(f"tradingpartners/{scenario}", node(JS), 60, duration=REFERENCE[scenario]) for scenario in NODE_REFERENCE),
    *(
        Case(f"tradingpartners/{scenario}", python(PY, "--defect", defect), 60, fails=rule, duration=duration)
        for defect, (scenario, duration, rule) in MUTANTS.items()
    ),
    *(
        Case(
            f"tradingpartners/{MUTANTS[defect][0]}", node(JS, "--defect", defect), 60, fails=MUTANTS[defect][2], duration=MUTANTS[defect][1]
        )
        for defect in NODE_MUTANTS
    ),
]
