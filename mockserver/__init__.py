"""agentfeed-mock: a scriptable fake of five trading-agent notification APIs.

The public API::

    from mockserver import load_builtin, ThreadedMockServer

    with ThreadedMockServer("luckylobster/action-needed", speed=0) as mock:
        mock.url("luckylobster")                  # http://127.0.0.1:<port>
        mock.advance("1m")                        # one virtual minute, scenario steps included
        mock.journal(kind="http.request")         # what the clients sent
        mock.wait_for(kind="ws.frame", direction="in", timeout=5)
"""

from .core import (
    ClockError,
    ControlError,
    Entry,
    Journal,
    JournalQuery,
    JournalWaitTimeout,
    MockServerError,
    ScenarioError,
    Scheduler,
    ServerError,
    VirtualClock,
    parse_duration,
)
from .scenario import Scenario, builtin_scenarios, load_builtin, load_scenario, resolve_scenario, scenario_from_yaml, scenario_schema

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # the server pulls in uvicorn and starlette: import it only when asked for
    if name in ("MockServer", "ThreadedMockServer"):
        from . import server

        return getattr(server, name)
    if name == "Runtime":  # the five domains (Faker among them): not needed to load or validate a scenario
        from .runtime import Runtime

        return Runtime
    if name == "MockControl":
        from .control.facade import MockControl

        return MockControl
    raise AttributeError(f"module 'mockserver' has no attribute {name!r}")


__all__ = [
    "ClockError",
    "ControlError",
    "Entry",
    "Journal",
    "JournalQuery",
    "JournalWaitTimeout",
    "MockControl",
    "MockServer",
    "MockServerError",
    "Runtime",
    "Scenario",
    "ScenarioError",
    "Scheduler",
    "ServerError",
    "ThreadedMockServer",
    "VirtualClock",
    "builtin_scenarios",
    "load_builtin",
    "load_scenario",
    "parse_duration",
    "resolve_scenario",
    "scenario_from_yaml",
    "scenario_schema",
]
