"""Every API document: structurally valid, examples that match, no route left out, in step with the mock and with
each other; served by ``mockserver openapi|asyncapi`` and the control API, which say so when an API has none."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import WebSocketRoute

from mockserver.apis.cryptorobot.errors import ERROR_CLASSES
from mockserver.apis.cryptorobot.schema import SERVICES
from mockserver.apis.registry import APIS
from mockserver.apis.tradingpartners.schema import INSTRUMENTS
from mockserver.cli import main as cli_main
from mockserver.control.openapi import KINDS, NoDocument, api_asyncapi, api_document_kinds, api_openapi, control_openapi
from mockserver.documents import assert_matches_openapi, assert_valid_asyncapi, direction_messages, payload_validator, schema_validator
from mockserver.documents.findings import lookup, pointer
from tests.conftest import MockFactory

#: (api, kind) -> the profiles with a document of that kind
DOCUMENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("aitrader", "openapi"): ("documented", "upstream"),
    ("aitrader", "asyncapi"): ("documented", "upstream"),
    ("luckylobster", "openapi"): ("documented",),
    ("tradeready", "asyncapi"): ("documented", "upstream"),
    ("cryptorobot", "openapi"): ("documented",),
    ("cryptorobot", "asyncapi"): ("documented",),
    ("tradingpartners", "openapi"): ("documented",),
    ("tradingpartners", "asyncapi"): ("documented",),
}
MISSING = {("tradeready", "openapi"): "asyncapi", ("luckylobster", "asyncapi"): "openapi"}
EVERY = [(api, kind, profile) for (api, kind), profiles in DOCUMENTS.items() for profile in profiles]


def load(api: str, kind: str, profile: str = "documented") -> dict[str, Any]:
    return (api_openapi if kind == "openapi" else api_asyncapi)(api, profile)


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    yield where, node
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _walk(value, where + pointer(str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, where + pointer(index))


def inline(document: Mapping[str, Any], node: Any, seen: tuple[str, ...] = (), *, names: bool = False) -> Any:
    """``node`` with every local $ref replaced by what it points at (a recursive one left as it is), without annotations
    (``description``, ``examples``, ``title``; ``names``: the keys are property names, kept whatever they are)."""
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            return inline(document, lookup(document, ref[1:]), (*seen, ref))
        return {
            k: inline(document, v, seen, names=not names and k == "properties")
            for k, v in node.items()
            if names or k not in ("description", "examples", "title")
        }
    if isinstance(node, list):
        return [inline(document, v, seen) for v in node]
    return node


# -- the documents -------------------------------------------------------------------------------------------------
def test_every_api_has_the_documents_listed_here() -> None:
    assert set(APIS) == {api for api, _ in DOCUMENTS} | {api for api, _ in MISSING}
    for api in APIS:
        assert set(api_document_kinds(api)) == {kind for (name, kind) in DOCUMENTS if name == api}, api
    for (api, kind), other in MISSING.items():
        with pytest.raises(NoDocument) as info:
            load(api, kind)
        assert (info.value.kind, info.value.other) == (kind, other)


@pytest.mark.parametrize(("api", "kind", "profile"), EVERY)
def test_each_document_is_structurally_valid_and_its_examples_match(api: str, kind: str, profile: str) -> None:
    document = load(api, kind, profile)
    if kind == "openapi":
        assert document["openapi"].startswith("3.1")
        validate(document)  # openapi-spec-validator
        checked = 0
        for where, node in _walk(document):
            if isinstance(node, Mapping) and "schema" in node and ("example" in node or "examples" in node):
                validator = schema_validator(document, where + "/schema")
                named = [lookup(document, e["$ref"][1:]) if "$ref" in e else e for e in node.get("examples", {}).values()]
                examples = [node["example"]] if "example" in node else [e["value"] for e in named if "value" in e]
                for example in examples:
                    errors = [e.message for e in validator.iter_errors(example)]
                    assert not errors, (where, example, errors)
                    checked += 1
        assert checked or api == "aitrader", "every API's OpenAPI document but AI-Trader's has media type examples"
    else:
        assert_valid_asyncapi(document)  # version, $refs, component keys, payload schemas (draft 7), examples, operations
        for direction in ("send", "receive"):
            try:
                messages = direction_messages(document, direction)
            except AssertionError:
                continue  # TradingPartners' clients send nothing on the stream
            for name in messages:  # every example is its own message's payload and no other's of its direction
                component = next(m for m in document["components"]["messages"].values() if m["name"] == name)
                for example in component.get("examples", []):
                    accepted = {
                        other for other, where in messages.items() if payload_validator(document, where).is_valid(example["payload"])
                    }
                    assert accepted == {name}, (name, example)


def test_the_profiles_documents_differ_where_the_profiles_do() -> None:
    assert api_asyncapi("aitrader") is api_asyncapi("aitrader", "documented")
    assert api_asyncapi("aitrader", "upstream")["info"]["title"].endswith("upstream profile (agentfeed-mock)")
    for api in ("cryptorobot", "tradingpartners"):
        with pytest.raises(ValueError, match="no profile 'upstream'"):
            api_openapi(api, "upstream")
        assert api_openapi(api) is api_openapi(api, "documented") and api_asyncapi(api) is api_asyncapi(api, "documented")


# -- true to the mock ----------------------------------------------------------------------------------------------
def _documented(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(m, path) for path, item in document["paths"].items() for m in item if m in methods}


def test_every_tradingpartners_route_is_documented() -> None:
    from mockserver import Runtime, scenario_from_yaml
    from mockserver.apis.tradingpartners.app import build_app

    app = build_app(Runtime(scenario_from_yaml("id: t\ndescription: routes\nclock: {start: '2026-03-09T12:00:00Z'}\n")))
    routes = {(m.lower(), r.path) for r in app.routes if not isinstance(r, WebSocketRoute) for m in r.methods or () if m != "HEAD"}
    assert routes == _documented(api_openapi("tradingpartners")) and len(routes) == 4


def test_cryptorobot_documents_every_service_method_and_nothing_else() -> None:
    verbs = {
        "find": ("get", ""),
        "create": ("post", ""),
        "get": ("get", "/{id}"),
        "update": ("put", "/{id}"),
        "patch": ("patch", "/{id}"),
        "remove": ("delete", "/{id}"),
    }
    expected = {(verbs[m][0], f"/{path}{verbs[m][1]}") for path, methods in SERVICES.items() for m in methods}
    expected |= {("post", "/authentication"), ("delete", "/authentication"), ("delete", "/authentication/{id}")}
    expected |= {("get", "/socket.io/"), ("post", "/socket.io/"), ("options", "/socket.io/")}
    assert _documented(api_openapi("cryptorobot")) == expected
    calls = set(direction_messages(api_asyncapi("cryptorobot"), "receive"))
    assert calls == {f"{m} {path}" for path, methods in SERVICES.items() for m in methods} | {
        "create authentication",
        "remove authentication",
    }
    events = {name for name in direction_messages(api_asyncapi("cryptorobot"), "send") if not name.endswith("result")}
    assert events == {f"{path} {e}" for path in SERVICES if path != "users" for e in ("changed", "removed")} | {"error", "connect_error"}


def test_cryptorobot_errors_are_the_feathers_classes_of_the_mock() -> None:
    for document in (api_openapi("cryptorobot"), api_asyncapi("cryptorobot")):
        schema = document["components"]["schemas"]["FeathersError"]
        pairs = {
            b["properties"]["name"]["const"]: (b["properties"]["code"].get("const", 500), b["properties"]["className"]["const"])
            for b in schema["oneOf"]
        }
        assert pairs == ERROR_CLASSES


def test_the_cryptorobot_documents_share_their_records_and_errors() -> None:
    rest, socket = api_openapi("cryptorobot"), api_asyncapi("cryptorobot")
    shared = set(rest["components"]["schemas"]) & set(socket["components"]["schemas"])
    typed_differently = {"Query", "QueryValue", "QueryNumber", "Condition", "Conditions"}  # a URL carries strings, a socket JSON values
    assert {"Strategy", "Trader", "Ticker", "FeathersError", "AuthResult", "StrategyInput", "Page"} <= shared
    for name in sorted(shared - typed_differently):  # equal as written: their $refs name schemas compared here too
        assert rest["components"]["schemas"][name] == socket["components"]["schemas"][name], name
    assert rest["components"]["schemas"]["QueryValue"] == {"type": "string"}


def test_tradingpartners_instruments_are_the_mocks() -> None:
    assert api_openapi("tradingpartners")["components"]["schemas"]["Instrument"]["enum"] == list(INSTRUMENTS)
    working = api_asyncapi("tradingpartners")["components"]["schemas"]["WorkingEvent"]["properties"]["data"]["properties"]
    assert working["instrument"]["enum"] == list(INSTRUMENTS)


def test_aitrader_frames_carry_the_data_the_openapi_document_gives_each_type() -> None:
    openapi, asyncapi = api_openapi("aitrader", "upstream"), api_asyncapi("aitrader", "upstream")
    frames = {m["name"]: m["payload"] for m in asyncapi["components"]["messages"].values()}
    assert set(openapi["x-message-types"]) == set(frames) - {"token", "other"}
    for kind, declared in openapi["x-message-types"].items():
        frame = inline(asyncapi, frames[kind])
        assert frame["properties"]["type"] == {"const": kind}
        assert frame["properties"]["data"] == inline(openapi, declared["data"]), kind
    openapi, asyncapi = api_openapi("aitrader", "documented"), api_asyncapi("aitrader", "documented")
    frames = {m["name"]: inline(asyncapi, m["payload"]) for m in asyncapi["components"]["messages"].values()}
    assert set(openapi["x-message-types"]) == set(frames) - {"token", "other"}
    for kind, declared in openapi["x-message-types"].items():  # flat: the data's fields at the top of the frame
        data = inline(openapi, declared["data"])
        for data_variant, frame_variant in zip(data.get("oneOf", [data]), frames[kind].get("oneOf", [frames[kind]]), strict=True):
            assert set(data_variant["required"]) | {"type", "content", "timestamp"} <= set(frame_variant["required"]), kind
            for field, schema in data_variant["properties"].items():
                assert frame_variant["properties"][field] == schema, (kind, field)


# -- the CLI ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("api", "kind", "profile"), EVERY)
def test_the_cli_prints_each_document(api: str, kind: str, profile: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main([kind, api, "--profile", profile]) == 0
    assert json.loads(capsys.readouterr().out) == load(api, kind, profile)


def test_the_cli_says_in_one_sentence_which_document_an_api_has_not() -> None:
    for (api, kind), other in MISSING.items():
        with pytest.raises(SystemExit) as exited:
            cli_main([kind, api])
        message = str(exited.value.code)
        assert message.startswith(f"mockserver: {kind}: {api} has no {KINDS[kind]} document: ")
        assert message.endswith(f"; its {KINDS[other]} document: mockserver {other} {api}")
        assert "\n" not in message
    with pytest.raises(SystemExit, match="no profile 'upstream'"):
        cli_main(["asyncapi", "tradingpartners", "--profile", "upstream"])
    done = subprocess.run([sys.executable, "-m", "mockserver", "openapi", "tradeready"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and "No such file" not in done.stderr
    assert "tradeready has no OpenAPI document" in done.stderr and "mockserver asyncapi tradeready" in done.stderr


def test_the_cli_help_offers_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    text = capsys.readouterr().out
    assert "openapi" in text and "asyncapi" in text and "AsyncAPI 3.0" in text


# -- the control API -------------------------------------------------------------------------------------------------
def test_the_control_api_serves_every_document_and_names_the_one_an_api_has(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("demo")
    control = mock.url("control") + "/_mock"

    def get(path: str, status: int) -> Any:
        response = http.get(control + path)
        assert response.status_code == status, response.text
        assert_matches_openapi(control_openapi(), "GET", "/_mock" + path.split("?")[0], status, response.json())
        return response.json()

    for api, kind, profile in EVERY:
        assert get(f"/{kind}/{api}.json?profile={profile}", 200) == load(api, kind, profile)
        if profile == "documented":
            assert get(f"/{kind}/{api}.json", 200) == load(api, kind)  # the demo runs every API in its documented profile
    for (api, kind), other in MISSING.items():
        error = get(f"/{kind}/{api}.json", 404)["error"]
        assert error.startswith(f"{api} has no ") and error.endswith(f"document: /_mock/{other}/{api}.json"), error
    assert "unknown API 'nope'" in get("/asyncapi/nope.json", 404)["error"]
    assert "no profile 'upstream'" in get("/asyncapi/cryptorobot.json?profile=upstream", 400)["error"]
    control_paths = control_openapi()["paths"]
    assert {"/_mock/openapi.json", "/_mock/openapi/{api}.json", "/_mock/asyncapi/{api}.json"} <= set(control_paths)
