"""``serve --journal-file``: every entry as JSON Lines as it happens; a SIGKILL leaves whole lines and loses nothing
older than 100 ms. The journal's spill file never outlives the process, killed or not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator

from mockserver import ThreadedMockServer, load_builtin
from mockserver.core.catalogue import journal_schema
from mockserver.core.journal import Entry, Journal

#: the promise: nothing recorded more than this long before a kill is missing from the file
PROMISE = 0.1


@pytest.fixture
def killable(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str], Path, Path]]:
    spill, journal, env_file = tmp_path / "spill", tmp_path / "journal.jsonl", tmp_path / "mock.env"
    spill.mkdir()
    command = [sys.executable, "-m", "mockserver", "serve", "--quiet", "--scenario", "luckylobster/action-needed", "--speed", "0"]
    command += ["--base-port", "0", "--journal-limit", "100", "--journal-file", str(journal), "--env-file", str(env_file)]
    # the journal spills past 100 entries to a temporary file in TMPDIR: here, to see what it leaves behind
    proc = subprocess.Popen(command, env={**os.environ, "TMPDIR": str(spill)}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not env_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env_file.exists(), proc.stderr.read().decode() if proc.stderr else "no env file"
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    yield proc, env, journal, spill
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    if proc.stderr is not None:
        proc.stderr.close()


def _spill_files(pid: int) -> list[str]:
    """The spill files the process holds open (an unlinked file shows as '... (deleted)')."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if "spill" in target:
            found.append(target)
    return found


def test_after_sigkill_every_line_parses_and_nothing_older_than_100ms_is_missing(
    killable: tuple[subprocess.Popen[bytes], dict[str, str], Path, Path],
) -> None:
    proc, env, journal, spill = killable
    answered: dict[int, float] = {}  # request number -> when its answer arrived (every entry of it was recorded before)
    key = {"Authorization": f"Bearer {env['LUCKYLOBSTER_API_KEY']}"}
    with httpx.Client(timeout=10) as client:
        ends = time.monotonic() + 1.5
        n = 0
        while time.monotonic() < ends:
            n += 1
            assert client.get(f"{env['LUCKYLOBSTER_BASE_URL']}/heartbeat", params={"n": n}, headers=key).status_code in (200, 429)
            answered[n] = time.time()
        held = _spill_files(proc.pid)
        assert held and all(target.endswith("(deleted)") for target in held), held  # spilled, and never visible
        assert os.listdir(spill) == []
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    assert os.listdir(spill) == [], "a spill file outlived its process"
    raw = journal.read_bytes()
    assert raw.endswith(b"\n"), "the last line was cut"
    entries = [Entry.from_dict(json.loads(line)) for line in raw.splitlines()]
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1)), "every entry in order, none missing in between"
    validator = Draft202012Validator(journal_schema())
    assert not [error.message for line in raw.splitlines()[:50] for error in validator.iter_errors(json.loads(line))]
    written = {int(e.data["query"].removeprefix("n=")) for e in entries if e.kind == "http.request" and e.data["query"]}
    due = {n for n, at in answered.items() if at < killed_at - PROMISE}
    assert due and due <= written, f"answered more than 100 ms before the kill but not in the file: {sorted(due - written)[:10]}"


def test_the_file_follows_the_journal_through_a_reset_and_holds_all_of_it_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with ThreadedMockServer(load_builtin("luckylobster/action-needed"), speed=0, journal_file=path) as mock:
        mock.advance("10m")
        mock.reset()  # the journal starts again at seq 1: so does the file
        mock.advance("5m")
        expected = [e.to_dict() for e in mock.journal()]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == expected and lines[0]["seq"] == 1 and lines[0]["kind"] == "scenario.loaded"


def test_a_spill_file_is_never_visible_in_its_directory(tmp_path: Path) -> None:
    journal = Journal(virtual_time=lambda: 0.0, memory_limit=4, spill_dir=str(tmp_path))
    from mockserver.core.catalogue import SCENARIO_STEP, ScenarioStep

    for run in range(20):
        journal.record("mock", SCENARIO_STEP, ScenarioStep(action="note", step=1, run=run, args={}))
    assert journal.spilled > 0 and os.listdir(tmp_path) == []
    assert [e.data["run"] for e in journal] == list(range(20))
    journal.close()
