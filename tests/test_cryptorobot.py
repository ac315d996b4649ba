"""Cryptorobot (Feathers over Socket.IO) against python-socketio's AsyncClient and httpx, over real sockets.

The clock is manual (speed 0) unless a test says otherwise: scenario time moves only through
``mock.advance``; the waits below are for real sockets to deliver, never for protocol time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio
import websockets
from websockets.frames import Close, Frame, Opcode

from mockserver.apis.cryptorobot.schema import SERVICES
from tests.conftest import MockFactory
from tests.cryptorobot_client import FeathersCallError, FeathersSocket
from tests.documents_check import checked_make_mock
from tests.helpers import wait_until

EMAIL, PASSWORD = "you@example.com", "your-password"
make_mock = checked_make_mock("cryptorobot")  # every packet, response and request of these tests against the documents

TWO_USERS = """
id: test/cryptorobot-two-users
description: two users, one hour tokens
seed: 5
clock: {start: "2024-01-15T14:00:00Z", speed: 0}
apis:
  cryptorobot:
    options: {token_ttl: 1h}
    state:
      users:
        - {email: ann@example.com, password: ann-password, plan: pro, api_key: crk_ann_0123456789}
        - {email: bob@example.com, password: bob-password, plan: enterprise}
      streams: {ticker: 10s, pod_events: 0, trades: 0, signals: 0, messages: 0, events: 0}
"""


def run(coro: Any) -> Any:
    async def main() -> Any:
        try:
            return await coro
        finally:
            await FeathersSocket.close_all()

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def _connected(url: str) -> AsyncIterator[websockets.ClientConnection]:
    """A raw WebSocket to the mock's Socket.IO at ``url`` (the API's http:// base), past Engine.IO's OPEN and the
    default namespace's CONNECT."""
    async with websockets.connect(url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket") as raw:
        assert str(await raw.recv()).startswith("0{")
        await raw.send("40")
        assert str(await raw.recv()).startswith("40{")
        yield raw


async def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(FeathersCallError) as info:
        await call
    return info.value.error


# -- the method-call protocol ----------------------------------------------------------------------------------
def test_find_on_every_service_in_the_seeds_query_style_answers_with_pagination(make_mock: MockFactory) -> None:
    mock = make_mock("cryptorobot/live-trading")
    for feed, data in [("pod_events", {}), ("trades", {"side": "buy"}), ("trades", {"side": "sell"}), ("signals", {"type": "buy"})]:
        mock.emit("cryptorobot", feed, {"data": data})
    for feed in ("messages", "events"):
        mock.emit("cryptorobot", feed, {})

    async def main() -> None:
        client = await FeathersSocket(mock.url("cryptorobot")).connect()
        login = await client.login(EMAIL, PASSWORD)
        assert set(login) == {"accessToken", "authentication", "user"}
        assert login["authentication"]["strategy"] == "local"
        assert login["authentication"]["accessToken"] == login["accessToken"]
        assert {"iat", "exp", "aud", "iss", "sub", "jti"} <= set(login["authentication"]["payload"])
        assert login["authentication"]["payload"]["exp"] - login["authentication"]["payload"]["iat"] == 7 * 86400
        assert "password" not in login["user"]
        queries: dict[str, dict[str, Any]] = {
            "strategies": {"type": "momentum"},
            "traders": {"status": "stopped"},
            "traders/pods/events": {"type": "trade_executed"},
            "exchanges/ticker": {"symbol": "BTC/USDT"},
            "trades": {"side": "buy"},
            "models/signals": {"type": "buy"},
            "messages": {"read": False},
            "events": {},
            "users": {"email": EMAIL},
        }
        assert set(queries) == set(SERVICES)
        for path, query in queries.items():
            page = await client.call("find", path, query)
            assert set(page) == {"total", "limit", "skip", "data"}, path
            assert page["limit"] == 25 and page["skip"] == 0 and page["total"] == len(page["data"]) > 0, (path, page)
            for record in page["data"]:
                assert all(record.get(k) == v for k, v in query.items()), (path, record)
            everything = await client.call("find", path, {})
            if query:  # the query selects: something else exists that it leaves out
                assert (await client.call("find", path, {k: "no-such-value" for k in query}))["total"] == 0, path
            assert everything["total"] >= page["total"], path
        assert (await client.call("find", "trades", {}))["total"] > (await client.call("find", "trades", {"side": "buy"}))["total"]
        strategies = await client.call("find", "strategies", {"type": "momentum"})
        assert [s["_id"] for s in strategies["data"]] == ["strat-456"]
        tickers = await client.call("find", "exchanges/ticker", {"symbol": "BTC/USDT"})
        assert tickers["total"] == 1 and tickers["data"][0]["symbol"] == "BTC/USDT"
        await client.close()

    run(main())


def test_query_operators_limits_sort_and_select(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=TWO_USERS)

    async def main() -> None:
        client = await FeathersSocket(mock.url("cryptorobot")).connect()
        await client.login("ann@example.com", "ann-password")
        for i in range(30):
            await client.call(
                "create", "strategies", {"name": f"S{i:02}", "type": "grid" if i % 2 else "momentum", "pair": "BTC/USDT", "rank": i}
            )
        page = await client.call("find", "strategies", {"rank": {"$gte": 0}})
        assert page["total"] == 30 and page["limit"] == 25 and len(page["data"]) == 25
        page = await client.call("find", "strategies", {"rank": {"$gte": 0}, "$limit": 1000})
        assert page["limit"] == 100 and len(page["data"]) == 30
        page = await client.call("find", "strategies", {"rank": {"$gt": 10, "$lte": 20}, "$sort": {"rank": -1}, "$limit": 3, "$skip": 1})
        assert [s["rank"] for s in page["data"]] == [19, 18, 17] and page["total"] == 10 and page["skip"] == 1
        page = await client.call("find", "strategies", {"rank": {"$in": [1, 2, 3], "$nin": [2]}, "$select": ["name"]})
        assert {s["name"] for s in page["data"]} == {"S01", "S03"} and all(set(s) == {"_id", "name"} for s in page["data"])
        page = await client.call("find", "strategies", {"$or": [{"rank": 0}, {"rank": 29}], "type": {"$ne": "grid"}})
        assert [s["rank"] for s in page["data"]] == [0]
        page = await client.call("find", "strategies", {"rank": {"$lt": 2}, "$limit": 0})
        assert page == {"total": 2, "limit": 0, "skip": 0, "data": []}
        error = await error_of(client.call("find", "strategies", {"$where": "1"}))
        assert error == {
            "name": "BadRequest",
            "message": "Invalid query parameter $where",
            "code": 400,
            "className": "bad-request",
            "data": {"$where": "1"},
        }
        error = await error_of(client.call("find", "strategies", {"rank": {"$regex": "x"}}))
        assert error["message"] == "Invalid query parameter $regex"
        await client.close()

    run(main())


def test_feathers_errors_are_verbatim_and_unknown_events_get_no_ack(make_mock: MockFactory) -> None:
    mock = make_mock("cryptorobot/live-trading")

    async def main() -> None:
        client = await FeathersSocket(mock.url("cryptorobot")).connect()
        error = await error_of(client.call("find", "strategies", {}))
        assert error == {"name": "NotAuthenticated", "message": "Not authenticated", "code": 401, "className": "not-authenticated"}
        await client.login(EMAIL, PASSWORD)
        error = await error_of(client.call("find", "nope", {}))
        assert error == {"name": "NotFound", "message": "Service 'nope' not found", "code": 404, "className": "not-found"}
        error = await error_of(client.call("find", 42, {}))
        assert error["message"] == "Invalid service path"
        error = await error_of(client.call("update", "exchanges/ticker", "binance:BTC/USDT", {}, {}))
        assert error == {
            "name": "MethodNotAllowed",
            "message": "Method 'update' not allowed on service 'exchanges/ticker'",
            "code": 405,
            "className": "method-not-allowed",
        }
        error = await error_of(client.call("get", "strategies", "strat-456", {}, {}))
        assert error == {"name": "BadRequest", "message": "Too many arguments for 'get' method", "code": 400, "className": "bad-request"}
        error = await error_of(client.call("find", "strategies", {}, {}))
        assert error["message"] == "Too many arguments for 'find' method"
        error = await error_of(client.call("get", "strategies", "strat-nope", {}))
        assert error == {"name": "NotFound", "message": "No record found for id 'strat-nope'", "code": 404, "className": "not-found"}
        error = await error_of(client.call("create", "strategies", {"type": "momentum"}, {}))
        assert error["name"] == "BadRequest" and error["message"] == "Validation failed"
        assert error["errors"] == [{"field": "name", "message": "'name' is required"}, {"field": "pair", "message": "'pair' is required"}]
        error = await error_of(client.call("patch", "strategies", None, {"name": "all"}, {}))
        assert error["name"] == "MethodNotAllowed" and error["message"] == "Can not patch multiple entries"
        with pytest.raises(socketio.exceptions.TimeoutError):  # no listener for this name: no ack, as in Feathers
            await client.sio.call("frobnicate", ("strategies", {}), timeout=0.5)
        assert client.sio.connected  # and the connection is unharmed
        assert (await client.call("get", "strategies", "strat-456"))["_id"] == "strat-456"
        await client.close()

    run(main())
    packets = [e.data for e in mock.journal(kind="sio.packet", api="cryptorobot", direction="in", event="frobnicate")]
    assert packets and packets[0]["args"] == ["strategies", {}]
    frobnicate_id = packets[0]["id"]
    assert not mock.journal(kind="sio.packet", api="cryptorobot", direction="out", sio="ACK", id=frobnicate_id)


# -- authentication ----------------------------------------------------------------------------------------------------
def test_local_jwt_logout_and_handshake_header_authentication(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=TWO_USERS)
    url = mock.url("cryptorobot")

    async def main() -> None:
        client = await FeathersSocket(url).connect()
        error = await error_of(
            client.call("create", "authentication", {"strategy": "local", "email": "ann@example.com", "password": "x"}, {})
        )
        assert error == {"name": "NotAuthenticated", "message": "Invalid login", "code": 401, "className": "not-authenticated"}
        error = await error_of(client.call("create", "authentication", {"email": "ann@example.com"}, {}))
        assert error["message"] == "Invalid authentication information (no `strategy` set)"
        error = await error_of(client.call("create", "authentication", {"strategy": "jwt"}, {}))
        assert error["message"] == "No access token"
        error = await error_of(client.call("create", "authentication", {"strategy": "jwt", "accessToken": "not.a.jwt"}, {}))
        assert error["message"] == "jwt malformed"
        login = await client.login("ann@example.com", "ann-password")
        token = login["accessToken"]
        again = await client.call("create", "authentication", {"strategy": "jwt", "accessToken": token}, {})
        assert again["accessToken"] == token and again["authentication"]["strategy"] == "jwt"
        assert again["authentication"]["accessToken"] == token and again["authentication"]["payload"] == login["authentication"]["payload"]
        assert again["user"] == login["user"]
        logout = await client.call("remove", "authentication", None, {})
        assert logout["accessToken"] == token
        error = await error_of(client.call("find", "strategies", {}))
        assert error["name"] == "NotAuthenticated"
        await client.close()

        header = await FeathersSocket(url, headers={"Authorization": f"Bearer {token}"}).connect()
        page = await header.call("find", "users", {})
        assert page["data"][0]["email"] == "ann@example.com"
        await header.close()

        bad = FeathersSocket(url, headers={"Authorization": "Bearer not.a.jwt"}, reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await bad.connect()

    run(main())
    refused = [e.data for e in mock.journal(kind="sio.packet", api="cryptorobot", sio="CONNECT_ERROR")]
    assert refused and refused[0]["data"]["message"] == "jwt malformed" and refused[0]["data"]["data"]["name"] == "NotAuthenticated"
    logins = mock.journal(kind="sio.login", api="cryptorobot")
    assert [e.data["strategy"] for e in logins] == ["local", "jwt", "jwt"]


def test_at_jwt_expiry_the_server_disconnects_and_the_stale_token_is_refused(make_mock: MockFactory) -> None:
    mock = make_mock("cryptorobot/jwt-expiry")
    url = mock.url("cryptorobot")

    async def main() -> None:
        client = await FeathersSocket(url).connect()
        login = await client.login(EMAIL, PASSWORD)
        assert login["authentication"]["payload"]["exp"] - login["authentication"]["payload"]["iat"] == 60
        mock.advance(59)
        assert client.sio.connected
        mock.advance(1)
        await wait_until(lambda: not client.sio.connected, what="the server to disconnect at expiry")
        await asyncio.sleep(0.3)
        assert not client.sio.connected  # a server disconnect: python-socketio, like socket.io-client, does not reconnect
        fresh = await FeathersSocket(url).connect()
        error = await error_of(fresh.call("create", "authentication", {"strategy": "jwt", "accessToken": login["accessToken"]}, {}))
        assert error["name"] == "NotAuthenticated" and error["message"] == "jwt expired"
        assert error["data"]["name"] == "TokenExpiredError" and error["data"]["expiredAt"] == "2024-01-15T14:01:00.000Z"
        relogin = await fresh.login(EMAIL, PASSWORD)
        assert relogin["accessToken"] != login["accessToken"]
        await fresh.close()

    run(main())
    assert [e.data["user"] for e in mock.journal(kind="sio.jwt_expired", api="cryptorobot")] == [EMAIL]
    kicks = mock.journal(kind="sio.kick", api="cryptorobot")
    assert [k.data["reason"] for k in kicks] == ["jwt expired"]
    disconnect = mock.journal(kind="sio.packet", api="cryptorobot", sio="DISCONNECT", direction="out")[0]
    # the kick is filed under the client's address and session, like its packets
    assert kicks[0].conn == disconnect.conn and kicks[0].session == disconnect.session is not None


# -- events ---------------------------------------------------------------------------------------------------------------
def test_events_reach_the_owners_connections_only_and_public_tickers_reach_everyone(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=TWO_USERS)
    url = mock.url("cryptorobot")

    async def main() -> None:
        ann, bob = await FeathersSocket(url).connect(), await FeathersSocket(url).connect()
        anonymous = await FeathersSocket(url).connect()
        await ann.login("ann@example.com", "ann-password")
        await bob.login("bob@example.com", "bob-password")
        created = await ann.call("create", "strategies", {"name": "Ann's", "type": "momentum", "pair": "ETH/USDT"})
        await ann.call("patch", "strategies", created["_id"], {"name": "Ann's v2"})
        await ann.call("remove", "strategies", created["_id"])
        await wait_until(lambda: len(ann.named("strategies removed")) == 1, what="ann's events")
        assert ann.named("strategies created") == [created]
        assert ann.named("strategies patched")[0]["name"] == "Ann's v2"
        assert ann.named("strategies removed") == [{"_id": created["_id"]}]
        error = await error_of(bob.call("get", "strategies", created["_id"]))
        assert error["name"] == "NotFound"
        mock.advance(10)
        await wait_until(lambda: len(bob.named("exchanges/ticker patched")) >= 8 and len(ann.named("exchanges/ticker patched")) >= 8)
        mock.emit("cryptorobot", "trades", {"user": "bob@example.com", "count": 3})
        await wait_until(lambda: len(bob.named("trades created")) == 3, what="bob's burst of trades")
        await asyncio.sleep(0.2)
        assert not [n for n, _ in bob.events if n.startswith("strategies")]
        assert ann.named("trades created") == [] and anonymous.events == []
        for socket in (ann, bob, anonymous):
            await socket.close()

    run(main())


def test_a_burst_arrives_complete_and_in_order(make_mock: MockFactory) -> None:
    mock = make_mock("cryptorobot/live-trading")

    async def main() -> None:
        client = await FeathersSocket(mock.url("cryptorobot")).connect()
        await client.login(EMAIL, PASSWORD)
        mock.advance(119)
        await wait_until(lambda: len(client.named("traders/pods/events created")) == 1, what="the pod event at 20s")
        client.events.clear()
        mock.advance(1)  # 2m: a burst of 25 pod events
        await wait_until(lambda: len(client.named("traders/pods/events created")) == 25, what="the burst")
        ids = [e["_id"] for e in client.named("traders/pods/events created")]
        sent = [
            e.data["args"][0]["_id"]
            for e in mock.journal(kind="sio.packet", api="cryptorobot", direction="out", event="traders/pods/events created")
        ]
        assert ids == sent[-25:]
        await client.close()

    run(main())


# -- transports, faults, limits ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("transports", [["polling"], ["polling", "websocket"]])
def test_polling_and_upgrade_transports_with_every_packet_journaled(make_mock: MockFactory, transports: list[str]) -> None:
    # a running clock (25x: Engine.IO pings every second), so a long-poll that waits for the next ping ends soon
    mock = make_mock("cryptorobot/live-trading", speed=25)

    async def main() -> None:
        client = await FeathersSocket(mock.url("cryptorobot"), transports=transports).connect()
        await client.login(EMAIL, PASSWORD)
        page = await client.call("find", "strategies", {"type": "momentum"})
        assert page["total"] == 1
        await client.close()

    run(main())
    packets = mock.journal(kind="sio.packet", api="cryptorobot")
    assert packets[0].direction == "out" and packets[0].data["eio"] == "open" and packets[0].data["transport"] == "polling"
    auth = next(e for e in packets if e.direction == "in" and e.data.get("event") == "create")
    assert auth.data["args"][0] == "authentication" and auth.data["args"][1]["strategy"] == "local"
    ack = next(e for e in packets if e.direction == "out" and e.data.get("sio") == "ACK" and e.data.get("id") == auth.data["id"])
    assert ack.data["data"][0] is None and "accessToken" in ack.data["data"][1]
    assert len({e.data["eio_sid"] for e in packets}) == 1
    if "websocket" in transports:
        assert any(e.data["transport"] == "websocket" and e.data["eio"] == "upgrade" for e in packets)


def test_a_transport_close_makes_the_client_reconnect_and_a_server_disconnect_does_not(make_mock: MockFactory) -> None:
    mock = make_mock("cryptorobot/live-trading")

    async def main() -> None:
        client = await FeathersSocket(mock.url("cryptorobot"), reconnection_delay=0.1, reconnection_delay_max=0.2).connect()
        await client.login(EMAIL, PASSWORD)
        first = client.sio.get_sid()
        mock.start_fault(kind="close", api="cryptorobot", code=1001, times=1)
        await wait_until(lambda: client.sio.connected and client.sio.get_sid() not in (None, first), what="the reconnect")
        mock.emit("cryptorobot", "disconnect", {})
        await wait_until(lambda: not client.sio.connected, what="the server-side disconnect")
        await asyncio.sleep(0.5)
        assert not client.sio.connected

    run(main())
    closes = mock.journal(kind="ws.close", api="cryptorobot")
    assert closes[0].data["code"] == 1001 and closes[0].data["by"] == "fault"
    assert [k.data["reason"] for k in mock.journal(kind="sio.kick", api="cryptorobot")] == ["server disconnect"]


@pytest.mark.parametrize("scenario_id", ["cryptorobot/live-trading", "cryptorobot/jwt-expiry"])
def test_a_session_the_server_kicks_ends_by_the_server(make_mock: MockFactory, scenario_id: str) -> None:
    mock = make_mock(scenario_id)

    async def main() -> None:
        client = await FeathersSocket(mock.url("cryptorobot")).connect()
        await client.login(EMAIL, PASSWORD)
        if scenario_id == "cryptorobot/jwt-expiry":
            await asyncio.to_thread(mock.advance, "1m")  # the token expires: the server disconnects the socket
        else:
            await asyncio.to_thread(mock.emit, "cryptorobot", "disconnect", {})
        await asyncio.to_thread(mock.wait_for, kind="sio.disconnect", api="cryptorobot")
        await client.close()

    run(main())
    kick = mock.journal(kind="sio.kick", api="cryptorobot")
    assert len(kick) == 1 and kick[0].session is not None
    ends = mock.journal(kind="sio.disconnect", api="cryptorobot", session=kick[0].session)
    assert [e.data["by"] for e in ends] == ["server"], ends


def test_withheld_engineio_pings_trip_the_clients_ping_timeout(make_mock: MockFactory) -> None:
    mock = make_mock(
        yaml="""
id: test/cryptorobot-silence
description: short Engine.IO keep-alive
seed: 9
clock: {start: "2024-01-15T14:00:00Z", speed: 1}
apis:
  cryptorobot:
    options: {ping_interval: 1s, ping_timeout: 1s}
    state: {streams: {ticker: 0, pod_events: 0, trades: 0, signals: 0, messages: 0, events: 0}}
""",
        speed=None,
    )

    async def main() -> None:
        client = await FeathersSocket(mock.url("cryptorobot"), reconnection_delay=0.1, reconnection_delay_max=0.2).connect()
        await client.login("trader@example.com", "secret-password")
        first = client.sio.get_sid()
        mock.start_fault(id="hush", kind="silence", api="cryptorobot", duration=3)
        await wait_until(lambda: client.sio.connected and client.sio.get_sid() != first, timeout=20, what="ping timeout and reconnect")
        await client.close()

    run(main())
    assert mock.journal(kind="ws.suppressed", api="cryptorobot", fault="hush", text="2")  # an Engine.IO ping the client never saw
    assert mock.journal(kind="sio.packet", api="cryptorobot", eio="ping", suppressed=True)  # and the packet entry says so


def test_plan_limits_sockets_and_requests_per_minute(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("cryptorobot/plan-limit")
    url = mock.url("cryptorobot")

    async def main() -> None:
        first, second = await FeathersSocket(url).connect(), await FeathersSocket(url).connect()
        login = await first.login("free@example.com", "free-password")
        error = await error_of(second.login("free@example.com", "free-password"))
        assert error["name"] == "TooManyRequests" and error["code"] == 429 and error["data"] == {"plan": "free", "limit": 1}
        for _ in range(60):
            await first.call("find", "exchanges/ticker", {"$limit": 1})
        error = await error_of(first.call("find", "exchanges/ticker", {}))
        assert error["name"] == "TooManyRequests" and error["className"] == "too-many-requests"
        assert error["data"]["retryAfter"] == 60 and error["data"]["limit"] == 60
        rest = http.get(f"{url}/exchanges/ticker", headers={"Authorization": f"Bearer {login['accessToken']}"})
        assert rest.status_code == 429 and rest.headers["retry-after"] == "60" and rest.json()["name"] == "TooManyRequests"
        mock.advance(60)
        assert (await first.call("find", "exchanges/ticker", {"$limit": 1}))["limit"] == 1
        await first.close()
        await asyncio.to_thread(mock.wait_for, kind="sio.disconnect", api="cryptorobot", by="client")  # the server saw it go
        assert (await second.login("free@example.com", "free-password"))["user"]["plan"] == "free"  # the one slot is free again
        await second.close()

    run(main())


def test_rest_mirror_for_initial_state(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock(yaml=TWO_USERS)
    url = mock.url("cryptorobot")
    login = http.post(f"{url}/authentication", json={"strategy": "local", "email": "ann@example.com", "password": "ann-password"})
    assert login.status_code == 201 and login.json()["authentication"]["strategy"] == "local"
    bearer = {"Authorization": f"Bearer {login.json()['accessToken']}"}
    created = http.post(f"{url}/strategies", json={"name": "REST", "type": "dca", "pair": "SOL/USDT"}, headers=bearer)
    assert created.status_code == 201
    strategy_id = created.json()["_id"]
    traders = http.get(f"{url}/traders", headers={"Authorization": "ApiKey crk_ann_0123456789"})
    assert traders.status_code == 200 and set(traders.json()) == {"total", "limit", "skip", "data"}
    listed = http.get(f"{url}/strategies", params={"$limit": "1", "$sort[createdAt]": "-1", "type[$in][]": ["dca", "grid"]}, headers=bearer)
    assert listed.json()["limit"] == 1 and listed.json()["data"][0]["_id"] == strategy_id
    assert http.get(f"{url}/strategies/{strategy_id}", headers=bearer).json()["name"] == "REST"
    assert http.patch(f"{url}/strategies/{strategy_id}", json={"name": "REST 2"}, headers=bearer).json()["name"] == "REST 2"
    assert http.get(f"{url}/exchanges/ticker", params={"symbol": "BTC/USDT"}, headers=bearer).json()["total"] == 1
    assert http.delete(f"{url}/strategies/{strategy_id}", headers=bearer).status_code == 200
    missing = http.get(f"{url}/strategies")
    assert missing.status_code == 401 and missing.json() == {
        "name": "NotAuthenticated",
        "message": "Not authenticated",
        "code": 401,
        "className": "not-authenticated",
    }
    assert http.get(f"{url}/traders", headers={"Authorization": "ApiKey wrong"}).json()["message"] == "Invalid API key"
    unknown = http.get(f"{url}/nope", headers=bearer)
    assert unknown.status_code == 404 and unknown.json()["message"] == "Page not found"
    assert http.post(f"{url}/trades", json={}, headers=bearer).status_code == 405
    assert http.post(f"{url}/strategies", content=b"{not json", headers=bearer).json()["name"] == "BadRequest"


@pytest.mark.parametrize("frame", ["42not json", "4", "9", "42[]", '42["disconnect"]'])
def test_a_malformed_packet_drops_that_connection_only_and_is_journaled(make_mock: MockFactory, frame: str) -> None:
    mock = make_mock("cryptorobot/live-trading")
    url = mock.url("cryptorobot")

    async def main() -> None:
        good = await FeathersSocket(url).connect()
        await good.login(EMAIL, PASSWORD)
        async with _connected(url) as raw:
            await raw.send(frame)
            with pytest.raises(websockets.ConnectionClosedOK):  # as socket.io's JavaScript server: the connection is dropped
                await asyncio.wait_for(raw.recv(), 5)
        assert (await good.call("find", "strategies", {"type": "momentum"}))["total"] == 1
        await good.close()

    run(main())
    invalid = mock.journal(kind="sio.invalid", api="cryptorobot")
    assert len(invalid) == 1 and invalid[0].data["reason"]
    sent = [e.data for e in mock.journal(kind="sio.packet", api="cryptorobot", direction="in", conn=invalid[0].conn)]
    assert sent[-1]["eio"] in ("message", "invalid")


@pytest.mark.parametrize(("goodbye", "reason"), [(True, "client disconnect"), (False, "transport close")])
def test_a_session_ends_by_client_disconnect_only_when_the_client_said_so(make_mock: MockFactory, goodbye: bool, reason: str) -> None:
    mock = make_mock("cryptorobot/live-trading")
    url = mock.url("cryptorobot")

    async def main() -> None:
        async with _connected(url) as raw:
            if goodbye:
                await raw.send("41")  # Socket.IO DISCONNECT, as socket.io-client's disconnect() sends it before closing
        await asyncio.to_thread(mock.wait_for, kind="sio.disconnect", api="cryptorobot")

    run(main())
    (end,) = mock.journal(kind="sio.disconnect", api="cryptorobot")
    assert (end.data["by"], end.data["reason"]) == ("client", reason)


def test_a_client_that_closes_while_its_calls_are_still_answered_ended_the_session(make_mock: MockFactory) -> None:
    # the calls, the DISCONNECT and the close frame arrive in one write: the protocol layer answers the close at once,
    # before the app has read the first call; the app's answers then fail, it closes too, and that close is not the
    # session's end (a client stopped by SIGTERM in the middle of a burst of calls); tests/test_wsedge.py has the
    # moment between, when the transport is closing and the app's close is ignored
    mock = make_mock("cryptorobot/live-trading")
    url = mock.url("cryptorobot")

    async def main() -> None:
        async with _connected(url) as raw:
            calls = [Frame(Opcode.TEXT, f'42{i}["find","strategies",{{}}]'.encode()) for i in range(50)]
            frames = [*calls, Frame(Opcode.TEXT, b"41"), Frame(Opcode.CLOSE, Close(1000, "").serialize())]
            raw.transport.write(b"".join(frame.serialize(mask=True, extensions=[]) for frame in frames))
            await raw.wait_closed()
        await asyncio.to_thread(mock.wait_for, kind="sio.disconnect", api="cryptorobot")

    run(main())
    (close,) = mock.journal(kind="ws.close", api="cryptorobot")
    assert (close.data["by"], close.data["code"], close.direction) == ("client", 1000, "in")
    answered = [e for e in mock.journal(kind="ws.frame", api="cryptorobot", direction="out") if e.data.get("text", "").startswith("43")]
    assert len(answered) < 50, "the app answered every call before the close: this test no longer shows the race"
    # the app read every call (the edge did not race it for the frames to find the close): each is journaled decoded
    calls = [e.data.get("id") for e in mock.journal(kind="sio.packet", api="cryptorobot", direction="in") if e.data.get("sio") == "EVENT"]
    assert calls == list(range(50))
    (end,) = mock.journal(kind="sio.disconnect", api="cryptorobot")
    assert end.data["by"] == "client"


def test_engineio_keepalive_is_announced_in_virtual_time_and_paced_by_the_speed(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("cryptorobot/live-trading", speed=10)
    base = mock.url("cryptorobot")
    # python-engineio's pace (real seconds), which the journal cannot show: see test_cryptorobot_keepalive for the behaviour
    eio = mock.server.edges["cryptorobot"].app.hub.sio.eio

    async def main() -> None:
        async def handshake() -> tuple[Any, dict[str, Any]]:
            ws = await websockets.connect(base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket")
            first = await ws.recv()
            assert isinstance(first, str) and first[0] == "0"
            return ws, json.loads(first[1:])

        ws1, opened = await handshake()
        assert (opened["pingInterval"], opened["pingTimeout"], opened["maxPayload"]) == (25000, 20000, 1000000)  # virtual
        assert mock.call(lambda: (eio.ping_interval, eio.ping_timeout)) == (2.5, 2.0)  # real, at speed 10
        mock.set_speed(1)
        ws2, opened = await handshake()
        assert (opened["pingInterval"], opened["pingTimeout"]) == (25000, 20000)
        assert mock.call(lambda: (eio.ping_interval, eio.ping_timeout)) == (25.0, 20.0)  # the next handshake brings the new pace
        await ws1.close()
        await ws2.close()

    run(main())
    response = http.get(f"{base}/socket.io/?EIO=4&transport=polling", headers={"Origin": "http://agent.example"})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "http://agent.example"
    opened = json.loads(response.text[1:])
    assert response.text[0] == "0" and opened["upgrades"] == ["websocket"]
    assert (opened["pingInterval"], opened["pingTimeout"]) == (25000, 20000)  # the long-polling handshake announces them too


def test_callers_cannot_choose_the_owner_or_take_over_a_record(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=TWO_USERS)
    url = mock.url("cryptorobot")

    async def main() -> None:
        ann, bob = await FeathersSocket(url).connect(), await FeathersSocket(url).connect()
        ann_id = (await ann.login("ann@example.com", "ann-password"))["user"]["_id"]
        bob_id = (await bob.login("bob@example.com", "bob-password"))["user"]["_id"]
        mine = await ann.call("create", "strategies", {"name": "Ann's", "type": "grid", "pair": "BTC/USDT"})
        planted = await bob.call(
            "create", "strategies", {"name": "Bob's", "type": "grid", "pair": "BTC/USDT", "userId": ann_id, "createdAt": "1970-01-01"}
        )
        assert planted["userId"] == bob_id and planted["createdAt"] == "2024-01-15T14:00:00.000Z"
        error = await error_of(bob.call("create", "strategies", {"_id": mine["_id"], "name": "Mine now", "type": "grid", "pair": "X/Y"}))
        assert error["name"] == "Conflict" and error["code"] == 409
        assert (await ann.call("get", "strategies", mine["_id"]))["name"] == "Ann's"
        chosen = await bob.call("create", "strategies", {"_id": "bobs-own", "name": "B", "type": "dca", "pair": "ETH/USDT"})
        assert chosen["_id"] == "bobs-own"
        await wait_until(lambda: len(bob.named("strategies created")) == 2, what="bob's events")
        assert [s["_id"] for s in ann.named("strategies created")] == [mine["_id"]]
        await ann.close()
        await bob.close()

    run(main())


def test_update_patch_remove_select_and_their_events(make_mock: MockFactory) -> None:
    mock = make_mock(yaml=TWO_USERS)
    url = mock.url("cryptorobot")
    mock.emit("cryptorobot", "messages", {"user": "ann@example.com", "data": {"title": "Hello"}})

    async def main() -> None:
        token = (await FeathersSocket(url).connect()).sio  # a second, unauthenticated socket stays quiet
        ann = await FeathersSocket(url, headers={"Authorization": "JWT " + await _token(url)}).connect()
        strategy = (await ann.call("find", "strategies", {"$limit": 1}))["data"][0]
        replaced = await ann.call("update", "strategies", strategy["_id"], {"name": "Replaced", "type": "dca", "pair": "SOL/USDT"}, {})
        assert replaced["name"] == "Replaced" and "timeframe" not in replaced and replaced["createdAt"] == strategy["createdAt"]
        error = await error_of(ann.call("update", "strategies", strategy["_id"], {"name": "No type"}, {}))
        assert error["message"] == "Validation failed"
        picked = await ann.call("get", "strategies", strategy["_id"], {"$select": ["name"]})
        assert picked == {"_id": strategy["_id"], "name": "Replaced"}
        message = (await ann.call("find", "messages", {"title": "Hello"}))["data"][0]
        assert (await ann.call("patch", "messages", message["_id"], {"read": True}, {}))["read"] is True
        assert (await ann.call("remove", "messages", message["_id"], {}))["_id"] == message["_id"]
        assert (await ann.call("find", "messages", {"title": "Hello"}))["total"] == 0
        me = await ann.call("patch", "users", (await ann.call("find", "users", {}))["data"][0]["_id"], {"name": "Ann B."}, {})
        assert me["name"] == "Ann B." and "password" not in me
        error = await error_of(ann.call("remove", "users", me["_id"], {}))
        assert error["name"] == "MethodNotAllowed"
        await wait_until(lambda: len(ann.named("messages removed")) == 1, what="the events")
        assert ann.named("strategies updated")[0]["name"] == "Replaced"
        assert ann.named("messages patched")[0]["read"] is True
        assert ann.named("messages removed") == [{"_id": message["_id"]}]
        await ann.close()
        await token.disconnect()

    run(main())


async def _token(url: str) -> str:
    client = await FeathersSocket(url).connect()
    token: str = (await client.login("ann@example.com", "ann-password"))["accessToken"]
    await client.close()
    return token


def test_bad_rest_queries_and_control_emits_get_errors_not_crashes(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock(yaml=TWO_USERS)
    url = mock.url("cryptorobot")
    key = {"Authorization": "ApiKey crk_ann_0123456789"}
    assert http.get(f"{url}/strategies?$or[3000000][type]=x").status_code == 401  # no credentials: refused before parsing
    huge = http.get(f"{url}/strategies?$or[3000000][type]=x", headers=key)
    assert huge.status_code == 400 and huge.json()["message"] == "$or needs an array of queries"
    assert http.get(f"{url}/strategies?a=1&a[b]=2&c[0]=1&c[0][d]=2", headers=key).status_code == 200
    assert http.get(f"{url}/strategies?$limit=abc&$skip=-4&$sort[name]=x", headers=key).json()["limit"] == 25
    control = mock.url("control")
    bad = http.post(f"{control}/_mock/emit", json={"api": "cryptorobot", "event": "trades", "data": {"user": "nobody@example.com"}})
    assert bad.status_code == 400 and "nobody@example.com" in bad.json()["error"]
    bad = http.post(
        f"{control}/_mock/emit",
        json={"api": "cryptorobot", "event": "record", "data": {"service": "traders", "method": "patch", "id": "x"}},
    )
    assert bad.status_code == 400
    login = http.post(f"{url}/authentication", json={"strategy": "local", "email": "ann@example.com", "password": "ann-password"}).json()
    logout = http.delete(f"{url}/authentication", headers={"Authorization": f"Bearer {login['accessToken']}"})
    assert logout.status_code == 200 and logout.json()["accessToken"] == login["accessToken"]
    assert http.delete(f"{url}/authentication/other", headers={"Authorization": f"Bearer {login['accessToken']}"}).json()["message"] == (
        "Invalid access token"
    )


def test_malformed_polling_payloads_unexpected_binary_and_deep_nesting_end_the_session(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("cryptorobot/live-trading")
    url = f"{mock.url('cryptorobot')}/socket.io/?EIO=4&transport=polling"
    sid = json.loads(http.get(url).text[1:])["sid"]
    assert http.post(f"{url}&sid={sid}", content="40").text == "OK"
    refused = http.post(f"{url}&sid={sid}", content="42not json")
    assert refused.status_code == 400
    assert http.get(f"{url}&sid={sid}").status_code == 400  # the session is gone

    async def main() -> None:
        for frame in [b"\x00\x01", "42" + "[" * 100_000]:
            async with _connected(mock.url("cryptorobot")) as raw:
                await raw.send(frame)
                with pytest.raises(websockets.ConnectionClosedOK):
                    await asyncio.wait_for(raw.recv(), 5)

    run(main())
    reasons = [e.data["reason"] for e in mock.journal(kind="sio.invalid", api="cryptorobot")]
    assert reasons == ["invalid payload", "got binary data when not reconstructing a packet", "invalid payload"]
    binary = mock.journal(kind="sio.packet", api="cryptorobot", binary=True)[0].data
    assert binary["bytes"] == "0001" and binary["length"] == 2
