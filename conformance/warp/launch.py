"""The argv and environment to spawn a client with under a warp, and the cleanup after it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from conformance.warp.elf import Program, resolve_program
from conformance.warp.model import Warp, WarpError
from conformance.warp.toolchain import Toolchain, ensure_toolchain

__all__ = ["SHM_DIR", "Launch", "prepare", "shm_files"]

SHM_DIR: Final = Path("/dev/shm")
_REFUSED: Final = "LD_PRELOAD, which libfaketime works through, cannot reach it"
_INSTEAD: Final = "run it with --warp none and have it scale its own timers by MOCK_SPEED"


@dataclass(frozen=True)
class Launch:
    """Spawn ``argv`` with ``env`` (exactly these, no shell in between), then call ``cleanup(pid)`` once it has exited."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    warp: Warp
    program: Program | None  # what argv runs, as inspected (faketime only)

    def cleanup(self, pid: int) -> tuple[Path, ...]:
        """Remove the ``/dev/shm`` files libfaketime made for the client ``pid`` (left behind when it is
        killed, or when it exec'd another program); returns those removed. Other processes' files stay.
        """
        if self.warp.mode != "faketime":
            return ()
        removed = []
        for path in shm_files(pid):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
        return tuple(removed)


def shm_files(pid: int, shm_dir: Path = SHM_DIR) -> tuple[Path, Path]:
    """libfaketime's shared clock of a process tree, named after the pid of its first process."""
    return (shm_dir / f"faketime_shm_{pid}", shm_dir / f"sem.faketime_sem_{pid}")


def prepare(
    warp: Warp,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    toolchain: Toolchain | None = None,
) -> Launch:
    """How to spawn the client ``argv`` (the runner's environment for it: ``env``; its working directory: ``cwd``).

    ``none``: argv and env unchanged. ``faketime``: the client is checked (LD_PRELOAD must reach the
    program it runs), libfaketime is found and the shim built if needed (``toolchain`` skips that),
    and env gains ``LD_PRELOAD`` and libfaketime's settings; inherited ``FAKETIME*`` variables are
    dropped so the run does not depend on the caller's. Raises WarpError with what to do instead.
    """
    if not argv:
        raise WarpError("no client command was given")
    if warp.mode == "none":
        return Launch(argv=tuple(argv), env=MappingProxyType(dict(env)), warp=warp, program=None)
    try:
        program = resolve_program(argv[0], env, cwd)
    except (FileNotFoundError, PermissionError) as exc:
        raise WarpError(str(exc)) from exc
    tools = toolchain if toolchain is not None else ensure_toolchain()
    _check_reachable(program, tools)
    warped = {key: value for key, value in env.items() if not key.startswith("FAKETIME")}
    inherited = [entry for entry in env.get("LD_PRELOAD", "").replace(" ", ":").split(":") if entry]
    warped.update(
        LD_PRELOAD=":".join([*tools.preload, *inherited]),
        FAKETIME=warp.faketime,
        FAKETIME_FMT="%s",  # epoch seconds: "@YYYY-MM-DD hh:mm:ss" would be read in the client's time zone
        FAKETIME_DONT_RESET="1",  # child processes keep the clock instead of starting again at the start instant
    )
    return Launch(argv=tuple(argv), env=MappingProxyType(warped), warp=warp, program=program)


def _check_reachable(program: Program, tools: Toolchain) -> None:
    elf = program.elf
    if elf is None:
        return  # not ELF: exec decides (binfmt_misc and the like); nothing we can tell from here
    if elf.static:
        raise WarpError(f"the client {program.describe()} is statically linked: {_REFUSED}, so its clock would not be warped; {_INSTEAD}")
    if program.setuid_other:
        raise WarpError(
            f"the client {program.describe()} is set-user-ID or set-group-ID for another user: the loader ignores LD_PRELOAD for it; {_INSTEAD}"
        )
    lib = tools.libfaketime_elf
    if (elf.bits, elf.machine) != (lib.bits, lib.machine):
        raise WarpError(
            f"the client {program.describe()} is {elf.machine_name} but {tools.libfaketime} is {lib.machine_name}: "
            f"the loader would skip it and the clock would not be warped; install libfaketime for {elf.machine_name}, "
            f"set AGENTFEED_LIBFAKETIME to it, or {_INSTEAD}"
        )
