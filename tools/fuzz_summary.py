"""The figures of a ``make fuzz`` run: pytest's ``--hypothesis-show-statistics`` output in, one line per property out.

Reads the output on stdin (``make fuzz`` tees it to ``.fuzz.log``) and prints, per test (schemathesis's one test per
operation folded into its document's line), the operations or cases, the examples run (passing and failing, every
phase), the invalid ones Hypothesis discarded, and the seconds spent; then the totals and pytest's own last line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

__all__ = ["Figures", "main", "summarise"]

_HEADER = re.compile(r"^(tests/[^:\s]+::[A-Za-z0-9_]+)(\[.*\])?:\s*$")
_PHASE = re.compile(r"^\s+- during \w+ phase \(([\d.]+) seconds\):")
_COUNTS = re.compile(r"^\s+- (\d+) passing, (\d+) failing, and (\d+) invalid test cases")
_RESULT = re.compile(r"^=+ .*(passed|failed|error).* in .* =+$|^\d+ (passed|failed).* in ")


@dataclass
class Figures:
    """One property's (or one document's) figures."""

    cases: int = 0
    passing: int = 0
    failing: int = 0
    invalid: int = 0
    seconds: float = 0.0


def summarise(lines: list[str]) -> tuple[dict[str, Figures], str]:
    """Figures per test name, and pytest's result line."""
    figures: dict[str, Figures] = {}
    current: Figures | None = None
    result = ""
    for line in lines:
        header = _HEADER.match(line)
        if header:
            current = figures.setdefault(header.group(1).removeprefix("tests/"), Figures())
            current.cases += 1
            continue
        if _RESULT.match(line.strip()):
            result = line.strip().strip("= ")
        if current is None:
            continue
        phase = _PHASE.match(line)
        if phase:
            current.seconds += float(phase.group(1))
        counts = _COUNTS.match(line)
        if counts:
            current.passing += int(counts.group(1))
            current.failing += int(counts.group(2))
            current.invalid += int(counts.group(3))
    return figures, result


def main() -> int:
    figures, result = summarise(sys.stdin.read().splitlines())
    if not figures:
        print("no Hypothesis statistics in the input (run pytest with --hypothesis-show-statistics)")
        return 1
    width = max(len(name) for name in figures)
    print(f"\n{'property':<{width}}  {'cases':>5}  {'examples':>9}  {'failing':>7}  {'invalid':>7}  {'seconds':>8}")
    total = Figures()
    for name, f in sorted(figures.items()):
        print(f"{name:<{width}}  {f.cases:>5}  {f.passing + f.failing:>9}  {f.failing:>7}  {f.invalid:>7}  {f.seconds:>8.1f}")
        total.cases += f.cases
        total.passing += f.passing
        total.failing += f.failing
        total.invalid += f.invalid
        total.seconds += f.seconds
    examples = total.passing + total.failing
    print(f"{'total':<{width}}  {total.cases:>5}  {examples:>9}  {total.failing:>7}  {total.invalid:>7}  {total.seconds:>8.1f}")
    if result:
        print(f"pytest: {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
