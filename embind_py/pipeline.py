"""The build: compile -> parse -> render -> write, for one target.

Owns: the order of the steps, which functions get exported (declared in the
user's headers *and* defined by the sources), the digest of the inputs, and
writing outputs atomically (a temporary file renamed into place, so a failed
build never leaves half a module).

May import: every embind_py module except the CLI.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import __version__, cparse, render, toolchain
from .config import Config
from .model import Diagnostic, Library


class BuildError(Exception):
    """The build failed for a reason in the user's input; `diagnostics` say where."""

    def __init__(self, message: str, diagnostics: tuple[Diagnostic, ...] = ()) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


@dataclass
class Result:
    name: str
    wasm: Path
    module: Path
    functions: tuple[str, ...]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    up_to_date: bool = False


Echo = Callable[[str], None]


def rel(path: Path, root: Path) -> str:
    """`path` relative to `root`, POSIX style (for output that must not depend on the machine)."""
    return Path(os.path.relpath(path, root)).as_posix()


def digest(cfg: Config, emcc_version: str) -> str:
    """One hash over every input file and every flag that shapes the output."""
    h = hashlib.sha256()
    h.update(f"embind-py {__version__}\0emcc {emcc_version}\0".encode())
    for label, paths in (("src", cfg.sources), ("hdr", cfg.headers)):
        for p in paths:
            h.update(f"{label} {rel(p, cfg.root)}\0".encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
    for flag in (*cfg.defines, f"-O{cfg.opt}", *cfg.cflags, cfg.name):
        h.update(f"flag {flag}\0".encode())
    for d in cfg.include_dirs:
        h.update(f"inc {rel(d, cfg.root)}\0".encode())
    return "sha256:" + h.hexdigest()


def parse(cfg: Config, emcc: toolchain.Emcc, echo: Echo | None = None) -> Library:
    """Preprocess and parse the headers into the model (diagnostics inside)."""
    if not cfg.headers:
        return Library()
    pre = toolchain.preprocess(emcc, cfg.headers, cfg.include_dirs, cfg.defines, echo)
    macros = toolchain.dump_macros(emcc, cfg.headers, cfg.include_dirs, cfg.defines, echo)
    return cparse.parse_library(pre, macros, list(cfg.headers), cfg.root)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def build(cfg: Config, echo: Echo | None = None) -> Result:
    """Compile `cfg.sources` to NAME.wasm and generate NAME.py next to it."""
    cmd_echo = echo if cfg.verbose else None
    emcc = toolchain.find_emcc(cfg.emcc)
    lib = parse(cfg, emcc, cmd_echo)
    errors = tuple(d for d in lib.diagnostics if d.severity == "error")
    if errors:
        raise BuildError(f"cannot parse the headers of {cfg.name}", errors)
    diagnostics = [d for d in lib.diagnostics if d.severity == "warning"]

    defined = toolchain.defined_symbols(
        emcc, cfg.sources, cfg.include_dirs, cfg.defines, cfg.cflags, cmd_echo
    )
    kept = []
    for f in lib.functions:
        if f.name in defined:
            kept.append(f)
        else:
            diagnostics.append(
                Diagnostic(f.file, f.line, f"{f.name}() is declared but no source defines it; left out", "warning")
            )
    has_main = "main" in defined or "__main_argc_argv" in defined
    lib = replace(lib, functions=tuple(kept), has_main=has_main)

    inputs = [rel(p, cfg.root) for p in (*cfg.sources, *cfg.headers)]
    dig = digest(cfg, emcc.version_str)
    rendered = render.render_module(cfg.name, lib, inputs, f"{dig} emcc={emcc.version_str}")
    diagnostics.extend(rendered.diagnostics)

    wasm_path = cfg.out / f"{cfg.name}.wasm"
    py_path = cfg.out / f"{cfg.name}.py"
    cfg.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="embind-py-") as tmp:
        tmp_wasm = Path(tmp) / f"{cfg.name}.wasm"
        toolchain.compile_wasm(
            emcc,
            cfg.sources,
            tmp_wasm,
            rendered.functions,
            cfg.include_dirs,
            cfg.defines,
            cfg.opt,
            cfg.cflags,
            has_main,
            cmd_echo,
        )
        write_atomic(wasm_path, tmp_wasm.read_bytes())
    write_atomic(py_path, rendered.text.encode("utf-8"))
    return Result(cfg.name, wasm_path, py_path, rendered.functions, diagnostics)
