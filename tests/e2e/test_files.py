"""End to end: C's own file API inside granted folders (issue 12), through real emcc and a
generated module: round trips, a read-only grant, a table of escape attempts that must fail
with the errno a sandboxed native program sees and touch nothing outside, and a race."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import BuildFn

HERE = Path(__file__).parent
# The guest's errno values (Emscripten's libc uses WASI's numbering).
ENOENT, EEXIST, ELOOP, EROFS, EXDEV, EACCES = 44, 20, 32, 69, 75, 2
ENOTDIR, EISDIR, ENOTEMPTY, EINVAL = 54, 31, 55, 28
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC = 0, 1, 2, 0o100, 0o200, 0o1000
F_OK, W_OK, R_OK = 0, 2, 4


@pytest.fixture(scope="module")
def fsx(build_c: BuildFn) -> ModuleType:
    return build_c("fsx", (HERE / "fs_lib.c").read_text(), (HERE / "fs_lib.h").read_text())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/grant (granted as /data) beside tmp/outside, with links inside pointing out."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    g = tmp_path / "grant"
    (g / "sub").mkdir(parents=True)
    (g / "inner.txt").write_text("inside")
    (g / "link_out").symlink_to("../outside/secret.txt")
    (g / "abs_link").symlink_to(tmp_path / "outside" / "secret.txt")
    (g / "dir_out").symlink_to(tmp_path / "outside")
    (g / "dangling_out").symlink_to("../outside/created.txt")
    (g / "loop1").symlink_to("loop2")
    (g / "loop2").symlink_to("loop1")
    (g / "sub" / "up").symlink_to("..")  # inside: /data/sub/up is /data
    return tmp_path


def _outside(tree: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((tree / "outside").iterdir())}


def _read(lib: Any, path: str) -> int | bytes:
    buf = bytearray(256)
    n = lib.fx_read(path, buf, 256)
    return n if n < 0 else bytes(buf[:n])


def test_c_file_api_round_trips_in_a_granted_folder(fsx: ModuleType, tree: Path) -> None:
    g = tree / "grant"
    lib = fsx.load(preopens={"/data": (g, "rw")})
    assert lib.fx_write("/data/a.txt", "w", "hello world") == 11
    assert _read(lib, "/data/a.txt") == b"hello world"
    assert lib.fx_write("/data/a.txt", "a", "!!") == 2
    assert (g / "a.txt").read_text() == "hello world!!"
    assert lib.fx_size("/data/a.txt") == 13 and lib.fx_seek_end("/data/a.txt") == 13
    assert _read(lib, "a.txt") == b"hello world!!"  # the current directory starts at the grant
    names = bytearray(256)
    assert lib.fx_entries("/data", names, 256) == 9
    assert set(bytes(names).split(b"\0")[0].decode().split("/")[:-1]) == {p.name for p in g.iterdir()}
    assert lib.fx_mkdir("/data/new") == 0 and (g / "new").is_dir()
    assert lib.fx_mkdir("/data/new") == -EEXIST
    assert lib.fx_rename("/data/a.txt", "/data/new/b.txt") == 0 and (g / "new" / "b.txt").is_file()
    assert lib.fx_rmdir("/data/new") == -ENOTEMPTY
    assert lib.fx_truncate("/data/new/b.txt", 4) == 0 and (g / "new" / "b.txt").read_text() == "hell"
    assert lib.fx_link("/data/new/b.txt", "/data/hard.txt") == 0 and (g / "hard.txt").read_text() == "hell"
    assert lib.fx_unlink("/data/new/b.txt") == 0 and lib.fx_unlink("/data/new/b.txt") == -ENOENT
    assert lib.fx_rmdir("/data/new") == 0 and not (g / "new").exists()
    assert lib.fx_access("/data/inner.txt", R_OK | W_OK) == 0 and lib.fx_access("/data/nope", F_OK) == -ENOENT
    assert lib.fx_rw_cycle("/data/rw.bin") == 10 * 1000 + 345  # open/write/lseek/read/fstat
    assert lib.fx_open("/data/rw.bin", O_CREAT | O_EXCL | O_WRONLY) == -EEXIST
    assert lib.fx_open("/data/sub", O_WRONLY) == -EISDIR
    assert lib.fx_open("/data/inner.txt/x", O_RDONLY) == -ENOTDIR
    assert lib.fx_symlink("inner.txt", "/data/ln") == 0 and _read(lib, "/data/ln") == b"inside"
    assert _read(lib, "/data/sub/up/inner.txt") == b"inside"
    cwd = bytearray(64)
    assert lib.fx_chdir("/data/sub") == 0 and lib.fx_getcwd(cwd, 64) == 9 and cwd[:9] == b"/data/sub"
    assert _read(lib, "../inner.txt") == b"inside"
    assert _outside(tree) == {"secret.txt": "secret"}


def test_read_only_grant_refuses_every_write(fsx: ModuleType, tree: Path) -> None:
    g = tree / "grant"
    before = sorted(p.name for p in g.iterdir())
    lib = fsx.load(preopens={"/data": g})  # read-only by default
    assert _read(lib, "/data/inner.txt") == b"inside"
    assert lib.fx_size("/data/inner.txt") == 6
    assert lib.fx_entries("/data", bytearray(256), 256) == len(before)
    calls: list[Callable[[], int]] = [
        lambda: lib.fx_write("/data/new.txt", "w", "x"),
        lambda: lib.fx_write("/data/inner.txt", "w", "x"),
        lambda: lib.fx_write("/data/inner.txt", "a", "x"),
        lambda: lib.fx_open("/data/inner.txt", O_RDWR),
        lambda: lib.fx_open("/data/inner.txt", O_RDONLY | O_TRUNC),
        lambda: lib.fx_mkdir("/data/d"),
        lambda: lib.fx_rmdir("/data/sub"),
        lambda: lib.fx_unlink("/data/inner.txt"),
        lambda: lib.fx_rename("/data/inner.txt", "/data/x.txt"),
        lambda: lib.fx_link("/data/inner.txt", "/data/x.txt"),
        lambda: lib.fx_symlink("inner.txt", "/data/x"),
        lambda: lib.fx_truncate("/data/inner.txt", 0),
        lambda: lib.fx_access("/data/inner.txt", W_OK),
    ]
    assert [call() for call in calls] == [-EROFS] * len(calls)
    assert sorted(p.name for p in g.iterdir()) == before and (g / "inner.txt").read_text() == "inside"


ESCAPES: list[tuple[str, str, tuple[Any, ...], int]] = [
    # (what, probe, arguments, the errno C sees)
    ("dotdot past the grant", "read", ("/data/../outside/secret.txt",), ENOENT),
    ("dotdot from the current directory", "read", ("../outside/secret.txt",), ENOENT),
    ("many dotdots", "read", ("/data/../../../../../../etc/passwd",), ENOENT),
    ("absolute host path", "read", ("{outside}/secret.txt",), ENOENT),
    ("relative symlink pointing out", "read", ("/data/link_out",), ENOENT),
    ("absolute symlink pointing out", "read", ("/data/abs_link",), ENOENT),
    ("symlinked directory pointing out", "read", ("/data/dir_out/secret.txt",), ENOENT),
    ("stat through a link pointing out", "size", ("/data/abs_link",), ENOENT),
    ("symlink loop", "read", ("/data/loop1",), ELOOP),
    ("create through a dangling link pointing out", "write", ("/data/dangling_out", "w", "x"), ENOENT),
    ("create in a symlinked directory pointing out", "write", ("/data/dir_out/new.txt", "w", "x"), ENOENT),
    ("create at the guest's root", "write", ("/data/../new.txt", "w", "x"), EROFS),
    ("mkdir outside", "mkdir", ("/data/../newdir",), EROFS),
    ("rename out of the grant", "rename", ("/data/inner.txt", "/data/../stolen.txt"), EROFS),
    ("rename into a directory link pointing out", "rename", ("/data/inner.txt", "/data/dir_out/x"), ENOENT),
    ("rename a file from outside in", "rename", ("/data/../outside/secret.txt", "/data/got.txt"), ENOENT),
    ("hard link to a file outside", "link", ("/data/../outside/secret.txt", "/data/hard.txt"), ENOENT),
    ("hard link through a link pointing out", "link", ("/data/dir_out/secret.txt", "/data/hard.txt"), ENOENT),
    ("unlink outside", "unlink", ("/data/dir_out/secret.txt",), ENOENT),
    ("truncate through a link pointing out", "truncate", ("/data/abs_link", 0), ENOENT),
    ("chdir out", "chdir", ("/data/dir_out",), ENOENT),
    ("rename across two grants", "rename", ("/data/inner.txt", "/other/inner.txt"), EXDEV),
]


@pytest.mark.parametrize(("what", "probe", "args", "code"), ESCAPES, ids=[e[0] for e in ESCAPES])
def test_escape_attempts_fail_and_touch_nothing_outside(
    fsx: ModuleType, tree: Path, what: str, probe: str, args: tuple[Any, ...], code: int
) -> None:
    (tree / "other").mkdir()
    lib = fsx.load(preopens={"/data": (tree / "grant", "rw"), "/other": (tree / "other", "rw")})
    args = tuple(a.format(outside=tree / "outside") if isinstance(a, str) else a for a in args)
    fn = {"read": lambda *a: _read(lib, *a), "size": lib.fx_size}.get(probe) or getattr(lib, "fx_" + probe)
    assert fn(*args) == -code
    assert _outside(tree) == {"secret.txt": "secret"}
    assert sorted(os.listdir(tree)) == ["grant", "other", "outside"]
    assert (tree / "grant" / "inner.txt").read_text() == "inside" and not os.listdir(tree / "other")


def test_symlinks_c_makes_are_followed_inside_the_guest_tree(fsx: ModuleType, tree: Path) -> None:
    lib = fsx.load(preopens={"/data": (tree / "grant", "rw")})
    assert lib.fx_symlink(str(tree / "outside" / "secret.txt"), "/data/mine") == 0  # its text is kept
    assert _read(lib, "/data/mine") == -ENOENT  # and means the guest's path, which does not exist
    assert lib.fx_symlink("/data/inner.txt", "/data/sub/abs") == 0
    assert _read(lib, "/data/sub/abs") == b"inside"
    assert lib.fx_lsize("/data/sub/abs") == -1000  # lstat sees the link itself


def test_no_grant_no_files(fsx: ModuleType, tree: Path) -> None:
    lib = fsx.load()
    assert _read(lib, str(tree / "grant" / "inner.txt")) == -ENOENT
    assert lib.fx_write("x.txt", "w", "x") == -EROFS
    assert not Path("x.txt").exists()


def test_swapping_a_directory_for_a_link_out_never_leaks(fsx: ModuleType, tree: Path) -> None:
    """A host thread keeps replacing grant/d (holding secret.txt = "inside") with a symlink to
    the outside folder while C keeps reading /data/d/secret.txt: C never gets "secret"."""
    g = tree / "grant"
    (g / "d").mkdir()
    (g / "d" / "secret.txt").write_text("inside")
    (g / "d_link").symlink_to(tree / "outside")
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            os.rename(g / "d", g / "d_dir")
            os.rename(g / "d_link", g / "d")  # d is now a link pointing out
            os.rename(g / "d", g / "d_link")
            os.rename(g / "d_dir", g / "d")

    lib = fsx.load(preopens={"/data": (g, "rw")})
    t = threading.Thread(target=flip, daemon=True)
    t.start()
    seen: set[Any] = set()
    deadline = time.monotonic() + 1.0
    try:
        while time.monotonic() < deadline:
            seen.add(_read(lib, "/data/d/secret.txt"))
    finally:
        stop.set()
        t.join(timeout=10)
    assert not t.is_alive()
    assert b"secret" not in seen, seen
    assert b"inside" in seen
    assert seen <= {b"inside", -ENOENT, -ELOOP, -ENOTDIR, -EINVAL}, seen  # each as a race gives them


def test_errno_values_match_the_guest_numbering() -> None:
    from embind_py.runtime.host.files import G, guest_errno

    assert G["ENOENT"] == ENOENT and G["EROFS"] == EROFS and G["EXDEV"] == EXDEV and G["EACCES"] == EACCES
    assert guest_errno(OSError(errno.ENOENT, "x")) == ENOENT
    assert guest_errno(OSError(errno.ELOOP, "x")) == ELOOP
