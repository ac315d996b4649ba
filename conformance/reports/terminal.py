"""The terminal: a live progress line while a run goes, then a table of verdicts (the runner itself prints nothing)."""

from __future__ import annotations

from typing import TextIO

from ..model import Report

__all__ = ["Terminal"]

MARKS = {"pass": "pass", "fail": "FAIL", "not-applicable": "n/a", "inconclusive": "inconclusive", "error": "ERROR"}


class Terminal:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._live = False

    def progress(self, line: str) -> None:
        if self.stream.isatty():
            self.stream.write("\r" + line[:100].ljust(100))
            self.stream.flush()
            self._live = True

    def done_line(self) -> None:
        if self._live:
            self.stream.write("\r" + " " * 100 + "\r")
            self._live = False

    def summary(self, report: Report, *, strict: bool = False) -> None:
        for scenario in report.scenarios:
            exit_text = "stopped" if scenario.client_exit is None else f"exit {scenario.client_exit}"
            self.stream.write(f"{scenario.id}  (x{scenario.speed:g}, warp {scenario.warp}, client {exit_text})\n")
            for result in scenario.rules:
                mark = MARKS[result.verdict]
                target = " *" if result.targeted else ""
                self.stream.write(f"  {mark:<12} {result.severity:<6} {result.id}{target}\n")
                for finding in result.findings[:3]:
                    self.stream.write(f"               {finding.message}\n")
                if len(result.findings) > 3:
                    self.stream.write(f"               ... and {len(result.findings) - 3} more\n")
        counts = report.summary()
        verdict = "FAILED" if report.failed(strict=strict) else "passed"
        self.stream.write(
            f"{verdict}: {counts['pass']} pass, {counts['fail']} fail, {counts['not_applicable']} not applicable, "
            f"{counts['inconclusive']} inconclusive, {counts['error']} error  (* targeted by the scenario)\n"
        )
