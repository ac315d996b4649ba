"""Properties of the two inputs a user writes rather than a client sends: scenario YAML and control-API bodies.

- The loader (``scenario_from_yaml``) returns a scenario or raises :class:`ScenarioError`, every problem of which
  starts with ``<source>:<line>:<column>:``, whatever the text: a built-in scenario with a value swapped for any
  YAML value, keys dropped or added, or characters spliced into its text (control characters, tabs, brackets).
- The control API answers any body on any route that takes one with 2xx or a 4xx in its own shape
  (``{"error": <text>}``, plus ``problems`` for a scenario), never a 5xx; nothing is logged, no ``server.error``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from mockserver import ThreadedMockServer, scenario_from_yaml
from mockserver.core.errors import ScenarioError
from tests.fuzzing import Watch, budget, fuzz_mock

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").rglob("*.yaml"))
TEXTS = {path.relative_to(path.parent.parent).as_posix(): path.read_text(encoding="utf-8") for path in SCENARIOS}
#: every problem of a ScenarioError says where
POSITION = re.compile(r"^<fuzz>:\d+:\d+: ")

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["1h", "-5s", "0", "2026-13-45", "2026-03-02T12:00:00Z", "every: 0", "~", "*", "&a", "!!binary x", "{", "]"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10) | st.integers(), inner, max_size=4),
    max_leaves=12,
)
#: what a splice may insert into a scenario's text
_JUNK = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["\x00", "\x06", "\t", "\ufeff", "\r", ":", ": ", "- ", "[", "{", "&x ", "*x", "!!python/object ", "<<: ", "'", '"', "\\"]
    ),
    st.text(alphabet="[{", min_size=100, max_size=400),
)


def _paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*path, index))


def _replace(data: Any, path: tuple[Any, ...], value: Any, *, drop: bool) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        copy = dict(data)
        if drop and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _replace(data[head], rest, value, drop=drop)
        return copy
    copy_list = list(data)
    if drop and not rest:
        del copy_list[head]
    else:
        copy_list[head] = _replace(data[head], rest, value, drop=drop)
    return copy_list


def _load(text: str) -> None:
    """The loader's contract: a scenario, or a ScenarioError whose every problem has a position."""
    try:
        scenario_from_yaml(text, source="<fuzz>")
    except ScenarioError as exc:
        event("ScenarioError")
        assert exc.problems, str(exc)
        for problem in exc.problems:
            assert POSITION.match(problem), problem
    else:
        event("loaded")


@given(name=st.sampled_from(sorted(TEXTS)), data=st.data())
@budget(40, long=1500)
def test_a_scenario_with_any_value_anywhere_loads_or_says_where_it_is_wrong(name: str, data: st.DataObject) -> None:
    original = yaml.safe_load(TEXTS[name])
    paths = list(_paths(original))
    path = data.draw(st.sampled_from(paths), label="path")
    drop = bool(path) and data.draw(st.booleans(), label="drop")
    changed = _replace(original, path, data.draw(_VALUES, label="value"), drop=drop)
    if isinstance(changed, dict) and data.draw(st.booleans(), label="add a key"):
        changed = {**changed, data.draw(st.text(max_size=8), label="key"): data.draw(_VALUES, label="added")}
    _load(yaml.safe_dump(changed, allow_unicode=True, sort_keys=False))


@given(name=st.sampled_from(sorted(TEXTS)), data=st.data())
@budget(40, long=1500)
def test_a_scenario_text_with_anything_spliced_in_loads_or_says_where_it_is_wrong(name: str, data: st.DataObject) -> None:
    text = TEXTS[name]
    start = data.draw(st.integers(min_value=0, max_value=len(text)), label="start")
    end = data.draw(st.integers(min_value=start, max_value=min(len(text), start + 40)), label="end")
    _load(text[:start] + data.draw(_JUNK, label="junk") + text[end:])


# -- the control API's bodies -------------------------------------------------------------------------------------------
#: the routes that read a body (mockserver/control/openapi.yaml)
ROUTES = [
    ("POST", "/_mock/reset"),
    ("POST", "/_mock/scenario"),
    ("PUT", "/_mock/scenario"),
    ("POST", "/_mock/clock"),
    ("PATCH", "/_mock/clock"),
    ("POST", "/_mock/clock/start"),
    ("POST", "/_mock/clock/advance"),
    ("POST", "/_mock/emit"),
    ("POST", "/_mock/state"),
    ("PATCH", "/_mock/state"),
    ("POST", "/_mock/faults"),
]
#: the keys those bodies have, so that a value of the wrong kind reaches the code that reads it
_KEYS = st.sampled_from(
    ["id", "yaml", "now", "speed", "auto_advance", "seconds", "to", "until", "api", "event", "data", "set", "kind", "fault", "for"]
    + ["target", "duration", "probability", "count", "status", "user", "service", "method", "x"]
)
_APIS = st.sampled_from(["aitrader", "luckylobster", "tradeready", "cryptorobot", "tradingpartners", "nope", ""])
_BODY_VALUES = st.one_of(_VALUES, _APIS, st.sampled_from(["1h", "10s", "-1s", "auto", "http_error", "disconnect", "latency"]))
_JSON_BODIES = st.one_of(
    st.dictionaries(_KEYS, _BODY_VALUES, max_size=5),
    _VALUES,
)


@pytest.fixture(scope="module")
def mock() -> Iterator[ThreadedMockServer]:
    with fuzz_mock() as server:
        yield server


@given(
    route=st.sampled_from(ROUTES),
    body=st.one_of(
        _JSON_BODIES.map(lambda value: ("application/json", json.dumps(value).encode())),
        st.binary(max_size=60).map(lambda raw: ("application/json", raw)),
        st.text(max_size=200).map(lambda text: ("application/yaml", text.encode("utf-8", "surrogatepass"))),
        st.binary(max_size=60).map(lambda raw: ("text/plain", raw)),
    ),
)
@budget(50, long=2000)
def test_any_control_body_gets_2xx_or_a_4xx_in_the_control_apis_shape(
    mock: ThreadedMockServer, route: tuple[str, str], body: tuple[str, bytes]
) -> None:
    method, path = route
    content_type, content = body
    with Watch(mock) as watch:
        answer = httpx.request(method, mock.url("control") + path, content=content, headers={"content-type": content_type}, timeout=10)
        event(f"{answer.status_code}")
        assert answer.status_code < 500, (answer.status_code, answer.text)
        if answer.status_code >= 400:
            error = answer.json()
            assert isinstance(error, dict) and isinstance(error.get("error"), str) and error["error"], error
            assert set(error) <= {"error", "problems", "hint"}, error
        watch.check("control")
