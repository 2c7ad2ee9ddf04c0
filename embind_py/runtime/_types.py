"""Marshallers per C type family, and typed pointers into wasm memory.

Owns: the runtime descriptors of C types (`Scalar`, `PointerTo`, `ArrayOf`, and
the hooks records and callbacks plug into), their load/store to linear memory,
and `Pointer`, the value a `T *` becomes in Python. The conversion rules they apply
when storing a Python value live in `_convert`, shared with wrappers, callbacks and `ffi`.

May import: the standard library and the runtime's own modules.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import operator
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from ._instance import Instance

T = TypeVar("T")

# ---------------------------------------------------------------------------
# Type descriptors


class CType:
    """A C type as the runtime sees it: a name, a size, an alignment, load/store."""

    name: str = "?"
    size: int = 0
    align: int = 1

    def load(self, inst: Instance, addr: int) -> Any:
        raise TypeError(f"cannot read a value of C type {self.name}")

    def store(self, inst: Instance, addr: int, value: Any, what: str = "value") -> None:
        raise TypeError(f"cannot write a value of C type {self.name}")

    def __repr__(self) -> str:
        return f"<ctype {self.name!r}>"


def int_range(size: int, signed: bool) -> tuple[int, int]:
    """The values a C integer of `size` bytes holds."""
    if signed:
        return -(1 << (size * 8 - 1)), (1 << (size * 8 - 1)) - 1
    return 0, (1 << (size * 8)) - 1


_CT_INT: dict[tuple[int, bool], type[Any]] = {
    (1, True): ctypes.c_int8,
    (1, False): ctypes.c_uint8,
    (2, True): ctypes.c_int16,
    (2, False): ctypes.c_uint16,
    (4, True): ctypes.c_int32,
    (4, False): ctypes.c_uint32,
    (8, True): ctypes.c_int64,
    (8, False): ctypes.c_uint64,
}


class Scalar(CType):
    """An integer, bool, or floating-point C type."""

    def __init__(self, name: str, kind: str, size: int, signed: bool = True) -> None:
        self.name = name
        self.kind = kind  # "int", "bool", "float"
        self.size = size
        self.align = size
        self.signed = signed
        if kind == "float":
            self.ct: Any = ctypes.c_float if size == 4 else ctypes.c_double
            self.lo, self.hi = 0, 0
        else:
            self.ct = _CT_INT[(size, signed and kind == "int")]
            self.lo, self.hi = int_range(size, signed and kind == "int")

    def convert(self, value: Any, what: str) -> Any:
        if self.kind == "float":
            return _convert.to_float(value, what, self.name)
        if self.kind == "bool":
            return _convert.to_bool(value, what)
        if value.__class__ is int and self.lo <= value <= self.hi:
            return value
        return _convert.to_int(value, what, self.lo, self.hi, self.name)

    def load(self, inst: Instance, addr: int) -> Any:
        v = inst.mem.load(self.ct, addr)
        return bool(v) if self.kind == "bool" else v

    def store(self, inst: Instance, addr: int, value: Any, what: str = "value") -> None:
        inst.mem.store(self.ct, addr, self.convert(value, what))


def f128_from_float(x: float) -> int:
    """The IEEE binary128 bits of `x` (wasm32's `long double`): every double is exact in it."""
    bits: int = struct.unpack("<Q", struct.pack("<d", x))[0]
    sign, exp, mant = bits >> 63, (bits >> 52) & 0x7FF, bits & ((1 << 52) - 1)
    if exp == 0x7FF:  # inf, NaN (payload and quiet bit kept)
        e, m = 0x7FFF, mant << 60
    elif exp == 0 and mant == 0:
        e, m = 0, 0
    else:
        if exp == 0:  # a subnormal double is a normal binary128
            shift = 53 - mant.bit_length()
            mant, exp = (mant << shift) & ((1 << 52) - 1), 1 - shift
        e, m = exp - 1023 + 16383, mant << 60
    return (sign << 127) | (e << 112) | m


def f128_to_float(bits: int) -> float:
    """A binary128 value as the nearest double (ties to even), as C's conversion rounds."""
    sign = -1.0 if bits >> 127 else 1.0
    e, m = (bits >> 112) & 0x7FFF, bits & ((1 << 112) - 1)
    if e == 0x7FFF:
        return sign * math.inf if m == 0 else math.nan
    if e == 0:
        e = 1
    else:
        m |= 1 << 112
    k = e - 16383 - 112
    try:  # int -> float and int / int are correctly rounded, subnormal results included
        v = float(m << k) if k >= 0 else m / (1 << -k)
    except OverflowError:
        v = math.inf
    return math.copysign(v, sign)


def f128_words(x: float) -> tuple[int, int]:
    """A `long double` argument as wasm passes it: two i64 words, low first (signed, as slots hold)."""
    bits = f128_from_float(x)
    lo, hi = bits & 0xFFFFFFFFFFFFFFFF, bits >> 64
    return lo - ((lo >> 63) << 64), hi - ((hi >> 63) << 64)


class CInt(int):
    """An int that remembers its C type (what `ffi.cast("long long", x)` gives): passed to a
    variadic function as that type, and an address like any int. Arithmetic on it gives plain ints."""

    ctype: Scalar

    def __new__(cls, value: int, ctype: Scalar) -> CInt:
        obj = super().__new__(cls, value)
        obj.ctype = ctype
        return obj

    def __repr__(self) -> str:
        return f"<{self.ctype.name} {int(self)}>"

    def __reduce__(self) -> tuple[type[int], tuple[int]]:
        return (int, (int(self),))


class CFloat(float):
    """A float that remembers its C type (`ffi.cast("float", x)`, `ffi.cast("long double", x)`)."""

    ctype: Scalar

    def __new__(cls, value: float, ctype: Scalar) -> CFloat:
        obj = super().__new__(cls, value)
        obj.ctype = ctype
        return obj

    def __repr__(self) -> str:
        return f"<{self.ctype.name} {float(self)!r}>"

    def __reduce__(self) -> tuple[type[float], tuple[float]]:
        return (float, (float(self),))


class LongDouble(Scalar):
    """wasm32's `long double`: 16 bytes (align 8) of IEEE binary128, a Python float to Python
    (reading rounds to the nearest double; writing is exact)."""

    def __init__(self) -> None:
        super().__init__("long double", "float", 8)
        self.size, self.align = 16, 8

    def load(self, inst: Instance, addr: int) -> Any:
        return f128_to_float(int.from_bytes(inst.mem.read(addr, 16), "little"))

    def store(self, inst: Instance, addr: int, value: Any, what: str = "value") -> None:
        inst.mem.write(addr, f128_from_float(self.convert(value, what)).to_bytes(16, "little"))


class BitField(Scalar):
    """A bitfield member: `width` bits from bit `begin` of the bytes at the field's offset
    (clang's layout, little-endian), read and written with the base type's signedness.
    A write is range-checked against the width and changes only those bits."""

    def __init__(self, base: CType, begin: int, width: int, signed: bool) -> None:
        if not isinstance(base, Scalar):
            raise TypeError(f"a bitfield of C type {base.name}")
        super().__init__(f"{base.name}:{width}", base.kind, base.size, signed)
        self.base, self.begin, self.width = base, begin, width
        self.size = (begin + width + 7) // 8  # the bytes it touches
        self.mask = ((1 << width) - 1) << begin
        if self.kind == "int":
            bits = width - 1 if signed else width
            self.lo, self.hi = (-(1 << bits), (1 << bits) - 1) if signed else (0, (1 << bits) - 1)

    def load(self, inst: Instance, addr: int) -> Any:
        raw = int.from_bytes(inst.mem.read(addr, self.size), "little")
        v = (raw & self.mask) >> self.begin
        if self.kind == "bool":
            return bool(v)
        if self.signed and v >> (self.width - 1):
            v -= 1 << self.width
        return self.base.load_int(v) if isinstance(self.base, EnumType) else v

    def store(self, inst: Instance, addr: int, value: Any, what: str = "value") -> None:
        v = int(self.convert(value, what))
        raw = int.from_bytes(inst.mem.read(addr, self.size), "little")
        raw = (raw & ~self.mask) | ((v << self.begin) & self.mask)
        inst.mem.write(addr, raw.to_bytes(self.size, "little"))


def _pointer_name(target: CType | None, const: bool) -> str:
    """C's spelling of a pointer to `target`: `const char *`, `char **`, `const char *const *`."""
    inner = "void" if target is None else target.name
    if inner.endswith("*"):
        return f"{inner}{'const ' if const else ''}*"
    return f"{'const ' if const else ''}{inner} *"


class PointerTo(CType):
    """`T *`: loads as a `Pointer` (or an int address for `void *`), None for NULL."""

    size = 4
    align = 4

    def __init__(self, target: CType | None, name: str | None = None, const: bool = False) -> None:
        self.target = target  # None for void
        self.const = const
        self.name = name or _pointer_name(target, const)

    def load(self, inst: Instance, addr: int) -> Any:
        p = inst.mem.load(ctypes.c_uint32, addr)
        return self.wrap(inst, p)

    def wrap(self, inst: Instance, address: int) -> Any:
        if address == 0:
            return None
        if self.target is None:
            return address
        return Pointer(inst, address, self.target)

    def address_of(self, inst: Instance, value: Any, what: str) -> int:
        """The wasm address a Python value stands for when stored as this pointer."""
        typed = self.target if isinstance(self.target, RecordType | OpaqueType) else None
        return _convert.address(inst, value, what, self.name, typed)

    def store(self, inst: Instance, addr: int, value: Any, what: str = "value") -> None:
        inst.mem.store(ctypes.c_uint32, addr, self.address_of(inst, value, what))


class ArrayOf(CType):
    """`T[n]`: loads as a list (bytes for char arrays), stores from a sequence."""

    def __init__(self, elem: CType, length: int) -> None:
        self.elem = elem
        self.length = length
        self.size = elem.size * length
        self.align = elem.align
        self.name = f"{elem.name}[{length}]"

    @property
    def is_chars(self) -> bool:
        return isinstance(self.elem, Scalar) and self.elem.kind == "int" and self.elem.size == 1

    def load(self, inst: Instance, addr: int) -> Any:
        if self.is_chars:
            data = inst.mem.read(addr, self.size)
            # `char` arrays hold text (up to the first NUL, as cffi); signed/unsigned char, data.
            return data.split(b"\0", 1)[0] if self.elem.name == "char" else data
        return [self.elem.load(inst, addr + i * self.elem.size) for i in range(self.length)]

    def store(self, inst: Instance, addr: int, value: Any, what: str = "value") -> None:
        if self.is_chars and isinstance(value, bytes | bytearray | str):
            data = value.encode() if isinstance(value, str) else bytes(value)
            if len(data) > self.size:
                raise ValueError(f"{what}: {len(data)} bytes do not fit in {self.name}")
            inst.mem.zero(addr, self.size)
            inst.mem.write(addr, data)
            return
        items = list(value)
        if len(items) > self.length:
            raise ValueError(f"{what}: {len(items)} items do not fit in {self.name}")
        inst.mem.zero(addr, self.size)
        for i, item in enumerate(items):
            self.elem.store(inst, addr + i * self.elem.size, item, f"{what}[{i}]")


VOID_PTR = PointerTo(None)

# ---------------------------------------------------------------------------
# Pointers


class Pointer(Generic[T]):
    """A typed pointer into one instance's linear memory (`T *` in C).

    `p[i]` reads or writes the i-th element, `p.value` is `p[0]`, `int(p)` is
    the wasm address. Pointers made by `ffi.new` own their memory and free it
    when garbage collected; others just point.
    """

    __slots__ = ("__weakref__", "_inst", "_length", "_owner", "address", "ctype")

    def __init__(
        self, inst: Instance, address: int, ctype: CType, length: int | None = None, owner: Any = None
    ) -> None:
        self._inst = inst
        self.address = address
        self.ctype = ctype
        self._length = length
        self._owner = owner  # keeps an owning allocation alive

    def __reduce__(self) -> Any:
        raise TypeError(
            f"cannot pickle a {type(self).__name__}: it is an address in one wasm instance's memory, "
            "which another process does not share; send the values instead (e.g. list(p[0:n]), a "
            "struct value, bytes(ffi.buffer(p, n)))"
        )

    def _addr(self, i: int) -> int:
        if self._length is not None and not -self._length <= i < self._length:
            raise IndexError(f"index {i} out of range for {self.ctype.name}[{self._length}]")
        if i < 0 and self._length is not None:
            i += self._length
        return self.address + i * self.ctype.size

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            if self._length is None and (i.stop is None or (i.start is None and i.stop < 0)):
                raise IndexError("slicing a pointer of unknown length needs explicit bounds")
            rng = range(*i.indices(self._length if self._length is not None else i.stop))
            return [self[k] for k in rng]
        t = self.ctype
        if isinstance(t, ArrayOf) and not t.is_chars:  # `m[i][j] = v` writes through, as in C
            return Pointer(self._inst, self._addr(i), t.elem, t.length or None, self._owner)
        return t.load(self._inst, self._addr(i))

    def __setitem__(self, i: int | slice, value: Any) -> None:
        if isinstance(i, slice):
            length = self._length if self._length is not None else i.stop
            for k, v in zip(range(*i.indices(length)), value, strict=True):
                self.ctype.store(self._inst, self.address + k * self.ctype.size, v, f"[{k}]")
            return
        self.ctype.store(self._inst, self._addr(i), value, f"[{i}]")

    @property
    def value(self) -> Any:
        return self[0]

    @value.setter
    def value(self, v: Any) -> None:
        self[0] = v

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError(f"pointer to {self.ctype.name} has no known length")
        return self._length

    def __iter__(self) -> Any:
        return iter(self[0 : len(self)])

    def __int__(self) -> int:
        return self.address

    def __index__(self) -> int:
        return self.address

    def __bool__(self) -> bool:
        return self.address != 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Pointer):
            return self._inst is other._inst and self.address == other.address
        if self._length is not None and isinstance(other, list | tuple):
            return list(self) == list(other)  # an array field's live view against its values
        return NotImplemented

    def __hash__(self) -> int:
        return hash((id(self._inst), self.address))

    def __add__(self, n: int) -> Pointer[T]:
        return Pointer(self._inst, self.address + n * self.ctype.size, self.ctype, None, self._owner)

    def __sub__(self, other: int | Pointer[T]) -> Any:
        """`p - n` points n elements back; `p - q` is the element count between them, as in C."""
        if isinstance(other, Pointer):
            self._order_key(other)
            return (self.address - other.address) // (self.ctype.size or 1)
        return self + -operator.index(other)

    def _order_key(self, other: object) -> int:
        if not isinstance(other, Pointer) or other._inst is not self._inst:
            raise TypeError("only pointers into the same wasm instance can be ordered or subtracted")
        return other.address

    def __lt__(self, other: Pointer[Any]) -> bool:
        return self.address < self._order_key(other)

    def __le__(self, other: Pointer[Any]) -> bool:
        return self.address <= self._order_key(other)

    def __gt__(self, other: Pointer[Any]) -> bool:
        return self.address > self._order_key(other)

    def __ge__(self, other: Pointer[Any]) -> bool:
        return self.address >= self._order_key(other)

    def __repr__(self) -> str:
        if self._length is not None:
            return f"<Pointer {self.ctype.name}[{self._length}] at {self.address:#x}>"
        return f"<Pointer {_pointer_name(self.ctype, False)} at {self.address:#x}>"


class Buffer(Protocol):
    """Any object with the buffer protocol (bytes, bytearray, memoryview, array, numpy)."""

    def __buffer__(self, flags: int, /) -> memoryview: ...


BufferArg = Buffer | Pointer[Any] | int | None
"""What a `T *` parameter accepts: a buffer (copied in, and back if writable), a Pointer, an int
address, or None."""
CharPtrArg = str | Buffer | Pointer[Any] | int | None
"""What a `char *` parameter accepts: str (UTF-8), bytes, a writable buffer, a Pointer or a `CStr`
(their address), an int address, or None."""
StrArrayArg = Sequence[str | bytes | None] | Pointer[Any] | None
"""What a `char **` parameter accepts (`const char *const *argv`): a list or tuple of str/bytes/None
(copied in for the call as a NULL-terminated array), a Pointer, or None."""

# ---------------------------------------------------------------------------
# Type names at run time (for ffi.new, ffi.sizeof, ffi.cast)

_INT_NAMES: dict[str, tuple[int, bool]] = {
    "char": (1, True),
    "signed char": (1, True),
    "unsigned char": (1, False),
    "short": (2, True),
    "short int": (2, True),
    "signed short": (2, True),
    "unsigned short": (2, False),
    "unsigned short int": (2, False),
    "int": (4, True),
    "signed": (4, True),
    "signed int": (4, True),
    "unsigned": (4, False),
    "unsigned int": (4, False),
    "long": (4, True),
    "long int": (4, True),
    "signed long": (4, True),
    "unsigned long": (4, False),
    "unsigned long int": (4, False),
    "long long": (8, True),
    "long long int": (8, True),
    "signed long long": (8, True),
    "unsigned long long": (8, False),
    "unsigned long long int": (8, False),
    "int8_t": (1, True),
    "uint8_t": (1, False),
    "int16_t": (2, True),
    "uint16_t": (2, False),
    "int32_t": (4, True),
    "uint32_t": (4, False),
    "int64_t": (8, True),
    "uint64_t": (8, False),
    "size_t": (4, False),
    "ssize_t": (4, True),
    "intptr_t": (4, True),
    "uintptr_t": (4, False),
    "ptrdiff_t": (4, True),
}

BUILTINS: dict[str, CType] = {n: Scalar(n, "int", s, sg) for n, (s, sg) in _INT_NAMES.items()}
BUILTINS["float"] = Scalar("float", "float", 4)
BUILTINS["double"] = Scalar("double", "float", 8)
BUILTINS["long double"] = LONG_DOUBLE = LongDouble()
BUILTINS["_Bool"] = Scalar("_Bool", "bool", 1, False)
BUILTINS["bool"] = Scalar("bool", "bool", 1, False)

_DECL = re.compile(r"^(?P<base>[A-Za-z_][\w ]*?)\s*(?P<stars>[\s*]*)(?P<arr>(\[\s*\d*\s*\])*)$")


def parse_ctype(spec: str, table: dict[str, CType]) -> tuple[CType | None, int | None, bool]:
    """Parse "int *", "uLongf *", "double[]", "char[16]", "Vec2" into (type, array length, is_array).

    Returns the *element* type for pointers and arrays: `("int *") -> (int, None, False)`
    means "a pointer to int"; `("int[8]") -> (int, 8, True)`; `("int") -> (int, None, False)`
    with the pointer flag left to the caller by the star count. The element is None for void.
    """
    s = " ".join(spec.replace("const ", " ").replace("volatile ", " ").split())
    m = _DECL.match(s)
    if not m:
        raise ValueError(f"cannot parse C type {spec!r}")
    base_name = m["base"].strip()
    base = None if base_name == "void" else table.get(base_name) or BUILTINS.get(base_name)
    if base is None and base_name != "void":
        raise ValueError(f"unknown C type {base_name!r} in {spec!r}")
    stars = m["stars"].count("*")
    arr = m["arr"]
    t: CType | None = base
    # All but the outermost star become pointer levels of the element.
    if arr:
        dims = re.findall(r"\[\s*(\d*)\s*\]", arr)
        for _ in range(stars):
            t = PointerTo(t)
        n = dims[0]
        for d in reversed(dims[1:]):
            assert t is not None
            t = ArrayOf(t, int(d))
        return t, (int(n) if n else None), True
    if stars == 0:
        return t, None, False
    for _ in range(stars - 1):
        t = PointerTo(t)
    return t, None, False


def is_pointer_spec(spec: str) -> bool:
    return spec.rstrip().endswith("*")


def iter_init(init: Any) -> Iterable[Any]:
    return init if isinstance(init, list | tuple) else list(init)


Factory = Callable[..., Any]


# ---------------------------------------------------------------------------
# Records (structs and unions), enums, opaque handles, function pointers
#
# A generated struct class holds its fields as plain Python attributes; its
# `RecordType` descriptor packs it to and unpacks it from wasm memory, so values
# are ordinary Python objects (no instance needed) and pointers read live memory.

class Struct:
    """Base of generated struct and union classes: fields are attributes.

    Construct with keyword fields (`Vec2(x=1.0, y=2.0)`); missing fields are zero.
    A union value remembers the member assigned last and writes that one (over
    the bytes it was read with, if it came from memory). Records whose members
    overlap (unions, anonymous unions in a struct) keep the bytes they were read
    with and write back only the members that changed, so a zero or stale member
    never overwrites the one that holds the value.
    """

    __slots__ = ("_raw",)
    _ctype: RecordType
    _fields: tuple[str, ...] = ()

    def __init__(self, **fields: Any) -> None:
        rt = self._ctype
        given = None
        for n, _, t in rt.fields:
            v = fields.pop(n, None)
            if v is None:
                v = _zero_value(t)
            else:
                if given is not None and rt.kind == "union":
                    raise TypeError(f"{type(self).__name__}: a union takes one member, got {given} and {n}")
                given = n
                if isinstance(t, RecordType) and not isinstance(v, t.cls):
                    v = t.convert(v, f"{type(self).__name__}.{n}")
                elif isinstance(t, ArrayOf) and not t.is_chars:
                    v = list(v)
            object.__setattr__(self, n, v)
        if fields:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(fields))!r}")
        if rt.kind == "union":
            object.__setattr__(self, "_raw", None)
            object.__setattr__(self, "_last", given)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"

    def _as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self._fields}


class Union_(Struct):
    """Base of generated union classes (see `Struct`)."""

    __slots__ = ("_last",)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name[0] != "_":
            object.__setattr__(self, "_last", name)


def _same(a: Any, b: Any) -> bool:
    """Equal, counting NaN as equal to NaN (rewriting a NaN could change its payload bits)."""
    return bool(a == b) or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def _is_zero(v: Any, t: CType) -> bool:
    """Whether `v` as C type `t` is all zero bytes (memory already zeroed needs no write)."""
    if v is None:
        return not isinstance(t, Scalar | RecordType | ArrayOf)
    if isinstance(t, Scalar):
        return isinstance(v, int | float) and v == 0 and math.copysign(1.0, v) > 0  # not -0.0
    if isinstance(t, RecordType):
        return (
            isinstance(v, t.cls)
            and not any(getattr(v, "_raw", None) or b"")
            and all(_is_zero(getattr(v, n), ft) for n, _, ft in t.fields)
        )
    if isinstance(t, ArrayOf):
        if isinstance(v, bytes | bytearray | str):
            return not any(v.encode() if isinstance(v, str) else v)
        return isinstance(v, list | tuple) and all(_is_zero(x, t.elem) for x in v)
    return False


def _zero_value(t: CType) -> Any:
    if isinstance(t, Scalar):
        return 0.0 if t.kind == "float" else False if t.kind == "bool" else 0
    if isinstance(t, RecordType):
        return t.cls() if t.cls is not None else None
    if isinstance(t, ArrayOf):
        return b"" if t.is_chars else [_zero_value(t.elem) for _ in range(t.length)]
    return None


class RecordType(CType):
    """The descriptor of a struct or union: layout, and the generated class it maps to."""

    def __init__(self, name: str, kind: str, size: int, align: int) -> None:
        self.name = name
        self.kind = kind
        self.size = size
        self.align = align
        self.cls: Any = None
        self.fields: tuple[tuple[str, int, CType], ...] = ()
        self.pointer_class = Pointer
        self.scalar: tuple[int, CType] | None = None  # single-scalar ABI: (offset, scalar type)
        self.overlap = kind == "union"  # members share bytes (see `Struct`)

    def define(
        self,
        cls: Any,
        ptr_cls: Any,
        fields: tuple[tuple[str, int, CType], ...],
        scalar: tuple[int, CType] | None,
    ) -> None:
        """Attach the generated class, pointer class and fields (after all types exist)."""
        self.cls = cls
        self.pointer_class = ptr_cls
        self.fields = fields
        self.scalar = scalar
        self.index = {n: i for i, (n, _, _) in enumerate(fields)}
        spans = sorted((off, off + t.size) for _, off, t in fields if t.size)
        self.overlap = self.kind == "union" or any(a[1] > b[0] for a, b in itertools.pairwise(spans))
        cls._ctype = self
        cls._fields = tuple(n for n, _, _ in fields)

    def zero(self) -> dict[str, Any]:
        return {n: _zero_value(t) for n, _, t in self.fields}

    def load(self, inst: Instance, addr: int) -> Any:
        inst.mem.check(addr, self.size)
        obj = self.cls.__new__(self.cls)
        for n, off, t in self.fields:
            object.__setattr__(obj, n, t.load(inst, addr + off))
        if self.overlap:
            object.__setattr__(obj, "_raw", inst.mem.read(addr, self.size))
            if self.kind == "union":
                object.__setattr__(obj, "_last", None)
        return obj

    def store(self, inst: Instance, addr: int, value: Any, what: str = "value") -> None:
        inst.mem.check(addr, self.size)
        if isinstance(value, Pointer) and value.ctype is self:  # `p.a = q.a`: copy the struct
            value = self.load(value._inst, value.address)
        if isinstance(value, self.cls):
            if self.overlap:
                self._store_overlapping(inst, addr, value, what)
                return
            inst.mem.zero(addr, self.size)
            for n, off, t in self.fields:
                t.store(inst, addr + off, getattr(value, n), f"{what}.{n}")
            return
        if isinstance(value, dict):
            items = list(value.items())
            if self.kind == "union" and len(items) > 1:
                raise ValueError(f"{what}: a union takes one member, got {', '.join(value)}")
        elif isinstance(value, list | tuple):
            if len(value) > len(self.fields) or (self.kind == "union" and len(value) > 1):
                raise ValueError(f"{what}: too many initializers for {self.name}")
            items = [(self.fields[i][0], v) for i, v in enumerate(value)]
        else:
            raise TypeError(
                f"{what}: expected {self.cls.__name__}, a dict or a sequence for C {self.name}, "
                f"got {type(value).__name__}"
            )
        inst.mem.zero(addr, self.size)
        for n, v in items:
            i = self.index.get(n)
            if i is None:
                raise AttributeError(f"{what}: C {self.name} has no field {n!r}")
            _, off, t = self.fields[i]
            t.store(inst, addr + off, v, f"{what}.{n}")

    def _store_overlapping(self, inst: Instance, addr: int, value: Any, what: str) -> None:
        raw = getattr(value, "_raw", None)
        if raw is not None:
            # Read from memory: put those bytes back, then the members changed since, found
            # against the bytes (before any is written), whether assigned or changed in place.
            inst.mem.write(addr, raw)
            todo = [f for f in self.fields if not _same(getattr(value, f[0]), f[2].load(inst, addr + f[1]))]
        else:
            inst.mem.zero(addr, self.size)
            todo = [f for f in self.fields if not _is_zero(getattr(value, f[0]), f[2])]
        last = getattr(value, "_last", None) if self.kind == "union" else None
        if last is not None:  # the member assigned last wins
            todo = [f for f in todo if f[0] != last] + [self.fields[self.index[last]]]
        for n, off, t in todo:
            t.store(inst, addr + off, getattr(value, n), f"{what}.{n}")

    def convert(self, value: Any, what: str) -> Any:
        """A struct value from an instance of the class, a dict or a sequence."""
        if isinstance(value, self.cls):
            return value
        if isinstance(value, Pointer) and value.ctype is self:  # a live view, e.g. `p.inner`
            return self.load(value._inst, value.address)
        if isinstance(value, dict):
            return self.cls(**value)
        if isinstance(value, list | tuple):
            return self.cls(**{self.fields[i][0]: v for i, v in enumerate(value)})
        raise TypeError(f"{what}: expected {self.cls.__name__} for C {self.name}, got {type(value).__name__}")


class OpaqueType(CType):
    """A record declared without a body: usable only through pointers (handles)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.size = 0
        self.pointer_class: Any = Pointer


class EnumType(Scalar):
    """An enum: a 4-byte int that loads as the generated IntEnum when it is a member."""

    def __init__(self, name: str, cls: Any, signed: bool = True) -> None:
        super().__init__(name, "int", 4, signed)
        self.cls = cls

    def load(self, inst: Instance, addr: int) -> Any:
        return to_enum(self.cls, super().load(inst, addr))

    def load_int(self, v: int) -> Any:
        return to_enum(self.cls, v)


def to_enum(cls: Any, v: int) -> Any:
    """`cls(v)` when `v` is a member of the IntEnum `cls`, else `v` itself."""
    return cls._value2member_map_.get(v, v)


def enum_of(t: CType, v: int) -> Any:
    """The integer `v` read as C type `t`: an enum member when `t` is an enum that has one."""
    return to_enum(t.cls, v) if isinstance(t, EnumType) else v


S_co = TypeVar("S_co", bound=Struct)


def live(inst: Instance, addr: int, t: CType, owner: Any = None, chars: bool = False) -> Any:
    """The C object of type `t` at `addr` as Python reads it in place (a struct field, a global).

    Nested records and arrays are live views (a copy would swallow `p.inner.x = 5`); they
    share `owner`, so `ffi.new` memory lives as long as any view. A `char` array is read as
    bytes unless `chars` (a global's `Pointer` of known length). Anything else is its value.
    """
    if isinstance(t, RecordType):
        return Pointer(inst, addr, t, None, owner)
    if isinstance(t, ArrayOf) and (chars or not t.is_chars):
        return Pointer(inst, addr, t.elem, t.length or None, owner)
    return t.load(inst, addr)


class StructPointer(Pointer[S_co]):
    """A `T *` to a struct or union: `p.field` reads and writes live wasm memory.

    Generated `<Name>Ptr` classes add a typed property per field; `p[i]` is a copy
    of the i-th struct, `p[i] = value` writes one, `p + i` points at it.
    """

    __slots__ = ()

    def _get(self, i: int) -> Any:
        rt: RecordType = self.ctype  # type: ignore[assignment]
        _, off, t = rt.fields[i]
        return live(self._inst, self.address + off, t, self._owner)

    def _set(self, i: int, value: Any) -> None:
        rt: RecordType = self.ctype  # type: ignore[assignment]
        n, off, t = rt.fields[i]
        t.store(self._inst, self.address + off, value, n)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Struct) and other._ctype is self.ctype:
            return bool(self[0] == other)  # `p.inner == Vec2(...)`: compare the contents
        return super().__eq__(other)

    __hash__ = Pointer.__hash__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ctype.name} * at {self.address:#x}>"


class Handle(Pointer[Any]):
    """A pointer to an opaque C type: pass it back to C, never dereference it."""

    __slots__ = ()

    def __getitem__(self, i: int | slice) -> Any:
        raise TypeError(f"{self.ctype.name} is opaque: a {type(self).__name__} cannot be dereferenced")

    def __setitem__(self, i: int | slice, value: Any) -> None:
        raise TypeError(f"{self.ctype.name} is opaque: a {type(self).__name__} cannot be dereferenced")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} handle at {self.address:#x}>"


class CStr(str):
    """The `str` a `char *` result gives, with the C `address` it was read from.

    Passed back to a pointer parameter it is that address, never a copy, so memory the
    C library allocated for the caller (`cJSON_Print`, `strdup`) is freed with its own
    function: `lib.cJSON_free(s)` or `lib.cJSON_free(s.address)`.
    """

    address: int
    _inst: Any  # the `_ref` (a weak reference) of the instance whose memory holds it (None: any)

    def __new__(cls, value: str, address: int, inst: Any = None) -> CStr:
        self = super().__new__(cls, value)
        self.address = address
        self._inst = inst
        return self

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return str, (str(self),)  # the address means nothing outside this instance


class CString(CType):
    """`const char *` read as text: arrives as a `CStr` (UTF-8, keeping C's address) or None."""

    name = "const char *"
    size = 4
    align = 4

    def load(self, inst: Instance, addr: int) -> Any:
        return _convert.read_cstr(inst, inst.mem.load(ctypes.c_uint32, addr))

    def store(self, inst: Instance, addr: int, value: Any, what: str = "value") -> None:
        # Memory outlives any copy a str could get here: only an address is stored.
        if isinstance(value, str | bytes) and not isinstance(value, CStr):
            raise TypeError(
                f"{what}: C keeps this {self.name}, which a copy of a {type(value).__name__} would not "
                'outlive: store a CStr, or memory you keep, e.g. ffi.new("char[]", b"...")'
            )
        inst.mem.store(ctypes.c_uint32, addr, _convert.address(inst, value, what, self.name))


CSTRING = CString()


class CBytes(CString):
    """`const char *` declared `bytes`: arrives as the bytes up to its NUL, undecoded."""

    def load(self, inst: Instance, addr: int) -> Any:
        return _convert.ret_bytes(inst, inst.mem.load(ctypes.c_uint32, addr))


CBYTES = CBytes()


class FuncPtrType(CType):
    """A pointer to a C function type: its wasm signature and its C parameter/result types.

    `params`/`result` are descriptors (None for void); `sret` is set when the result
    is a struct returned through a hidden first pointer; `byval` marks parameters
    that are aggregates passed as a pointer to a copy. `lengths` pairs a pointer
    parameter with the parameter holding its length (by position): a callback gets
    exactly that many bytes there (see `_convert.callback_args`).
    """

    size = 4
    align = 4

    def __init__(
        self,
        name: str,
        wparams: str,
        wresults: str,
        result: CType | None,
        params: tuple[CType, ...],
        sret: bool = False,
        lengths: tuple[tuple[int, int], ...] = (),
    ) -> None:
        self.name = name
        self.wparams = wparams
        self.wresults = wresults
        self.result = result
        self.params = params
        self.sret = sret
        self.lengths = lengths

    def load(self, inst: Instance, addr: int) -> Any:
        return self.wrap(inst, inst.mem.load(ctypes.c_uint32, addr))

    def wrap(self, inst: Instance, index: int) -> Any:
        from ._callbacks import FuncPtr

        return FuncPtr(inst, index, self) if index else None

    def store(self, inst: Instance, addr: int, value: Any, what: str = "value") -> None:
        inst.mem.store(ctypes.c_uint32, addr, _convert.fn_index(inst, value, self, what, False))


# Pointer(...) builds the pointer class its target type asks for (struct pointer, handle).
CType.pointer_class = Pointer  # type: ignore[attr-defined]


def _pointer_new(cls: Any, inst: Any, address: int, ctype: CType, *args: Any, **kw: Any) -> Any:
    if cls is Pointer:
        cls = getattr(ctype, "pointer_class", Pointer)
    return object.__new__(cls)


Pointer.__new__ = _pointer_new  # type: ignore[method-assign, assignment]


# Last: `_convert` uses the classes above, and they call it only at run time.
from . import _convert  # noqa: E402
