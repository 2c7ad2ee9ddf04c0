"""Build configuration: one frozen `Config` per target.

Owns: what a build needs to know (sources, headers, name, output folder,
include dirs, defines, optimisation level, extra flags, emcc), its defaults,
and their validation into clear errors; and the `[[tool.embind-py.target]]`
tables of a project's pyproject.toml (found upward from a folder), validated
key by key, turned into one `Config` per target.

May import: the standard library, `embind_py.declare` (to check declarations) and the model.
"""

from __future__ import annotations

import keyword
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Diagnostic


class ConfigError(Exception):
    """A bad option or config value; the message names it."""


class BuildError(Exception):
    """The build failed for a reason in the user's input; `diagnostics` say where."""

    def __init__(self, message: str, diagnostics: tuple[Diagnostic, ...] = ()) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def module_name_problem(name: object) -> str | None:
    """Why `name` cannot be a generated module's name, or None if it can."""
    if not isinstance(name, str) or not _IDENT.match(name):
        return "the module name must be a Python identifier (letters, digits, _)"
    if keyword.iskeyword(name):
        return "the module name is a Python keyword, so `import` cannot name it"
    if name in _TAKEN_NAMES or name in sys.stdlib_module_names:
        # A fixed list, not what this process happens to have imported: `import NAME` would find
        # the standard module, or NAME.py would shadow it for the code next to it (math.py
        # breaks `import random`, json.py whatever imports json).
        return f"{name} is the name of a standard module or of one embind-py needs"
    return None


_TAKEN_NAMES = frozenset({"embind_py", "wasmtime", "pycparser", "jinja2", "typer", "click", "tomli"})
_OPT = re.compile(r"^(0|1|2|3|s|z|g)$")


@dataclass(frozen=True)
class Options:
    """What the command line says about a build: each value given replaces the target's own
    (None: not given). One value from the CLI through `project.configs` to `make_config`."""

    headers: tuple[Path, ...] | None = None
    name: str | None = None
    out: Path | None = None
    include_dirs: tuple[Path, ...] | None = None
    defines: tuple[str, ...] | None = None
    opt: str | None = None
    cflags: tuple[str, ...] | None = None
    declare: tuple[str, ...] | None = None  # see embind_py.declare
    emcc: str | None = None
    verbose: bool = False
    jobs: int | None = None  # parallel compiles (None: one per core)
    host_functions: tuple[str, ...] | None = None  # undeclared functions Python implements
    cache: bool = True  # the object cache (see toolchain.ObjectCache)

    def single_target_options(self) -> list[str]:
        """The options given that name one module's files (--header, --name, --out)."""
        given = (("--header", self.headers), ("--name", self.name), ("--out", self.out))
        return [flag for flag, value in given if value]


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
    declare: tuple[str, ...] = ()  # what C's types cannot say (embind_py.declare)
    emcc: str | None = None
    verbose: bool = False
    jobs: int | None = None
    cache: bool = True
    host_functions: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, compare=False)


def _parse_declaration(spec: str) -> None:
    # Imported here: `check` and a no-op build read the config without loading the model.
    from .declare import parse

    parse(spec)


def resolved(path: Path, what: str) -> Path:
    """`path` made absolute with symlinks followed; ConfigError naming `what` for a symlink loop."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: "Symlink loop" before Python 3.13
        raise ConfigError(f"{what} {path}: cannot be resolved ({e})") from None


def regular_file(path: Path, what: str) -> Path:
    """`path` resolved, when it is an existing regular file; else ConfigError naming `what`.

    A FIFO would make emcc or the hashing wait forever and a device (/dev/zero, or a symlink
    to it) read without end, so only regular files are inputs."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        if not p.exists() and not p.is_symlink():
            raise ConfigError(f"{what} {path}: no such file") from None
        raise ConfigError(f"{what} {path}: cannot be read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{what} {path}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{what} {path}: not a regular file (a FIFO, a device or a socket)")
    return resolved(p, what)


def make_config(sources: Sequence[Path], options: Options | None = None, root: Path | None = None) -> Config:
    """Apply the defaults and check every value; raise ConfigError naming the bad one."""
    o = options or Options()
    if not sources:
        raise ConfigError("no C sources given: pass at least one SRC.c")
    srcs = [regular_file(s, "source") for s in sources]
    hdrs: list[Path] = []
    if o.headers:
        hdrs = [regular_file(h, "header") for h in o.headers]
    else:
        for s in srcs:
            sib = s.with_suffix(".h")
            if sib.is_file():
                hdrs.append(sib)
    mod = o.name if o.name is not None else srcs[0].stem
    problem = module_name_problem(mod)
    if problem:
        how = "" if o.name else f" (from the source {srcs[0].name}; choose another with --name)"
        raise ConfigError(f"--name {mod!r}: {problem}{how}")
    out = resolved(o.out or Path.cwd(), "--out")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {o.out}: exists and is not a directory")
    opt = o.opt if o.opt is not None else "2"
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
    for d in o.include_dirs or ():
        p = Path(d)
        if not p.is_dir():
            raise ConfigError(f"-I {d}: no such directory")
        r = resolved(p, "-I")
        if r not in incs:
            incs.append(r)
    for m in o.defines or ():
        if not _IDENT.match(m.split("=", 1)[0]):
            raise ConfigError(f"-D {m!r}: expected MACRO or MACRO=VALUE")
    for spec in o.declare or ():
        try:
            _parse_declaration(spec)
        except ValueError as e:
            raise ConfigError(f"--declare: {e}") from None
    if o.jobs is not None and o.jobs < 1:
        raise ConfigError(f"-j {o.jobs}: expected a number of parallel compiles, at least 1")
    for fn in o.host_functions or ():
        if not _IDENT.match(fn):
            raise ConfigError(f"--host-function {fn!r}: expected the name of a C function")
    return Config(
        sources=tuple(srcs),
        headers=tuple(hdrs),
        name=mod,
        out=out,
        root=resolved(root or Path.cwd(), "project folder"),
        include_dirs=tuple(incs),
        defines=tuple(o.defines or ()),
        opt=opt,
        cflags=tuple(o.cflags or ()),
        declare=tuple(o.declare or ()),
        emcc=o.emcc,
        verbose=o.verbose,
        jobs=o.jobs,
        cache=o.cache,
        host_functions=tuple(dict.fromkeys(o.host_functions or ())),
    )


# ---------------------------------------------------------------------------
# [[tool.embind-py.target]] in pyproject.toml

_LIST_KEYS = ("sources", "headers", "include-dirs", "defines", "cflags", "host-functions", "declare")
_TARGET_KEYS = (
    "name", "sources", "headers", "out", "include-dirs", "defines", "cflags", "opt", "host-functions",
    "declare",
)


@dataclass(frozen=True)
class Target:
    """One `[[tool.embind-py.target]]` table, checked; paths as written (relative to the root)."""

    name: str
    sources: tuple[str, ...]
    headers: tuple[str, ...] = ()
    out: str = "."
    include_dirs: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()
    cflags: tuple[str, ...] = ()
    opt: str = "2"
    declare: tuple[str, ...] = ()
    host_functions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Project:
    """A pyproject.toml with embind-py targets; `root` is its folder."""

    pyproject: Path
    root: Path
    targets: tuple[Target, ...]

    def select(self, name: str | None) -> tuple[Target, ...]:
        """All targets, or the one called `name` (ConfigError naming the known ones otherwise)."""
        if name is None:
            return self.targets
        for t in self.targets:
            if t.name == name:
                return (t,)
        known = ", ".join(t.name for t in self.targets) or "none"
        raise ConfigError(f"--target {name!r}: {self.pyproject} has no such target (targets: {known})")


def _has_targets(data: dict[str, Any]) -> bool:
    tool = data.get("tool")
    return isinstance(tool, dict) and "embind-py" in tool


def _read_toml(path: Path) -> dict[str, Any]:
    # Imported here: a build from the command line's sources reads no pyproject.toml.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 has no tomllib
        import tomli as tomllib
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None


def find_project(start: Path | None = None, project: Path | None = None) -> Project:
    """Load `project` (a pyproject.toml or its folder), else the nearest pyproject.toml
    at or above `start` (default: cwd) that has a `[tool.embind-py]` section."""
    if project is not None:
        path = project / "pyproject.toml" if project.is_dir() else project
        if not path.is_file():
            raise ConfigError(f"--project {project}: no pyproject.toml there")
        data = _read_toml(path)
        if not _has_targets(data):
            raise ConfigError(f"{path}: has no [[tool.embind-py.target]] tables")
        return load_project(path, data)
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        path = d / "pyproject.toml"
        if path.is_file():
            data = _read_toml(path)
            if _has_targets(data):
                return load_project(path, data)
    raise ConfigError(
        f"no pyproject.toml with [[tool.embind-py.target]] found in {here} or above: "
        "pass --project PATH (build and generate also take SRC.c ...)"
    )


def _str_list(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings, got {value!r}")
    return tuple(value)


def load_project(path: Path, data: dict[str, Any] | None = None) -> Project:
    """Check every `[[tool.embind-py.target]]` of `path`; errors name the target and key."""
    path = path.resolve()
    root = path.parent
    if data is None:
        data = _read_toml(path)
    section = data.get("tool", {}).get("embind-py", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.embind-py] must be a table")
    for key in section:
        if key != "target":
            raise ConfigError(
                f"{path}: [tool.embind-py]: unknown key {key!r} (targets go in [[tool.embind-py.target]])"
            )
    raw = section.get("target", [])
    if isinstance(raw, dict):
        raise ConfigError(
            f"{path}: [tool.embind-py.target] is a single table: write [[tool.embind-py.target]] "
            "(double brackets), one per module"
        )
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: [tool.embind-py] has no [[tool.embind-py.target]] tables")
    targets: list[Target] = []
    for i, table in enumerate(raw, 1):
        where = f"{path.name}: [[tool.embind-py.target]] #{i}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        name = table.get("name")
        if isinstance(name, str):
            where += f" ({name})"
        for key in table:
            if key not in _TARGET_KEYS:
                raise ConfigError(f"{where}: unknown key {key!r} (known keys: {', '.join(_TARGET_KEYS)})")
        if name is None:
            raise ConfigError(f"{where}: name is missing (the module name: writes NAME.py and NAME.wasm)")
        problem = module_name_problem(name)
        if problem or not isinstance(name, str):
            raise ConfigError(f"{where}: name {name!r}: {problem}")
        if any(t.name == name for t in targets):
            raise ConfigError(f"{where}: name {name!r} is used by another target")
        lists = {k: _str_list(where, k, table[k]) for k in _LIST_KEYS if k in table}
        if "sources" not in lists or not lists["sources"]:
            raise ConfigError(f"{where}: sources must list at least one C file")
        for key in ("sources", "headers"):
            for s in lists.get(key, ()):
                if not (root / s).is_file():
                    raise ConfigError(f"{where}: {key}: {s}: no such file (paths are relative to {root})")
        for s in lists.get("include-dirs", ()):
            if not (root / s).is_dir():
                raise ConfigError(f"{where}: include-dirs: {s}: no such directory")
        for d in lists.get("defines", ()):
            if not _IDENT.match(d.split("=", 1)[0]):
                raise ConfigError(f"{where}: defines: {d!r}: expected NAME or NAME=VALUE")
        for d in lists.get("declare", ()):
            try:
                _parse_declaration(d)
            except ValueError as e:
                raise ConfigError(f"{where}: declare: {e}") from None
        out = table.get("out", ".")
        if not isinstance(out, str):
            raise ConfigError(f"{where}: out must be a string (a folder), got {out!r}")
        if (root / out).exists() and not (root / out).is_dir():
            raise ConfigError(f"{where}: out: {out}: exists and is not a directory")
        opt = table.get("opt", "2")
        if isinstance(opt, int) and not isinstance(opt, bool):
            opt = str(opt)
        if not isinstance(opt, str) or not _OPT.match(opt.removeprefix("-O")):
            raise ConfigError(f"{where}: opt must be one of 0, 1, 2, 3, s, z, g; got {opt!r}")
        targets.append(
            Target(
                name=name,
                sources=lists["sources"],
                headers=lists.get("headers", ()),
                out=out,
                include_dirs=lists.get("include-dirs", ()),
                defines=lists.get("defines", ()),
                cflags=lists.get("cflags", ()),
                opt=opt.removeprefix("-O"),
                declare=lists.get("declare", ()),
                host_functions=lists.get("host-functions", ()),
            )
        )
    return Project(path, root, tuple(targets))


def target_config(project: Project, target: Target, options: Options | None = None) -> Config:
    """The Config of `target`; any option given in `options` (the command line) replaces the config's."""
    o = options or Options()
    r = project.root
    incs = o.include_dirs if o.include_dirs is not None else tuple(r / d for d in target.include_dirs)
    return make_config(
        [r / s for s in target.sources],
        replace(
            o,
            headers=o.headers if o.headers is not None else tuple(r / h for h in target.headers) or None,
            name=o.name if o.name is not None else target.name,
            out=o.out if o.out is not None else r / target.out,
            include_dirs=incs,
            defines=o.defines if o.defines is not None else target.defines,
            opt=o.opt if o.opt is not None else target.opt,
            cflags=o.cflags if o.cflags is not None else target.cflags,
            declare=o.declare if o.declare is not None else target.declare,
            host_functions=o.host_functions if o.host_functions is not None else target.host_functions,
        ),
        root=r,
    )
