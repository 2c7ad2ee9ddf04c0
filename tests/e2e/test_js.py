"""Emscripten's JS glue: `build --js` loads in Node.js; `load_wasm` runs a JS-glue .wasm from Python."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from embind_py import toolchain
from embind_py.runtime import WasmLinkError, load_wasm
from tests.conftest import BuildFn

LIB_C = r"""
#include <stdio.h>
#include "jslib.h"
static char buf[64];
int add(int a, int b) { return a + b; }
const char *greet(const char *who) { snprintf(buf, sizeof buf, "hi %s", who); return buf; }
"""
LIB_H = "int add(int a, int b);\nconst char *greet(const char *who);\n"

NODE_SCRIPT = """
const factory = require(process.argv[2]);
Promise.resolve(factory()).then((M) => {
  const add = M.cwrap('add', 'number', ['number', 'number']);
  console.log(add(2, 3), M.ccall('greet', 'string', ['string'], ['node']));
});
"""

MAIN_C = r"""
#include <stdio.h>
#include "jsmain.h"
int add(int a, int b) { return a + b; }
int main(int argc, char **argv) { printf("main argc=%d %s\n", argc, argc > 1 ? argv[1] : "-"); return 7; }
"""

MAIN_SCRIPT = """
const factory = require(process.argv[2]);
Promise.resolve(factory()).then((M) => {
  console.log('loaded', M.ccall('add', 'number', ['number', 'number'], [1, 2]));
  M.callMain(['x']);
});
"""

HELLO_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *kept;
int twice(int x) { return 2 * x; }
unsigned char *grow(int n) { unsigned char *p = malloc(n); if (p) memset(p, 9, n); kept = p; return p; }

int main(int argc, char **argv) {
    printf("hello from C, %d args\n", argc);
    for (int i = 1; i < argc; i++) printf("%s\n", argv[i]);
    fprintf(stderr, "time is %s\n", time(NULL) > 1000000000 ? "sane" : "odd");
    return argc == 1 ? 0 : 12;
}

/* clock() and strftime() are imported from the JS glue in emcc 3.1.6 (env.clock, env.strftime) */
int clock_works(void) { return clock() != (clock_t)-1; }
const char *when(long t) {
    static char out[64];
    time_t tt = (time_t)t;
    struct tm *tm = localtime(&tt);
    char *copy = malloc(64);
    size_t n = strftime(copy, 64, "%Y-%m-%d %H:%M:%S %a %j %z %Z %%", tm);
    snprintf(out, sizeof out, "%s|%d", copy, (int)n);
    free(copy);
    return out;
}
int too_small(void) { char b[4]; time_t t = 0; return (int)strftime(b, sizeof b, "%Y-%m", gmtime(&t)); }
const char *env_home(void) { const char *h = getenv("HOME"); return h ? h : "(unset)"; }
"""

EM_ASM_C = r"""
#include <emscripten.h>
int main(void) { EM_ASM({ console.log("from JS"); }); return 0; }
"""


@pytest.fixture(scope="module")
def jslib(build_c: BuildFn) -> ModuleType:
    return build_c("jslib", LIB_C, LIB_H, "--js")


def test_build_js_emits_glue_beside_the_standalone_module(jslib: ModuleType) -> None:
    d = Path(str(jslib.__file__)).parent
    assert (d / "jslib.js").is_file() and (d / "jslib.js.wasm").is_file() and (d / "jslib.wasm").is_file()
    assert (d / "jslib.js.wasm").read_bytes() != (d / "jslib.wasm").read_bytes()
    assert jslib.add(2, 3) == 5  # the standalone module is untouched
    assert "jslib.js.wasm" in (d / "jslib.js").read_text()


def test_node_loads_the_glue_and_cwrap_works(jslib: ModuleType, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is required for this test"
    script = tmp_path / "run.js"
    script.write_text(NODE_SCRIPT)
    js = Path(str(jslib.__file__)).with_name("jslib.js")
    proc = subprocess.run(
        [node, str(script), str(js)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5 hi node"


def test_node_runs_main_only_on_request(build_c: BuildFn, tmp_path: Path) -> None:
    # a library with a main: its JS glue, like the Python module, runs main only when asked
    lib = build_c("jsmain", MAIN_C, "int add(int a, int b);\n", "--js")
    node = shutil.which("node")
    assert node, "Node.js is required for this test"
    script = tmp_path / "run.js"
    script.write_text(MAIN_SCRIPT)
    js = Path(str(lib.__file__)).with_name("jsmain.js")
    proc = subprocess.run([node, str(script), str(js)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 7, proc.stderr  # Emscripten's callMain exits Node with main's status
    assert proc.stdout == "loaded 3\nmain argc=2 x\n"


@pytest.fixture(scope="module")
def js_mode(tmp_path_factory: pytest.TempPathFactory, emcc: toolchain.Emcc) -> dict[str, Path]:
    """hello.c built for JS glue (`emcc hello.c -o hello.js`) at -O0, -O1, -O2 and -O3."""
    d = tmp_path_factory.mktemp("jsmode")
    (d / "hello.c").write_text(HELLO_C)
    env = dict(
        os.environ,
        NODE_PATH=os.pathsep.join(filter(None, [os.environ.get("NODE_PATH"), "/usr/share/nodejs"])),
    )
    out = {}
    for opt, extra in (
        ("0", ["-sEXPORTED_FUNCTIONS=_main,_twice,_grow,_malloc,_free"]),
        ("1", []),
        ("2", [f"-sEXPORTED_FUNCTIONS=_main,{_JS_HELPERS}"]),
        ("3", []),
    ):
        target = d / f"o{opt}" / "hello.js"
        target.parent.mkdir()
        argv = [
            *emcc.command,
            str(d / "hello.c"),
            f"-O{opt}",
            "-sALLOW_MEMORY_GROWTH=1",
            *extra,
            "-o",
            str(target),
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        out[opt] = target.with_suffix(".wasm")
    return out


_JS_HELPERS = "_clock_works,_when,_too_small,_env_home,_malloc,_free"


@pytest.mark.parametrize("opt", ["0", "1", "2"])
def test_load_wasm_runs_printf_from_python(
    js_mode: dict[str, Path], opt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    m = load_wasm(js_mode[opt])
    assert m.call_main() == 0
    assert m.call_main(["a", "bc"]) == 12
    cap = capsys.readouterr()
    assert cap.out == "hello from C, 1 args\nhello from C, 3 args\na\nbc\n"
    assert cap.err == "time is sane\ntime is sane\n"


def test_load_wasm_helpers_and_memory_growth(js_mode: dict[str, Path]) -> None:
    m = load_wasm(js_mode["0"], stdout=None)
    ffi = m.ffi
    assert ffi.ccall("twice", "number", ["number"], [21]) == 42
    before = len(ffi.HEAPU8)
    p = ffi.ccall("grow", "pointer", ["number"], [32 << 20])  # emscripten_resize_heap, answered in Python
    assert p and len(ffi.HEAPU8) > before
    assert ffi.HEAPU8[p + (32 << 20) - 1] == 9
    s = ffi.stringToNewUTF8("js mode")
    assert ffi.UTF8ToString(s) == "js mode"
    ffi.free(s)


def test_load_wasm_names_an_unsupported_import(js_mode: dict[str, Path]) -> None:
    # -O3 JS-glue builds minify import names ("a.a"), which only their glue understands.
    with pytest.raises(WasmLinkError, match=r"imports a\.\w+, which the embind-py runtime does not provide"):
        load_wasm(js_mode["3"])


def test_load_wasm_clock_strftime_getenv(js_mode: dict[str, Path]) -> None:
    m = load_wasm(js_mode["2"], env={"HOME": "/home/py"})
    ffi = m.ffi
    assert ffi.ccall("clock_works", "boolean", [], []) is True
    # localtime is UTC without the glue: 86400 * 365 s after the epoch is 1971-01-01, a Friday
    when = ffi.ccall("when", "string", ["number"], [86400 * 365])
    assert when == "1971-01-01 00:00:00 Fri 001 +0000 UTC %|39"
    assert ffi.ccall("too_small", "number", [], []) == 0  # did not fit: C's strftime returns 0
    assert ffi.ccall("env_home", "string", [], []) == "/home/py"
    assert load_wasm(js_mode["2"]).ffi.ccall("env_home", "string", [], []) == "(unset)"


def test_load_wasm_names_em_asm(tmp_path: Path, emcc: toolchain.Emcc) -> None:
    (tmp_path / "asm.c").write_text(EM_ASM_C)
    argv = [*emcc.command, str(tmp_path / "asm.c"), "-O1", "-o", str(tmp_path / "asm.js")]
    env = dict(os.environ, NODE_PATH="/usr/share/nodejs")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    msg = r"asm\.wasm: the wasm imports env\.emscripten_asm_const_int.*EM_ASM"
    with pytest.raises(WasmLinkError, match=msg):
        load_wasm(tmp_path / "asm.wasm")
