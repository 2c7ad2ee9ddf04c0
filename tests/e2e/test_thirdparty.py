"""Real third-party C libraries from upstream sources, as vendored in sdists on PyPI (fetched
at test time with pip, cached for offline runs), bound and exercised:

- lz4 1.9.4 from the `lz4` sdist: one source, buffers, opaque streams;
- SQLite 3.49.2 from the `better-sqlite3` npm tarball (the amalgamation, one 9 MB source built
  in about 30 s): `:memory:` databases, `sqlite3_exec` with a Python callback given `char **`
  rows, prepared statements, out-parameters, user functions C keeps;
- Lua 5.4.8 from the `lupa` sdist: 32 sources, `setjmp`/`longjmp` for every Lua error
  (also through Python callbacks), coroutines, the sandbox limits, and a generated module
  that passes `mypy --strict` and ruff.

The cache is `$EMBIND_PY_TEST_CACHE` or `~/.cache/embind-py-tests`.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from embind_py.runtime import WasmExit, WasmTimeout, WasmTrap
from tests.conftest import import_file, run_cli

LZ4_SDIST = "lz4==4.3.3"
LZ4_FILES = ("lz4.c", "lz4.h")

SQLITE_NPM = "better-sqlite3@11.10.0"  # bundles the SQLite 3.49.2 amalgamation in deps/sqlite3/
SQLITE_FILES = ("sqlite3.c", "sqlite3.h")

LUA_SDIST = "lupa==2.8"  # bundles Lua 5.4.8 in third-party/lua54/
LUA_DIR = "/third-party/lua54/"
LUA_SKIP = {"lua.c", "luac.c", "onelua.c", "ltests.c", "ltests.h"}  # programs, test builds


def _cache(name: str) -> Path:
    root = os.environ.get("EMBIND_PY_TEST_CACHE") or Path.home() / ".cache" / "embind-py-tests"
    return Path(root) / name


def sdist_sources(
    spec: str,
    name: str,
    keep: Callable[[str], bool],
    *,
    isolated: bool = True,
    env: dict[str, str] | None = None,
) -> Path:
    """The members of the sdist `spec` (`pkg==version`) for which `keep(member path)` is true,
    flattened into the cache folder `name` (downloaded once, then read from the cache).

    `isolated=False` lets pip read the sdist's metadata with this environment's setuptools
    instead of installing (and running) its build requirements first.
    """
    cache = _cache(name)
    done = cache / ".complete"
    if done.is_file():
        return cache
    dl = cache.with_name(cache.name + ".download")
    shutil.rmtree(dl, ignore_errors=True)
    dl.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    proc = subprocess.run(
        [*pip, *([] if isolated else ["--no-build-isolation"]), spec, "-d", str(dl)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, f"pip download {spec} failed:\n{proc.stdout}{proc.stderr}"
    (sdist,) = dl.glob("*.tar.gz")
    cache.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if member.isfile() and keep(member.name):
                f = tar.extractfile(member)
                assert f is not None
                (cache / Path(member.name).name).write_bytes(f.read())
    done.write_text(spec + "\n")
    shutil.rmtree(dl, ignore_errors=True)
    return cache


def npm_sources(spec: str, name: str, keep: Callable[[str], bool]) -> Path:
    """The members of the npm package `spec` (`pkg@version`) for which `keep(member path)` is
    true, flattened into the cache folder `name` (downloaded once with `npm pack`)."""
    cache = _cache(name)
    done = cache / ".complete"
    if done.is_file():
        return cache
    npm = shutil.which("npm")
    assert npm is not None, f"npm is needed once to fetch {spec} (then the cache {cache} is used)"
    dl = cache.with_name(cache.name + ".download")
    shutil.rmtree(dl, ignore_errors=True)
    dl.mkdir(parents=True)
    proc = subprocess.run(
        [npm, "pack", spec, "--pack-destination", str(dl)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"npm pack {spec} failed:\n{proc.stdout}{proc.stderr}"
    (tgz,) = dl.glob("*.tgz")
    cache.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            if member.isfile() and keep(member.name):
                f = tar.extractfile(member)
                assert f is not None
                (cache / Path(member.name).name).write_bytes(f.read())
    done.write_text(spec + "\n")
    shutil.rmtree(dl, ignore_errors=True)
    return cache


def sqlite_sources() -> Path:
    """sqlite3.c/sqlite3.h (the amalgamation) from the better-sqlite3 package on npm."""
    return npm_sources(
        SQLITE_NPM, "sqlite-3.49.2-better-sqlite3-11.10.0", lambda m: m.startswith("package/deps/sqlite3/")
        and Path(m).name in SQLITE_FILES,
    )


def lz4_sources() -> Path:
    """lz4.c/lz4.h from the lz4 sdist on PyPI."""
    cache = _cache("lz4-4.3.3")
    if all((cache / f).is_file() for f in LZ4_FILES):  # also a cache from before `.complete`
        return cache
    return sdist_sources(LZ4_SDIST, cache.name, lambda m: "/lz4libs/" in m and Path(m).name in LZ4_FILES)


def lua_sources() -> Path:
    """Lua 5.4's library sources and headers from the lupa sdist on PyPI."""

    def keep(m: str) -> bool:
        name = Path(m).name
        return m.endswith(LUA_DIR + name) and name.endswith((".c", ".h")) and name not in LUA_SKIP

    # Not isolated, and LUPA_NO_LUAJIT: lupa's setup.py would otherwise Cythonize its modules
    # and build LuaJIT (minutes) just to report its metadata.
    return sdist_sources(
        LUA_SDIST, "lua-5.4.8-lupa-2.8", keep, isolated=False, env={"LUPA_NO_LUAJIT": "true"}
    )


@pytest.fixture(scope="module")
def lz4(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    src = lz4_sources()
    d = tmp_path_factory.mktemp("lz4")
    for f in LZ4_FILES:
        shutil.copy(src / f, d / f)
    res = run_cli("build", d / "lz4.c", "--header", d / "lz4.h", "-o", d)
    assert res.exit_code == 0, res.output
    return import_file(d / "lz4.py")


def test_lz4_round_trip(lz4: ModuleType) -> None:
    data = b"embind-py binds real C libraries. " * 200 + bytes(range(256))
    bound = lz4.LZ4_compressBound(len(data))
    dst = bytearray(bound)
    n = lz4.LZ4_compress_default(data, dst, len(data), bound)
    assert 0 < n < len(data) // 4
    out = bytearray(len(data))
    assert lz4.LZ4_decompress_safe(bytes(dst[:n]), out, n, len(out)) == len(data)
    assert bytes(out) == data
    assert lz4.LZ4_versionString() == "1.9.4" and lz4.LZ4_versionNumber() == 10904
    assert lz4.LZ4_VERSION_MAJOR == 1  # a #define constant
    assert lz4.LZ4_VERSION_STRING == "1.9.4"  # `#` stringification of 1.9.4 keeps its spacing
    # corrupt input is reported by C, not a crash
    assert lz4.LZ4_decompress_safe(b"\xff" * 16, bytearray(64), 16, 64) < 0


def test_lz4_streaming_with_struct_pointers(lz4: ModuleType) -> None:
    lib: Any = lz4.load()
    stream = lib.LZ4_createStream()
    assert isinstance(stream, lz4.LZ4_stream_tPtr)
    chunks = [b"first chunk of text " * 20, b"second chunk of text " * 20]
    compressed = []
    ring = lib.ffi.new("char[]", 4096)  # sources must stay in place for the dictionary
    pos = 0
    for c in chunks:
        lib.ffi.memmove(ring + pos, c, len(c))
        dst = bytearray(lib.LZ4_compressBound(len(c)))
        n = lib.LZ4_compress_fast_continue(stream, ring + pos, dst, len(c), len(dst), 1)
        assert n > 0
        compressed.append(bytes(dst[:n]))
        pos += len(c)
    assert lib.LZ4_freeStream(stream) == 0
    dec = lib.LZ4_createStreamDecode()
    out = lib.ffi.new("char[]", 4096)
    pos = 0
    for c, orig in zip(compressed, chunks, strict=True):
        m = lib.LZ4_decompress_safe_continue(dec, c, out + pos, len(c), len(orig))
        assert m == len(orig) and lib.ffi.string(out + pos, m) == orig
        pos += m
    lib.LZ4_freeStreamDecode(dec)


# -- Lua 5.4 -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    src = sqlite_sources()
    d = tmp_path_factory.mktemp("sqlite")
    for f in SQLITE_FILES:
        shutil.copy(src / f, d / f)
    res = run_cli(
        "build", d / "sqlite3.c", "-H", d / "sqlite3.h", "-n", "sqlite", "-o", d,
        "-D", "SQLITE_THREADSAFE=0", "-D", "SQLITE_OMIT_LOAD_EXTENSION",
    )
    assert res.exit_code == 0, res.output
    return import_file(d / "sqlite.py")


def test_sqlite_exec_with_a_python_callback(sqlite: ModuleType) -> None:
    lib: Any = sqlite.load()
    ffi = lib.ffi
    pdb = ffi.new("sqlite3 **")
    assert lib.sqlite3_open(":memory:", pdb) == sqlite.SQLITE_OK
    db = pdb[0]
    assert isinstance(db, sqlite.sqlite3) and lib.sqlite3_libversion() == "3.49.2"
    sql = "CREATE TABLE t(a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'one'), (2, NULL), (3, 'thrée');"
    assert lib.sqlite3_exec(db, sql, None, None, None) == sqlite.SQLITE_OK
    rows: list[dict[bytes, bytes | None]] = []

    def row(ud: int | None, n: int, argv: Any, names: Any) -> int:
        assert ud is None
        rows.append({ffi.string(names[i]): argv[i] and ffi.string(argv[i]) for i in range(n)})
        return 0

    assert lib.sqlite3_exec(db, "SELECT a, b FROM t ORDER BY a", row, None, None) == sqlite.SQLITE_OK
    thr = "thrée".encode()
    assert rows == [{b"a": b"1", b"b": b"one"}, {b"a": b"2", b"b": None}, {b"a": b"3", b"b": thr}]
    assert lib.sqlite3_exec(db, "SELECT 1", lambda *a: 1, None, None) == sqlite.SQLITE_ABORT
    err = ffi.new("char **")  # an out-parameter: C allocates the message
    assert lib.sqlite3_exec(db, "SELECT * FROM nope", None, None, err) == sqlite.SQLITE_ERROR
    assert ffi.string(err[0]) == b"no such table: nope" == lib.sqlite3_errmsg(db).encode()
    lib.sqlite3_free(err[0])
    assert lib.sqlite3_close(db) == sqlite.SQLITE_OK


def test_sqlite_prepared_statements_and_user_functions(sqlite: ModuleType) -> None:
    lib: Any = sqlite.load()
    ffi = lib.ffi
    pdb, pst = ffi.new("sqlite3 **"), ffi.new("sqlite3_stmt **")
    assert lib.sqlite3_open_v2(":memory:", pdb, sqlite.SQLITE_OPEN_READWRITE, None) == sqlite.SQLITE_OK
    db = pdb[0]
    assert lib.sqlite3_exec(db, "CREATE TABLE t(a INTEGER, b TEXT, c BLOB)", None, None, None) == 0
    transient = ffi.cast("sqlite3_destructor_type", -1)  # SQLITE_TRANSIENT: SQLite copies
    assert lib.sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?, ?)", -1, pst, None) == 0
    st = pst[0]
    for i, text in enumerate(["héllo", None]):
        assert lib.sqlite3_bind_int64(st, 1, 2**40 + i) == 0
        bound = lib.sqlite3_bind_text(st, 2, text, -1, transient) if text else lib.sqlite3_bind_null(st, 2)
        assert bound == 0
        assert lib.sqlite3_bind_blob(st, 3, b"\0\1\2", 3, transient) == 0
        assert lib.sqlite3_step(st) == sqlite.SQLITE_DONE
        assert lib.sqlite3_reset(st) == 0
    assert lib.sqlite3_finalize(st) == 0

    def rep(ctx: Any, argc: int, argv: Any) -> None:  # C keeps it: made with ffi.callback
        n, s = lib.sqlite3_value_int(argv[0]), lib.sqlite3_value_text(argv[1])
        if s is None:
            lib.sqlite3_result_null(ctx)
        else:
            lib.sqlite3_result_text(ctx, ffi.string(s) * n, -1, transient)

    xfunc = ffi.callback("void (*)(sqlite3_context *, int, sqlite3_value **)", rep)  # no typedef in C
    assert lib.sqlite3_create_function(db, "rep", 2, sqlite.SQLITE_UTF8, None, xfunc, None, None) == 0
    assert lib.sqlite3_prepare_v2(db, "SELECT a, b, c, rep(2, b) FROM t ORDER BY a", -1, pst, None) == 0
    st, got = pst[0], []
    while lib.sqlite3_step(st) == sqlite.SQLITE_ROW:
        text = lib.sqlite3_column_text(st, 1)  # const unsigned char *: a pointer, NULL for NULL
        blob = bytes(ffi.buffer(lib.sqlite3_column_blob(st, 2), lib.sqlite3_column_bytes(st, 2)))
        twice = lib.sqlite3_column_text(st, 3)
        got.append((lib.sqlite3_column_int64(st, 0), text and ffi.string(text).decode(), blob,
                    twice and ffi.string(twice).decode()))
    assert lib.sqlite3_finalize(st) == 0
    assert got == [(2**40, "héllo", b"\0\1\2", "héllohéllo"), (2**40 + 1, None, b"\0\1\2", None)]
    assert lib.sqlite3_prepare_v2(db, "SELEC 1", -1, pst, None) == sqlite.SQLITE_ERROR and pst[0] is None
    assert lib.sqlite3_errmsg(db) == 'near "SELEC": syntax error'
    assert lib.sqlite3_close(db) == sqlite.SQLITE_OK


def test_sqlite_module_passes_mypy_strict_and_ruff(sqlite: ModuleType, tmp_path: Path) -> None:
    # Its nested function-pointer spellings and SQLITE_SOURCE_ID gave lines of up to 140 characters.
    (tmp_path / "sqlite.py").write_text(Path(sqlite.__file__ or "").read_text())
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
         "sqlite.py"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "MYPYPATH": str(root)}, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length", "110",
         "--select", "E,F,I,B,UP,RUF", "sqlite.py"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def lua(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    src = lua_sources()
    d = tmp_path_factory.mktemp("lua")
    for f in src.iterdir():
        if f.suffix in (".c", ".h"):
            shutil.copy(f, d / f.name)
    sources = sorted(d.glob("*.c"))
    assert len(sources) == 32
    headers = [arg for h in ("lua.h", "lauxlib.h", "lualib.h") for arg in ("-H", d / h)]
    res = run_cli("build", *sources, *headers, "-n", "lua", "-o", d)
    assert res.exit_code == 0, res.output
    assert "built" in res.output and "lua_pushvfstring skipped" in res.output  # va_list
    assert "lua_pushfstring skipped" not in res.output  # variadic: called with *args
    return import_file(d / "lua.py")


def _run(lib: Any, L: Any, code: str) -> tuple[int, str | None]:
    """Load and run `code` under lua_pcall; (status, the result or error message as a string)."""
    lib.lua_settop(L, 0)
    status = lib.luaL_loadstring(L, code)
    if status == 0:  # LUA_OK
        status = lib.lua_pcallk(L, 0, 1, 0, 0, None)  # lua_pcall is a macro
    return status, lib.luaL_tolstring(L, -1, None)


def _state(lib: Any) -> Any:
    L = lib.luaL_newstate()
    lib.luaL_openlibs(L)
    return L


def test_lua_runs_scripts_and_reports_errors(lua: ModuleType) -> None:
    out = io.StringIO()
    lib: Any = lua.load(stdout=out)
    L = _state(lib)
    assert isinstance(L, lua.lua_State)
    script = (
        "local t = {} for i = 1, 10 do t[i] = i * i end print('sum', #t, t[10])"
        " return string.format('%d-%s', 42, 'x')"
    )
    assert _run(lib, L, script) == (lua.LUA_OK, "42-x")
    assert _run(lib, L, "return string.format('%.3f %q', math.pi, 'a\\n')") == (0, '3.142 "a\\\n"')
    # a variadic C function: Lua's own printf, with an int, a string and a double
    assert lib.lua_pushfstring(L, "%d|%s|%f", 7, "seven", 0.5) == "7|seven|0.5"
    # every Lua error is a longjmp to the pcall's setjmp
    assert _run(lib, L, "error('boom')") == (lua.LUA_ERRRUN, '[string "error(\'boom\')"]:1: boom')
    status, msg = _run(lib, L, "local x = nil; return x.y")
    assert status == lua.LUA_ERRRUN and msg is not None and "attempt to index a nil value" in msg
    assert _run(lib, L, "return (")[0] == lua.LUA_ERRSYNTAX
    status, msg = _run(lib, L, "local function f(n) return f(n + 1) + 1 end return f(1)")
    assert status == lua.LUA_ERRRUN and msg is not None and "stack overflow" in msg
    coro = "local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1); error('in co ' .. b) end)"
    status, msg = _run(lib, L, coro + " local x = co(1); local ok, e = pcall(co, 5); return x .. ' ' .. e")
    assert status == 0 and msg is not None and msg.startswith("2 ") and msg.endswith("in co 5")
    # libc through the runtime: time, clock, no shell, no files
    clock = "return os.time() > 0 and os.clock() >= 0 and os.date('%Y') + 0 > 2000"
    assert _run(lib, L, clock) == (0, "true")
    assert _run(lib, L, "return os.execute()") == (0, "false")  # system(NULL): no shell
    assert _run(lib, L, "return io.open('/etc/passwd')") == (0, "nil")
    lib.lua_close(L)
    lib.flush()
    assert out.getvalue() == "sum\t10\t100\n"
    assert lua.LUA_VERSION == "Lua 5.4" and lua.LUA_RELEASE == "Lua 5.4.8" and lua.LUA_MULTRET == -1


def test_lua_calls_python_and_python_raises_lua_errors(lua: ModuleType) -> None:
    lib: Any = lua.load()
    L = _state(lib)

    def add(Lp: Any) -> int:
        lib.lua_pushnumber(Lp, lib.luaL_checknumber(Lp, 1) + lib.luaL_checknumber(Lp, 2))
        return 1

    def fail(Lp: Any) -> int:
        lib.lua_pushstring(Lp, "raised from Python")
        return int(lib.lua_error(Lp))  # longjmps out through this Python frame

    def boom(Lp: Any) -> int:
        raise KeyError("python")

    fns = [lib.ffi.callback("lua_CFunction", f) for f in (add, fail, boom)]  # kept by Lua
    for name, fn in zip(("add", "fail", "boom"), fns, strict=True):
        lib.lua_pushcclosure(L, fn, 0)
        lib.lua_setglobal(L, name)
    assert _run(lib, L, "return add(2, 3.5)") == (0, "5.5")
    status, msg = _run(lib, L, "return add('x', 1)")  # luaL_checknumber raises a Lua error
    assert status == lua.LUA_ERRRUN and msg is not None and "number expected" in msg
    assert _run(lib, L, "local ok, e = pcall(fail) return tostring(ok) .. ': ' .. e") == (
        0,
        "false: raised from Python",
    )
    assert _run(lib, L, "fail()") == (lua.LUA_ERRRUN, "raised from Python")
    with pytest.raises(KeyError):  # a Python exception is not a Lua error: it reaches the caller
        _run(lib, L, "return pcall(boom)")
    assert _run(lib, L, "return add(1, 1)") == (0, "2.0")


def test_lua_under_sandbox_limits(lua: ModuleType) -> None:
    lib: Any = lua.load(max_memory=32 << 20)
    L = _state(lib)
    hog = "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end"
    assert _run(lib, L, hog) == (lua.LUA_ERRMEM, "not enough memory")
    assert _run(lib, L, "return 'still running'") == (0, "still running")

    lib = lua.load(timeout=0.2)
    L = _state(lib)
    assert lib.luaL_loadstring(L, "while true do end") == 0
    with pytest.raises(WasmTimeout):
        lib.lua_pcallk(L, 0, 0, 0, 0, None)
    lib.reset()
    L = _state(lib)
    assert _run(lib, L, "return 1 + 1") == (0, "2")
    # an error outside any pcall: Lua's panic handler prints and calls abort()
    err = io.StringIO()
    lib = lua.load(stderr=err)
    L = _state(lib)
    assert lib.luaL_loadstring(L, "error('unprotected')") == 0
    with pytest.raises((WasmExit, WasmTrap)):  # abort(): exit code 1 up to emcc 3.1.58, then a trap
        lib.lua_callk(L, 0, 0, 0, None)
    assert "PANIC: unprotected error in call to Lua API" in err.getvalue()


LUA_USER = """
from __future__ import annotations

import lua

lib = lua.load()
L = lib.luaL_newstate()
if L is not None:
    lib.luaL_openlibs(L)
    status: int = lib.luaL_loadstring(L, "return 1")
    if status == lua.LUA_OK:
        status = lib.lua_pcallk(L, 0, 1, 0, 0, None)
    text: str | None = lib.lua_tolstring(L, -1, None)

    def cfunc(state: lua.lua_State | None) -> int:
        return 0

    lib.lua_pushcclosure(L, lib.ffi.callback("lua_CFunction", cfunc), 0)
    lib.lua_close(L)
"""


def test_lua_module_passes_mypy_strict_and_ruff(lua: ModuleType, tmp_path: Path) -> None:
    gen = Path(lua.__file__ or "")
    (tmp_path / "lua.py").write_text(gen.read_text())
    (tmp_path / "user.py").write_text(textwrap.dedent(LUA_USER))
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
         "lua.py", "user.py"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "MYPYPATH": str(root)}, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
         "--select", "E4,E7,E9,F,RUF022,RUF023", "lua.py"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sqlite_database_on_disk_across_two_instances(sqlite: ModuleType, tmp_path: Path) -> None:
    """An on-disk database (issue 12): created, with its rollback journal, by one instance in a
    granted folder; reopened and read by another; a read-only grant refuses to write it."""

    def open_db(lib: Any, path: str, flags: int) -> Any:
        pdb = lib.ffi.new("sqlite3 **")
        rc = lib.sqlite3_open_v2(path, pdb, flags, None)
        assert rc == sqlite.SQLITE_OK, (rc, pdb[0] and lib.sqlite3_errmsg(pdb[0]))
        return pdb[0]

    def run(lib: Any, db: Any, sql: str) -> list[tuple[bytes | None, ...]]:
        rows: list[tuple[bytes | None, ...]] = []

        def row(ud: int | None, n: int, argv: Any, names: Any) -> int:
            rows.append(tuple(argv[i] and lib.ffi.string(argv[i]) for i in range(n)))
            return 0

        rc = lib.sqlite3_exec(db, sql, row, None, None)
        assert rc == sqlite.SQLITE_OK, (rc, lib.sqlite3_errmsg(db))
        return rows

    rw = sqlite.SQLITE_OPEN_READWRITE | sqlite.SQLITE_OPEN_CREATE
    a: Any = sqlite.load(preopens={"/data": (tmp_path, "rw")})
    db = open_db(a, "/data/test.db", rw)
    run(a, db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
    run(a, db, "BEGIN; INSERT INTO t(v) VALUES ('one'), ('two');")
    assert (tmp_path / "test.db-journal").is_file()  # the rollback journal, on the host
    run(a, db, "COMMIT")
    assert not (tmp_path / "test.db-journal").exists()
    run(a, db, "INSERT INTO t(v) SELECT v || '!' FROM t")
    assert a.sqlite3_close(db) == sqlite.SQLITE_OK
    assert (tmp_path / "test.db").read_bytes()[:16] == b"SQLite format 3\0"

    b: Any = sqlite.load(preopens={"/db": (tmp_path, "rw")})
    db = open_db(b, "/db/test.db", sqlite.SQLITE_OPEN_READWRITE)
    assert run(b, db, "SELECT k, v FROM t ORDER BY k") == [
        (b"1", b"one"), (b"2", b"two"), (b"3", b"one!"), (b"4", b"two!")
    ]
    assert run(b, db, "PRAGMA integrity_check") == [(b"ok",)]
    assert b.sqlite3_close(db) == sqlite.SQLITE_OK

    ro: Any = sqlite.load(preopens={"/db": tmp_path})
    db = open_db(ro, "/db/test.db", sqlite.SQLITE_OPEN_READONLY)
    assert run(ro, db, "SELECT count(*) FROM t") == [(b"4",)]
    assert ro.sqlite3_exec(db, "INSERT INTO t(v) VALUES ('x')", None, None, None) == sqlite.SQLITE_READONLY
    assert ro.sqlite3_close(db) == sqlite.SQLITE_OK
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.db"]
