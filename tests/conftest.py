"""Shared fixtures: real emcc, real builds, generated modules imported from disk."""

from __future__ import annotations

import importlib.util
import itertools
import os
import select
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import pytest
from typer.testing import CliRunner

from embind_py import toolchain
from embind_py.cli import app

_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False, help="rewrite tests/golden expectations"
    )


@pytest.fixture(scope="session")
def emcc() -> toolchain.Emcc:
    """The real emcc; CI installs it, so a missing one is a failure, not a skip."""
    return toolchain.find_emcc()


def run_cli(*args: str | Path) -> Any:
    """Run the embind-py CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def import_file(path: Path, name: str | None = None) -> ModuleType:
    """Import a generated module from `path` under a fresh, unique module name."""
    mod_name = name or f"{path.stem}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = mod
    spec.loader.exec_module(mod)
    return mod


def read_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line from a pipe, failing the test after `timeout` seconds (a bare readline can hang).

    Reads the file descriptor directly, byte by byte, so nothing is left in `stream`'s buffer.
    """
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no complete line within {timeout} s (got {line!r})")
        byte = os.read(fd, 1)
        if not byte:
            break  # end of file
        line += byte
    return line


BuildFn = Callable[..., ModuleType]


@pytest.fixture(scope="module")
def build_c(tmp_path_factory: pytest.TempPathFactory) -> BuildFn:
    """`build_c(name, c_source, h_source, *extra_cli_args)` -> the imported generated module.

    Writes NAME.c / NAME.h into a fresh folder, runs `embind-py build NAME.c`
    there (real emcc), and imports NAME.py. Fails the test with emcc's/CLI's
    output if the build fails.
    """

    def build(name: str, c_source: str, h_source: str | None = None, *args: str) -> ModuleType:
        d = tmp_path_factory.mktemp(name)
        (d / f"{name}.c").write_text(textwrap.dedent(c_source))
        if h_source is not None:
            (d / f"{name}.h").write_text(textwrap.dedent(h_source))
        res = run_cli("build", d / f"{name}.c", "-o", d, *args)
        assert res.exit_code == 0, f"build failed ({res.exit_code}):\n{res.output}"
        return import_file(d / f"{name}.py")

    return build
