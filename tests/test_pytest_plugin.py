"""The pytest plugin, as its users meet it: generated projects with no conftest, run by pytest in a subprocess
(pytester); their outcomes and output (near misses, the journal's file, the server-side traceback), markers at
module, class and test level, ini options, pytest-xdist with two workers, pytest-asyncio and anyio."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
    ignore::DeprecationWarning:websockets.*
    ignore::DeprecationWarning:uvicorn.*
{extra}
"""

HELPERS = """
import httpx


def heartbeat(agentfeed, expect=200):
    env = agentfeed.env
    response = httpx.get(
        env["LUCKYLOBSTER_BASE_URL"] + "/heartbeat",
        headers={"Authorization": "Bearer " + env["LUCKYLOBSTER_API_KEY"]},
        timeout=10,
        trust_env=False,
    )
    assert response.status_code == expect, response.text
    return response
"""


def run(pytester: pytest.Pytester, *args: str, ini: str = "", **files: str) -> pytest.RunResult:
    pytester.makeini(INI.format(extra=ini))
    pytester.makepyfile(helpers=HELPERS, **files)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=240)


def section(output: str, test: str) -> str:
    """One failed test's part of the FAILURES section."""
    match = re.search(rf"_{{3,}} {re.escape(test)} _{{3,}}\n(.*?)(?=\n_{{3,}} |\n=+ )", output, re.S)
    assert match, f"no failure section for {test} in:\n{output}"
    return match.group(1)


def test_without_a_conftest_tests_pass_and_failures_name_the_closest_entries_and_their_journal(pytester: pytest.Pytester) -> None:
    tests = """
import pytest
import websockets.sync.client
from helpers import heartbeat

pytestmark = pytest.mark.agentfeed("luckylobster/action-needed")


def test_a_manual_clock_moves_when_told(agentfeed):
    first = heartbeat(agentfeed).json()["data"]["timestamp"]
    assert heartbeat(agentfeed).json()["data"]["timestamp"] == first
    agentfeed.advance("5m")
    assert heartbeat(agentfeed).json()["data"]["timestamp"] != first and agentfeed.elapsed() == 300
    agentfeed.assert_seen(kind="http.request", api="luckylobster", count=3)
    assert agentfeed.assert_seen(kind="http.response", status=500, count=0) == []
    agentfeed.assert_not_seen(kind="http.", status=500)


def test_a_fault_stops_with_its_block(agentfeed):
    with agentfeed.fault(kind="error", api="luckylobster", status=503) as fault:
        heartbeat(agentfeed, expect=503)
    assert not fault.active and fault.applied == 1
    heartbeat(agentfeed)
    agentfeed.assert_faults_applied()


def test_a_request_never_made(agentfeed):
    heartbeat(agentfeed)
    agentfeed.assert_seen(kind="http.request", api="luckylobster", path="/api/agent/v1/settlements")


def test_a_request_too_late(agentfeed):
    heartbeat(agentfeed)
    first = agentfeed.journal(kind="http.request")[-1]
    agentfeed.advance("2m")
    heartbeat(agentfeed)
    agentfeed.assert_seen(kind="http.request", after=first, within="1m")


def test_an_answer_that_should_not_be(agentfeed):
    heartbeat(agentfeed)
    agentfeed.assert_not_seen(kind="http.response", status=200)


@pytest.mark.agentfeed("tradeready/ticker-stream")
def test_a_frame_the_client_never_sent(agentfeed):
    env = agentfeed.env
    with websockets.sync.client.connect(f"{env['TRADEREADY_WS_URL']}/ws/v1?api_key={env['TRADEREADY_API_KEY']}") as socket:
        socket.send('{"action": "subscribe", "channel": "ticker:BTCUSDT"}')
        agentfeed.wait_for(kind="ws.frame", direction="in")
    agentfeed.assert_seen(kind="ws.frame", direction="in", contains="unsubscribe")
"""
    result = run(pytester, "-v", test_agent=tests)
    result.assert_outcomes(passed=2, failed=4)
    out = result.stdout.str()
    never = section(out, "test_a_request_never_made")
    assert "agentfeed: expected an entry matching: kind=http.request api=luckylobster path=/api/agent/v1/settlements; 0 matched." in never
    assert "The closest entries (near misses):" in never
    assert "differs in path: expected '/api/agent/v1/settlements', got '/api/agent/v1/heartbeat'" in never
    late = section(out, "test_a_request_too_late")
    assert "The window: 60 s of virtual time after #" in late and "differs in before: expected '2026-" in late
    should_not = section(out, "test_an_answer_that_should_not_be")
    assert "expected no entry matching: kind=http.response status=200; 1 matched:" in should_not
    frame = section(out, "test_a_frame_the_client_never_sent")
    assert "contains=unsubscribe; 0 matched" in frame and "tradeready ws.frame in" in frame and '"action": "subscribe"' in frame
    artefacts = re.findall(r"the journal of this test \(JSON Lines\): (\S+\.jsonl)", out)
    assert len(artefacts) == 4, "one journal per failed test, none for the passed ones"
    for test in ("test_a_request_never_made", "test_a_request_too_late", "test_an_answer_that_should_not_be"):
        path = next(Path(p) for p in artefacts if p.endswith(f"test_agent.py__{test}.jsonl"))
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert lines[0]["kind"] == "scenario.loaded" and lines[0]["data"]["id"] == "luckylobster/action-needed"
        assert any(line["kind"] == "http.request" for line in lines), "the test's own journal, from its start"
    assert "AssertionError" in out and "TypeError" not in out and "AttributeError" not in out


def test_an_exception_inside_the_mock_fails_the_test_that_caused_it_with_the_server_side_traceback(pytester: pytest.Pytester) -> None:
    tests = """
import pytest
from helpers import heartbeat

BROKEN = {
    "clock": {"start": "2026-02-06T12:00:00Z"},
    "timeline": [{"at": "1m", "emit": {"api": "aitrader", "event": "message", "data": {"agent": 99}}}],
}


@pytest.mark.agentfeed(BROKEN)
def test_a_scenario_step_that_raises(agentfeed):
    agentfeed.advance("2m")


@pytest.mark.agentfeed("luckylobster/action-needed")
def test_a_handler_bug_the_test_did_not_notice(agentfeed, monkeypatch):
    domain = agentfeed.server.call(lambda: agentfeed.server.runtime.apis["luckylobster"])

    def broken_heartbeat(key, now):
        return 1 / 0

    monkeypatch.setattr(domain, "heartbeat", broken_heartbeat)
    heartbeat(agentfeed, expect=500)


@pytest.mark.agentfeed("luckylobster/action-needed")
def test_a_latency_on_a_manual_clock_nobody_advances(agentfeed):
    agentfeed.fault(kind="latency", api="luckylobster", delay=60)
    heartbeat(agentfeed)


@pytest.mark.agentfeed("luckylobster/action-needed")
def test_the_next_test_starts_clean(agentfeed):
    heartbeat(agentfeed)
    assert [e.kind for e in agentfeed.journal(kind="server.")] == []
"""
    result = run(pytester, "-v", ini="agentfeed_stall_timeout = 0.5", test_errors=tests)
    result.assert_outcomes(passed=1, failed=3)
    out = result.stdout.str()
    step = section(out, "test_a_scenario_step_that_raises")
    assert "ServerError: inside the mock (timer emit aitrader.message" in step and "no aitrader agent 99" in step
    assert "server-side traceback:" in step and "_run_step" in step
    handler = section(out, "test_a_handler_bug_the_test_did_not_notice")
    assert "ServerError: inside the mock (handler luckylobster GET /api/agent/v1/heartbeat" in handler
    assert "ZeroDivisionError" in handler and "broken_heartbeat" in handler
    stall = section(out, "test_a_latency_on_a_manual_clock_nobody_advances")
    assert "luckylobster request #" in stall and "(latency fault, 60 s) waited 0.5 s (real) on the manual clock" in stall
    assert out.count("the journal of this test (JSON Lines)") == 3


def test_markers_at_module_class_and_test_level_and_ini_defaults(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios")
    pytester.path.joinpath("scenarios", "mine.yaml").write_text(
        "id: mine/quiet\ndescription: Mine.\nclock: {start: '2026-02-06T12:00:00Z', speed: 1}\ntimeline: [{at: 1m, note: hello}]\n"
    )
    layered = """
import pytest

pytestmark = pytest.mark.agentfeed(scenario="tradeready/ticker-stream", seed=7)


def loaded(agentfeed):
    return agentfeed.journal(kind="scenario.loaded")[0].data


def test_the_module_marker_and_the_ini_speed(agentfeed):
    data = loaded(agentfeed)
    assert data["id"] == "tradeready/ticker-stream" and data["seed"] == 7
    assert data["speed"] == 0 and agentfeed.clock()["auto_advance"] == 0.05, "agentfeed_speed = auto"


class TestLayers:
    pytestmark = pytest.mark.agentfeed(speed=0)

    def test_the_class_marker(self, agentfeed):
        assert loaded(agentfeed)["id"] == "tradeready/ticker-stream" and agentfeed.clock()["auto_advance"] is None

    @pytest.mark.agentfeed(speed=2, start="2030-01-01T00:00:00Z", profiles={"aitrader": "upstream"})
    def test_the_nearest_marker_wins_key_by_key(self, agentfeed):
        data = loaded(agentfeed)
        assert data["speed"] == 2 and data["seed"] == 7 and data["profiles"]["aitrader"] == "upstream"
        assert agentfeed.clock()["start"] == "2030-01-01T00:00:00.000Z"


@pytest.mark.agentfeed("scenarios/mine.yaml", speed=0)
def test_a_file_beside_the_test(agentfeed):
    agentfeed.advance("1m")
    agentfeed.assert_seen(kind="scenario.step", args={"text": "hello"})


@pytest.mark.agentfeed({"timeline": [{"at": "30s", "note": "inline"}]}, speed=0)
def test_an_inline_mapping(agentfeed):
    assert agentfeed.scenario.id == "inline/test_an_inline_mapping"
    agentfeed.advance(30)
    agentfeed.assert_seen(kind="scenario.step", args={"text": "inline"})


@pytest.mark.agentfeed(sped=0)
def test_a_misspelt_argument(agentfeed):
    pass
"""
    other = """
def test_no_marker_here_the_ini_scenario(agentfeed):
    assert agentfeed.scenario.id == "luckylobster/action-needed"
"""
    ini = "agentfeed_speed = auto\nagentfeed_scenario = luckylobster/action-needed\nagentfeed_journal_limit = 1000"
    result = run(pytester, "-v", ini=ini, test_layered=layered, test_other=other)
    result.assert_outcomes(passed=6, errors=1)
    out = result.stdout.str()
    assert "agentfeed: agentfeed marker: unknown argument 'sped'; it takes scenario, speed, start, profiles, seed, auto_threshold" in out


def test_two_xdist_workers_each_serve_their_own_session_mock(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests = """
import os
import pytest
from helpers import heartbeat

pytestmark = pytest.mark.agentfeed("luckylobster/action-needed")


@pytest.mark.parametrize("n", range(6))
def test_each_test_has_its_own_journal(agentfeed, n):
    heartbeat(agentfeed)
    agentfeed.assert_seen(kind="http.request", count=1)
    with open(os.environ["SEEN"], "a") as out:
        out.write(f"{os.environ['PYTEST_XDIST_WORKER']} {agentfeed.port('luckylobster')}\\n")


def test_a_failure_on_a_worker(agentfeed):
    agentfeed.assert_seen(kind="ws.frame")
"""
    seen = tmp_path / "seen.txt"
    artefacts = tmp_path / "journals"
    monkeypatch.setenv("SEEN", str(seen))
    result = run(pytester, "-n", "2", f"--agentfeed-artifacts={artefacts}", test_workers=tests)
    result.assert_outcomes(passed=6, failed=1)
    rows = [line.split() for line in seen.read_text().splitlines()]
    workers = {worker: {port for w, port in rows if w == worker} for worker, _ in rows}
    assert len(workers) == 2, f"both workers ran tests: {rows}"
    assert all(len(ports) == 1 for ports in workers.values()), "one server per worker, reset per test"
    assert len({next(iter(ports)) for ports in workers.values()}) == 2, "each worker its own server"
    assert [p.name for p in artefacts.iterdir()] == ["test_workers.py__test_a_failure_on_a_worker.jsonl"]


CLIENT_IN_THE_LOOP = """
import asyncio
import httpx
import pytest


async def the_test(agentfeed):
    agentfeed.fault(kind="latency", api="luckylobster", delay=30)
    env = agentfeed.env
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        # the client runs on the test's own event loop; the latency holds its answer until the clock moves
        answer = asyncio.create_task(
            client.get(env["LUCKYLOBSTER_BASE_URL"] + "/heartbeat", headers={"Authorization": "Bearer " + env["LUCKYLOBSTER_API_KEY"]})
        )
        await agentfeed.wait_for_async(kind="http.request", api="luckylobster")
        agentfeed.advance("30s")
        assert (await answer).status_code == 200
    with pytest.raises(RuntimeError, match="use `await agentfeed.wait_for_async"):
        agentfeed.wait_for(kind="http.response")
"""


def test_async_tests_in_pytest_asyncio_strict_mode_and_anyio_with_the_config_fixture_overridden(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest
from mockserver.testing import AgentfeedConfig


@pytest.fixture(scope="session")
def agentfeed_config():
    return AgentfeedConfig(scenario="luckylobster/action-needed", wait_timeout=5, artifacts=None)
"""
    )
    tests = (
        CLIENT_IN_THE_LOOP
        + """
@pytest.mark.asyncio
async def test_pytest_asyncio_strict(agentfeed):
    await the_test(agentfeed)


@pytest.mark.anyio
async def test_anyio(agentfeed):
    await the_test(agentfeed)
"""
    )
    result = run(pytester, "-v", ini="asyncio_mode = strict", test_async=tests)
    result.assert_outcomes(passed=2)


def test_async_tests_in_pytest_asyncio_auto_mode(pytester: pytest.Pytester) -> None:
    tests = (
        CLIENT_IN_THE_LOOP
        + """
pytestmark = pytest.mark.agentfeed("luckylobster/action-needed")


async def test_pytest_asyncio_auto(agentfeed):
    await the_test(agentfeed)
"""
    )
    result = run(pytester, "-v", ini="asyncio_mode = auto", test_async=tests)
    result.assert_outcomes(passed=1)


def test_judge_grades_the_test_journal_with_the_conformance_rules(pytester: pytest.Pytester) -> None:
    tests = """
import pytest
from conformance import Violation
from helpers import heartbeat

pytestmark = pytest.mark.agentfeed("luckylobster/action-needed")


def poll_at_next_check(agentfeed, times):
    for _ in range(times):
        beat = heartbeat(agentfeed).json()["data"]["heartbeat"]
        agentfeed.advance_to(beat["next_check_at"])


def test_a_client_that_waits_for_next_check_at(agentfeed):
    poll_at_next_check(agentfeed, 3)
    results = agentfeed.judge("luckylobster.heartbeat.honours-next-check-at", "luckylobster.http.*")
    verdicts = {r.id: r.verdict for r in results}
    assert verdicts["luckylobster.heartbeat.honours-next-check-at"] == "pass"
    assert set(verdicts) == {"luckylobster.heartbeat.honours-next-check-at", "luckylobster.http.respects-rate-limit",
                             "luckylobster.http.honours-retry-after", "luckylobster.http.backs-off-on-5xx", "luckylobster.http.no-retry-storm"}


def test_a_client_that_polls_at_once(agentfeed):
    heartbeat(agentfeed)
    heartbeat(agentfeed)
    agentfeed.judge("luckylobster.heartbeat.*")


def test_a_rule_with_nothing_to_judge_fails_when_asked_to_be_exercised(agentfeed):
    heartbeat(agentfeed)
    with pytest.raises(Violation, match="wakes-on-time"):
        agentfeed.judge("luckylobster.heartbeat.wakes-on-time", exercised=True)
    agentfeed.judge("luckylobster.heartbeat.wakes-on-time")  # not-applicable: no failure by default


def test_a_pattern_that_names_no_rule(agentfeed):
    agentfeed.judge("luckylobster.heartbeat.nosuch")
"""
    result = run(pytester, test_judged=tests)
    result.assert_outcomes(passed=2, failed=2)
    output = result.stdout.str()
    early = section(output, "test_a_client_that_polls_at_once")
    assert "luckylobster.heartbeat.honours-next-check-at (must): fail" in early
    assert "before next_check_at" in early and "(journal seq " in early
    assert "no rule matches 'luckylobster.heartbeat.nosuch'" in section(output, "test_a_pattern_that_names_no_rule")
