"""Scenario files the control API may load by path: inside the built-in scenarios or a directory allowed at start.

``serve --scenario-dir DIR`` (repeatable) names the directories; ``POST /_mock/scenario {"path": ...}`` loads
a ``.yaml``/``.yml`` file from one of them: a relative path is looked up in each directory in turn, an absolute
one must lie inside one. Every check is made on the real path (symlinks resolved), before the file is known to
exist, and again on the file actually opened, so ``..`` and symlinks cannot reach outside, and a file outside
is refused the same way whether it exists or not. The file is read within the control API's body limit.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import ControlError, MockServerError
from ..scenario.loader import builtin_dir

__all__ = ["ScenarioDirs"]


class ScenarioDirs:
    """The directories scenario files may be loaded from by path (the built-in scenarios first)."""

    def __init__(self, dirs: Sequence[str | os.PathLike[str]] = (), *, max_bytes: int) -> None:
        roots = [builtin_dir().resolve()]
        for each in dirs:
            root = Path(each).expanduser()
            if not root.is_dir():
                raise MockServerError(f"--scenario-dir {os.fspath(each)}: not a directory")
            roots.append(root.resolve())
        self.roots = roots
        self.max_bytes = max_bytes

    def describe(self) -> list[str]:
        return [str(root) for root in self.roots]

    def _inside(self, path: Path) -> Path | None:
        return next((root for root in self.roots if path == root or path.is_relative_to(root)), None)

    def read(self, text: str) -> tuple[Path, str]:
        """The file ``text`` names, confined to the roots, and its content (UTF-8); ControlError otherwise."""
        if not isinstance(text, str) or not text.strip() or "\x00" in text:
            raise ControlError("'path' must be a non-empty file path")
        given = Path(text)
        if given.suffix not in (".yaml", ".yml"):
            raise ControlError(f"'path' must name a .yaml or .yml scenario file, got {text!r}")
        allowed = ", ".join(self.describe())
        candidates = [given.resolve()] if given.is_absolute() else [(root / given).resolve() for root in self.roots]
        confined = [path for path in candidates if self._inside(path) is not None]
        found = next((path for path in confined if path.is_file()), None)
        if found is None and len(confined) < len(candidates):  # somewhere it leads outside (.., a symlink, absolute)
            raise ControlError(
                f"{text!r} is outside the scenario directories this server allows ({allowed}); "
                "a server allows more with --scenario-dir DIR",
                status=403,
            )
        if found is None:
            raise ControlError(f"no scenario file {text!r} in the allowed directories ({allowed})", status=404)
        return found, self._open(found, text)

    def _open(self, path: Path, text: str) -> str:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise ControlError(f"cannot read {text!r}: {exc.strerror or exc}", status=404) from None
        try:
            opened = Path(os.path.realpath(f"/proc/self/fd/{fd}")) if os.path.exists(f"/proc/self/fd/{fd}") else path
            info = os.fstat(fd)
            if self._inside(opened) is None:  # the path changed under us between the check and the open
                raise ControlError(f"{text!r} is outside the scenario directories this server allows", status=403)
            if not stat.S_ISREG(info.st_mode):
                raise ControlError(f"{text!r} is not a regular file")
            if info.st_size > self.max_bytes:
                raise ControlError(f"{text!r} is {info.st_size} bytes, over the control API's limit of {self.max_bytes}", status=413)
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read(self.max_bytes + 1)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
        if len(raw) > self.max_bytes:
            raise ControlError(f"{text!r} is over the control API's limit of {self.max_bytes} bytes", status=413)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ControlError(f"{text!r} is not UTF-8 text") from None
