"""The pytest plugin of agentfeed-mock: loaded by pytest (entry point ``pytest11``) wherever the package is installed.

Fixtures:

* ``agentfeed``: the mock for one test (:class:`mockserver.testing.Agentfeed`): every API on real
  sockets, reset and loaded with the test's scenario; ``url``, ``env``, ``advance``, ``emit``,
  ``fault``, ``journal``, ``wait_for``, ``assert_seen``, ``assert_not_seen``, ...
* ``agentfeed_server``: the session's :class:`~mockserver.server.ThreadedMockServer` (one per xdist
  worker), started when a test first asks for the mock.
* ``agentfeed_config``: how it is served (:class:`mockserver.testing.AgentfeedConfig`, from the ini
  options ``agentfeed_*``); override it in a conftest to configure in code.

Marker: ``@pytest.mark.agentfeed(scenario, *, speed=0, start=None, profiles=None, seed=None,
auto_threshold=None)``, on a test, a class or a module (``pytestmark``); the nearest wins, key by key.

A failed test's journal is written to ``<artifacts>/<test id>.jsonl`` (``--agentfeed-artifacts``,
default ``<pytest's basetemp>/agentfeed``) and its report names the file; an exception inside the
mock fails the test that was running, with the server-side traceback.

Nothing of the mock is imported until a test asks for it: pytest starts as fast with the plugin as without.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .server import ThreadedMockServer
    from .testing import Agentfeed, AgentfeedConfig

__all__ = ["agentfeed", "agentfeed_config", "agentfeed_server"]

_FEED = pytest.StashKey["Agentfeed"]()
_SERVER_ERRORS = pytest.StashKey[str]()

#: ini options: name (after ``agentfeed_``) and help
INI = {
    "scenario": "scenario of tests whose marker names none: a built-in id or a YAML file (default demo)",
    "speed": "clock of tests whose marker sets none: 0 (manual, the default), virtual seconds per real second, or auto",
    "auto_threshold": "real seconds of quiet before an auto clock jumps to its next timer (default 0.05)",
    "stall_timeout": "real seconds a request may wait on a manual clock nobody advances before the test fails (default 3; none: forever)",
    "wait_timeout": "real seconds agentfeed.wait_for waits by default (default 10)",
    "host": "address the session's mock listens on (default 127.0.0.1)",
    "base_port": "0: ephemeral ports (default); N: control on N, the APIs on N+1..N+5, xdist worker k on N+10k",
    "journal_limit": "journal entries kept in memory before the oldest spill to a temporary file (default 50000)",
    "artifacts": "directory for the journals of failed tests (default <pytest's basetemp>/agentfeed)",
    "log_level": "uvicorn's log level for the session's mock (default critical: exceptions inside it fail the test instead)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentfeed", "agentfeed-mock (the agentfeed fixture)")
    group.addoption(
        "--agentfeed-artifacts",
        metavar="DIR",
        default=None,
        help="write the journal of each failed test that used the agentfeed fixture to DIR/<test id>.jsonl",
    )
    for name, text in INI.items():
        parser.addini(f"agentfeed_{name}", text, default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "agentfeed(scenario=None, *, speed=0, start=None, profiles=None, seed=None, auto_threshold=None): the agentfeed "
        "mock's scenario (a built-in id, a YAML file, a mapping) and clock for a test; on a class or module, for each of its tests",
    )


def _worker(config: pytest.Config) -> int:
    """The pytest-xdist worker's number (gw3: 3), 0 without xdist."""
    workerid = str(getattr(config, "workerinput", {}).get("workerid", "gw0"))
    digits = "".join(c for c in workerid if c.isdigit())
    return int(digits) if digits else 0


@pytest.fixture(scope="session")
def agentfeed_config(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AgentfeedConfig:
    """How the session's mock is served, from the ini options (override this fixture to set it in code)."""
    from .testing import AgentfeedConfig, MarkerError

    config = request.config
    where = config.getoption("agentfeed_artifacts") or str(config.getini("agentfeed_artifacts") or "")
    if where:
        artifacts = Path(where)
        if not artifacts.is_absolute():
            artifacts = (config.invocation_params.dir if config.getoption("agentfeed_artifacts") else config.rootpath) / artifacts
    else:
        artifacts = tmp_path_factory.getbasetemp() / "agentfeed"
    try:
        return AgentfeedConfig.from_ini(lambda name: str(config.getini(name) or ""), artifacts=artifacts)
    except MarkerError as exc:
        pytest.fail(f"agentfeed: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def agentfeed_server(request: pytest.FixtureRequest, agentfeed_config: AgentfeedConfig) -> Iterator[ThreadedMockServer]:
    """The session's mock (one per xdist worker), started when a test first asks for it; each test resets it."""
    from .testing import session_server

    server = session_server(agentfeed_config, worker=_worker(request.config)).start()
    yield server
    server.stop()


@pytest.fixture
def agentfeed(
    request: pytest.FixtureRequest, agentfeed_server: ThreadedMockServer, agentfeed_config: AgentfeedConfig
) -> Iterator[Agentfeed]:
    """The mock for this test: the session's server, reset and loaded with the scenario of the test's marker."""
    from .core.errors import ScenarioError
    from .testing import Agentfeed, MarkerError, resolve_setup

    marks = [(mark.args, mark.kwargs) for mark in reversed(list(request.node.iter_markers("agentfeed")))]
    try:
        setup = resolve_setup(marks, agentfeed_config, test_dir=request.path.parent, test=request.node.name)
        feed = Agentfeed.begin(agentfeed_server, setup, agentfeed_config)
    except (MarkerError, ScenarioError) as exc:
        pytest.fail(f"agentfeed: {exc}", pytrace=False)
    request.node.stash[_FEED] = feed
    yield feed
    feed.check()  # an exception inside the mock after the test's body (while its fixtures ended)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, None]:
    """An exception inside the mock fails the test that was running, with the server-side traceback."""
    outcome = yield
    feed = item.stash.get(_FEED, None)
    if feed is None:
        return
    if outcome.excinfo is None:
        try:
            feed.check()
        except Exception as exc:  # the test's failure: the message and the server-side traceback, no frames of pytest's or ours
            failed = pytest.fail.Exception(f"{type(exc).__name__}: {exc}", pytrace=False)
            outcome.force_exception(failed)
    else:  # the test failed already (its client got a 500, say): the mock's side goes in the report
        text = feed.failures_text()
        if text:
            item.stash[_SERVER_ERRORS] = text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failed test's report says where its journal went, what failed inside the mock, and what still waited."""
    outcome = yield
    feed = item.stash.get(_FEED, None)
    report: pytest.TestReport = outcome.get_result()
    if feed is None or not report.failed or report.when == "setup":
        return
    parts = []
    errors = item.stash.get(_SERVER_ERRORS, "")
    if errors:
        parts.append("exceptions inside the mock during the test:\n" + errors)
    try:
        waiting = feed.waiting_text()
        if waiting:
            parts.append(waiting)
        if feed.config.artifacts is not None:
            path = feed.write_journal(feed.config.artifacts, item.nodeid)
            parts.append(f"the journal of this test (JSON Lines): {path}")
    except Exception as exc:  # the server is gone: say so, keep the test's own failure
        parts.append(f"the journal of this test could not be written: {type(exc).__name__}: {exc}")
    text = "\n".join(parts)
    addsection = getattr(report.longrepr, "addsection", None)  # an exception's report: after its traceback
    if callable(addsection):
        addsection("agentfeed", text)
    else:
        report.sections.append(("agentfeed", text))
