"""Which ELF program an argv really runs, and whether LD_PRELOAD can reach it.

``exec`` of a ``#!`` script runs its interpreter (``/usr/bin/env X`` runs ``X`` from ``PATH``), so
the program that matters is the end of that chain. LD_PRELOAD works through the dynamic loader:
an ELF without a ``PT_INTERP`` program header (statically linked, static-pie included) never sees
it, and neither does a set-user-ID program run by another user (secure-execution mode).
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["ElfInfo", "Program", "read_elf", "resolve_program"]

_PT_INTERP: Final = 3
_SHEBANG_MAX: Final = 256  # what Linux reads of a "#!" line (BINPRM_BUF_SIZE)
_MAX_SCRIPT_DEPTH: Final = 4  # Linux follows at most this many nested interpreters
_ENV_OPTIONS_WITH_VALUE: Final = frozenset({"-u", "--unset", "-C", "--chdir"})
_MACHINES: Final[dict[int, str]] = {
    3: "i386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    40: "arm",
    62: "x86-64",
    183: "aarch64",
    243: "riscv",
    258: "loongarch",
}


@dataclass(frozen=True)
class ElfInfo:
    """What the loader needs to know of an ELF file."""

    bits: int  # 32 or 64
    machine: int  # e_machine
    interpreter: str | None  # PT_INTERP (the dynamic loader); None: statically linked

    @property
    def static(self) -> bool:
        return self.interpreter is None

    @property
    def machine_name(self) -> str:
        return f"{_MACHINES.get(self.machine, f'machine {self.machine}')} ({self.bits}-bit)"


@dataclass(frozen=True)
class Program:
    """The program an argv runs: ``chain`` from argv[0] to the file exec'd last, and that file's ELF header."""

    chain: tuple[Path, ...]
    elf: ElfInfo | None  # None: not an ELF file (exec will say what it makes of it)
    setuid_other: bool  # set-user/group-ID for someone else: the loader ignores LD_PRELOAD

    @property
    def path(self) -> Path:
        return self.chain[-1]

    def describe(self) -> str:
        return " -> ".join(str(p) for p in self.chain)


def read_elf(path: Path) -> ElfInfo | None:
    """The ELF header and program headers of ``path``; None when it is not an ELF file."""
    with path.open("rb") as f:
        head = f.read(64)
        if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
            return None
        bits = 32 if head[4] == 1 else 64
        order = "<" if head[5] == 1 else ">"
        (machine,) = struct.unpack_from(order + "H", head, 18)
        if bits == 64:
            (phoff,) = struct.unpack_from(order + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
        else:
            (phoff,) = struct.unpack_from(order + "I", head, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
        for i in range(len(table) // phentsize if phentsize else 0):
            entry = table[i * phentsize : (i + 1) * phentsize]
            (p_type,) = struct.unpack_from(order + "I", entry, 0)
            if p_type != _PT_INTERP:
                continue
            if bits == 64:
                (offset,) = struct.unpack_from(order + "Q", entry, 8)
                (size,) = struct.unpack_from(order + "Q", entry, 32)
            else:
                (offset,) = struct.unpack_from(order + "I", entry, 4)
                (size,) = struct.unpack_from(order + "I", entry, 16)
            f.seek(offset)
            interpreter = f.read(min(size, 4096)).split(b"\0", 1)[0].decode("utf-8", "replace")
            return ElfInfo(bits=bits, machine=machine, interpreter=interpreter)
        return ElfInfo(bits=bits, machine=machine, interpreter=None)


def resolve_program(argv0: str, env: Mapping[str, str], cwd: str | os.PathLike[str] | None = None) -> Program:
    """Follow ``argv0`` as exec would: ``PATH`` of ``env`` (the client's), then any ``#!`` interpreters.

    Raises FileNotFoundError (message for the runner's user) when a link of the chain is missing.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    path_var = env.get("PATH", os.defpath)
    chain: list[Path] = []
    current = _locate(argv0, path_var, base)
    while True:
        chain.append(current)
        interpreter = _shebang(current)
        if interpreter is None:
            break
        if len(chain) > _MAX_SCRIPT_DEPTH:
            raise FileNotFoundError(f"too many nested #! interpreters: {' -> '.join(map(str, chain))}")
        current = _locate_interpreter(interpreter, current, path_var, base)
    info = read_elf(current)
    mode = current.stat()
    setuid_other = bool(mode.st_mode & stat.S_ISUID and mode.st_uid != os.geteuid()) or bool(
        mode.st_mode & stat.S_ISGID and mode.st_gid != os.getegid()
    )
    return Program(chain=tuple(chain), elf=info, setuid_other=setuid_other)


def _locate(name: str, path_var: str, base: Path) -> Path:
    if "/" in name:
        path = Path(name) if os.path.isabs(name) else base / name
        if not path.is_file():
            raise FileNotFoundError(f"the client program {name} does not exist (looked at {path})")
        return path
    found = shutil.which(name, path=path_var)
    if found is None:
        raise FileNotFoundError(f"the client program {name!r} is not on the client's PATH ({path_var})")
    return Path(found)


def _shebang(path: Path) -> tuple[str, str] | None:
    """``(interpreter, optional argument)`` of a ``#!`` line, as Linux splits it; None when there is none."""
    with path.open("rb") as f:
        head = f.read(_SHEBANG_MAX)
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if not line:
        return None
    interpreter, _, argument = line.replace("\t", " ").partition(" ")
    return interpreter, argument.strip()


def _locate_interpreter(interpreter: tuple[str, str], script: Path, path_var: str, base: Path) -> Path:
    program, argument = interpreter
    located = Path(program) if os.path.isabs(program) else base / program  # the kernel does not search PATH
    if not located.is_file():
        raise FileNotFoundError(f"the #! interpreter {program} of {script} does not exist")
    if located.name != "env":
        return located
    # /usr/bin/env [-S] [-i] [NAME=VALUE ...] PROGRAM: the program env runs is what matters
    words = argument.split()
    if words and words[0].startswith("-S"):
        words = ([words[0][2:]] if len(words[0]) > 2 else []) + words[1:]
    skip_value = False
    for word in words:
        if skip_value:
            skip_value = False
        elif word in _ENV_OPTIONS_WITH_VALUE:
            skip_value = True
        elif not word.startswith("-") and not ("=" in word and not word.startswith("/")):
            return _locate(word, path_var, base)
    raise FileNotFoundError(f"{script}: its #! line runs env without naming a program")
