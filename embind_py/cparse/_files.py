"""Which file each declaration came from, and how file names are shown.

Owns: reading the preprocessor's line markers (`# 12 "path" 1 3`) to tell user
files from system headers, and turning paths into stable root-relative names.

May import: the standard library only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

_MARKER = re.compile(r'^#\s*(?:line\s+)?(\d+)\s+"((?:[^"\\]|\\.)*)"([\s\d]*)$', re.MULTILINE)
_ESCAPE = re.compile(rb"\\([0-7]{3}|.)", re.S)


def unescape(raw: str) -> str:
    """The path a line marker's quoted file name stands for.

    clang escapes `\\` and `"` with a backslash, a newline as `\\n`, and writes every byte
    outside printable ASCII as three octal digits (`é` in UTF-8 is `\\303\\251`).
    """

    def byte(m: re.Match[bytes]) -> bytes:
        esc = m[1]
        if esc == b"n":
            return b"\n"
        return bytes([int(esc, 8) & 0xFF]) if len(esc) == 3 else esc

    return os.fsdecode(_ESCAPE.sub(byte, os.fsencode(raw)))


class FileTable:
    """The files named by line markers, in order of first appearance.

    Keys are the raw (still escaped) names, as pycparser's `Coord.file` has them.
    """

    def __init__(self, preprocessed: str, user_files: Sequence[Path], root: Path) -> None:
        self._root = str(Path(root).resolve())
        self._system: set[str] = set()
        self._order: dict[str, int] = {}
        main: str | None = None
        for m in _MARKER.finditer(preprocessed):
            raw, flags = m[2], m[3].split()
            if main is None:
                main = raw  # the umbrella file emcc was given
            self._order.setdefault(raw, len(self._order))
            if "3" in flags:
                self._system.add(raw)
        self._main = main
        self._user_paths = {str(Path(p).resolve()) for p in user_files}

    def is_user(self, raw: str | None) -> bool:
        """True for the user's headers and the non-system files they include."""
        if raw is None or raw.startswith("<") or raw == self._main:
            return False
        if raw in self._system:
            return self.absolute(raw) in self._user_paths
        return True

    def absolute(self, raw: str) -> str:
        p = unescape(raw)
        return os.path.normpath(p if os.path.isabs(p) else os.path.join(os.getcwd(), p))

    def display(self, raw: str | None) -> str:
        """A POSIX path relative to the root (never absolute)."""
        if raw is None:
            return ""
        if raw.startswith("<"):
            return raw
        rel = os.path.relpath(self.absolute(raw), self._root)
        return Path(rel).as_posix()

    def rank(self, raw: str | None) -> int:
        """Position of the file in include order (for sorting)."""
        return self._order.get(raw or "", len(self._order))

    def user_files_in_order(self, user_files: Sequence[Path]) -> list[tuple[str, Path]]:
        """(raw name, path) of every user file, included ones first, in include order."""
        out: list[tuple[str, Path]] = []
        seen: set[str] = set()
        for raw in self._order:
            if self.is_user(raw):
                path = self.absolute(raw)
                if path not in seen:
                    seen.add(path)
                    out.append((raw, Path(path)))
        for p in user_files:
            path = str(Path(p).resolve())
            if path not in seen:
                seen.add(path)
                out.append((path, Path(path)))
        return out


def included_user_files(preprocessed: str, user_files: Sequence[Path], root: Path) -> list[Path]:
    """The user's files (`user_files` and the non-system files they include) that the line
    markers of `preprocessed` name, for the build's record of its inputs."""
    table = FileTable(preprocessed, user_files, root)
    return [path for _, path in table.user_files_in_order(user_files)]
