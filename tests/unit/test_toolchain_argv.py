"""The emcc command lines embind-py runs, for emcc versions this machine cannot install.

Only 3.1.6 is installed here (the other tests run it); these check that the argv chosen
for later releases names what those releases have (read from Emscripten's ChangeLog
and sources), without running them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from embind_py import toolchain
from embind_py.toolchain import Emcc, Job

SRC = [Path("lib.c")]


def _exports(argv: list[str]) -> list[str]:
    flag = next(a for a in argv if a.startswith("-sEXPORTED_FUNCTIONS="))
    return flag.split("=", 1)[1].split(",")


@pytest.mark.parametrize(
    ("version", "stack"),
    [
        ((3, 1, 6), []),  # exports stackSave/stackRestore/stackAlloc by itself
        ((3, 1, 52), ["_stackSave", "_stackRestore", "_stackAlloc"]),
        ((3, 1, 56), ["_stackSave", "_stackRestore", "_stackAlloc"]),
        ((3, 1, 57), ["__emscripten_stack_restore", "__emscripten_stack_alloc"]),
        ((4, 0, 0), ["__emscripten_stack_restore", "__emscripten_stack_alloc"]),
        ((6, 0, 8), ["__emscripten_stack_restore", "__emscripten_stack_alloc"]),
    ],
)
def test_standalone_exports_name_the_stack_functions_of_each_version(
    version: tuple[int, int, int], stack: list[str]
) -> None:
    argv = toolchain.wasm_argv(Emcc(("emcc",), version), Job(SRC, ["add"], objects=SRC), Path("lib.wasm"))
    exports = _exports(argv)
    assert exports[:4] == ["_add", "_malloc", "_free", "_fflush"]
    # errno for host functions (`system`): exported by itself only up to 3.1.51
    assert "___errno_location" in exports
    always = ["_emscripten_stack_get_current", "_emscripten_stack_get_end"]
    assert exports[-len(stack) - 2 :] == [*always, *stack]
    if version >= (3, 1, 57):
        assert not any(e.startswith("_stack") for e in exports)  # a link error there
    assert argv[1] == "--no-entry"
    assert "-sSTANDALONE_WASM=1" in argv and "--profiling-funcs" in argv
    # JS-only or deprecated settings are never passed for a .wasm output
    js_only = ("-sWASM_BIGINT", "-sMODULARIZE", "-sEXPORTED_RUNTIME_METHODS")
    assert not any(a.startswith(js_only) for a in argv)


def test_a_program_exports_main_and_its_constructors_and_has_an_entry() -> None:
    argv = toolchain.wasm_argv(
        Emcc(("emcc",), (4, 0, 10)), Job(SRC, [], has_main=True, objects=SRC), Path("p.wasm")
    )
    assert "--no-entry" not in argv
    assert _exports(argv)[-2:] == ["_main", "___wasm_call_ctors"]


@pytest.mark.parametrize("version", [(3, 1, 6), (3, 1, 11), (3, 1, 12), (4, 0, 0), (6, 0, 8)])
def test_js_glue_argv(version: tuple[int, int, int]) -> None:
    argv = toolchain.js_argv(
        Emcc(("emcc",), version), Job(SRC, ["add"], has_main=True, objects=SRC), Path("lib.js.js")
    )
    assert "-sMODULARIZE=1" in argv and "-sINVOKE_RUN=0" in argv
    assert "-sEXPORTED_RUNTIME_METHODS=ccall,cwrap,callMain" in argv
    assert ("-sWASM_ASYNC_COMPILATION=0" in argv) == (version < (3, 1, 12))
    assert not any(a.startswith("-sWASM_BIGINT") for a in argv)  # default since 4.0, deprecated in 6.0.8


def test_standalone_builds_link_the_file_system_shim_and_js_glue_does_not() -> None:
    emcc = Emcc(("emcc",), (3, 1, 6))
    argv = toolchain.wasm_argv(emcc, Job(SRC, ["add"]), Path("lib.wasm"))
    assert str(toolchain.FILES_SHIM) in argv and toolchain.FILES_SHIM.is_file()
    assert argv[argv.index("--js-library") + 1] == str(toolchain.host_library(Path("lib.wasm")))
    js = toolchain.js_argv(emcc, Job(SRC, ["add"]), Path("lib.js.js"))
    assert str(toolchain.FILES_SHIM) not in js and "--js-library" not in js
    hosted = toolchain.js_argv(emcc, Job(SRC, ["add"], host_functions=("read_sensor",)), Path("lib.js.js"))
    assert "--js-library" in hosted
