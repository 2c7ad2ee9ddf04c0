"""The object cache: compiled `.o` files, found again by what went into them.

Owns: where objects are kept (`$EMBIND_PY_CACHE/build`, else
`$XDG_CACHE_HOME/embind-py/build`, else `~/.cache/embind-py/build`; `EMBIND_PY_CACHE=off`
turns it off, as for the runtime's cache of compiled modules), the keys, and reading and
writing entries safely. It starts no process: `toolchain` compiles and asks here first.

An object depends on its command line (flags, emcc and its version, emcc's environment),
the source's bytes and the bytes of every file it included, which are known only once it is
compiled (emcc's `-MMD` list; the toolchain's own headers are covered by emcc's identity,
and a compile that adds system include folders is not cached). So a lookup is in two steps,
as ccache's direct mode does:
`manifests/<K>.json`, K the hash of the command line and the source, lists the included files
of earlier compiles with their hashes and the object they gave; an entry whose files all
still hash the same names `objects/<sha256 of the object>.o`. Every file is written to a
temporary name and renamed into place, so concurrent builds never see half an entry, and
an object whose bytes do not hash to its name (a damaged disk, a hand edit) is a miss and
is compiled again. Nothing is ever evicted: delete the folder to reclaim the space.

May import: the standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

FORMAT = "embind-py-objects-1"
_KEEP = 8  # manifest entries kept per command line and source (newest first)


def cache_root() -> Path | None:
    """The object cache's folder, or None when it is off (the rule of `runtime/_cache.py`,
    which the build side may not import: it loads wasmtime)."""
    env = os.environ.get("EMBIND_PY_CACHE")
    if env is not None:
        return None if env.lower() in ("", "0", "off", "false", "no") else Path(env) / "build"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "embind-py" / "build"


class FileHashes:
    """sha256 of files, each read once per build (many sources include the same headers)."""

    def __init__(self) -> None:
        self._done: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> str | None:
        """The file's sha256, or None when it cannot be read (or is not a regular file)."""
        with self._lock:
            if path in self._done:
                return self._done[path]
        try:  # a FIFO or a device is no input clang read to its end: never hashed
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else None
        except OSError:
            digest = None
        with self._lock:
            self._done[path] = digest
        return digest


def command_key(argv: Sequence[str], emcc_version: str, source_sha: str) -> str:
    """The first-step key: a compile's command line (without its output paths), emcc and the
    settings emcc reads from the environment, and the source's bytes."""
    env = {k: os.environ.get(k) for k in ("EMCC_CFLAGS", "EM_CONFIG", "EM_CACHE", "EMCC_FORCE_STDLIBS")}
    blob = json.dumps([FORMAT, emcc_version, list(argv), env, source_sha], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Hit:
    path: Path  # the cached object (its bytes checked against its name)
    data: bytes
    deps: tuple[str, ...]  # every file the compile read, the source first


@dataclass(frozen=True)
class Made:
    """What `ObjectCache.through` gives: the bytes, the files their making read, where the
    cache keeps them (None: not kept), and whether they came from the cache."""

    data: bytes
    deps: tuple[str, ...]
    path: Path | None
    cached: bool


class ObjectCache:
    """One cache folder, for one build: safe to use from several threads and processes at
    once. `hashes` are the build's file hashes, each file read once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hashes = FileHashes()

    def through(self, key: str, make: Callable[[], tuple[bytes, Sequence[str]]]) -> Made:
        """The bytes kept under `key` if every file they were made from is unchanged; else
        `make()`'s (bytes, the files it read), kept unless one of those files changed while
        it ran (the bytes may then hold the old text or the new)."""
        hit = self.lookup(key, self.hashes)
        if hit is not None:
            return Made(hit.data, hit.deps, hit.path, True)
        start = time.time_ns()
        data, deps = make()
        pairs = [(d, self.hashes.get(d)) for d in deps]
        path = None
        if all(sha is not None and not changed_since(d, start) for d, sha in pairs):
            path = self.store(key, data, [(d, sha) for d, sha in pairs if sha is not None])
        return Made(data, tuple(deps), path, False)

    def _manifest(self, key: str) -> Path:
        return self.root / "manifests" / key[:2] / f"{key}.json"

    def _object(self, sha: str) -> Path:
        return self.root / "objects" / sha[:2] / f"{sha}.o"

    def _entries(self, key: str) -> list[dict[str, object]]:
        try:
            data = json.loads(self._manifest(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, or damaged: a miss
            return []
        if (
            not isinstance(data, dict)
            or data.get("format") != FORMAT
            or not isinstance(data.get("entries"), list)
        ):
            return []
        return [e for e in data["entries"] if isinstance(e, dict)]

    def lookup(self, key: str, hashes: FileHashes) -> Hit | None:
        """The object an earlier compile with `key` gave, if every file it read is unchanged."""
        for entry in self._entries(key):
            deps, sha = entry.get("deps"), entry.get("object")
            if not isinstance(deps, list) or not isinstance(sha, str):
                continue
            if not all(isinstance(d, list) and len(d) == 2 and hashes.get(str(d[0])) == d[1] for d in deps):
                continue
            path = self._object(sha)
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if hashlib.sha256(data).hexdigest() != sha:
                continue  # damaged: compiled again, and the good object replaces it
            return Hit(path, data, tuple(str(d[0]) for d in deps))
        return None

    def store(self, key: str, data: bytes, deps: list[tuple[str, str]]) -> Path:
        """Keep `data` (an object whose compile read `deps`, (path, sha256) pairs); its path."""
        sha = hashlib.sha256(data).hexdigest()
        path = self._object(sha)
        write_atomic(path, data)  # also over a damaged file of that name
        entry: dict[str, object] = {"deps": [list(d) for d in deps], "object": sha}
        old = [e for e in self._entries(key) if e.get("deps") != entry["deps"]]
        manifest = {"format": FORMAT, "entries": [entry, *old][:_KEEP]}
        write_atomic(self._manifest(key), json.dumps(manifest).encode())
        return path


def changed_since(path: str, start_ns: int) -> bool:
    """Whether `path` was written after the work that read it began at `start_ns`."""
    try:
        st = os.stat(path)
    except OSError:
        return True
    return max(st.st_mtime_ns, st.st_ctime_ns) >= start_ns


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes, python_source: bool = False) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename: a
    reader (another build, an import) sees the old file or the new one, never half of one.

    With `python_source`, Python never runs bytecode compiled from the file replaced: a `.pyc`
    counts as current when its source has the size and the modification time, in whole
    seconds, it recorded, and a rebuild within the same second often writes a module of the
    same size (only hashes differ). The new file's time then moves to the next second."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        old = os.stat(path) if python_source else None
    except OSError:
        old = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if old is not None and old.st_size == len(data):
            new = os.stat(tmp)
            if int(new.st_mtime) == int(old.st_mtime):
                later = (int(old.st_mtime) + 1) * 10**9
                os.utime(tmp, ns=(new.st_atime_ns, later))
        # mkstemp makes the file 0600; give it the mode any new file gets here (0644 with
        # the usual umask), or a package built from it installs files only the builder can read.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
