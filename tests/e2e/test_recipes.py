"""Compiles through emcc's learnt clang command (`embind_py.recipes`): the same bytes as emcc's
own compile, learnt once per emcc and flags, and emcc again whenever that cannot be trusted."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from embind_py import recipes
from tests.conftest import run_cli

HEADER = "struct pair { int a; char b; };\nint twice(int x);\nint pair_sum(struct pair p);\n"
SOURCE = '#include <string.h>\n#include "lib.h"\nint twice(int x) { return 2 * x; }\n' + (
    "int pair_sum(struct pair p) { return p.a + p.b + (int)strlen(__FILE__); }\n"
)
CXX = '#include "lib.h"\n#include <vector>\n' + (
    'extern "C" int cxx_len(void) { return (int)std::vector<int>(3).size(); }\n'
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "p"
    d.mkdir()
    guard = '#ifdef __cplusplus\nextern "C" {\n#endif\n'
    (d / "lib.h").write_text(guard + HEADER + "int cxx_len(void);\n" + guard.replace('extern "C" {', "}"))
    (d / "lib.c").write_text(SOURCE)
    (d / "more.cpp").write_text(CXX)
    monkeypatch.chdir(d)
    return d


def _build(project: Path, out: str, *extra: str) -> str:
    res = run_cli("build", "lib.c", "more.cpp", "-H", "lib.h", "-o", out, "-v", "--force", *extra)
    assert res.exit_code == 0, res.output
    return str(res.output)


def _commands(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("$ ")]


@pytest.mark.parametrize("cflags", [(), ("--cflag=-g", "--cflag=-DEXTRA=1", "--cflag=-std=gnu11")])
def test_the_learnt_command_builds_what_emcc_builds(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cflags: tuple[str, ...]
) -> None:
    """The same project through emcc (cache off) and through the learnt clang commands (a fresh
    cache: learnt, then used) gives byte-identical wasm and modules; a second build runs no emcc
    but the link."""
    monkeypatch.setenv("EMBIND_PY_CACHE", "off")
    by_emcc = _build(project, "a", *cflags)
    assert all(re.search(r"em(cc|\+\+)$", c.split()[1]) for c in _commands(by_emcc))
    monkeypatch.setenv("EMBIND_PY_CACHE", str(tmp_path / "cache"))
    first = _build(project, "b", *cflags)
    assert "learning emcc's clang command" in first
    (project / "lib.c").write_text(SOURCE + "int unused_here(void) { return 1; }\n")  # compiled again
    second = _build(project, "c", *cflags)
    (project / "lib.c").write_text(SOURCE)
    third = _build(project, "d", *cflags)
    assert "learning" not in second + third
    assert "started early" in second  # the link's emcc started before the compiles (EarlyLink)
    for out in (second,):
        compiles = [c for c in _commands(out) if " -c " in c or " -E " in c]
        assert compiles and all(re.search(r"clang(\+\+)?(-\d+)? ", c.split("  (")[0]) for c in compiles), (
            compiles
        )
        assert [c for c in _commands(out) if re.search(r"em(cc|\+\+)$", c.split()[1])] == [
            c for c in _commands(out) if "--no-entry" in c
        ]  # the link only
    for name in ("lib.wasm", "lib.py"):
        assert (
            (project / "a" / name).read_bytes()
            == (project / "b" / name).read_bytes()
            == (project / "d" / name).read_bytes()
        ), name


def test_a_compiler_wrapper_of_the_user_stays_in_charge(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `EM_COMPILER_WRAPPER` set (ccache, say), every compile goes through emcc, which runs it."""
    wrapper = tmp_path / "wrap.sh"
    log = tmp_path / "wrapped.log"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("EMBIND_PY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EM_COMPILER_WRAPPER", str(wrapper))
    out = _build(project, "w")
    assert "learning" not in out
    assert "lib.c" in log.read_text() and "more.cpp" in log.read_text()


def _build_process(project: Path, out: str) -> str:
    """`_build` in a process of its own (a CLI run: nothing learnt in this one carries over)."""
    argv = [sys.executable, "-m", "embind_py", "build", "lib.c", "more.cpp", "-H", "lib.h", "-o", out, "-v"]
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def test_a_damaged_recipe_is_learnt_again(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("EMBIND_PY_CACHE", str(cache))
    _build_process(project, "x")
    files = sorted((cache / "build" / "recipes").glob("*.json"))
    assert len(files) >= 4  # C and C++ compiles, -E, -dM -E (and the record layouts)
    for f in files:
        data = json.loads(f.read_text())
        if data["template"]:
            data["template"][1:1] = ["-DINJECTED=1"]  # a hand edit: its hash no longer matches
        f.write_text(json.dumps(data))
    out = _build_process(project, "y")
    assert "learning" in out and "INJECTED" not in out
    assert (project / "x" / "lib.wasm").read_bytes() == (project / "y" / "lib.wasm").read_bytes()


# -- the template logic, without processes ------------------------------------------------

PH = "/tmp/ph"
BLOCK = recipes.placeholder_block(PH)


def test_learn_and_fill() -> None:
    recorded = [
        ["/usr/bin/clang", "--version"],
        ["/usr/bin/clang", "-target", "wasm32", "-c", *BLOCK, "-O2", f"{PH}/f0.c", "-o", f"{PH}/f1.o"],
    ]
    t = recipes.learn(recorded, BLOCK, [f"{PH}/f0.c", f"{PH}/f1.o"], PH)
    assert t is not None
    argv = recipes.fill(t, ["-I/inc", "-DX=1"], ["/src/a.c", "/tmp/a.o"])
    assert argv == [
        "/usr/bin/clang",
        "-target",
        "wasm32",
        "-c",
        "-I/inc",
        "-DX=1",
        "-O2",
        "/src/a.c",
        "-o",
        "/tmp/a.o",
    ]
    assert recipes.fill(t, [], ["s.c", "s.o"])[4:] == ["-O2", "s.c", "-o", "s.o"]


@pytest.mark.parametrize(
    "recorded",
    [
        [],  # emcc ran no clang through the wrapper
        [["clang", *BLOCK, f"{PH}/f0.c"], ["clang", *BLOCK, f"{PH}/f0.c"]],  # two clangs
        [["clang", f"@{PH}/args.rsp"]],  # a response file
        [["clang", *BLOCK[:-1], f"{PH}/f0.c"]],  # the block changed
        [["clang", *BLOCK, f"{PH}/f0.c", f"-MT{PH}/f0.c"]],  # the folder elsewhere
        [["clang", *BLOCK, *BLOCK, f"{PH}/f0.c"]],  # the block twice
    ],
)
def test_an_ambiguous_recording_is_no_template(recorded: list[list[str]]) -> None:
    assert recipes.learn(recorded, BLOCK, [f"{PH}/f0.c"], PH) is None


def test_block_kinds() -> None:
    assert recipes.is_block(
        ["-I/a b", "-DX(y)=y", "-iquote", "/q", "-ffile-prefix-map=/a=", "-fdebug-compilation-dir=."]
    )
    assert recipes.is_block([])
    for bad in (["-I"], ["-iquote"], ["-O2"], ["-include", "x.h"], ["-sSTRICT"]):
        assert not recipes.is_block(bad), bad


def test_store_round_trip_and_damage(tmp_path: Path) -> None:
    store = recipes.RecipeStore(tmp_path)
    clang = tmp_path / "clang"
    clang.write_text("")
    assert store.get("k") == (False, None)
    store.put("k", [str(clang), recipes.BLOCK])
    assert store.get("k") == (True, [str(clang), recipes.BLOCK])
    store.put("n", None)
    assert store.get("n") == (True, None)  # not learnable: emcc, without asking again
    clang.write_text("a new clang")
    assert store.get("k") == (False, None)  # its clang changed: learnt again
    (tmp_path / "recipes" / "n.json").write_text("{")
    assert store.get("n") == (False, None)
