"""conformance.warp without running clients: the warp's description, finding libfaketime and a
compiler, building the shim, reading ELF files and following #! lines, the environment it makes."""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from conformance.warp import (
    LIBFAKETIME_ENV,
    ElfInfo,
    Toolchain,
    Warp,
    WarpError,
    build_shim,
    default_mode,
    ensure_toolchain,
    find_compiler,
    find_libfaketime,
    prepare,
    read_elf,
    resolve_program,
)

PYTHON = Path(sys.executable).resolve()


def test_the_default_mode_is_faketime_unless_the_clock_runs_at_speed_1() -> None:
    assert default_mode(1) == "none"
    assert default_mode(60) == "faketime" and default_mode(0.5) == "faketime"
    assert Warp.at(0, 60).mode == "faketime" and Warp.at(0, 1).mode == "none" and Warp.at(0, 1, "faketime").mode == "faketime"


def test_a_warp_starts_from_an_aware_instant_and_writes_libfaketime_s_setting() -> None:
    warp = Warp.at(datetime(2026, 2, 6, 9, 30, tzinfo=timezone(timedelta(hours=-5))), 60)
    assert warp.start == datetime(2026, 2, 6, 14, 30, tzinfo=UTC).timestamp() == 1770388200
    assert warp.faketime == "@1770388200 x60"
    assert Warp("faketime", 1770388200.25, 0.5).faketime == "@1770388200.25 x0.5"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Warp.at(datetime(2026, 2, 6), 60), "no time zone"),
        (lambda: Warp("faketime", 0, 0), "speed 0"),
        (lambda: Warp("faketime", 0, float("nan")), "finite"),
        (lambda: Warp("sometimes", 0, 2), "unknown warp mode"),  # type: ignore[arg-type]
    ],
)
def test_a_warp_that_cannot_be_is_refused_with_the_reason(build: Callable[[], object], message: str) -> None:
    with pytest.raises(WarpError, match=message):
        build()


def test_libfaketime_is_found_in_the_system_and_an_override_wins(tmp_path: Path) -> None:
    found = find_libfaketime({})
    assert found.name in ("libfaketimeMT.so.1", "libfaketime.so.1") and read_elf(found) is not None
    assert find_libfaketime({LIBFAKETIME_ENV: str(found)}) == found


def test_missing_libfaketime_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(WarpError, match=r"apt-get install libfaketime"):
        find_libfaketime({}, search=[str(tmp_path)])
    with pytest.raises(WarpError, match=rf"{LIBFAKETIME_ENV}=.*nowhere.* is not a file.*apt-get install libfaketime"):
        find_libfaketime({LIBFAKETIME_ENV: str(tmp_path / "nowhere")})


def test_prepare_reports_missing_libfaketime_before_spawning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(LIBFAKETIME_ENV, str(tmp_path / "missing.so"))
    with pytest.raises(WarpError, match="apt-get install libfaketime"):
        prepare(Warp("faketime", 0, 60), [str(PYTHON)], dict(os.environ))


def test_missing_compiler_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(WarpError, match=r"C compiler.*apt-get install gcc"):
        find_compiler({"PATH": str(tmp_path)})
    with pytest.raises(WarpError, match=r"CC=no-such-cc is not a command.*apt-get install gcc"):
        find_compiler({"CC": "no-such-cc", "PATH": os.environ["PATH"]})
    assert find_compiler({"CC": "cc -O0", "PATH": os.environ["PATH"]}) == ("cc", "-O0")


def test_a_compiler_that_fails_is_reported_with_its_output(tmp_path: Path) -> None:
    with pytest.raises(WarpError, match="asking the C compiler its version failed"):
        build_shim(("false",), tmp_path)


def test_the_shim_is_built_once_into_the_cache_and_parallel_builds_do_not_race(tmp_path: Path) -> None:
    compiler = find_compiler()
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(build_shim(compiler, tmp_path))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 3
    shim = results[0]
    built = shim.stat().st_mtime_ns
    assert build_shim(compiler, tmp_path) == shim and shim.stat().st_mtime_ns == built
    assert sorted(p.name for p in tmp_path.iterdir()) == [shim.name], "a temporary build was left behind"
    elf, python = read_elf(shim), read_elf(PYTHON)
    assert elf is not None and python is not None and elf.machine == python.machine


def test_ensure_toolchain_builds_into_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    tools = ensure_toolchain()
    assert tools.shim.parent == tmp_path / "agentfeed-mock" / "timewarp" and tools.shim.is_file()
    assert tools.preload == (str(tools.shim), str(tools.libfaketime))


def test_elf_headers_tell_dynamic_programs_from_shared_libraries_and_text(tmp_path: Path) -> None:
    python = read_elf(PYTHON)
    assert python is not None and not python.static and python.interpreter and "ld-" in python.interpreter
    assert python.bits == 64 or python.bits == 32
    library = read_elf(find_libfaketime({}))
    assert library is not None and library.interpreter is None  # a library has no loader of its own
    text = tmp_path / "notes.txt"
    text.write_text("not a program\n")
    assert read_elf(text) is None


def script(directory: Path, name: str, shebang: str) -> Path:
    path = directory / name
    path.write_text(f"{shebang}\necho hi\n")
    path.chmod(0o755)
    return path


def test_a_script_is_followed_to_its_interpreter_including_through_env(tmp_path: Path) -> None:
    env = {"PATH": f"{PYTHON.parent}:/usr/bin:/bin"}
    direct = resolve_program(str(script(tmp_path, "a", f"#!{PYTHON} -u")), env)
    assert direct.chain == (tmp_path / "a", PYTHON) and direct.elf is not None and not direct.elf.static
    for shebang in (f"#!/usr/bin/env {PYTHON.name}", f"#! /usr/bin/env -S {PYTHON.name} -u", f"#!/usr/bin/env -u HOME X=1 {PYTHON.name}"):
        followed = resolve_program(str(script(tmp_path, "b", shebang)), env)
        assert followed.path == PYTHON, shebang
    script(tmp_path, "c", f"#!{tmp_path / 'a'}")
    nested = resolve_program("c", {"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert nested.chain == (tmp_path / "c", tmp_path / "a", PYTHON)


def test_a_relative_program_is_found_from_the_client_s_working_directory(tmp_path: Path) -> None:
    script(tmp_path, "client", "#!/bin/sh")
    program = resolve_program("./client", {"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert program.chain[0] == tmp_path / "client" and program.path == Path("/bin/sh")


@pytest.mark.parametrize(
    ("shebang", "message"),
    [("#!/no/such/interpreter", "interpreter /no/such/interpreter"), ("#!/usr/bin/env no-such-program-xyz", "not on the client's PATH")],
)
def test_a_missing_link_of_the_chain_is_named(tmp_path: Path, shebang: str, message: str) -> None:
    with pytest.raises(FileNotFoundError, match=message):
        resolve_program(str(script(tmp_path, "client", shebang)), {"PATH": "/usr/bin:/bin"})
    with pytest.raises(WarpError, match=message):
        prepare(Warp("faketime", 0, 60), [str(tmp_path / "client")], {"PATH": "/usr/bin:/bin"}, toolchain=_no_toolchain())


def test_a_missing_program_is_a_warp_error() -> None:
    with pytest.raises(WarpError, match="no-such-client-xyz"):
        prepare(Warp("faketime", 0, 60), ["no-such-client-xyz"], {"PATH": "/usr/bin"}, toolchain=_no_toolchain())
    with pytest.raises(WarpError, match="no client command"):
        prepare(Warp("none", 0, 1), [], {})


def test_the_environment_preloads_shim_then_libfaketime_and_drops_inherited_settings(tmp_path: Path) -> None:
    tools = _no_toolchain()
    inherited = {"PATH": "/usr/bin:/bin", "LD_PRELOAD": "/opt/theirs.so", "FAKETIME": "-1d", "FAKETIME_SHARED": "/x /y", "TZ": "Asia/Tokyo"}
    launch = prepare(Warp("faketime", 1770388200, 60), [str(PYTHON), "-c", "pass"], inherited, toolchain=tools)
    assert launch.argv == (str(PYTHON), "-c", "pass")
    assert dict(launch.env) == {
        "PATH": "/usr/bin:/bin",
        "TZ": "Asia/Tokyo",
        "LD_PRELOAD": f"{tools.shim}:{tools.libfaketime}:/opt/theirs.so",
        "FAKETIME": "@1770388200 x60",
        "FAKETIME_FMT": "%s",
        "FAKETIME_DONT_RESET": "1",
    }
    assert launch.program is not None and launch.program.path == PYTHON


def test_none_leaves_argv_and_environment_alone_and_needs_nothing_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(LIBFAKETIME_ENV, str(tmp_path / "missing.so"))
    monkeypatch.setenv("PATH", str(tmp_path))
    launch = prepare(Warp.at(0, 60, "none"), ["anything", "--flag"], {"A": "1"})
    assert launch.argv == ("anything", "--flag") and dict(launch.env) == {"A": "1"} and launch.program is None
    assert launch.cleanup(os.getpid()) == ()


def test_a_client_for_another_architecture_is_refused(tmp_path: Path) -> None:
    python = read_elf(PYTHON)
    assert python is not None
    foreign = ElfInfo(bits=32, machine=20 if python.machine != 20 else 3, interpreter=None)
    other = Toolchain(shim=Path("/x/shim.so"), libfaketime=Path("/x/libfaketimeMT.so.1"), libfaketime_elf=foreign)
    with pytest.raises(WarpError, match=re.escape(f"is {python.machine_name} but /x/libfaketimeMT.so.1 is {foreign.machine_name}")):
        prepare(Warp("faketime", 0, 60), [str(PYTHON)], {}, toolchain=other)


def _no_toolchain() -> Toolchain:
    """A toolchain that is never run: prepare() only names its files."""
    info = read_elf(PYTHON)
    assert info is not None
    return Toolchain(shim=Path("/cache/agentfeed_timewarp.so"), libfaketime=Path("/lib/libfaketimeMT.so.1"), libfaketime_elf=info)
