"""End to end: host functions, C functions the headers declare and no source defines, that
Python implements (issue 12): real emcc, a generated module, typed implementations checked
by mypy --strict, a missing one, an exception in one, and a build that calls an undeclared one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from embind_py.runtime import WasmLinkError
from tests.conftest import BuildFn, import_file, run_cli

HEADER = """
#include <stddef.h>
typedef struct { int x; int y; } Pos;

/* The host implements these (no source defines them). */
int read_sensor(int channel);
int host_log(const char *message);
int host_position(int id, Pos *out);
void host_fill(char *buf, size_t n);
/* Declared, never defined and never called: left out, not a host function. */
int unused_hook(int);

int sample(int channel);
int report(const char *who);
int where(int id);
int fill_len(void);
"""

SOURCE = """
#include <string.h>
#include "sensor.h"
int sample(int channel) { return read_sensor(channel) * 10 + 1; }
int report(const char *who) {
    char buf[64];
    strcpy(buf, "hello ");
    strcat(buf, who);
    return host_log(buf);
}
int where(int id) { Pos p = {0, 0}; int r = host_position(id, &p); return r < 0 ? r : p.x * 100 + p.y; }
int fill_len(void) { char b[16]; memset(b, 0, sizeof b); host_fill(b, sizeof b - 1); return (int)strlen(b); }
"""


@pytest.fixture(scope="module")
def sensor(build_c: BuildFn) -> ModuleType:
    return build_c("sensor", SOURCE, HEADER)


def _impls(logs: list[str]) -> dict[str, Any]:
    def position(i: int, out: Any) -> int:
        out.x, out.y = i, 7  # an out-parameter: a pointer to the caller's struct
        return 0

    def fill(buf: Any, n: int) -> None:
        for i in range(n):
            buf[i] = ord("a")

    def log(message: str | None) -> int:
        logs.append(message or "")
        return len(message or "")

    return {"read_sensor": lambda ch: ch + 4, "host_log": log, "host_position": position, "host_fill": fill}


def test_host_functions_take_strings_and_fill_out_parameters(sensor: ModuleType) -> None:
    logs: list[str] = []
    lib = sensor.load(host=_impls(logs))
    assert lib.sample(3) == 71
    assert lib.report("bob") == 9 and logs == ["hello bob"]
    assert lib.where(5) == 507
    assert lib.fill_len() == 15
    hosts = {"read_sensor", "host_log", "host_position", "host_fill"}
    assert set(sensor.HostFunctions.__annotations__) == hosts
    assert not hasattr(sensor, "unused_hook")


def test_missing_host_function_raises_link_error_naming_it(sensor: ModuleType) -> None:
    lib = sensor.load()
    with pytest.raises(WasmLinkError, match=r"read_sensor\(\)"):
        lib.sample(1)
    assert lib.report  # the instance still answers: only the call that needed it failed
    with pytest.raises(WasmLinkError, match="host_fill, host_log, host_position"):
        sensor.load(host={"read_sensor": abs}, require_host=True)
    with pytest.raises(WasmLinkError, match="read_sensr"):
        sensor.load(host={"read_sensr": abs})


def test_exception_in_host_function_reaches_the_caller(sensor: ModuleType) -> None:
    def broken(ch: int) -> int:
        raise ValueError(f"sensor {ch} is broken")

    lib = sensor.load(host={"read_sensor": broken})
    with pytest.raises(ValueError, match="sensor 2 is broken"):
        lib.sample(2)
    lib2 = sensor.load(host={"read_sensor": lambda ch: "not an int"})
    with pytest.raises(TypeError):
        lib2.sample(2)


def test_default_instance_uses_set_host(sensor: ModuleType) -> None:
    sensor.set_host({"read_sensor": lambda ch: 2})
    assert sensor.sample(0) == 21
    sensor.set_host({"read_sensor": lambda ch: 3})  # later registrations replace earlier ones
    assert sensor.sample(0) == 31


USER_OK = """
from sensor import Pos, PosPtr, load, set_host

def position(i: int, out: PosPtr | None) -> int:
    assert out is not None
    out.x = i
    return 0

def log(message: str | None) -> int:
    return 0

set_host({"read_sensor": lambda ch: ch + 1, "host_log": log})
lib = load(host={"host_position": position, "read_sensor": abs})
"""

USER_BAD = """
from sensor import load, set_host

def wrong(channel: str) -> int:
    return 0

load(host={"read_sensor": wrong})
set_host({"read_sensor": lambda ch: "text"})
load(host={"read_sensr": abs})
"""


def _mypy(sensor: ModuleType, tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sensor.py").write_text(Path(sensor.__file__ or "").read_text())
    (tmp_path / "user.py").write_text(textwrap.dedent(script))
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
         str(tmp_path / "sensor.py"), str(tmp_path / "user.py")],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "MYPYPATH": str(root)}, timeout=300,
    )


def test_mypy_strict_checks_host_function_shapes(sensor: ModuleType, tmp_path: Path) -> None:
    ok = _mypy(sensor, tmp_path, USER_OK)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _mypy(sensor, tmp_path, USER_BAD)
    assert bad.returncode == 1, bad.stdout
    errors = [ln for ln in bad.stdout.splitlines() if "user.py" in ln and ": error:" in ln]
    assert sorted({ln.split(":")[1] for ln in errors}) == ["7", "8", "9"], bad.stdout
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length", "110",
         "--select", "E,F,I,B,UP,RUF", str(tmp_path / "sensor.py")],
        capture_output=True, text=True, timeout=120,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_undeclared_undefined_functions_fail_the_build_with_one_message(tmp_path: Path) -> None:
    (tmp_path / "u.h").write_text("int f(int);\n")
    (tmp_path / "u.c").write_text(
        "int mystery(int);\nint other(void);\nint f(int x) { return mystery(x) + other(); }\n"
    )
    res = run_cli("build", tmp_path / "u.c", "-o", tmp_path)
    assert res.exit_code != 0
    assert "mystery(), other()" in res.output and "host functions" in res.output, res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "u.py").exists() and not (tmp_path / "u.wasm").exists()


def test_undeclared_functions_allowed_by_name_get_raw_wasm_values(tmp_path: Path) -> None:
    (tmp_path / "u.h").write_text("int f(int);\n")
    (tmp_path / "u.c").write_text(
        "int mystery(int);\nint other(void);\nint f(int x) { return mystery(x) + other(); }\n"
    )
    res = run_cli("build", tmp_path / "u.c", "-o", tmp_path, "--host-function", "mystery")
    assert res.exit_code != 0 and "other()" in res.output and "mystery()" not in res.output, res.output
    res = run_cli(
        "build", tmp_path / "u.c", "-o", tmp_path, "--host-function", "mystery", "--host-function", "other"
    )
    assert res.exit_code == 0, res.output
    u = import_file(tmp_path / "u.py")
    assert set(u.HostFunctions.__annotations__) == {"mystery", "other"}
    lib = u.load(host={"mystery": lambda x: x * 2, "other": lambda: 1})
    assert lib.f(20) == 41
