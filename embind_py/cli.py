"""The `embind-py` command line (typer): options -> Config -> pipeline, nothing more.

Owns: the commands and their options, and turning every failure into one clear
paragraph on stderr with a documented exit code (never a traceback):
0 success, 1 emcc failed to compile (its own output shown), 2 bad input
(missing emcc, missing file, broken header, bad option).

May import: typer (and typer._coercion, to convert values without pydantic: see `_PLAIN`)
and every embind_py module; the pipeline (and with it pycparser, jinja2 and wasmtime) only
inside the commands that build, so that `check` of current bindings and a no-op build start fast.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

import typer
from typer.core import TyperCommand, TyperGroup

from . import __version__, stamp, toolchain, wasmcheck
from . import project as project_mod
from .config import BuildError, Config, ConfigError, Options, make_config

if TYPE_CHECKING:
    from . import pipeline

try:
    from typer._coercion import RuntimeParam
except ImportError:  # pragma: no cover - a typer that converts values with click's types
    RuntimeParam = None  # type: ignore[assignment,misc]


# How a command-line value becomes the type its parameter is annotated with. typer (0.2x)
# converts each value with a pydantic TypeAdapter it builds on every run: importing pydantic
# and building them is half of a no-op build's time (0.1 s of 0.2 s). Our parameters are
# bool flags, str, Path, int and lists of them, for which one plain call is the whole
# conversion, so `_Command` and `_Group` give them that; typer still parses the command line,
# applies defaults and reports bad values. With a typer that converts otherwise, typer's own.
def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(value)


_PLAIN: dict[object, tuple[Callable[[Any], Any], str]] = {
    bool: (_flag, "flag"),
    str: (str, "string"),
    Path: (Path, "path"),
    int: (int, "integer"),
}

if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _PlainValue(RuntimeParam):
        """A parameter's value (or each of a list's values) converted by one plain call."""

        convert: Callable[[Any], Any]
        kind: str
        many: bool

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return [self.convert(v) for v in value] if self.many else self.convert(value)
            except ValueError:
                bad = f"{value!r} is not a valid {self.kind}."
                raise typer.BadParameter(bad, ctx=ctx, param=param) from None


def _plain(params: list[Any]) -> list[Any]:
    """`params`, each of our parameter types set to convert by `_PLAIN` (once)."""
    for param in params:
        desc = getattr(param, "type_descriptor", None)
        if RuntimeParam is None or desc is None or getattr(param, "_runtime_param", 1) is not None:
            continue
        many = get_origin(desc.annotation) is list
        inner = get_args(desc.annotation)[0] if many else desc.annotation
        if inner in _PLAIN:
            convert, kind = _PLAIN[inner]
            info, annotation = desc.parameter_info, desc.annotation
            param._runtime_param = _PlainValue(info, annotation, convert=convert, kind=kind, many=many)
    return params


class _Command(TyperCommand):
    """typer's command, its parameters converted as `_PLAIN` says."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))


class _Group(TyperGroup):
    """typer's group (the commands and `--version`), its parameters converted as `_PLAIN` says."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))


app = typer.Typer(
    name="embind-py",
    help="Build C to WebAssembly with emcc and generate typed Python bindings for it.",
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_COMPILE = 1
EXIT_INPUT = 2

# Options shared by the project-aware commands (build, check, generate).
DeclareOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--declare",
        help="What C's types cannot say, e.g. 'f.buf = buffer(len)', 'f = owned(free_f)' (repeatable).",
    ),
]
TargetOpt = Annotated[str | None, typer.Option("--target", "-t", help="Only this pyproject.toml target.")]
ProjectOpt = Annotated[Path | None, typer.Option("--project", help="pyproject.toml (or its folder).")]
EmccOpt = Annotated[str | None, typer.Option("--emcc", help="Path to emcc (default: $EMCC, $EMSDK, PATH).")]
HeaderOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--header",
        "-H",
        help="Header declaring the API (default: each SRC's sibling .h; with none, the functions the "
        "sources define).",
    ),
]
NameOpt = Annotated[str | None, typer.Option("--name", "-n", help="Module name (default: first SRC's stem).")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: current folder).")]


def _err(msg: str) -> None:
    typer.echo(f"embind-py: {msg}", err=True)


def _trim_output(text: str, head: int = 40, tail: int = 15) -> str:
    """emcc's messages, without the thousands of lines an include cycle produces."""
    lines = text.splitlines()
    if len(lines) <= head + tail + 1:
        return text
    return "\n".join([*lines[:head], f"... ({len(lines) - head - tail} more lines) ...", *lines[-tail:]])


def _version(value: bool) -> None:
    if value:
        typer.echo(f"embind-py {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """embind-py: one command from a C file to an importable, typed Python module."""


def _tuple(values: list[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


def _configs(
    sources: list[Path] | None, project: Path | None, target: str | None, opts: Options
) -> list[Config]:
    """One config from the command line's sources, else the project's targets with the
    command line's options laid over their own."""
    if sources:
        return [make_config(sources, opts)]
    return project_mod.configs(project, target, opts)


@app.command(cls=_Command)
def build(
    sources: Annotated[
        list[Path] | None,
        typer.Argument(
            help="C source files (SRC.c ...); none: every [[tool.embind-py.target]] of pyproject.toml.",
            show_default=False,
        ),
    ] = None,
    header: HeaderOpt = None,
    name: NameOpt = None,
    out: OutOpt = None,
    include: Annotated[list[Path] | None, typer.Option("-I", help="Add an include directory.")] = None,
    define: Annotated[list[str] | None, typer.Option("-D", help="Define MACRO or MACRO=VALUE.")] = None,
    opt: Annotated[
        str | None, typer.Option("-O", help="Optimisation level: 0, 1, 2, 3, s, z, g [default: 2].")
    ] = None,
    emcc: EmccOpt = None,
    cflag: Annotated[list[str] | None, typer.Option("--cflag", help="Extra flag passed to emcc.")] = None,
    declare: DeclareOpt = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show emcc command lines and all warnings.")
    ] = False,
    target: TargetOpt = None,
    project: ProjectOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when up to date.")] = False,
    js: Annotated[
        bool,
        typer.Option("--js", help="Also emit NAME.js + NAME.js.wasm (Emscripten's JS glue, ccall/cwrap)."),
    ] = False,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Parallel compiles [default: one per core].")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Compile every source afresh, without the object cache.")
    ] = False,
    host_function: Annotated[
        list[str] | None,
        typer.Option(
            "--host-function", help="Allow a function no source defines or header declares, for Python."
        ),
    ] = None,
) -> None:
    """Compile SRC.c ... to NAME.wasm and generate the Python module NAME.py.

    Without SRC, builds the targets of the nearest pyproject.toml (options given here
    override the config). Skips a target whose recorded inputs are unchanged.
    """
    with _reporting():
        opts = Options(
            headers=_tuple(header),
            name=name,
            out=out,
            include_dirs=_tuple(include),
            defines=_tuple(define),
            opt=opt,
            cflags=_tuple(cflag),
            declare=_tuple(declare),
            emcc=emcc,
            verbose=verbose,
            jobs=jobs,
            cache=not no_cache,
            host_functions=_tuple(host_function),
        )
        for cfg in _configs(sources, project, target, opts):
            if not force and stamp.is_current(cfg, js):  # decided before the pipeline is imported
                typer.echo(f"{cfg.name} is up to date")
                continue
            from . import pipeline

            progress = _progress(cfg.name) if sys.stderr.isatty() and not verbose else None
            _report_build(pipeline.build(cfg, _echo_err, force, js, progress), verbose)


def _progress(name: str) -> Callable[[int, int], None]:
    """A one-line counter of compiled sources, redrawn in place (on a terminal only)."""

    def show(done: int, total: int) -> None:
        end = "\r\033[K" if done == total else ""
        typer.echo(f"\r{name}: compiled {done}/{total} sources{end}", err=True, nl=False)

    return show


def _echo_err(s: str) -> None:
    typer.echo(s, err=True)


@contextlib.contextmanager
def _reporting() -> Iterator[None]:
    """Turn every failure inside into one clear message and its exit code (never a traceback)."""
    try:
        yield
    except (ConfigError, toolchain.ToolchainError, wasmcheck.WasmFileError) as e:
        _err(str(e))
        raise typer.Exit(EXIT_INPUT) from None
    except BuildError as e:
        _err(f"{e}:")
        for d in e.diagnostics:
            typer.echo(f"  {d}", err=True)
        raise typer.Exit(EXIT_INPUT) from None
    except toolchain.CompileError as e:
        typer.echo(_trim_output(e.output), err=True)
        _err(f"{e.what} failed (exit {e.returncode}); see the compiler's messages above")
        raise typer.Exit(EXIT_COMPILE) from None
    except OSError as e:
        _err(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))
        raise typer.Exit(EXIT_INPUT) from None
    except KeyboardInterrupt:  # the build stopped its compiles and removed its files on the way
        _err("interrupted")
        raise typer.Exit(130) from None


def _report_build(result: pipeline.Result, verbose: bool, generated: bool = False) -> None:
    if result.up_to_date:
        typer.echo(f"{result.name} is up to date")
        return
    for d in result.diagnostics:
        if verbose or not d.message.startswith(("macro ", "inferred: ")):
            typer.echo(f"embind-py: {d}", err=True)
    here = Path.cwd()
    n = len(result.functions)
    what = (
        f"generated {_show(result.module, here)} for {_show(result.wasm, here)}"
        if generated
        else f"built {_show(result.wasm, here)} and {_show(result.module, here)}"
    )
    typer.echo(f"{what}: {n} function{'s' if n != 1 else ''} bound")
    if result.js is not None:
        typer.echo(f"built {_show(result.js, here)} and {_show(result.js, here)}.wasm (JS glue)")


EXIT_STALE = 1


@app.command(cls=_Command)
def check(
    target: TargetOpt = None,
    project: ProjectOpt = None,
    diff: Annotated[
        bool, typer.Option("--diff", help="Regenerate stale modules in a temporary folder and show the diff.")
    ] = False,
    emcc: EmccOpt = None,
) -> None:
    """Check that the generated bindings of every config target are current.

    Exit 0: all current; 1: some target is stale (each is named, with the input that
    changed); 2: bad config or other error. Runs no emcc unless --diff is given.
    """
    stale = 0
    with _reporting():
        version = project_mod.emcc_version_at_hand(emcc)
        for cfg in project_mod.configs(project, target, Options(emcc=emcc)):
            reasons = stamp.stale_reasons(cfg, version)
            if not reasons:
                typer.echo(f"{cfg.name}: up to date")
                continue
            stale += 1
            typer.echo(f"{cfg.name}: stale: {'; '.join(reasons)}")
            if diff:
                typer.echo(project_mod.module_diff(cfg, _echo_err), nl=False)
    if stale:
        _err(f"{stale} target{'s are' if stale != 1 else ' is'} stale: run `embind-py build` to regenerate")
        raise typer.Exit(EXIT_STALE)


@app.command(cls=_Command)
def generate(
    sources: Annotated[
        list[Path] | None,
        typer.Argument(help="C sources (SRC.c ...); none: the config targets.", show_default=False),
    ] = None,
    wasm: Annotated[
        Path | None, typer.Option("--wasm", help="The existing .wasm (default: OUT/NAME.wasm).")
    ] = None,
    header: HeaderOpt = None,
    name: NameOpt = None,
    out: OutOpt = None,
    include: Annotated[list[Path] | None, typer.Option("-I", help="Add an include directory.")] = None,
    define: Annotated[list[str] | None, typer.Option("-D", help="Define MACRO or MACRO=VALUE.")] = None,
    emcc: EmccOpt = None,
    cflag: Annotated[list[str] | None, typer.Option("--cflag", help="Extra flag passed to emcc.")] = None,
    declare: DeclareOpt = None,
    target: TargetOpt = None,
    project: ProjectOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show emcc command lines.")] = False,
) -> None:
    """Regenerate only NAME.py for an existing NAME.wasm, checking its exports with wasmtime."""
    with _reporting():
        from . import pipeline

        opts = Options(
            headers=_tuple(header),
            name=name,
            out=out,
            include_dirs=_tuple(include),
            defines=_tuple(define),
            cflags=_tuple(cflag),
            declare=_tuple(declare),
            emcc=emcc,
            verbose=verbose,
        )
        cfgs = _configs(sources, project, target, opts)
        if wasm is not None and len(cfgs) > 1:
            raise ConfigError("--wasm names one module's wasm: add --target NAME")
        for cfg in cfgs:
            _report_build(pipeline.generate(cfg, wasm, _echo_err), verbose, generated=True)


def _show(p: Path, here: Path) -> str:
    try:
        return str(p.relative_to(here))
    except ValueError:
        return str(p)


class Terminated(BaseException):
    """SIGTERM arrived (see `embind_py.__main__`): unwinds like Ctrl-C, so temporary files go."""


def terminate(signum: int, frame: object) -> None:
    raise Terminated


Handler = Callable[[int, FrameType | None], Any]


def run(quiet: Handler | None = None) -> None:
    """Run the CLI; an interruption or exhausted memory is one line and an exit code.

    `quiet` (from the console script) is the SIGINT and SIGTERM handler in place before: the
    two unwind the CLI (KeyboardInterrupt, `Terminated`) only inside the `try` that reports
    them, and `quiet` is back before it is left, so no moment is left where either would
    escape as a traceback (a signal while the process exits ends it at once).
    """
    try:
        try:
            if quiet is not None:
                signal.signal(signal.SIGTERM, terminate)
                signal.signal(signal.SIGINT, signal.default_int_handler)
            app(standalone_mode=True)
        finally:
            if quiet is not None:
                signal.signal(signal.SIGINT, quiet)
                signal.signal(signal.SIGTERM, quiet)
            toolchain.remove_scratch()  # what an interruption caught half-made or half-removed
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except Terminated:
        _err("terminated")
        sys.exit(143)
    except MemoryError:
        _err("out of memory (a header or source too large to process?)")
        sys.exit(EXIT_INPUT)


if __name__ == "__main__":
    run()
