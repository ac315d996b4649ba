"""``conformance``: run a client against scenarios and grade it, judge saved journals, list the rules.

Exit codes: 0 when no ``must`` rule failed (with ``--strict``, no rule at all); 1 when one did;
2 for a usage error, or when the client could not be run at all.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mockserver.core.durations import parse_duration
from mockserver.core.errors import ScenarioError
from mockserver.scenario.loader import builtin_scenarios, load_builtin, load_scenario
from mockserver.scenario.model import Scenario

from .model import Report, ScenarioResult
from .registry import RULES, Rule, check_targets, rules_for
from .reports import write_reports
from .reports.terminal import Terminal
from .runner import ClientCouldNotRun, RunConfig, judge_journal, never_reached, run_scenario
from .warp import WarpError

__all__ = ["main"]


class UsageError(Exception):
    """The command line is wrong: exit 2 with the message."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance", description="Grade a trading agent's behaviour on the wire, from the mock's journal."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a client against scenarios and grade it: conformance run --scenario ID -- CMD ARGS...")
    run.add_argument("--scenario", action="append", default=[], metavar="ID|GLOB|FILE", help="a built-in id, a glob of ids, or a YAML file")
    run.add_argument("--all", action="store_true", help="every built-in scenario")
    run.add_argument("--speed", type=float, help="virtual seconds per real second (default: the scenario's)")
    run.add_argument("--warp", choices=["faketime", "none"], help="the client's clock: faketime (default unless the speed is 1) or none")
    run.add_argument("--duration", help="how long each run lasts, virtual (90s, 10m, 1h; default: the scenario's)")
    run.add_argument("--out", default="conformance-out", help="where journals and the client's output go (default conformance-out/)")
    _outputs(run)
    run.add_argument("client", nargs=argparse.REMAINDER, help="-- the client's command and its arguments")

    judge = sub.add_parser("judge", help="grade saved journals (journal.jsonl) offline")
    judge.add_argument("journals", nargs="+", type=Path)
    _outputs(judge)

    rules = sub.add_parser("rules", help="list the rules: id, severity, description, parameters, the scenarios that target them")
    rules.add_argument("--api", help="only this API's rules")
    rules.add_argument("--markdown", action="store_true", help="a Markdown table (the README's)")
    return parser


def _outputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML (one suite per scenario, one case per rule)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write the HTML report (a timeline per scenario)")
    parser.add_argument("--strict", action="store_true", help="fail on should rules too")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="RULE.PARAM=VALUE",
        help="set a rule's parameter (e.g. aitrader.heartbeat.min-interval.minimum=20)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line and no table")


def _params(values: Sequence[str]) -> dict[str, dict[str, Any]]:
    from .registry import _load

    _load()
    out: dict[str, dict[str, Any]] = {}
    for value in values:
        name, sep, raw = value.partition("=")
        rule_id, _, param = name.rpartition(".")
        if not sep or not rule_id or not param:
            raise UsageError(f"--param expects RULE.PARAM=VALUE, got {value!r}")
        spec = RULES.get(rule_id)
        if spec is None:
            raise UsageError(f"--param: unknown rule {rule_id!r}")
        if param not in spec.params:
            raise UsageError(f"--param: {rule_id} has no parameter {param!r}; it has: {', '.join(spec.params) or 'none'}")
        default = spec.params[param]
        try:
            converted: Any = type(default)(raw) if not isinstance(default, float) else parse_duration(raw)
        except ValueError:
            raise UsageError(f"--param {name}: expected a {type(default).__name__}, got {raw!r}") from None
        out.setdefault(rule_id, {})[param] = converted
    return out


def _scenarios(args: argparse.Namespace) -> list[Scenario]:
    known = builtin_scenarios()
    chosen: list[Scenario] = []
    wanted = list(known) if args.all else []
    for ref in args.scenario:
        if os.path.exists(ref):
            chosen.append(load_scenario(ref))
            continue
        matches = [scenario_id for scenario_id in known if fnmatch.fnmatchcase(scenario_id, ref)]
        if not matches:
            raise UsageError(f"--scenario {ref!r}: no built-in scenario or file matches; built-in: {', '.join(known)}")
        wanted += matches
    chosen += [load_builtin(scenario_id) for scenario_id in dict.fromkeys(wanted)]
    if not chosen:
        raise UsageError("give --scenario ID|GLOB|FILE (repeatable) or --all")
    problems = [problem for scenario in chosen for problem in check_targets(scenario)]
    if problems:
        raise UsageError("the scenario's rules are wrong:\n  " + "\n  ".join(problems))
    return chosen


def _finish(report: Report, args: argparse.Namespace, terminal: Terminal) -> int:
    write_reports(report, json_path=args.json, junit_path=args.junit, html_path=args.html)
    if not args.quiet:
        terminal.summary(report, strict=args.strict)
    return 1 if report.failed(strict=args.strict) else 0


def _run(args: argparse.Namespace, terminal: Terminal) -> int:
    command = list(args.client)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("give the client's command after --: conformance run --scenario ID -- python my_agent.py")
    duration = parse_duration(args.duration) if args.duration else None
    params = _params(args.param)
    config = RunConfig(
        command=tuple(command),
        speed=args.speed,
        warp=args.warp,
        duration=duration,
        out=Path(args.out),
        params=params,
        progress=None if args.quiet else terminal.progress,
    )
    results: list[ScenarioResult] = []
    scenarios = list(_scenarios(args))
    config = replace(config, skip_unreached=len(scenarios) > 1)
    for scenario in scenarios:
        try:
            result = run_scenario(scenario, config)
        finally:
            terminal.done_line()  # the live line goes, even when the run fails
        terminal.done_line(result)
        results.append(result)
    code = _finish(Report(tuple(command), tuple(results)), args, terminal)
    if config.skip_unreached and all(never_reached(r) for r in results):
        print(f"conformance: the client reached none of the APIs of the {len(results)} scenarios: nothing was graded", file=sys.stderr)
        return 1
    return code


def _judge(args: argparse.Namespace, terminal: Terminal) -> int:
    params = _params(args.param)
    results = []
    for path in args.journals:
        if not path.is_file():
            raise UsageError(f"{path}: no such journal")
        results.append(judge_journal(path, params=params))
    return _finish(Report((), tuple(results)), args, terminal)


def _rules(args: argparse.Namespace) -> int:
    from .registry import _load

    _load()
    targets: dict[str, list[str]] = {}
    for scenario_id in builtin_scenarios():
        for rule_id in load_builtin(scenario_id).rule_ids():
            targets.setdefault(rule_id, []).append(scenario_id)
    apis = [args.api] if args.api else sorted({r.api for r in RULES.values()})
    if args.markdown:
        print(rules_markdown(rules_for(apis), targets), end="")
        return 0
    for spec in rules_for(apis):
        print(f"{spec.id}  [{spec.severity}]{'  (observes)' if spec.observes else ''}")
        print(f"    {spec.summary}")
        print(f"    source: {spec.cites}")
        if spec.params:
            print("    parameters: " + ", ".join(f"{k}={v!r}" for k, v in spec.params.items()))
        if spec.id in targets:
            print("    targeted by: " + ", ".join(targets[spec.id]))
    return 0


def rules_markdown(specs: Sequence[Rule], targets: Mapping[str, Sequence[str]]) -> str:
    """The rule table of the README: id, severity, what it checks, parameters, the scenarios that target it."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| rule | severity | what it checks | parameters (defaults) | targeted by |", "|---|---|---|---|---|"]
    for spec in specs:
        what = spec.summary + (" *Needs `MOCK_OBSERVE`.*" if spec.observes else "")
        params = ", ".join(f"`{k}={v:g}`" if isinstance(v, float) else f"`{k}={v!r}`" for k, v in spec.params.items()) or "none"
        scenarios = ", ".join(f"`{t}`" for t in targets.get(spec.id, ())) or "none"
        lines.append(f"| `{spec.id}` | {spec.severity} | {cell(what)} | {params} | {scenarios} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    terminal = Terminal(sys.stderr, quiet=getattr(args, "quiet", False))
    handlers: dict[str, Callable[[], int]] = {
        "run": lambda: _run(args, terminal),
        "judge": lambda: _judge(args, terminal),
        "rules": lambda: _rules(args),
    }
    try:
        return handlers[args.command]()
    except (UsageError, WarpError, ScenarioError, ClientCouldNotRun) as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
