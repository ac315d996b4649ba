"""Heartbeat throughput: the mock (journal on) against a bare Starlette endpoint (DECISIONS D8).

Starts both servers, loads each with ``wrk`` in the same run (warm-up, then
alternating rounds), and prints the medians and the ratio mock/bare. The goal
is a ratio >= 0.5. A benchmark is not a test: the exit code is 0 even below the
goal (2: wrk missing; 1: a server would not start or a run failed).

    .venv/bin/python bench/run.py                 # 3 rounds of 5 s each
    .venv/bin/python bench/run.py --duration 3
    .venv/bin/python bench/run.py --only-bare --size 480
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
SCENARIO = HERE / "heartbeat_scenario.yaml"
BARE = HERE / "bare_heartbeat.py"
HEARTBEAT_PATH = "/api/agent/v1/heartbeat"
BENCH_KEY = "ll_benchbenchbenchbenchbenchbench"
AUTH_HEADER = f"Authorization: Bearer {BENCH_KEY}"
GOAL = 0.8  # issue 17 (wave one's goal was 0.5)
#: p99 at most this many times p50 (the mock's median round)
P99_GOAL = 3.0
#: RSS growth allowed from the end of the warm-up (the journal's in-memory part full by then) to the end, MB
RSS_GOAL_MB = 10.0
HTTP_OK = 200
MIN_CPUS_TO_PIN = 2
HOST = "127.0.0.1"
INSTALL_HINT = "wrk is not on PATH. Install it:\n  Debian/Ubuntu: sudo apt-get install -y wrk\n  macOS:         brew install wrk"


# -- small helpers ---------------------------------------------------------------------
def free_port() -> int:
    """A port nobody listens on right now (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def pin(cpu: int | None, command: Sequence[str]) -> list[str]:
    """Prefix ``command`` with ``taskset -c cpu`` when pinning is on and taskset exists."""
    if cpu is None:
        return list(command)
    return ["taskset", "-c", str(cpu), *command]


# -- servers -------------------------------------------------------------------------------
class Server:
    """A server subprocess with its output in a log file; stopped with SIGINT, then killed after 5 s."""

    def __init__(self, name: str, command: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        # taskset execs the command, so the pid is the server's own and SIGINT reaches it.
        self.process = subprocess.Popen(self.command, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode} before it was ready:\n{self.log_tail()}")
            try:
                status, _ = http_get(url, headers, timeout=1.0)
                if status == HTTP_OK:
                    return
                last = f"HTTP {status}"
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s ({url}: {last}):\n{self.log_tail()}")

    def rss_mb(self) -> float | None:
        """The server's resident memory now (``/proc``), MB; None when it is gone or there is no ``/proc``."""
        if self.process is None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def log_tail(self, lines: int = 30) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    def stop(self) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode


# -- wrk -------------------------------------------------------------------------------------
@dataclass
class WrkResult:
    target: str
    round: int
    requests: int
    seconds: float
    rps: float
    non_2xx: int
    socket_errors: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_RE_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_RE_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.MULTILINE)
_RE_NON2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", re.MULTILINE)
_RE_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_RE_PCT = re.compile(r"^\s+(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)


def parse_wrk(output: str, target: str, round_no: int) -> WrkResult:
    rps = _RE_RPS.search(output)
    total = _RE_TOTAL.search(output)
    if rps is None or total is None:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    non_2xx = _RE_NON2XX.search(output)
    sockets = _RE_SOCKET.search(output)
    counts = map(int, sockets.groups()) if sockets else (0, 0, 0, 0)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"), counts, strict=True))
    latency = {f"p{pct}": round(float(value) * _UNIT_MS[unit], 3) for pct, value, unit in _RE_PCT.findall(output)}
    return WrkResult(
        target=target,
        round=round_no,
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNIT_MS[total.group(3)] / 1000.0,
        rps=float(rps.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
        latency_ms=latency,
    )


def run_wrk(url: str, *, seconds: int, threads: int, connections: int, cpu: int | None) -> str:
    command = pin(cpu, ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", AUTH_HEADER, url])
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


# -- the run ---------------------------------------------------------------------------------
def api_names(python: str) -> list[str]:
    """The APIs the mock serves (so every port but LuckyLobster's can be set to 0)."""
    code = "from mockserver.apis.registry import API_NAMES; print(' '.join(API_NAMES))"
    done = subprocess.run([python, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return ["luckylobster"]
    return done.stdout.split()


def mock_command(python: str, ll_port: int, control_port: int, cpu: int | None, extra: Sequence[str] = ()) -> list[str]:
    command = [
        python,
        "-m",
        "mockserver",
        "serve",
        "--scenario",
        str(SCENARIO.relative_to(ROOT)),
        "--host",
        HOST,
        "--control-port",
        str(control_port),
        "--port",
        f"luckylobster={ll_port}",
    ]
    for name in api_names(python):
        if name != "luckylobster":
            command += ["--port", f"{name}=0"]
    return pin(cpu, [*command, *extra, "--quiet"])


def bare_command(python: str, port: int, body_file: Path | None, size: int, cpu: int | None) -> list[str]:
    source = ["--body-file", str(body_file)] if body_file is not None else ["--size", str(size)]
    return pin(cpu, [python, str(BARE), "--host", HOST, "--port", str(port), *source])


def median(results: list[WrkResult], target: str) -> float:
    return statistics.median(r.rps for r in results if r.target == target)


def journal_state(control_url: str) -> dict[str, Any] | None:
    """The ``journal`` block of ``GET /_mock/scenario`` (entries, in_memory, spilled, last_seq)."""
    try:
        status, body = http_get(f"{control_url}/scenario", timeout=30.0)
    except (OSError, urllib.error.URLError):
        return None
    if status != HTTP_OK:
        return None
    value = json.loads(body).get("journal")
    return value if isinstance(value, dict) else None


@dataclass
class Setup:
    """What the run needs to know about its servers."""

    servers: dict[str, Server] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    control_url: str = ""
    body_bytes: int = 0
    bare_body_bytes: int = 0


def start_mock(setup: Setup, python: str, cpu: int | None, extra: Sequence[str]) -> Path:
    """Start the mock, wait for its health, fetch one heartbeat; its body goes to a file for the bare server."""
    ll_port, control_port = free_port(), free_port()
    setup.control_url = f"http://{HOST}:{control_port}/_mock"
    mock = Server("mock", mock_command(python, ll_port, control_port, cpu, extra), RESULTS / "mock.log")
    setup.servers["mock"] = mock
    print(f"starting the mock: {' '.join(mock.command)}")
    mock.start()
    mock.wait_ready(f"{setup.control_url}/health")
    setup.urls["mock"] = f"http://{HOST}:{ll_port}{HEARTBEAT_PATH}"
    status, body = http_get(setup.urls["mock"], {"Authorization": f"Bearer {BENCH_KEY}"})
    if status != HTTP_OK:
        raise RuntimeError(f"the mock's heartbeat answered {status}, not 200: {body[:300]!r}")
    body_file = RESULTS / "heartbeat_body.json"
    body_file.write_bytes(body)
    setup.body_bytes = len(body)
    print(f"mock heartbeat: {len(body)} bytes; journal before the load: {journal_state(setup.control_url)}")
    return body_file


def start_bare(setup: Setup, python: str, cpu: int | None, body_file: Path | None, size: int) -> None:
    """Start the bare server with the mock's very bytes (or a padded body of ``size`` bytes)."""
    port = free_port()
    bare = Server("bare", bare_command(python, port, body_file, size, cpu), RESULTS / "bare.log")
    setup.servers["bare"] = bare
    print(f"starting the bare server: {' '.join(bare.command)}")
    bare.start()
    setup.urls["bare"] = f"http://{HOST}:{port}{HEARTBEAT_PATH}"
    bare.wait_ready(setup.urls["bare"])
    _, body = http_get(setup.urls["bare"])
    setup.bare_body_bytes = len(body)
    if body_file is None:
        setup.body_bytes = size


def measure(
    setup: Setup, targets: list[str], args: argparse.Namespace, cpu: int | None, memory: dict[str, float | None]
) -> list[WrkResult]:
    """Warm each target up, then alternate rounds (the order flips every round to even out drift); ``memory`` gets
    the mock's RSS before the load, after the warm-up and at the end."""
    urls, mock = setup.urls, setup.servers.get("mock")
    memory["idle"] = mock.rss_mb() if mock else None

    def load(target: str, seconds: int) -> str:
        return run_wrk(urls[target], seconds=seconds, threads=args.threads, connections=args.connections, cpu=cpu)

    for target in targets:
        print(f"warm-up {target}: {args.warmup} s")
        load(target, args.warmup)
    if mock is not None:  # warm until the journal spills: its in-memory part is then at its limit and stays there
        for _ in range(15):
            state = journal_state(setup.control_url)
            if state is None or state.get("spilled"):
                break
            load("mock", 1)
    memory["warm"] = mock.rss_mb() if mock else None
    results: list[WrkResult] = []
    for round_no in range(1, args.rounds + 1):
        for target in targets if round_no % 2 else list(reversed(targets)):
            result = parse_wrk(load(target, args.duration), target, round_no)
            results.append(result)
            print(f"round {round_no} {target:<4}: {result.rps:>9.0f} req/s, non-2xx {result.non_2xx}")
    memory["end"] = mock.rss_mb() if mock else None
    return results


def print_table(results: list[WrkResult], targets: Sequence[str]) -> None:
    print()
    print(f"{'target':<6} {'round':>5} {'req/s':>10} {'requests':>9} {'non-2xx':>8} {'sock err':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for r in sorted(results, key=lambda r: (targets.index(r.target), r.round)):
        errors = sum(r.socket_errors.values())
        print(
            f"{r.target:<6} {r.round:>5} {r.rps:>10.0f} {r.requests:>9} {r.non_2xx:>8} {errors:>8} "
            f"{r.latency_ms.get('p50', float('nan')):>7.2f} {r.latency_ms.get('p99', float('nan')):>7.2f}"
        )


def summarize(
    report: dict[str, Any], results: list[WrkResult], targets: list[str], journal: dict[str, Any] | None, memory: dict[str, float | None]
) -> None:
    """Print the medians, the ratio and the verdict; add them to ``report``."""
    config = report["config"]
    bare_rps = median(results, "bare")
    print()
    sizes = (
        f"bare {report['bare_body_bytes']} B"
        if "mock" not in targets
        else f"mock {report['body_bytes']} B, bare {report['bare_body_bytes']} B"
    )
    print(
        f"body size: {sizes}; "
        f"wrk -t{config['threads']} -c{config['connections']} -d{config['duration_s']}s x {config['rounds']} rounds; "
        f"{'servers on CPU 0, wrk on CPU 1' if config['pinned'] else 'not pinned'}"
    )
    print(f"bare Starlette: median {bare_rps:>9.0f} req/s")
    if "mock" not in targets:
        return
    mock_rps = median(results, "mock")
    ratio = mock_rps / bare_rps if bare_rps else 0.0
    non_2xx = sum(r.non_2xx for r in results if r.target == "mock")
    mock_requests = sum(r.requests for r in results if r.target == "mock")
    met = ratio >= GOAL and non_2xx == 0
    mock_rounds = sorted((r for r in results if r.target == "mock"), key=lambda r: r.rps)
    middle = mock_rounds[len(mock_rounds) // 2]
    spread = middle.latency_ms.get("p99", float("nan")) / middle.latency_ms.get("p50", float("nan"))
    idle, warm, end = memory.get("idle"), memory.get("warm"), memory.get("end")
    growth = end - warm if end is not None and warm is not None else None
    report.update(ratio=round(ratio, 3), met=met, mock_non_2xx=non_2xx, journal=journal, p99_over_p50=round(spread, 2), rss_mb=memory)
    print(f"mock (journal): median {mock_rps:>9.0f} req/s")
    print(f"ratio mock/bare: {ratio:.3f}   goal >= {GOAL}")
    if journal is None:
        print("journal after the run: unknown (GET /_mock/scenario did not answer)")
    else:
        print(
            f"journal after the run: {journal.get('entries')} entries ({journal.get('in_memory')} in memory, "
            f"{journal.get('spilled')} spilled) for {mock_requests} measured requests (+ warm-up)"
        )
    print(f"mock p99/p50 (median round): {spread:.2f}   goal <= {P99_GOAL}: {'met' if spread <= P99_GOAL else 'BELOW GOAL'}")
    if growth is not None and idle is not None and end is not None:
        print(
            f"mock RSS: {idle:.1f} MB idle, {warm:.1f} MB after the warm-up, {end:.1f} MB after {mock_requests} more requests: "
            f"+{growth:.1f} MB   goal <= {RSS_GOAL_MB:.0f} MB: {'met' if growth <= RSS_GOAL_MB else 'BELOW GOAL'}"
        )
    if non_2xx:
        print(f"WARNING: the mock gave {non_2xx} non-2xx answers; the figures do not measure 200 answers")
    if met:
        print(f"MEETS GOAL: ratio {ratio:.3f} >= {GOAL}")
    else:
        print(f"BELOW GOAL: ratio {ratio:.3f} < {GOAL}" if ratio < GOAL else "BELOW GOAL: the mock gave non-2xx answers")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk round (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server, alternating (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per server (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--no-pin", action="store_true", help="don't pin servers to CPU 0 and wrk to CPU 1")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the servers (default: this one)")
    parser.add_argument("--mock-args", default="", help="extra arguments for 'mockserver serve', e.g. '--journal-limit 1000000'")
    parser.add_argument("--only-bare", action="store_true", help="benchmark the bare server alone (no mock, no ratio)")
    parser.add_argument("--size", type=int, default=480, help="body size for --only-bare (default 480)")
    parser.add_argument("--out", type=Path, default=RESULTS / "heartbeat.json", help="JSON results file")
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    pinned = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= MIN_CPUS_TO_PIN
    server_cpu, wrk_cpu = (0, 1) if pinned else (None, None)
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    targets = ["bare"] if args.only_bare else ["bare", "mock"]
    setup = Setup()
    journal: dict[str, Any] | None = None
    memory: dict[str, float | None] = {}
    try:
        body_file = None if args.only_bare else start_mock(setup, args.python, server_cpu, shlex.split(args.mock_args))
        start_bare(setup, args.python, server_cpu, body_file, args.size)
        results = measure(setup, targets, args, wrk_cpu, memory)
        if not args.only_bare:
            journal = journal_state(setup.control_url)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        exits = {name: server.stop() for name, server in reversed(setup.servers.items())}

    print_table(results, targets)
    report: dict[str, Any] = {
        "benchmark": "heartbeat",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "threads": args.threads,
            "connections": args.connections,
            "pinned": pinned,
            "server_cpu": server_cpu,
            "wrk_cpu": wrk_cpu,
            "cpus": os.cpu_count(),
            "python": args.python,
            "mock_args": args.mock_args,
        },
        "body_bytes": setup.body_bytes,
        "bare_body_bytes": setup.bare_body_bytes,
        "median_rps": {t: round(median(results, t), 1) for t in targets},
        "rounds": [asdict(r) for r in results],
        "server_exit_codes": exits,
        "goal": GOAL,
    }
    summarize(report, results, targets, journal, memory)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
