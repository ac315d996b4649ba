"""Property: whatever a client puts in a request for TradingPartners' alert stream (``Last-Event-ID``, the query
string, the ``Authorization`` header), it gets the stream or the API's own error, never a 5xx; the journal has
the request and, for a stream, its end; nothing is logged; a stream opened before still gets its alerts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from mockserver import ThreadedMockServer, scenario_from_yaml
from tests.fuzzing import EMAIL, PASSWORD, Watch, budget, fuzz_scenario

STREAM = "/api/v1/alerts"
#: ids on, so that Last-Event-ID is read (off, the API ignores it), and a retry: hint first
SCENARIO = fuzz_scenario().replace("  tradingpartners:\n", "  tradingpartners:\n    options: {event_ids: true, retry_ms: 1000}\n")
#: header values HTTP/1.1 can carry (latin-1, no CR, LF or NUL), odd digits included: ² and ٣ are digits to str.isdigit
_HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)
_EVENT_IDS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", " ", "0", "1", " 1 ", "+1", "1.5", "1e3", "²", "0²", "00000000000000000000001", "-0"]),
    _HEADER_TEXT,
)
_QUERY = st.dictionaries(
    st.sampled_from(["token", "lastEventId", "since", "access_token", "x"]) | st.text(max_size=8),
    _HEADER_TEXT | st.text(max_size=20),
    max_size=3,
)


@pytest.fixture(scope="module")
def mock() -> Iterator[ThreadedMockServer]:
    server = ThreadedMockServer(scenario_from_yaml(SCENARIO), speed=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def token(mock: ThreadedMockServer) -> str:
    login = httpx.post(mock.url("tradingpartners") + "/api/v1/users/login", json={"email": EMAIL, "password": PASSWORD})
    assert login.status_code == 200, login.text
    value: str = login.json()["accessToken"]
    return value


def _authorization(token: str) -> st.SearchStrategy[str | None]:
    return st.one_of(
        st.none(),
        st.just(f"Bearer {token}"),
        st.sampled_from([f"bearer {token}", f"Bearer  {token} ", token, f"JWT {token}", "Bearer", "Bearer ", f"Bearer {token[:-2]}"]),
        _HEADER_TEXT.map(lambda junk: "Bearer " + junk),
        _HEADER_TEXT,
        st.builds(lambda a, b, c: f"Bearer {a}.{b}.{c}", _HEADER_TEXT, _HEADER_TEXT, _HEADER_TEXT),
    )


def _alert(stream: Iterator[str]) -> str:
    """Read a stream's lines until a new alert's data (its ``working`` event)."""
    event = None
    for line in stream:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event == "working":
            return line[5:].strip()
    raise AssertionError("the stream ended before an alert")


@given(data=st.data(), last_event_id=st.none() | _EVENT_IDS, query=_QUERY)
@budget(30, long=1500)
def test_a_stream_request_gets_the_stream_or_the_apis_error(
    mock: ThreadedMockServer, token: str, data: st.DataObject, last_event_id: str | None, query: dict[str, str]
) -> None:
    authorization = data.draw(_authorization(token), label="authorization")
    headers = {b"accept": b"text/event-stream"}
    # as bytes (latin-1 goes on the wire as is); HTTP drops a value's outer whitespace, and h11 refuses to send it
    if authorization is not None:
        headers[b"authorization"] = authorization.strip(" \t").encode("latin-1")
    if last_event_id is not None:
        headers[b"last-event-id"] = last_event_id.strip(" \t").encode("latin-1")
    base = mock.url("tradingpartners")
    timeout = httpx.Timeout(10, read=5)
    with httpx.Client(timeout=timeout) as http, Watch(mock) as watch:
        with http.stream("GET", base + STREAM, headers={"authorization": f"Bearer {token}"}) as good:
            lines = good.iter_lines()
            with http.stream("GET", base + STREAM, headers=headers, params=query) as answer:
                assert answer.status_code < 500, answer.status_code
                event(f"status {answer.status_code}")
                if answer.status_code == 200:
                    assert answer.headers["content-type"].startswith("text/event-stream")
                else:  # the API's own error: an application code (not the HTTP status), a message, a description
                    assert answer.status_code in (400, 401, 402), answer.status_code
                    body = json.loads(answer.read())
                    assert set(body) == {"code", "message", "description"}, body
                    assert isinstance(body["code"], int) and body["code"] != answer.status_code, body
            mock.emit("tradingpartners", "alert", {"instrument": "STOCKS"})
            assert json.loads(_alert(lines))["instrument"] == "STOCKS"  # the stream opened before is still served
        watch.check("tradingpartners")
        entries = [e for e in mock.journal(api="tradingpartners") if e.seq > watch.since]
        kinds = [e.kind for e in entries]
        streams = 1 + (answer.status_code == 200)  # each stream's one end, by the client that closed it
        assert (kinds.count("http.request"), kinds.count("http.response"), kinds.count("sse.end")) == (2, 2, streams), kinds
