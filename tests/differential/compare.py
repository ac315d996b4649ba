"""Compare two recordings of the sequence, step by step, and match what differs against the known list."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from .known import KNOWN
from .normalize import json_differences

__all__ = ["Difference", "compare", "known_reason", "unused_known"]


@dataclass(frozen=True)
class Difference:
    step: str
    where: str  # "status", "headers.allow", "body.signals[0].symbols", "frames[1].data.title", ...
    expected: Any  # the reference server's
    actual: Any  # the server under comparison's

    def __str__(self) -> str:
        return f"{self.step} {self.where}: reference {_short(self.expected)} / compared {_short(self.actual)}"


def compare(steps: list[dict[str, Any]], expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[Difference]:
    found: list[Difference] = []
    for step, want, got in zip(steps, expected, actual, strict=True):
        if step["do"] == "http":
            for key in ("status",):
                if want[key] != got[key]:
                    found.append(Difference(step["id"], key, want[key], got[key]))
            for name in sorted(set(want["headers"]) | set(got["headers"])):
                if want["headers"].get(name) != got["headers"].get(name):
                    found.append(Difference(step["id"], f"headers.{name}", want["headers"].get(name), got["headers"].get(name)))
            found += [Difference(step["id"], f"body{path}", a, b) for path, a, b in json_differences(want["body"], got["body"])]
        elif step["do"] in ("ws_open", "ws_frames"):
            found += [Difference(step["id"], path.lstrip("."), a, b) for path, a, b in json_differences(want, got)]
    return found


def known_reason(difference: Difference) -> str | None:
    """The reason this difference is expected (README, "Fidelity notes (AI-Trader)"), or None."""
    for entry in KNOWN:
        if fnmatch.fnmatchcase(difference.step, entry["step"]) and fnmatch.fnmatchcase(difference.where, entry["where"]):
            return str(entry["reason"])
    return None


def unused_known(differences: list[Difference]) -> list[dict[str, str]]:
    """Known entries no difference matched any more (the list must not outlive what it excuses)."""
    return [
        entry
        for entry in KNOWN
        if not any(fnmatch.fnmatchcase(d.step, entry["step"]) and fnmatch.fnmatchcase(d.where, entry["where"]) for d in differences)
    ]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."
