"""Every time check reads the virtual clock, and every journal entry serialises whatever a client sent."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import MockFactory
from tests.cryptorobot_client import FeathersSocket

FUTURE = """
id: t/future
description: a virtual clock years ahead of the wall clock, fast
seed: 3
clock: {start: "2031-05-01T09:00:00Z", speed: 0}
apis:
  tradingpartners: {state: {users: [{email: ann@example.com, password: pw-ann, access: FULL}]}}
  cryptorobot: {state: {users: [{email: ann@example.com, password: pw-ann}]}}
"""


def test_tokens_issued_in_virtual_time_ahead_of_the_wall_clock_are_accepted(make_mock: MockFactory) -> None:
    """PyJWT checks iat and nbf against the wall clock by default: a token issued years ahead would be
    'not yet valid'. The mock checks them on its own clock."""
    mock = make_mock(yaml=FUTURE)
    base = mock.url("tradingpartners")
    login = httpx.post(base + "/api/v1/users/login", json={"email": "ann@example.com", "password": "pw-ann"})
    assert login.status_code == 200, login.text
    token = login.json()["accessToken"]
    mock.advance("1h")
    closed = httpx.get(base + "/api/v1/alerts/closed", headers={"Authorization": f"Bearer {token}"})
    assert closed.status_code == 200, closed.text
    env_token = mock.env["TRADINGPARTNERS_TOKEN"]
    assert httpx.get(base + "/api/v1/alerts/history", headers={"Authorization": f"Bearer {env_token}"}).status_code == 200

    async def feathers() -> None:
        client = await FeathersSocket(mock.url("cryptorobot")).connect()
        try:
            result = await client.login("ann@example.com", "pw-ann")
            again = await client.call("create", "authentication", {"strategy": "jwt", "accessToken": result["accessToken"]}, {})
            assert again["user"]["email"] == "ann@example.com"
        finally:
            await FeathersSocket.close_all()

    asyncio.run(feathers())


def test_a_number_too_big_for_64_bits_does_not_break_the_journal(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=FUTURE)

    async def find() -> None:
        client = await FeathersSocket(mock.url("cryptorobot")).connect()
        try:
            await client.login("ann@example.com", "pw-ann")
            await client.call("find", "strategies", {"$skip": 10**21})
        finally:
            await FeathersSocket.close_all()

    asyncio.run(find())
    control = mock.url("control") + "/_mock"
    answer = httpx.get(control + "/journal", params={"kind": "sio.packet", "contains": "$skip"})
    assert answer.status_code == 200, answer.text
    assert any("1000000000000000000000" in str(entry["data"]) for entry in answer.json()["entries"])
    export = httpx.get(control + "/journal.jsonl")
    assert export.status_code == 200 and "1000000000000000000000" in export.text
