"""Shared fixtures: a mock on real sockets (uvicorn, port 0) in a background thread."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator

import httpx
import pytest

from mockserver import ThreadedMockServer, load_builtin, scenario_from_yaml
from mockserver.scenario.model import Scenario


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: object, ids: list[str]) -> None:
    """Under pytest-xdist, refuse tests that share a node id: xdist schedules by node id, so all but one of them
    would never run, silently (schemathesis gives every operation of a schema test the same id: make test runs
    tests/test_fuzz_openapi.py without xdist for that reason)."""
    shared = sorted(nodeid for nodeid, count in collections.Counter(ids).items() if count > 1)
    if shared:
        pytest.exit(
            f"tests that share a node id would not all run under xdist (run them without -n): {', '.join(shared[:5])}", returncode=4
        )


MockFactory = Callable[..., ThreadedMockServer]

# every entry any test makes the mock record is checked against the journal catalogue (kind, direction, fields);
# set here, before any server starts, so servers started as subprocesses check too
os.environ["AGENTFEED_JOURNAL_STRICT"] = "1"


@pytest.fixture
def make_mock() -> Iterator[MockFactory]:
    """``make_mock("luckylobster/rate-limited", speed=0)`` or ``make_mock(yaml=...)``: started, stopped after the test."""
    started: list[ThreadedMockServer] = []

    def factory(scenario_id: str | None = None, *, yaml: str | None = None, **options: object) -> ThreadedMockServer:
        scenario: Scenario = scenario_from_yaml(yaml) if yaml is not None else load_builtin(scenario_id or "demo")
        options.setdefault("speed", 0)
        mock = ThreadedMockServer(scenario, **options).start()
        started.append(mock)
        return mock

    yield factory
    for mock in started:
        mock.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client
