"""clang's record layouts (`-fdump-record-layouts` output) read into plain values.

Owns: the probe source that makes clang lay out each record (one wrapper struct per
record, `toolchain.record_layouts` compiles it), and parsing the dump into
`ClangRecord`s: size, alignment and every member's byte offset and bit range, with
nested records' members inside. Packed records, `aligned(N)`, `_Alignas`,
`#pragma pack` and bitfields are then laid out as clang does, whatever macros hide them.

May import: the standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROBE = "__embind_py_probe_"
_MEMBER = "__embind_py_m"
_LINE = re.compile(r"^\s*(\d+)(?::(?:(\d+)-(\d+)|-))?\s\|\s(.*)$")
_SIZE = re.compile(r"\[sizeof=(\d+)\b.*?\balign=(\d+)\b")


@dataclass(frozen=True)
class ClangMember:
    """One member as clang placed it: `offset` in bytes from the start of the record; for a
    bitfield `bits` is (first bit within that byte, width), `(0, 0)` for a zero-width one."""

    offset: int
    bits: tuple[int, int] | None
    text: str  # clang's "TYPE NAME" (just "TYPE " for an unnamed member)
    members: tuple[ClangMember, ...]  # a nested record's own members (offsets from this record)

    def type_text(self, name: str | None) -> str:
        if name and self.text.endswith(" " + name):
            return self.text[: -len(name) - 1].strip()
        return self.text.strip()


@dataclass(frozen=True)
class ClangRecord:
    size: int
    align: int
    members: tuple[ClangMember, ...]


@dataclass(frozen=True)
class ClangLayouts:
    """The layouts clang gave: `probed` by our record names, `by_type` by clang's spelling
    of each record type it laid out (how nested and anonymous records are found)."""

    probed: dict[str, ClangRecord]
    by_type: dict[str, ClangRecord]


def probe_source(spellings: dict[str, str]) -> str:
    """C declarations that make clang lay out each record (name -> its C spelling)."""
    out = []
    for i, spelling in enumerate(spellings.values()):
        out.append(
            f"struct {PROBE}{i} {{ {spelling} {_MEMBER}; }};\n"
            f"char {PROBE}size_{i}[sizeof(struct {PROBE}{i})];\n"
        )
    return "".join(out)


@dataclass
class _Node:
    offset: int
    bits: tuple[int, int] | None
    depth: int
    text: str
    children: list[_Node]


def parse_dump(dump: str, spellings: dict[str, str]) -> ClangLayouts:
    """The layouts in `emcc -Xclang -fdump-record-layouts` output of `probe_source(spellings)`."""
    blocks: dict[str, tuple[int, int, list[_Node]]] = {}
    for chunk in dump.split("*** Dumping AST Record Layout")[1:]:
        header: str | None = None
        stack: list[_Node] = []
        top: list[_Node] = []
        size_align: tuple[int, int] | None = None
        for line in chunk.splitlines():
            sm = _SIZE.search(line)
            if sm and header is not None:
                size_align = (int(sm[1]), int(sm[2]))
                break
            m = _LINE.match(line)
            if m is None:
                continue
            text = m[4]
            if header is None:
                header = text.strip()
                continue
            depth = (len(text) - len(text.lstrip(" "))) // 2
            bits = None
            if ":" in line.split("|", 1)[0]:
                bits = (0, 0) if m[2] is None else (int(m[2]), int(m[3]) - int(m[2]) + 1)
            node = _Node(int(m[1]), bits, depth, text[depth * 2 :], [])
            while stack and stack[-1].depth >= depth:
                stack.pop()
            (stack[-1].children if stack else top).append(node)
            stack.append(node)
        if header is not None and size_align is not None:
            blocks.setdefault(header, (size_align[0], size_align[1], top))

    def record(size: int, align: int, nodes: list[_Node], base: int) -> ClangRecord:
        return ClangRecord(size, align, tuple(member(n, base) for n in nodes))

    def member(n: _Node, base: int) -> ClangMember:
        return ClangMember(
            n.offset - base, n.bits, n.text, tuple(member(c, n.offset) for c in n.children)
        )

    wrappers = f"struct {PROBE}"
    by_type = {h: record(s, a, ns, 0) for h, (s, a, ns) in blocks.items() if not h.startswith(wrappers)}
    probed: dict[str, ClangRecord] = {}
    for i, name in enumerate(spellings):
        blk = blocks.get(f"struct {PROBE}{i}")
        if blk is None or len(blk[2]) != 1:
            continue
        size, align, (inner,) = blk
        probed[name] = ClangRecord(size, align, tuple(member(c, 0) for c in inner.children))
    return ClangLayouts(probed, by_type)
