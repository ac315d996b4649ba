"""mockserver.documents.openapi: requests and responses against an OpenAPI document, findings that name the rule."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.control.openapi import api_openapi
from mockserver.documents import (
    Finding,
    Mismatch,
    assert_matches_openapi,
    assert_request_matches,
    check_request,
    check_response,
    find_operation,
)
from mockserver.documents.findings import schema_location

BEARER = {"Authorization": "Bearer aaa.bbb.ccc"}
JSON = {**BEARER, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def cr() -> dict[str, Any]:
    return api_openapi("cryptorobot")


@pytest.fixture(scope="module")
def tp() -> dict[str, Any]:
    return api_openapi("tradingpartners")


def paths(found: list[Finding]) -> list[str]:
    return [f.schema_path for f in found]


def test_find_operation_prefers_concrete_paths_and_reads_path_parameters(cr: dict[str, Any]) -> None:
    operation = find_operation(cr, "GET", "/traders/pods/events?$limit=1")
    assert (operation.template, operation.where, operation.path_params) == (
        "/traders/pods/events",
        "/paths/~1traders~1pods~1events/get",
        {},
    )
    operation = find_operation(cr, "patch", "/traders/65a4f0c2e13b8a0012345678")
    assert (operation.template, operation.method, operation.path_params) == ("/traders/{id}", "patch", {"id": "65a4f0c2e13b8a0012345678"})
    with pytest.raises(Mismatch, match="DELETE is not documented for /exchanges/ticker/{id}") as info:
        find_operation(cr, "DELETE", "/exchanges/ticker/binance:BTC")
    assert paths(list(info.value.findings)) == ["/paths/~1exchanges~1ticker~1{id}"]
    with pytest.raises(Mismatch, match="no documented path matches /nope"):
        find_operation(cr, "GET", "/nope")


def test_a_request_that_matches_has_no_findings(cr: dict[str, Any], tp: dict[str, Any]) -> None:
    query = "$limit=10&$sort[createdAt]=-1&type[$in][]=grid&type[$in][]=dca&$or[0][status]=running&rank[$gte]=3&$select[]=name"
    assert check_request(cr, "GET", "/strategies", query=query, headers=BEARER) == []
    assert check_request(cr, "GET", "/strategies/s-1", query="$select[]=name", headers={"authorization": "ApiKey crk_1"}) == []
    body = b'{"name": "New Strategy", "type": "momentum", "pair": "BTC/USDT"}'
    assert check_request(cr, "POST", "/strategies", headers=JSON, body=body) == []
    assert check_request(cr, "POST", "/authentication", body={"strategy": "local", "email": "you@example.com", "password": "pw"}) == []
    assert check_request(cr, "GET", "/socket.io/", query="EIO=4&transport=polling&t=PabcXyz") == []
    assert (
        check_request(tp, "GET", "/api/v1/alerts/history", query={"page": ["2"], "size": ["100"], "status": ["WON"]}, headers=BEARER) == []
    )
    assert_request_matches(tp, "GET", "/api/v1/alerts", headers={**BEARER, "Last-Event-ID": "42"})


def test_a_wrong_query_names_the_schema_rule(cr: dict[str, Any], tp: dict[str, Any]) -> None:
    found = check_request(cr, "GET", "/strategies", query="$limit=abc&$where=1&rank[$regex]=x", headers=BEARER)
    assert sorted((f.where, f.schema_path) for f in found) == [
        ("query $", "/components/schemas/Query/propertyNames/anyOf/1/pattern"),
        ("query $.rank", "/components/schemas/Condition/anyOf/2/additionalProperties"),
        ("query $['$limit']", "/components/schemas/QueryNumber/pattern"),
    ]
    found = check_request(tp, "GET", "/api/v1/alerts/history", query="page=x&size=0&orderDir=up&colour=red", headers=BEARER)
    history = "/paths/~1api~1v1~1alerts~1history/get/parameters"
    assert [(f.where, f.message, f.schema_path) for f in found] == [
        ("query page $", "'x' is not of type 'integer'", f"{history}/0/schema/type"),
        ("query size $", "0 is less than the minimum of 1", f"{history}/1/schema/minimum"),
        ("query orderDir $", "'up' is not one of ['asc', 'desc']", f"{history}/8/schema/enum"),
        ("query colour", "not a parameter of this operation", history),
    ]
    assert paths(check_request(cr, "GET", "/socket.io/", query="transport=polling")) == ["/paths/~1socket.io~1/parameters/0/required"]


def test_missing_credentials_and_bodies_are_the_clients_fault(cr: dict[str, Any], tp: dict[str, Any]) -> None:
    assert [(f.where, f.schema_path) for f in check_request(cr, "GET", "/traders")] == [("credentials", "/security")]
    assert paths(check_request(cr, "DELETE", "/authentication", headers={"Authorization": "ApiKey k"})) == [
        "/paths/~1authentication/delete/security"
    ]
    assert check_request(cr, "GET", "/traders", headers={"Authorization": "Bearer "}) != []  # a scheme without credentials
    assert paths(check_request(tp, "POST", "/api/v1/users/login")) == ["/paths/~1api~1v1~1users~1login/post/requestBody/required"]
    found = check_request(cr, "POST", "/strategies", headers=JSON, body=b'{"name": "x", "type": "grid"}')
    assert [(f.where, f.message, f.schema_path) for f in found] == [
        ("body $", "'pair' is a required property", "/components/schemas/StrategyInput/required")
    ]
    found = check_request(cr, "POST", "/strategies", headers=JSON, body=b"{not json")
    assert found[0].where == "body" and "not JSON" in found[0].message
    found = check_request(cr, "POST", "/strategies", headers={**BEARER, "Content-Type": "text/xml"}, body=b"<x/>")
    assert paths(found) == ["/paths/~1strategies/post/requestBody/content"]
    assert paths(check_request(cr, "GET", "/traders", headers=BEARER, body=b'{"a": 1}')) == ["/paths/~1traders/get"]
    with pytest.raises(Mismatch, match=r"request GET /traders does not match the document\n  credentials: none of"):
        assert_request_matches(cr, "GET", "/traders")


def test_a_wrong_response_names_the_schema_rule(cr: dict[str, Any], tp: dict[str, Any]) -> None:
    page = {"total": 1, "limit": 25, "skip": 0, "data": [{"_id": "t-1", "symbol": "btc"}]}
    found = check_response(cr, "GET", "/trades", 200, page)
    assert [(f.where, f.schema_path) for f in found] == [("body $.data[0].symbol", "/components/schemas/Pair/pattern")]
    error = {"name": "TooManyRequests", "message": "Too many requests", "code": 500, "className": "too-many-requests"}
    found = check_response(cr, "GET", "/strategies", 429, error)
    assert [(f.where, f.message, f.schema_path) for f in found] == [
        ("body $.code", "429 was expected", "/components/schemas/FeathersError/oneOf/12/properties/code/const")
    ]
    assert (
        check_response(cr, "GET", "/strategies", 429, {**error, "code": 429}, {"Content-Type": "application/json", "Retry-After": "60"})
        == []
    )
    assert paths(check_response(cr, "GET", "/strategies", 429, {**error, "code": 429}, {"Retry-After": "soon"})) == [
        "/components/responses/TooManyRequests/headers/Retry-After/schema/type"
    ]
    closed = "/paths/~1api~1v1~1alerts~1closed/get/responses/429"
    body = {"code": 31, "message": "too many requests", "description": "Wait."}
    assert paths(check_response(tp, "GET", "/api/v1/alerts/closed", 429, body, {"content-type": "application/json"})) == [
        f"{closed}/headers/Retry-After/required"
    ]
    assert paths(check_response(tp, "GET", "/api/v1/alerts/closed", 429, {**body, "code": 30})) == [
        f"{closed}/content/application~1json/schema/allOf/1/properties/code/const"
    ]
    stream = {"content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no"}
    assert check_response(tp, "GET", "/api/v1/alerts", 200, None, stream) == []  # the events are the AsyncAPI document's
    assert paths(check_response(tp, "GET", "/api/v1/alerts", 200, None, {**stream, "content-type": "application/json"})) == [
        "/paths/~1api~1v1~1alerts/get/responses/200/content"
    ]
    raw = b'{"code": 12, "message": "session expired", "description": "Log in again."}'
    assert check_response(tp, "GET", "/api/v1/alerts/history", 401, raw, {"content-type": "application/json"}) == []
    assert "not JSON" in check_response(tp, "GET", "/api/v1/alerts/history", 401, b"{", {"content-type": "application/json"})[0].message
    with pytest.raises(Mismatch, match=r"GET /trades -> 200 does not match the document\n  body \$\.data\[0\]\.symbol"):
        assert_matches_openapi(cr, "GET", "/trades", 200, page)


def test_an_undocumented_status_falls_back_to_ranges_and_default() -> None:
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "paths": {
            "/x": {
                "get": {
                    "responses": {
                        "200": {"description": "ok"},
                        "4XX": {"description": "client", "content": {"application/json": {"schema": {"type": "object"}}}},
                    }
                }
            }
        },
    }
    assert check_response(document, "GET", "/x", 404, {}) == []
    assert paths(check_response(document, "GET", "/x", 404, [])) == ["/paths/~1x/get/responses/4XX/content/application~1json/schema/type"]
    found = check_response(document, "GET", "/x", 503, None)
    assert [(f.where, f.schema_path) for f in found] == [("status", "/paths/~1x/get/responses")]
    assert paths(check_response(document, "GET", "/x", 200, {"a": 1})) == ["/paths/~1x/get/responses/200"]  # documented without a body


def test_schema_location_follows_the_ref_hops_jsonschema_leaves_out() -> None:
    document = {
        "components": {
            "schemas": {
                "A": {"properties": {"b": {"$ref": "#/components/schemas/B"}}},
                "B": {"items": {"$ref": "#/components/schemas/C"}},
                "C": {"minimum": 1},
            }
        }
    }
    assert schema_location(document, "/components/schemas/A", ["properties", "b", "items", "minimum"]) == "/components/schemas/C/minimum"
    assert schema_location(document, "/components/schemas/A", ["properties", "nope", "x"]) == "/components/schemas/A/properties"
    finding = Finding("body $.b[0]", "0 is less than the minimum of 1", "/components/schemas/C/minimum")
    assert str(finding) == "body $.b[0]: 0 is less than the minimum of 1 (schema path /components/schemas/C/minimum)"
    assert finding.to_dict() == {
        "where": "body $.b[0]",
        "message": "0 is less than the minimum of 1",
        "schema_path": "/components/schemas/C/minimum",
    }


def test_a_broken_reference_is_the_documents_fault() -> None:
    document = {"openapi": "3.1.0", "paths": {"/x": {"$ref": "#/nowhere"}}}
    with pytest.raises(Mismatch, match="the document is broken") as info:
        find_operation(document, "GET", "/x")
    assert info.value.findings[0].schema_path == "/paths/~1x"
