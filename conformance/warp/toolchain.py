"""What a warped client is preloaded with: libfaketime, found on the system, and our shim, built on first use.

The shim (``shim/agentfeed_timewarp.c``, shipped in the package) is compiled with the system C
compiler into a per-user cache, ``$XDG_CACHE_HOME/agentfeed-mock/timewarp/`` (else
``~/.cache/...``), under a name keyed by a hash of the source, the compiler and its flags. It is
built in a temporary file and renamed into place, so parallel runs never see a half-written file.
"""

from __future__ import annotations

import glob
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from conformance.warp.elf import ElfInfo, read_elf
from conformance.warp.model import WarpError

__all__ = [
    "LIBFAKETIME_ENV",
    "LIBFAKETIME_SEARCH",
    "Toolchain",
    "build_shim",
    "ensure_toolchain",
    "find_compiler",
    "find_libfaketime",
    "shim_cache_dir",
]

LIBFAKETIME_ENV: Final = "AGENTFEED_LIBFAKETIME"
# The multi-threaded build: clients have threads (Node always does), and the single-threaded build
# re-parses its settings without a lock (see docs/timewarp.md for what each costs).
_LIBRARY: Final = "libfaketimeMT.so.1"


def _search_dirs() -> tuple[str, ...]:
    triplet = sysconfig.get_config_var("MULTIARCH") or f"{platform.machine()}-linux-gnu"
    return (
        f"/usr/lib/{triplet}/faketime",  # Debian and Ubuntu
        "/usr/lib64/faketime",  # Fedora, openSUSE
        "/usr/lib/faketime",  # Arch, Alpine, upstream's "make install PREFIX=/usr"
        "/usr/local/lib/faketime",  # upstream's "make install"
        *sorted(glob.glob("/usr/lib/*-linux-gnu*/faketime")),
    )


LIBFAKETIME_SEARCH: Final[tuple[str, ...]] = _search_dirs()
_INSTALL_LIBFAKETIME: Final = "apt-get install libfaketime (or `make warp-deps`)"
_INSTALL_COMPILER: Final = "apt-get install gcc (or set CC to a C compiler)"
_SHIM_SOURCE: Final = ("shim", "agentfeed_timewarp.c")
_CFLAGS: Final = ("-shared", "-fPIC", "-O2", "-Wall", "-pthread")
_LDLIBS: Final = ("-ldl",)


@dataclass(frozen=True)
class Toolchain:
    """The two libraries a warped client preloads, shim first."""

    shim: Path
    libfaketime: Path
    libfaketime_elf: ElfInfo

    @property
    def preload(self) -> tuple[str, str]:
        return (str(self.shim), str(self.libfaketime))


def find_libfaketime(environ: Mapping[str, str] = os.environ, search: Sequence[str] = LIBFAKETIME_SEARCH) -> Path:
    """``$AGENTFEED_LIBFAKETIME`` (a file), else libfaketimeMT.so.1 (or libfaketime.so.1) in the usual places."""
    override = environ.get(LIBFAKETIME_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise WarpError(
                f"{LIBFAKETIME_ENV}={override} is not a file: point it at libfaketimeMT.so.1, or unset it and {_INSTALL_LIBFAKETIME}"
            )
        return path
    for name in (_LIBRARY, "libfaketime.so.1"):
        for directory in search:
            path = Path(directory) / name
            if path.is_file():
                return path
    raise WarpError(
        "--warp faketime needs libfaketime, which is not installed: "
        f"{_INSTALL_LIBFAKETIME}; or set {LIBFAKETIME_ENV} to its path "
        f"(looked in {', '.join(dict.fromkeys(search)) or 'no directory'})"
    )


def find_compiler(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """``$CC`` (split like a shell would), else cc, gcc or clang on ``PATH``."""
    path_var = environ.get("PATH", os.defpath)
    if environ.get("CC"):
        command = tuple(shlex.split(environ["CC"]))
        if command and shutil.which(command[0], path=path_var):
            return command
        raise WarpError(f"CC={environ['CC']} is not a command: the time-warp shim needs a C compiler; {_INSTALL_COMPILER}")
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name, path=path_var)
        if found:
            return (found,)
    raise WarpError(f"--warp faketime builds a small shim on first use and needs a C compiler, which is not on PATH: {_INSTALL_COMPILER}")


def shim_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    root = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(root) / "agentfeed-mock" / "timewarp"


def build_shim(compiler: Sequence[str], cache_dir: Path) -> Path:
    """The compiled shim in ``cache_dir``, built now unless a build of the same source and compiler is there."""
    source = resources.files("conformance.warp").joinpath(*_SHIM_SOURCE).read_bytes()
    version = _run([*compiler, "--version"], what="asking the C compiler its version").stdout
    key = hashlib.sha256(b"\0".join([source, version, " ".join([*compiler, *_CFLAGS, *_LDLIBS]).encode(), platform.machine().encode()]))
    target = cache_dir / f"agentfeed_timewarp-{key.hexdigest()[:16]}.so"
    if target.is_file():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=cache_dir, prefix=".building-", suffix=".so")
    except OSError as exc:
        raise WarpError(f"cannot write the time-warp shim's cache {cache_dir}: {exc} (set XDG_CACHE_HOME to a writable directory)") from exc
    os.close(fd)
    try:
        _run([*compiler, *_CFLAGS, "-o", temporary, "-x", "c", "-", *_LDLIBS], what="building the time-warp shim", stdin=source)
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)  # atomic: a parallel build of the same key writes the same bytes
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def ensure_toolchain(environ: Mapping[str, str] = os.environ) -> Toolchain:
    """libfaketime and the built shim, or a WarpError saying what to install. Cheap after the first call."""
    library = find_libfaketime(environ)
    compiler = find_compiler(environ)
    cache_dir = shim_cache_dir(environ)
    key = (str(library), compiler, str(cache_dir))
    cached = _READY.get(key)
    if cached is not None and cached.shim.is_file():
        return cached
    info = read_elf(library)
    if info is None:
        raise WarpError(f"{library} is not an ELF shared library: {_INSTALL_LIBFAKETIME}")
    toolchain = Toolchain(shim=build_shim(compiler, cache_dir), libfaketime=library, libfaketime_elf=info)
    _READY[key] = toolchain
    return toolchain


_READY: dict[tuple[str, tuple[str, ...], str], Toolchain] = {}


def _run(command: Sequence[str], *, what: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WarpError(f"{what} failed ({shlex.join(command)}): {exc}; {_INSTALL_COMPILER}") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise WarpError(f"{what} failed ({shlex.join(command)}, exit {done.returncode}): {detail}")
    return done
