"""Cryptorobot (Feathers over Socket.IO): the Node and Python references on every scenario, each mutant where its defect shows.

All at x60 under time warp: the rules about time (reconnects, backoff, JWT expiry, retryAfter) are
judged on the clients' warped clocks, and no deadline falls below 100 ms of real time (the
shortest, a 10 s re-authentication window, is 167 ms). The Node client (the seed's language) has
a mutant for every rule; the Python client for the rules about time, whose code it has of its own
(its reconnection loop, re-authentication, the dead token), where the two clients differ most.
"""

from __future__ import annotations

from . import Case, node, python

NODE, PYTHON = "cryptorobot_agent.mjs", "cryptorobot_agent.py"
SCENARIOS = ("cryptorobot/live-trading", "cryptorobot/reconnect-reauth", "cryptorobot/jwt-expiry", "cryptorobot/plan-limit")
#: defect -> (the scenario that shows it, the one rule it breaks)
MUTANTS = {
    "calls-first": ("cryptorobot/live-trading", "cryptorobot.sio.authenticates-first"),
    "polls": ("cryptorobot/live-trading", "cryptorobot.events.no-polling"),
    "never-reauth": ("cryptorobot/reconnect-reauth", "cryptorobot.sio.reauthenticates-after-reconnect"),
    "no-reconnect": ("cryptorobot/reconnect-reauth", "cryptorobot.sio.reconnects"),
    "tight-loop": ("cryptorobot/reconnect-reauth", "cryptorobot.sio.reconnect-backoff"),
    "dead-jwt": ("cryptorobot/jwt-expiry", "cryptorobot.jwt.relogin-after-expiry"),
    "burst": ("cryptorobot/plan-limit", "cryptorobot.plan.respects-limits"),
    # the generic rules' Cryptorobot instances (the shortest scenario where each shows; two sessions need the Pro plan)
    "two-sessions": ("cryptorobot/live-trading", "cryptorobot.stream.one-session"),
    "no-close": ("cryptorobot/plan-limit", "cryptorobot.stream.closes-on-sigterm"),
    "get-missing": ("cryptorobot/plan-limit", "cryptorobot.protocol.no-client-errors"),
    "bad-frame": ("cryptorobot/plan-limit", "cryptorobot.contract.frames-match-asyncapi"),
    "bad-request": ("cryptorobot/plan-limit", "cryptorobot.contract.requests-match-openapi"),
}
PYTHON_MUTANTS = ("never-reauth", "tight-loop", "dead-jwt")

CASES = [
    *(Case(scenario, client(name), 60) for scenario in SCENARIOS for client, name in ((node, NODE), (python, PYTHON))),
    *(Case(scenario, node(NODE, "--defect", defect), 60, fails=rule_id) for defect, (scenario, rule_id) in MUTANTS.items()),
    *(Case(MUTANTS[defect][0], python(PYTHON, "--defect", defect), 60, fails=MUTANTS[defect][1]) for defect in PYTHON_MUTANTS),
]
