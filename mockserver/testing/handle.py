"""``Agentfeed``: the mock as one test sees it (the ``agentfeed`` fixture), and the faults it starts.

A thin layer over :class:`~mockserver.server.ThreadedMockServer` (the façade's methods from any
thread): the session's server, reset and loaded with the test's scenario; plus assertions on the
journal whose failures list the closest entries and how each differs. No pytest here.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from ..control.facade import Duration, Instant, duration_seconds
from ..core.clock import ClockError, format_instant
from ..core.errors import JournalWaitTimeout, MockServerError
from ..core.journal import Entry
from ..core.query import JournalQuery, describe_entry, explain_miss
from ..faults.model import FaultSpec
from ..scenario.model import Scenario
from ..server import ThreadedMockServer
from .options import AgentfeedConfig, AgentfeedSetup, Speed, resolve_setup

__all__ = ["Agentfeed", "Fault", "session_server"]

#: entries listed at most when a failure lists what matched
LISTED = 10
#: what the mock raises on purpose: shown from the test's line, without the façade's frames
SURFACED = (MockServerError, JournalWaitTimeout, ClockError)

P = ParamSpec("P")
R = TypeVar("R")


def _surfaced(method: Callable[P, R]) -> Callable[P, R]:
    """Raise the mock's own errors (a server-side exception, a bad filter, a failed wait) from the test's call, not
    from deep in the façade: the failure shows the test's line and the message (with the server-side traceback)."""

    @functools.wraps(method)
    def surfaced(*args: P.args, **kwargs: P.kwargs) -> R:
        __tracebackhide__ = True
        try:
            return method(*args, **kwargs)
        except SURFACED as exc:
            raise exc.with_traceback(None) from None

    return surfaced


def _running_loop() -> str | None:
    """The async library running an event loop in this thread, if any."""
    try:
        asyncio.get_running_loop()
        return "asyncio"
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
            return "trio"
        except RuntimeError:
            pass
    return None


class Fault:
    """A fault this test started: active until ``stop()``, the end of a ``with`` block, its own end, or the test's."""

    def __init__(self, feed: Agentfeed, spec: FaultSpec) -> None:
        self._feed = feed
        self.spec = spec
        self.id = spec.id

    def __repr__(self) -> str:
        return f"<Fault {self.id} {self.spec.kind} on {self.spec.api}>"

    @property
    def active(self) -> bool:
        return any(f["spec"]["id"] == self.id for f in self._feed.faults())

    @property
    def applied(self) -> int:
        """How often it hit (its ``fault.applied`` entries since it started)."""
        return len(self._feed.journal(kind="fault.applied", fault=self.id))

    def stop(self) -> None:
        """Stop it now (nothing happens if it already ended)."""
        if self.active:
            self._feed.server.stop_fault(self.id)

    def __enter__(self) -> Fault:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class Agentfeed:
    """The mock for one test: every API on real sockets, one virtual clock, the journal of this test.

    Journal filters (``journal``, ``wait_for``, ``assert_seen``, ``assert_not_seen``) are the journal
    query's: ``kind`` (one kind, several, or a family such as ``"http."``), ``api``, ``direction``,
    ``session``, ``conn``, ``principal``, ``fault``, ``path``, ``since``/``until`` (sequence numbers),
    ``after``/``before`` (virtual instants, or an :class:`Entry`: after it in the journal), ``contains``,
    and any data field (``status=503``, ``code=1012``).
    """

    def __init__(self, server: ThreadedMockServer, setup: AgentfeedSetup, config: AgentfeedConfig | None = None) -> None:
        self.server = server
        self.setup = setup
        self.config = config or AgentfeedConfig()

    @classmethod
    def begin(cls, server: ThreadedMockServer, setup: AgentfeedSetup, config: AgentfeedConfig | None = None) -> Agentfeed:
        """Reset a running server for a test: end what the last test left connected, load the scenario, set the clock."""

        async def prepare() -> None:  # one hand-over to the server's loop: a test's setup costs a reset, little more
            if server.server.open_connections():
                await server.server.drop_connections()
            server.control.load(setup.scenario)
            if setup.speed == "auto":
                server.control.set_auto_advance(setup.auto_threshold)

        server.run(prepare())
        return cls(server, setup, config)

    def __repr__(self) -> str:
        return f"<Agentfeed scenario {self.setup.scenario.id!r} speed {self.setup.speed}>"

    # -- where it listens ---------------------------------------------------------------------------------------
    @_surfaced
    def url(self, api: str) -> str:
        """The base URL of an API (``http://127.0.0.1:<port>``) or of ``control``."""
        return self.server.url(api)

    @property
    def urls(self) -> dict[str, str]:
        return self.server.urls()

    @_surfaced
    def port(self, api: str) -> int:
        return self.server.port(api)

    @property
    @_surfaced
    def env(self) -> dict[str, str]:
        """The client-under-test environment (DECISIONS D6: base URLs, credentials, the clock), for a subprocess."""
        return self.server.env

    @_surfaced
    def credentials(self) -> dict[str, list[dict[str, Any]]]:
        return self.server.credentials()

    # -- the scenario and the clock -----------------------------------------------------------------------
    @property
    def scenario(self) -> Scenario:
        """The test's scenario, with the marker's overrides."""
        return self.setup.scenario

    @_surfaced
    def reset(self) -> None:
        """Start the test's scenario again (clock, state, faults, journal)."""
        Agentfeed.begin(self.server, self.setup, self.config)

    @_surfaced
    def state(self) -> dict[str, Any]:
        return self.server.call(self.server.control.state)

    @_surfaced
    def advance(self, duration: Duration) -> int:
        """Move the virtual clock forward (``"5m"``, seconds, a timedelta), running the timers on the way."""
        return self.server.advance(duration)

    @_surfaced
    def advance_to(self, instant: Instant) -> int:
        return self.server.advance_to(instant)

    @_surfaced
    def now(self) -> float:
        """Virtual epoch seconds."""
        return self.server.now()

    @_surfaced
    def elapsed(self) -> float:
        """Virtual seconds since the scenario started."""
        clock = self.server.clock()
        return float(clock["elapsed"])

    @_surfaced
    def clock(self) -> dict[str, Any]:
        return self.server.clock()

    @_surfaced
    def set_speed(self, speed: Speed) -> None:
        """0 (manual), virtual seconds per real second, or ``"auto"`` (manual, moving by itself when nothing moves)."""
        if speed == "auto":
            self.server.set_auto_advance(self.setup.auto_threshold)
        else:
            self.server.set_speed(speed)

    # -- events and faults ------------------------------------------------------------------------------------
    @_surfaced
    def emit(self, api: str, event: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.server.emit(api, event, data)

    @_surfaced
    def patch_state(self, api: str, changes: Mapping[str, Any]) -> None:
        self.server.patch_state(api, changes)

    @_surfaced
    def fault(self, spec: Mapping[str, Any] | None = None, **fields: Any) -> Fault:
        """Start a fault now (a spec, or its fields: ``kind="error", api="luckylobster", status=503``).

        As a context manager it stops on exit: ``with agentfeed.fault(kind="reset", api="tradeready"): ...``.
        """
        return Fault(self, self.server.start_fault(spec, **fields))

    @_surfaced
    def faults(self) -> list[dict[str, Any]]:
        """The active faults."""
        return self.server.faults()

    # -- the journal ------------------------------------------------------------------------------------------
    def _filters(self, filters: dict[str, Any]) -> dict[str, Any]:
        """``after``/``before`` may be entries: after (before) it in the journal and in virtual time."""
        after, before = filters.get("after"), filters.get("before")
        if isinstance(after, Entry):
            filters["after"] = after.vtime
            filters["since"] = max(after.seq, filters.get("since") or 0)
        if isinstance(before, Entry):
            filters["before"] = before.vtime
            filters["until"] = before.seq - 1 if filters.get("until") is None else min(before.seq - 1, filters["until"])
        return filters

    @_surfaced
    def select(self, query: JournalQuery | None = None, **filters: Any) -> JournalQuery:
        """A checked journal query (an unknown kind, API or direction is an error naming the valid ones)."""
        return self.server.call(lambda: self.server.control.select(query, **self._filters(filters)))

    @_surfaced
    def journal(self, query: JournalQuery | None = None, *, limit: int | None = None, **filters: Any) -> list[Entry]:
        """The entries matching a query or filters, oldest first (all of this test's without any)."""
        return self.server.journal(self.select(query, **filters), limit=limit)

    @_surfaced
    def export(self, path: str | os.PathLike[str], query: JournalQuery | None = None) -> int:
        """Write the journal (or what a query selects) as JSON Lines; returns the number of lines."""
        return self.server.export(path, query)

    @_surfaced
    def wait_for(
        self,
        query: JournalQuery | None = None,
        *,
        count: int = 1,
        timeout: float | None = None,
        within: Duration | None = None,
        **filters: Any,
    ) -> list[Entry]:
        """Block until ``count`` entries match (a client in a thread or subprocess); return them.

        ``timeout``: real seconds (default the ``agentfeed_wait_timeout`` option). ``within``: a virtual deadline
        from now; a manual clock moves by itself toward it while nothing else moves (once a client connected).
        Fails with an AssertionError listing the closest entries; an exception inside the mock ends it at once.
        In an async test use ``await wait_for_async(...)``: blocking the test's event loop would stop a client
        running on it.
        """
        __tracebackhide__ = True
        library = _running_loop()
        if library is not None:
            raise RuntimeError(
                f"agentfeed.wait_for blocks this thread, which runs the test's {library} event loop: a client on that loop "
                "could not run meanwhile. In an async test use `await agentfeed.wait_for_async(...)`."
            )
        if timeout is None:
            timeout = self.config.wait_timeout if within is None or self.server.clock()["speed"] == 0 else None
        return self.server.wait_for(self.select(query, **filters), count=count, timeout=timeout, within=within)

    async def wait_for_async(
        self,
        query: JournalQuery | None = None,
        *,
        count: int = 1,
        timeout: float | None = None,
        within: Duration | None = None,
        **filters: Any,
    ) -> list[Entry]:
        """``wait_for`` for async tests (asyncio, pytest-asyncio, anyio): waits in a worker thread, so a client
        running on the test's own event loop goes on meanwhile."""
        __tracebackhide__ = True
        import anyio.to_thread

        try:
            selected = self.select(query, **filters)  # a bad filter fails here, in the test's own frame
        except SURFACED as exc:
            raise exc.with_traceback(None) from None
        call = functools.partial(self.wait_for, selected, count=count, timeout=timeout, within=within)
        try:
            if "abandon_on_cancel" in inspect.signature(anyio.to_thread.run_sync).parameters:
                return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
            return await anyio.to_thread.run_sync(call, cancellable=True)  # pragma: no cover - anyio < 4.1
        except SURFACED as exc:
            raise exc.with_traceback(None) from None

    # -- assertions --------------------------------------------------------------------------------------------
    def _window(self, filters: dict[str, Any], within: Duration | None) -> tuple[dict[str, Any], str]:
        """``within`` a virtual time after ``after`` (an entry or an instant; default: the scenario's start)."""
        if within is None:
            return filters, ""
        after = filters.get("after")
        if isinstance(after, Entry):
            start, origin = after.vtime, describe_entry(after)
        elif after is not None:
            start = self.server.call(lambda: self.server.control.select(after=after)).after or 0.0
            origin = format_instant(start, precision="ms")
        else:
            start = float(self.server.clock()["start_epoch"])
            origin = f"the scenario's start, {format_instant(start, precision='ms')}"
            filters["after"] = start
        seconds = duration_seconds(within)
        before = filters.get("before")
        end = start + seconds
        if isinstance(before, Entry):
            end = min(end, before.vtime)
        elif before is not None:
            end = min(end, self.server.call(lambda: self.server.control.select(before=before)).before or end)
        filters["before"] = end
        return filters, f"The window: {seconds:g} s of virtual time after {origin}."

    @_surfaced
    def assert_seen(
        self, query: JournalQuery | None = None, *, count: int | None = None, within: Duration | None = None, **filters: Any
    ) -> list[Entry]:
        """Assert the journal has an entry matching (``count``: exactly that many); return the matches.

        ``within``: only in that much virtual time after ``after`` (an entry, an instant; default the start).
        A failure lists the closest entries and how each differs (kind, path, fields, time).
        """
        __tracebackhide__ = True
        filters, window = self._window(filters, within)
        selected = self.select(query, **filters)
        entries = self.server.call(lambda: list(self.server.control.entries()))
        matched = [e for e in entries if selected.matches(e)]
        if (matched and count is None) or len(matched) == count:
            return matched
        if matched:  # the wrong number of them
            lines = [f"agentfeed: expected exactly {count} entries matching: {selected.describe()}; {len(matched)} matched:"]
            lines += [f"  {describe_entry(e)}" for e in matched[:LISTED]]
            lines += [f"  ... and {len(matched) - LISTED} more"] if len(matched) > LISTED else []
        else:
            wanted = "agentfeed: expected " + ("an entry" if count is None else f"exactly {count} entries") + " matching"
            lines = [explain_miss(selected, entries, wanted=wanted, found=0)]
        if window:
            lines.append(window)
        raise AssertionError("\n".join(lines))

    @_surfaced
    def assert_not_seen(self, query: JournalQuery | None = None, *, within: Duration | None = None, **filters: Any) -> None:
        """Assert no entry matches (``within``: in that much virtual time after ``after``); a failure lists those that do."""
        __tracebackhide__ = True
        filters, window = self._window(filters, within)
        selected = self.select(query, **filters)
        matched = self.server.journal(selected)
        if not matched:
            return
        lines = [f"agentfeed: expected no entry matching: {selected.describe()}; {len(matched)} matched:"]
        lines += [f"  {describe_entry(e)}" for e in matched[:LISTED]]
        lines += [f"  ... and {len(matched) - LISTED} more"] if len(matched) > LISTED else []
        if window:
            lines.append(window)
        raise AssertionError("\n".join(lines))

    @_surfaced
    def assert_faults_applied(self) -> None:
        """Assert every fault this test started hit at least once (as respx's ``assert_all_called``)."""
        __tracebackhide__ = True
        started = [e.data["fault"] for e in self.journal(kind="fault.start")]
        hit = {e.data["fault"] for e in self.journal(kind="fault.applied")}
        missed = [fault for fault in dict.fromkeys(started) if fault not in hit]
        if missed:
            specs = {e.data["fault"]: e.data["spec"] for e in self.journal(kind="fault.start")}
            lines = [f"agentfeed: {len(missed)} fault(s) started in this test never hit:"]
            lines += [f"  {fault}: {specs[fault]}" for fault in missed]
            raise AssertionError("\n".join(lines))

    # -- what went wrong inside -----------------------------------------------------------------------------
    @_surfaced
    @_surfaced
    def judge(self, *patterns: str, params: Mapping[str, Mapping[str, Any]] | None = None, exercised: bool = False) -> list[Any]:
        """Grade this test's journal with the conformance rules whose ids match ``patterns`` (globs: ``"luckylobster.*"``).

        Fails the test (``conformance.Violation``, an AssertionError) with every finding of the rules that failed or
        crashed, whatever their severity. ``params``: rule id -> parameter overrides. ``exercised=True``: a rule with
        nothing to judge (``not-applicable``, ``inconclusive``) fails too. Returns the results (``RuleResult``).
        """
        __tracebackhide__ = True
        import fnmatch

        from conformance.evidence import Evidence
        from conformance.registry import Violation, judge, registered

        entries, now = self.server.call(lambda: (list(self.server.control.entries()), self.server.runtime.clock.now()))
        evidence = Evidence(entries, end=now)
        rules = registered()
        wanted = patterns or ("*",)
        if not any(fnmatch.fnmatchcase(rule_id, pattern) for rule_id in rules for pattern in wanted):
            raise MockServerError(f"judge: no rule matches {', '.join(map(repr, wanted))}; `conformance rules` lists them")
        apis = sorted({spec.api for spec in rules.values()})
        results = judge(evidence, apis=apis, only=lambda rule_id: any(fnmatch.fnmatchcase(rule_id, p) for p in wanted), overrides=params)
        bad = ("fail", "error", "not-applicable", "inconclusive") if exercised else ("fail", "error")
        broken = [result for result in results if result.verdict in bad]
        if broken:
            raise Violation(*broken)
        return results

    def check(self) -> None:
        """Raise :class:`~mockserver.core.errors.ServerError` for an exception inside the mock since the last check."""
        self.server.check()

    def failures_text(self) -> str:
        """The exceptions inside the mock not yet raised (taken: each is reported once), with their tracebacks."""
        failures = self.server.call(self.server.runtime.take_failures)
        return "\n".join(f"journal seq {f.seq}, {f.source} {f.name}: {f.error}\n{f.traceback}" for f in failures)

    def waiting_text(self) -> str:
        """Requests and pauses still waiting on the virtual clock (a failed test on a manual clock often shows one)."""
        driver = self.server.server.driver
        if driver is None:
            return ""
        waiters = self.server.call(driver.waiting)
        if not waiters:
            return ""
        lines = [f"waiting on the virtual clock (now {format_instant(self.now(), precision='ms')}):"]
        lines += [f"  {w.what}, until {format_instant(w.due, precision='ms')}" for w in waiters]
        return "\n".join(lines)

    def write_journal(self, directory: Path, name: str) -> Path:
        """Export this test's journal as ``<directory>/<name>.jsonl`` (name made safe for a file); returns the path."""
        safe = "".join(c if c.isalnum() or c in "-_.[]=" else "_" for c in name.replace("::", "__").replace("/", "__"))
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{safe[:200]}.jsonl"
        self.export(path)
        return path


def session_server(config: AgentfeedConfig, *, worker: int = 0) -> ThreadedMockServer:
    """A server for a session of tests (not started): the default scenario on a manual clock, ports per xdist worker."""
    scenario = resolve_setup([], config).scenario
    ports, control_port = config.ports(worker)
    return ThreadedMockServer(
        scenario,
        host=config.host,
        ports=ports,
        control_host=config.host,
        control_port=control_port,
        journal_limit=config.journal_limit,
        stall_timeout=config.stall_timeout,
        log_level=config.log_level,
    )
