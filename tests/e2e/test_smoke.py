"""The smoke set scripts/test.sh runs on every other CPython 3.10-3.13 it finds: one build and
the paths where Python versions differ (imports, calls, callbacks, limits, Ctrl-C, pickling).
The whole suite covers each in depth on the default Python."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from embind_py.runtime import WasmInterrupted, WasmOutOfFuel, WasmTimeout, WasmTrap
from tests.conftest import BuildFn, read_line

C_SRC = r"""
#include <stdio.h>
#include "smoke.h"
int add(int a, int b) { return a + b; }
int apply(binop f, int a, int b) { return f(a, b); }
const char *greet(const char *name) {
    static char buf[64];
    snprintf(buf, sizeof buf, "hi %s", name);
    return buf;
}
double norm1(Vec2 v) { return (v.x < 0 ? -v.x : v.x) + (v.y < 0 ? -v.y : v.y); }
void spin(void) { for (volatile int i = 1; i;) {} }
int crash(void) { return *(volatile int *)0xFFFFFFF0; }
"""
H_SRC = """
typedef struct { double x, y; } Vec2;
typedef int (*binop)(int, int);
int add(int a, int b);
int apply(binop f, int a, int b);
const char *greet(const char *name);
double norm1(Vec2 v);
void spin(void);
int crash(void);
"""


@pytest.fixture(scope="module")
def smoke(build_c: BuildFn) -> ModuleType:
    return build_c("smoke", C_SRC, H_SRC)


def test_calls_callbacks_and_traps(smoke: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.add(2, 3) == 5 and smoke.greet("py") == "hi py"
    assert smoke.norm1(smoke.Vec2(x=-1.5, y=2.0)) == 3.5
    assert smoke.apply(lambda a, b: a * b, 6, 7) == 42
    with pytest.raises(OverflowError):
        smoke.add(2**31, 0)
    with pytest.raises(WasmTrap, match="out of bounds"):
        smoke.crash()
    assert smoke.add(1, 1) == 2
    assert pickle.loads(pickle.dumps(smoke.load(fuel=10**6))).add(3, 4) == 7


def test_limits_and_interrupt(smoke: ModuleType) -> None:
    with pytest.raises(WasmTimeout):
        smoke.load(timeout=0.1).spin()
    with pytest.raises(WasmOutOfFuel):
        smoke.load(fuel=10_000).spin()
    lib = smoke.load()
    timer = threading.Timer(0.1, lib.interrupt)
    timer.start()
    with pytest.raises(WasmInterrupted):
        lib.spin()
    timer.join(timeout=10)
    assert lib.add(2, 2) == 4


def test_ctrl_c_in_c(smoke: ModuleType) -> None:
    script = (
        "import smoke\nprint('ready', flush=True)\n"
        "try:\n    smoke.spin()\nexcept KeyboardInterrupt:\n    print(smoke.add(1, 2), flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=Path(str(smoke.__file__)).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert read_line(proc.stdout, timeout=60) == b"ready\n"
        threading.Event().wait(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (0, b"3\n", b"")
