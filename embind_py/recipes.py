"""Recipes: the clang command one emcc command runs, learnt once, so later compiles skip emcc.

Owns: turning the clang command emcc ran for a placeholder compile into a template (`learn`),
filling a template in for a real compile (`fill`), and keeping templates on disk
(`RecipeStore`, beside the object cache). `toolchain` runs the processes.

An emcc compile is a Python program that spends about a quarter of a second deciding on
one clang command; for the same emcc and the same flags it decides the same command.
`toolchain` runs emcc once on placeholder files with the flags of a compile and a
placeholder *block* (one flag of each kind that varies from project to project: `-I`, `-D`,
`-iquote`, `-ffile-prefix-map=`, `-fdebug-compilation-dir=`), under a compiler wrapper
that records clang's arguments. A recording becomes a template only if it is unambiguous:
exactly one clang command names the placeholders, the block appears in it once and
unchanged, each placeholder file appears once as a whole argument, and the placeholder
folder nowhere else. Anything else (a response file, a second clang, a rewritten flag) is
no template, and the compile goes through emcc as before. `toolchain` also checks a new
template by compiling the placeholder with it and comparing the result with emcc's.

A template is keyed by emcc's identity (its path, version, the files' sizes and times of
emcc and its config, the environment emcc reads) and the command's fixed flags; the clang
it names must still be the same file when it is used.

May import: the standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from .objcache import write_atomic

FORMAT = "embind-py-recipe-1"
BLOCK = "\0block"  # where the block goes in a template
_SLOT = "\0file"  # "\0file3": the fourth file of the command

# The kinds of flag a block may hold: flags emcc hands to clang as they are. A block made of
# them takes the place of the placeholder block, whatever its length.
BLOCK_FLAGS = ("-I", "-D", "-ffile-prefix-map=", "-fdebug-compilation-dir=")
BLOCK_PAIRS = ("-iquote",)  # the flag, then its argument


def placeholder_block(folder: str) -> list[str]:
    """One flag of each kind a block may hold, naming `folder` where they take a path."""
    return [
        f"-ffile-prefix-map={folder}{os.sep}=",
        "-fdebug-compilation-dir=.",
        f"-I{folder}{os.sep}include",
        "-DEMBIND_PY_PLACEHOLDER=1",
        "-iquote",
        f"{folder}{os.sep}quote",
    ]


def is_block(flags: Sequence[str]) -> bool:
    """Whether `flags` are all of the kinds a block may hold."""
    i = 0
    while i < len(flags):
        if flags[i] in BLOCK_PAIRS and i + 1 < len(flags):
            i += 2
        elif flags[i].startswith(BLOCK_FLAGS) and flags[i] not in ("-I", "-D"):
            i += 1
        else:
            return False
    return True


def learn(
    recorded: Sequence[Sequence[str]], block: Sequence[str], files: Sequence[str], folder: str
) -> list[str] | None:
    """The template of the one clang command in `recorded` (every command the wrapper saw)
    that names `folder`, with `block` and each of `files` (paths under `folder`) replaced by
    their slots; None when that is ambiguous (see the module's text)."""
    mine = [list(c) for c in recorded if any(folder in a for a in c)]
    if len(mine) != 1:
        return None
    argv = mine[0]
    n = len(block)
    at = [i for i in range(len(argv) - n + 1) if argv[i : i + n] == list(block)]
    if len(at) != 1:
        return None
    template = [*argv[: at[0]], BLOCK, *argv[at[0] + n :]]
    for k, f in enumerate(files):
        where = [i for i, a in enumerate(template) if a == f]
        if len(where) != 1:
            return None
        template[where[0]] = f"{_SLOT}{k}"
    if any(folder in a for a in template) or not template or template[0].startswith("\0"):
        return None
    return template


def fill(template: Sequence[str], block: Sequence[str], files: Sequence[str]) -> list[str]:
    """The clang command of `template` for this `block` and these `files`."""
    out: list[str] = []
    for a in template:
        if a == BLOCK:
            out += block
        elif a.startswith(_SLOT):
            out.append(files[int(a[len(_SLOT) :])])
        else:
            out.append(a)
    return out


def _signature(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _config_files(emcc: str) -> list[str]:
    """Where emcc finds its config file: `$EM_CONFIG`, beside emcc, in the home folder."""
    found = [os.environ["EM_CONFIG"]] if os.environ.get("EM_CONFIG") else []
    here = os.path.dirname(os.path.realpath(emcc))
    return [*found, os.path.join(here, ".emscripten"), os.path.expanduser("~/.emscripten")]


# What emcc reads from the environment that can change the clang command it runs.
_ENV = (
    "EMCC_CFLAGS",
    "EM_CONFIG",
    "EM_CACHE",
    "EMCC_FORCE_STDLIBS",
    "EM_LLVM_ROOT",
    "EMCC_SKIP_SANITY_CHECK",
)


def key(emcc: Sequence[str], version: str, fixed: Sequence[Sequence[str]]) -> str:
    """The key of a template: emcc's identity and the command's fixed parts."""
    real = os.path.realpath(emcc[-1])
    ident = [list(emcc), version, _signature(real), [[c, _signature(c)] for c in _config_files(real)]]
    env = {k: os.environ.get(k) for k in _ENV}
    blob = json.dumps([FORMAT, ident, env, [list(f) for f in fixed]], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class RecipeStore:
    """Templates kept under `root` (`recipes/<key>.json`). A template records its clang's size
    and time; a changed or missing clang, or a damaged file, is a miss. "Not learnable" is
    kept too (`None`), so emcc is not asked again on every build."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, k: str) -> Path:
        return self.root / "recipes" / f"{k}.json"

    def get(self, k: str) -> tuple[bool, list[str] | None]:
        """(found, template): found with None means emcc's command could not be learnt."""
        try:
            data = json.loads(self._path(k).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False, None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return False, None
        template = data.get("template")
        if template is None:
            return True, None
        if not (isinstance(template, list) and template and all(isinstance(a, str) for a in template)):
            return False, None
        digest = hashlib.sha256(json.dumps(template).encode()).hexdigest()
        if data.get("sha256") != digest or data.get("clang") != _signature(template[0]):
            return False, None
        return True, template

    def put(self, k: str, template: list[str] | None) -> None:
        data: dict[str, object] = {"format": FORMAT, "template": template}
        if template is not None:
            data["sha256"] = hashlib.sha256(json.dumps(template).encode()).hexdigest()
            data["clang"] = _signature(template[0])
        write_atomic(self._path(k), json.dumps(data).encode())
