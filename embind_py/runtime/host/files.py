"""C's file system: the folders an instance grants (`preopens`), answered in Python.

Owns: `FileSystem`, one per instance: its descriptor table (0-2 are stdio; then one
descriptor per granted folder, as WASI preopens; then C's open files), the current
directory, and the resolution of every guest path; and the imports that reach it: the
WASI `fd_*` calls on those descriptors (plus `path_open` and the preopen queries for code
calling WASI directly), the `env.__syscall_*` file calls of Emscripten's libc, and the
`embind_py_fs_*` calls of the C shim the build links in (`embind_py/csrc`), which replace
the libc's stubs for open, stat, getdents, fcntl, ioctl and link.

The guest sees a tree whose root holds only the granted folders, as a chroot would.
Paths are resolved here one component at a time, from a host directory descriptor of
the component before: `..` never climbs above the root, a symbolic link is read and
followed in the guest's tree (an absolute target starts again at its root; more than 40
links give ELOOP), and every host call names a single component relative to a directory
descriptor with symbolic links refused (O_NOFOLLOW, follow_symlinks=False), so a link
swapped in between a check and its use fails instead of leading outside. A read-only grant
refuses every change with EROFS; renames and links between two grants fail with EXDEV, as
between two mounts. Errors are the host's errno, renumbered for the guest. There is no
file locking (`fcntl` locks always succeed, as under Emscripten's JS file system).

Needs a host with `dir_fd` support in `os` (Linux, macOS and other POSIX systems).

May import: the standard library, the runtime's own modules, `._registry`.
"""

from __future__ import annotations

import errno as _errno
import os
import stat as _stat
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._registry import WASI, host, import_params

if TYPE_CHECKING:
    from .._instance import Instance

# The guest's errno values (WASI's numbering, which Emscripten's libc uses), by name.
_GUEST_ERRNO_NAMES = (
    "ESUCCESS E2BIG EACCES EADDRINUSE EADDRNOTAVAIL EAFNOSUPPORT EAGAIN EALREADY EBADF EBADMSG "
    "EBUSY ECANCELED ECHILD ECONNABORTED ECONNREFUSED ECONNRESET EDEADLK EDESTADDRREQ EDOM EDQUOT "
    "EEXIST EFAULT EFBIG EHOSTUNREACH EIDRM EILSEQ EINPROGRESS EINTR EINVAL EIO EISCONN EISDIR ELOOP "
    "EMFILE EMLINK EMSGSIZE EMULTIHOP ENAMETOOLONG ENETDOWN ENETRESET ENETUNREACH ENFILE ENOBUFS "
    "ENODEV ENOENT ENOEXEC ENOLCK ENOLINK ENOMEM ENOMSG ENOPROTOOPT ENOSPC ENOSYS ENOTCONN ENOTDIR "
    "ENOTEMPTY ENOTRECOVERABLE ENOTSOCK ENOTSUP ENOTTY ENXIO EOVERFLOW EOWNERDEAD EPERM EPIPE EPROTO "
    "EPROTONOSUPPORT EPROTOTYPE ERANGE EROFS ESPIPE ESRCH ESTALE ETIMEDOUT ETXTBSY EXDEV ENOTCAPABLE"
).split()
G = {name: i for i, name in enumerate(_GUEST_ERRNO_NAMES)}
_FROM_HOST = {getattr(_errno, n): i for n, i in G.items() if isinstance(getattr(_errno, n, None), int)}
_FROM_HOST.setdefault(getattr(_errno, "EOPNOTSUPP", -1), G["ENOTSUP"])
_FROM_HOST.setdefault(getattr(_errno, "EWOULDBLOCK", -1), G["EAGAIN"])

# Emscripten's (musl's generic) open flags and *at flags.
O_ACCMODE, O_WRONLY, O_RDWR = 3, 1, 2
O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NONBLOCK = 0o100, 0o200, 0o1000, 0o2000, 0o4000
O_DSYNC, O_SYNC, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC = 0o10000, 0o4010000, 0o200000, 0o400000, 0o2000000
O_PATH, O_TMPFILE = 0o10000000, 0o20200000
AT_FDCWD, AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_EMPTY_PATH = -100, 0x100, 0x200, 0x1000
W_OK = 2
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
_MAX_LINKS = 40
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW


class FsError(Exception):
    """A file-system call fails with the guest errno `code`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _fail(name: str) -> FsError:
    return FsError(G[name])


def guest_errno(e: OSError) -> int:
    return _FROM_HOST.get(e.errno or 0, G["EIO"])


@dataclass
class Grant:
    """A host folder the guest sees at `guest` (components), read-only unless `writable`."""

    guest: tuple[bytes, ...]
    host: str
    writable: bool
    fd: int = -1  # the folder, opened once: every walk inside starts from a duplicate
    dev_ino: tuple[int, int] = (0, 0)


@dataclass
class Dir:
    """Where a walk stands: a host directory of a grant (`fd`), or a directory of the
    guest's tree above the grants (`fd` -1, `grant` None). `vpath` is its guest path."""

    vpath: tuple[bytes, ...]
    grant: Grant | None = None
    fd: int = -1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass
class OpenFile:
    """One guest descriptor: a host descriptor (`fd`; -1 for a directory above the grants)."""

    fd: int
    vpath: tuple[bytes, ...]
    grant: Grant | None
    flags: int  # the guest's open flags
    is_dir: bool = False
    preopen: bool = False
    listing: list[tuple[bytes, int, int]] | None = None  # (name, ino, d_type) for getdents
    pos: int = 0  # directory position (entries read)
    refs: list[int] = field(default_factory=lambda: [1])  # dup()s share the host descriptor

    @property
    def readable(self) -> bool:
        return (self.flags & O_ACCMODE) != O_WRONLY

    @property
    def writable(self) -> bool:
        return (self.flags & O_ACCMODE) in (O_WRONLY, O_RDWR)


def parse_grants(preopens: Mapping[str, Any] | None, writable: bool) -> list[Grant]:
    """The folders of `preopens` (`{guest_path: host_dir}` or `(host_dir, "ro" | "rw")`)."""
    if not preopens:
        return []
    if not isinstance(preopens, Mapping):
        raise TypeError(f"preopens: expected a dict {{guest_path: host_dir}}, got {type(preopens).__name__}")
    if os.open not in os.supports_dir_fd or os.stat not in os.supports_dir_fd:
        raise ValueError("preopens: C's file system needs a host whose os module has dir_fd (Linux, macOS)")
    grants: list[Grant] = []
    for guest, spec in preopens.items():
        mutable = writable
        if isinstance(spec, tuple):
            if len(spec) != 2 or spec[1] not in _MODES:
                raise ValueError(
                    f"preopens[{guest!r}]: expected host_dir or (host_dir, 'ro' | 'rw'), got {spec!r}"
                )
            spec, mutable = spec[0], _MODES[spec[1]]
        if not isinstance(guest, str) or not guest:
            raise TypeError(f"preopens: guest path {guest!r} must be a non-empty str")
        if not isinstance(spec, str | os.PathLike):
            raise TypeError(f"preopens[{guest!r}]: expected a host folder path, got {type(spec).__name__}")
        folder = Path(spec)
        if not folder.is_dir():
            raise ValueError(f"preopens[{guest!r}]: {str(folder)!r} is not a folder")
        parts = tuple(p for p in os.fsencode(guest).split(b"/") if p not in (b"", b"."))
        if b".." in parts:
            raise ValueError(f"preopens[{guest!r}]: a guest path cannot contain '..'")
        for g in grants:
            n = min(len(g.guest), len(parts))
            if g.guest[:n] == parts[:n]:
                other = "/" + b"/".join(g.guest).decode()
                raise ValueError(f"preopens[{guest!r}]: overlaps the grant {other!r}")
        grants.append(Grant(parts, str(folder.resolve()), mutable))
    return grants


_MODES = {"r": False, "ro": False, "read": False, "rw": True, "w": True, "write": True}


class FileSystem:
    """The guest's files: descriptors, current directory and path resolution over `grants`."""

    def __init__(self, grants: list[Grant]) -> None:
        self.grants = grants
        self.files: dict[int, OpenFile] = {}
        self.layouts: dict[tuple[int, int], tuple[struct.Struct, list[tuple[int, int]]]] = {}
        self.cwd: tuple[bytes, ...] = grants[0].guest if grants else ()
        for i, g in enumerate(grants):
            g.fd = os.open(g.host, _DIR_FLAGS)
            st = os.fstat(g.fd)
            g.dev_ino = (st.st_dev, st.st_ino)
            self.files[3 + i] = OpenFile(os.dup(g.fd), g.guest, g, O_DIRECTORY, is_dir=True, preopen=True)

    def close_all(self) -> None:
        for fd in list(self.files):
            self.close(fd)
        for g in self.grants:
            if g.fd >= 0:
                os.close(g.fd)
                g.fd = -1

    # -- descriptors -------------------------------------------------------

    def get(self, fd: int) -> OpenFile:
        f = self.files.get(fd)
        if f is None:
            raise _fail("EBADF")
        return f

    def add(self, f: OpenFile, lowest: int = 3) -> int:
        fd = lowest
        while fd in self.files:
            fd += 1
        self.files[fd] = f
        return fd

    def close(self, fd: int) -> None:
        f = self.files.pop(fd, None)
        if f is None:
            raise _fail("EBADF")
        f.refs[0] -= 1
        if f.refs[0] == 0 and f.fd >= 0:
            os.close(f.fd)

    def dup(self, fd: int, lowest: int = 0) -> int:
        f = self.get(fd)
        f.refs[0] += 1
        return self.add(f, max(lowest, 3))

    # -- paths -------------------------------------------------------------

    def _root(self) -> Dir:
        return self._virtual(())

    def _virtual(self, vpath: tuple[bytes, ...]) -> Dir:
        for g in self.grants:
            if g.guest == vpath:
                return Dir(vpath, g, os.dup(g.fd))
        return Dir(vpath)

    def _start(self, dirfd: int, path: bytes) -> Dir:
        if path.startswith(b"/"):
            return self._root()
        if dirfd == AT_FDCWD:
            return self._walk_vpath(self.cwd)
        f = self.get(dirfd)
        if not f.is_dir:
            raise _fail("ENOTDIR")
        if f.fd < 0:
            return Dir(f.vpath)
        return Dir(f.vpath, f.grant, os.dup(f.fd))

    def _walk_vpath(self, vpath: tuple[bytes, ...]) -> Dir:
        d = self._root()
        try:
            for name in vpath:
                d = self._step(d, name)
            return d
        except BaseException:
            d.close()
            raise

    def _step(self, d: Dir, name: bytes) -> Dir:
        """The directory `name` inside `d` (which it replaces: `d` is closed)."""
        if d.grant is None:
            vpath = (*d.vpath, name)
            if not any(g.guest[: len(vpath)] == vpath for g in self.grants):
                raise _fail("ENOENT")
            return self._virtual(vpath)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=d.fd)
        except OSError as e:
            raise FsError(guest_errno(e)) from None
        finally:
            d.close()
        return Dir((*d.vpath, name), d.grant, fd)

    def _up(self, d: Dir) -> Dir:
        if d.grant is not None:
            st = os.fstat(d.fd)
            if (st.st_dev, st.st_ino) != d.grant.dev_ino:
                try:
                    fd = os.open(b"..", _DIR_FLAGS, dir_fd=d.fd)
                finally:
                    d.close()
                return Dir(d.vpath[:-1], d.grant, fd)
            d.close()
            return self._virtual(d.grant.guest[:-1])
        return self._virtual(d.vpath[:-1])

    def resolve(self, dirfd: int, path: bytes, follow: bool = True) -> tuple[Dir, bytes | None]:
        """(directory, name): where `path` leads, as the directory holding its last component
        and that component's name, or (the directory itself, None) when the path names a
        directory (`/data`, `x/..`, `a/`). The caller closes the directory."""
        if not path:
            raise _fail("ENOENT")
        if b"\0" in path:
            raise _fail("EINVAL")
        d = self._start(dirfd, path)
        parts = [p for p in path.split(b"/") if p]
        must_be_dir = path.endswith(b"/")
        links = 0
        try:
            while parts:
                name = parts.pop(0)
                last = not parts
                if name == b".":
                    continue
                if name == b"..":
                    d = self._up(d)
                    continue
                if len(name) > 255:
                    raise _fail("ENAMETOOLONG")
                if d.grant is not None:
                    try:
                        st = os.stat(name, dir_fd=d.fd, follow_symlinks=False)
                    except FileNotFoundError:
                        if last and not must_be_dir:
                            return d, name  # to be created
                        raise _fail("ENOENT") from None
                    except OSError as e:
                        raise FsError(guest_errno(e)) from None
                    if _stat.S_ISLNK(st.st_mode) and (not last or follow or must_be_dir):
                        links += 1
                        if links > _MAX_LINKS:
                            raise _fail("ELOOP")
                        try:
                            target = os.readlink(name, dir_fd=d.fd)
                        except OSError as e:
                            raise FsError(guest_errno(e)) from None
                        if not target:
                            raise _fail("ENOENT")
                        if target.startswith(b"/"):
                            d.close()
                            d = self._root()
                        parts[:0] = [p for p in target.split(b"/") if p]
                        if target.endswith(b"/") and last:
                            must_be_dir = True
                        continue
                    if last and not must_be_dir:
                        return d, name
                    if last and not _stat.S_ISDIR(st.st_mode):
                        raise _fail("ENOTDIR")
                elif last and not must_be_dir:
                    vpath = (*d.vpath, name)
                    if not any(g.guest[: len(vpath)] == vpath for g in self.grants):
                        return d, name  # a name at the guest's root that is no grant
                d = self._step(d, name)
            return d, None
        except BaseException:
            d.close()
            raise

    def lookup_dir(self, dirfd: int, path: bytes) -> Dir:
        d, name = self.resolve(dirfd, path)
        if name is None:
            return d
        try:
            return self._step(d, name)
        except BaseException:
            d.close()
            raise

    def writable_dir(self, d: Dir) -> int:
        """The host descriptor of `d` when the guest may change it; EROFS otherwise."""
        if d.grant is None or not d.grant.writable:
            raise _fail("EROFS")
        return d.fd

    # -- operations --------------------------------------------------------

    def open(self, dirfd: int, path: bytes, flags: int, mode: int) -> int:
        if flags & O_TMPFILE == O_TMPFILE:
            raise _fail("ENOTSUP")
        excl = flags & O_CREAT and flags & O_EXCL
        d, name = self.resolve(dirfd, path, follow=not (flags & O_NOFOLLOW or excl))
        try:
            acc = flags & O_ACCMODE
            if name is None:
                if acc != os.O_RDONLY or (flags & (O_CREAT | O_TRUNC) and not flags & O_PATH):
                    raise _fail("EISDIR")
                f = OpenFile(-1, d.vpath, d.grant, flags, is_dir=True)
                if d.fd >= 0:
                    f.fd, d.fd = d.fd, -1
                return self.add(f)
            if d.grant is None:
                raise _fail("EROFS" if flags & O_CREAT else "ENOENT")
            exists = True
            try:
                st = os.stat(name, dir_fd=d.fd, follow_symlinks=False)
            except FileNotFoundError:
                exists = False
            except OSError as e:
                raise FsError(guest_errno(e)) from None
            if not exists and not flags & O_CREAT:
                raise _fail("ENOENT")
            if exists and excl:
                raise _fail("EEXIST")
            if exists and _stat.S_ISLNK(st.st_mode):
                raise _fail("ELOOP")  # O_NOFOLLOW on a link
            wants_change = acc != os.O_RDONLY or flags & O_TRUNC or (flags & O_CREAT and not exists)
            if wants_change and not d.grant.writable:
                raise _fail("EROFS")
            if exists and _stat.S_ISDIR(st.st_mode) and acc != os.O_RDONLY:
                raise _fail("EISDIR")
            if flags & O_DIRECTORY and exists and not _stat.S_ISDIR(st.st_mode):
                raise _fail("ENOTDIR")
            host_flags = {0: os.O_RDONLY, O_WRONLY: os.O_WRONLY, O_RDWR: os.O_RDWR}.get(acc, os.O_RDONLY)
            for guest, hostf in _OPEN_FLAGS:
                if flags & guest == guest:
                    host_flags |= hostf
            host_flags |= _NOFOLLOW
            try:
                fd = os.open(name, host_flags, mode & 0o7777, dir_fd=d.fd)
            except OSError as e:
                raise FsError(guest_errno(e)) from None
            is_dir = _stat.S_ISDIR(os.fstat(fd).st_mode)
            return self.add(OpenFile(fd, (*d.vpath, name), d.grant, flags, is_dir=is_dir))
        finally:
            d.close()

    def stat(self, dirfd: int, path: bytes, flags: int) -> os.stat_result | None:
        """The host's stat of the target (None: a directory above the grants)."""
        if not path and flags & AT_EMPTY_PATH:
            if dirfd == AT_FDCWD:
                d = self._walk_vpath(self.cwd)
                try:
                    return os.fstat(d.fd) if d.fd >= 0 else None
                finally:
                    d.close()
            f = self.get(dirfd)
            return os.fstat(f.fd) if f.fd >= 0 else None
        d, name = self.resolve(dirfd, path, follow=not flags & AT_SYMLINK_NOFOLLOW)
        try:
            if name is None:
                return os.fstat(d.fd) if d.fd >= 0 else None
            if d.grant is None:
                raise _fail("ENOENT")
            try:
                return os.stat(name, dir_fd=d.fd, follow_symlinks=False)
            except OSError as e:
                raise FsError(guest_errno(e)) from None
        finally:
            d.close()

    def entry(self, dirfd: int, path: bytes, what: str) -> tuple[Dir, bytes]:
        """A directory entry the guest changes (`unlink`, `mkdir`, ...): writable, not a grant."""
        d, name = self.resolve(dirfd, path, follow=False)
        if name is None or name in (b".", b".."):
            d.close()
            raise _fail("EBUSY" if what in ("unlink", "rmdir", "rename") else "EEXIST")
        try:
            self.writable_dir(d)
        except BaseException:
            d.close()
            raise
        return d, name

    def listing(self, f: OpenFile) -> list[tuple[bytes, int, int]]:
        if f.listing is None or f.pos == 0:
            out: list[tuple[bytes, int, int]] = [(b".", 0, 4), (b"..", 0, 4)]
            if f.fd >= 0:
                with os.scandir(f.fd) as it:
                    for e in it:
                        name = os.fsencode(e.name)
                        out.append((name, e.inode(), _dtype(e)))
            else:
                names = {g.guest[len(f.vpath)] for g in self.grants if g.guest[: len(f.vpath)] == f.vpath}
                out += [(n, 0, 4) for n in sorted(names)]
            f.listing = out
        return f.listing


_OPEN_FLAGS = [
    (O_CREAT, os.O_CREAT),
    (O_EXCL, os.O_EXCL),
    (O_TRUNC, os.O_TRUNC),
    (O_APPEND, os.O_APPEND),
    (O_DIRECTORY, getattr(os, "O_DIRECTORY", 0)),
    (O_DSYNC, getattr(os, "O_DSYNC", 0)),
    (O_SYNC, getattr(os, "O_SYNC", 0)),
]


def _dtype(e: os.DirEntry[str]) -> int:
    try:
        if e.is_symlink():
            return 10
        if e.is_dir(follow_symlinks=False):
            return 4
        if e.is_file(follow_symlinks=False):
            return 8
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------------------
# The imports


def fs_of(inst: Instance) -> FileSystem:
    fs: FileSystem | None = getattr(inst, "_files", None)
    if fs is None:
        fs = inst._files = FileSystem([])
    return fs


def guarded(fn: Callable[..., int], negative: bool = True) -> Callable[..., int]:
    """`fn`, with a failure returned as -errno (syscalls) or errno (WASI, `negative` False)."""

    def call(*args: Any) -> int:
        try:
            return fn(*args)
        except FsError as e:
            return -e.code if negative else e.code
        except OSError as e:
            code = guest_errno(e)
            return -code if negative else code

    call.__name__ = getattr(fn, "__name__", "fs")
    return call


def as_errno(thunk: Callable[[], object]) -> int:
    """0 after `thunk()`, or the guest errno of its failure (for WASI calls on files only:
    the stdio streams' own errors, a closed pipe among them, must reach Python)."""
    try:
        thunk()
        return 0
    except FsError as e:
        return e.code
    except OSError as e:
        return guest_errno(e)


def _path(inst: Instance, ptr: int) -> bytes:
    if not ptr:
        raise _fail("EFAULT")
    return inst.mem.read_cstring(ptr)


_SIZED = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _packer(inst: Instance, layout: int, count: int) -> tuple[struct.Struct, list[tuple[int, int]]]:
    """How to write a struct the shim describes at `layout` (its size, then (offset, size) of
    `count` fields): one `struct.Struct`, and (field index, mask) in its order. Read once per
    instance: the table is a constant of the wasm."""
    fs = fs_of(inst)
    key = (layout, count)
    cached = fs.layouts.get(key)
    if cached is None:
        raw = struct.unpack(f"<{1 + 2 * count}i", inst.mem.read(layout, 4 * (1 + 2 * count)))
        fields = sorted((raw[1 + 2 * i], raw[2 + 2 * i], i) for i in range(count))
        fmt, pos, order = "<", 0, []
        for off, n, i in fields:
            if off < pos or n not in _SIZED:
                raise _fail("EINVAL")  # not a layout the shim writes
            fmt += f"{off - pos}x" * (off > pos) + _SIZED[n]
            pos = off + n
            order.append((i, (1 << (8 * n)) - 1))
        fmt += f"{raw[0] - pos}x" * (raw[0] > pos)
        cached = fs.layouts[key] = (struct.Struct(fmt), order)
    return cached


def _write_fields(inst: Instance, buf: int, layout: int, count: int, values: Iterator[int]) -> None:
    packer, order = _packer(inst, layout, count)
    v = [*values, *([0] * count)]
    inst.mem.write(buf, packer.pack(*(v[i] & mask for i, mask in order)))


def _stat_values(st: os.stat_result | None) -> Iterator[int]:
    if st is None:  # a directory of the guest's tree above the grants
        yield from (0, 1, _stat.S_IFDIR | 0o555, 2, 0, 0, 0, 4096, 4096, 0)
        yield from (0, 0, 0, 0, 0, 0)
        return
    yield from (st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid)
    yield from (getattr(st, "st_rdev", 0), st.st_size, getattr(st, "st_blksize", 4096))
    yield getattr(st, "st_blocks", (st.st_size + 511) // 512)
    for ns in (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns):
        yield ns // 1_000_000_000
        yield ns % 1_000_000_000


@host("env", "embind_py_fs_openat")
def _fs_openat(inst: Instance, name: str) -> Callable[..., Any]:
    def openat(dirfd: int, path: int, flags: int, mode: int) -> int:
        p = _path(inst, path)
        if p in (b"/dev/stdin", b"/dev/stdout", b"/dev/stderr"):
            return (b"/dev/stdin", b"/dev/stdout", b"/dev/stderr").index(p)
        return fs_of(inst).open(dirfd, p, flags, mode)

    return guarded(openat)


@host("env", "embind_py_fs_stat")
def _fs_stat(inst: Instance, name: str) -> Callable[..., Any]:
    def stat(dirfd: int, path: int, flags: int, buf: int, layout: int) -> int:
        if 0 <= dirfd <= 2 and flags & AT_EMPTY_PATH:  # stdio: a character device
            _write_fields(inst, buf, layout, 16, iter((0, 0, _stat.S_IFCHR | 0o620, 1)))
            return 0
        st = fs_of(inst).stat(dirfd, _path(inst, path), flags)
        _write_fields(inst, buf, layout, 16, _stat_values(st))
        return 0

    return guarded(stat)


@host("env", "embind_py_fs_getdents")
def _fs_getdents(inst: Instance, name: str) -> Callable[..., Any]:
    def getdents(fd: int, buf: int, count: int, layout: int) -> int:
        fs = fs_of(inst)
        f = fs.get(fd)
        if not f.is_dir:
            raise _fail("ENOTDIR")
        entries = fs.listing(f)
        raw = struct.unpack("<11i", inst.mem.read(layout, 44))
        size, (o_ino, n_ino, o_off, n_off, o_rec, n_rec, o_type, n_type, o_name, n_name) = raw[0], raw[1:]
        out = bytearray()
        while f.pos < len(entries) and len(out) + size <= count:
            ename, ino, dtype = entries[f.pos]
            f.pos += 1
            if len(ename) >= n_name:
                continue
            rec = bytearray(size)
            rec[o_ino : o_ino + n_ino] = (ino & ((1 << (8 * n_ino)) - 1)).to_bytes(n_ino, "little")
            rec[o_off : o_off + n_off] = f.pos.to_bytes(n_off, "little")
            rec[o_rec : o_rec + n_rec] = size.to_bytes(n_rec, "little")
            rec[o_type : o_type + n_type] = dtype.to_bytes(n_type, "little")
            rec[o_name : o_name + len(ename)] = ename
            out += rec
        if not out and f.pos < len(entries):
            raise _fail("EINVAL")  # the buffer cannot hold one entry
        inst.mem.write(buf, bytes(out))
        return len(out)

    return guarded(getdents)


@host("env", "embind_py_fs_fcntl")
def _fs_fcntl(inst: Instance, name: str) -> Callable[..., Any]:
    def fcntl(fd: int, cmd: int, arg: int) -> int:
        if 0 <= fd <= 2:
            stdio = {F_GETFD: 0, F_SETFD: 0, F_GETFL: (O_WRONLY if fd else 0), F_SETFL: 0}
            return stdio.get(cmd, -G["EINVAL"])
        fs = fs_of(inst)
        f = fs.get(fd)
        if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
            return fs.dup(fd, arg)
        if cmd in (F_GETFD, F_SETFD):
            return 0
        if cmd == F_GETFL:
            return f.flags & (O_ACCMODE | O_APPEND | O_NONBLOCK)
        if cmd == F_SETFL:
            if (arg ^ f.flags) & O_APPEND and f.fd >= 0:
                os.set_blocking(f.fd, True)
                import fcntl as host_fcntl  # POSIX only, as dir_fd

                fl = host_fcntl.fcntl(f.fd, host_fcntl.F_GETFL)
                fl = fl | os.O_APPEND if arg & O_APPEND else fl & ~os.O_APPEND
                host_fcntl.fcntl(f.fd, host_fcntl.F_SETFL, fl)
            f.flags = (f.flags & ~(O_APPEND | O_NONBLOCK)) | (arg & (O_APPEND | O_NONBLOCK))
            return 0
        return -G["EINVAL"]

    return guarded(fcntl)


@host("env", "embind_py_fs_ioctl")
def _fs_ioctl(inst: Instance, name: str) -> Callable[..., Any]:
    def ioctl(fd: int, request: int) -> int:
        if not 0 <= fd <= 2:
            fs_of(inst).get(fd)
        return -G["ENOTTY"]  # no terminals: files, folders and the stdio streams alike

    return guarded(ioctl)


# -- env.__syscall_* that Emscripten's libc imports ---------------------------


def _syscall(*names: str) -> Callable[[Callable[[Instance, str], Callable[..., int]]], Any]:
    def deco(make: Callable[[Instance, str], Callable[..., int]]) -> Any:
        def factory(inst: Instance, name: str) -> Callable[..., Any]:
            return guarded(make(inst, name.removeprefix("__syscall_")))

        return host("env", *(f"__syscall_{n}" for n in names))(factory)

    return deco


def _at(name: str, args: tuple[int, ...]) -> tuple[int, ...]:
    """The arguments of a path call in its *at form: (dirfd, path, ...)."""
    return args if name.endswith(("at", "at2")) else (AT_FDCWD, *args)


@_syscall("unlinkat", "unlink", "rmdir")
def _unlink(inst: Instance, name: str) -> Callable[..., int]:
    def unlink(*args: int) -> int:
        dirfd, path, *rest = _at(name, args)
        rmdir = name.endswith("rmdir") or bool(rest and rest[0] & AT_REMOVEDIR)
        d, entry = fs_of(inst).entry(dirfd, _path(inst, path), "rmdir" if rmdir else "unlink")
        try:
            if rmdir:
                os.rmdir(entry, dir_fd=d.fd)
            else:
                if _stat.S_ISDIR(os.stat(entry, dir_fd=d.fd, follow_symlinks=False).st_mode):
                    raise _fail("EISDIR")
                os.unlink(entry, dir_fd=d.fd)
            return 0
        finally:
            d.close()

    return unlink


@_syscall("mkdirat", "mkdir")
def _mkdir(inst: Instance, name: str) -> Callable[..., int]:
    def mkdir(*args: int) -> int:
        dirfd, path, mode = _at(name, args)
        fs = fs_of(inst)
        p = _path(inst, path)
        d, entry = fs.resolve(dirfd, p.rstrip(b"/") or p, follow=False)
        try:
            if entry is None:
                raise _fail("EEXIST")
            if d.grant is None and any(g.guest == (*d.vpath, entry) for g in fs.grants):
                raise _fail("EEXIST")
            os.mkdir(entry, mode & 0o7777, dir_fd=fs.writable_dir(d))
            return 0
        finally:
            d.close()

    return mkdir


@_syscall("renameat", "rename", "linkat")
def _rename(inst: Instance, name: str) -> Callable[..., int]:
    def rename(*args: int) -> int:
        if name.endswith("at"):
            olddir, old, newdir, new, *_flags = args
        else:
            (old, new), olddir, newdir = args, AT_FDCWD, AT_FDCWD
        fs = fs_of(inst)
        link = name.endswith("linkat")
        a, aname = fs.entry(olddir, _path(inst, old), "rename")
        try:
            b, bname = fs.entry(newdir, _path(inst, new), "rename")
            try:
                if a.grant is not b.grant:
                    raise _fail("EXDEV")  # two grants are two mounts
                if link:
                    os.link(aname, bname, src_dir_fd=a.fd, dst_dir_fd=b.fd, follow_symlinks=False)
                else:
                    os.rename(aname, bname, src_dir_fd=a.fd, dst_dir_fd=b.fd)
                return 0
            finally:
                b.close()
        finally:
            a.close()

    return rename


host("env", "embind_py_fs_linkat")(_rename)  # the shim's link()


@_syscall("symlinkat", "symlink")
def _symlink(inst: Instance, name: str) -> Callable[..., int]:
    def symlink(*args: int) -> int:
        if name.endswith("at"):
            target, dirfd, path = args
        else:
            (target, path), dirfd = args, AT_FDCWD
        # The link's text is kept as it is; it is only ever followed in the guest's tree.
        d, entry = fs_of(inst).entry(dirfd, _path(inst, path), "symlink")
        try:
            os.symlink(_path(inst, target), entry, dir_fd=d.fd)
            return 0
        finally:
            d.close()

    return symlink


@_syscall("readlinkat", "readlink")
def _readlink(inst: Instance, name: str) -> Callable[..., int]:
    def readlink(*args: int) -> int:
        dirfd, path, buf, size = _at(name, args)
        if size <= 0:
            raise _fail("EINVAL")
        d, entry = fs_of(inst).resolve(dirfd, _path(inst, path), follow=False)
        try:
            if entry is None or d.grant is None:
                raise _fail("EINVAL")
            data = os.readlink(entry, dir_fd=d.fd)[:size]
            inst.mem.write(buf, data)
            return len(data)
        finally:
            d.close()

    return readlink


@_syscall("faccessat", "access")
def _access(inst: Instance, name: str) -> Callable[..., int]:
    def access(*args: int) -> int:
        dirfd, path, amode, *rest = _at(name, args)
        flags = rest[0] if rest else 0
        fs = fs_of(inst)
        d, entry = fs.resolve(dirfd, _path(inst, path), follow=not flags & AT_SYMLINK_NOFOLLOW)
        try:
            if d.grant is None:
                if entry is not None:
                    raise _fail("ENOENT")
                if amode & W_OK:
                    raise _fail("EROFS")
                return 0
            if entry is None:
                ok = os.access(b".", amode, dir_fd=d.fd)
            else:
                os.stat(entry, dir_fd=d.fd, follow_symlinks=False)  # ENOENT for a name to create
                ok = os.access(entry, amode, dir_fd=d.fd)
            if amode & W_OK and not d.grant.writable:
                raise _fail("EROFS")
            if not ok:
                raise _fail("EACCES")
            return 0
        finally:
            d.close()

    return access


def _length(inst: Instance, name: str) -> Callable[[tuple[int, ...]], tuple[int, int]]:
    """(first argument, 64-bit length): one i64 (BigInt) or two i32 halves, per the import."""
    params = import_params(inst, "env", "__syscall_" + name)
    if len(params) >= 3:
        return lambda a: (a[0], (a[1] & 0xFFFFFFFF) | (a[2] << 32))
    return lambda a: (a[0], a[1])


@_syscall("ftruncate64", "truncate64")
def _truncate(inst: Instance, name: str) -> Callable[..., int]:
    split = _length(inst, name)

    def truncate(*args: int) -> int:
        target, length = split(args)
        if length < 0:
            raise _fail("EINVAL")
        fs = fs_of(inst)
        if name.startswith("f"):
            f = fs.get(target)
            if f.is_dir:
                raise _fail("EISDIR")
            if not f.writable:
                raise _fail("EINVAL")
            os.ftruncate(f.fd, length)
            return 0
        d, entry = fs.resolve(AT_FDCWD, _path(inst, target))
        try:
            if entry is None:
                raise _fail("EISDIR")
            fd = os.open(entry, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), dir_fd=fs.writable_dir(d))
            try:
                os.ftruncate(fd, length)
            finally:
                os.close(fd)
            return 0
        finally:
            d.close()

    return truncate


@_syscall("fchmod", "chmod", "fchmodat", "fchmodat2")
def _chmod(inst: Instance, name: str) -> Callable[..., int]:
    def chmod(*args: int) -> int:
        fs = fs_of(inst)
        if name == "fchmod":
            f = fs.get(args[0])
            if f.grant is None or not f.grant.writable:
                raise _fail("EROFS")
            os.chmod(f.fd, args[1] & 0o7777)
            return 0
        dirfd, path, mode, *_rest = _at(name, args)
        d, entry = fs.resolve(dirfd, _path(inst, path))
        try:
            dfd = fs.writable_dir(d)
            if entry is None:
                os.chmod(dfd, mode & 0o7777)
                return 0
            fd = os.open(entry, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0), dir_fd=dfd)
            try:
                os.chmod(fd, mode & 0o7777)
            finally:
                os.close(fd)
            return 0
        finally:
            d.close()

    return chmod


@_syscall("chdir", "fchdir")
def _chdir(inst: Instance, name: str) -> Callable[..., int]:
    def chdir(arg: int) -> int:
        fs = fs_of(inst)
        if name == "fchdir":
            f = fs.get(arg)
            if not f.is_dir:
                raise _fail("ENOTDIR")
            fs.cwd = f.vpath
            return 0
        d = fs.lookup_dir(AT_FDCWD, _path(inst, arg))
        fs.cwd = d.vpath
        d.close()
        return 0

    return chdir


@_syscall("getcwd")
def _getcwd(inst: Instance, name: str) -> Callable[..., int]:
    def getcwd(buf: int, size: int) -> int:
        data = b"/" + b"/".join(fs_of(inst).cwd) + b"\0"
        if size <= 0:
            raise _fail("EINVAL")
        if len(data) > size:
            raise _fail("ERANGE")
        inst.mem.write(buf, data)
        return len(data)

    return getcwd


@_syscall("dup", "dup3")
def _dup(inst: Instance, name: str) -> Callable[..., int]:
    def dup(fd: int, *rest: int) -> int:
        fs = fs_of(inst)
        if not rest:
            return fs.dup(fd)
        new = rest[0]
        fs.get(fd)
        if new == fd:
            raise _fail("EINVAL")
        if new in fs.files:
            fs.close(new)
        f = fs.files[fd]
        f.refs[0] += 1
        fs.files[new] = f
        return new

    return dup


@_syscall("fdatasync", "fsync")
def _fdatasync(inst: Instance, name: str) -> Callable[..., int]:
    def fdatasync(fd: int) -> int:
        f = fs_of(inst).get(fd)
        if f.fd >= 0 and not f.is_dir:
            os.fsync(f.fd)
        return 0

    return fdatasync


@_syscall("fadvise64", "fadvise64_64")
def _fadvise(inst: Instance, name: str) -> Callable[..., int]:
    def fadvise(fd: int, *rest: int) -> int:
        fs_of(inst).get(fd)
        return 0

    return fadvise


# -- WASI fd_* on the same descriptors ----------------------------------------


def _iovecs(inst: Instance, iovs: int, n: int) -> list[tuple[int, int]]:
    raw = inst.mem.read(iovs, 8 * n)
    return [struct.unpack_from("<II", raw, 8 * i) for i in range(n)]


def _file_for(inst: Instance, fd: int, write: bool) -> OpenFile:
    f = fs_of(inst).get(fd)
    if f.is_dir:
        raise _fail("EISDIR")
    if not (f.writable if write else f.readable):
        raise _fail("EBADF")
    return f


def read_file(inst: Instance, fd: int, iovs: int, n: int, offset: int | None = None) -> int:
    f = _file_for(inst, fd, False)
    total = 0
    for ptr, length in _iovecs(inst, iovs, n):
        if not length:
            continue
        data = os.read(f.fd, length) if offset is None else os.pread(f.fd, length, offset + total)
        inst.mem.write(ptr, data)
        total += len(data)
        if len(data) < length:
            break
    return total


def write_file(inst: Instance, fd: int, iovs: int, n: int, offset: int | None = None) -> int:
    f = _file_for(inst, fd, True)
    data = b"".join(inst.mem.read(ptr, length) for ptr, length in _iovecs(inst, iovs, n) if length)
    view = memoryview(data)
    done = 0
    while done < len(data):
        w = os.write(f.fd, view[done:]) if offset is None else os.pwrite(f.fd, view[done:], offset + done)
        if w <= 0:
            break
        done += w
    return done


def seek(inst: Instance, fd: int, offset: int, whence: int) -> int:
    f = fs_of(inst).get(fd)
    if f.is_dir:
        if whence != 0 or offset < 0:
            raise _fail("EINVAL")
        f.pos = offset
        return offset
    if whence not in (0, 1, 2):
        raise _fail("EINVAL")
    return os.lseek(f.fd, offset, whence)


def fdstat(inst: Instance, fd: int) -> tuple[int, int]:
    """(WASI filetype, fdflags) of a descriptor above the stdio ones."""
    f = fs_of(inst).get(fd)
    if f.is_dir:
        return 3, 0
    mode = os.fstat(f.fd).st_mode
    kind = 4 if _stat.S_ISREG(mode) else 7 if _stat.S_ISLNK(mode) else 2 if _stat.S_ISCHR(mode) else 0
    return kind, (1 if f.flags & O_APPEND else 0)


@host(WASI, "fd_pread", "fd_pwrite")
def _fd_pread(inst: Instance, name: str) -> Callable[..., Any]:
    op = write_file if name == "fd_pwrite" else read_file

    def pio(fd: int, iovs: int, n: int, *rest: int) -> int:
        # (offset, out); JS-glue wasm without BigInt splits the i64 offset into two i32 halves
        offset, out = rest if len(rest) == 2 else ((rest[0] & 0xFFFFFFFF) | (rest[1] << 32), rest[2])
        if 0 <= fd <= 2:
            return G["ESPIPE"]
        inst.mem.write(out, struct.pack("<I", op(inst, fd, iovs, n, offset)))
        return 0

    return guarded(pio, negative=False)


@host(WASI, "fd_sync", "fd_datasync")
def _fd_sync(inst: Instance, name: str) -> Callable[..., Any]:
    def sync(fd: int) -> int:
        if 0 <= fd <= 2:
            return 0
        f = fs_of(inst).get(fd)
        if f.fd >= 0 and not f.is_dir:
            os.fsync(f.fd)
        return 0

    return guarded(sync, negative=False)


@host(WASI, "fd_filestat_get")
def _fd_filestat_get(inst: Instance, name: str) -> Callable[..., Any]:
    def filestat(fd: int, out: int) -> int:
        if 0 <= fd <= 2:
            inst.mem.write(out, struct.pack("<QQBxxxxxxxQQQQQ", 0, 0, 2, 1, 0, 0, 0, 0))
            return 0
        f = fs_of(inst).get(fd)
        kind, _flags = fdstat(inst, fd)
        if f.fd < 0:
            inst.mem.write(out, struct.pack("<QQBxxxxxxxQQQQQ", 0, 1, 3, 2, 0, 0, 0, 0))
            return 0
        st = os.fstat(f.fd)
        fields = (st.st_dev, st.st_ino, kind, st.st_nlink, st.st_size)
        times = (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)
        inst.mem.write(out, struct.pack("<QQBxxxxxxxQQQQQ", *fields, *times))
        return 0

    return guarded(filestat, negative=False)


@host(WASI, "fd_filestat_set_size")
def _fd_filestat_set_size(inst: Instance, name: str) -> Callable[..., Any]:
    def set_size(fd: int, size: int) -> int:
        f = _file_for(inst, fd, True)
        os.ftruncate(f.fd, size)
        return 0

    return guarded(set_size, negative=False)


@host(WASI, "fd_prestat_get")
def _fd_prestat_get(inst: Instance, name: str) -> Callable[..., Any]:
    def prestat_get(fd: int, out: int) -> int:
        f = fs_of(inst).files.get(fd)
        if f is None or not f.preopen:
            return G["EBADF"]
        inst.mem.write(out, struct.pack("<BxxxI", 0, len(b"/" + b"/".join(f.vpath))))
        return 0

    return guarded(prestat_get, negative=False)


@host(WASI, "fd_prestat_dir_name")
def _fd_prestat_dir_name(inst: Instance, name: str) -> Callable[..., Any]:
    def prestat_dir_name(fd: int, buf: int, n: int) -> int:
        f = fs_of(inst).files.get(fd)
        if f is None or not f.preopen:
            return G["EBADF"]
        inst.mem.write(buf, (b"/" + b"/".join(f.vpath))[:n])
        return 0

    return guarded(prestat_dir_name, negative=False)


# WASI's path_open: oflags and rights in the guest's open flags.
_WASI_CREAT, _WASI_DIRECTORY, _WASI_EXCL, _WASI_TRUNC = 1, 2, 4, 8
_RIGHT_READ, _RIGHT_WRITE = 0x2, 0x40
_WASI_OFLAGS = (
    (_WASI_CREAT, O_CREAT),
    (_WASI_DIRECTORY, O_DIRECTORY),
    (_WASI_EXCL, O_EXCL),
    (_WASI_TRUNC, O_TRUNC),
)


@host(WASI, "path_open")
def _path_open(inst: Instance, name: str) -> Callable[..., Any]:
    def path_open(
        dirfd: int, lookup: int, path: int, n: int, oflags: int, base: int, inh: int, fdflags: int, out: int
    ) -> int:
        flags = 0
        wants_write = bool(base & _RIGHT_WRITE) or bool(oflags & _WASI_TRUNC)
        if wants_write:
            flags |= O_RDWR if base & _RIGHT_READ else O_WRONLY
        for wasi_flag, guest in _WASI_OFLAGS:
            if oflags & wasi_flag:
                flags |= guest
        if fdflags & 1:
            flags |= O_APPEND
        if not lookup & 1:
            flags |= O_NOFOLLOW
        fd = fs_of(inst).open(dirfd, inst.mem.read(path, n), flags, 0o666)
        inst.mem.write(out, struct.pack("<I", fd))
        return 0

    return guarded(path_open, negative=False)
