"""LuckyLobster's heartbeat and friends over a real socket, checked against the seed and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mockserver.control.openapi import api_openapi
from mockserver.documents import assert_matches_openapi
from tests.conftest import MockFactory

PREFIX = "/api/agent/v1"
SLEEPY = "ll_sleepingovernight000000000000000000000000000000000000000000000"
BUSY = "ll_actionneeded00000000000000000000000000000000000000000000000000"
LIMITED = "ll_ratelimited000000000000000000000000000000000000000000000000000"


def check(response: httpx.Response) -> Any:
    """Validate against the LuckyLobster OpenAPI document and return the JSON body."""
    body = response.json()
    path = response.request.url.path
    assert_matches_openapi(api_openapi("luckylobster"), response.request.method, path, response.status_code, body, response.headers)
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_heartbeat_envelope_with_bearer_and_x_api_key(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    base = mock.url("luckylobster") + PREFIX
    body = check(http.get(f"{base}/heartbeat", params={"skill_version": 9}, headers=bearer(BUSY)))
    assert body["success"] is True
    data = body["data"]
    assert data["status"] == "ACTION_NEEDED"  # two positions settle at 0s
    assert list(data) == ["status", "timestamp", "actions", "portfolio", "orderActivity", "budget", "heartbeat"]
    assert data["timestamp"] == "2026-02-06T14:30:00Z"
    assert data["heartbeat"]["next_check_at"] == "2026-02-06T14:30:30Z"
    assert data["heartbeat"]["heartbeat_count"] == 1
    again = check(http.get(f"{base}/heartbeat", headers={"X-API-Key": BUSY}))
    assert again["data"]["heartbeat"]["heartbeat_count"] == 2


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "Unauthorized"),
        ({"Authorization": "Bearer ll_nosuchkey0000000"}, 401, "Unauthorized"),
        ({"Authorization": "Token ll_whatever"}, 401, "Unauthorized"),
    ],
)
def test_auth_failures_use_the_error_envelope(
    make_mock: MockFactory, http: httpx.Client, headers: dict[str, str], status: int, error: str
) -> None:
    mock = make_mock("luckylobster/action-needed")
    response = http.get(mock.url("luckylobster") + PREFIX + "/heartbeat", headers=headers)
    assert response.status_code == status
    assert check(response) == {"success": False, "error": error, "message": "Invalid or missing API key"}


KEYS_YAML = """
id: test/permissions
description: one key without read, one without redeem
clock: {start: "2026-02-06T14:30:00Z"}
apis:
  luckylobster:
    state:
      keys:
        - {key: ll_noread0000000000, name: no-read, permissions: [trade]}
        - {key: ll_readonly00000000, name: read-only, permissions: [read]}
        - {key: ll_revoked000000000, name: revoked, revoked: true}
"""


def test_missing_permission_is_403_and_revoked_key_401(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock(yaml=KEYS_YAML)
    base = mock.url("luckylobster") + PREFIX
    denied = http.get(f"{base}/heartbeat", headers=bearer("ll_noread0000000000"))
    assert denied.status_code == 403
    assert check(denied)["message"] == "Insufficient permissions for this action"
    assert denied.headers["X-RateLimit-Limit"] == "100"
    assert http.get(f"{base}/heartbeat", headers=bearer("ll_readonly00000000")).status_code == 200
    assert http.post(f"{base}/settlements/redeem", headers=bearer("ll_readonly00000000"), json={}).status_code == 403
    assert http.get(f"{base}/heartbeat", headers=bearer("ll_revoked000000000")).status_code == 401


def test_rate_limit_headers_429_and_window_reset_on_the_virtual_clock(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/rate-limited")
    url = mock.url("luckylobster") + PREFIX + "/heartbeat"
    for i in range(10):
        ok = http.get(url, headers=bearer(LIMITED))
        assert ok.status_code == 200
        assert ok.headers["X-RateLimit-Remaining"] == str(9 - i)
    limited = http.get(url, headers=bearer(LIMITED))
    assert limited.status_code == 429
    assert check(limited)["error"] == "Too Many Requests"
    assert limited.headers["Retry-After"] == "60"
    assert limited.headers["X-RateLimit-Reset"] == str(1770388260)  # 14:31:00Z, unix seconds
    mock.advance(59)
    assert http.get(url, headers=bearer(LIMITED)).headers["Retry-After"] == "1"
    mock.advance(1)
    assert http.get(url, headers=bearer(LIMITED)).status_code == 200


def test_redeem_preview_dry_run_and_redeem(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    base = mock.url("luckylobster") + PREFIX
    preview = check(http.get(f"{base}/settlements/redeem", headers=bearer(BUSY)))
    assert preview["data"]["count"] == 2 and preview["data"]["totalValue"].startswith("$")
    first = preview["data"]["positions"][0]["conditionId"]
    dry = check(http.post(f"{base}/settlements/redeem", headers=bearer(BUSY), json={"dryRun": True, "conditionIds": [first]}))
    assert dry["dryRun"] is True and dry["data"]["processed"] == 1 and "txHash" not in dry["data"]["redeemed"][0]
    bad = http.post(f"{base}/settlements/redeem", headers=bearer(BUSY), json={"limit": 51})
    assert bad.status_code == 400 and check(bad)["message"] == "limit must be an integer between 1 and 50"
    done = check(http.post(f"{base}/settlements/redeem", headers=bearer(BUSY), json={"limit": 10}))
    assert done["data"]["processed"] == 2 and done["data"]["remaining"] == 0
    assert all(item["txHash"].startswith("0x") for item in done["data"]["redeemed"])
    heartbeat = check(http.get(f"{base}/heartbeat", headers=bearer(BUSY)))["data"]
    assert heartbeat["portfolio"]["redeemableCount"] == 0
    assert "REDEEM" not in [a["type"] for a in heartbeat.get("actions", [])]


def test_resume_strategy_clears_the_pause(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    base = mock.url("luckylobster") + PREFIX
    mock.advance(600)
    types = [a["type"] for a in check(http.get(f"{base}/heartbeat", headers=bearer(BUSY)))["data"]["actions"]]
    assert "STRATEGY_PAUSED" in types and "STRATEGY_ERROR" in types
    resumed = check(http.post(f"{base}/strategies/strat_acc02/resume", headers=bearer(BUSY)))
    assert resumed["data"]["status"] == "ACTIVE"
    assert http.post(f"{base}/strategies/strat_old99/resume", headers=bearer(BUSY)).status_code == 400
    missing = http.post(f"{base}/strategies/nope/resume", headers=bearer(BUSY))
    assert missing.status_code == 404 and check(missing)["message"] == "Strategy not found"
    types = [a["type"] for a in check(http.get(f"{base}/heartbeat", headers=bearer(BUSY)))["data"]["actions"]]
    assert "STRATEGY_PAUSED" not in types and "STRATEGY_ERROR" in types


def test_all_ten_action_types_appear_sorted_by_priority(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    url = mock.url("luckylobster") + PREFIX + "/heartbeat"
    seen: set[str] = set()
    ranks = {"high": 0, "medium": 1, "low": 2}
    for offset in (7 * 60 + 30, 150):  # 14:37:30 (budget still fine: SEEK_TRADES), then 14:40 (BUDGET_LOW)
        mock.advance(offset)
        actions = check(http.get(url, headers=bearer(BUSY)))["data"]["actions"]
        assert [ranks[a["priority"]] for a in actions] == sorted(ranks[a["priority"]] for a in actions)
        seen |= {a["type"] for a in actions}
    assert seen == {
        "REDEEM",
        "ORDER_FILLED",
        "BUDGET_LOW",
        "POSITION_EXPIRING",
        "SEEK_TRADES",
        "STRATEGY_EXECUTED",
        "STRATEGY_ERROR",
        "STRATEGY_COMPLETED",
        "STRATEGY_PAUSED",
        "STRATEGY_CANCELLED",
    }


def test_sleeping_answer_has_only_the_seed_keys(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/sleeping-overnight")
    mock.advance(45 * 60)  # 22:15 New York
    data = check(http.get(mock.url("luckylobster") + PREFIX + "/heartbeat", headers=bearer(SLEEPY)))["data"]
    assert list(data) == ["status", "timestamp", "message", "heartbeat"]
    assert data["status"] == "SLEEPING"
    assert data["message"] == "Outside active hours (08:00-22:00 America/New_York). Suggested next check at next_check_at."
    assert (data["timestamp"], data["heartbeat"]["next_check_at"]) == ("2026-02-07T03:15:00Z", "2026-02-07T03:16:00Z")


def test_unknown_route_and_method_get_the_envelope(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    base = mock.url("luckylobster")
    missing = http.get(base + PREFIX + "/nope", headers=bearer(BUSY))
    assert missing.status_code == 404 and missing.json() == {"success": False, "error": "Not Found", "message": "Route not found"}
    wrong = http.delete(base + PREFIX + "/heartbeat", headers=bearer(BUSY))
    assert wrong.status_code == 405 and wrong.json()["error"] == "Method Not Allowed"
    bad_version = http.get(base + PREFIX + "/heartbeat", params={"skill_version": "nine"}, headers=bearer(BUSY))
    assert bad_version.status_code == 400 and check(bad_version)["message"] == "skill_version must be an integer"


def test_dates_come_from_the_virtual_clock_and_everything_is_journaled(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    response = http.post(mock.url("luckylobster") + PREFIX + "/settlements/redeem", headers=bearer(BUSY), json={"dryRun": True})
    assert response.headers["date"] == "Fri, 06 Feb 2026 14:30:00 GMT"
    entries = mock.journal(kind="http.", api="luckylobster")
    request, answer = entries[-2], entries[-1]
    assert (request.kind, request.direction, request.data["method"], request.data["body"]) == (
        "http.request",
        "in",
        "POST",
        '{"dryRun":true}',
    )
    assert request.data["headers"]["authorization"] == f"Bearer {BUSY}"
    assert (answer.kind, answer.direction, answer.data["status"]) == ("http.response", "out", 200)
    assert answer.data["body"] == response.text and request.conn == answer.conn != ""
    assert answer.data["request"] == request.seq and request.principal == answer.principal is not None  # the answer names its request


def test_redeem_and_query_edge_cases(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("luckylobster/action-needed")
    base = mock.url("luckylobster") + PREFIX
    none = check(http.post(f"{base}/settlements/redeem", headers=bearer(BUSY), json={"conditionIds": []}))
    assert none["data"]["processed"] == 0
    assert http.post(f"{base}/settlements/redeem", headers=bearer(BUSY), json={"dryRun": "false"}).status_code == 400
    assert http.get(f"{base}/heartbeat", params={"skill_version": "²"}, headers=bearer(BUSY)).status_code == 400
    allow = http.delete(f"{base}/heartbeat", headers=bearer(BUSY)).headers["allow"]
    assert set(allow.split(", ")) == {"GET", "HEAD"}  # Starlette builds it from a set
