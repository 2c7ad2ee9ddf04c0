"""`embind-py build` as a build system: objects compiled once each, in parallel, through the
object cache; incremental rebuilds; concurrent builds; any size; C++; and the CLI's defects
(edited modules, special files, odd folder names, signals), all with the real emcc.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from embind_py import stamp
from embind_py.config import Options, make_config
from tests.conftest import import_file, run_cli

API = """\
#ifndef LIB_H
#define LIB_H
int fa(void);
int fb(void);
int fc(void);
#endif
"""
SHARED = "#define SHARED_VALUE 10\n"
SOURCES = {
    "a.c": '#include "lib.h"\n#include "shared.h"\nint fa(void) { return SHARED_VALUE + 1; }\n',
    "b.c": '#include "lib.h"\n#include "shared.h"\nint fb(void) { return SHARED_VALUE + 2; }\n',
    "c.c": '#include "lib.h"\nint fc(void) { return 3; }\n',
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh object cache for the test (and its build locks)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("EMBIND_PY_CACHE", str(d))
    monkeypatch.chdir(tmp_path)  # the project folder that recorded paths are relative to
    return d


def _project(d: Path) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    (d / "lib.h").write_text(API)
    (d / "shared.h").write_text(SHARED)
    for name, text in SOURCES.items():
        (d / name).write_text(text)
    return [d / n for n in SOURCES]


def _build(*args: str | Path) -> tuple[str, list[str], list[str]]:
    """Run `build -v`: (its output, the sources compiled, the sources taken from the cache)."""
    res = run_cli("build", *args, "-v")
    assert res.exit_code == 0, res.output
    # A compile's command line (emcc's, or the clang command emcc runs) names one source.
    commands = [line for line in res.output.splitlines() if line.startswith("$ ") and " -c " in line]
    compiled = [Path(re.findall(r"(\S+\.(?:c|cc|cpp|cxx))(?=\s)", c)[-1]).name for c in commands]
    cached = re.findall(r"^cached: (\S+)", res.output, re.M)
    shim = "embind_py_files.c"  # the runtime's file-system shim, compiled (and cached) as a source
    return res.output, [c for c in compiled if c != shim], [c for c in cached if c != shim]


def _values(module: Path) -> tuple[int, int, int]:
    mod = import_file(module)
    return mod.fa(), mod.fb(), mod.fc()


def test_incremental_rules(tmp_path: Path, cache: Path, emcc: object) -> None:
    srcs = _project(tmp_path / "p")
    out = tmp_path / "out"
    common: tuple[str | Path, ...] = (*srcs, "-H", tmp_path / "p" / "lib.h", "-n", "lib", "-o", out)
    _, compiled, cached = _build(*common)
    assert sorted(compiled) == ["a.c", "b.c", "c.c"] and not cached
    assert _values(out / "lib.py") == (11, 12, 3)

    # A no-op build decides from the stamp alone (how fast is a benchmark figure).
    cfg = make_config(srcs, Options(headers=(tmp_path / "p" / "lib.h",), name="lib", out=out))
    assert stamp.is_current(cfg)
    assert "lib is up to date" in run_cli("build", *common).output

    # Editing one source recompiles only that source.
    (tmp_path / "p" / "c.c").write_text(SOURCES["c.c"].replace("return 3", "return 30"))
    _, compiled, cached = _build(*common)
    assert compiled == ["c.c"] and sorted(cached) == ["a.c", "b.c"]
    assert _values(out / "lib.py") == (11, 12, 30)

    # Editing a header recompiles the sources that include it.
    (tmp_path / "p" / "shared.h").write_text(SHARED.replace("10", "20"))
    _, compiled, cached = _build(*common)
    assert sorted(compiled) == ["a.c", "b.c"] and cached == ["c.c"]
    assert _values(out / "lib.py") == (21, 22, 30)

    # Back to an earlier text: every object is in the cache already.
    (tmp_path / "p" / "shared.h").write_text(SHARED)
    _, compiled, cached = _build(*common)
    assert not compiled and len(cached) == 3

    # A change of flags recompiles everything; so does another emcc (here a wrapper of it).
    _, compiled, _ = _build(*common, "-D", "EXTRA=1")
    assert sorted(compiled) == ["a.c", "b.c", "c.c"]
    wrapper = tmp_path / "emcc-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("emcc")} "$@"\n')
    wrapper.chmod(0o755)
    _, compiled, _ = _build(*common, "--emcc", wrapper, "--force")
    assert sorted(compiled) == ["a.c", "b.c", "c.c"]

    # --no-cache compiles every source and keeps nothing.
    shutil.rmtree(cache)
    _, compiled, cached = _build(*common, "--no-cache", "--force", "-j", "1")
    assert sorted(compiled) == ["a.c", "b.c", "c.c"] and not cached
    assert not (cache / "build").exists()


def test_damaged_cache_entries_are_compiled_again(tmp_path: Path, cache: Path, emcc: object) -> None:
    srcs = _project(tmp_path / "p")
    out = tmp_path / "out"
    common: tuple[str | Path, ...] = (*srcs, "-H", tmp_path / "p" / "lib.h", "-n", "lib", "-o", out)
    _build(*common)
    wasm = (out / "lib.wasm").read_bytes()
    objects = list((cache / "build" / "objects").rglob("*.o"))
    manifests = list((cache / "build" / "manifests").rglob("*.json"))
    assert len(objects) == 5 and len(manifests) == 5  # with the file-system shim and the headers
    objects[0].write_bytes(objects[0].read_bytes()[:100])  # truncated
    for o in objects[1:]:
        o.write_bytes(b"\0asm" + os.urandom(200))  # garbage under the right name
    manifests[0].write_text("{not json")
    _, compiled, cached = _build(*common, "--force")
    assert len(compiled) == 3 and not cached  # every object was damaged
    assert (out / "lib.wasm").read_bytes() == wasm  # the same bytes as from a fresh cache
    assert _values(out / "lib.py") == (11, 12, 3)
    _, compiled, cached = _build(*common, "--force")  # repaired
    assert not compiled and len(cached) == 3


def _cli(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "embind_py", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_concurrent_builds_of_one_output_never_mix_a_pair(tmp_path: Path, cache: Path, emcc: object) -> None:
    """Two builds of different sources into the same NAME.py/NAME.wasm at once (and two of the
    same): whichever finishes last, the pair on disk belongs together."""
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    for d, value in ((v1, 1), (v2, 2)):
        d.mkdir()
        (d / "lib.h").write_text("int version(void);\n" + "".join(f"int f{i}(void);\n" for i in range(value)))
        body = "".join(f"int f{i}(void) {{ return {i}; }}\n" for i in range(value))
        (d / "lib.c").write_text(f'#include "lib.h"\nint version(void) {{ return {value}; }}\n{body}')
    out = tmp_path / "out"
    env = {"EMBIND_PY_CACHE": str(cache)}
    with ThreadPoolExecutor(4) as pool:
        runs = [pool.submit(_cli, "build", d / "lib.c", "-o", out, env=env) for d in (v1, v2, v1, v2)]
        results = [r.result(timeout=300) for r in runs]
    for r in results:
        assert r.returncode == 0, r.stderr
    st = stamp.read_stamp(out / "lib.py")
    assert st is not None and st.wasm == stamp.wasm_digest((out / "lib.wasm").read_bytes())
    mod = import_file(out / "lib.py")
    assert len([n for n in ("f0", "f1") if hasattr(mod, n)]) == mod.version()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_twenty_thousand_functions(tmp_path: Path, cache: Path, emcc: object) -> None:
    """Export lists pass emcc through a response file: 20,000 long names are about 900 kB, far
    past the system's limit for one argument (128 kB)."""
    n, parts = 20_000, 4
    d = tmp_path / "big"
    d.mkdir()
    name = "embind_py_generated_function_number_{:05d}"
    (d / "big.h").write_text("".join(f"int {name.format(i)}(int x);\n" for i in range(n)))
    per = n // parts
    srcs = []
    for p in range(parts):
        body = "".join(
            f"int {name.format(i)}(int x) {{ return x + {i}; }}\n" for i in range(p * per, (p + 1) * per)
        )
        (d / f"part{p}.c").write_text(body)
        srcs.append(d / f"part{p}.c")
    res = run_cli("build", *srcs, "-H", d / "big.h", "-n", "big", "-o", d, "-O", "0")
    assert res.exit_code == 0, res.output[-3000:]
    assert f"{n} functions bound" in res.output
    mod = import_file(d / "big.py")
    assert getattr(mod, name.format(0))(1) == 1
    assert getattr(mod, name.format(n - 1))(1) == n


CXX_HEADER = """\
#ifndef BAG_H
#define BAG_H
#ifdef __cplusplus
extern "C" {
#endif
typedef struct Bag Bag;
Bag *bag_new(void);
void bag_add(Bag *b, double x);
double bag_sum(const Bag *b);
int bag_count(const Bag *b);
const char *bag_name(const Bag *b);
void bag_free(Bag *b);
int c_twice(int x);
#ifdef __cplusplus
}
#endif
#endif
"""
CXX_SOURCE = """\
#include "bag.h"
#include <numeric>
#include <string>
#include <vector>
struct Bag { std::vector<double> xs; std::string name = "bag"; };
extern "C" {
Bag *bag_new(void) { return new Bag(); }
void bag_add(Bag *b, double x) { b->xs.push_back(x); b->name += "+"; }
double bag_sum(const Bag *b) { return std::accumulate(b->xs.begin(), b->xs.end(), 0.0); }
int bag_count(const Bag *b) { if constexpr (sizeof(int) == 4) return (int)b->xs.size(); else return -1; }
const char *bag_name(const Bag *b) { return b->name.c_str(); }
void bag_free(Bag *b) { delete b; }
}
"""
C_SOURCE = """\
#include "bag.h"
int c_twice(int x) { for (int i = 0; i < 1; i++) {} return 2 * x; }
"""


@pytest.mark.parametrize("suffix", [".cpp", ".cc", ".cxx"])
def test_cxx_sources_with_a_c_header(tmp_path: Path, cache: Path, suffix: str, emcc: object) -> None:
    """A C API over C++ code (`if constexpr` needs C++17), mixed with a C99 source: each `-std=`
    goes to its own language's compiles."""
    (tmp_path / "bag.h").write_text(CXX_HEADER)
    (tmp_path / f"bag{suffix}").write_text(CXX_SOURCE)
    (tmp_path / "twice.c").write_text(C_SOURCE)
    res = run_cli(
        "build",
        tmp_path / f"bag{suffix}",
        tmp_path / "twice.c",
        "-H",
        tmp_path / "bag.h",
        "-o",
        tmp_path,
        "--cflag=-std=c++17",
        "--cflag=-std=c99",
    )
    assert res.exit_code == 0, res.output
    mod = import_file(tmp_path / "bag.py")
    b = mod.bag_new()
    mod.bag_add(b, 1.5)
    mod.bag_add(b, 2.0)
    assert (mod.bag_sum(b), mod.bag_count(b), mod.bag_name(b), mod.c_twice(21)) == (3.5, 2, "bag++", 42)
    mod.bag_free(b)


def _one(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "lib.h").write_text('#include "inc.h"\nint one(void);\n')
    (d / "inc.h").write_text("#define ONE 1\n")
    (d / "lib.c").write_text('#include "lib.h"\nint one(void) { return ONE; }\n')
    return d / "lib.c"


def test_an_edited_or_truncated_module_is_stale(tmp_path: Path, cache: Path, emcc: object) -> None:
    src = _one(tmp_path)
    assert run_cli("build", src, "-o", tmp_path).exit_code == 0
    py = tmp_path / "lib.py"
    good = py.read_text()
    cfg = make_config([src], Options(out=tmp_path))
    assert stamp.stale_reasons(cfg) == []
    for bad in (good[: len(good) // 2], good.replace("return ", "return 1 + ", 1), good + "x = 1\n"):
        py.write_text(bad)
        assert stamp.stale_reasons(cfg) == [
            "lib.py is not what the build wrote (edited, truncated or damaged)"
        ]
        res = run_cli("build", src, "-o", tmp_path)
        assert res.exit_code == 0 and "is up to date" not in res.output
        assert py.read_text() == good
    py.write_text(good.replace("\n", "\r\n"))  # git on Windows: still current
    assert stamp.stale_reasons(cfg) == []


def test_special_files_among_the_inputs_are_refused(tmp_path: Path, cache: Path, emcc: object) -> None:
    """`check` of a module whose included header became a FIFO or a link to /dev/zero answers at
    once (exit 2), instead of waiting for a writer or reading without end."""
    src = _one(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[[tool.embind-py.target]]\nname = "lib"\nsources = ["lib.c"]\n')
    assert run_cli("build", "--project", tmp_path).exit_code == 0
    inc = tmp_path / "inc.h"
    inc.unlink()
    os.mkfifo(inc)
    res = _cli("check", "--project", tmp_path, timeout=60)
    assert res.returncode == 2 and "inc.h: not a regular file" in res.stderr, res.stderr
    inc.unlink()
    inc.symlink_to("/dev/zero")
    res = _cli("check", "--project", tmp_path, timeout=60)
    assert res.returncode == 2 and "inc.h: not a regular file" in res.stderr, res.stderr
    assert src.exists()


# A carriage return in a folder name still breaks in toolchain.py: `_UNSAFE_IN_INCLUDE` lacks
# "\r" (the umbrella's #include line of a header there breaks), and the -MMD depfile is read
# with universal newlines (its paths come back with "\n" for "\r").


@pytest.mark.parametrize(
    "folder",
    [
        'q"uote',
        '"quoted',
        "back\\slash",
        "new\nline",
        "car\rriage",
    ],
)
def test_odd_folder_names(tmp_path: Path, cache: Path, folder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _one(tmp_path / folder / "csrc")
    monkeypatch.chdir(tmp_path / folder)
    res = run_cli("build", src, "-o", src.parent)
    assert res.exit_code == 0, res.output
    assert import_file(src.parent / "lib.py").one() == 1
    text = (src.parent / "lib.py").read_text()
    assert "csrc/inc.h" in text.split('"""')[0]  # the included header is recorded under its real name
    assert stamp.stale_reasons(make_config([src], Options(out=src.parent))) == []
    # The same sources in a plain folder give the same bytes (paths are relative to the root).
    plain = _one(tmp_path / "plain" / "csrc")
    monkeypatch.chdir(tmp_path / "plain")
    assert run_cli("build", plain, "-o", plain.parent).exit_code == 0
    assert (plain.parent / "lib.py").read_text() == text
    # From the folder above, the odd name is in every recorded path: the header quotes it where
    # it must (`stamp.quote_path`), and reads it back, so the module is current and `check` agrees.
    monkeypatch.chdir(tmp_path)
    res = run_cli("build", src, "-o", src.parent)
    assert res.exit_code == 0, res.output
    text = (src.parent / "lib.py").read_text()
    assert stamp.quote_path(f"{folder}/csrc/inc.h") in text.split('"""')[0]
    assert all(line.startswith("#") for line in text.split('"""')[0].splitlines())  # no name ends a comment
    assert import_file(src.parent / "lib.py").one() == 1
    assert stamp.stale_reasons(make_config([src], Options(out=src.parent))) == []
    assert "is up to date" in run_cli("build", src, "-o", src.parent).output


@pytest.mark.parametrize(
    "path",
    ["plain/lib.c", "new\nline", "cr\r", "tab\there", "back\\slash", '"start', 'mid"dle', "\udcff", "\u2028"],
)
def test_quoted_paths_read_back(path: str) -> None:
    """Every path comes back from the header line as it went in; a plain one is written as it is."""
    quoted = stamp.quote_path(path)
    assert stamp.unquote_path(quoted) == path
    assert quoted == path or (quoted.isprintable() and quoted.isascii())
    assert (quoted == path) == (path in ("plain/lib.c", 'mid"dle'))


def test_project_in_a_folder_with_a_newline(tmp_path: Path, cache: Path, emcc: object) -> None:
    """A project whose folder, and whose sources' folder, hold a line break: built, current for
    `check`, and stale once a header it includes (from that folder, by -iquote) is edited."""
    proj = tmp_path / "my\nproject"
    src = _one(proj / "c\nsrc")
    (proj / "pyproject.toml").write_text(
        '[[tool.embind-py.target]]\nname = "lib"\nsources = ["c\\nsrc/lib.c"]\nout = "out"\n'
    )
    res = _cli("build", "--project", proj)
    assert res.returncode == 0, res.stderr
    assert import_file(proj / "out" / "lib.py").one() == 1
    res = _cli("check", "--project", proj, timeout=60)
    assert res.returncode == 0 and "lib: up to date" in res.stdout, (res.stdout, res.stderr)
    (src.parent / "inc.h").write_text("#define ONE 2\n")
    res = _cli("check", "--project", proj, timeout=60)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert 'lib: stale: input "c\\nsrc/inc.h" changed' in res.stdout, res.stdout
    assert _cli("build", "--project", proj).returncode == 0
    assert import_file(proj / "out" / "lib.py").one() == 2
    assert _cli("check", "--project", proj, timeout=60).returncode == 0


def test_cli_errors_without_tracebacks(tmp_path: Path, cache: Path, emcc: object) -> None:
    src = _one(tmp_path / "src")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    res = run_cli("build", src, "-o", loop)
    assert res.exit_code == 2 and "--out" in res.output and "Traceback" not in res.output
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_bytes(b'[project]\nname = "caf\xe9"\n')
    res = run_cli("check", "--project", proj)
    assert res.exit_code == 2 and "not UTF-8" in res.output, res.output
    # A source outside the project folder (the current folder) builds.
    elsewhere = _one(tmp_path / "elsewhere")
    assert run_cli("build", elsewhere, "-o", tmp_path / "out").exit_code == 0


def _children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_sigterm_during_a_build_leaves_no_temporary_files(tmp_path: Path, cache: Path, emcc: object) -> None:
    srcs = _project(tmp_path / "p")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "EMBIND_PY_CACHE": str(cache)}
    cmd = [
        sys.executable,
        "-m",
        "embind_py",
        "build",
        *map(str, srcs),
        "-n",
        "lib",
        "-o",
        str(tmp_path / "out"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not _children_of(proc.pid) and time.monotonic() < deadline:  # wait for emcc to run
        time.sleep(0.02)
    assert _children_of(proc.pid), "no emcc started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "terminated" in err
    assert not list(tmp.iterdir())  # ours and emcc's temporary files are gone
    assert not (tmp_path / "out" / "lib.py").exists()


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.6])
def test_ctrl_c_while_starting_is_quiet(tmp_path: Path, delay: float) -> None:
    """Ctrl-C while the CLI's modules load (typer takes 0.04 s) or while it builds: exit 130
    (with at most one line), no temporary file left. (Before Python has run the console
    script's first import, the interpreter itself reports it, as for any Python program: here
    up to about 20 ms after the start, most of it `site` running the editable install's finder,
    and longer under load, so 0.03 s is not always past it.)"""
    src = _one(tmp_path / "src")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "EMBIND_PY_CACHE": str(tmp_path / "cache")}
    script = Path(sys.executable).with_name("embind-py")
    proc = subprocess.Popen(
        [str(script), "build", str(src), "-o", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode == 130, (proc.returncode, err)
    assert not list(tmp.iterdir())


def test_memory_error_is_one_line(tmp_path: Path) -> None:
    """`check` reads the whole module; under a memory limit lower than that, one line, exit 2."""
    proj = tmp_path / "proj"
    src = _one(proj)
    (proj / "pyproject.toml").write_text('[[tool.embind-py.target]]\nname = "lib"\nsources = ["lib.c"]\n')
    big = proj / "lib.py"
    big.write_text("# embind-py-inputs: sha256:00 emcc=3.1.6\n")
    with big.open("a") as f:
        f.write(("#" * 1023 + "\n") * (400 * 1024))  # 400 MiB
    code = textwrap.dedent(
        f"""
        import re, resource, sys
        from embind_py import cli
        vm = int(re.search(r"VmSize:\\s+(\\d+)", open("/proc/self/status").read())[1]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + (200 << 20), resource.RLIM_INFINITY))
        sys.argv = ["embind-py", "check", "--project", {str(proj)!r}]
        cli.run()
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "out of memory" in res.stderr, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert src.exists()


def test_a_quick_rebuild_never_imports_the_old_bytecode(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python trusts a `.pyc` whose source has the size and the time in whole seconds it
    recorded; a rebuild within the same second writes a NAME.py of the same size (only the
    hashes change), so its time moves on, and the import runs the new module with its wasm."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as a user's Python does
    src = tmp_path / "p" / "k.c"
    src.parent.mkdir()
    (tmp_path / "p" / "k.h").write_text("int k(void);\n")
    for value in (11, 22, 33):
        src.write_text(f"int k(void) {{ return {value}; }}\n")
        res = run_cli("build", src, "-o", tmp_path / "out")
        assert res.exit_code == 0, res.output
        mod = import_file(tmp_path / "out" / "k.py", name="k_rebuilt")  # one name: one .pyc
        assert mod.k() == value
        assert list((tmp_path / "out" / "__pycache__").glob("k.*.pyc"))
