"""The conformance reports, made from real runs: JUnit as CI reads it, JSON against its schema, the terminal,
and the HTML report loaded in a real headless browser (Debian's chromium: its DOM after the scripts ran, and a
screenshot that is not blank).

Two scenarios make the report: ``luckylobster/server-errors`` (shortened) run by the conformance runner against the
LuckyLobster agent's ``no-backoff`` mutant (real client, time warp; ``luckylobster.http.backs-off-on-5xx``
fails with an expected window per finding), and a journal of the three streaming APIs driven by real clients
on a manual clock (tests/conformance_reports_journals.py). No rule covers those APIs yet (issue 14), so that
scenario's one result is made here: a failed reconnect rule whose finding names the WebSocket close and the
reconnect, with a backoff envelope, the way such a rule will report.
"""

from __future__ import annotations

import io
import json
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import junitparser
import pytest
from jsonschema import Draft202012Validator

from conformance.model import Finding, Report, RuleResult, ScenarioResult, Window
from conformance.reports import html_report, json_report, junit_xml, write_reports
from conformance.reports.json import REPORT_SCHEMA
from conformance.reports.terminal import Terminal
from conformance.reports.timeline import LANE_MARKS, MAX_LANES, MAX_MARKS, build
from conformance.runner import RunConfig, run_scenario
from mockserver import ThreadedMockServer, scenario_from_yaml
from mockserver.core.journal import Entry, Journal
from tests.conformance_reports_browser import Element, dump_dom, png_pixels, screenshot
from tests.conformance_reports_journals import HOSTILE_PATH, STREAMING_SCENARIO, streaming_journal

ROOT = Path(__file__).resolve().parent.parent
BACKOFF = "luckylobster.http.backs-off-on-5xx"
#: luckylobster/server-errors, shortened and made certain: a 503 outage with Retry-After, 40 s of 502s, one reset, recovery
SERVER_ERRORS = """
id: test/reports-server-errors
description: luckylobster/server-errors in three and a half minutes
seed: 4
clock: {start: "2026-02-06T14:30:00Z"}
apis:
  luckylobster:
    state:
      keys: [{name: steady-agent, key: ll_servererrors00000000000000000000000000000000000000000000000000, interval_ms: 30000, active_hours: null}]
timeline:
  - at: 40s
    fault: {id: outage, kind: error, api: luckylobster, route: /api/agent/v1/heartbeat, status: 503, retry_after: 30}
  - at: 100s
    stop_fault: outage
  - at: 100s
    fault: {id: bad-gateway, kind: error, api: luckylobster, status: 502, duration: 40s}
  - at: 140s
    fault: {id: one-reset, kind: reset, api: luckylobster, times: 1}
  - at: 150s
    note: recovered
duration: 210s
rules: [luckylobster.http.honours-retry-after, luckylobster.http.backs-off-on-5xx]
"""


@dataclass(frozen=True)
class Made:
    report: Report
    html: Path
    streaming: list[Entry]
    close_seq: int
    reconnect_seq: int


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    out = tmp_path_factory.mktemp("reports")
    client = (sys.executable, str(ROOT / "fixtures/clients/luckylobster_agent.py"), "--defect", "no-backoff")
    config = RunConfig(command=client, speed=30, out=out / "runs", grace=2)  # x30: the mutant's 5 s retries are clearly too soon
    lobster = run_scenario(scenario_from_yaml(SERVER_ERRORS), config)
    with ThreadedMockServer(scenario_from_yaml(STREAMING_SCENARIO), speed=0) as mock:
        journal = streaming_journal(mock, out / "streaming.jsonl")
        start = mock.clock()["start_epoch"]
    entries = Journal.load_jsonl(journal)
    close = next(e for e in entries if e.kind == "ws.close" and e.session == "ws-1")
    reconnect = next(e for e in entries if e.kind == "ws.connect" and e.api == "tradeready" and e.session != "ws-1")
    finding = Finding(
        f"<b>reconnected</b> {reconnect.vtime - close.vtime:g} s after close 1012 & before the envelope",
        (close.seq, reconnect.seq),
        reconnect.vtime,
        Window(close.vtime + 6, close.vtime + 12, "backoff envelope"),
    )
    made_up = RuleResult("tradeready.ws.reconnects-with-backoff", "must", True, "fail", {"initial": 6.0}, (finding,))
    streaming = ScenarioResult("test/reports-streaming", 0.0, "none", None, str(journal), (made_up,), start=start, duration=120.0)
    report = Report(client, (lobster, streaming))
    html = out / "report.html"
    write_reports(report, html_path=html, json_path=out / "report.json", junit_path=out / "junit.xml")
    return Made(report, html, entries, close.seq, reconnect.seq)


def backoff_rule(report: Report) -> tuple[int, RuleResult]:
    return next((j, r) for j, r in enumerate(report.scenarios[0].rules) if r.id == BACKOFF)


def test_the_mutant_fails_the_backoff_rule_with_expected_windows(made: Made) -> None:
    _, rule = backoff_rule(made.report)
    assert rule.verdict == "fail" and rule.findings
    assert rule.findings[0].expected is not None and all(f.seqs for f in rule.findings)


# -- JUnit ------------------------------------------------------------------------------------------------
SUREFIRE_TIME = re.compile(r"^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$")
SUITE_CHILDREN = {"testsuite", "properties", "testcase", "system-out", "system-err"}
CASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err"}


def check_junit(text: str) -> ET.Element:
    """The structure the common JUnit schema (Jenkins' junit-10.xsd, what GitLab and the others read) asks for."""
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites"
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in root:
        assert suite.tag == "testsuite"
        for required in ("name", "tests", "failures", "errors"):
            assert required in suite.attrib, f"testsuite without {required}"
        assert SUREFIRE_TIME.match(suite.get("time", "")), suite.get("time")
        assert {child.tag for child in suite} <= SUITE_CHILDREN
        for prop in suite.iter("property"):
            assert set(prop.attrib) >= {"name", "value"}
        cases = suite.findall("testcase")
        counted = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        for case in cases:
            assert case.get("name") and case.get("classname") == suite.get("name")
            assert {child.tag for child in case} <= CASE_CHILDREN
            for outcome in case:
                assert outcome.get("message"), f"{case.get('name')}: <{outcome.tag}> without a message"
        for key, value in counted.items():
            assert int(suite.get(key, "0")) == value, f"{suite.get('name')}: {key}"
            totals[key] += value
    for key, value in totals.items():
        assert int(root.get(key, "-1")) == value, f"testsuites {key}"
    assert SUREFIRE_TIME.match(root.get("time", ""))
    return root


def test_junit_has_a_suite_per_scenario_a_case_per_rule_and_consistent_counts(made: Made) -> None:
    root = check_junit(junit_xml(made.report))
    j, rule = backoff_rule(made.report)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [s.id for s in made.report.scenarios]
    lobster = suites[0]
    properties = {p.get("name"): p.get("value") for p in lobster.iter("property")}
    assert properties["speed"] == "30" and properties["warp"] == "faketime" and properties["duration"] == "210"
    assert properties["journal"] == made.report.scenarios[0].journal and Path(properties["journal"]).is_file()
    assert properties["client_exit"] == ""  # stopped at the end of the run
    cases = lobster.findall("testcase")
    assert len(cases) == len(made.report.scenarios[0].rules)
    failure = cases[j].find("failure")
    assert cases[j].get("name") == f"{BACKOFF} [must]" and failure is not None
    assert failure.get("message") == rule.findings[0].message and failure.get("type") == "must"
    assert all(f"journal seq {', '.join(map(str, f.seqs))}" in (failure.text or "") for f in rule.findings)
    for case, result in zip(cases, made.report.scenarios[0].rules, strict=True):
        skipped = case.find("skipped")
        assert (skipped is not None) == (result.verdict in ("not-applicable", "inconclusive"))
        if skipped is not None:
            assert skipped.get("message") == f"{result.verdict}: {result.reason}"


def test_a_ci_result_reader_reads_the_junit_report(made: Made, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(junit_xml(made.report), encoding="utf-8")
    parsed = junitparser.JUnitXml.fromfile(str(path))
    suites = list(parsed)
    assert [s.name for s in suites] == [s.id for s in made.report.scenarios]
    outcomes: dict[str, str] = {}
    for case in suites[0]:
        kinds = {type(r).__name__ for r in case.result}
        outcomes[case.name] = (
            "failure" if "Failure" in kinds else "skipped" if "Skipped" in kinds else "error" if "Error" in kinds else "pass"
        )
    expected = {"pass": "pass", "fail": "failure", "error": "error", "not-applicable": "skipped", "inconclusive": "skipped"}
    assert outcomes == {f"{r.id} [{r.severity}]": expected[r.verdict] for r in made.report.scenarios[0].rules}


def test_junit_carries_hostile_text_as_valid_xml() -> None:
    nasty = "client said \x00\x1b[31m ]]> <x/> & \ud800 \ufffe"
    rule = RuleResult("x.y.z", "should", False, "fail", {}, (Finding(nasty, (1,), 0.0),))
    broken = RuleResult("x.y.crash", "must", False, "error", {}, (), reason="Traceback\x07\n  boom")
    scenario = ScenarioResult("a<b>&\x01", 1.0, "none", 3, None, (rule, broken), error="no \x02 client")
    root = check_junit(junit_xml(Report(("agent", "--flag=\x03"), (scenario,))))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and "]]> <x/> &" in failure.get("message", "") and "\ufffd" in failure.get("message", "")
    assert root.find("testsuite").get("errors") == "2"  # the crashed rule and the client that could not be graded


# -- JSON -------------------------------------------------------------------------------------------------
def test_json_report_matches_its_schema_and_the_brief(made: Made) -> None:
    document = json.loads(json_report(made.report))
    Draft202012Validator.check_schema(REPORT_SCHEMA)
    Draft202012Validator(REPORT_SCHEMA).validate(document)
    assert document["version"] == 1 and document["client"] == list(made.report.client)
    scenario = document["scenarios"][0]
    assert {"id", "speed", "warp", "client_exit", "journal", "rules", "start", "duration"} <= set(scenario)
    verdicts = [r["verdict"] for s in document["scenarios"] for r in s["rules"]]
    assert document["summary"] == {
        v.replace("-", "_"): verdicts.count(v) for v in ("pass", "fail", "not-applicable", "inconclusive", "error")
    }
    rule = next(r for r in scenario["rules"] if r["id"] == BACKOFF)
    assert {"id", "severity", "targeted", "verdict", "params", "findings"} <= set(rule)
    assert all({"message", "seqs", "vtime"} <= set(f) for f in rule["findings"]) and "expected" in rule["findings"][0]


# -- the terminal -----------------------------------------------------------------------------------------
class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_is_plain_when_not_a_tty(made: Made) -> None:
    stream = io.StringIO()
    terminal = Terminal(stream)
    terminal.progress("luckylobster/server-errors: 14:31:00 (  5%)")
    assert stream.getvalue() == "", "no progress line in a CI log"
    terminal.done_line(made.report.scenarios[0])
    terminal.summary(made.report)
    text = stream.getvalue()
    assert "\x1b" not in text and "\r" not in text, "no control codes in a CI log"
    lines = text.splitlines()
    assert lines[0].startswith("FAIL test/reports-server-errors: ")
    row = next(line for line in lines if BACKOFF in line and "|" in line)
    assert re.search(r"\|\s*must\s*\|\s*FAIL\s*\|\s*yes\s*\|\s*after GET /api/agent/v1/heartbeat failed", row), row
    _, rule = backoff_rule(made.report)
    assert f"  - {rule.findings[0].message} (journal seq {', '.join(map(str, rule.findings[0].seqs))})" in lines
    assert lines[-1].startswith("FAILED: ") and "(a must rule failed)" in lines[-1]
    assert all(rule.id in text for s in made.report.scenarios for rule in s.rules)


def test_terminal_shows_a_live_line_on_a_tty_and_colours(made: Made) -> None:
    stream = FakeTty()
    terminal = Terminal(stream, width=120)
    terminal.progress("luckylobster/server-errors: 14:31:00 (  5%)")
    terminal.progress("luckylobster/server-errors: 14:35:00 ( 30%)")
    terminal.done_line(made.report.scenarios[0])
    live = stream.getvalue()
    assert "14:35:00 ( 30%)" in live, "the live line showed the scenario, its virtual time and the share done"
    terminal.summary(made.report)
    assert "\x1b[" in stream.getvalue()[len(live) :], "colours on a terminal"
    quiet = FakeTty()
    Terminal(quiet, quiet=True).progress("x")
    assert quiet.getvalue() == ""


# -- the timeline (no browser) ------------------------------------------------------------------------------
def test_streaming_lanes_show_sessions_ends_pings_and_reconnect_gaps(made: Made) -> None:
    timeline = build(made.streaming, made.report.scenarios[1].rules, start=made.report.scenarios[1].start, duration=120)
    lanes = {lane.label: lane for lane in timeline.lanes}
    ws1, ws4 = (
        lanes["tradeready · WebSocket ws-1"],
        next(lane for lane in timeline.lanes if lane.kind == "ws" and lane.label.endswith("ws-4")),
    )
    assert ws1.spans[0].label == 'ws-1: close 1012 by fault: service <restart> & "quotes"'
    assert {"ping", "pong", "open", "close", "out", "in"} <= {m.cls for m in ws1.marks}
    assert [round(g.end - g.start, 3) for g in ws4.gaps] == [5.0] and "after ws-1 ended (close 1012 by fault" in ws4.gaps[0].label
    sse = [lane for lane in timeline.lanes if lane.kind == "sse"]
    assert len(sse) == 2 and sse[0].spans[0].label.endswith("end by fault") and sse[1].spans[0].open_end
    assert any(m.cls == "stream" for m in sse[1].marks), "the request that opened the stream is on its lane"
    assert any(m.cls == "replay" for m in sse[1].marks), "the events replayed after Last-Event-ID"
    sio = [lane for lane in timeline.lanes if lane.kind == "sio"]
    assert len(sio) == 2 and "reset by fault" in sio[0].spans[0].label
    raw = {e.seq for e in made.streaming if e.kind == "ws.frame" and (e.session or "").startswith("eio-")}
    assert not any(set(m.seqs) & raw for lane in sio for m in lane.marks), "a Socket.IO lane draws packets, not their raw frames"
    broadcasts = [
        e for e in made.streaming if e.kind == "ws.broadcast" and len(e.data["sessions"]) == 1 and e.data["sessions"][0] == "ws-4"
    ]
    assert broadcasts and all(any(b.seq in m.seqs for m in ws4.marks) for b in broadcasts), "a fan-out frame is on its recipient's lane"
    faults = {b.key: b for b in timeline.bands if b.kind == "fault"}
    assert set(faults) == {"restart", "drop", "cut"} and faults["restart"].end - faults["restart"].start == 1
    expected = next(b for b in timeline.bands if b.kind == "expected")
    assert [timeline.lanes[i].label for i in expected.lanes] == [ws1.label, ws4.label], (
        "the envelope is drawn over the lanes of its entries"
    )


def synthetic(sessions: int, frames: int, text: int = 10, dense: int = 1) -> list[Entry]:
    """Many sessions one after another, the first ``dense`` with many frames of ``text`` characters (the caps, without a server)."""
    entries: list[Entry] = []
    seq = 0

    def add(t: float, kind: str, direction: str, session: str, data: dict[str, object]) -> None:
        nonlocal seq
        seq += 1
        entries.append(Entry(seq, t, 0.0, "tradeready", kind, direction, "127.0.0.1:1", session, "key:x", data))  # type: ignore[arg-type]

    for n in range(sessions):
        sid, t = f"ws-{n + 1}", 1000.0 + n * 10
        add(t, "ws.connect", "in", sid, {"path": "/ws/v1", "query": "", "headers": {}})
        count = frames if n < dense else 2
        for i in range(count):
            add(t + 0.001 * i, "ws.frame", "out", sid, {"path": "/ws/v1", "text": f'{{"n": {i}, "pad": "{"x" * text}"}}'})
        add(t + 5, "ws.close", "out", sid, {"path": "/ws/v1", "by": "server", "code": 1012, "reason": ""})
    return entries


def test_dense_runs_are_aggregated_capped_and_say_so() -> None:
    entries = synthetic(sessions=MAX_LANES + 40, frames=5000)
    chosen = entries[3000]  # a frame of the dense session a finding names: drawn one by one all the same
    rule = RuleResult("tradeready.x", "must", True, "fail", {}, (Finding("look", (chosen.seq,), chosen.vtime, Window(1000, 1001)),))
    timeline = build(entries, [rule])
    assert len(timeline.lanes) <= MAX_LANES
    assert any("share a lane" in note for note in timeline.notes) and any("density" in note for note in timeline.notes)
    dense = next(lane for lane in timeline.lanes if lane.density)
    assert sum(1 for m in dense.marks if not m.important) <= LANE_MARKS
    assert sum(d.count for lane in timeline.lanes for d in lane.density) >= 5000 - LANE_MARKS
    assert any(chosen.seq in m.seqs for lane in timeline.lanes for m in lane.marks)
    closes = sum(1 for lane in timeline.lanes for m in lane.marks if m.cls == "close")
    assert closes == MAX_LANES + 40, "every end is still drawn"
    html = html_report(Report(("agent",), (ScenarioResult("dense", 1.0, "none", 0, None, (rule,)),)))
    assert "No timeline: no journal was saved" in html


def test_html_size_stays_bounded_for_a_big_journal(tmp_path: Path) -> None:
    entries = synthetic(sessions=MAX_LANES - 2, frames=360, text=1000, dense=MAX_LANES)  # every lane dense, 1 KB frames
    path = tmp_path / "journal.jsonl"
    path.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in entries))
    html = html_report(Report(("agent",), (ScenarioResult("big", 1.0, "none", 0, str(path), ()),)))
    assert len(entries) > 20000 and path.stat().st_size > 20_000_000 and len(html) < 1_600_000, len(html)
    assert html.count('class="mark ') <= MAX_MARKS and 'class="notes"' in html


# -- the HTML report in a real browser ----------------------------------------------------------------------
def find(elements: list[Element], tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
    """Elements by tag, class and attributes (``data_seqs`` for ``data-seqs``); the legend's swatches are no marks."""
    return [
        e
        for e in elements
        if (tag is None or e.tag == tag)
        and "swatch" not in e.classes
        and (cls is None or cls in e.classes)
        and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
    ]


def within(elements: list[Element], section: Element) -> list[Element]:
    inside: list[Element] = []
    stack = [section]
    while stack:
        element = stack.pop()
        inside.append(element)
        stack += element.children
    ids = {id(e) for e in inside}
    return [e for e in elements if id(e) in ids]


def test_the_html_report_in_headless_chromium(made: Made) -> None:
    j, rule = backoff_rule(made.report)
    anchor = f"s0-r{j}-f0"
    source = made.html.read_text()
    assert not re.findall(r'\s(?:src|srcset|action|poster|data)="', source), "the page loads nothing"
    assert set(re.findall(r'\shref="(.)', source)) == {"#"} and set(re.findall(r"url\((.)", source)) == {"#"}, "links stay in the page"
    assert "Content-Security-Policy" in source and "default-src 'none'" in source
    html, elements = dump_dom(made.html, "#" + anchor)
    body = find(elements, "body")[0]
    assert body.attrs.get("data-ready") == "1", "the script ran (its hash matches the page's Content-Security-Policy)"
    s0, s1 = find(elements, "section", "scenario")
    first, second = within(elements, s0), within(elements, s1)

    # lanes: the scenario's steps and LuckyLobster's HTTP; one per streaming session
    assert {lane.attrs["data-kind"] for lane in find(first, "g", "lane")} == {"steps", "http"}
    kinds = [lane.attrs["data-kind"] for lane in find(second, "g", "lane")]
    assert kinds.count("ws") == 2 and kinds.count("sse") == 2 and kinds.count("sio") == 2 and "http" in kinds
    # marks: each with its journal entries; the 5xx answers and the reset coloured as such
    marks = find(first, "rect", "mark")
    assert len(marks) > 30 and all(re.fullmatch(r"\d+( \d+)*", m.attrs["data-seqs"]) for m in marks)
    assert find(first, "rect", "server-error") and find(first, "rect", "broken")
    assert all(m.attrs.get("data-title") for m in marks), "the script made each mark's title its tooltip heading"
    assert find(second, "rect", "ping") and find(second, "rect", "pong") and len(find(second, "line", "gap")) >= 3
    assert any("close 1012 by fault" in t.text for t in find(second, "text", "end-label"))
    # fault windows
    faults = [{b.attrs["data-fault"] for b in find(part, "rect", "band") if "fault" in b.classes} for part in (first, second)]
    assert faults == [{"outage", "bad-gateway", "one-reset"}, {"restart", "drop", "cut"}]
    # the failed rule's expected windows, and the one the fragment selected
    windows = find(first, "rect", "expected")
    assert len(windows) == sum(1 for f in rule.findings if f.expected is not None)
    assert [w.attrs["data-finding"] for w in windows if "sel" in w.classes] == [anchor]
    assert find(second, "rect", "expected", data_finding="s1-r0-f0")
    # the finding: selected, its entries' marks highlighted, each entry linked to its row of evidence
    item = find(first, "li", "finding", id=anchor)[0]
    assert "sel" in item.classes and item.attrs["data-seqs"] == " ".join(map(str, rule.findings[0].seqs))
    lit = {int(s) for m in find(first, cls="hl") for s in m.attrs["data-seqs"].split()}
    assert set(rule.findings[0].seqs) <= lit
    assert not find(second, cls="hl"), "nothing of the other scenario is highlighted"
    for seq in rule.findings[0].seqs:
        assert find(first, "a", href=f"#s0-e{seq}") and find(first, "tr", id=f"s0-e{seq}")
    # everything from the journal and the client is text, never markup
    assert not find(elements, "img") and len(find(elements, "script")) == 1 + len(made.report.scenarios)
    assert "pwned" not in find(elements, "title")[0].text
    assert any("<b>reconnected</b>" in e.text for e in find(second, "span", "msg")) and not find(elements, "b")
    assert any(HOSTILE_PATH in m.attrs.get("data-title", "") for m in find(second, "rect", "mark")), "the path is there, as text"


def test_an_entry_link_highlights_its_marks_and_shows_the_entry(made: Made) -> None:
    _, elements = dump_dom(made.html, f"#s1-e{made.close_seq}")
    pinned = find(elements, "div", "pinned", id="s1-pinned")[0]
    assert pinned.text.startswith(f"#{made.close_seq}  ws.close (out)  tradeready")
    assert '"code": 1012' in pinned.text and '"by": "fault"' in pinned.text
    lit = find(elements, cls="hl")
    assert lit and all(str(made.close_seq) in m.attrs["data-seqs"].split() for m in lit)


def test_the_screenshot_is_a_picture(made: Made, tmp_path: Path) -> None:
    shot = screenshot(made.html, tmp_path / "report.png", size=(1400, 1400))
    width, height, rows = png_pixels(shot)
    assert (width, height) == (1400, 1400)
    pixels = [row[i : i + 3] for row in rows[::4] for i in range(0, len(row), 3 * 4)]
    colours = set(pixels)
    inked = sum(1 for p in pixels if p != b"\xff\xff\xff")
    reds = sum(1 for p in pixels if p[0] > 180 and p[1] < 90 and p[2] < 90)  # the FAIL badges, the 5xx marks
    assert len(colours) > 50 and inked > len(pixels) // 20 and reds > 20, (len(colours), inked, reds)
