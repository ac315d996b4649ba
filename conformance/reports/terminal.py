"""The terminal (``rich``): a live progress line while a run goes, a line per scenario done, then the summary table.

On a TTY: a spinner with the scenario, its virtual time and the share done (gone when the scenario
ends), colours, a table with a box. Not on a TTY (CI logs): no progress line, no colours, no control
codes, an ASCII table, wide enough not to wrap the rule ids. Either way the table has a row per
rule (scenario, rule, severity, verdict, targeted, first finding or the reason for no verdict),
then the findings of each failed rule, the totals and the outcome. The runner prints nothing itself:
the command line hands this class the runner's progress lines and the report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

from rich import box
from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from ..model import Report, RuleResult, ScenarioResult

__all__ = ["FINDINGS_LISTED", "Terminal"]

#: Findings listed under the table for each failed rule (the JSON and HTML reports have them all).
FINDINGS_LISTED = 5
#: Columns from which the table has a scenario column (narrower: a table per scenario).
WIDE = 150
STYLES = {"pass": "green", "fail": "bold white on red", "not-applicable": "dim", "inconclusive": "yellow", "error": "bold white on magenta"}
MARKS = {"pass": "pass", "fail": "FAIL", "not-applicable": "n/a", "inconclusive": "inconclusive", "error": "ERROR"}


def _first(result: RuleResult, limit: int = 100) -> str:
    if result.findings:
        text = result.findings[0].message
        more = len(result.findings) - 1
    else:
        text, more = result.reason, 0
    text = text if len(text) <= limit else text[: limit - 1] + "\u2026"
    return text + (f" (+{more} more)" if more else "")


def _counts(scenario: ScenarioResult) -> str:
    counts: dict[str, int] = {}
    for rule in scenario.rules:
        counts[rule.verdict] = counts.get(rule.verdict, 0) + 1
    return ", ".join(f"{n} {verdict}" for verdict, n in counts.items()) or "no rules"


class Terminal:
    """``progress(line)`` while a scenario runs, ``done_line(result)`` when it ends, ``summary(report)`` at the end."""

    def __init__(self, stream: TextIO, *, quiet: bool = False, tty: bool | None = None, width: int | None = None) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty() if tty is None else tty
        if width is None and not self.tty:
            width = max(int(os.environ.get("COLUMNS", "0") or 0), 200)
        self.console = Console(
            file=stream,
            force_terminal=self.tty,
            color_system="auto" if self.tty else None,
            no_color=not self.tty,
            width=width,
            highlight=False,
            emoji=False,
            soft_wrap=False,
        )
        self._live: Live | None = None

    def progress(self, line: str) -> None:
        """One progress line (``scenario: 12:03:04 ( 42%)``): shown live on a TTY, ignored elsewhere."""
        if self.quiet or not self.tty:
            return
        if self._live is None:
            self._live = Live(console=self.console, transient=True, refresh_per_second=10)
            self._live.start()
        self._live.update(Spinner("dots", text=Text(line)))

    def done_line(self, result: ScenarioResult | None = None) -> None:
        """End the live line; with ``result``, one line saying how the scenario went."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        if result is None or self.quiet:
            return
        failed = any(r.failed for r in result.rules)
        mark = Text("FAIL" if failed else "done", style="bold red" if failed else "green")
        self.console.print(Text.assemble(mark, f" {result.id}: {_counts(result)}"))

    def tables(self, report: Report) -> list[Table]:
        """The summary table: one, with a scenario column, when the width allows; else one per scenario, titled."""
        wide = self.console.width >= WIDE
        groups = [report.scenarios] if wide else [(scenario,) for scenario in report.scenarios]
        return [self._table(group, wide) for group in groups]

    def _table(self, scenarios: Sequence[ScenarioResult], wide: bool) -> Table:
        table = Table(
            box=box.SIMPLE_HEAD if self.tty else box.ASCII, pad_edge=False, title=None if wide else scenarios[0].id, title_justify="left"
        )
        if wide:
            table.add_column("scenario", no_wrap=True)
            table.add_column("rule", no_wrap=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        table.add_column("targeted", no_wrap=True)
        table.add_column(
            "first finding (or why no verdict)" if wide else "rule: first finding (or why no verdict)", overflow="fold", ratio=1
        )
        for scenario in scenarios:
            results: list[tuple[str, str, Text, str, str, bool]] = [
                (
                    r.id,
                    r.severity,
                    Text(MARKS[r.verdict], style=STYLES[r.verdict]),
                    "yes" if r.targeted else "",
                    _first(r),
                    bool(r.findings),
                )
                for r in scenario.rules
            ]
            if scenario.error:
                results.append(("(the client)", "", Text("ERROR", style=STYLES["error"]), "", scenario.error, True))
            for index, (rule, severity, verdict, targeted, first, found) in enumerate(results):
                said = Text(first, style="" if found else "dim")
                if wide:
                    cells: list[str | Text] = [scenario.id if index == 0 else "", rule, severity, verdict, targeted, said]
                else:  # narrow: the rule, and under it what it found
                    cells = [severity, verdict, targeted, Text.assemble(rule, "\n", said) if first else Text(rule)]
                table.add_row(*cells, end_section=index == len(results) - 1)
        return table

    def summary(self, report: Report, *, strict: bool = False) -> None:
        """The table, the findings of each failed rule, the totals and the outcome."""
        if self.quiet:
            return
        for table in self.tables(report):
            self.console.print(table)
        for scenario in report.scenarios:
            for result in scenario.rules:
                if not result.failed or not result.findings:
                    continue
                self.console.print(Text.assemble((f"{MARKS[result.verdict]} ", STYLES[result.verdict]), f"{scenario.id}  {result.id}"))
                for finding in result.findings[:FINDINGS_LISTED]:
                    seqs = ", ".join(map(str, finding.seqs)) or "-"
                    self.console.print(Text(f"  - {finding.message} (journal seq {seqs})"), soft_wrap=True)
                if len(result.findings) > FINDINGS_LISTED:
                    self.console.print(
                        Text(f"  ... and {len(result.findings) - FINDINGS_LISTED} more (the JSON and HTML reports have them all)")
                    )
        counts = report.summary()
        failed = report.failed(strict=strict)
        totals = (
            f"{counts['pass']} pass, {counts['fail']} fail, {counts['not_applicable']} not applicable, "
            f"{counts['inconclusive']} inconclusive, {counts['error']} error"
        )
        rule = "a must rule failed" if not strict else "a rule failed (--strict)"
        outcome = Text("FAILED", style="bold red") if failed else Text("passed", style="bold green")
        self.console.print(Text.assemble(outcome, f": {totals}", f"  ({rule})" if failed else ""))
