"""WASI preview 1 calls the runtime answers itself rather than through wasmtime's WASI.

Owns: C's stdio (`Stream`: fd 1 and 2 written to Python's *current* stdout/stderr or a
given file-like object, fd 0 read from the instance's stdin), with `fd_read`/`fd_write`/
`fd_close`/`fd_seek`/`fd_fdstat_get` passing the other descriptors to `files`;
`proc_exit` as `WasmExit`, `clock_time_get` and `clock_res_get` with working process-
and thread-CPU clocks (wasmtime answers EBADF for them), and argv (`args_get`, from
`call_main`'s argv or the instance's `argv`).

May import: the standard library, the runtime's own modules, `._registry`, `.files`.
"""

from __future__ import annotations

import codecs
import io
import struct
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import WasmExit
from . import files
from ._registry import EINVAL, EIO, ESPIPE, WASI, host, js_utf8

if TYPE_CHECKING:
    from .._instance import Instance

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
        # C writes only when its own buffer is flushed (fflush, a full buffer, a newline when
        # line-buffered): pass that on, or the bytes would wait in Python's buffer (`python -m
        # NAME | cat` would show nothing while C runs, a prompt would not show before C reads).
        flush = getattr(target, "flush", None)
        if flush is not None:
            flush()


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


@host(WASI, "fd_write")
def _fd_write(inst: Instance, name: str) -> Callable[..., Any]:
    mem = inst.mem

    def fd_write(fd: int, iovs: int, iovs_len: int, nwritten: int) -> int:
        if fd not in (1, 2):
            if fd == 0:
                return files.G["EBADF"]
            return files.as_errno(
                lambda: mem.write(nwritten, struct.pack("<I", files.write_file(inst, fd, iovs, iovs_len)))
            )
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
            if fd in (1, 2):
                return files.G["EBADF"]
            return files.as_errno(
                lambda: mem.write(nread, struct.pack("<I", files.read_file(inst, fd, iovs, iovs_len)))
            )
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


@host(WASI, "fd_close")
def _fd_close(inst: Instance, name: str) -> Callable[..., Any]:
    def fd_close(fd: int) -> int:
        if fd in (0, 1, 2):
            return 0
        files.fs_of(inst).close(fd)
        return 0

    return files.guarded(fd_close, negative=False)


@host(WASI, "fd_seek")
def _fd_seek(inst: Instance, name: str) -> Callable[..., Any]:
    # Standalone: (fd, i64 offset, whence, newoffset*); JS mode without BigInt
    # legalizes the offset into two i32 halves. The stdio streams cannot seek.
    def fd_seek(fd: int, *rest: int) -> int:
        if fd in (0, 1, 2):
            return ESPIPE
        if len(rest) == 4:
            low, high, whence, out = rest
            offset = (low & 0xFFFFFFFF) | (high << 32)
        else:
            offset, whence, out = rest
        pos = files.seek(inst, fd, offset, whence)
        inst.mem.write(out, struct.pack("<q", pos))
        return 0

    return files.guarded(fd_seek, negative=False)


@host(WASI, "fd_fdstat_get")
def _fd_fdstat_get(inst: Instance, name: str) -> Callable[..., Any]:
    def fdstat(fd: int, out: int) -> int:
        # stdio: filetype 2 = character device (a terminal-like stream), no flags, all rights
        kind, flags = (2, 0) if fd in (0, 1, 2) else files.fdstat(inst, fd)
        inst.mem.write(out, struct.pack("<BxHxxxxQQ", kind, flags, (1 << 64) - 1, (1 << 64) - 1))
        return 0

    return files.guarded(fdstat, negative=False)


def _argv_of(inst: Instance) -> list[str]:
    argv = inst.__dict__.get("_main_argv")
    if argv is None:
        argv = list(inst._options.get("argv") or [])
    return list(argv)


def put_sizes(inst: Instance, items: list[bytes], count_ptr: int, size_ptr: int) -> int:
    """The `*_sizes_get` half of a WASI string list (argv, environ): its count and byte size."""
    inst.mem.write(count_ptr, struct.pack("<I", len(items)))
    inst.mem.write(size_ptr, struct.pack("<I", sum(map(len, items))))
    return 0


def put_strings(inst: Instance, items: list[bytes], vec_ptr: int, buf_ptr: int) -> int:
    """The `*_get` half: each NUL-terminated item into `buf_ptr`, its address into `vec_ptr`."""
    p = buf_ptr
    for i, item in enumerate(items):
        inst.mem.write(p, item)
        inst.mem.write(vec_ptr + 4 * i, struct.pack("<I", p))
        p += len(item)
    return 0


def _args(inst: Instance) -> list[bytes]:
    return [js_utf8(a) + b"\0" for a in _argv_of(inst)]


@host(WASI, "args_sizes_get")
def _args_sizes_get(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda argc_ptr, size_ptr: put_sizes(inst, _args(inst), argc_ptr, size_ptr)


@host(WASI, "args_get")
def _args_get(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda argv_ptr, buf_ptr: put_strings(inst, _args(inst), argv_ptr, buf_ptr)
