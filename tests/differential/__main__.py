"""``python -m tests.differential record|compare ...``: the differential run from the command line.

record   run the sequence against a server and write what it answered (the reference fixture)
compare  run the fixture's steps against a server (the mock) and list every difference,
         marking those the known list explains; exit 1 if any other is left
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from .compare import compare, known_reason, unused_known
from .runner import run_sequence
from .sequence import SEQUENCE

FIXTURE = Path(__file__).with_name("upstream-05cbc0e.json")


def mock_timeline(advance: Callable[[float], None]) -> Callable[[float], None]:
    """Move a mock's manual clock to instants given as seconds after its start (never backwards)."""
    reached = [0.0]

    def move(instant: float) -> None:
        if instant > reached[0]:
            advance(instant - reached[0])
            reached[0] = instant

    return move


def _control_advance(control_url: str) -> Callable[[float], None]:
    def advance(seconds: float) -> None:
        httpx.post(control_url.rstrip("/") + "/_mock/clock/advance", json={"seconds": seconds}, timeout=30).raise_for_status()

    return advance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.differential", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    record = sub.add_parser("record", help="run the sequence against a server and write its answers")
    record.add_argument("--base-url", required=True)
    record.add_argument("--out", type=Path, default=FIXTURE)
    record.add_argument("--source", default="{}", help="JSON object describing the server (commit, versions, settings)")
    check = sub.add_parser("compare", help="run the recorded steps against a server and compare")
    check.add_argument("--base-url", required=True)
    check.add_argument(
        "--control-url", help="a mock's control URL (manual clock, speed 0): its clock follows the recording's timing instead of sleeping"
    )
    check.add_argument("--fixture", type=Path, default=FIXTURE)
    check.add_argument("--json", type=Path, help="also write the compared server's answers here")
    args = parser.parse_args(argv)

    def progress(step: str) -> None:
        print(f"  {step}", file=sys.stderr)

    if args.command == "record":
        straddled: list[str] = []
        fraction, starts, answers = run_sequence(args.base_url, SEQUENCE, progress=progress, straddled=straddled)
        if straddled:
            print(f"steps whose request and answer fell in different seconds (their rows' second is uncertain): {straddled}")
        source = {**json.loads(args.source), "recorded": dt.date.today().isoformat()}
        document = {
            "source": source,
            "start_fraction": fraction,
            "steps": [{"at": at, "step": s, "answer": a} for at, s, a in zip(starts, SEQUENCE, answers, strict=True)],
        }
        args.out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
        print(f"{len(answers)} steps recorded in {args.out}")
        return 0

    document = json.loads(args.fixture.read_text())
    steps = [entry["step"] for entry in document["steps"]]
    expected = [entry["answer"] for entry in document["steps"]]
    replay = None
    if args.control_url:
        replay = (document["start_fraction"], [e["at"] for e in document["steps"]], mock_timeline(_control_advance(args.control_url)))
    _fraction, _starts, actual = run_sequence(args.base_url, steps, replay=replay, recorded=expected if replay else None, progress=progress)
    if args.json:
        args.json.write_text(json.dumps([{"step": s, "answer": a} for s, a in zip(steps, actual, strict=True)], indent=1) + "\n")
    return report(steps, expected, actual)


def report(steps: list[dict[str, Any]], expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> int:
    differences = compare(steps, expected, actual)
    calls = [s for s in steps if s["do"] != "wait"]
    differing = {d.step for d in differences}
    unexplained = [d for d in differences if known_reason(d) is None]
    for d in differences:
        reason = known_reason(d)
        print(f"{'known' if reason else 'DIFF '} {d}" + (f"\n        ({reason})" if reason else ""))
    stale = unused_known(differences)
    for entry in stale:
        print(f"STALE known entry matched nothing: {entry}")
    print(
        f"{len(calls)} calls, {len(differing)} differ ({len(differences)} differences: "
        f"{len(differences) - len(unexplained)} known, {len(unexplained)} not)"
    )
    return 1 if unexplained or stale else 0


if __name__ == "__main__":
    sys.exit(main())
