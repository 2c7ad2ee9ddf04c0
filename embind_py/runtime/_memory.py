"""Bounds-checked access to one instance's linear memory, where the host can address it (wasmtime).

Owns: the base address and size of linear memory (refreshed when C grows it),
reads and writes of bytes, scalars and C strings, each checked against the
memory's bounds before any copy, so no pointer from C or from Python can make
the host read or write outside the instance. The Pyodide backend has its own
class with the same methods (`_backend/pyodide.py`), over a JavaScript ArrayBuffer.

May import: the standard library (ctypes) and the runtime's own modules.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from ._errors import WasmBoundsError

_strnlen: Any
try:  # libc strnlen finds a C string's end without copying memory
    _libc = ctypes.CDLL(None) if sys.platform != "win32" else ctypes.cdll.msvcrt
    _strnlen = _libc.strnlen
    _strnlen.restype = ctypes.c_size_t
    _strnlen.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
except (OSError, AttributeError):  # pragma: no cover - platforms without strnlen
    _strnlen = None

_memmove = ctypes.memmove
_string_at = ctypes.string_at


class Memory:
    """Linear memory of one instance: `base` address and `size` in bytes.

    `refresh` re-reads both; the instance calls it when C reports memory growth
    (emscripten_notify_memory_growth) and whenever a bounds check fails, so a
    stale size never rejects a valid pointer.
    """

    __slots__ = ("_data_len", "_data_ptr", "base", "size")

    def __init__(self, data_ptr: Any, data_len: Any) -> None:
        self._data_ptr = data_ptr
        self._data_len = data_len
        self.base = 0
        self.size = 0
        self.refresh()

    def refresh(self) -> None:
        self.base = ctypes.cast(self._data_ptr(), ctypes.c_void_p).value or 0
        self.size = int(self._data_len())

    def check(self, ptr: int, n: int) -> int:
        """Return the host address of wasm `ptr` after checking `[ptr, ptr+n)` is inside."""
        if ptr < 0 or n < 0 or ptr + n > self.size:
            self.refresh()
            if ptr < 0 or n < 0 or ptr + n > self.size:
                raise WasmBoundsError(
                    f"wasm memory access out of bounds: {n} bytes at address {ptr:#x} "
                    f"(memory is {self.size} bytes)"
                )
        return self.base + ptr

    def read(self, ptr: int, n: int) -> bytes:
        return _string_at(self.check(ptr, n), n)

    def write(self, ptr: int, data: Any, n: int | None = None) -> None:
        """Copy `data` (bytes, or any contiguous buffer) to wasm `ptr` in one memmove."""
        if isinstance(data, bytes):
            if n is None:
                n = len(data)
            elif n > len(data):  # never read past the end of the Python object
                raise ValueError(f"write of {n} bytes from a {len(data)}-byte buffer")
            _memmove(self.check(ptr, n), data, n)
            return
        src, keep = buffer_address(data)
        have = len(keep) if isinstance(keep, bytes) else memoryview(data).nbytes
        if n is None:
            n = have
        elif n > have:
            raise ValueError(f"write of {n} bytes from a {have}-byte buffer")
        _memmove(self.check(ptr, n), src, n)

    def copy_out(self, ptr: int, dest: Any, n: int) -> None:
        """Copy `n` bytes from wasm `ptr` into the writable buffer `dest`."""
        if n:
            dst, keep = buffer_address(dest, writable=True)
            room = 0 if isinstance(keep, memoryview) else ctypes.sizeof(keep)  # a memoryview: empty
            if n > room:
                raise ValueError(f"copy of {n} bytes into a smaller buffer")
            _memmove(dst, self.check(ptr, n), n)

    def strlen(self, ptr: int, limit: int | None = None) -> int:
        """Length of the NUL-terminated string at `ptr`, never scanning past memory."""
        avail = self.size - ptr
        if ptr < 0 or avail <= 0:
            self.check(ptr, 1)
            avail = self.size - ptr
        if limit is not None:
            avail = max(0, min(avail, limit))  # a negative limit must not become a huge size_t
        addr = self.base + ptr
        if _strnlen is not None:
            return int(_strnlen(addr, avail))
        data = _string_at(addr, avail)  # pragma: no cover
        i = data.find(b"\0")
        return avail if i < 0 else i

    def read_cstring(self, ptr: int, limit: int | None = None) -> bytes:
        n = self.strlen(ptr, limit)
        return _string_at(self.base + ptr, n)

    def zero(self, ptr: int, n: int) -> None:
        ctypes.memset(self.check(ptr, n), 0, n)

    def load(self, ctype: Any, ptr: int) -> Any:
        """The value of the ctypes scalar type `ctype` at wasm `ptr` (bounds-checked)."""
        return ctype.from_address(self.check(ptr, ctypes.sizeof(ctype))).value

    def store(self, ctype: Any, ptr: int, value: Any) -> None:
        """Write `value` as the ctypes scalar type `ctype` at wasm `ptr` (bounds-checked)."""
        ctype.from_address(self.check(ptr, ctypes.sizeof(ctype))).value = value

    def writable(self, ptr: int, n: int) -> Any:
        """A writable byte view of `[ptr, ptr+n)`: slice assignment writes wasm memory.

        Valid until memory grows (`base` changes); the caller re-makes it then.
        """
        host = self.check(ptr, n)
        return memoryview((ctypes.c_char * n).from_address(host)).cast("B")

    def host_view(self, ptr: int, n: int, keep: Any) -> memoryview:
        """A no-copy memoryview of `[ptr, ptr+n)` that keeps `keep` (the memory's owner) alive."""
        host = self.check(ptr, n)
        arr = (ctypes.c_char * n).from_address(host)
        arr._keep = keep  # type: ignore[attr-defined]
        return memoryview(arr).cast("B")


def buffer_address(buf: Any, writable: bool = False) -> tuple[int, Any]:
    """Host address of a buffer-protocol object's bytes, and an object to keep alive.

    Writable buffers (bytearray, array.array, numpy arrays, writable memoryviews)
    and `bytes` (or a view of a whole `bytes`) are addressed in place; another
    read-only buffer costs one copy.
    """
    if isinstance(buf, bytes) and not writable:
        return ctypes.cast(ctypes.c_char_p(buf), ctypes.c_void_p).value or 0, buf
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    if not mv.c_contiguous:
        raise ValueError("buffer must be C-contiguous")
    if mv.readonly:
        if writable:
            raise TypeError("buffer is read-only")
        obj = mv.obj
        if isinstance(obj, bytes) and mv.nbytes == len(obj):  # a view of a whole bytes: no copy
            return ctypes.cast(ctypes.c_char_p(obj), ctypes.c_void_p).value or 0, obj
        data = mv.tobytes()
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0, data
    if mv.nbytes == 0:
        return 0, mv
    flat = mv.cast("B") if (mv.ndim != 1 or mv.format not in ("B", "b", "c")) else mv
    holder = (ctypes.c_char * mv.nbytes).from_buffer(flat)
    return ctypes.addressof(holder), holder
