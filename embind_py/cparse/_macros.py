"""Object-like `#define`s of the user's headers, expanded to C expression text.

Owns: reading `emcc -dM -E` output, finding where the user's files define each
macro (names and lines, line continuations joined), telling include guards apart,
and a small macro expander (object-like and function-like, `#` and `##`) that
turns a macro's body into one expression for `_eval` to fold.

May import: the standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_TOKEN = re.compile(
    r"""
    (?P<str>(?:u8|[uUL])?"(?:[^"\\\n]|\\.)*")
  | (?P<chr>[uUL]?'(?:[^'\\\n]|\\.)*')
  | (?P<num>\.?[0-9](?:[eEpP][+-]|[0-9A-Za-z_.])*)
  | (?P<id>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>\.\.\.|<<=|>>=|\#\#|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\|
             |[-+*/%&|^=<>!~?:;,.()\[\]{}\#])
  | (?P<ws>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_DM_LINE = re.compile(r"^#define\s+([A-Za-z_$][\w$]*)(\(([^)]*)\))?\s?(.*)$")
_DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_$][\w$]*)(\()?(.*)$", re.DOTALL)
_GUARD = re.compile(r"^\s*#\s*(?:ifndef\s+([A-Za-z_$][\w$]*)|if\s+!\s*defined\s*\(?\s*([\w$]+))")
_DIRECTIVE = re.compile(r"^\s*#")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_MAX_TOKENS = 5000


class MacroError(Exception):
    """The macro does not expand to something we can evaluate."""


@dataclass(frozen=True)
class Macro:
    params: tuple[str, ...] | None  # None for an object-like macro
    body: str


@dataclass(frozen=True)
class Definition:
    """Where a user file defines an object-like macro."""

    name: str
    file: str  # raw file name (as in the FileTable)
    line: int
    body: str
    guard: bool
    params: tuple[str, ...] | None = None  # a function-like macro's parameters


class Tok(str):
    """A token that remembers whether whitespace came before it: `#` stringification keeps
    that spacing (`ZSTD_QUOTE(1.5.7)` is "1.5.7", `Q(a + b)` is "a + b")."""

    __slots__ = ("space",)
    space: bool

    def __new__(cls, text: str, space: bool) -> Tok:
        t = super().__new__(cls, text)
        t.space = space
        return t


def _spaced(t: str) -> bool:
    return t.space if isinstance(t, Tok) else True


def _respace(tokens: list[str], space: bool) -> list[str]:
    """`tokens` standing where a token with spacing `space` was: the first takes its spacing."""
    return [Tok(tokens[0], space), *tokens[1:]] if tokens else tokens


def tokenize(text: str) -> list[str]:
    out: list[str] = []
    space = False
    for m in _TOKEN.finditer(text):
        if m.lastgroup == "ws":
            space = True
            continue
        if m.lastgroup == "other":
            raise MacroError(f"unexpected character {m.group()!r}")
        out.append(Tok(m.group(), space))
        space = False
    return out


def parse_dump(text: str) -> dict[str, Macro]:
    """The macros listed by `emcc -dM -E`."""
    macros: dict[str, Macro] = {}
    for line in text.splitlines():
        m = _DM_LINE.match(line)
        if not m:
            continue
        params = None if m[2] is None else tuple(p.strip() for p in m[3].split(",") if p.strip())
        macros[m[1]] = Macro(params, m[4].strip())
    return macros


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with backslash-newline continuations joined."""
    out: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start, buf = i + 1, lines[i]
        while buf.endswith("\\") and i + 1 < len(lines):
            i += 1
            buf = buf[:-1] + " " + lines[i]
        out.append((start, buf))
        i += 1
    return out


def normalize(body: str) -> str:
    try:
        return " ".join(tokenize(_COMMENT.sub(" ", body)))
    except MacroError:
        return body.strip()


def scan_defines(raw: str, path: Path) -> list[Definition]:
    """Every `#define` in the file, in order (function-like ones with their `params`)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    text = _COMMENT.sub(lambda m: "\n" * m.group().count("\n") + " ", text)
    out: list[Definition] = []
    pending_guard: str | None = None
    first_directive = True
    for line, src in _logical_lines(text):
        if not _DIRECTIVE.match(src):
            if src.strip():
                first_directive = False
                pending_guard = None
            continue
        g = _GUARD.match(src)
        if g and first_directive:
            pending_guard = g[1] or g[2]
            first_directive = False
            continue
        first_directive = False
        m = _DEFINE.match(src)
        if m is None:
            pending_guard = None
            continue
        guard = m[1] == pending_guard
        pending_guard = None
        if m[2]:  # function-like: `NAME(a, b) body`
            close = m[3].find(")")
            if close < 0:
                continue
            params = tuple(p.strip() for p in m[3][:close].split(",") if p.strip())
            out.append(Definition(m[1], raw, line, normalize(m[3][close + 1 :]), False, params))
            continue
        out.append(Definition(m[1], raw, line, normalize(m[3]), guard))
    return out


class Expander:
    """Expands macro bodies using the definitions from the -dM dump."""

    def __init__(self, macros: dict[str, Macro]) -> None:
        self._macros = macros

    def expand(self, name: str) -> str:
        return " ".join(self._expand(tokenize(self._macros[name].body), frozenset({name})))

    def expand_call(self, name: str, args: list[str]) -> str:
        """The function-like macro `name` applied to `args` (identifiers), fully expanded."""
        call = [name, "(", *[t for k, a in enumerate(args) for t in ([","] if k else []) + [a]], ")"]
        return " ".join(self._expand([Tok(t, True) for t in call], frozenset()))

    def _expand(self, tokens: list[str], active: frozenset[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(tokens):
            t = tokens[i]
            mac = self._macros.get(t) if t not in active else None
            if mac is None:
                out.append(t)
                i += 1
            elif mac.params is None:
                out += _respace(self._expand(tokenize(mac.body), active | {t}), _spaced(t))
                i += 1
            elif i + 1 < len(tokens) and tokens[i + 1] == "(":
                args, i = _arguments(tokens, i + 2)
                body = self._substitute(mac, args, active)
                out += _respace(self._expand(body, active | {t}), _spaced(t))
            else:
                out.append(t)
                i += 1
            if len(out) > _MAX_TOKENS:
                raise MacroError("expansion too large")
        return out

    def _substitute(self, mac: Macro, args: list[list[str]], active: frozenset[str]) -> list[str]:
        assert mac.params is not None
        params = list(mac.params)
        if params and params[-1] == "...":
            params[-1] = "__VA_ARGS__"
            fixed = len(params) - 1
            if len(args) > fixed:
                rest: list[str] = []
                for k, a in enumerate(args[fixed:]):
                    rest += ([Tok(",", False)] if k else []) + a
                args = [*args[:fixed], rest]
        if args == [[]] and not params:
            args = []
        if len(args) != len(params):
            raise MacroError("wrong number of macro arguments")
        raw = dict(zip(params, args, strict=True))
        body = tokenize(mac.body)
        out: list[str] = []
        j = 0
        while j < len(body):
            t = body[j]
            if t == "#" and j + 1 < len(body) and body[j + 1] in raw:
                arg = raw[body[j + 1]]
                text = "".join((" " if k and _spaced(a) else "") + a for k, a in enumerate(arg))
                text = text.replace("\\", "\\\\").replace('"', '\\"')
                out.append(Tok(f'"{text}"', _spaced(t)))
                j += 2
                continue
            if t == "##" and out and j + 1 < len(body):
                nxt = body[j + 1]
                pasted = raw[nxt] if nxt in raw else [nxt]
                if pasted:
                    out[-1] = Tok(out[-1] + pasted[0], _spaced(out[-1]))
                    out += pasted[1:]
                j += 2
                continue
            if t in raw:
                pasting = j + 1 < len(body) and body[j + 1] == "##"
                out += _respace(raw[t] if pasting else self._expand(raw[t], active), _spaced(t))
            else:
                out.append(t)
            j += 1
        return out


def _arguments(tokens: list[str], i: int) -> tuple[list[list[str]], int]:
    """The arguments of a macro call whose `(` was just before `tokens[i]`."""
    args: list[list[str]] = [[]]
    depth = 0
    while i < len(tokens):
        t = tokens[i]
        if t == ")" and depth == 0:
            return args, i + 1
        if t == "," and depth == 0:
            args.append([])
        else:
            depth += t == "("
            depth -= t == ")"
            args[-1].append(t)
        i += 1
    raise MacroError("unterminated macro call")
