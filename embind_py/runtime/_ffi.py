"""cffi-style helpers on an instance: `ffi.new`, `ffi.string`, `ffi.buffer`, ...

Owns: the `FFI` object every instance (and every generated module, for its
default instance) carries, resolving C type names through the generated
module's type table.

May import: the standard library and the runtime's own modules.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import _convert
from ._callbacks import Callback, ObjectHandle, from_handle, new_handle
from ._convert import Owner, free_deferred
from ._emscripten import EmscriptenHelpers
from ._types import (
    BUILTINS,
    ArrayOf,
    CFloat,
    CInt,
    CStr,
    CType,
    EnumType,
    FuncPtrType,
    Pointer,
    PointerTo,
    Scalar,
    Struct,
    parse_ctype,
    to_enum,
)

if TYPE_CHECKING:
    from ._instance import Instance


def _spelling(spec: str) -> str:
    """`spec` with blanks only between two words: one key for every way of spacing a C type."""
    out: list[str] = []
    for tok in re.findall(r"\w+|\S", spec):
        if out and _WORD.match(out[-1]) and _WORD.match(tok):
            out.append(" ")
        out.append(tok)
    return "".join(out)


_WORD = re.compile(r"\w")


class FFI(EmscriptenHelpers):
    """Helpers bound to one instance (or, for a module's `ffi`, to its default instance)."""

    NULL = None

    def __init__(
        self, instance: Instance | Callable[[], Instance], types: Mapping[str, CType] | None = None
    ) -> None:
        self._get = instance if callable(instance) and not hasattr(instance, "mem") else None
        self._instance = None if self._get is not None else instance
        self._types = dict(types or {})
        # Function-pointer types by their spelling without blanks where C needs none, so
        # "void(*)(void*)" finds the module's "void (*)(void *)".
        self._fn_spellings = {_spelling(k): t for k, t in self._types.items() if "(" in k}

    @property
    def _inst(self) -> Instance:
        if self._instance is not None:
            return self._instance  # type: ignore[return-value]
        assert self._get is not None
        return self._get()

    def typeof(self, spec: str) -> CType:
        """The runtime type for a C type name (`"int"`, `"uLongf"`, `"Vec2 *"`, or a
        function-pointer type the library uses, `"int (*)(const void *, const void *)"`)."""
        if "(" in spec:
            t = self._fn_spellings.get(_spelling(spec))
            if t is None:
                raise ValueError(
                    f"unknown C type {spec!r}: a function-pointer type must be one the library's "
                    "declarations use, spelled as in its docstrings (parameter names left out), "
                    "or a typedef name"
                )
            return t
        elem, length, is_array = parse_ctype(spec, self._types)
        if is_array:
            if elem is None or length is None:
                raise ValueError(f"{spec!r}: array of void or of unknown length has no type")
            return ArrayOf(elem, length)
        if spec.rstrip().endswith("*"):
            return PointerTo(elem)
        if elem is None:
            raise ValueError("void has no size")
        return elem

    def sizeof(self, spec: str | CType | Struct | Pointer[Any]) -> int:
        """Size in bytes of a C type in wasm32 (`ffi.sizeof("long") == 4`), of a struct value,
        or of the memory an array pointer covers (`ffi.sizeof(ffi.new("int[]", 3)) == 12`)."""
        if isinstance(spec, str):
            return self.typeof(spec).size
        if isinstance(spec, Struct):
            return spec._ctype.size
        if isinstance(spec, Pointer):
            if spec._length is None:
                raise TypeError(f"ffi.sizeof: {spec!r} has no known length (use ffi.sizeof(type))")
            return spec._length * spec.ctype.size
        if isinstance(spec, CType):
            return spec.size
        raise TypeError(f"ffi.sizeof: expected a C type name, got {type(spec).__name__}")

    def new(self, spec: str, init: Any = None) -> Pointer[Any]:
        """Allocate zeroed C memory, freed when the returned pointer is garbage collected.

        `new("int *")`, `new("int *", 5)`, `new("uLongf *", 100)`, `new("double[]", 8)`,
        `new("double[]", [1.0, 2.0])`, `new("char[]", b"text")`, `new("int[4]")`.
        """
        elem, length, is_array = parse_ctype(spec, self._types)
        if elem is None:
            raise TypeError(f"ffi.new({spec!r}): cannot allocate void")
        if not is_array and not spec.rstrip().endswith("*"):
            raise TypeError(f"ffi.new({spec!r}): expected a pointer or array type, like {spec.strip()} *")
        items: list[Any] | None = None
        if is_array and length is None:
            if isinstance(init, int) and not isinstance(init, bool):
                length, init = init, None
            elif isinstance(init, bytes | bytearray | str) and isinstance(elem, Scalar) and elem.size == 1:
                data = init.encode() if isinstance(init, str) else bytes(init)
                length, init = len(data) + 1, data
            elif init is not None:
                items = list(init)
                length = len(items)
            else:
                raise TypeError(f"ffi.new({spec!r}) needs a length or an initializer")
        count = length if is_array else 1
        assert count is not None
        if count < 0:
            raise ValueError(f"ffi.new({spec!r}): negative length {count}")
        inst = self._inst
        size = max(elem.size * count, 1)
        if size > 0xFFFFFFFF:
            raise MemoryError(f"ffi.new({spec!r}): {size} bytes do not fit in wasm32 memory")
        with inst._lock:
            if inst._deferred_frees:
                free_deferred(inst)
            addr = inst.malloc(size)
        if not addr:
            raise MemoryError(f"ffi.new({spec!r}): wasm malloc({size}) returned NULL")
        owner = Owner(inst, addr)
        inst.mem.zero(addr, size)
        p: Pointer[Any] = Pointer(inst, addr, elem, count if is_array else None, owner)
        if init is not None or items is not None:
            if isinstance(init, bytes) and is_array:
                inst.mem.write(addr, init)
            elif is_array:
                vals = items if items is not None else list(init)
                if len(vals) > count:
                    raise IndexError(f"ffi.new({spec!r}): {len(vals)} initializers for {count} items")
                for i, v in enumerate(vals):
                    elem.store(inst, addr + i * elem.size, v, f"[{i}]")
            else:
                elem.store(inst, addr, init, "init")
        return p

    def cast(self, spec: str, value: Any) -> Any:
        """Reinterpret an address or pointer as `spec` (a pointer type) or convert to an int type.

        An int or float result remembers its C type (`CInt`, `CFloat`: still an int or a
        float), which is how a variadic function is given a `long long` or a `float`."""
        inst = self._inst
        t = self.typeof(spec)
        if isinstance(t, Scalar) and t.kind == "float":
            return CFloat(t.convert(value, "ffi.cast"), t)
        if isinstance(value, Pointer | CStr):
            addr = self._addr(value, "ffi.cast")
        else:
            addr = int(value) if value is not None else 0
        if isinstance(t, PointerTo):
            return t.wrap(inst, addr & 0xFFFFFFFF) if addr else None
        if isinstance(t, FuncPtrType):  # a function-pointer typedef: callable from Python
            return t.wrap(inst, addr & 0xFFFFFFFF)
        if isinstance(t, Scalar) and t.kind == "int":
            v = _convert.from_raw_int(addr, t.size, t.signed)
            return to_enum(t.cls, v) if isinstance(t, EnumType) else CInt(v, t)
        raise TypeError(f"ffi.cast: cannot cast to {spec!r}")

    def addressof(self, name: str) -> Pointer[Any]:
        """A pointer to the C global variable `name` (as cffi's `ffi.addressof(lib, name)`);
        for an array global, a pointer to its first element, of known length."""
        return self._inst.address_of_var(name)

    def string(self, ptr: Any, maxlen: int | None = None) -> bytes:
        """The bytes of the NUL-terminated C string at `ptr` (at most `maxlen`)."""
        if ptr is None:
            raise ValueError("ffi.string(NULL)")
        addr = self._addr(ptr, "ffi.string")
        if maxlen is not None and maxlen < 0:
            raise ValueError(f"ffi.string: maxlen must be >= 0, got {maxlen}")
        if isinstance(ptr, Pointer) and ptr._length is not None:
            if maxlen is None or maxlen > ptr._length * ptr.ctype.size:
                maxlen = ptr._length * ptr.ctype.size
        return self._inst.mem.read_cstring(addr, maxlen)

    def buffer(self, ptr: Any, size: int | None = None) -> memoryview:
        """A writable memoryview of `size` bytes of wasm memory at `ptr` (no copy).

        It is valid until the memory grows (wasmtime keeps the base address, so in
        practice it stays valid); the bounds are checked when it is made.
        """
        addr = self._addr(ptr, "ffi.buffer")
        if size is None:
            if isinstance(ptr, Pointer) and ptr._length is not None:
                size = ptr._length * ptr.ctype.size
            else:
                raise TypeError("ffi.buffer(ptr) needs a size for a pointer of unknown length")
        inst = self._inst
        # The view must keep the store (which owns the memory) alive, or it would dangle.
        return inst.mem.host_view(addr, operator.index(size), (inst.store, inst.memory))

    def from_buffer(self, data: Any) -> Pointer[Any]:
        """A new `unsigned char[]` holding a copy of `data`."""
        mv = memoryview(data)
        p = self.new("unsigned char[]", max(mv.nbytes, 1))
        self._inst.mem.write(p.address, mv)
        return p

    def memmove(self, dest: Any, src: Any, n: int) -> None:
        """Copy `n` bytes between pointers and/or Python buffers."""
        mem = self._inst.mem
        if n < 0:
            raise ValueError(f"ffi.memmove: negative size {n}")
        if isinstance(dest, Pointer | int) and isinstance(src, Pointer | int):
            mem.write(self._addr(dest, "ffi.memmove dest"), mem.read(self._addr(src, "ffi.memmove src"), n))
        elif isinstance(dest, Pointer | int):
            data = memoryview(src).cast("B")
            if n > data.nbytes:
                raise ValueError(f"ffi.memmove: source has {data.nbytes} bytes, fewer than {n}")
            mem.write(self._addr(dest, "ffi.memmove dest"), data[:n])
        else:
            mem.copy_out(self._addr(src, "ffi.memmove src"), dest, n)

    def gc(self, ptr: Any, destructor: Callable[[Any], Any] | None) -> Pointer[Any]:
        """A new pointer to the same memory that calls `destructor(pointer)` once it (and every
        pointer derived from it) is garbage-collected, as cffi's `ffi.gc`: `ffi.gc(lib.new_thing(),
        lib.free_thing)`. `ffi.release(p)` runs the destructor now. With None, a plain copy.

        `ptr` is a `Pointer` (a handle, a struct pointer...) or a `CStr` (then a `char` pointer).
        The destructor runs under the instance's lock, later if the instance is busy when the
        pointer dies; its exceptions are reported like any finalizer's.
        """
        inst = self._inst
        if isinstance(ptr, CStr):
            addr, ctype, length = self._addr(ptr, "ffi.gc"), BUILTINS["char"], None
        elif isinstance(ptr, Pointer):
            addr, ctype, length = self._addr(ptr, "ffi.gc"), ptr.ctype, ptr._length
        else:
            raise TypeError(f"ffi.gc: expected a pointer or a CStr, got {type(ptr).__name__}")
        if destructor is None:
            return Pointer(inst, addr, ctype, length)
        if not callable(destructor):
            raise TypeError(f"ffi.gc: the destructor must be callable, got {type(destructor).__name__}")
        p: Pointer[Any] = _convert.owned(inst, Pointer(inst, addr, ctype, length), destructor)
        return p

    def release(self, ptr: Pointer[Any]) -> None:
        """Run now what the pointer's owner would run when collected: the `ffi.gc` destructor,
        or freeing `ffi.new` memory (as cffi's `ffi.release`). Every pointer sharing that memory
        is dangling afterwards; a second release does nothing."""
        owner = ptr._owner if isinstance(ptr, Pointer) else None
        if not isinstance(owner, Owner):
            raise ValueError("ffi.release: the pointer comes from neither ffi.new nor ffi.gc")
        with self._inst._lock:
            owner.release()

    def malloc(self, n: int) -> int:
        """C `malloc(n)`: an int address (0 on failure); free it with `ffi.free`."""
        n = operator.index(n)
        if n < 0:
            raise ValueError(f"ffi.malloc: negative size {n}")
        if n > 0xFFFFFFFF:
            return 0  # more than wasm32 can address: what C's malloc says to SIZE_MAX
        inst = self._inst
        with inst._lock:
            return inst.malloc(n)

    def free(self, ptr: Any) -> None:
        if ptr is None:
            return
        inst = self._inst
        addr = self._addr(ptr, "ffi.free")
        if isinstance(ptr, Pointer) and ptr._owner is not None:
            # Freeing it here would free it twice (again when its last Pointer dies).
            raise ValueError(
                "ffi.free(): this memory comes from ffi.new and is freed when its last Pointer "
                "is gone; drop the Pointer instead (ffi.free is for ffi.malloc and C's malloc)"
            )
        with inst._lock:
            inst.free(addr)

    def memory_size(self) -> int:
        """Bytes of linear memory the instance has now."""
        return self._inst.memory_size()

    # -- callbacks and object handles (issue 3) ------------------------------

    def callback(self, spec: str | CType, fn: Callable[..., Any]) -> Callback:
        """A C function pointer calling `fn`, alive as long as the returned object.

        `spec` is a function-pointer typedef name of the library (`"cmp_fn"`), the spelling
        of a function-pointer type its declarations use (`"void (*)(void *)"`), or a descriptor.
        Use it for C that keeps the pointer after the call returns.
        """
        t = self.typeof(spec) if isinstance(spec, str) else spec
        if not isinstance(t, FuncPtrType):
            raise TypeError(f"ffi.callback: {getattr(t, 'name', spec)!r} is not a function-pointer type")
        return Callback(self._inst, t, fn)

    def new_handle(self, obj: Any) -> ObjectHandle:
        """A `void *` standing for `obj` (kept alive while the handle lives), as cffi's."""
        return new_handle(self._inst, obj)

    def from_handle(self, p: Any) -> Any:
        """The object behind a `void *` made by `new_handle` (an int address or the handle)."""
        return from_handle(self._inst, p)
