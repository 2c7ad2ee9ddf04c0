"""A real third-party C library from upstream sources: lz4 1.9.4, as vendored in the `lz4`
sdist on PyPI (fetched at test time with pip, cached for offline runs), bound and exercised.

The cache is `$EMBIND_PY_TEST_CACHE` or `~/.cache/embind-py-tests`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import import_file, run_cli

LZ4_SDIST = "lz4==4.3.3"
LZ4_FILES = ("lz4.c", "lz4.h")


def _cache() -> Path:
    root = os.environ.get("EMBIND_PY_TEST_CACHE") or Path.home() / ".cache" / "embind-py-tests"
    return Path(root) / "lz4-4.3.3"


def lz4_sources() -> Path:
    """lz4.c/lz4.h from the lz4 sdist on PyPI (downloaded once, then read from the cache)."""
    cache = _cache()
    if all((cache / f).is_file() for f in LZ4_FILES):
        return cache
    dl = cache.with_name(cache.name + ".download")
    shutil.rmtree(dl, ignore_errors=True)
    dl.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    proc = subprocess.run(
        [*pip, LZ4_SDIST, "-d", str(dl)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"pip download {LZ4_SDIST} failed:\n{proc.stdout}{proc.stderr}"
    (sdist,) = dl.glob("lz4-*.tar.gz")
    cache.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.isfile() and name in LZ4_FILES and "/lz4libs/" in member.name:
                f = tar.extractfile(member)
                assert f is not None
                (cache / name).write_bytes(f.read())
    shutil.rmtree(dl, ignore_errors=True)
    return cache


@pytest.fixture(scope="module")
def lz4(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    src = lz4_sources()
    d = tmp_path_factory.mktemp("lz4")
    for f in LZ4_FILES:
        shutil.copy(src / f, d / f)
    res = run_cli("build", d / "lz4.c", "--header", d / "lz4.h", "-o", d)
    assert res.exit_code == 0, res.output
    return import_file(d / "lz4.py")


def test_lz4_round_trip(lz4: ModuleType) -> None:
    data = b"embind-py binds real C libraries. " * 200 + bytes(range(256))
    bound = lz4.LZ4_compressBound(len(data))
    dst = bytearray(bound)
    n = lz4.LZ4_compress_default(data, dst, len(data), bound)
    assert 0 < n < len(data) // 4
    out = bytearray(len(data))
    assert lz4.LZ4_decompress_safe(bytes(dst[:n]), out, n, len(out)) == len(data)
    assert bytes(out) == data
    assert lz4.LZ4_versionString() == "1.9.4" and lz4.LZ4_versionNumber() == 10904
    assert lz4.LZ4_VERSION_MAJOR == 1  # a #define constant
    assert lz4.LZ4_VERSION_STRING == "1.9.4"  # `#` stringification of 1.9.4 keeps its spacing
    # corrupt input is reported by C, not a crash
    assert lz4.LZ4_decompress_safe(b"\xff" * 16, bytearray(64), 16, 64) < 0


def test_lz4_streaming_with_struct_pointers(lz4: ModuleType) -> None:
    lib: Any = lz4.load()
    stream = lib.LZ4_createStream()
    assert isinstance(stream, lz4.LZ4_stream_tPtr)
    chunks = [b"first chunk of text " * 20, b"second chunk of text " * 20]
    compressed = []
    ring = lib.ffi.new("char[]", 4096)  # sources must stay in place for the dictionary
    pos = 0
    for c in chunks:
        lib.ffi.memmove(ring + pos, c, len(c))
        dst = bytearray(lib.LZ4_compressBound(len(c)))
        n = lib.LZ4_compress_fast_continue(stream, ring + pos, dst, len(c), len(dst), 1)
        assert n > 0
        compressed.append(bytes(dst[:n]))
        pos += len(c)
    assert lib.LZ4_freeStream(stream) == 0
    dec = lib.LZ4_createStreamDecode()
    out = lib.ffi.new("char[]", 4096)
    pos = 0
    for c, orig in zip(compressed, chunks, strict=True):
        m = lib.LZ4_decompress_safe_continue(dec, c, out + pos, len(c), len(orig))
        assert m == len(orig) and lib.ffi.string(out + pos, m) == orig
        pos += m
    lib.LZ4_freeStreamDecode(dec)
