"""The journal catalogue: one place for every kind, a published schema generated from it, record sites that use it."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

from jsonschema import Draft202012Validator

from mockserver.core import catalogue
from mockserver.core.catalogue import CATALOGUE, END_KINDS, KindName, data_schema, journal_schema, kinds_markdown

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mockserver"
NAME = re.compile(r"^[a-z]+\.[a-z]+(_[a-z]+)*$")


def test_every_kind_is_declared_once_with_one_naming_convention() -> None:
    assert set(get_args(KindName)) == set(CATALOGUE), "the Literal of names and the catalogue list the same kinds"
    for name, spec in CATALOGUE.items():
        assert NAME.match(name), f"{name}: kinds are <area>.<event>, lower case, words joined by _"
        assert spec.summary.endswith(".") and spec.directions, name
        assert data_schema(spec)["type"] == "object"
    assert END_KINDS == {"conn.refused", "ws.reject", "ws.close", "ws.reset", "sse.end", "sse.reset", "sio.disconnect"}
    for name in END_KINDS - {"conn.refused"}:
        assert "by" in CATALOGUE[name].fields.__required_keys__, f"{name} says who ended it"


def test_the_published_schema_is_valid_and_strict_about_fields() -> None:
    schema = journal_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    line = {
        "seq": 1,
        "vtime": 1770388200.0,
        "wall": 1.0,
        "api": "luckylobster",
        "kind": "http.request",
        "direction": "in",
        "conn": "127.0.0.1:1",
        "session": None,
        "principal": "key:a",
        "data": {"method": "GET", "path": "/", "query": "", "headers": {}, "body": ""},
    }
    assert validator.is_valid(line)
    assert not validator.is_valid({**line, "data": {**line["data"], "extra": 1}}), "an undeclared field"
    assert not validator.is_valid({**line, "direction": "out"}), "a direction the kind never has"
    assert not validator.is_valid({**line, "kind": "http.nope"}), "a kind outside the catalogue"


def test_mockserver_schema_prints_the_scenario_or_the_journal_schema() -> None:
    def run(*args: str) -> dict[str, object]:
        out = subprocess.run([sys.executable, "-m", "mockserver", "schema", *args], capture_output=True, text=True, check=True)
        document: dict[str, object] = json.loads(out.stdout)
        return document

    assert run("journal") == journal_schema()
    assert run() == run("scenario") and "timeline" in json.dumps(run())


def test_the_readme_table_of_kinds_is_generated_from_the_catalogue() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- journal-kinds:start -->\n", "<!-- journal-kinds:end -->"
    assert start in readme and end in readme, "the README has the generated table between its markers"
    table = readme.split(start, 1)[1].split(end, 1)[0]
    assert table == kinds_markdown(), "run `make docs` to regenerate the README's table of journal kinds"


def test_the_test_suite_checks_every_entry_against_the_catalogue() -> None:
    assert os.environ.get("AGENTFEED_JOURNAL_STRICT") == "1", "conftest turns the strict check on for every server"


def _record_calls() -> list[tuple[Path, ast.Call]]:
    calls = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("record", "record_many"):
                calls.append((path, node))
    return calls


def test_every_record_site_names_a_catalogue_kind_and_builds_its_data_with_the_kinds_constructor() -> None:
    constants = {name for name in dir(catalogue) if isinstance(getattr(catalogue, name), catalogue.Kind)}
    calls = _record_calls()
    assert len(calls) > 40
    for path, call in calls:
        where = f"{path.relative_to(ROOT)}:{call.lineno}"
        args = call.args
        if path.name in ("journal.py", "recorder.py"):  # the journal itself, and the domains' recorder passing a kind through
            continue
        kind = args[-2]  # record(api, KIND, data) in the edges, record(KIND, data) in the domains
        if isinstance(kind, ast.Name) and kind.id == "kind":  # a helper that takes the kind from its caller
            continue
        assert isinstance(kind, ast.Name) and kind.id in constants, f"{where}: journal kinds are catalogue constants"
        data = args[-1]
        assert not isinstance(data, (ast.Dict, ast.DictComp)), f"{where}: data is built with the kind's TypedDict, not a dict literal"
