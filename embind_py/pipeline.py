"""The build: compile -> parse -> render -> write, for one target.

Owns: the order of the steps, which functions get exported (declared in the
user's headers *and* defined by the sources), and
writing outputs atomically (a temporary file renamed into place, so a failed
build never leaves half a module).

May import: every embind_py module except the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

# cparse (pycparser) and render (jinja2) are imported where first used, while clang or emcc
# runs (see `_build`): a small library's build is mostly the CLI's start-up and the link.
from . import declare, objcache, toolchain, typemap, wasmcheck
from .config import BuildError, Config, ConfigError, regular_file
from .model import Diagnostic, Library, Variable
from .objcache import write_atomic
from .stamp import Echo, build_lock, is_current, read_stamp, rel, seal, stale_reasons, stamp, wasm_digest

__all__ = [  # the stamp functions are re-exported: callers of the pipeline used them from here
    "BuildError",
    "Result",
    "build",
    "generate",
    "read_stamp",
    "regenerate_text",
    "rel",
    "stale_reasons",
]


@dataclass
class Result:
    name: str
    wasm: Path
    module: Path
    functions: tuple[str, ...]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    up_to_date: bool = False
    js: Path | None = None  # NAME.js (with NAME.js.wasm) when built with --js


def parse(cfg: Config, emcc: toolchain.Emcc, echo: Echo | None = None) -> Library:
    """The headers' model (see `parse_with_files`)."""
    return parse_with_files(cfg, emcc, object_cache(cfg), echo)[0]


def parse_with_files(
    cfg: Config, emcc: toolchain.Emcc, cache: objcache.ObjectCache | None, echo: Echo | None = None
) -> tuple[Library, list[Path]]:
    """The headers' model with the target's declarations (see `_parse_headers`); a
    declaration naming nothing in it is an error. The preprocessed headers go through `cache`."""
    lib, read = _parse_headers(cfg, emcc, cache, echo)
    if cfg.declare:
        lib = replace(lib, declarations=declare.parse_all(cfg.declare))
        lib = replace(lib, diagnostics=(*lib.diagnostics, *declare.check(lib)))
    return lib, read


def _parse_headers(
    cfg: Config, emcc: toolchain.Emcc, cache: objcache.ObjectCache | None, echo: Echo | None
) -> tuple[Library, list[Path]]:
    """Preprocess and parse the headers into the model (diagnostics inside).

    With no header (none given, no sibling `.h`), the sources themselves are read: their
    non-static function definitions are the API. Should a source use C the header parser
    cannot read, that is one warning asking for a header, and nothing is bound.
    Also returns the user's files the headers read (for the record of the build's inputs).
    """
    if cfg.headers:
        return _parse_files(cfg, emcc, cfg.headers, cache, echo)
    lib, read = _parse_files(cfg, emcc, cfg.sources, cache, echo)
    errors = [d for d in lib.diagnostics if d.severity == "error"]
    if not errors:
        return lib, read
    first = errors[0]
    names = ", ".join(p.name for p in cfg.sources)
    msg = (
        f"no header given for {names}, and the header parser cannot read its function "
        f"definitions ({first.message}): no functions are bound; pass --header/-H with their "
        "declarations"
    )
    return Library(diagnostics=(Diagnostic(first.file, first.line, msg, "warning"),)), read


def _parse_files(
    cfg: Config,
    emcc: toolchain.Emcc,
    files: Sequence[Path],
    cache: objcache.ObjectCache | None,
    echo: Echo | None,
) -> tuple[Library, list[Path]]:
    try:
        pre, macros, read = _read_headers(cfg, emcc, files, echo, cache)
    except toolchain.CompileError as e:  # `#error`, an unterminated `#if`, an include cycle
        found = [
            Diagnostic(rel(Path(f), cfg.root) if Path(f).is_absolute() else f, line, msg)
            for f, line, msg in e.located()[:_MAX_SHOWN]
        ]
        if not found:
            raise
        raise BuildError(f"cannot preprocess the headers of {cfg.name}", tuple(found)) from None
    for p in read:  # clang reads a device (`#include "/dev/zero"`) as an empty file; we would not
        regular_file(p, "included file")
    return _parse_text(cfg, emcc, files, pre, macros, echo), read


def _read_headers(
    cfg: Config,
    emcc: toolchain.Emcc,
    files: Sequence[Path],
    echo: Echo | None,
    cache: objcache.ObjectCache | None,
) -> tuple[str, str, list[Path]]:
    """The headers preprocessed and their macros (`toolchain.preprocess_and_macros`), and the
    user's files they read; through the object cache, keyed like an object (the command, emcc,
    every file read), so a rebuild after editing a source runs no emcc on unchanged headers."""

    def make() -> tuple[bytes, Sequence[str]]:
        pre, macros = toolchain.preprocess_and_macros(emcc, files, cfg.include_dirs, cfg.defines, echo)
        from . import cparse

        read = cparse.included_user_files(pre, files, cfg.root)
        return json.dumps([pre, macros]).encode(), [str(p) for p in read]

    command = ["headers", *map(str, files), *toolchain.PYCPARSER_DEFINES, *map(str, cfg.include_dirs)]
    command += cfg.defines
    key = objcache.command_key(command, f"{emcc.version_str} {emcc.command}", "")
    made = cache.through(key, make) if cache is not None else None
    data, deps = (made.data, made.deps) if made is not None else make()
    try:
        pre, macros = json.loads(data)
    except ValueError:  # not what we stored: read them again
        data, deps = make()
        pre, macros = json.loads(data)
    return str(pre), str(macros), [Path(d) for d in deps]


def object_cache(cfg: Config) -> objcache.ObjectCache | None:
    """The build's one object cache (with its file hashes), or None when it is off."""
    folder = objcache.cache_root() if cfg.cache else None
    return objcache.ObjectCache(folder) if folder is not None else None


_MAX_SHOWN = 10  # an include cycle repeats one error hundreds of times


def _parse_text(
    cfg: Config, emcc: toolchain.Emcc, files: Sequence[Path], pre: str, macros: str, echo: Echo | None
) -> Library:
    from . import cparse  # pycparser loads while the sources compile

    lib = cparse.parse_library(pre, macros, list(files), cfg.root)
    if any(d.severity == "error" for d in lib.diagnostics):
        return lib
    spellings = cparse.layout_spellings(lib)
    if not spellings:
        return lib
    probe = cparse.probe_source(spellings)
    dump = toolchain.record_layouts(emcc, files, probe, cfg.include_dirs, cfg.defines, echo)
    layouts = cparse.read_layouts(dump, spellings)
    if cparse.layouts_differ(lib, layouts):  # packed, aligned, bitfields: lay out as clang does
        lib = cparse.parse_library(pre, macros, list(files), cfg.root, layouts)
    return lib


def build(
    cfg: Config,
    echo: Echo | None = None,
    force: bool = False,
    js: bool = False,
    progress: toolchain.Progress | None = None,
) -> Result:
    """Compile `cfg.sources` to NAME.wasm and generate NAME.py next to it.

    Does nothing (`Result.up_to_date`) when NAME.py is byte for byte what a build wrote and
    its recorded inputs, options and emcc version all match, unless `force`. With `js`, also
    builds NAME.js + NAME.js.wasm (Emscripten's JS glue, for Node.js or the web). Builds of
    one output run one at a time (`build_lock`), and every output is made before the first is
    written, so an interrupted or failed build leaves the old pair (or no file) behind.
    `progress(done, total)` follows the compiles.
    """
    with build_lock(cfg):
        if not force and is_current(cfg, js):
            return Result(
                cfg.name, cfg.out / f"{cfg.name}.wasm", cfg.out / f"{cfg.name}.py", (), up_to_date=True
            )
        for target in (cfg.out / f"{cfg.name}.wasm", cfg.out / f"{cfg.name}.py"):
            if target.is_dir():  # checked before writing either, so no half-written pair
                raise ConfigError(f"cannot write {target}: it is a directory")
        emcc = toolchain.find_emcc(cfg.emcc, cache=cfg.cache)
        with (
            toolchain.scratch_dir("embind-py-") as tmp,
            # The link's emcc starts now, and waits for its arguments (see EarlyLink).
            toolchain.EarlyLink(toolchain.link_command(emcc, cfg.sources), tmp) as early,
        ):
            return _build(cfg, emcc, tmp, echo, js, progress, early)


def _build(
    cfg: Config,
    emcc: toolchain.Emcc,
    tmp: Path,
    echo: Echo | None,
    js: bool,
    progress: toolchain.Progress | None,
    early: toolchain.EarlyLink,
) -> Result:
    cmd_echo = echo if cfg.verbose else None
    job = toolchain.Job(
        sources=cfg.sources,
        exports=(),
        include_dirs=cfg.include_dirs,
        defines=cfg.defines,
        opt=cfg.opt,
        cflags=cfg.cflags,
        root=cfg.root,
    )
    cache = object_cache(cfg)
    (tmp / "objects").mkdir()
    (tmp / "shim").mkdir()
    # The sources (and the runtime's file-system shim) compile in worker processes while the
    # headers are read here.
    with (
        toolchain.ObjectBuild(
            emcc, job, tmp / "objects", jobs=cfg.jobs, cache=cache, echo=cmd_echo, progress=progress
        ) as compiles,
        toolchain.ObjectBuild(
            emcc, toolchain.shim_job(job), tmp / "shim", jobs=1, cache=cache, echo=cmd_echo
        ) as shim,
    ):
        lib, header_files = parse_with_files(cfg, emcc, cache, cmd_echo)
        errors = tuple(d for d in lib.diagnostics if d.severity == "error")
        if errors:
            raise BuildError(f"cannot parse the headers of {cfg.name}", errors)
        objects = compiles.results()
        job = replace(job, shim=shim.results()[0].path)
    diagnostics = [d for d in lib.diagnostics if d.severity == "warning"]

    defined = frozenset().union(*(o.symbols for o in objects))
    kept = [f for f in lib.functions if f.name in defined]
    # Declared and defined by no source: the ones the sources call become host functions.
    undefined = [f for f in lib.functions if f.name not in defined]
    has_main = bool(defined & toolchain.MAIN_SYMBOLS)
    variables = _defined_variables(lib, defined, "no source defines it", diagnostics)
    lib = replace(lib, functions=tuple(kept), variables=variables, has_main=has_main)

    inputs = [rel(p, cfg.root) for p in (*cfg.sources, *cfg.headers)]
    deps = [d for o in objects for d in o.deps]
    for d in deps:  # the headers' own includes were checked as they were read
        regular_file(Path(d), "included file")
    read = deps + [str(p) for p in header_files]
    dig, files = stamp(cfg, emcc, toolchain.user_files(read))
    mapped = typemap.map_library(lib)  # what render binds, so what the wasm exports

    job = replace(
        job,
        exports=(*(f.c_name for f in mapped.functions), *(v.c_name for v in mapped.variables)),
        has_main=has_main,
        objects=[o.path for o in objects],
        host_functions=(*(f.name for f in undefined), *cfg.host_functions),
    )
    tmp_wasm = tmp / f"{cfg.name}.wasm"
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embind-py-link") as pool:
        linking = pool.submit(toolchain.compile_wasm, emcc, job, tmp_wasm, cmd_echo, early)
        try:
            from . import render  # jinja2 and the templates load while emcc links

            render.load_templates()
            linking.result()
        except BaseException:
            toolchain.stop_children()
            raise
    wasm_bytes = tmp_wasm.read_bytes()
    exported, imports = wasmcheck.read_functions(wasm_bytes)
    imported = {name for mod, name in imports if mod == "env"}
    hosts = tuple(f for f in undefined if f.name in imported)
    for f in undefined:
        if f.name not in imported:
            msg = f"{f.name}() is declared but no source defines or calls it; left out"
            diagnostics.append(Diagnostic(f.file, f.line, msg, "warning"))
    declared = {f.name for f in lib.functions}
    raw = tuple(n for n in cfg.host_functions if n in imported and n not in declared)
    lib = replace(lib, host_functions=hosts, raw_host_functions=raw)
    # A header can disagree with the definition the compiler saw (an unprototyped `f()`,
    # a source that does not include its header): such a function would make the module
    # fail to load, so it is left out instead. Extra wasm exports are harmless.
    dropped = _signature_mismatches(lib, mapped, exported, diagnostics)  # the functions mapped for the link
    if dropped:
        lib = replace(lib, functions=tuple(f for f in lib.functions if f.name not in dropped))
    rendered = render.render_module(cfg.name, lib, inputs, dig, files, wasm_digest(wasm_bytes))
    diagnostics.extend(rendered.diagnostics)
    js_files: list[tuple[Path, Path]] = []
    if js:
        tmp_js = tmp / "js" / f"{cfg.name}.js"
        tmp_js_wasm = toolchain.compile_js(
            emcc, replace(job, exports=rendered.functions + rendered.variables), tmp_js, cmd_echo
        )
        js_files = [(tmp_js_wasm, cfg.out / tmp_js_wasm.name), (tmp_js, cfg.out / tmp_js.name)]
    # Written last, each by a rename, NAME.py after the wasm it records: a reader sees the old
    # pair, or the new wasm with the old NAME.py (which no longer matches it: stale, and
    # refused at import), or the new pair.
    wasm_path, py_path = cfg.out / f"{cfg.name}.wasm", cfg.out / f"{cfg.name}.py"
    write_atomic(wasm_path, wasm_bytes)
    for src, dst in js_files:
        write_atomic(dst, src.read_bytes())
    write_atomic(py_path, seal(rendered.text).encode("utf-8"), python_source=True)
    js_path = js_files[-1][1] if js_files else None
    return Result(cfg.name, wasm_path, py_path, rendered.functions, diagnostics, js=js_path)


def _defined_variables(
    lib: Library, defined: Set[str], why: str, diagnostics: list[Diagnostic]
) -> tuple[Variable, ...]:
    """The global variables in `defined`; one warning for each other one, left out."""
    kept = []
    for v in lib.variables:
        if v.name in defined:
            kept.append(v)
        else:
            msg = f"variable {v.name} is declared but {why}; left out"
            diagnostics.append(Diagnostic(v.file, v.line, msg, "warning"))
    return tuple(kept)


def _wasm_signatures(mapped: typemap.Mapped) -> dict[str, tuple[str, str]]:
    """C name -> (wasm param letters, result letters) of each function the module binds."""
    return {f.c_name: (f.wasm_params, f.wasm_results) for f in mapped.functions}


def _signature_mismatches(
    lib: Library,
    mapped: typemap.Mapped,
    exported: Mapping[str, tuple[str, str]],
    diagnostics: list[Diagnostic],
) -> set[str]:
    """Names of the functions (of `lib`, as `mapped` binds them) whose wasm export does not
    match their header; one warning each."""
    expected = _wasm_signatures(mapped)
    bad = dict(wasmcheck.mismatches(exported, expected))
    for f in lib.functions:
        if f.name in bad:
            hint = ""
            if not expected[f.name][0]:
                hint = f" (in C, `{f.name}()` declares no prototype: write `{f.name}(void)` or the types)"
            msg = f"{f.name}(): {bad[f.name]}; left out{hint}"
            diagnostics.append(Diagnostic(f.file, f.line, msg, "warning"))
    return set(bad)


def regenerate_text(cfg: Config, echo: Echo | None = None) -> str:
    """NAME.py as a fresh build would write it (built in a temporary folder; nothing on disk changes)."""
    with toolchain.scratch_dir("embind-py-") as tmp:
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
        exports, exported_data = wasmcheck.exports(data)
    except wasmcheck.WasmFileError as e:
        raise BuildError(f"{src}: {e}") from None
    emcc = toolchain.find_emcc(cfg.emcc, cache=cfg.cache)
    lib = parse(cfg, emcc, cmd_echo)
    errors = [d for d in lib.diagnostics if d.severity == "error"]
    diagnostics = [d for d in lib.diagnostics if d.severity == "warning"]
    # As `build` leaves out what no source defines (never exported), a declared function the
    # wasm lacks is left out with a warning: headers often declare more than was compiled.
    kept = []
    imported = wasmcheck.function_imports(data, "env")
    for f in lib.functions:
        if f.name in exports:
            kept.append(f)
        elif f.name not in imported:
            msg = f"{f.name}() is declared but {src.name} does not export it; left out"
            diagnostics.append(Diagnostic(f.file, f.line, msg, "warning"))
    has_main = any(n in exports for n in ("main", "__main_argc_argv"))
    hosts = tuple(f for f in lib.functions if f.name not in exports and f.name in imported)
    variables = _defined_variables(lib, exported_data, f"{src.name} does not export it", diagnostics)
    lib = replace(lib, functions=tuple(kept), variables=variables, has_main=has_main, host_functions=hosts)
    expected = _wasm_signatures(typemap.map_library(lib))
    where = {f.name: f for f in lib.functions}
    for fname, problem in wasmcheck.mismatches(exports, expected):
        fn = where.get(fname)
        errors.append(
            Diagnostic(fn.file if fn else str(src), fn.line if fn else 0, f"{fname}(): {problem}", "error")
        )
    if errors:
        raise BuildError(f"cannot generate {cfg.name}.py for {src}", tuple(errors))
    from . import render

    inputs = [rel(p, cfg.root) for p in (*cfg.sources, *cfg.headers)]
    sources_and_headers = [*cfg.sources, *cfg.headers]
    read = toolchain.dependencies(
        emcc, sources_and_headers, cfg.include_dirs, cfg.defines, cfg.cflags, cmd_echo
    )
    dig, files = stamp(cfg, emcc, read)
    rendered = render.render_module(cfg.name, lib, inputs, dig, files, wasm_digest(data))
    diagnostics.extend(rendered.diagnostics)
    if src.resolve() != wasm_path.resolve():
        write_atomic(wasm_path, data)
    py_path = cfg.out / f"{cfg.name}.py"
    write_atomic(py_path, seal(rendered.text).encode("utf-8"), python_source=True)
    return Result(cfg.name, wasm_path, py_path, rendered.functions, diagnostics)
