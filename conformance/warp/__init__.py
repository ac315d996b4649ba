"""Time warp: run a client (any language) on the mock's virtual clock, ``--warp faketime|none``.

``faketime`` preloads libfaketime, started at the mock's start instant and speed, plus a small
shim of ours (built on first use) for the timed waits libfaketime gets wrong, so a client that
sleeps 60 s sleeps 1 s at x60 and reads virtual timestamps. ``none`` leaves the client alone.

    warp = Warp.at(start, speed)                   # mode: faketime unless speed == 1
    launch = prepare(warp, argv, env, cwd=workdir)  # WarpError: say it, exit 2
    proc = subprocess.Popen(launch.argv, env=launch.env, cwd=workdir)
    ...
    launch.cleanup(proc.pid)                       # after the client has exited
"""

from conformance.warp.elf import ElfInfo, Program, read_elf, resolve_program
from conformance.warp.launch import SHM_DIR, Launch, prepare, shm_files
from conformance.warp.model import MODES, Warp, WarpError, WarpMode, default_mode
from conformance.warp.toolchain import (
    LIBFAKETIME_ENV,
    Toolchain,
    build_shim,
    ensure_toolchain,
    find_compiler,
    find_libfaketime,
    shim_cache_dir,
)

__all__ = [
    "LIBFAKETIME_ENV",
    "MODES",
    "SHM_DIR",
    "ElfInfo",
    "Launch",
    "Program",
    "Toolchain",
    "Warp",
    "WarpError",
    "WarpMode",
    "build_shim",
    "default_mode",
    "ensure_toolchain",
    "find_compiler",
    "find_libfaketime",
    "prepare",
    "read_elf",
    "resolve_program",
    "shim_cache_dir",
    "shm_files",
]
