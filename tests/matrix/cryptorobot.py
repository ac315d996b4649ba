"""Cryptorobot (Feathers over Socket.IO): the Node and Python references on every scenario, each mutant where its defect shows.

All at x60 under time warp: the rules about time (reconnects, backoff, JWT expiry, retryAfter) are
judged on the clients' warped clocks, and no deadline falls below 100 ms of real time (the
shortest, a 10 s re-authentication window, is 167 ms).
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
}
#: the Python mutants run too where the defect lives in the Python client's own code (its reconnection loop, its
#: authentication, its limits); calling before authenticating and never reconnecting are one line there
PYTHON_MUTANTS = ("polls", "never-reauth", "tight-loop", "dead-jwt", "burst")

CASES = [
    *(Case(scenario, client(name), 60) for scenario in SCENARIOS for client, name in ((node, NODE), (python, PYTHON))),
    *(
        Case(scenario, client(name, "--defect", defect), 60, fails=rule_id)
        for defect, (scenario, rule_id) in MUTANTS.items()
        for client, name in ((node, NODE), (python, PYTHON))
        if client is node or defect in PYTHON_MUTANTS
    ),
]
