"""Every fenced block in the README runs in a test, or says why it does not (so the README cannot rot).

A block is marked by an HTML comment on the line before its fence, ``<!-- readme: MODE (why) -->``:

=================  ===============================================================================
``python``         executed (a fresh interpreter); it must exit 0
``run``            each command line runs with the project's commands on PATH, in a scratch directory
                   that has the built-in ``scenarios/``; each must exit 0
``run-with-mock``  the block runs in bash while ``mockserver serve`` listens on free ports, with
                   ``$ENV_FILE`` naming its env file; it must exit 0
``scenario``       a scenario: it must validate
``journal-line``   one journal entry: it must validate against ``mockserver schema journal``
``observe-line``   one line an agent writes to ``MOCK_OBSERVE``: the runner must journal it as ``observe.event``
``ci``             a CI recipe (GitHub Actions, GitLab CI): tests/test_conformance_ci_recipe.py runs its shell steps
``pytest``         a complete test file for the ``agentfeed`` pytest plugin (tests/test_pytest_plugin_readme.py)
``illustrative``   not run (output, or what would serve until stopped); the parentheses say why
=================  ===============================================================================
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conformance.runner import observation
from mockserver import scenario_from_yaml
from mockserver.core.catalogue import journal_schema
from tests.test_first_hour import free_range, served, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- readme: ([a-z-]+)(?: \((.+)\))? -->$")
MODES = {"python", "run", "run-with-mock", "scenario", "journal-line", "observe-line", "ci", "pytest", "illustrative"}
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    mode: str | None
    why: str | None
    text: str

    @property
    def name(self) -> str:
        return f"README.md:{self.line} ({self.mode or 'unmarked'} {self.lang})"


def blocks(path: Path = ROOT / "README.md") -> list[Block]:
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = lines[index]
        if fence.startswith("```"):
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            marker = MARKER.match(before.strip())
            text = "\n".join(lines[index + 1 : end]) + "\n"
            found.append(Block(index + 1, fence[3:].strip(), marker.group(1) if marker else None, marker and marker.group(2), text))
            index = end
        index += 1
    return found


ALL = blocks()


def of(mode: str) -> list[Block]:
    return [b for b in ALL if b.mode == mode]


def test_every_block_is_run_or_says_why_not() -> None:
    unmarked = [b.name for b in ALL if b.mode not in MODES]
    assert not unmarked, f"README blocks with no (or an unknown) <!-- readme: MODE --> marker: {unmarked}"
    silent = [b.name for b in of("illustrative") if not b.why]
    assert not silent, f"illustrative blocks say why they are not run: {silent}"
    assert of("python") and of("run") and of("run-with-mock") and of("scenario") and of("journal-line")


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "NO_PROXY": "127.0.0.1,localhost"}


@pytest.mark.parametrize("block", of("python"), ids=lambda b: b.name)
def test_python_blocks_run(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(block.text, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env())
    assert out.returncode == 0, f"{block.name}:\n{out.stdout}\n{out.stderr}"


@pytest.mark.parametrize("block", of("run"), ids=lambda b: b.name)
def test_command_blocks_run(block: Block, tmp_path: Path) -> None:
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    for command in block.text.splitlines():
        command = command.split("  #", 1)[0].strip()
        if not command or command.startswith("#"):
            continue
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_env())
        assert out.returncode == 0, f"{block.name}: `{command}` exited {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        assert out.stdout or ">" in shlex.split(command), f"{block.name}: `{command}` printed nothing"


@pytest.mark.parametrize("block", of("run-with-mock"), ids=lambda b: b.name)
def test_command_blocks_run_against_a_served_mock(block: Block, tmp_path: Path) -> None:
    base = free_range()
    env_file = tmp_path / "mock.env"
    with served("--base-port", str(base), "--env-file", str(env_file)) as proc:
        wait_healthy(f"http://127.0.0.1:{base}", proc)
        out = subprocess.run(
            ["bash", "-ec", block.text],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env={**_env(), "ENV_FILE": str(env_file)},
        )
    assert out.returncode == 0, f"{block.name}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"


@pytest.mark.parametrize("block", of("scenario"), ids=lambda b: b.name)
def test_scenario_blocks_validate(block: Block) -> None:
    scenario_from_yaml(block.text, source=block.name)


@pytest.mark.parametrize("block", of("journal-line"), ids=lambda b: b.name)
def test_journal_line_blocks_validate(block: Block) -> None:
    validator = Draft202012Validator(journal_schema())
    errors = list(validator.iter_errors(json.loads(block.text)))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("block", of("observe-line"), ids=lambda b: b.name)
def test_observation_lines_are_journaled_as_events(block: Block) -> None:
    api, kind, data = observation(block.text.strip())
    assert kind.name == "observe.event", data
    entry = {"seq": 1, "vtime": 0.0, "wall": 0.0, "api": api, "kind": kind.name, "direction": "in"}
    entry |= {"conn": None, "session": None, "principal": None, "data": data}
    assert not list(Draft202012Validator(journal_schema()).iter_errors(entry))


def test_the_control_api_table_lists_every_route() -> None:
    from mockserver import Runtime
    from mockserver.control.app import build_control_app
    from mockserver.control.facade import MockControl

    runtime = Runtime(scenario_from_yaml("id: t/readme\ndescription: routes\nclock: {start: '2026-03-09T12:00:00Z'}\n"))
    served = {
        (method, route.path.removeprefix("/_mock/"))
        for route in build_control_app(MockControl(runtime)).routes
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Control API", 1)[1].split("\n\n", 2)[1]
    listed: set[tuple[str, str]] = set()
    for row in table.splitlines():
        cell = row.split("|")[1] if row.startswith("|") else ""
        for method, path, more in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) ([^`]+)`(?: \(or `(\w+)`\))?", cell):
            listed.add((method, path))
            if more:
                listed.add((more, path))
    assert served == listed, f"routes served but not listed: {sorted(served - listed)}; listed but not served: {sorted(listed - served)}"
