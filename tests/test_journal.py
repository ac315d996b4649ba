"""The journal: sequence, times, sessions and principals, JSON round trips, spilling instead of dropping, the strict check."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.core.catalogue import CATALOGUE, HTTP_REQUEST, SCENARIO_STEP, SSE_FRAME, HttpRequest, ScenarioStep, SseFrame
from mockserver.core.journal import Entry, Journal, JournalContractError, dumps_entry, loads_entry
from mockserver.core.query import JournalQuery
from mockserver.core.sessions import SessionTable


def make(limit: int = 10) -> tuple[list[float], Journal]:
    now = [1000.0]
    journal = Journal(virtual_time=lambda: now[0], wall_time=lambda: 42.0, memory_limit=limit, strict=True)
    return now, journal


def request(path: str = "/x") -> HttpRequest:
    return HttpRequest(method="GET", path=path, query="", headers={}, body="")


def step(i: int = 0) -> ScenarioStep:
    return ScenarioStep(action="note", step=i, run=1, args={"text": str(i)})


def test_entries_carry_sequence_times_api_connection_session_principal_and_direction() -> None:
    now, journal = make()
    sessions = SessionTable()
    session = sessions.open("luckylobster", "ws", "127.0.0.1:5", "key:bot")
    first = journal.record("luckylobster", HTTP_REQUEST, request(), conn="127.0.0.1:5", principal="key:bot")
    now[0] += 1.5
    second = journal.record("mock", SCENARIO_STEP, step())
    third = journal.record("luckylobster", SSE_FRAME, SseFrame(path="/s", text="x"), session=session)
    assert (first.seq, second.seq, third.seq) == (1, 2, 3)
    assert (first.vtime, second.vtime, first.wall) == (1000.0, 1001.5, 42.0)
    assert (first.direction, second.direction, third.direction) == ("in", "internal", "out"), "each kind's usual direction"
    assert (third.conn, third.session, third.principal) == ("127.0.0.1:5", "ws-1", "key:bot"), "a session brings its conn and principal"
    assert first.to_dict()["vtime"] == 1000.0, "vtime is virtual epoch seconds, in Python and in JSON alike"
    assert journal.query(JournalQuery(api="luckylobster"))[0].conn == "127.0.0.1:5"
    assert journal.count(JournalQuery(kind=("http.",))) == 1
    assert journal.count(JournalQuery(since_seq=1)) == 2
    assert journal.count(JournalQuery(session="ws-1")) == 1 and journal.count(JournalQuery(principal="key:bot")) == 2


def test_record_many_stamps_one_time_and_consecutive_sequence_numbers() -> None:
    now, journal = make(limit=4)
    journal.record("a", SCENARIO_STEP, step(0))
    now[0] += 2.0
    first = journal.record_many("tradingpartners", SSE_FRAME, [SseFrame(path="/s", text=str(i)) for i in range(1, 7)])
    entries = list(journal)
    assert first == 2 and [e.seq for e in entries] == list(range(1, 8))
    assert [e.data.get("text", "0") for e in entries] == [str(i) for i in range(7)]
    assert {(e.vtime, e.wall, e.api, e.kind, e.direction) for e in entries[1:]} == {(1002.0, 42.0, "tradingpartners", "sse.frame", "out")}
    assert journal.in_memory <= 4 and journal.record("a", SCENARIO_STEP, step()).seq == 8
    journal.close()


def test_memory_is_bounded_by_spilling_and_nothing_is_lost(tmp_path: Path) -> None:
    _, journal = make(limit=100)
    for i in range(1000):
        journal.record("a", SCENARIO_STEP, step(i))
    assert journal.in_memory <= 100
    assert journal.spilled >= 900
    assert [e.data["step"] for e in journal] == list(range(1000))
    assert [e.seq for e in journal.query(JournalQuery(since_seq=995))] == [996, 997, 998, 999, 1000]
    assert [e.seq for e in journal.since(10)][:2] == [11, 12], "entries after a spilled seq are read back from the spill"
    out = tmp_path / "journal.jsonl"
    assert journal.export_jsonl(out) == 1000
    loaded = Journal.load_jsonl(out)
    assert [e.seq for e in loaded] == list(range(1, 1001))
    journal.clear()
    assert len(journal) == 0 and journal.record("a", SCENARIO_STEP, step()).seq == 1
    journal.close()


def test_the_spill_file_is_unlinked_while_in_use() -> None:
    _, journal = make(limit=2)
    for i in range(10):
        journal.record("a", SCENARIO_STEP, step(i))
    assert journal.spilled > 0
    spill = journal._spill
    assert spill is not None
    assert os.fstat(spill.fileno()).st_nlink == 0, "no name on disk: the file goes with the process, even a killed one"
    journal.close()


def test_the_strict_check_refuses_undeclared_fields_and_wrong_directions() -> None:
    _, journal = make()
    with pytest.raises(JournalContractError, match="not declared"):
        journal.record("a", HTTP_REQUEST, {**request(), "bogus": 1})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(JournalContractError, match="required"):
        journal.record("a", HTTP_REQUEST, {"method": "GET"})  # type: ignore[typeddict-item]
    with pytest.raises(JournalContractError, match="direction"):
        journal.record("a", HTTP_REQUEST, request(), direction="out")
    assert len(journal) == 0, "a refused entry is not recorded"


def test_every_entry_serialises_whatever_a_client_sent() -> None:
    _, journal = make()
    huge = journal.record("a", SCENARIO_STEP, ScenarioStep(action="note", step=0, run=1, args={"skip": 10**21, "n": math.nan}))
    line = dumps_entry(huge)
    decoded = json.loads(line)
    assert decoded["data"]["args"] == {"skip": 10**21, "n": None}, "integers beyond 64 bits kept, NaN as null: valid JSON"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(1, 2**40),
    vtime=st.floats(31_536_000.0, 253_000_000_000.0, allow_nan=False),
    wall=st.floats(0, 4e9, allow_nan=False),
    kind=st.sampled_from(sorted(CATALOGUE)),
    direction=st.sampled_from(["in", "out", "internal"]),
    conn=st.none() | st.text(max_size=30),
    session=st.none() | st.text(max_size=10),
    principal=st.none() | st.text(max_size=30),
    data=st.dictionaries(st.text(max_size=12), _JSON, max_size=6),
)
def test_an_entry_round_trips_through_json_exactly(
    seq: int,
    vtime: float,
    wall: float,
    kind: str,
    direction: Any,
    conn: str | None,
    session: str | None,
    principal: str | None,
    data: dict[str, Any],
) -> None:
    entry = Entry(seq, vtime, wall, "api", kind, direction, conn, session, principal, data)
    line = dumps_entry(entry)
    assert loads_entry(line) == entry
    assert dumps_entry(loads_entry(line)) == line


def deepest_json() -> Any:
    """A client's JSON nested as deep as this interpreter's parser takes it (a Socket.IO payload, say)."""
    for depth in range(1000, 0, -10):
        try:
            return json.loads("[" * depth + "]" * depth)
        except RecursionError:
            continue
    raise AssertionError("no depth parses")


def test_a_value_nested_as_deep_as_the_parser_allows_is_spilled_and_exported_without_losing_an_entry() -> None:
    """make fuzz found it: pickling the spill batch raised RecursionError inside the request that triggered it, and the
    batch, already out of memory, was lost; exporting the entry as JSON raised too."""
    _, journal = make(limit=4)
    deep = deepest_json()
    for i in range(12):
        journal.record("cryptorobot", SCENARIO_STEP, ScenarioStep(action="note", step=i, run=1, args={"deep": deep}))
    entries = list(journal)
    assert [e.seq for e in entries] == list(range(1, 13))
    kept = entries[0].data["args"]["deep"]
    assert kept == deep or "levels deep: cut here" in json.dumps(kept)  # exact, or cut only past the recursion limit
    line = json.loads(dumps_entry(entries[-1]))
    assert line["seq"] == 12 and "levels deep: cut here" in json.dumps(line["data"])
    journal.close()
