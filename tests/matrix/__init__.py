"""The mutant matrix's cases: each API's module here lists its ``CASES`` (found by name, no registry to edit).

A case is one ``conformance run`` of a real client program: a reference client, which must pass
every rule, or a mutant with one defect, which must fail exactly the one rule it names.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON_CLIENTS = ROOT / "fixtures" / "clients"
NODE_CLIENTS = ROOT / "js" / "clients"

__all__ = ["MIN_REAL_SECONDS", "Case", "all_cases", "node", "python"]


def python(name: str, *args: str) -> tuple[str, ...]:
    """A Python client of ``fixtures/clients/``."""
    return (sys.executable, str(PYTHON_CLIENTS / name), *args)


def node(name: str, *args: str) -> tuple[str, ...]:
    """A Node client of ``js/clients/`` (its packages come from ``js/package-lock.json``)."""
    return ("node", str(NODE_CLIENTS / name), *args)


#: The least real time a case runs (its run goes on past the scenario's ``duration`` if need be): a client's start
#: (a second or two for Node when the matrix starts eight runs at once on two cores, a virtual minute or two at x60)
#: must leave a mutant the time to show its defect. CI once saw a Node client connect 1.9 s into a 2 s run.
MIN_REAL_SECONDS = 6.0


@dataclass(frozen=True)
class Case:
    scenario: str
    command: tuple[str, ...]
    speed: float
    #: the one rule this mutant breaks (None: a reference client, which breaks none)
    fails: str | None = None
    #: ``faketime`` or ``none`` (None: the runner's default for the speed)
    warp: str | None = None
    #: a shorter run than the scenario's ``duration:`` (e.g. "4m")
    duration: str | None = None

    @property
    def name(self) -> str:
        # the client's file name with its suffix: a .py and a .mjs client may share a stem
        client = Path(self.command[1]).name if len(self.command) > 1 else self.command[0]
        flags = "".join(arg.removeprefix("--") if arg.startswith("--") else f"={arg}" for arg in self.command[2:])
        return f"{self.scenario}:{client}{':' + flags if flags else ''}"

    def argv(self, folder: Path, report: Path) -> list[str]:
        argv = [sys.executable, "-m", "conformance", "run", "--quiet", "--scenario", self.scenario, "--speed", f"{self.speed:g}"]
        argv += ["--warp", self.warp] if self.warp else []
        argv += ["--duration", f"{self.run_seconds() * self.speed:.3f}s"]
        return [*argv, "--out", str(folder), "--json", str(report), "--", *self.command]

    def run_seconds(self) -> float:
        """Real seconds the case runs: its scenario's (or ``duration``) at its speed, at least ``MIN_REAL_SECONDS``."""
        return max(_virtual_seconds(self) / self.speed, MIN_REAL_SECONDS)


def all_cases() -> list[Case]:
    """Every API module's cases, the longest runs first (they start at once and bound the matrix's time)."""
    cases: list[Case] = []
    for module in pkgutil.iter_modules(__path__):
        cases += importlib.import_module(f"{__name__}.{module.name}").CASES
    return sorted(cases, key=lambda case: -case.run_seconds())


def _virtual_seconds(case: Case) -> float:
    from conformance.runner import default_duration
    from mockserver.core.durations import parse_duration
    from mockserver.scenario.loader import load_builtin

    scenario = load_builtin(case.scenario)
    return parse_duration(case.duration) if case.duration else scenario.duration or default_duration(scenario)
