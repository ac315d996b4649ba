"""Run a client (any command) against a scenario on the mock, in warped time, and grade what it did.

For each scenario: the mock starts in-process on ephemeral ports with its clock paused at the
scenario's start; the client is spawned in its own process group with the client environment
(plus ``MOCK_OBSERVE``), under time warp when asked (its faked clock starting at the same
instant), and the mock's clock starts at that moment, so neither side gains a head start. The
run lasts the scenario's ``duration`` (or ``--duration``); then the client is stopped (SIGTERM,
SIGKILL after a grace), its lines to ``MOCK_OBSERVE`` are folded into the journal
(``observe.event``), ``run.started``/``run.ended`` bracket it, the journal and the client's
output are saved under ``OUT/<scenario>/``, and every rule of the scenario's APIs is judged.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mockserver.apis.registry import API_NAMES
from mockserver.core.catalogue import (
    OBSERVE_EVENT,
    OBSERVE_INVALID,
    RUN_ENDED,
    RUN_STARTED,
    Kind,
    ObserveEvent,
    ObserveInvalid,
    RunEnded,
    RunStarted,
)
from mockserver.core.clock import format_instant
from mockserver.core.journal import Entry
from mockserver.scenario.model import Scenario
from mockserver.server import ThreadedMockServer

from .evidence import Evidence
from .model import RuleResult, ScenarioResult
from .registry import RULES, judge
from .warp import Warp, WarpError, default_mode, prepare

__all__ = ["ClientCouldNotRun", "RunConfig", "default_duration", "judge_journal", "observation", "run_scenario"]

#: Real seconds between SIGTERM and SIGKILL when the run's time is up.
GRACE = 5.0
#: Real seconds between reads of the observation file and checks of the clock.
POLL = 0.02


class ClientCouldNotRun(Exception):
    """The client never ran (its command is missing, or it failed before it connected to any API)."""


@dataclass(frozen=True)
class RunConfig:
    command: tuple[str, ...]
    #: virtual seconds per real second (None: the scenario's; a manual scenario runs at 1)
    speed: float | None = None
    #: ``faketime`` or ``none`` (None: faketime unless the speed is 1)
    warp: str | None = None
    #: virtual seconds (None: the scenario's ``duration``, else :func:`default_duration`)
    duration: float | None = None
    out: Path = Path("conformance-out")
    #: rule id -> parameter overrides (the command line's ``--param``)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    grace: float = GRACE
    cwd: Path | None = None
    #: called with one line of progress (the CLI's live line); the runner prints nothing itself
    progress: Callable[[str], None] | None = None
    #: one of several scenarios (``--all``, a glob): an API the client never reached is not graded, so a client of
    #: one API can run every scenario; a single scenario grades every API it serves
    skip_unreached: bool = False


def default_duration(scenario: Scenario) -> float:
    """A scenario without ``duration``: two virtual minutes past its last step, at least five minutes."""
    last = max((step.at for step in scenario.timeline), default=0.0)
    return max(300.0, last + 120.0)


def _slug(scenario_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", scenario_id)


class _Observer:
    """Folds the client's ``MOCK_OBSERVE`` lines into the journal as they arrive (virtual time of arrival)."""

    def __init__(self, mock: ThreadedMockServer, path: Path) -> None:
        self.mock = mock
        self.path = path
        self.offset = 0
        self.partial = b""

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return
        self.offset += len(chunk)
        data = self.partial + chunk
        *lines, self.partial = data.split(b"\n")
        for raw in lines:
            if raw.strip():
                self._fold(raw.decode("utf-8", "replace"))

    def _fold(self, text: str) -> None:
        api, kind, data = observation(text)
        self.mock.call(lambda: self.mock.control.record(api, kind, data))


def observation(text: str) -> tuple[str, Kind[Any], Any]:
    """One ``MOCK_OBSERVE`` line as (api, kind, data) to journal: ``observe.event``, or ``observe.invalid`` with the reason."""
    try:
        line = json.loads(text)
        if not isinstance(line, dict) or not isinstance(line.get("api"), str) or not isinstance(line.get("kind"), str):
            raise ValueError('expected a JSON object with "api" and "kind" (strings)')
        if line["api"] not in API_NAMES:
            raise ValueError(f"unknown api {line['api']!r}; one of: {', '.join(API_NAMES)}")
    except ValueError as exc:
        return "mock", OBSERVE_INVALID, ObserveInvalid(line=text[:1000], error=str(exc))
    event = ObserveEvent(api=line["api"], kind=line["kind"], line=line)
    if "id" in line:
        event["id"] = line["id"]
    return line["api"], OBSERVE_EVENT, event


def reached(entries: Sequence[Entry]) -> set[str]:
    """The APIs the client reached (a request, a handshake, even a refused connection)."""
    return {e.api for e in entries if e.conn is not None and e.kind in ("http.request", "ws.connect", "conn.refused", "http.invalid")}


def _connected(entries: Sequence[Entry]) -> bool:
    return bool(reached(entries))


#: the reason of a rule not graded because its API was never reached (``RunConfig.skip_unreached``)
UNREACHED = "the client never reached {api}: in a run of several scenarios, an API a client does not use is not graded"


def never_reached(result: ScenarioResult) -> bool:
    """Was every rule of this scenario left ungraded because the client reached none of its APIs?"""
    return bool(result.rules) and all(
        r.verdict == "not-applicable" and r.reason.startswith("the client never reached") for r in result.rules
    )


def grade(evidence: Evidence, params: Mapping[str, Mapping[str, Any]], *, skip_unreached: bool) -> list[RuleResult]:
    """The verdicts of a run (live or from a saved journal: the same function, so both agree)."""
    results = judge(evidence, overrides=params)
    if not skip_unreached:
        return results
    used = reached(evidence.entries)
    return [
        r if RULES[r.id].api in used else replace(r, verdict="not-applicable", findings=(), reason=UNREACHED.format(api=RULES[r.id].api))
        for r in results
    ]


def _stop(process: subprocess.Popen[bytes], grace: float) -> str:
    """End the client's process group: SIGTERM, then SIGKILL after ``grace`` real seconds; how it ended."""
    if process.poll() is not None:
        return "exited"
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return "exited"
    try:
        process.wait(grace)
        return "terminated"
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "killed"


def run_scenario(scenario: Scenario, config: RunConfig) -> ScenarioResult:
    """Run ``config.command`` against ``scenario`` and grade it; raises WarpError or ClientCouldNotRun."""
    speed = config.speed if config.speed is not None else (scenario.clock.speed or 1.0)
    if speed <= 0:
        raise WarpError("a client runs on a moving clock: give --speed above 0")
    mode = config.warp or default_mode(speed)
    duration = config.duration if config.duration is not None else scenario.duration or default_duration(scenario)
    out = config.out / _slug(scenario.id)
    out.mkdir(parents=True, exist_ok=True)
    observe = out / "observe.jsonl"
    observe.write_bytes(b"")
    progress = config.progress or (lambda line: None)
    with ThreadedMockServer(scenario, speed=0) as mock:  # paused at the start until the client is spawned
        start = mock.clock()["start_epoch"]
        warp = Warp.at(start, speed, mode)  # type: ignore[arg-type]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MOCK_", "FAKETIME"))},
            **mock.env,
            "MOCK_SPEED": f"{speed:g}",
            "MOCK_CLOCK_START": format_instant(start),
            "MOCK_OBSERVE": str(observe.resolve()),
        }
        launch = prepare(warp, config.command, env, cwd=config.cwd)
        observer = _Observer(mock, observe)
        with open(out / "client.out", "wb") as stdout, open(out / "client.err", "wb") as stderr:
            try:
                process = subprocess.Popen(
                    launch.argv, env=dict(launch.env), cwd=config.cwd, stdout=stdout, stderr=stderr, start_new_session=True
                )
            except OSError as exc:
                raise ClientCouldNotRun(f"{config.command[0]}: {exc.strerror or exc}") from None
            mock.set_speed(speed)  # the clock starts now, as the client's faked clock does
            started = RunStarted(
                scenario=scenario.id,
                command=list(config.command),
                speed=speed,
                warp=mode,
                duration=duration,
                params=_plain(config.params),
                pid=process.pid,
            )
            if config.skip_unreached:
                started["skip_unreached"] = True
            mock.call(lambda: mock.control.record("mock", RUN_STARTED, started))
            end = start + duration
            stopped_at: float | None = None
            try:
                while process.poll() is None:
                    now = mock.now()
                    if now >= end:
                        break
                    observer.poll()
                    progress(f"{scenario.id}: {format_instant(now)[11:19]} ({(now - start) / duration:4.0%})")
                    time.sleep(POLL)
                stopped_at = mock.now() if process.poll() is None else None
                how = _stop(process, config.grace)
            finally:
                if process.poll() is None:
                    _stop(process, 0)
                launch.cleanup(process.pid)
            observer.poll()
            status = process.returncode
            ended = RunEnded(exit_status=status if how == "exited" else None, how=how)  # type: ignore[typeddict-item]
            if stopped_at is not None and how != "exited":
                ended["stopped_at"] = stopped_at
            mock.call(lambda: mock.control.record("mock", RUN_ENDED, ended))
        mock.set_speed(0)
        entries = mock.journal()
        mock.export(out / "journal.jsonl")
    if how == "exited" and status != 0 and not _connected(entries):
        err = (out / "client.err").read_text(errors="replace").strip().splitlines()[-3:]
        raise ClientCouldNotRun(f"the client exited {status} before it connected to any API: {' / '.join(err) or 'no output'}")
    results = grade(Evidence(entries), config.params, skip_unreached=config.skip_unreached)
    return ScenarioResult(
        id=scenario.id,
        speed=speed,
        warp=mode,
        client_exit=status if how == "exited" else None,
        journal=str(out / "journal.jsonl"),
        rules=tuple(results),
        start=start,
        duration=duration,
    )


def _plain(params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {rule_id: dict(values) for rule_id, values in params.items()}


def judge_journal(path: Path, *, params: Mapping[str, Mapping[str, Any]] | None = None) -> ScenarioResult:
    """Grade a saved journal offline: the same verdicts as the live run."""
    from mockserver.core.journal import Journal

    entries = Journal.load_jsonl(path)
    evidence = Evidence(entries)
    started = evidence.run
    ended = next((e for e in entries if e.kind == "run.ended"), None)
    saved = dict(started.get("params") or {})
    results = grade(evidence, {**saved, **dict(params or {})}, skip_unreached=bool(started.get("skip_unreached")))
    return ScenarioResult(
        id=str(started.get("scenario") or evidence.loaded.get("id") or path.stem),
        speed=evidence.speed,
        warp=str(started.get("warp", "none")),
        client_exit=ended.data.get("exit_status") if ended is not None else None,
        journal=str(path),
        rules=tuple(results),
        start=evidence.start,
        duration=started.get("duration"),
    )
