"""No module of the core (nor the document checkers) reads the wall clock, sleeps, or imports a web framework (D4)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "mockserver"
CORE = sorted(
    [
        *ROOT.joinpath("core").glob("*.py"),
        *ROOT.joinpath("scenario").glob("*.py"),
        *ROOT.joinpath("faults").glob("model.py"),
        ROOT / "runtime.py",
        *ROOT.joinpath("apis").glob("*/domain.py"),
        *ROOT.joinpath("apis").glob("*/schema.py"),
        ROOT / "apis" / "registry.py",
        *ROOT.joinpath("documents").glob("*.py"),
    ]
)
FRAMEWORKS = {"starlette", "uvicorn", "socketio", "engineio", "websockets", "sse_starlette", "httpx", "asyncio", "anyio", "trio"}
FORBIDDEN_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "sleep"),
    ("time", "time_ns"),
    ("time", "monotonic_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"imports {a.name}" for a in node.names if a.name.split(".")[0] in FRAMEWORKS | {"time"}]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in FRAMEWORKS:
                found.append(f"imports {node.module}")
            if node.module == "time":
                found.append("imports from time")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (node.value.id, node.attr) in FORBIDDEN_CALLS:
            found.append(f"uses {node.value.id}.{node.attr}")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in {"sleep", "call_later", "time"}
            and isinstance(node.value, ast.Name)
            and node.value.id in {"loop", "asyncio"}
        ):
            found.append(f"uses {node.value.id}.{node.attr}")
    return found


def test_the_core_list_is_not_empty() -> None:
    assert len(CORE) >= 10


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_reads_no_clock_and_imports_no_framework(path: Path) -> None:
    assert _violations(path) == []


def test_the_checker_catches_a_wall_clock_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom datetime import datetime\nx = datetime.now()\ntime.sleep(1)\nimport starlette\n")
    assert set(_violations(bad)) == {"imports time", "uses datetime.now", "uses time.sleep", "imports starlette"}
