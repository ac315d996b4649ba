"""Testing an agent with the mock: what the pytest plugin (:mod:`mockserver.pytest_plugin`) is made of.

``Agentfeed`` is the ``agentfeed`` fixture: the session's server, reset and loaded with one test's
scenario. Usable without pytest too::

    from mockserver import ThreadedMockServer
    from mockserver.testing import Agentfeed, AgentfeedConfig, resolve_setup

    with ThreadedMockServer() as server:
        feed = Agentfeed.begin(server, resolve_setup([((), {"scenario": "luckylobster/action-needed"})], AgentfeedConfig()))
        feed.advance("5m")
"""

from .handle import Agentfeed, Fault, session_server
from .options import MARKER_ARGS, AgentfeedConfig, AgentfeedSetup, MarkerError, Speed, parse_speed, resolve_setup

__all__ = [
    "MARKER_ARGS",
    "Agentfeed",
    "AgentfeedConfig",
    "AgentfeedSetup",
    "Fault",
    "MarkerError",
    "Speed",
    "parse_speed",
    "resolve_setup",
    "session_server",
]
