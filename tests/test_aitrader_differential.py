"""The upstream profile against the public server's recorded answers (tests/differential).

The fixture holds what HKUDS/AI-Trader's server (commit 05cbc0e, SQLite, offline) answered to
the differential sequence: statuses, the headers the application adds, normalised bodies
(ids as symbols, tokens and times as their kind), WebSocket frames, and when each step
answered. The mock replays the same steps on ``aitrader/upstream-fresh`` with its manual clock
moved to each recorded instant; every difference must be one the known list explains (the
README's fidelity notes), and every entry of that list must still be needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MockFactory
from tests.differential.__main__ import mock_timeline
from tests.differential.compare import compare, known_reason, unused_known
from tests.differential.runner import run_sequence
from tests.differential.sequence import SEQUENCE

FIXTURE = Path(__file__).parent / "differential" / "upstream-05cbc0e.json"


@pytest.fixture(scope="module")
def recording() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(FIXTURE.read_text())
    return document


def test_the_recording_is_of_the_current_sequence(recording: dict[str, Any]) -> None:
    assert [entry["step"] for entry in recording["steps"]] == SEQUENCE, "sequence.py changed: record the real server again"
    assert recording["source"]["commit"] == "05cbc0e"


@pytest.mark.timeout(300)
def test_upstream_profile_answers_as_the_recorded_server(make_mock: MockFactory, recording: dict[str, Any]) -> None:
    mock = make_mock("aitrader/upstream-fresh")
    steps = [entry["step"] for entry in recording["steps"]]
    instants = [entry["at"] for entry in recording["steps"]]
    expected = [entry["answer"] for entry in recording["steps"]]
    _fraction, _at, answers = run_sequence(
        mock.url("aitrader"), steps, replay=(recording["start_fraction"], instants, mock_timeline(mock.advance)), recorded=expected
    )
    differences = compare(steps, expected, answers)
    unexplained = [str(d) for d in differences if known_reason(d) is None]
    assert not unexplained, f"{len(unexplained)} differences from the real server:\n" + "\n".join(unexplained[:40])
    assert not unused_known(differences), "known differences that no longer occur: remove them (and from the README)"
