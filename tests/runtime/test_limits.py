"""Instance limits (timeout, fuel, max_memory, preopens), the exception hierarchy and reset(),
on the tiny hand-written module of `_wat` (no emcc)."""

from __future__ import annotations

import resource
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from embind_py.runtime import (
    Instance,
    WasmBoundsError,
    WasmError,
    WasmExit,
    WasmLinkError,
    WasmOutOfFuel,
    WasmTimeout,
    WasmTrap,
    _fastcall,
)

from . import _wat


def make(**options: Any) -> Instance:
    return Instance(_wat.wasm(), _wat.SIGNATURES, **options)


def call(inst: Instance, name: str, *args: int) -> int:
    """Call export `name` through its fast caller, under the instance's lock as wrappers do;
    ints only (i64 for 'I' slots)."""
    c, v = inst._bind(name)
    params = _wat.SIGNATURES[name][0]
    with inst._lock:
        for i, (a, kind) in enumerate(zip(args, params, strict=True)):
            if kind == "I":
                v[i].i64 = a
            else:
                v[i].i32 = a
        c()
        return int(v[0].i32)


# -- timeout ---------------------------------------------------------------


def test_timeout_stops_an_infinite_loop_promptly() -> None:
    inst = make(timeout=0.2)
    t0 = time.perf_counter()
    with pytest.raises(WasmTimeout) as ei:
        call(inst, "spin")
    elapsed = time.perf_counter() - t0
    assert 0.2 <= elapsed < 0.7, elapsed
    assert ei.value.code == "interrupt"
    assert ei.value.frames[0] == "spin"
    assert "timeout=0.2 s" in str(ei.value)
    assert isinstance(ei.value, WasmTrap) and isinstance(ei.value, WasmError)
    assert call(inst, "add", 2, 3) == 5  # still usable


def test_timeout_restores_the_stack_pointer() -> None:
    inst = make(timeout=0.05)
    sp = call(inst, "get_sp")
    with pytest.raises(WasmTimeout):
        call(inst, "spin_deep")  # moves the stack pointer, then loops
    assert call(inst, "get_sp") == sp


def test_timeout_is_per_call_not_cumulative() -> None:
    inst = make(timeout=0.05)
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 0.2:  # many short calls, together longer than the timeout
        assert call(inst, "count", 1000) == 1000
        n += 1
    assert n > 10


def test_timed_instances_run_in_parallel() -> None:
    insts = [make(timeout=0.3) for _ in range(4)]
    errors: list[BaseException] = []

    def run(inst: Instance) -> None:
        try:
            call(inst, "spin")
        except WasmTimeout as e:
            errors.append(e)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in insts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.perf_counter() - t0
    assert len(errors) == 4
    assert elapsed < 0.3 * 4 * 0.75, elapsed  # the wasm calls overlap (the GIL is released)


# -- fuel ------------------------------------------------------------------


def test_fuel_budget_is_exhausted_and_per_call() -> None:
    inst = make(fuel=20_000)
    for _ in range(100):  # the budget is refilled for every call
        assert call(inst, "count", 1000) == 1000
    with pytest.raises(WasmOutOfFuel) as ei:
        call(inst, "count", 10_000_000)
    assert ei.value.code == "out of fuel"
    assert "fuel=20000" in str(ei.value)
    assert call(inst, "add", 1, 1) == 2


def test_fuel_and_timeout_together() -> None:
    inst = make(fuel=10**12, timeout=0.05)
    with pytest.raises(WasmTimeout):
        call(inst, "spin")
    inst = make(fuel=1000, timeout=5)
    with pytest.raises(WasmOutOfFuel):
        call(inst, "spin")


def test_callback_reentering_runs_on_the_outer_budget() -> None:
    inst = make(fuel=50_000, timeout=1)
    inst.test_cb = lambda x: call(inst, "add", x, 1)  # type: ignore[attr-defined]
    assert call(inst, "reenter", 41) == 42
    inst.test_cb = lambda x: call(inst, "spin")  # type: ignore[attr-defined]
    with pytest.raises(WasmOutOfFuel):
        call(inst, "reenter", 0)
    assert call(inst, "add", 2, 2) == 4


# -- max_memory ------------------------------------------------------------


def test_malloc_bomb_returns_null_under_max_memory() -> None:
    limit = 8 << 20
    inst = make(max_memory=limit)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    got = call(inst, "malloc_bomb", 1 << 20)  # 1 MiB blocks until malloc returns NULL
    assert 0 < got < 8
    assert inst.memory_size() <= limit
    assert inst.malloc(1 << 20) == 0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert (rss1 - rss0) * 1024 < 64 << 20  # host memory stays bounded (ru_maxrss is KiB on Linux)
    assert call(inst, "add", 1, 2) == 3


def test_max_memory_below_initial_memory_is_a_clear_error() -> None:
    with pytest.raises(WasmLinkError, match="max_memory"):
        make(max_memory=4096)


@pytest.mark.parametrize(
    ("options", "exc"),
    [
        ({"timeout": -1}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"timeout": "1"}, TypeError),
        ({"fuel": 0}, ValueError),
        ({"fuel": 1.5}, TypeError),
        ({"max_memory": True}, TypeError),
        ({"preopens": ["/tmp"]}, TypeError),
        ({"preopens": {"/d": "/nonexistent/folder"}}, ValueError),
        ({"preopens": {"/d": ("/tmp", "rwx")}}, ValueError),
        ({"preopens": {"/d": "/tmp", "/d/e": "/tmp"}}, ValueError),  # grants cannot nest
        ({"preopens": {"/d/../e": "/tmp"}}, ValueError),
        ({"host": [print]}, TypeError),
        ({"host": {"nothing_imports_this": print}}, WasmLinkError),
    ],
)
def test_bad_options(options: dict[str, Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        make(**options)


# -- traps and exits -------------------------------------------------------


def test_trap_kinds_and_frames() -> None:
    inst = make()
    with pytest.raises(WasmTrap) as ei:
        call(inst, "boom")
    assert ei.value.code == "unreachable"
    assert ei.value.frames[:2] == ("inner_boom", "boom")
    assert ei.value.function == "inner_boom"
    with pytest.raises(WasmTrap) as ei:
        call(inst, "div", 1, 0)
    assert ei.value.code == "integer division by zero"
    with pytest.raises(WasmTrap) as ei:
        call(inst, "bad_load", 0x7FFFFFF0)
    assert ei.value.code == "memory out of bounds"
    with pytest.raises(WasmExit) as ex:
        call(inst, "quit", 3)
    assert ex.value.code == 3
    assert call(inst, "add", 20, 22) == 42


def test_host_exception_does_not_leak_through_wasmtime_global() -> None:
    inst = make()

    def bad(x: int) -> int:
        raise KeyError("from python")

    inst.test_cb = bad  # type: ignore[attr-defined]
    with pytest.raises(KeyError):
        call(inst, "reenter", 1)
    from wasmtime import _func

    assert _func.LAST_EXCEPTION is None
    # Another thread's exception, parked in wasmtime-py's one global after ours, is left alone.
    other = RuntimeError("another thread's")
    _func.LAST_EXCEPTION = other
    try:
        _fastcall.clear_last_exception(KeyError("ours"))
        assert _func.LAST_EXCEPTION is other
    finally:
        _fastcall.clear_last_exception()


def test_bounds_errors_are_value_errors() -> None:
    inst = make()
    size = inst.memory_size()
    for ptr, n in ((size - 2, 4), (-1, 1), (0, -1), (2**40, 1)):
        with pytest.raises(WasmBoundsError):
            inst.mem.read(ptr, n)
    for ptr in (size - 2, -1, 2**40):
        with pytest.raises(ValueError):
            inst.mem.write(ptr, b"abcd")
    assert inst.mem.read_cstring(size - 1) == b""
    assert inst.mem.read_cstring(100, -5) == b""  # a negative limit never becomes a huge size
    with pytest.raises(ValueError):
        inst.mem.write(100, b"abc", 10)  # never reads past a Python buffer
    with pytest.raises(ValueError):
        inst.mem.copy_out(100, bytearray(2), 10)  # never writes past one


# -- reset -----------------------------------------------------------------


def test_reset_gives_a_fresh_state_with_the_same_options() -> None:
    inst = make(timeout=0.05, fuel=10**9)
    lock = inst._lock
    first = inst.malloc(16)
    assert inst.malloc(16) != first
    with pytest.raises(WasmTimeout):
        call(inst, "spin")
    inst.reset()
    assert inst._lock is lock
    assert inst.malloc(16) == first  # a fresh heap
    with pytest.raises(WasmTimeout):  # same options
        call(inst, "spin")


# -- preopens --------------------------------------------------------------

READ = 0x2  # WASI rights
WRITE = 0x40
O_CREAT = 1
EBADF, ENOENT, EROFS = 8, 44, 69


def open_at(inst: Instance, path: str, oflags: int = 0, rights: int = READ) -> int:
    p = inst.malloc(len(path) + 1)
    inst.mem.write(p, path.encode())
    return call(inst, "open_at", p, len(path), oflags, rights)


def test_no_file_system_unless_granted(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hi")
    inst = make()
    assert open_at(inst, "a.txt") == EBADF  # fd 3 does not exist


def test_preopen_read_only_by_default(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hi")
    inst = make(preopens={"/data": tmp_path})
    assert open_at(inst, "a.txt") == 0
    assert open_at(inst, "missing.txt") == ENOENT
    assert open_at(inst, "new.txt", O_CREAT, READ | WRITE) == EROFS  # a read-only mount
    assert open_at(inst, "a.txt", 0, WRITE) == EROFS
    assert open_at(inst, "../a.txt") != 0  # no escaping the folder
    assert not (tmp_path / "new.txt").exists()


@pytest.mark.parametrize("options", [{"writable": True}, {}])
def test_preopen_writable(tmp_path: Path, options: dict[str, Any]) -> None:
    spec: Any = tmp_path if options else (tmp_path, "rw")
    inst = make(preopens={"/data": spec}, **options)
    assert open_at(inst, "new.txt", O_CREAT, READ | WRITE) == 0
    assert (tmp_path / "new.txt").exists()


def test_unlimited_instances_do_not_wrap_callers() -> None:
    inst = make()
    assert inst._limits is None
    c, _ = inst._bind("add")
    assert "_inner" not in c.__dict__
    assert isinstance(inst.engine, wasmtime.Engine)


def test_preopened_files_can_be_read_and_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.txt").write_text("hello file")
    inst = make(preopens={"/data": (tmp_path, "rw")}, stdin=b"from stdin")
    assert open_at(inst, "a.txt") == 0
    buf = inst.malloc(64)
    n = call(inst, "read_fd", call(inst, "opened_fd"), buf, 64)
    assert inst.mem.read(buf, n) == b"hello file"
    assert open_at(inst, "out.txt", O_CREAT, READ | WRITE) == 0
    inst.mem.write(buf, b"written by wasm")
    assert call(inst, "write_fd", call(inst, "opened_fd"), buf, 15) == 15
    assert (tmp_path / "out.txt").read_text() == "written by wasm"
    # stdio still reaches Python's streams (the runtime's own, also with folders granted)
    inst.mem.write(buf, b"to stdout\n")
    assert call(inst, "write_fd", 1, buf, 10) == 10
    assert capsys.readouterr().out == "to stdout\n"
    assert call(inst, "read_fd", 0, buf, 64) == 10
    assert inst.mem.read(buf, 10) == b"from stdin"
