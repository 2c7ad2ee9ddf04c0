"""On-disk cache of compiled wasm modules, so a second import does not recompile (wasmtime
backend only: under Pyodide a module is compiled once per process, with no disk cache).

Owns: where compiled modules live (`$EMBIND_PY_CACHE`, else
`$XDG_CACHE_HOME/embind-py`, else `~/.cache/embind-py`; set `EMBIND_PY_CACHE=off`
to disable), their keys (the wasm's sha256, the wasmtime version, the engine
settings and the host platform), safe concurrent writes (a temporary file
renamed into place), and ignoring (and replacing) entries that fail to load.

`Module.deserialize` trusts its input: it runs the machine code it is given, so
a damaged entry (a flipped bit on disk) would crash the process. Each entry
therefore ends with the sha256 of its contents, checked before deserializing.
The cache folder must still only be writable by its user, as a user's cache
folder is: the digest detects damage, not tampering.

May import: wasmtime, the standard library.
"""

from __future__ import annotations

import hashlib
import os
import platform
import tempfile
from pathlib import Path

import wasmtime

FORMAT = "sealed-1"  # entries: serialized module + sha256 of it
_DIGEST = hashlib.sha256().digest_size


def _read_sealed(path: Path) -> bytearray | None:
    """The serialized module stored at `path`, or None when it is missing or damaged."""
    try:
        data = bytearray(path.read_bytes())
    except OSError:
        return None
    if len(data) <= _DIGEST:
        return None
    body = memoryview(data)[:-_DIGEST]
    ok = hashlib.sha256(body).digest() == data[-_DIGEST:]
    body.release()
    if not ok:
        return None
    del data[-_DIGEST:]  # truncating a bytearray at its end does not copy it
    return data


def cache_dir() -> Path | None:
    env = os.environ.get("EMBIND_PY_CACHE")
    if env is not None:
        return None if env.lower() in ("", "0", "off", "false", "no") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "embind-py"


def cache_key(digest: str, settings: str) -> str:
    version = getattr(wasmtime, "__version__", None) or _wasmtime_version()
    raw = f"{digest}|wasmtime {version}|{settings}|{platform.machine()}|{platform.system()}|{FORMAT}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _wasmtime_version() -> str:
    try:
        from importlib.metadata import version

        return version("wasmtime")
    except Exception:  # any failure just means "unknown"
        return "unknown"


def load_or_compile(engine: wasmtime.Engine, wasm: bytes, digest: str, settings: str) -> wasmtime.Module:
    """The compiled module for `wasm`: deserialized from the cache, or compiled and stored."""
    folder = cache_dir()
    if folder is None:
        return wasmtime.Module(engine, wasm)
    path = folder / f"{cache_key(digest, settings)}.cwasm"
    if path.is_file():
        sealed = _read_sealed(path)
        try:
            if sealed is not None:
                return wasmtime.Module.deserialize(engine, sealed)
        except (wasmtime.WasmtimeError, ValueError):
            pass
        try:  # damaged or from an incompatible build: drop it and rebuild
            path.unlink()
        except OSError:
            pass
    module = wasmtime.Module(engine, wasm)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".cwasm", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                payload = module.serialize()
                f.write(payload)
                f.write(hashlib.sha256(payload).digest())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError:
        pass  # a read-only or full cache folder only costs speed
    return module
