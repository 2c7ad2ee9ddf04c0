"""Broken and hostile inputs to `embind-py build`: a clear message and the documented exit code.

Each case in `corpus/<case>/` is a `lib.c` (plus headers) built in a temporary copy; the other
cases are made here (missing files, unwritable outputs, a 3000-declaration header). Every
failure must be one readable message, never a traceback, and must leave no NAME.py/NAME.wasm
(nor a temporary file) behind.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import import_file, run_cli

CORPUS = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class Case:
    exit: int
    messages: tuple[str, ...] = ()  # substrings of the CLI's output
    calls: dict[str, tuple[tuple[Any, ...], Any]] = field(default_factory=dict)  # on success


CASES: dict[str, Case] = {
    "syntax_eof": Case(2, ("cannot parse the headers", "lib.h:", "unexpected end of file")),
    "syntax_line": Case(2, ("lib.h:2", "syntax error before 'y'")),
    "unmatched_brace": Case(2, ("lib.h:2", "syntax error")),
    "parser_internal_error": Case(2, ("syntax error",)),
    "unsupported": Case(0, ("warning", "va_list"), {"ok": ((), 1), "v": ((5, 6), 5)}),
    "keywords": Case(
        0,
        ("lib.h:1: warning: lambda() is bound as lambda_() (lambda is a Python keyword)",
         "lib.h:3: warning: load() is bound as load_() (load is a name the module uses)"),
        {
            "lambda_": ((3,), 3),
            "print": ((4,), 4),
            "load_": ((), 1),
            "ffi_": ((), 2),
            "free_": ((), 3),
            "reset_": ((), 4),
            "instance_": ((), 5),
            "self_": ((9,), 9),
        },
    ),
    "builtins_params": Case(0, (), {"count": (("A", 1, 2, 3), 71), "object_": ((5, 2), 3)}),
    "collisions": Case(0, (), {}),
    "internal_names": Case(
        0,
        (),
        {
            "_rt_": ((1,), 2),
            "_WASM_": ((1,), 3),
            "_TYPES_": ((1,), 4),
            "__all___": ((), 4),
            "__name___": ((1,), 6),
            "_F0_": ((lambda x: x * 2,), 12),
            "_enum_": ((1,), 8),
        },
    ),
    "include_cycle": Case(2, ("cannot preprocess the headers", "lib.h:1: error: #include nested too deeply")),
    "pp_error": Case(2, ("lib.h:2: error: \"lib.h needs a configured build\"",)),
    "unterminated_if": Case(2, ("lib.h:1: error: unterminated conditional directive",)),
    "include_dev_zero": Case(2, ("included file /dev/zero: not a regular file",)),
    "include_cycle_guarded": Case(0, (), {"g": ((), 1), "g2": ((), 2)}),
    "non_utf8_code": Case(2, ("not valid UTF-8",)),
    "non_utf8_comment": Case(0, (), {"h": ((), 7)}),
    "c_compile_error": Case(1, ("undeclared identifier 'undefined_thing'", "compiling lib.c failed")),
    "binary_source": Case(2, ("lib.c:1: error: source file is not valid UTF-8",)),
    "empty_header": Case(0, ("0 functions",)),
    "signature_mismatch": Case(
        0,
        ("old_style(): the wasm exports it as (i32, i32) -> (i32) but the header gives () -> (i32)",
         "write `old_style(void)`", "other(): the wasm exports it as (i32, i32) -> (i32)"),
        {"ok": ((), 1), "no_args": ((), 7)},
    ),
    "stray_pragma": Case(0, ("pair_default skipped",), {"pair_sum": ((None,), 3)}),
    "pragma_mid_declaration": Case(2, ("lib.h:3", "syntax error: invalid declaration")),
    "undefined_decl": Case(
        0, ("not_here() is declared but no source defines or calls it",), {"here": ((), 1)}
    ),
}


def check_clean_failure(res: Any, out: Path, case: Case) -> str:
    text = str(res.output)
    assert res.exit_code == case.exit, text
    assert "Traceback" not in text
    for m in case.messages:
        assert m in text, f"{m!r} not in:\n{text}"
    if case.exit:
        leftovers = [p.name for p in out.iterdir() if p.name.startswith((".lib", "lib.py", "lib.wasm"))]
        assert not leftovers, leftovers
        assert len(text.splitlines()) < 80, "emcc's output should be trimmed"
    return text


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    src = tmp_path / "src"
    shutil.copytree(CORPUS / name, src)
    out = tmp_path / "out"
    out.mkdir()
    res = run_cli("build", src / "lib.c", "-o", out)
    check_clean_failure(res, out, case)
    if case.exit == 0:
        mod = import_file(out / "lib.py")
        for fn, (args, want) in case.calls.items():
            assert getattr(mod, fn)(*args) == want, fn
        assert isinstance(mod.__all__, list)  # C's __all__ must not replace the module's own


def test_collisions_keep_every_function(tmp_path: Path) -> None:
    """`ffi`, `ffi_`, `load`, `load_` all survive renaming, each bound to its own C function."""
    res = run_cli("build", CORPUS / "collisions" / "lib.c", "-o", tmp_path)
    assert res.exit_code == 0, res.output
    mod = import_file(tmp_path / "lib.py")
    # C ffi_ and load_ keep their names; C ffi and load (reserved) move out of the way.
    assert (mod.ffi_(), mod.ffi__(), mod.load_(), mod.load__()) == (2, 1, 3, 4)


def _write(d: Path, h: str, c: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "lib.h").write_text(h)
    (d / "lib.c").write_text('#include "lib.h"\n' + c)
    return d / "lib.c"


GOOD_H = "int one(void);\n"
GOOD_C = "int one(void) { return 1; }\n"


@pytest.mark.parametrize(
    ("name", "args", "exit", "message"),
    [
        ("missing_source", ["{d}/nope.c"], 2, "no such file"),
        ("source_is_dir", ["{d}"], 2, "is a directory"),
        ("missing_emcc", ["{src}", "--emcc", "/nonexistent/emcc"], 2, "/nonexistent/emcc"),
        ("out_unwritable", ["{src}", "-o", "/proc/embind-py-test/out"], 2, "/proc/embind-py-test"),
        ("out_is_file", ["{src}", "-o", "{d}/lib.h"], 2, "not a directory"),
        ("bad_name", ["{src}", "--name", "1abc"], 2, "--name"),
        ("keyword_name", ["{src}", "--name", "class"], 2, "Python keyword"),
        ("stdlib_name", ["{src}", "--name", "math"], 2, "--name 'math'"),
        ("shadowed_import", ["{src}", "--name", "typing"], 2, "the name of a standard module"),
        ("bad_opt", ["{src}", "-O", "9"], 2, "-O"),
        ("empty_opt", ["{src}", "-O", ""], 2, "-O ''"),
        ("empty_name", ["{src}", "-n", ""], 2, "--name ''"),
        ("runtime_dependency_name", ["{src}", "--name", "ctypes"], 2, "the name of a standard module"),
        ("json_name", ["{src}", "--name", "json"], 2, "the name of a standard module"),
        ("header_dev_null", ["{src}", "-H", "/dev/null"], 2, "header /dev/null: not a regular file"),
        ("bad_jobs", ["{src}", "-j", "0"], 2, "-j 0"),
        ("jobs_not_a_number", ["{src}", "-j", "abc"], 2, "'abc' is not a valid integer"),
        ("missing_header", ["{src}", "-H", "{d}/none.h"], 2, "none.h"),
        ("missing_include_dir", ["{src}", "-I", "{d}/nodir"], 2, "nodir"),
        ("bad_define", ["{src}", "-D", "1X=2"], 2, "-D"),
    ],
)
def test_bad_invocations(name: str, args: list[str], exit: int, message: str, tmp_path: Path) -> None:
    d = tmp_path / "src"
    src = _write(d, GOOD_H, GOOD_C)
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.format(d=d, src=src) for a in args]
    if "-o" not in argv:
        argv += ["-o", str(out)]
    res = run_cli("build", *argv)
    check_clean_failure(res, out, Case(exit, (message,)))
    assert not (d / "lib.py").exists()


def test_special_files_are_refused_not_read(tmp_path: Path) -> None:
    """A FIFO or a device as a source or --wasm would make emcc or the hashing wait forever."""
    src = _write(tmp_path / "src", GOOD_H, GOOD_C)
    fifo = tmp_path / "pipe.c"
    os.mkfifo(fifo)
    for args in (
        ["build", fifo],
        ["build", "/dev/zero", "--name", "z"],
        ["generate", src, "--wasm", fifo],
        ["generate", src, "--wasm", tmp_path],
    ):
        res = run_cli(*args, "-o", tmp_path / "out")
        assert res.exit_code == 2, (args, res.output)
        assert "not a regular file" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_module_name_from_a_stdlib_stem(tmp_path: Path) -> None:
    """`build math.c` would write math.py, which shadows the stdlib (and breaks its own import)."""
    d = tmp_path / "src"
    d.mkdir()
    (d / "math.c").write_text(GOOD_C)
    res = run_cli("build", d / "math.c", "-o", tmp_path)
    assert res.exit_code == 2, res.output
    assert "--name 'math'" in res.output and "choose another with --name" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "math.py").exists()


def test_output_target_is_a_directory(tmp_path: Path) -> None:
    src = _write(tmp_path / "src", GOOD_H, GOOD_C)
    out = tmp_path / "out"
    (out / "lib.py").mkdir(parents=True)
    res = run_cli("build", src, "-o", out)
    assert res.exit_code == 2, res.output
    assert "lib.py" in res.output and "is a directory" in res.output
    assert not (out / "lib.wasm").exists()  # nothing half-written


def test_failed_rebuild_keeps_the_previous_outputs(tmp_path: Path) -> None:
    d = tmp_path / "src"
    src = _write(d, GOOD_H, GOOD_C)
    assert run_cli("build", src, "-o", tmp_path).exit_code == 0
    before = (tmp_path / "lib.py").read_bytes(), (tmp_path / "lib.wasm").read_bytes()
    (d / "lib.c").write_text('#include "lib.h"\nint one(void) { return nope; }\n')
    res = run_cli("build", src, "-o", tmp_path)
    assert res.exit_code == 1
    assert ((tmp_path / "lib.py").read_bytes(), (tmp_path / "lib.wasm").read_bytes()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".lib")]


def test_huge_header(tmp_path: Path) -> None:
    n = 3000
    h = "".join(f"int f{i}(int a, double b, const char *s);\n" for i in range(n))
    c = "".join(f"int f{i}(int a, double b, const char *s) {{ return a + {i}; }}\n" for i in range(n))
    src = _write(tmp_path / "src", h, c)
    res = run_cli("build", src, "-o", tmp_path)
    assert res.exit_code == 0, res.output
    assert f"{n} functions bound" in res.output
    mod = import_file(tmp_path / "lib.py")
    assert mod.f2999(1, 0.0, "x") == 3000
