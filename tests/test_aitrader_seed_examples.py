"""Interop: the seed's aiohttp polling loop and websockets listener, run against the mock, receive what the scenario sent."""

from __future__ import annotations

import asyncio
import importlib
import types
from typing import Any

import pytest

from tests.conftest import MockFactory
from tests.documents_check import checked_make_mock
from tests.helpers import wait_until

make_mock = checked_make_mock("aitrader", clients=True)  # the seed's own client: its requests and frames too

SCENARIO = """
id: t/seed-examples
description: a reply, a follower and a copied trade, one a minute, and a task
seed: 5
clock: {start: "2026-03-09T12:00:00Z"}
apis:
  aitrader:
    profile: documented
    state: {agents: [{id: 123, name: seed-bot, password: pw, token: claw_xxx_seed_example_000000000000}]}
timeline:
  - {at: 30s, emit: {api: aitrader, event: reply}}
  - {at: 90s, emit: {api: aitrader, event: follow}}
  - {at: 150s, emit: {api: aitrader, event: trade_copied}}
  - {at: 150s, emit: {api: aitrader, event: task, data: {type: analyze_market}}}
"""


def test_seed_examples_print_what_the_scenario_sent(
    make_mock: MockFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mock = make_mock(yaml=SCENARIO)
    monkeypatch.setenv("AITRADER_BASE_URL", mock.url("aitrader"))
    monkeypatch.setenv("AITRADER_TOKEN", "claw_xxx_seed_example_000000000000")
    monkeypatch.setenv("AITRADER_AGENT_ID", "123")
    seed = importlib.reload(importlib.import_module("fixtures.clients.aitrader_seed"))
    polls = 0
    printed: list[str] = []

    def received() -> int:
        """How many frames the listener has printed so far (what it printed is kept for the assertions)."""
        printed.extend(capsys.readouterr().out.splitlines())
        return sum(1 for line in printed if line.startswith("Received: "))

    async def virtual_sleep(seconds: float) -> None:
        """The loop's asyncio.sleep(60): sixty seconds of the mock's clock, then the listener prints what was pushed."""
        nonlocal polls
        polls += 1
        if polls > 4:
            raise asyncio.CancelledError
        await asyncio.to_thread(mock.advance, seconds)
        pushed = len(await asyncio.to_thread(mock.journal, kind="ws.push", api="aitrader"))
        await wait_until(lambda: received() >= pushed, what=f"the listener to print the {pushed} frames pushed")  # real time: I/O

    seed.asyncio = types.SimpleNamespace(sleep=virtual_sleep)

    async def main() -> None:
        listener = asyncio.create_task(seed.listen())
        await asyncio.to_thread(mock.wait_for, kind="ws.accept", api="aitrader")  # the listener connects before the first poll
        with pytest.raises(asyncio.CancelledError):
            await seed.heartbeat()
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener

    asyncio.run(main())
    received()
    out = printed
    # what the scenario made, from the domain's own store (independent of the wire the client read it from)
    messages: list[Any] = mock.call(lambda: mock.runtime.apis["aitrader"].messages)
    titles = {m.frame_extra.get("title") for m in messages if m.type == "new_reply"}
    follower = next(m.data["follower_name"] for m in messages if m.type == "new_follower")
    trade = next(m.data["trade"] for m in messages if m.type == "trade_copied")
    assert [line for line in out if line.startswith("New message: ")] == [f"New message: {m.type} - {m.content}" for m in messages]
    assert "New task: analyze_market" in out
    assert [line for line in out if line.startswith("Received: ")] == [
        "Received: new_reply",
        "Received: new_follower",
        "Received: trade_copied",
    ]
    assert f"New reply to: {titles.pop()}" in out
    assert f"New follower: {follower}" in out
    assert f"Trade copied: {trade}" in out
    assert not [line for line in out if line.startswith("Error")]
