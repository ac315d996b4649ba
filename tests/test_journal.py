"""The journal: sequence, times, queries, JSONL export, spilling instead of dropping."""

from __future__ import annotations

from pathlib import Path

from mockserver.core.journal import Journal, JournalQuery


def make(limit: int = 10) -> tuple[list[float], Journal]:
    now = [1000.0]
    journal = Journal(virtual_time=lambda: now[0], wall_time=lambda: 42.0, memory_limit=limit)
    return now, journal


def test_entries_carry_sequence_times_api_connection_and_direction() -> None:
    now, journal = make()
    first = journal.record("luckylobster", "http.request", {"path": "/x"}, conn="127.0.0.1:5", direction="in")
    now[0] += 1.5
    second = journal.record("mock", "scenario.step", {})
    assert (first.seq, second.seq) == (1, 2)
    assert (first.vtime, second.vtime, first.wall) == (1000.0, 1001.5, 42.0)
    assert first.to_dict()["vtime"] == "1970-01-01T00:16:40.000000Z"
    assert journal.query(JournalQuery(api="luckylobster"))[0].conn == "127.0.0.1:5"
    assert journal.count(JournalQuery(kind="http.")) == 1
    assert journal.count(JournalQuery(since_seq=1)) == 1


def test_record_many_stamps_one_time_and_consecutive_sequence_numbers() -> None:
    now, journal = make(limit=4)
    journal.record("a", "k", {"i": 0})
    now[0] += 2.0
    journal.record_many("tradingpartners", "sse.frame", [{"i": i} for i in range(1, 7)], conn="c", direction="out")
    entries = list(journal)
    assert [e.seq for e in entries] == list(range(1, 8))
    assert [e.data["i"] for e in entries] == list(range(7))
    assert {(e.vtime, e.wall, e.api, e.kind, e.conn, e.direction) for e in entries[1:]} == {
        (1002.0, 42.0, "tradingpartners", "sse.frame", "c", "out")
    }
    assert journal.in_memory <= 4 and journal.record("a", "k").seq == 8
    journal.close()


def test_memory_is_bounded_by_spilling_and_nothing_is_lost(tmp_path: Path) -> None:
    _, journal = make(limit=100)
    for i in range(1000):
        journal.record("a", "k", {"i": i})
    assert journal.in_memory <= 100
    assert journal.spilled >= 900
    assert [e.data["i"] for e in journal] == list(range(1000))
    assert [e.seq for e in journal.query(JournalQuery(since_seq=995))] == [996, 997, 998, 999, 1000]
    out = tmp_path / "journal.jsonl"
    assert journal.export_jsonl(out) == 1000
    loaded = Journal.load_jsonl(out)
    assert [e.seq for e in loaded] == list(range(1, 1001))
    journal.clear()
    assert len(journal) == 0 and journal.record("a", "k").seq == 1
    journal.close()
