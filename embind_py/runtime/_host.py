"""Host functions: what the runtime gives a module for its imports.

Owns: the `env` imports emcc emits (memory-growth notice, getentropy, syscalls
that have no file system here, `system` with no shell, temp-return registers, time) and the WASI calls
the runtime answers itself rather than through wasmtime's WASI (fd_write and
fd_read bridged to Python's *current* stdio objects, proc_exit as `WasmExit`,
clock_time_get and clock_res_get with working process- and thread-CPU clocks). An import nobody provides
becomes a function that raises `WasmLinkError` naming it if C ever calls it.

Every host function records a Python exception on its instance before letting
wasmtime turn it into a trap, so the instance re-raises the original exception.

May import: the standard library, the runtime's own modules (the engine only through the
instance's backend session).
"""

from __future__ import annotations

import codecs
import io
import os
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._errors import WasmExit, WasmLinkError, WasmTrap

if TYPE_CHECKING:
    from ._instance import Instance

WASI = "wasi_snapshot_preview1"
ENOSYS = 52
EBADF = 8
EIO = 29
EINVAL = 28

HostFactory = Callable[["Instance", str], Callable[..., Any]]
HOST: dict[tuple[str, str], HostFactory] = {}


def host(module: str, *names: str) -> Callable[[HostFactory], HostFactory]:
    """Register a factory making the Python implementation of an import for one instance."""

    def deco(f: HostFactory) -> HostFactory:
        for n in names:
            HOST[(module, n)] = f
        return f

    return deco


def prefix_host(module: str, prefix: str) -> Callable[[HostFactory], HostFactory]:
    def deco(f: HostFactory) -> HostFactory:
        PREFIXES.append((module, prefix, f))
        return f

    return deco


PREFIXES: list[tuple[str, str, HostFactory]] = []


def lookup(module: str, name: str) -> HostFactory | None:
    f = HOST.get((module, name))
    if f is not None:
        return f
    for m, p, pf in PREFIXES:
        if m == module and name.startswith(p):
            return pf
    return None


# ---------------------------------------------------------------------------
# stdio


class Stream:
    """Where one of C's output fds goes: a file-like object, the current sys stream, or nowhere."""

    def __init__(self, target: Any, fallback: str) -> None:
        self.target = target
        self.fallback = fallback  # "stdout" / "stderr": follow sys.<name> at write time
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes) -> None:
        target = self.target
        if target is None:
            return
        if target is DEFAULT:
            target = getattr(sys, self.fallback)
            if target is None:
                return
        if isinstance(target, io.TextIOBase) or hasattr(target, "encoding"):
            text = self.decoder.decode(data)
            if text:
                target.write(text)
        else:
            target.write(data)
        if isinstance(target, io.TextIOBase | io.BufferedIOBase) and target.isatty():
            target.flush()  # a prompt without a newline must show before C waits for input


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


@host(WASI, "fd_write")
def _fd_write(inst: Instance, name: str) -> Callable[..., Any]:
    mem = inst.mem

    def fd_write(fd: int, iovs: int, iovs_len: int, nwritten: int) -> int:
        if fd not in (1, 2):
            return EBADF
        raw = mem.read(iovs, 8 * iovs_len)
        chunks = []
        total = 0
        for i in range(iovs_len):
            ptr, n = struct.unpack_from("<II", raw, 8 * i)
            if n:
                chunks.append(mem.read(ptr, n))
                total += n
        (inst.stdout if fd == 1 else inst.stderr).write(b"".join(chunks))
        mem.write(nwritten, struct.pack("<I", total))
        return 0

    return fd_write


@host(WASI, "fd_read")
def _fd_read(inst: Instance, name: str) -> Callable[..., Any]:
    mem = inst.mem

    def fd_read(fd: int, iovs: int, iovs_len: int, nread: int) -> int:
        if fd != 0:
            return EBADF
        raw = mem.read(iovs, 8 * iovs_len)
        total = 0
        for i in range(iovs_len):
            ptr, n = struct.unpack_from("<II", raw, 8 * i)
            data = inst.read_stdin(n)
            if data is None:
                return EIO
            mem.write(ptr, data)
            total += len(data)
            if len(data) < n:
                break
        mem.write(nread, struct.pack("<I", total))
        return 0

    return fd_read


@host(WASI, "proc_exit")
def _proc_exit(inst: Instance, name: str) -> Callable[..., Any]:
    def proc_exit(code: int) -> None:
        raise WasmExit(code)

    return proc_exit


@host(WASI, "clock_time_get")
def _clock_time_get(inst: Instance, name: str) -> Callable[..., Any]:
    mem = inst.mem
    clocks = {
        0: time.time_ns,
        1: time.monotonic_ns,
        2: time.process_time_ns,
        3: time.thread_time_ns,
    }

    def clock_time_get(clock_id: int, precision: int, out: int) -> int:
        clock = clocks.get(clock_id)
        if clock is None:
            return EINVAL
        mem.write(out, struct.pack("<Q", clock()))
        return 0

    return clock_time_get


@host(WASI, "clock_res_get")
def _clock_res_get(inst: Instance, name: str) -> Callable[..., Any]:
    # Shadowed with clock_time_get: wasmtime answers EBADF for the CPU-time clocks.
    mem = inst.mem
    infos = [time.get_clock_info(c) for c in ("time", "monotonic", "process_time", "thread_time")]
    res = [max(1, round(info.resolution * 1e9)) for info in infos]

    def clock_res_get(clock_id: int, out: int) -> int:
        if not 0 <= clock_id < len(res):
            return EINVAL
        mem.write(out, struct.pack("<Q", res[clock_id]))
        return 0

    return clock_res_get


# ---------------------------------------------------------------------------
# env


@host("env", "emscripten_notify_memory_growth")
def _notify_growth(inst: Instance, name: str) -> Callable[..., Any]:
    def notify(index: int) -> None:
        inst.mem.refresh()

    return notify


@host("env", "getentropy")
def _getentropy(inst: Instance, name: str) -> Callable[..., Any]:
    def getentropy(buf: int, n: int) -> int:
        inst.mem.write(buf, os.urandom(n))
        return 0

    return getentropy


@host("env", "emscripten_memcpy_big", "_emscripten_memcpy_js", "emscripten_memcpy_js")
def _memcpy_big(inst: Instance, name: str) -> Callable[..., Any]:
    mem = inst.mem

    def memcpy(dest: int, src: int, n: int) -> int:
        mem.write(dest, mem.read(src, n))
        return dest

    return memcpy


@host("env", "setTempRet0")
def _set_temp_ret(inst: Instance, name: str) -> Callable[..., Any]:
    def set_temp_ret0(v: int) -> None:
        inst.temp_ret0 = v

    return set_temp_ret0


@host("env", "getTempRet0")
def _get_temp_ret(inst: Instance, name: str) -> Callable[..., Any]:
    def get_temp_ret0() -> int:
        return inst.temp_ret0

    return get_temp_ret0


@host("env", "emscripten_date_now")
def _date_now(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: time.time() * 1000.0


@host("env", "_emscripten_get_now", "emscripten_get_now")
def _get_now(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: time.perf_counter() * 1000.0


@host("env", "abort", "_abort_js")
def _abort(inst: Instance, name: str) -> Callable[..., Any]:
    def abort(*args: Any) -> None:
        raise WasmTrap("C called abort()", "abort")

    return abort


@prefix_host("env", "__syscall_")
def _syscall(inst: Instance, name: str) -> Callable[..., Any]:
    # File-system syscalls are implemented in JS by Emscripten; a standalone
    # module has no file system behind them.
    return lambda *args: -ENOSYS


@host("env", "system")
def _system(inst: Instance, name: str) -> Callable[..., Any]:
    # There is no shell in the sandbox: answer as Emscripten's own JS `system` does
    # outside Node (`system(NULL)` is 0, "no shell"; a command fails with ENOSYS).
    def system(command: int) -> int:
        if command == 0:
            return 0
        set_errno(inst, ENOSYS)
        return -1

    return system


@host("env", "_dlopen_js", "_dlsym_js")
def _dlopen(inst: Instance, name: str) -> Callable[..., Any]:
    # No dynamic linking in a standalone module: dlopen() and dlsym() return NULL, as for a
    # file that is not there (SQLite's sqlite3_load_extension then reports an error), where
    # Emscripten's JS would abort.
    return lambda *args: 0


@host("env", "_emscripten_system")
def _emscripten_system(inst: Instance, name: str) -> Callable[..., Any]:
    # Newer Emscripten implements system() in C over this import, which
    # answers as its JS does outside Node: 0 for NULL (no shell), -ENOSYS for a command.
    return lambda command: 0 if command == 0 else -ENOSYS


def import_params(inst: Instance, module: str, name: str) -> list[str]:
    """The wasm parameter types (`i32`, `i64`, ...) of the module's import `module.name`.

    Host functions whose C signature changed across Emscripten versions (a `time_t`
    passed by pointer, as a BigInt i64, or split into two i32 halves) pick their form
    from it rather than guessing from the values.
    """
    sig = inst._be.import_signature(module, name)
    return [_TYPE_NAMES[c] for c in sig[0]] if sig else []


def import_results(inst: Instance, module: str, name: str) -> list[str]:
    """The wasm result types of the module's import `module.name` (see `import_params`)."""
    sig = inst._be.import_signature(module, name)
    return [_TYPE_NAMES[c] for c in sig[1]] if sig else []


def set_errno(inst: Instance, code: int) -> None:
    """Set C's `errno`, when the module exports `__errno_location` (emcc 3.1.6 does by itself)."""
    loc = inst._be.func("__errno_location")
    if loc is not None:
        inst.mem.write(inst._be.call(loc, ()), struct.pack("<i", code))


def unknown(module: str, name: str) -> Callable[..., Any]:
    def missing(*args: Any) -> Any:
        raise WasmLinkError(
            f"C called the import {module}.{name}, which the embind-py runtime does not provide"
        )

    return missing


def wasi_stdio(wasi: Any, stdout: Stream, stderr: Stream, stdin: Any) -> None:
    """Route stdio through wasmtime's own WASI (used when folders are preopened).

    Output still reaches the instance's streams; a file-like `stdin` is read up
    front here, since wasmtime takes stdin only from a file.
    """
    wasi.stdout_custom = stdout.write  # wasmtime-py 50: write-only properties
    wasi.stderr_custom = stderr.write
    if stdin is None:
        return
    if not isinstance(stdin, bytes | bytearray):
        data = stdin.read()
        stdin = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with tempfile.NamedTemporaryFile(prefix="embind-py-stdin-", delete=False) as f:
        f.write(stdin)
    try:
        wasi.stdin_file = f.name  # opened now: the file can go at once
    finally:
        os.unlink(f.name)


_WASI_STDIO = frozenset({"fd_read", "fd_write"})
_TYPE_NAMES = {"i": "i32", "I": "i64", "f": "f32", "d": "f64"}


Define = Callable[[str, str, str, str, Callable[..., Any]], None]


def define_imports(
    inst: Instance, imports: Iterable[tuple[str, str, str, str]], define: Define, engine_wasi: bool
) -> None:
    """Answer each function import `(module, name, params, results)` with `define(..., fn)`.

    With `engine_wasi`, WASI calls the runtime does not implement itself are left to the
    engine's own WASI (wasmtime's); otherwise they too raise `WasmLinkError` when called.
    """
    for module, name, params, results in imports:
        if module == WASI and name in _WASI_STDIO and inst._wasi_stdio:
            continue  # wasmtime's WASI serves stdio and the preopened files alike
        factory = lookup(module, name)
        if factory is not None:
            fn = factory(inst, name)
        elif module == WASI and engine_wasi:
            continue  # wasmtime's WASI implementation
        else:
            fn = unknown(module, name)
        define(module, name, params, results, inst.guard(fn))
