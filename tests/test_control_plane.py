"""The control plane locked down: loopback by default, no open remote control without a token, scenario files
by path confined to the allowed directories, bodies within their limit, YAML safe-loaded."""

from __future__ import annotations

import hmac
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mockserver import Runtime, ThreadedMockServer, load_builtin
from mockserver.control.openapi import control_openapi
from mockserver.core.errors import MockServerError
from mockserver.core.limits import Limits
from mockserver.documents import check_request
from mockserver.documents.openapi import assert_matches_openapi
from mockserver.server import MockServer, is_loopback
from tests.conftest import MockFactory

SCENARIO = """id: mine/quiet
description: a user's own scenario file
clock: {start: "2026-03-09T12:00:00Z", speed: 0}
"""


def test_the_control_api_binds_loopback_and_refuses_an_open_remote_bind_without_a_token() -> None:
    assert all(is_loopback(host) for host in ("127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "192.0.2.7", "no-such-host.invalid"))
    runtime = Runtime(load_builtin("demo"), wall_time=lambda: 1.8e9)
    assert MockServer(runtime).control_host == "127.0.0.1"  # the default
    with pytest.raises(MockServerError, match="--control-token"):
        MockServer(runtime, control_host="0.0.0.0")
    MockServer(runtime, control_host="0.0.0.0", control_token="t0ken")  # a token: allowed
    MockServer(runtime, control_host="0.0.0.0", allow_unauthenticated_remote_control=True)  # said out loud: allowed
    refused = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--control-host", "0.0.0.0", "--base-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "--allow-unauthenticated-remote-control" in refused.stderr, refused.stderr


def test_tokens_of_any_length_are_refused_and_the_right_one_accepted_in_constant_time(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[int, int]] = []
    constant_time = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return constant_time(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    with ThreadedMockServer(load_builtin("demo"), speed=0, control_token="s3cret-token") as mock:
        clock = mock.url("control") + "/_mock/clock"
        wrongs = (b"", b"s", b"s3cret-toke", b"s3cret-token-", b"x" * 4096, "s3cret-tokén".encode())
        for wrong in wrongs:
            assert http.get(clock, headers={"X-Mock-Token": wrong}).status_code == 401, wrong
        assert http.get(clock, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    # every check went through hmac.compare_digest, on digests of one length whatever the token's: neither the
    # token's bytes nor its length show in the time an answer takes
    assert compared == [(32, 32)] * (len(wrongs) + 1)


def test_scenario_files_by_path_are_confined_to_the_allowed_directories(make_mock: MockFactory, http: httpx.Client, tmp_path: Path) -> None:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "sub").mkdir(parents=True)
    outside.mkdir()
    (allowed / "sub" / "mine.yaml").write_text(SCENARIO)
    (outside / "secret.yaml").write_text(SCENARIO.replace("mine/quiet", "outside/secret"))
    (allowed / "escape.yaml").symlink_to(outside / "secret.yaml")  # a symlink out of the allowed directory
    (allowed / "door").symlink_to(outside, target_is_directory=True)
    (allowed / "notes.txt").write_text("not a scenario")
    (allowed / "big.yaml").write_text(SCENARIO + "# " + "x" * 4096 + "\n")
    mock = make_mock("demo", scenario_dirs=[allowed], limits=Limits.parse(["control_body=2KiB"], apis=[]))
    url = mock.url("control") + "/_mock/scenario"

    document = control_openapi()

    def load(path: str) -> tuple[int, str]:
        assert check_request(document, "POST", "/_mock/scenario", body={"path": path}) == []
        answer = http.post(url, json={"path": path})
        assert_matches_openapi(document, "POST", "/_mock/scenario", answer.status_code, answer.json())
        return answer.status_code, answer.json().get("error") or answer.json()["scenario"]["id"]

    assert load("sub/mine.yaml") == (200, "mine/quiet")
    assert load(str(allowed / "sub" / "mine.yaml")) == (200, "mine/quiet")  # absolute, inside
    assert load("luckylobster/rate-limited.yaml") == (200, "luckylobster/rate-limited")  # the built-in scenarios
    for path in (
        "../outside/secret.yaml",
        "sub/../../outside/secret.yaml",
        str(outside / "secret.yaml"),
        "escape.yaml",
        "door/secret.yaml",
        str(allowed / "door" / "secret.yaml"),
        "/etc/../etc/passwd.yaml",
        "../outside/does-not-exist.yaml",  # refused the same way, whether it exists or not
    ):
        status, error = load(path)
        assert status == 403 and "outside the scenario directories" in error, (path, status, error)
    assert load("sub/missing.yaml")[0] == 404
    assert load("notes.txt")[0] == 400 and load("")[0] == 400
    status, error = load("big.yaml")
    assert status == 413 and "limit" in error
    assert mock.clock()["epoch"] and mock.call(lambda: mock.runtime.scenario.id) == "luckylobster/rate-limited"
    info = http.get(mock.url("control") + "/_mock/info").json()
    assert info["scenario_dirs"][1] == str(allowed.resolve()) and info["limits"]["control"]["body"] == 2048


def test_control_bodies_and_uploaded_scenarios_have_a_size_limit_and_yaml_stays_safe(make_mock: MockFactory, http: httpx.Client) -> None:
    mock = make_mock("demo", limits=Limits.parse(["control_body=4KiB"], apis=[]))
    control = mock.url("control") + "/_mock"
    padded = SCENARIO + "# " + "x" * 8192 + "\n"
    for answer in (
        http.post(f"{control}/scenario", content=padded, headers={"Content-Type": "application/yaml"}),
        http.post(f"{control}/scenario", json={"yaml": padded}),
        http.post(f"{control}/emit", json={"api": "luckylobster", "event": "fill", "data": {"pad": "x" * 8192}}),
    ):
        assert answer.status_code == 413 and set(answer.json()) == {"error"} and "limit" in answer.json()["error"], answer.text
    within = http.post(f"{control}/scenario", content=SCENARIO, headers={"Content-Type": "application/yaml"})
    assert within.status_code == 200 and within.json()["scenario"]["id"] == "mine/quiet"
    unsafe = SCENARIO + "apis: !!python/object/apply:os.system ['echo owned']\n"
    answer = http.post(f"{control}/scenario", content=unsafe, headers={"Content-Type": "application/yaml"})
    assert answer.status_code == 422 and answer.json()["error"] == "invalid scenario", answer.text
    assert os.environ.get("AGENTFEED_JOURNAL_STRICT") == "1"  # (every entry of these runs was checked too)
