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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import __version__, cparse, render, toolchain, typemap, wasmcheck
from .config import Config, ConfigError
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
    js: Path | None = None  # NAME.js (with NAME.js.wasm) when built with --js


Echo = Callable[[str], None]


def rel(path: Path, root: Path) -> str:
    """`path` relative to `root`, POSIX style (for output that must not depend on the machine)."""
    return Path(os.path.relpath(path, root)).as_posix()


def parse(cfg: Config, emcc: toolchain.Emcc, echo: Echo | None = None) -> Library:
    """Preprocess and parse the headers into the model (diagnostics inside).

    With no header (none given, no sibling `.h`), the sources themselves are read: their
    non-static function definitions are the API. Should a source use C the header parser
    cannot read, that is one warning asking for a header, and nothing is bound.
    """
    if cfg.headers:
        return _parse_files(cfg, emcc, cfg.headers, echo)
    lib = _parse_files(cfg, emcc, cfg.sources, echo)
    errors = [d for d in lib.diagnostics if d.severity == "error"]
    if not errors:
        return lib
    first = errors[0]
    names = ", ".join(p.name for p in cfg.sources)
    msg = (
        f"no header given for {names}, and the header parser cannot read its function "
        f"definitions ({first.message}): no functions are bound; pass --header/-H with their "
        "declarations"
    )
    return Library(diagnostics=(Diagnostic(first.file, first.line, msg, "warning"),))


def _parse_files(
    cfg: Config, emcc: toolchain.Emcc, files: Sequence[Path], echo: Echo | None
) -> Library:
    pre = toolchain.preprocess(emcc, files, cfg.include_dirs, cfg.defines, echo)
    macros = toolchain.dump_macros(emcc, files, cfg.include_dirs, cfg.defines, echo)
    lib = cparse.parse_library(pre, macros, list(files), cfg.root)
    if any(d.severity == "error" for d in lib.diagnostics):
        return lib
    checks = cparse.layout_checks(lib)
    bad = toolchain.layout_mismatches(emcc, files, checks, cfg.include_dirs, cfg.defines, echo)
    if bad:  # clang lays some records out otherwise: bind those as opaque handles
        lib = cparse.parse_library(pre, macros, list(files), cfg.root, bad)
    return lib


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


def build(cfg: Config, echo: Echo | None = None, force: bool = False, js: bool = False) -> Result:
    """Compile `cfg.sources` to NAME.wasm and generate NAME.py next to it.

    Does nothing (`Result.up_to_date`) when NAME.py's recorded inputs, options and
    emcc version all match and NAME.wasm exists, unless `force`. With `js`, also
    builds NAME.js + NAME.js.wasm (Emscripten's JS glue, for Node.js or the web).
    """
    cmd_echo = echo if cfg.verbose else None
    if not force:
        version = toolchain.quick_version(cfg.emcc) or toolchain.find_emcc(cfg.emcc).version_str
        if not stale_reasons(cfg, version) and not (js and _js_stale(cfg)):
            return Result(
                cfg.name, cfg.out / f"{cfg.name}.wasm", cfg.out / f"{cfg.name}.py", (), up_to_date=True
            )
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
                Diagnostic(
                    f.file, f.line, f"{f.name}() is declared but no source defines it; left out", "warning"
                )
            )
    has_main = "main" in defined or "__main_argc_argv" in defined
    lib = replace(lib, functions=tuple(kept), has_main=has_main)

    inputs = [rel(p, cfg.root) for p in (*cfg.sources, *cfg.headers)]
    dig, files = stamp(cfg, emcc, cmd_echo)
    rendered = render.render_module(cfg.name, lib, inputs, dig, files)

    wasm_path = cfg.out / f"{cfg.name}.wasm"
    py_path = cfg.out / f"{cfg.name}.py"
    for target in (wasm_path, py_path):  # checked before writing either, so no half-written pair
        if target.is_dir():
            raise ConfigError(f"cannot write {target}: it is a directory")
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
        wasm_bytes = tmp_wasm.read_bytes()
        # A header can disagree with the definition the compiler saw (an unprototyped `f()`,
        # a source that does not include its header): such a function would make the module
        # fail to load, so it is left out instead. Extra wasm exports are harmless.
        dropped = _signature_mismatches(lib, wasm_bytes, diagnostics)
        if dropped:
            lib = replace(lib, functions=tuple(f for f in lib.functions if f.name not in dropped))
        write_atomic(wasm_path, wasm_bytes)
    rendered = render.render_module(cfg.name, lib, inputs, dig, files, wasm_digest(wasm_bytes))
    diagnostics.extend(rendered.diagnostics)
    js_path = None
    if js:
        js_path = cfg.out / f"{cfg.name}.js"
        toolchain.compile_js(
            emcc,
            cfg.sources,
            js_path,
            rendered.functions,
            cfg.include_dirs,
            cfg.defines,
            cfg.opt,
            cfg.cflags,
            has_main,
            cmd_echo,
        )
    write_atomic(py_path, rendered.text.encode("utf-8"))
    return Result(cfg.name, wasm_path, py_path, rendered.functions, diagnostics, js=js_path)


def _signature_mismatches(lib: Library, wasm: bytes, diagnostics: list[Diagnostic]) -> set[str]:
    """Names of the functions whose wasm export does not match their header; one warning each."""
    expected = {f.c_name: (f.wasm_params, f.wasm_results) for f in typemap.map_library(lib).functions}
    bad = dict(wasmcheck.mismatches(wasmcheck.function_exports(wasm), expected))
    for f in lib.functions:
        if f.name in bad:
            hint = ""
            if not expected[f.name][0]:
                hint = f" (in C, `{f.name}()` declares no prototype: write `{f.name}(void)` or the types)"
            msg = f"{f.name}(): {bad[f.name]}; left out{hint}"
            diagnostics.append(Diagnostic(f.file, f.line, msg, "warning"))
    return set(bad)


def _js_stale(cfg: Config) -> bool:
    """NAME.js or its wasm is missing, or older than NAME.wasm (a build writes the JS after it)."""
    js, js_wasm, wasm = (cfg.out / f"{cfg.name}{ext}" for ext in (".js", ".js.wasm", ".wasm"))
    try:
        return min(js.stat().st_mtime, js_wasm.stat().st_mtime) < wasm.stat().st_mtime
    except OSError:
        return True


# ---------------------------------------------------------------------------
# Input stamps: what NAME.py records about its inputs, for incremental builds and `check`.
#
# Line 2 of NAME.py is `# embind-py-inputs: sha256:<hex> emcc=<version>`, then one
# `# embind-py-file: <sha256 prefix> <path>` line per input file (sources, headers and
# every non-system file they include, paths relative to the config root). The digest
# covers the files' full hashes, the options and embind-py's version, not emcc's: so
# `check` can verify it without emcc, and compares emcc versions only when one is at hand.

_SHORT = 16
_FILE_LINE = "# embind-py-file: "
_INPUTS_LINE = "# embind-py-inputs: "
_WASM_LINE = "# embind-py-wasm: "  # the NAME.wasm the module was generated with (not an input)


def wasm_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:_SHORT]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_digest(cfg: Config, file_hashes: dict[str, str]) -> str:
    """The digest of relative path -> full sha256 of every input file, plus every option."""
    h = hashlib.sha256()
    h.update(f"embind-py {__version__}\0name {cfg.name}\0".encode())
    for label, paths in (("src", cfg.sources), ("hdr", cfg.headers), ("inc", cfg.include_dirs)):
        for p in paths:
            h.update(f"{label} {rel(p, cfg.root)}\0".encode())
    for flag in (*cfg.defines, f"-O{cfg.opt}", *cfg.cflags):
        h.update(f"flag {flag}\0".encode())
    for path, sha in sorted(file_hashes.items()):
        h.update(f"file {path} {sha}\0".encode())
    return "sha256:" + h.hexdigest()


def stamp(cfg: Config, emcc: toolchain.Emcc, echo: Echo | None = None) -> tuple[str, list[str]]:
    """(`sha256:<hex> emcc=<version>`, the `HASH PATH` file lines) for NAME.py's header."""
    paths = [*cfg.sources, *cfg.headers]
    paths += toolchain.dependencies(emcc, paths, cfg.include_dirs, cfg.defines, cfg.cflags, echo)
    hashes = {rel(p, cfg.root): _sha256(p) for p in paths}
    files = [f"{hashes[r][:_SHORT]} {r}" for r in sorted(hashes)]
    return f"{input_digest(cfg, hashes)} emcc={emcc.version_str}", files


@dataclass(frozen=True)
class Stamp:
    """What a generated module's header says about its inputs."""

    version: str
    digest: str
    emcc: str | None
    files: tuple[tuple[str, str], ...]  # (relative path, sha256 prefix)
    wasm: str | None = None  # sha256 prefix of NAME.wasm (None: an older module without it)


def read_stamp(module: Path) -> Stamp | None:
    """The stamp in `module`'s leading comment lines, or None if it has none."""
    version = ""
    digest_: str | None = None
    emcc: str | None = None
    files: list[tuple[str, str]] = []
    wasm: str | None = None
    with module.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("#"):
                break
            line = line.rstrip("\n")
            if line.startswith("# Generated by embind-py "):
                version = line.split()[4]
            elif line.startswith(_INPUTS_LINE):
                parts = line[len(_INPUTS_LINE) :].split()
                digest_ = parts[0] if parts else ""
                for part in parts[1:]:
                    if part.startswith("emcc="):
                        emcc = part[5:]
            elif line.startswith(_FILE_LINE):
                sha, _, path = line[len(_FILE_LINE) :].partition(" ")
                files.append((path, sha))
            elif line.startswith(_WASM_LINE):
                wasm = line[len(_WASM_LINE) :].strip()
    if digest_ is None:
        return None
    return Stamp(version, digest_, emcc, tuple(files), wasm)


def stale_reasons(cfg: Config, emcc_version: str | None = None) -> list[str]:
    """Why NAME.py / NAME.wasm are not current for `cfg` (empty: up to date). Runs no process.

    `emcc_version` None skips the emcc comparison (no emcc at hand).
    """
    py = cfg.out / f"{cfg.name}.py"
    wasm = cfg.out / f"{cfg.name}.wasm"
    if not py.is_file():
        return [f"{rel(py, cfg.root)} does not exist"]
    st = read_stamp(py)
    if st is None:
        return [f"{rel(py, cfg.root)} has no embind-py-inputs line (not generated by embind-py?)"]
    reasons: list[str] = []
    if not wasm.is_file():
        reasons.append(f"{rel(wasm, cfg.root)} does not exist")
    elif st.wasm is not None:
        try:
            same = wasm_digest(wasm.read_bytes()) == st.wasm
        except OSError as e:
            raise ConfigError(f"cannot read {rel(wasm, cfg.root)}: {e.strerror or e}") from None
        if not same:
            reasons.append(f"{rel(wasm, cfg.root)} is not the wasm {py.name} was generated with")
    recorded = {path for path, _ in st.files}
    for p in (*cfg.sources, *cfg.headers):
        if rel(p, cfg.root) not in recorded:
            reasons.append(f"input {rel(p, cfg.root)} is new (not recorded in {py.name})")
    hashes: dict[str, str] = {}
    for path, short in st.files:
        try:
            hashes[path] = _sha256(cfg.root / path)
        except OSError:
            reasons.append(f"input {path} is missing")
            continue
        if hashes[path][:_SHORT] != short:
            reasons.append(f"input {path} changed")
    if not reasons and input_digest(cfg, hashes) != st.digest:
        if st.version != __version__:
            reasons.append(f"generated by embind-py {st.version}, this is {__version__}")
        else:
            reasons.append("build options changed (name, headers, include dirs, defines, -O or cflags)")
    if emcc_version and st.emcc and emcc_version != st.emcc:
        reasons.append(f"built with emcc {st.emcc}, the emcc at hand is {emcc_version}")
    return reasons


def regenerate_text(cfg: Config, echo: Echo | None = None) -> str:
    """NAME.py as a fresh build would write it (built in a temporary folder; nothing on disk changes)."""
    with tempfile.TemporaryDirectory(prefix="embind-py-") as tmp:
        res = build(replace(cfg, out=Path(tmp)), echo, force=True)
        return res.module.read_text(encoding="utf-8")


def generate(cfg: Config, wasm: Path | None = None, echo: Echo | None = None) -> Result:
    """Regenerate only NAME.py from the headers, for an existing .wasm (default: OUT/NAME.wasm).

    Every bound function must be exported by the wasm with the signature the header
    gives (checked with wasmtime); otherwise BuildError naming each function. Declared
    functions the wasm does not export are left out with a warning, as `build` leaves out
    those no source defines. A wasm found elsewhere is copied to OUT/NAME.wasm, where the
    module loads it from.
    """
    cmd_echo = echo if cfg.verbose else None
    wasm_path = cfg.out / f"{cfg.name}.wasm"
    src = wasm or wasm_path
    if src.exists() and not src.is_file():  # a folder, a FIFO or a device: reading it would fail or hang
        raise ConfigError(f"--wasm {src}: not a regular file")
    data = src.read_bytes()
    try:
        exports = wasmcheck.function_exports(data)
    except wasmcheck.WasmFileError as e:
        raise BuildError(f"{src}: {e}") from None
    emcc = toolchain.find_emcc(cfg.emcc)
    lib = parse(cfg, emcc, cmd_echo)
    errors = [d for d in lib.diagnostics if d.severity == "error"]
    diagnostics = [d for d in lib.diagnostics if d.severity == "warning"]
    # As `build` leaves out what no source defines (never exported), a declared function the
    # wasm lacks is left out with a warning: headers often declare more than was compiled.
    kept = []
    for f in lib.functions:
        if f.name in exports:
            kept.append(f)
        else:
            msg = f"{f.name}() is declared but {src.name} does not export it; left out"
            diagnostics.append(Diagnostic(f.file, f.line, msg, "warning"))
    has_main = any(n in exports for n in ("main", "__main_argc_argv"))
    lib = replace(lib, functions=tuple(kept), has_main=has_main)
    expected = {f.c_name: (f.wasm_params, f.wasm_results) for f in typemap.map_library(lib).functions}
    where = {f.name: f for f in lib.functions}
    for fname, problem in wasmcheck.mismatches(exports, expected):
        fn = where.get(fname)
        errors.append(
            Diagnostic(fn.file if fn else str(src), fn.line if fn else 0, f"{fname}(): {problem}", "error")
        )
    if errors:
        raise BuildError(f"cannot generate {cfg.name}.py for {src}", tuple(errors))
    inputs = [rel(p, cfg.root) for p in (*cfg.sources, *cfg.headers)]
    dig, files = stamp(cfg, emcc, cmd_echo)
    rendered = render.render_module(cfg.name, lib, inputs, dig, files, wasm_digest(data))
    diagnostics.extend(rendered.diagnostics)
    if src.resolve() != wasm_path.resolve():
        write_atomic(wasm_path, data)
    py_path = cfg.out / f"{cfg.name}.py"
    write_atomic(py_path, rendered.text.encode("utf-8"))
    return Result(cfg.name, wasm_path, py_path, rendered.functions, diagnostics)
