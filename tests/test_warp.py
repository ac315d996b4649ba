"""conformance.warp end to end: real clients under libfaketime and the shim, watched from outside.

Each client prints its own (virtual) timestamps; the test measures real time around the process.
Bounds are generous on purpose: a wait must return, take at least virtual/speed real seconds (it
cannot be faster than the warp) and well under the unwarped duration; no tight timings.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conformance.warp import Launch, Toolchain, Warp, WarpError, build_shim, find_compiler, find_libfaketime, prepare, read_elf, shm_files

SPEED = 200.0
WAIT = 40.0  # virtual seconds each primitive waits: 0.2 s real at x200, 40 s unwarped
START = datetime(2026, 2, 6, 14, 30, tzinfo=UTC).timestamp()
PYTHON = str(Path(sys.executable).resolve())


@pytest.fixture(scope="module")
def toolchain(tmp_path_factory: pytest.TempPathFactory) -> Toolchain:
    """libfaketime from the system (`make warp-deps` installs it) and the shim built into a fresh cache."""
    library = find_libfaketime()
    info = read_elf(library)
    assert info is not None
    return Toolchain(shim=build_shim(find_compiler(), tmp_path_factory.mktemp("warp-cache")), libfaketime=library, libfaketime_elf=info)


@dataclass(frozen=True)
class Finished:
    marks: dict[str, float]  # event -> the client's time.time() (its virtual clock)
    real: float  # seconds from spawn to exit, measured here

    def value(self, event: str) -> float:
        return self.marks[event]


def run(launch: Launch, *, limit: float) -> Finished:
    """Spawn the warped client, wait at most ``limit`` real seconds, clean up, parse its JSON lines."""
    began = time.monotonic()
    proc = subprocess.Popen(launch.argv, env=dict(launch.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{shlex.join(launch.argv)} did not return within {limit} real seconds under the warp\n{out}\n{err}")
    finally:
        launch.cleanup(proc.pid)
    real = time.monotonic() - began
    assert proc.returncode == 0, err
    assert not any(path.exists() for path in shm_files(proc.pid)), "the run's /dev/shm files were left behind"
    records = [json.loads(line) for line in out.splitlines()]
    return Finished(marks={str(r["event"]): float(r["t"]) for r in records}, real=real)


def python_client(
    body: str, toolchain: Toolchain, *, speed: float = SPEED, start: float = START, env: Mapping[str, str] | None = None
) -> Launch:
    code = (
        "import json, sys, time\ndef mark(event, t=None):\n    print(json.dumps({'event': event, 't': time.time() if t is None else t}), flush=True)\n"
        + body
    )
    return prepare(Warp("faketime", start, speed), [PYTHON, "-c", code], dict(os.environ if env is None else env), toolchain=toolchain)


def assert_scaled(done: Finished, *, virtual: float, speed: float = SPEED) -> None:
    """The wait took ``virtual`` seconds of the client's clock, and real time consistent with the speed."""
    elapsed = done.value("after") - done.value("before")
    assert elapsed >= virtual - 0.01, f"returned after {elapsed:.2f} virtual s, before its {virtual} s timeout"
    assert elapsed <= done.real * speed + 1, f"{elapsed:.2f} virtual s in {done.real:.2f} real s is faster than x{speed}"
    assert done.real >= virtual / speed, "the client exited sooner than the warp allows"
    assert done.real < virtual / 4, f"took {done.real:.2f} real s: not scaled (unwarped: {virtual} s)"


PRIMITIVES = {
    "time.sleep": "time.sleep(V)",
    "asyncio.sleep": "import asyncio\nasyncio.run(asyncio.sleep(V))",
    "threading.Event.wait": "import threading\nassert not threading.Event().wait(V)",
    "queue.Queue.get": "import queue\ntry:\n    queue.Queue().get(timeout=V)\nexcept queue.Empty:\n    pass\nelse:\n    raise SystemExit('got an item')",
    "threading.Lock.acquire": "import threading\nlock = threading.Lock()\nlock.acquire()\nassert not lock.acquire(timeout=V)",
    "threading.Condition.wait": "import threading\ncond = threading.Condition()\nwith cond:\n    assert not cond.wait(V)",
}


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_a_python_wait_returns_after_its_virtual_timeout_in_scaled_real_time(primitive: str, toolchain: Toolchain) -> None:
    body = f"V = {WAIT}\nmark('before')\n{PRIMITIVES[primitive]}\nmark('after')\n"
    assert_scaled(run(python_client(body, toolchain), limit=WAIT / 4), virtual=WAIT)


# The waits of other runtimes, in C: glibc's semaphores and condition variables (C++'s
# std::condition_variable waits with pthread_cond_clockwait) and raw futex waits (Rust's std).
WAITS_C = r"""
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static void mark(const char *event) {
    struct timespec t; clock_gettime(CLOCK_REALTIME, &t);
    printf("{\"event\": \"%s\", \"t\": %.6f}\n", event, t.tv_sec + t.tv_nsec / 1e9); fflush(stdout);
}
static struct timespec in(clockid_t clock, int seconds) { struct timespec t; clock_gettime(clock, &t); t.tv_sec += seconds; return t; }
int main(int argc, char **argv) {
    const char *wait = argv[1]; int v = atoi(argv[2]), r = -1;
    sem_t sem; sem_init(&sem, 0, 0);
    pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER; pthread_mutex_lock(&mutex);
    pthread_condattr_t attr; pthread_condattr_init(&attr); pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_t cond; pthread_cond_init(&cond, &attr);
    uint32_t word = 0;
    mark("before");
    if (!strcmp(wait, "sem_timedwait")) { struct timespec d = in(CLOCK_REALTIME, v); r = sem_timedwait(&sem, &d); }
    if (!strcmp(wait, "sem_clockwait")) { struct timespec d = in(CLOCK_MONOTONIC, v); r = sem_clockwait(&sem, CLOCK_MONOTONIC, &d); }
    if (!strcmp(wait, "pthread_cond_timedwait")) { struct timespec d = in(CLOCK_MONOTONIC, v); do r = pthread_cond_timedwait(&cond, &mutex, &d); while (r == 0); }
    if (!strcmp(wait, "pthread_cond_clockwait")) { struct timespec d = in(CLOCK_MONOTONIC, v); do r = pthread_cond_clockwait(&cond, &mutex, CLOCK_MONOTONIC, &d); while (r == 0); }
    if (!strcmp(wait, "futex_wait_bitset")) { struct timespec d = in(CLOCK_MONOTONIC, v); r = syscall(SYS_futex, &word, FUTEX_WAIT_BITSET_PRIVATE, 0, &d, NULL, FUTEX_BITSET_MATCH_ANY); }
    if (!strcmp(wait, "futex_wait")) { struct timespec d = {v, 0}; r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &d, NULL, 0); }
    mark("after");
    return r == 0 ? 1 : 0;  /* each must time out, not be woken */
}
"""


@pytest.fixture(scope="module")
def waits_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("waits")
    (directory / "waits.c").write_text(WAITS_C)
    subprocess.run(["cc", "-O2", "-pthread", "-o", str(directory / "waits"), str(directory / "waits.c")], check=True)
    return directory / "waits"


@pytest.mark.parametrize(
    "wait", ["sem_timedwait", "sem_clockwait", "pthread_cond_timedwait", "pthread_cond_clockwait", "futex_wait_bitset", "futex_wait"]
)
def test_a_native_timed_wait_returns_after_its_virtual_timeout_in_scaled_real_time(
    wait: str, waits_binary: Path, toolchain: Toolchain
) -> None:
    launch = prepare(Warp("faketime", START, SPEED), [str(waits_binary), wait, str(int(WAIT))], dict(os.environ), toolchain=toolchain)
    assert_scaled(run(launch, limit=WAIT / 4), virtual=WAIT)


# A futex wake whose fourth argument is not a timeout: libstdc++'s __cxa_guard_release (a C++ static's
# guard) passes three arguments, so the fourth is whatever a register held. The shim must not read it
# as a timespec (it did: Node's background WebAssembly compilation, which fetch() starts, then crashed).
WAKE_C = r"""
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    uint32_t word = 0;
    long woken = syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, (void *)16, NULL, 0);
    return woken == 0 ? 0 : 1;
}
"""


def test_a_futex_wake_with_a_stray_fourth_argument_is_passed_through(tmp_path: Path, toolchain: Toolchain) -> None:
    (tmp_path / "wake.c").write_text(WAKE_C)
    subprocess.run(["cc", "-O2", "-o", str(tmp_path / "wake"), str(tmp_path / "wake.c")], check=True)
    launch = prepare(Warp("faketime", START, SPEED), [str(tmp_path / "wake")], dict(os.environ), toolchain=toolchain)
    proc = subprocess.Popen(launch.argv, env=dict(launch.env))
    try:
        code = proc.wait(30)
    finally:
        launch.cleanup(proc.pid)
    assert code == 0, f"exit {code} (-11: the shim read the stray argument as a timeout)"


def test_a_signalled_wait_returns_when_signalled_not_at_its_timeout(toolchain: Toolchain) -> None:
    body = (
        "import threading\nevent = threading.Event()\n"
        "threading.Thread(target=lambda: (time.sleep(20), event.set())).start()\n"
        "mark('before')\nassert event.wait(3600)\nmark('after')\n"
    )
    done = run(python_client(body, toolchain), limit=10)
    assert 20 - 0.01 <= done.value("after") - done.value("before") < 600


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
@pytest.mark.parametrize("start", [START, datetime(2026, 11, 1, 6, 30, tzinfo=UTC).timestamp() + 0.5], ids=["winter", "dst-fold"])
def test_the_client_clock_starts_at_the_requested_instant_in_any_time_zone(tz: str, start: float, toolchain: Toolchain) -> None:
    speed = 10.0
    done = run(python_client("mark('first')\n", toolchain, speed=speed, start=start, env={**os.environ, "TZ": tz}), limit=20)
    first = done.value("first")
    assert start <= first <= start + done.real * speed + 1, f"started at {first - start:+.2f} s from the instant asked"


def test_a_child_of_the_client_keeps_the_clock(toolchain: Toolchain) -> None:
    grandchild = shlex.quote(f'{PYTHON} -c "import time; print(time.time())"')
    body = (
        f"import subprocess\ntime.sleep({WAIT})\nmark('before')\n"
        f"mark('after', float(subprocess.run(['sh', '-c', {grandchild}], capture_output=True, text=True, check=True).stdout))\n"
    )
    done = run(python_client(body, toolchain), limit=WAIT / 4)
    assert done.value("after") >= done.value("before") >= START + WAIT, "the child's clock started again at the start instant"
    assert done.value("after") <= START + done.real * SPEED + 1


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_timers_scale(toolchain: Toolchain) -> None:
    script = (
        "const mark = (event) => console.log(JSON.stringify({event, t: Date.now() / 1000}));"
        f"mark('before'); setTimeout(() => mark('after'), {WAIT * 1000});"
    )
    node = shutil.which("node")
    assert node is not None
    done = run(prepare(Warp("faketime", START, SPEED), [node, "-e", script], dict(os.environ), toolchain=toolchain), limit=WAIT / 4)
    assert_scaled(done, virtual=WAIT)


def test_a_killed_client_s_shm_files_and_only_those_are_removed(toolchain: Toolchain) -> None:
    launch = python_client("mark('ready')\ntime.sleep(3600)\n", toolchain)
    decoy = shm_files(os.getpid())[0]  # stands for another run's clock: not ours to remove
    decoy.write_bytes(b"\0" * 8)
    proc = subprocess.Popen(launch.argv, env=dict(launch.env), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and "ready" in proc.stdout.readline()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        left = shm_files(proc.pid)
        assert all(path.exists() for path in left), "libfaketime made no shared clock for the client"
        assert set(launch.cleanup(proc.pid)) == set(left)
        assert not any(path.exists() for path in left)
        assert decoy.exists()
    finally:
        decoy.unlink()
        launch.cleanup(proc.pid)


def test_a_client_that_execs_another_program_leaves_files_that_cleanup_removes(toolchain: Toolchain) -> None:
    launch = prepare(Warp("faketime", START, SPEED), ["sh", "-c", f"exec {PYTHON} -c pass"], dict(os.environ), toolchain=toolchain)
    proc = subprocess.Popen(launch.argv, env=dict(launch.env))
    try:
        assert proc.wait(timeout=20) == 0
        # sh made the shared clock, then exec'd away: no process was left to remove it
        left = shm_files(proc.pid)
        assert all(path.exists() for path in left)
        assert set(launch.cleanup(proc.pid)) == set(left)
        assert not any(path.exists() for path in left)
    finally:
        launch.cleanup(proc.pid)


def test_static_client_is_refused_under_faketime(tmp_path: Path, toolchain: Toolchain) -> None:
    binary = static_binary(tmp_path)
    with pytest.raises(WarpError, match=r"statically linked.*LD_PRELOAD.*--warp none.*MOCK_SPEED"):
        prepare(Warp("faketime", START, SPEED), [str(binary)], dict(os.environ), toolchain=toolchain)
    script = tmp_path / "client.sh"
    script.write_text(f"#!/usr/bin/env {binary.name}\n")
    script.chmod(0o755)
    with pytest.raises(WarpError, match=rf"client.sh -> .*{binary.name} is statically linked"):
        prepare(Warp("faketime", START, SPEED), [str(script)], {"PATH": f"{tmp_path}:/usr/bin:/bin"}, toolchain=toolchain)
    unwarped = prepare(Warp("none", START, SPEED), [str(binary)], {"PATH": "/usr/bin"})
    assert unwarped.argv == (str(binary),) and dict(unwarped.env) == {"PATH": "/usr/bin"}


def static_binary(directory: Path) -> Path:
    source = directory / "static.c"
    source.write_text("int main(void) { return 0; }\n")
    binary = directory / "static-client"
    built = subprocess.run(["cc", "-static", "-o", str(binary), str(source)], capture_output=True, text=True, check=False)
    if built.returncode != 0:
        pytest.skip(f"cannot link statically here (libc's static archive missing?): {built.stderr.strip()[-300:]}")
    return binary
