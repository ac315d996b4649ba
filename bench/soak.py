"""``make soak``: about 1,000 well-behaved clients of the five APIs against one mock, for hours of virtual time.

The mock runs as users run it (``mockserver serve`` with ``--journal-file``, its clock at ``--speed``, default 30:
ten real minutes are five virtual hours) with a scenario this script writes (``soak_scenario`` below): many
credentials per API, markets, feeds and alerts, and on its timeline faults (503s, resets, truncations, closed
and cut streams, a server-side Socket.IO disconnect) and bursts, again and again. The clients (bench/
soak_clients.py: httpx, websockets, python-socketio) poll, stream, answer pings and reconnect; each counts what
it received. At the end the clock stops, the clients leave, the server stops, and the journal file is read.

It prints, and writes to ``--out`` (bench/results/soak.json):

* **errors**: ``server.error`` entries, 500 answers no fault asked for, what a client did not expect, and
  tracebacks on the server's stderr: must be 0;
* **RSS**: the server's resident memory after the warm-up (30 % of the run) and at the end: growth under 10 %;
* **per API**, what the clients counted against what the journal says each was sent (HTTP answers and
  failures; frames, events and packets per connection or Engine.IO session): equal, or the difference explained
  by journaled faults, resets and overflows (bench/soak_journal.py); unexplained: must be 0.

Exit 0 when all three hold, 1 otherwise. ``SOAK_MINUTES`` (make) / ``--minutes``: the length; the machine has
other work: develop with ``--minutes 1.5`` under ``nice``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from soak_clients import Tally, aitrader, cryptorobot, luckylobster, tradeready, tradingpartners  # noqa: E402
from soak_journal import FAILED, Sent, read_journal  # noqa: E402
from ws_fanout_client import raise_open_file_limit, run_with_loop  # noqa: E402

SHARES = {"luckylobster": 0.25, "aitrader": 0.15, "tradeready": 0.2, "cryptorobot": 0.2, "tradingpartners": 0.2}
SOCKETS_PER_CRYPTOROBOT_USER = 5  # an enterprise plan allows 25: room for the old sockets while new ones log in


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def soak_scenario(clients: int, speed: float) -> dict[str, Any]:
    n = {api: max(1, round(clients * share)) for api, share in SHARES.items()}
    cr_users = math.ceil(n["cryptorobot"] / SOCKETS_PER_CRYPTOROBOT_USER)
    timeline: list[dict[str, Any]] = [
        # LuckyLobster: 503 storms, resets and truncations now and then, fills
        {
            "at": "10m",
            "every": "30m",
            "fault": {
                "id": "ll-503",
                "kind": "error",
                "api": "luckylobster",
                "status": 503,
                "retry_after": 30,
                "probability": 0.3,
                "duration": "2m",
            },
        },
        {
            "at": "20m",
            "every": "40m",
            "fault": {"id": "ll-reset", "kind": "reset", "api": "luckylobster", "probability": 0.05, "duration": "1m"},
        },
        {
            "at": "25m",
            "every": "40m",
            "fault": {
                "id": "ll-truncate",
                "kind": "truncate",
                "api": "luckylobster",
                "fraction": 0.5,
                "probability": 0.05,
                "duration": "1m",
            },
        },
        {"at": "2m", "every": "5m", "emit": {"api": "luckylobster", "event": "fill"}},
        # AI-Trader: bursts of messages (pushed on the notify socket, one in five lost there), replies, a 503 storm
        {"at": "3m", "every": "2m", "emit": {"api": "aitrader", "event": "reply"}},
        {
            "at": "12m",
            "every": "30m",
            "fault": {
                "id": "ait-503",
                "kind": "error",
                "api": "aitrader",
                "status": 503,
                "retry_after": 20,
                "probability": 0.2,
                "duration": "1m",
            },
        },
        # TradeReady: bursts, orders, every socket closed now and then (clients reconnect and resubscribe)
        {"at": "5m", "every": "20m", "emit": {"api": "tradeready", "event": "burst", "data": {"ticks": 20}}},
        {
            "at": "1m",
            "every": "5m",
            "emit": {"api": "tradeready", "event": "order", "data": {"symbol": "BTCUSDT", "side": "buy", "quantity": 0.01}},
        },
        {
            "at": "15m",
            "every": "40m",
            "fault": {
                "id": "tr-restart",
                "kind": "close",
                "api": "tradeready",
                "code": 1012,
                "reason": "service restart",
                "duration": "1s",
            },
        },
        {
            "at": "35m",
            "every": "60m",
            "fault": {"id": "tr-cut", "kind": "reset", "api": "tradeready", "route": "/ws/v1", "probability": 0.1, "duration": "1s"},
        },
        # Cryptorobot: bursts, transports closed, a server-side disconnect (clients reconnect and log in again)
        {"at": "7m", "every": "15m", "emit": {"api": "cryptorobot", "event": "trades", "data": {"count": 20}}},
        {
            "at": "25m",
            "every": "50m",
            "fault": {"id": "cr-close", "kind": "close", "api": "cryptorobot", "route": "/socket.io/", "code": 1012, "duration": "1s"},
        },
        {"at": "45m", "every": "60m", "emit": {"api": "cryptorobot", "event": "disconnect"}},
        # TradingPartners: streams cut mid-frame (clients resume with Last-Event-ID), refused reconnects, alerts
        {
            "at": "30m",
            "every": "30m",
            "fault": {
                "id": "tp-cut",
                "kind": "cut",
                "api": "tradingpartners",
                "route": "/api/v1/alerts",
                "times": max(1, n["tradingpartners"] // 10),
            },
        },
        {
            "at": "31m",
            "every": "30m",
            "fault": {
                "id": "tp-busy",
                "kind": "error",
                "api": "tradingpartners",
                "route": "/api/v1/alerts",
                "status": 503,
                "retry_after": 5,
                "times": 5,
            },
        },
        {"at": "4m", "every": "10m", "emit": {"api": "tradingpartners", "event": "alert"}},
    ]
    for agent in (1, 2, 3):
        timeline.append(
            {"at": f"{5 + agent}m", "every": "15m", "emit": {"api": "aitrader", "event": "message", "data": {"agent": agent, "count": 30}}}
        )
    return {
        "id": "bench/soak",
        "description": f"The soak: {clients} clients of the five APIs, faults and bursts on repeat (bench/soak.py).",
        "seed": 20261122,
        "clock": {"start": "2026-03-09T00:00:00Z", "speed": speed},
        "apis": {
            "luckylobster": {
                "state": {
                    "keys": [{"name": "soak", "copies": n["luckylobster"], "interval_ms": 60000, "rate_limit": None, "active_hours": None}]
                }
            },
            "aitrader": {
                "state": {
                    "agents": [{"id": i, "name": f"soak-{i}", "password": f"pw-{i}"} for i in range(1, n["aitrader"] + 1)],
                    "ws_loss": {"pattern": "....x"},
                }
            },
            "tradeready": {
                "options": {"pong_timeout": "10m"},  # 20 real seconds at x30: a busy client process still answers in time
                "state": {
                    "keys": [{"name": f"soak-{i}"} for i in range(1, 21)],
                    "market": {"tick_interval": "30s", "symbols_per_tick": 5, "portfolio_interval": "5m"},
                },
            },
            "cryptorobot": {
                "options": {"ping_interval": "10m", "ping_timeout": "10m"},
                "state": {
                    "users": [
                        {"email": f"soak-{i}@example.com", "password": f"pw-{i}", "plan": "enterprise"} for i in range(1, cr_users + 1)
                    ],
                    "streams": {"ticker": "2m", "pod_events": "10m", "trades": "15m", "signals": "30m", "messages": 0, "events": 0},
                },
            },
            "tradingpartners": {
                "options": {"event_ids": True, "ping_interval": "1m", "replay_window": 100},
                "state": {
                    "users": [
                        {"email": f"soak-{i}@example.com", "password": f"pw-{i}", "access": "FULL"}
                        for i in range(1, n["tradingpartners"] + 1)
                    ],
                    "alerts": {"every": "2m", "start_after": "1m", "close_after": "4m"},
                },
            },
        },
        "timeline": timeline,
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.tallies: dict[str, Tally] = {name: Tally() for name in (*SHARES, "aitrader-ws")}
        self.rss: list[tuple[float, float]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu = (0.0, 0.0, 1.0)

    def start_server(self) -> dict[str, str]:
        scenario = self.work / "soak.yaml"
        scenario.write_text(yaml.safe_dump(soak_scenario(self.args.clients, self.args.speed), sort_keys=False))
        env_file = self.work / "mock.env"
        command = [*self.args.server.split(), "serve", "--quiet", "--scenario", str(scenario), "--base-port", "0"]
        command += [
            "--env-file",
            str(env_file),
            "--journal-file",
            str(self.work / "journal.jsonl"),
            "--journal-limit",
            str(self.args.journal_limit),
        ]
        self.stderr = (self.work / "server.stderr").open("wb")
        spill = self.work / "spill"
        spill.mkdir()
        self.proc = subprocess.Popen(command, stderr=self.stderr, env={**os.environ, "TMPDIR": str(spill)})
        deadline = time.monotonic() + 60
        while not env_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the mock did not start: {(self.work / 'server.stderr').read_text()[-2000:]}")
            time.sleep(0.1)
        return dict(line.split("=", 1) for line in env_file.read_text().splitlines())

    async def run_clients(self, env: dict[str, str]) -> None:
        args, t = self.args, self.tallies
        control = env["MOCK_CONTROL_URL"]
        async with httpx.AsyncClient(timeout=30) as plain:
            info = (await plain.get(f"{control}/_mock/info")).json()
        creds, urls = info["credentials"], info["urls"]
        n = {api: max(1, round(args.clients * share)) for api, share in SHARES.items()}
        every = 60.0 / args.speed  # the poll cadence the APIs ask for: a minute of virtual time
        stop = asyncio.Event()
        # pollers open a connection per request, as they would at x1 (a poll a minute is beyond the server's 5 s
        # idle timeout): with keep-alive, httpcore's pool, lagging in this busy process, dropped a few busy
        # connections (ReadError on requests the journal shows answered, all of one pool's at one instant)
        polling = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        pools = [httpx.AsyncClient(timeout=30, limits=polling) for _ in range(3)]
        # the event streams' pool (logins, then long streams)
        pools.append(httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200, max_keepalive_connections=200)))
        tasks: list[asyncio.Task[None]] = []
        ll_base = env["LUCKYLOBSTER_BASE_URL"]
        for i, key in enumerate(creds["luckylobster"][: n["luckylobster"]]):
            tasks.append(
                asyncio.create_task(luckylobster(ll_base, key["key"], every=every, client=pools[i % 2], tally=t["luckylobster"], stop=stop))
            )
        for agent in creds["aitrader"][: n["aitrader"]]:
            tasks.append(
                asyncio.create_task(
                    aitrader(
                        urls["aitrader"], agent, every=every, client=pools[2], tally=t["aitrader"], socket_tally=t["aitrader-ws"], stop=stop
                    )
                )
            )
        tr_keys = creds["tradeready"]
        symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        for i in range(n["tradeready"]):
            url = env["TRADEREADY_WS_URL"] + f"/ws/v1?api_key={tr_keys[i % len(tr_keys)]['key']}"
            channels = [f"ticker:{symbols[i % 3]}", "orders"]
            tasks.append(asyncio.create_task(tradeready(url, channels=channels, tally=t["tradeready"], stop=stop)))
        cr_users = creds["cryptorobot"]
        for i in range(n["cryptorobot"]):
            tasks.append(
                asyncio.create_task(cryptorobot(urls["cryptorobot"], cr_users[i % len(cr_users)], tally=t["cryptorobot"], stop=stop))
            )
        for user in creds["tradingpartners"][: n["tradingpartners"]]:
            tasks.append(
                asyncio.create_task(tradingpartners(urls["tradingpartners"], user, client=pools[3], tally=t["tradingpartners"], stop=stop))
            )
        log(
            f"soak: {len(tasks)} clients started ({', '.join(f'{k} {v}' for k, v in n.items())}), {args.minutes:g} min at speed {args.speed:g}"
        )
        began = time.monotonic()
        ends = began + args.minutes * 60
        assert self.proc is not None
        next_report = began + 30
        while time.monotonic() < ends:
            await asyncio.sleep(min(5.0, max(0.0, ends - time.monotonic())))
            rss = rss_mb(self.proc.pid)
            if rss is not None:
                self.rss.append((time.monotonic() - began, rss))
            if self.proc.poll() is not None:
                log("soak: the server exited during the run")
                break
            if time.monotonic() >= next_report:
                next_report += 30
                got = {k: sum(v.received.values()) or sum(v.answers.values()) for k, v in t.items()}
                log(f"soak: {time.monotonic() - began:5.0f} s  RSS {rss or 0:6.1f} MiB  {got}")
        self.cpu = cpu_seconds(self.proc.pid), cpu_seconds(os.getpid()), time.monotonic() - began
        # the end: the clock stops (no more frames are made), what is in flight arrives, then the clients leave
        async with httpx.AsyncClient(timeout=30) as plain:
            await plain.post(f"{control}/_mock/clock", json={"speed": 0})
        await self.settle()
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=60)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                t["luckylobster"].error("client task failed", repr(task.exception()))
        for pool in pools:
            await pool.aclose()
        await asyncio.sleep(1.0)

    async def settle(self, quiet: float = 2.0, most: float = 60.0) -> None:
        """Wait until the clients' counts have not moved for ``quiet`` seconds (what was sent has arrived)."""

        def total() -> int:
            return sum(sum(t.received.values()) + sum(t.answers.values()) for t in self.tallies.values())

        last, still, waited = total(), 0.0, 0.0
        while still < quiet and waited < most:
            await asyncio.sleep(0.25)
            waited += 0.25
            now = total()
            still = still + 0.25 if now == last else 0.0
            last = now

    def stop_server(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def compare(sent: Sent, tallies: dict[str, Tally]) -> dict[str, Any]:
    """Per API: the clients' counts against the journal's, and what explains the differences."""
    report: dict[str, Any] = {}
    for api in ("luckylobster", "aitrader", "tradingpartners"):  # HTTP answers and failed requests
        tally = tallies[api]
        failures = sum(v for k, v in tally.failures.items() if not k.startswith("stream"))
        journal = sent.http.get(api, {})
        report[f"{api} http"] = {
            "clients": {"answers": sum(tally.answers.values()), "failed": failures},
            "journal": {"answered": journal.get("answered", 0), "failed": journal.get("failed", 0)},
            "unexplained": abs(sum(tally.answers.values()) - journal.get("answered", 0)) + abs(failures - journal.get("failed", 0)),
        }
        # each failed request as the journal saw it: failed too (a fault, a reset), answered, or never arrived
        seen = sent.by_rid.get(api, {})
        mismatched = [
            f"rid {rid} ({what}): "
            + (f"journal {seen[rid][0]} {seen[rid][1]} at seq {seen[rid][2]}" if rid in seen else "not in the journal")
            for rid, what in tally.failed_rids.items()
            if rid not in seen or seen[rid][0] not in FAILED
        ]
        if mismatched:
            report[f"{api} http"]["unexplained_examples"] = mismatched[:10]
    streams = {
        "aitrader-ws": ("aitrader", "aitrader notify socket"),
        "tradeready": ("tradeready", "tradeready"),
        "tradingpartners": ("tradingpartners", "tradingpartners stream"),
    }
    for name, (api, title) in streams.items():
        by_conn: dict[str, list[str]] = defaultdict(list)
        for session, owner in sent.api.items():
            if owner == api:
                by_conn[sent.conn.get(session, "?")].append(session)
        received = tallies[name].received
        groups = {}
        for conn in set(by_conn) | set(received):
            sessions = by_conn.get(conn, [])
            why: set[str] = set().union(*(sent.why.get(s, set()) for s in sessions))
            groups[conn] = (received.get(conn, 0), sum(sent.out.get(s, 0) for s in sessions), why)
        report[title] = _groups(groups)
    tally = tallies["cryptorobot"]
    keys = set(tally.received) | set(sent.sio_events)
    report["cryptorobot"] = _groups(
        {sid: (tally.received.get(sid, 0), sent.sio_events.get(sid, 0), sent.why.get(sent.sio_session.get(sid, ""), set())) for sid in keys}
    )
    return report


def _groups(groups: dict[str, tuple[int, int, set[str]]]) -> dict[str, Any]:
    clients = sum(c for c, _j, _w in groups.values())
    journal = sum(j for _c, j, _w in groups.values())
    explained: dict[str, int] = defaultdict(int)
    unexplained = []
    differing = 0
    for key, (c, j, why) in groups.items():
        if c == j:
            continue
        differing += 1
        if why:
            for reason in why:
                explained[reason] += 1
        else:
            unexplained.append(f"{key}: client {c}, journal {j}")
    return {
        "connections": len(groups),
        "clients": clients,
        "journal": journal,
        "differing": differing,
        "explained_by": dict(explained),
        "unexplained": len(unexplained),
        "unexplained_examples": unexplained[:10],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "10")), help="real minutes (SOAK_MINUTES, 10)"
    )
    parser.add_argument("--clients", type=int, default=1000, help="clients over the five APIs (1000)")
    parser.add_argument("--speed", type=float, default=30.0, help="virtual seconds per real second (30)")
    parser.add_argument("--warmup", type=float, default=0.3, help="share of the run before the first RSS figure (0.3)")
    parser.add_argument(
        "--journal-limit",
        type=int,
        default=50_000,
        help="journal entries the server keeps in memory (its default, 50000); short runs: less",
    )
    parser.add_argument("--server", default=f"{sys.executable} -m mockserver", help="the mockserver command (default: this Python's)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "soak.json")
    parser.add_argument("--keep", action="store_true", help="keep the journal file and the server's stderr (printed at the end)")
    args = parser.parse_args()
    raise_open_file_limit(65536)
    work = Path(tempfile.mkdtemp(prefix="agentfeed-soak-"))
    soak = Soak(args, work)
    env = soak.start_server()
    try:
        run_with_loop(lambda: soak.run_clients(env), "auto")
    finally:
        soak.stop_server()
    sent = read_journal(work / "journal.jsonl")
    report = compare(sent, soak.tallies)
    stderr = (work / "server.stderr").read_text(errors="replace")
    client_errors = [e for tally in soak.tallies.values() for e in tally.errors]
    errors = len(sent.errors) + len(client_errors) + stderr.count("Traceback")
    warm = next((rss for at, rss in soak.rss if at >= args.warmup * args.minutes * 60), None)
    end = soak.rss[-1][1] if soak.rss else None
    growth = (end - warm) / warm if warm and end else None
    unexplained = sum(part["unexplained"] for part in report.values())
    result = {
        "minutes": args.minutes,
        "clients": args.clients,
        "speed": args.speed,
        "virtual_hours": round((sent.last_vtime - (sent.first_vtime or 0)) / 3600, 2),
        "journal_entries": sent.entries,
        "cpu_share": {"server": round(soak.cpu[0] / soak.cpu[2], 2), "clients": round(soak.cpu[1] / soak.cpu[2], 2)},
        "errors": errors,
        "error_examples": (sent.errors + [f"{w}: {d}" for w, d in client_errors])[:20],
        "rss_mb": {
            "after_warmup": round(warm or 0, 1),
            "end": round(end or 0, 1),
            "growth": round(growth or 0, 4),
            "samples": soak.rss[::6],
        },
        "server_pauses": {"longest_s": round(sent.longest_pause, 2), "over_half_a_second": sent.pauses},
        "faults_applied": {f"{api} {kind}": count for (api, kind), count in sorted(sent.faults.items())},
        "reconnects": {name: tally.connects for name, tally in soak.tallies.items() if tally.connects},
        "client_failures": {name: dict(tally.failures) for name, tally in soak.tallies.items() if tally.failures},
        "apis": report,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=list))
    print(json.dumps({k: v for k, v in result.items() if k not in ("rss_mb",)}, indent=2, default=list))
    print(f"RSS after warm-up {warm or 0:.1f} MiB, at the end {end or 0:.1f} MiB: growth {100 * (growth or 0):+.1f} % (under 10 %)")
    print(
        f"errors {errors} (must be 0); unexplained differences {unexplained} (must be 0); {sent.entries:,} journal entries over {result['virtual_hours']} virtual hours"
    )
    if args.keep:
        print(f"kept: {work}")
    else:
        for name in ("journal.jsonl", "soak.yaml", "mock.env", "server.stderr"):
            (work / name).unlink(missing_ok=True)
    # the server's journal spilled to TMPDIR=work/spill: nothing of it may be left there
    leftovers = list((work / "spill").iterdir())
    for leftover in leftovers:
        print(f"a spill file outlived the server: {leftover}")
    if not args.keep and not leftovers:
        (work / "spill").rmdir()
        work.rmdir()
    ok = errors == 0 and unexplained == 0 and growth is not None and growth < 0.10 and not leftovers
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
