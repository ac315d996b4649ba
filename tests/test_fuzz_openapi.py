"""schemathesis over every HTTP route of every API, in each profile, and over the control API, from the OpenAPI
documents the mock serves (``/_mock/openapi/<api>.json``, ``/_mock/openapi.json``), against a real
``ThreadedMockServer``: no 5xx, no response its document does not allow (status, content type, headers, body),
no hang (each request has a timeout), nothing logged and no ``server.error``.

Each API is logged in first (login -> token: Cryptorobot's POST /authentication, TradingPartners' login; the
scenario's keys for the others), as a client would, and every fuzzed call carries that token, so the fuzzed
requests reach past the authentication (the login routes themselves are fuzzed too; refused credentials are
tests/test_fuzz_sse.py's and each API's own tests' business). The stateful run follows the links schemathesis
infers from the documents (the OpenAPI documents declare none): a created record's ``_id`` into its get, update,
patch and delete, an agent's or a signal's id into the calls that take it. TradingPartners' event stream
(``GET /api/v1/alerts``) is left to tests/test_fuzz_sse.py: a stream that never ends is no request/response pair
for schemathesis to check.

Bounded (``make test``): derandomised, a fixed seed, at most ``_EXAMPLES`` examples per operation. ``make fuzz``
(``AGENTFEED_FUZZ=long``): randomised, many more.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case

from mockserver import ThreadedMockServer
from mockserver.control.openapi import api_openapi, control_openapi
from tests.fuzzing import AT_TOKEN, EMAIL, LL_KEY, LONG, PASSWORD, Watch, fuzz_mock

_SCALE = float(os.environ.get("AGENTFEED_FUZZ_SCALE", "1"))
#: examples per operation: the bounded run's, or ``make fuzz``'s
_EXAMPLES = max(1, int(200 * _SCALE)) if LONG else 8
#: a request that takes this long is a hang (the mock answers in milliseconds)
_TIMEOUT = 10.0
#: what the issue asks of every answer: no 5xx, and a status, content type, headers and body its document allows.
#: Not schemathesis's checks of how strictly an API validates (positive_data_acceptance, negative_data_rejection,
#: ignored_auth, ...): the documents describe the shapes, not every rule an API checks (an instant, a known profile).
CHECKS = [
    getattr(schemathesis.checks, name)
    for name in (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
]


def _config() -> SchemathesisConfig:
    generation: dict[str, Any] = {"max-examples": _EXAMPLES}
    if not LONG:
        generation["deterministic"] = True
    return SchemathesisConfig.from_dict(
        {
            "seed": 15,
            "generation": generation,
            "request-timeout": _TIMEOUT,
            "phases": {"coverage": {"enabled": LONG}},
        }
    )


def _login(mock: ThreadedMockServer, api: str) -> dict[str, str]:
    """The headers of a logged-in client of ``api`` (login -> token)."""
    base = mock.url(api)
    if api == "aitrader":
        return {"Authorization": f"Bearer {AT_TOKEN}"}
    if api == "luckylobster":
        return {"Authorization": f"Bearer {LL_KEY}"}
    if api == "cryptorobot":
        answer = httpx.post(base + "/authentication", json={"strategy": "local", "email": EMAIL, "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['accessToken']}"}
    if api == "tradingpartners":
        answer = httpx.post(base + "/api/v1/users/login", json={"email": EMAIL, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['accessToken']}"}
    return {}


def _schema(api: str, profile: str = "documented") -> Any:
    """The OpenAPI document of ``api`` (or the control API) as the mock serves it, loaded by schemathesis.

    Loaded from the package at collection time (the mock's port is not known then; schemathesis's lazy,
    fixture-made schema does not run on pytest 9); ``test_the_documents_fuzzed_are_the_ones_served`` holds
    them to the served ones."""
    document = copy.deepcopy(control_openapi() if api == "control" else api_openapi(api, profile))
    schema = schemathesis.openapi.from_dict(document, config=_config())
    if api == "tradingpartners":
        schema = schema.exclude(path="/api/v1/alerts", method="GET")  # the event stream: tests/test_fuzz_sse.py
    return schema


#: (test name, API, profile) of every document fuzzed
DOCUMENTS = [
    ("aitrader_documented", "aitrader", "documented"),
    ("aitrader_upstream", "aitrader", "upstream"),
    ("luckylobster", "luckylobster", "documented"),
    ("cryptorobot", "cryptorobot", "documented"),
    ("tradingpartners", "tradingpartners", "documented"),
    ("control", "control", "documented"),
]
SCHEMAS = {name: _schema(api, profile) for name, api, profile in DOCUMENTS}


@pytest.fixture(scope="module")
def documented() -> Iterator[ThreadedMockServer]:
    with fuzz_mock() as server:
        yield server


@pytest.fixture(scope="module")
def upstream() -> Iterator[ThreadedMockServer]:
    with fuzz_mock(aitrader="upstream", tradeready="upstream") as server:
        yield server


@pytest.fixture(scope="module")
def control() -> Iterator[ThreadedMockServer]:
    """The control API's own mock: what it is fuzzed with (resets, scenarios, faults) reaches no other test."""
    with fuzz_mock() as server:
        yield server


@pytest.fixture(scope="module")
def logins(documented: ThreadedMockServer, upstream: ThreadedMockServer) -> dict[tuple[int, str], dict[str, str]]:
    """Each API's logged-in headers, per mock (by ``id``)."""
    return {
        (id(mock), api): _login(mock, api)
        for mock in (documented, upstream)
        for api in ("aitrader", "luckylobster", "cryptorobot", "tradingpartners")
    }


@pytest.mark.parametrize(("name", "api", "profile"), DOCUMENTS)
def test_the_documents_fuzzed_are_the_ones_served(documented: ThreadedMockServer, name: str, api: str, profile: str) -> None:
    control = documented.url("control")
    url = control + ("/_mock/openapi.json" if api == "control" else f"/_mock/openapi/{api}.json?profile={profile}")
    served = httpx.get(url).json()
    assert served == (control_openapi() if api == "control" else api_openapi(api, profile))


def _check(case: Case, mock: ThreadedMockServer, api: str, logins: dict[tuple[int, str], dict[str, str]]) -> None:
    with Watch(mock) as watch:
        base = mock.url("control" if api == "control" else api)
        case.call_and_validate(base_url=base, headers=logins.get((id(mock), api)), checks=CHECKS, timeout=_TIMEOUT)
        watch.check(api)


@SCHEMAS["aitrader_documented"].parametrize()
def test_aitrader_documented(case: Case, documented: ThreadedMockServer, logins: Any) -> None:
    _check(case, documented, "aitrader", logins)


@SCHEMAS["aitrader_upstream"].parametrize()
def test_aitrader_upstream(case: Case, upstream: ThreadedMockServer, logins: Any) -> None:
    _check(case, upstream, "aitrader", logins)


@SCHEMAS["luckylobster"].parametrize()
def test_luckylobster(case: Case, documented: ThreadedMockServer, logins: Any) -> None:
    _check(case, documented, "luckylobster", logins)


@SCHEMAS["cryptorobot"].parametrize()
def test_cryptorobot(case: Case, documented: ThreadedMockServer, logins: Any) -> None:
    _check(case, documented, "cryptorobot", logins)


@SCHEMAS["tradingpartners"].parametrize()
def test_tradingpartners(case: Case, documented: ThreadedMockServer, logins: Any) -> None:
    _check(case, documented, "tradingpartners", logins)


@SCHEMAS["control"].parametrize()
def test_control_api(case: Case, control: ThreadedMockServer, logins: Any) -> None:
    _check(case, control, "control", logins)


def _run_stateful(name: str, mock: ThreadedMockServer, api: str, headers: dict[str, str]) -> None:
    """schemathesis's state machine over the links it infers from the document (a created record's ``_id`` into its
    get, patch and delete; an agent's id into its calls): sequences of up to ``stateful_step_count`` calls."""
    base = mock.url(api)

    class Machine(SCHEMAS[name].as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": base, "headers": headers, "timeout": _TIMEOUT}

        def validate_response(self, response: Any, case: Case, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    assert Machine.bundles, f"schemathesis inferred no links from the {name} document"
    common: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck), "stateful_step_count": 8}
    if LONG:
        run = settings(max_examples=max(1, int(50 * _SCALE)), **common)
    else:
        run = settings(max_examples=5, derandomize=True, database=None, **common)
    with Watch(mock) as watch:
        Machine.run(settings=run)
        watch.check(api)


@pytest.mark.parametrize("name", ["aitrader_documented", "cryptorobot"])
def test_stateful_documented(name: str, documented: ThreadedMockServer, logins: Any) -> None:
    api = name.split("_")[0]
    _run_stateful(name, documented, api, logins[(id(documented), api)])


def test_stateful_aitrader_upstream(upstream: ThreadedMockServer, logins: Any) -> None:
    _run_stateful("aitrader_upstream", upstream, "aitrader", logins[(id(upstream), "aitrader")])
