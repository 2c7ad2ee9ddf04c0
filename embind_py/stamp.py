"""Input stamps: what a generated NAME.py records about its inputs, and whether they still match.

Owns: the digest of a target's inputs (every input file's text, the options and
embind-py's version), the stamp lines at the top of NAME.py, reading them back, and
`stale_reasons` (for incremental builds and `check`). Kept apart from the pipeline so
that `check` on current bindings imports neither pycparser, jinja2 nor wasmtime.

May import: the standard library and embind_py's config and toolchain.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import __version__, objcache, toolchain
from .config import Config, ConfigError

Echo = Callable[[str], None]


def rel(path: Path, root: Path) -> str:
    """`path` relative to `root`, POSIX style (for output that must not depend on the machine)."""
    return Path(os.path.relpath(path, root)).as_posix()


# ---------------------------------------------------------------------------
# Input stamps: what NAME.py records about its inputs, for incremental builds and `check`.
#
# Line 2 of NAME.py is `# embind-py-inputs: sha256:<hex> emcc=<version>`, then one
# `# embind-py-file: <sha256 prefix> <path>` line per input file (sources, headers and
# every non-system file they include, paths relative to the config root, written by
# `quote_path`: a JSON string literal when a path needs it, a newline say). The digest
# covers the files' full hashes, the options and embind-py's version, not emcc's: so
# `check` can verify it without emcc, and compares emcc versions only when one is at hand.

_SHORT = 16
_FILE_LINE = "# embind-py-file: "
_INPUTS_LINE = "# embind-py-inputs: "
_WASM_LINE = "# embind-py-wasm: "  # the NAME.wasm the module was generated with (not an input)


def wasm_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:_SHORT]


def _sha256(path: Path) -> str:
    """The hash of an input file's text, with CRLF line ends read as LF.

    The compiler treats the two alike (the wasm is the same), and git on Windows checks
    text out with CRLF: bindings generated on one system stay current on the other. A FIFO
    or a device (an input replaced by a link to /dev/zero) is refused, never read.
    """
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer.
    with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ConfigError(f"input {path}: not a regular file (a FIFO, a device or a socket)")
        return hashlib.sha256(f.read().replace(b"\r\n", b"\n")).hexdigest()


def input_digest(cfg: Config, file_hashes: dict[str, str]) -> str:
    """The digest of relative path -> full sha256 of every input file, plus every option."""
    h = hashlib.sha256()
    h.update(f"embind-py {__version__}\0name {cfg.name}\0".encode())
    for label, paths in (("src", cfg.sources), ("hdr", cfg.headers), ("inc", cfg.include_dirs)):
        for p in paths:
            h.update(f"{label} {rel(p, cfg.root)}\0".encode())
    for flag in (*cfg.defines, f"-O{cfg.opt}", *cfg.cflags):
        h.update(f"flag {flag}\0".encode())
    for d in cfg.declare:
        h.update(f"declare {d}\0".encode())
    for name in cfg.host_functions:
        h.update(f"host {name}\0".encode())
    for path, sha in sorted(file_hashes.items()):
        h.update(f"file {path} {sha}\0".encode())
    return "sha256:" + h.hexdigest()


def quote_path(path: str) -> str:
    """`path` as NAME.py's header lines write it (and messages show it): as it is, unless it
    holds a line break or another character that is not printable, a backslash, or starts with
    a double quote; then as a JSON string literal (ASCII only), which `unquote_path` reads back.
    The one rule for writing a path into the header, so that no folder name can end a comment
    line (a newline there would make the rest of the name code) or be read back as another."""
    if path.isprintable() and "\\" not in path and not path.startswith('"'):
        return path
    return json.dumps(path)


def unquote_path(text: str) -> str:
    """The path `quote_path` wrote as `text` (a literal that is not JSON is kept as it is)."""
    if text.startswith('"'):
        try:
            path = json.loads(text)
        except ValueError:
            return text
        if isinstance(path, str):
            return path
    return text


def stamp(cfg: Config, emcc: toolchain.Emcc, read: Sequence[Path]) -> tuple[str, list[str]]:
    """(`sha256:<hex> emcc=<version>`, the `HASH PATH` file lines) for NAME.py's header:
    the sources, the headers and `read` (the user's files the compiles and the parse read)."""
    hashes = {rel(p, cfg.root): _sha256(p) for p in dict.fromkeys([*cfg.sources, *cfg.headers, *read])}
    files = [f"{hashes[r][:_SHORT]} {quote_path(r)}" for r in sorted(hashes)]
    return f"{input_digest(cfg, hashes)} emcc={emcc.version_str}", files


# The line after the inputs line holds the hash of the whole module without that line (CRLF
# read as LF, as for the inputs): any other byte changed (a truncated file, a hand edit)
# makes the module stale, whatever its stamp lines say.
_MODULE_LINE = "# embind-py-module: "


def _module_hash(text: str) -> str:
    return (
        "sha256:" + hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8", "surrogateescape")).hexdigest()
    )


def seal(text: str) -> str:
    """`text` (a rendered module) with its module-hash line inserted after the inputs line."""
    head, sep, rest = text.partition("\n" + _INPUTS_LINE)
    line_end = rest.index("\n") + 1
    before, after = head + sep + rest[:line_end], rest[line_end:]
    return f"{before}{_MODULE_LINE}{_module_hash(before + after)}\n{after}"


def _sealed(text: str) -> bool:
    """Whether `text` is byte for byte (up to line ends) what `seal` wrote."""
    text = text.replace("\r\n", "\n")
    start = text.find("\n" + _MODULE_LINE)
    if start < 0:
        return False
    end = text.find("\n", start + 1)
    if end < 0:
        return False
    recorded = text[start + 1 + len(_MODULE_LINE) : end]
    return recorded == _module_hash(text[: start + 1] + text[end + 1 :])


@contextlib.contextmanager
def build_lock(cfg: Config) -> Iterator[None]:
    """Hold the lock of `cfg`'s outputs (OUT/NAME): builds of one module run one at a time, so
    two at once never mix one's NAME.py with the other's NAME.wasm. The lock files live beside
    the object cache (else in the temporary folder), never in the output folder; without
    `fcntl` (Windows) there is no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    key = hashlib.sha256(str(cfg.out / cfg.name).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    cache = objcache.cache_root()
    tmp = Path(tempfile.gettempdir()) / f"embind-py-locks-{os.getuid()}"
    folder = cache.parent / "locks" if cache else tmp
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / f"{key}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
                files.append((unquote_path(path), sha))
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

    def shown(p: Path) -> str:
        return quote_path(rel(p, cfg.root))

    if not py.is_file():
        return [f"{shown(py)} does not exist"]
    st = read_stamp(py)
    if st is None:
        return [f"{shown(py)} has no embind-py-inputs line (not generated by embind-py?)"]
    reasons: list[str] = []
    try:
        intact = _sealed(py.read_bytes().decode("utf-8", "surrogateescape"))
    except OSError as e:
        raise ConfigError(f"cannot read {shown(py)}: {e.strerror or e}") from None
    if not intact:
        reasons.append(f"{shown(py)} is not what the build wrote (edited, truncated or damaged)")
    if not wasm.is_file():
        reasons.append(f"{shown(wasm)} does not exist")
    elif st.wasm is not None:
        try:
            same = wasm_digest(wasm.read_bytes()) == st.wasm
        except OSError as e:
            raise ConfigError(f"cannot read {shown(wasm)}: {e.strerror or e}") from None
        if not same:
            reasons.append(f"{shown(wasm)} is not the wasm {py.name} was generated with")
    recorded = {path for path, _ in st.files}
    for p in (*cfg.sources, *cfg.headers):
        if rel(p, cfg.root) not in recorded:
            reasons.append(f"input {shown(p)} is new (not recorded in {py.name})")
    hashes: dict[str, str] = {}
    for path, short in st.files:
        try:
            hashes[path] = _sha256(cfg.root / path)
        except OSError:
            reasons.append(f"input {quote_path(path)} is missing")
            continue
        if hashes[path][:_SHORT] != short:
            reasons.append(f"input {quote_path(path)} changed")
    if not reasons and input_digest(cfg, hashes) != st.digest:
        if st.version != __version__:
            reasons.append(f"generated by embind-py {st.version}, this is {__version__}")
        else:
            reasons.append("build options changed (name, headers, include dirs, defines, -O or cflags)")
    if emcc_version and st.emcc and emcc_version != st.emcc:
        reasons.append(f"built with emcc {st.emcc}, the emcc at hand is {emcc_version}")
    return reasons


def is_current(cfg: Config, js: bool = False) -> bool:
    """Whether a build of `cfg` (with `js`: its JS glue too) would change nothing: no input,
    option or emcc version differs from what NAME.py records. Runs emcc only when its
    version cannot be read from its install."""
    version = toolchain.quick_version(cfg.emcc) or toolchain.find_emcc(cfg.emcc).version_str
    return not stale_reasons(cfg, version) and not (js and _js_stale(cfg))


def _js_stale(cfg: Config) -> bool:
    """NAME.js or its wasm is missing, or older than NAME.wasm (a build writes the JS after it)."""
    js, js_wasm, wasm = (cfg.out / f"{cfg.name}{ext}" for ext in (".js", ".js.wasm", ".wasm"))
    try:
        return min(js.stat().st_mtime, js_wasm.stat().st_mtime) < wasm.stat().st_mtime
    except OSError:
        return True
