"""The `embind-py` command line (typer): options -> Config -> pipeline, nothing more.

Owns: the commands and their options, and turning every failure into one clear
paragraph on stderr with a documented exit code (never a traceback):
0 success, 1 emcc failed to compile (its own output shown), 2 bad input
(missing emcc, missing file, broken header, bad option).

May import: typer and every embind_py module.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import __version__, pipeline, toolchain
from .config import ConfigError, make_config

app = typer.Typer(
    name="embind-py",
    help="Build C to WebAssembly with emcc and generate typed Python bindings for it.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_COMPILE = 1
EXIT_INPUT = 2


def _err(msg: str) -> None:
    typer.echo(f"embind-py: {msg}", err=True)


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


@app.command()
def build(
    sources: Annotated[list[Path], typer.Argument(help="C source files (SRC.c ...).", show_default=False)],
    header: Annotated[
        list[Path] | None,
        typer.Option("--header", "-H", help="Header declaring the API (default: each SRC's sibling .h)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Module name (default: first SRC's stem).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: current folder).")] = None,
    include: Annotated[list[Path] | None, typer.Option("-I", help="Add an include directory.")] = None,
    define: Annotated[list[str] | None, typer.Option("-D", help="Define MACRO or MACRO=VALUE.")] = None,
    opt: Annotated[str, typer.Option("-O", help="Optimisation level: 0, 1, 2, 3, s, z.")] = "2",
    emcc: Annotated[str | None, typer.Option("--emcc", help="Path to emcc (default: $EMCC, $EMSDK, PATH).")] = None,
    cflag: Annotated[list[str] | None, typer.Option("--cflag", help="Extra flag passed to emcc.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show emcc command lines and all warnings.")] = False,
) -> None:
    """Compile SRC.c ... to NAME.wasm and generate the Python module NAME.py."""
    try:
        cfg = make_config(
            sources=sources,
            headers=header,
            name=name,
            out=out,
            include_dirs=include,
            defines=define,
            opt=opt,
            cflags=cflag,
            emcc=emcc,
            verbose=verbose,
        )
        result = pipeline.build(cfg, echo=lambda s: typer.echo(s, err=True))
    except ConfigError as e:
        _err(str(e))
        raise typer.Exit(EXIT_INPUT) from None
    except toolchain.ToolchainError as e:
        _err(str(e))
        raise typer.Exit(EXIT_INPUT) from None
    except pipeline.BuildError as e:
        _err(f"{e}:")
        for d in e.diagnostics:
            typer.echo(f"  {d}", err=True)
        raise typer.Exit(EXIT_INPUT) from None
    except toolchain.CompileError as e:
        typer.echo(e.output, err=True)
        _err(f"{e.what} failed (exit {e.returncode}); see emcc's messages above")
        raise typer.Exit(EXIT_COMPILE) from None
    except OSError as e:
        _err(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))
        raise typer.Exit(EXIT_INPUT) from None
    for d in result.diagnostics:
        if verbose or not d.message.startswith("macro "):
            typer.echo(f"embind-py: {d}", err=True)
    here = Path.cwd()
    typer.echo(
        f"built {_show(result.wasm, here)} and {_show(result.module, here)}: "
        f"{len(result.functions)} function{'s' if len(result.functions) != 1 else ''} bound"
    )


def _show(p: Path, here: Path) -> str:
    try:
        return str(p.relative_to(here))
    except ValueError:
        return str(p)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    run()
