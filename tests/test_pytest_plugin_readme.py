"""The README's pytest examples run as the tests they are: each block marked ``<!-- readme: pytest -->`` (the line right
before its fence) is a complete test file, run by pytest in a fresh project with no conftest."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- readme: pytest -->"
BLOCK = re.compile(r"^" + re.escape(MARKER) + r"\n```python\n(.*?)^```$", re.M | re.S)
INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
    ignore::DeprecationWarning:websockets.*
    ignore::DeprecationWarning:uvicorn.*
"""


def readme_blocks(text: str) -> list[str]:
    """The blocks marked as complete pytest files; a marker not right before a Python fence is an error."""
    blocks = BLOCK.findall(text)
    assert len(blocks) == text.count(MARKER), f"every {MARKER} line must come right before a ```python fence"
    return blocks


def test_the_extractor_takes_exactly_the_marked_blocks() -> None:
    text = f"intro\n```python\nnot this\n```\n{MARKER}\n```python\nx = 1\n```\nand\n{MARKER}\n```python\ny = 2\n```\n"
    assert readme_blocks(text) == ["x = 1\n", "y = 2\n"]
    with pytest.raises(AssertionError, match="right before"):
        readme_blocks(f"{MARKER}\n\n```python\nx = 1\n```\n")


def test_the_readme_pytest_examples_pass(pytester: pytest.Pytester) -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) == 3, "the three examples of 'Testing your agent with pytest'"
    pytester.makeini(INI)
    for index, block in enumerate(blocks, start=1):
        assert "def test_" in block, f"README pytest block {index} has no test"
        pytester.makepyfile(**{f"test_readme_example_{index}": block})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rfEs", timeout=240)
    outcomes = result.parseoutcomes()
    assert not outcomes.get("failed") and not outcomes.get("errors"), result.stdout.str()
    skipped = outcomes.get("skipped", 0)
    assert skipped == (0 if shutil.which("node") else 1), "only the Node example may skip, and only without Node"
    assert outcomes.get("passed", 0) + skipped == 3
