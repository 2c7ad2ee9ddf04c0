"""Build configuration: one frozen `Config` per target.

Owns: what a build needs to know (sources, headers, name, output folder,
include dirs, defines, optimisation level, extra flags, emcc), its defaults,
and their validation into clear errors.

May import: the standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(Exception):
    """A bad option or config value; the message names it."""


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPT = re.compile(r"^(0|1|2|3|s|z|g)$")


@dataclass(frozen=True)
class Config:
    """One build target. Paths are absolute; `root` is what output paths are relative to."""

    sources: tuple[Path, ...]
    headers: tuple[Path, ...]
    name: str
    out: Path
    root: Path
    include_dirs: tuple[Path, ...] = ()
    defines: tuple[str, ...] = ()
    opt: str = "2"
    cflags: tuple[str, ...] = ()
    emcc: str | None = None
    verbose: bool = False
    extra: dict[str, str] = field(default_factory=dict, compare=False)


def make_config(
    sources: list[Path],
    headers: list[Path] | None = None,
    name: str | None = None,
    out: Path | None = None,
    include_dirs: list[Path] | None = None,
    defines: list[str] | None = None,
    opt: str = "2",
    cflags: list[str] | None = None,
    emcc: str | None = None,
    verbose: bool = False,
    root: Path | None = None,
) -> Config:
    """Apply the defaults and check every value; raise ConfigError naming the bad one."""
    if not sources:
        raise ConfigError("no C sources given: pass at least one SRC.c")
    srcs: list[Path] = []
    for s in sources:
        p = Path(s)
        if not p.exists():
            raise ConfigError(f"source {s}: no such file")
        if p.is_dir():
            raise ConfigError(f"source {s}: is a directory, not a C file")
        srcs.append(p.resolve())
    hdrs: list[Path] = []
    if headers:
        for h in headers:
            p = Path(h)
            if not p.is_file():
                raise ConfigError(f"header {h}: no such file")
            hdrs.append(p.resolve())
    else:
        for s in srcs:
            sib = s.with_suffix(".h")
            if sib.is_file():
                hdrs.append(sib)
    mod = name or srcs[0].stem
    if not _IDENT.match(mod) or mod in {"embind_py", "wasmtime"}:
        raise ConfigError(
            f"--name {mod!r}: the module name must be a Python identifier (letters, digits, _)"
        )
    o = (out or Path.cwd()).resolve()
    if o.exists() and not o.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    if opt.startswith("-O"):
        opt = opt[2:]
    elif opt.startswith("O"):
        opt = opt[1:]
    if not _OPT.match(opt):
        raise ConfigError(f"-O {opt!r}: expected one of 0, 1, 2, 3, s, z, g")
    incs: list[Path] = []
    for h in hdrs:
        if h.parent not in incs:
            incs.append(h.parent)
    for d in include_dirs or []:
        p = Path(d)
        if not p.is_dir():
            raise ConfigError(f"-I {d}: no such directory")
        if p.resolve() not in incs:
            incs.append(p.resolve())
    for d in defines or []:
        if not _IDENT.match(d.split("=", 1)[0]):
            raise ConfigError(f"-D {d!r}: expected MACRO or MACRO=VALUE")
    return Config(
        sources=tuple(srcs),
        headers=tuple(hdrs),
        name=mod,
        out=o,
        root=(root or Path.cwd()).resolve(),
        include_dirs=tuple(incs),
        defines=tuple(defines or ()),
        opt=opt,
        cflags=tuple(cflags or ()),
        emcc=emcc,
        verbose=verbose,
    )
