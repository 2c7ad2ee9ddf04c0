"""Finding and running emcc: the only module of embind-py that starts processes.

Owns: locating emcc (`--emcc`, `$EMCC`, `$EMSDK`, `PATH`), its version, the argv of
every emcc run (preprocess, macro dump, compile+link), and turning emcc's
failures into `ToolchainError` / `CompileError` with emcc's own text.

May import: the standard library and `embind_py.model`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from . import objcache, recipes, wasmcheck

INSTALL_HINT = "scripts/install_emsdk.sh"

# Flags that make GNU C extensions in system headers harmless for pycparser.
PYCPARSER_DEFINES = (
    "-D__attribute__(x)=",
    "-D__extension__=",
    "-D__restrict=",
    "-D__restrict__=",
    "-D__inline=inline",
    "-D__inline__=inline",
    "-D__asm__(x)=",
    "-D__asm(x)=",
    "-D_Noreturn=",
    "-D__volatile__=volatile",
    "-D__builtin_va_list=int",
    "-D__alignof__(x)=4",
    "-D_Alignas(x)=",
    "-D__signed__=signed",
    "-D__thread=",
    "-D_Thread_local=",
    "-D_Static_assert(x,y)=",
    "-D__EMBIND_PY__=1",
)


class ToolchainError(Exception):
    """emcc is missing or unusable; the message is one user-facing paragraph."""


class CompileError(Exception):
    """emcc ran and failed; `output` is what it printed."""

    def located(self) -> list[tuple[str, int, str]]:
        """(file, line, message) of each error clang reports in `output`, in order, once each."""
        seen: dict[tuple[str, int, str], None] = {}
        for m in _CLANG_ERROR.finditer(self.output):
            seen.setdefault((m[1], int(m[2]), m[3].strip()), None)
        return list(seen)

    def __init__(self, what: str, output: str, returncode: int) -> None:
        super().__init__(f"{what} failed (exit {returncode})")
        self.what = what
        self.output = output
        self.returncode = returncode


_CLANG_ERROR = re.compile(r"^(.+?):(\d+):\d+: (?:fatal )?error: (.*)$", re.M)


@dataclass(frozen=True)
class Emcc:
    """A usable emcc: its command and its version."""

    command: tuple[str, ...]
    version: tuple[int, int, int]
    # Where the clang commands of its compiles are kept (`recipes`, beside the object cache);
    # None: every compile runs emcc.
    recipes: Path | None = None

    @property
    def version_str(self) -> str:
        return ".".join(map(str, self.version))

    def stack_exports(self) -> tuple[str, ...]:
        """The stack functions to request, under the names this emcc has.

        3.1.6 exports stackSave/stackRestore/stackAlloc by itself; 3.1.52-3.1.56
        export them only when asked; since 3.1.57 they are `_emscripten_stack_*`.
        `emscripten_stack_get_current` and `emscripten_stack_get_end` (which lets the
        runtime refuse a stackAlloc that would overflow) exist in every version.
        """
        names = ["_emscripten_stack_get_current", "_emscripten_stack_get_end"]
        if self.version >= (3, 1, 57):
            names += ["__emscripten_stack_restore", "__emscripten_stack_alloc"]
        elif self.version >= (3, 1, 52):
            names += ["_stackSave", "_stackRestore", "_stackAlloc"]
        return tuple(names)


def _emcc_from_emsdk(root: str) -> str | None:
    for rel in ("upstream/emscripten/emcc", "emscripten/emcc", "emcc"):
        p = Path(root) / rel
        if p.is_file():
            return str(p)
    return None


def _locate(explicit: str | None) -> tuple[str, str] | None:
    """(where it came from, the command) of the emcc to use: `explicit` (--emcc), then `$EMCC`,
    then `$EMSDK`, then `PATH`; None when there is none. The one place that lookup is written."""
    if explicit:
        return "--emcc", explicit
    if os.environ.get("EMCC"):
        return "$EMCC", os.environ["EMCC"]
    if os.environ.get("EMSDK"):
        found = _emcc_from_emsdk(os.environ["EMSDK"])
        if found:
            return "$EMSDK", found
    on_path = shutil.which("emcc")
    return ("PATH", on_path) if on_path else None


def find_emcc(explicit: str | None = None, cache: bool = True) -> Emcc:
    """Locate emcc (see `_locate`) and read its version. With `cache` (and the object cache
    on), its compiles run clang directly once their command is learnt (`Command`)."""
    located = _locate(explicit)
    if located is None:
        raise ToolchainError(
            "emcc (the Emscripten compiler) was not found: pass --emcc PATH, set $EMCC "
            "or $EMSDK, or put emcc on PATH. To install it, run "
            f"`bash {INSTALL_HINT}` (it uses the official emsdk when reachable, "
            "else the distribution's emscripten package)."
        )
    source, cmd = located
    resolved = shutil.which(cmd) or cmd
    if not Path(resolved).exists():
        raise ToolchainError(
            f"emcc given by {source} does not exist: {cmd}. Check the path, or run "
            f"`bash {INSTALL_HINT}` to install Emscripten."
        )
    command = (resolved,)
    version = _version_file(resolved) or _version(command, source)
    return Emcc(command, version, objcache.cache_root() if cache else None)


def _version(command: tuple[str, ...], source: str) -> tuple[int, int, int]:
    try:
        proc = subprocess.run([*command, "-dumpversion"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ToolchainError(
            f"emcc from {source} ({command[0]}) could not be run: {e}. "
            f"Run `bash {INSTALL_HINT}` to install a working Emscripten."
        ) from None
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", proc.stdout)
    if proc.returncode != 0 or not m:
        raise ToolchainError(
            f"emcc from {source} ({command[0]}) did not report a version "
            f"(exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[:500]}. "
            f"Run `bash {INSTALL_HINT}` to install a working Emscripten."
        )
    return int(m[1]), int(m[2]), int(m[3])


def _env(scratch: str) -> dict[str, str]:
    env = dict(os.environ)
    # Debian's emcc finds acorn (for its JS optimizer) only in Debian's node path.
    if Path("/usr/share/nodejs").is_dir():
        paths = [p for p in env.get("NODE_PATH", "").split(os.pathsep) if p]
        if "/usr/share/nodejs" not in paths:
            env["NODE_PATH"] = os.pathsep.join([*paths, "/usr/share/nodejs"])
    # emcc's own temporary files go to a folder of ours, removed whatever happens to emcc
    # (stopped by Ctrl-C or SIGTERM, it leaves them behind).
    env["TMPDIR"] = env["EMCC_TEMP_DIR"] = scratch
    return env


Echo = Callable[[str], None]

# The temporary folders this process has made and not yet removed (`scratch_dir`).
_scratch: set[str] = set()
_scratch_lock = threading.Lock()


@contextlib.contextmanager
def scratch_dir(prefix: str = "embind-py-") -> Iterator[Path]:
    """A new temporary folder, removed on the way out. Its name is recorded before it is made
    and forgotten only once it is gone, so a Ctrl-C or SIGTERM that lands while it is being made
    or removed leaves it to `remove_scratch`, which the CLI runs last."""
    base = tempfile.gettempdir()
    while True:
        path = os.path.join(base, prefix + secrets.token_hex(6))
        with _scratch_lock:
            _scratch.add(path)
        try:
            os.mkdir(path, 0o700)
            break
        except FileExistsError:
            with _scratch_lock:
                _scratch.discard(path)
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)
        with _scratch_lock:
            _scratch.discard(path)


def remove_scratch() -> None:
    """Remove every `scratch_dir` an interruption left behind."""
    with _scratch_lock:
        left = list(_scratch)
    for path in left:
        shutil.rmtree(path, ignore_errors=True)
        with _scratch_lock:
            _scratch.discard(path)


# Every emcc running, so that an interrupted build can stop them (`stop_children`).
_children: set[subprocess.Popen[str]] = set()
_children_lock = threading.Lock()


def stop_children() -> None:
    """Stop every emcc this process still runs (a build interrupted or failed elsewhere)."""
    with _children_lock:
        procs = list(_children)
    for p in procs:
        _signal_group(p, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(p, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    """Signal emcc and what it started (clang, wasm-ld, node): each emcc leads its own group."""
    with contextlib.suppress(OSError):
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, sig)
        else:  # pragma: no cover - Windows
            proc.kill()


def _spawn(
    argv: list[str],
    echo: Echo | None,
    rsp_dir: Path | None = None,
    env: dict[str, str] | None = None,
    early: EarlyLink | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run emcc (echoing its command line and time when asked) and capture its output.

    With `rsp_dir`, the arguments go to emcc in a response file written there (`emcc @FILE`):
    a link names every object and every export, and tens of thousands of them would pass
    the system's limit on a command line (`Argument list too long`).
    """
    start = time.perf_counter()
    if early is not None:
        done = early.run(argv, rsp_dir)
        # A failure may be emcc's reading of the pipe (a version that reads its response file
        # twice), not the link's: such a link runs again the usual way; one stopped by a
        # signal (stop_children: Ctrl-C, SIGTERM) does not.
        if done is not None and done.returncode <= 0:
            if echo:
                echo(f"$ {shlex.join(argv)}  ({time.perf_counter() - start:.2f} s, started early)")
            return done
    run = argv
    if rsp_dir is not None:
        fd, rsp = tempfile.mkstemp(prefix="emcc-", suffix=".rsp", dir=rsp_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_response(argv[1:], rsp_dir))
        run = [argv[0], "@" + rsp]
    start = time.perf_counter()
    with scratch_dir("embind-py-emcc-") as scratch:
        proc = _start(run, {**_env(str(scratch)), **(env or {})})
        out, err = _wait(proc)
    if echo:
        echo(f"$ {shlex.join(argv)}  ({time.perf_counter() - start:.2f} s)")
    return subprocess.CompletedProcess(run, proc.returncode, out, err)


def _response(args: Sequence[str], rsp_dir: Path) -> str:
    """The text of a response file holding `args` (emcc reads it back with shlex.split), the
    export list in a list file of its own (`_list_file`)."""
    return shlex.join(_list_file(a, rsp_dir) if a.startswith(_EXPORTS) else a for a in args)


def _start(run: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start emcc (or clang), its output captured, as one of `_children`."""
    try:
        proc = subprocess.Popen(
            run,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
            # Its own process group, so that stopping a build stops clang too; Ctrl-C then
            # reaches only us, and we stop the group (see stop_children).
            start_new_session=hasattr(os, "killpg"),
        )
    except OSError as e:
        raise ToolchainError(f"could not run emcc ({run[0]}): {e}") from None
    with _children_lock:
        _children.add(proc)
    return proc


def _wait(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """`proc`'s output once it ends (as long as the compile takes: stopped by stop_children)."""
    try:
        return proc.communicate()
    except BaseException:
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=10)
        raise
    finally:
        with _children_lock:
            _children.discard(proc)


class EarlyLink:
    """The link's emcc, started before its arguments are known.

    emcc spends a fifth of a second or more starting (Python importing its modules) before it
    reads its arguments; a small library's compiles and header parse take less. So the build
    starts the link's emcc first, with one argument, `@FIFO`: a response file that is a pipe,
    which emcc opens and reads once started, blocking until `run` writes the arguments into it
    (first putting a regular file with the same text in the pipe's place, for anything that
    would open it again). When emcc cannot take them (no pipes here, emcc gone), `run` gives None
    and the link runs as usual; a context manager, which stops an emcc left unused.
    """

    def __init__(self, command: Sequence[str], folder: Path) -> None:
        self.command = tuple(command)
        self._stack = contextlib.ExitStack()
        self._proc: subprocess.Popen[str] | None = None
        self._rsp = folder / "link.rsp.utf-8"  # the suffix names its encoding, for emcc
        try:
            os.mkfifo(self._rsp, 0o600)
            scratch = self._stack.enter_context(scratch_dir("embind-py-emcc-"))
            self._proc = _start([*self.command, f"@{self._rsp}"], _env(str(scratch)))
        except (AttributeError, OSError, ToolchainError):  # no mkfifo (Windows), or no emcc
            self._stack.close()

    def __enter__(self) -> EarlyLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the emcc if it is still waiting for its arguments."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _signal_group(proc, signal.SIGKILL)
            _wait(proc)
        self._stack.close()

    def run(self, argv: Sequence[str], rsp_dir: Path | None) -> subprocess.CompletedProcess[str] | None:
        """The result of emcc running `argv` (which must start with `command`); None when this
        emcc cannot take them."""
        proc, self._proc = self._proc, None
        n = len(self.command)
        if proc is None or tuple(argv[:n]) != self.command or rsp_dir is None:
            self._proc = proc
            return None
        text = _response(argv[n:], rsp_dir).encode("utf-8", "surrogateescape")
        fd = self._open_pipe(proc)
        try:
            if fd is None:
                raise OSError("emcc did not open its response file")
            with os.fdopen(fd, "wb") as pipe:
                # emcc holds the pipe open: its name now goes to a regular file with the
                # same text, before the text goes down the pipe, so that any later opening
                # reads the file instead of waiting on the pipe for ever.
                same, tmp = tempfile.mkstemp(prefix=".link-", dir=self._rsp.parent)
                with os.fdopen(same, "wb") as f:
                    f.write(text)
                os.replace(tmp, self._rsp)
                pipe.write(text)
        except OSError:  # emcc went away: the link runs as usual
            self._proc = proc
            self.close()
            return None
        out, err = _wait(proc)
        self._stack.close()
        return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)

    def _open_pipe(self, proc: subprocess.Popen[str]) -> int | None:
        """The pipe's writing end once emcc has opened it for reading; None if emcc ends (or
        takes two minutes) first."""
        deadline = time.monotonic() + 120
        while True:
            try:
                fd = os.open(self._rsp, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: no reader yet
            except OSError as e:
                if e.errno != errno.ENXIO:
                    return None
            else:
                os.set_blocking(fd, True)
                return fd
            if proc.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.002)


# emcc's last line when clang fails: clang's whole command line, which says nothing to the user
# (re.S: the command line may hold a newline, in a path).
_EMCC_FAILED = re.compile(r"emcc: error: '.*' failed \(returned \d+\)\s*", re.S)


def _without_command_line(text: str) -> str:
    """`text` without emcc's closing "'CMD' failed" line; clang's messages above it stay, however
    many `emcc: error:` lines there are."""
    i = text.rfind("emcc: error: '")
    if i >= 0 and (i == 0 or text[i - 1] == "\n") and _EMCC_FAILED.fullmatch(text, i):
        return text[:i].strip() or text
    return text


_EXPORTS = "-sEXPORTED_FUNCTIONS="


def _list_file(arg: str, folder: Path) -> str:
    """`-sEXPORTED_FUNCTIONS=a,b` as `-sEXPORTED_FUNCTIONS=@FILE`, one name a line: emcc reads
    that form at once, where shlex-splitting a response file with 20,000 names in one
    argument takes it half a minute."""
    fd, path = tempfile.mkstemp(prefix="exports-", suffix=".txt", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(arg[len(_EXPORTS) :].split(",")) + "\n")
    return _EXPORTS + "@" + path


def _run(
    argv: list[str], what: str, echo: Echo | None, rsp_dir: Path | None = None, early: EarlyLink | None = None
) -> str:
    proc = _spawn(argv, echo, rsp_dir, early=early)
    if proc.returncode != 0:
        # stdout is the product (preprocessed text, a macro dump), not a message.
        text = (proc.stderr.strip() or proc.stdout).strip()
        if not echo:  # --verbose shows it, with the other commands
            text = _without_command_line(text)
        raise CompileError(what, text, proc.returncode)
    if proc.stderr.strip() and echo:
        echo(proc.stderr.rstrip())
    return proc.stdout


@dataclass(frozen=True)
class Command:
    """One emcc command that runs one clang: `emcc BEFORE BLOCK AFTER FILES`.

    `before` is the mode and options (`-c -MMD -O2`, `-E -x c ...`), `block` the flags that
    differ from project to project (`-I`, `-D`, `-iquote`, path maps: `recipes.BLOCK_FLAGS`),
    `after` the user's flags, and `files` (flag, path) pairs: `("", SRC)` an input,
    `("-o", OBJ)`, `("-MF", DEP)`. Run through `run_command`: once emcc's clang command for
    the same emcc, `before`, `after` and kinds of file is learnt (`recipes`), clang runs
    directly with this block and these files, which gives the same output without emcc's
    start-up; until then, and whenever it cannot be learnt, emcc runs.
    """

    before: tuple[str, ...]
    block: tuple[str, ...]
    after: tuple[str, ...]
    files: tuple[tuple[str, str], ...]

    def emcc_argv(self, emcc: Emcc) -> list[str]:
        return [*emcc.command, *self.before, *self.block, *self.after, *_file_args(self.files)]


def _file_args(files: Sequence[tuple[str, str]]) -> list[str]:
    return [a for flag, path in files for a in ((flag, path) if flag else (path,))]


_RECORDER = '#!/bin/sh\nprintf \'%s\\0\' "$@" > "$EMBIND_PY_RECORD.$$"\nexec "$@"\n'
# A placeholder input: a definition (code to compare), a struct and a macro (layouts, -dM).
_PLACEHOLDER = (
    "#define EMBIND_PY_PLACEHOLDER_M 1\n"
    "struct embind_py_ph { int a; char b; };\n"
    "int embind_py_ph(int x) { return x + 1; }\n"
)

_learnt: dict[str, list[str] | None] = {}
_learning: dict[str, threading.Lock] = {}
_learnt_lock = threading.Lock()


def _template(emcc: Emcc, cmd: Command, echo: Echo | None) -> list[str] | None:
    """clang's command for `cmd` as a template (`recipes.fill`), or None: run emcc."""
    if (
        emcc.recipes is None
        or os.name != "posix"
        or os.environ.get("EM_COMPILER_WRAPPER")  # the user's own wrapper (ccache) stays in charge
        or not recipes.is_block(cmd.block)
        or any(not flag and Path(p).suffix not in (".c", *CXX_SUFFIXES) for flag, p in cmd.files)
    ):
        return None
    kinds = [flag + Path(p).suffix for flag, p in cmd.files]
    k = recipes.key(emcc.command, emcc.version_str, [cmd.before, cmd.after, kinds, [str(emcc.recipes)]])
    with _learnt_lock:
        if k in _learnt:
            return _learnt[k]
        lock = _learning.setdefault(k, threading.Lock())
    with lock:  # one emcc learns it; the other compiles of this build wait for it
        with _learnt_lock:
            if k in _learnt:
                return _learnt[k]
        store = recipes.RecipeStore(emcc.recipes)
        found, template = store.get(k)
        if not found:
            learning = (lambda line: echo(f"learning emcc's clang command: {line}")) if echo else None
            settled, template = _learn(emcc, cmd, learning)
            if settled:
                with contextlib.suppress(OSError):  # a read-only cache: learnt for this process only
                    store.put(k, template)
        with _learnt_lock:
            _learnt[k] = template
    return template


def _learn(emcc: Emcc, cmd: Command, echo: Echo | None) -> tuple[bool, list[str] | None]:
    """(True, template) from running emcc on placeholders under a recording compiler wrapper,
    checked by running it on them and comparing the outputs with emcc's; (True, None) when
    emcc's command is not one clang with the block and files as they are; (False, None) when
    emcc failed or could not be watched (the real compile will say why)."""
    with scratch_dir("embind-py-recipe-") as folder_path:
        folder = str(folder_path)
        if any(c.isspace() or c in "'\"\\$`" for c in folder):
            return False, None
        wrapper = Path(folder, "record.sh")
        wrapper.write_text(_RECORDER)
        wrapper.chmod(0o755)
        files = [
            (flag, os.path.join(folder, f"f{k}{Path(p).suffix}")) for k, (flag, p) in enumerate(cmd.files)
        ]
        for flag, p in files:
            if not flag:
                Path(p).write_text(_PLACEHOLDER)
        block = recipes.placeholder_block(folder)
        os.mkdir(os.path.join(folder, "include"))
        os.mkdir(os.path.join(folder, "quote"))
        probe = Command(cmd.before, tuple(block), cmd.after, tuple(files))
        record = os.path.join(folder, "rec")
        env = {"EM_COMPILER_WRAPPER": str(wrapper), "EMBIND_PY_RECORD": record}
        proc = _spawn(probe.emcc_argv(emcc), echo, env=env)
        if proc.returncode < 0:  # stopped (stop_children): no compile may follow
            raise CompileError("learning emcc's clang command", proc.stderr, proc.returncode)
        if proc.returncode != 0:
            return False, None
        recorded = [
            Path(folder, n).read_bytes().decode("utf-8", "surrogateescape").split("\0")[:-1]
            for n in sorted(os.listdir(folder))
            if n.startswith("rec.")
        ]
        paths = [p for _, p in files]
        template = recipes.learn(recorded, block, paths, folder)
        if template is None:
            return True, None
        made = [p for flag, p in files if flag]
        by_emcc = [proc.stdout.encode("utf-8", "surrogateescape")]
        for p in made:
            by_emcc.append(Path(p).read_bytes() if os.path.exists(p) else b"")
            with contextlib.suppress(OSError):
                os.unlink(p)
        again = _spawn(recipes.fill(template, block, paths), echo)
        by_clang = [again.stdout.encode("utf-8", "surrogateescape")]
        by_clang += [Path(p).read_bytes() if os.path.exists(p) else b"" for p in made]
        if again.returncode != 0 or by_clang != by_emcc:
            return True, None
        return True, template


def _argv(emcc: Emcc, cmd: Command, echo: Echo | None) -> list[str]:
    template = _template(emcc, cmd, echo)
    if template is None:
        return cmd.emcc_argv(emcc)
    return recipes.fill(template, cmd.block, [p for _, p in cmd.files])


def run_command(emcc: Emcc, cmd: Command, what: str, echo: Echo | None) -> str:
    """Run `cmd` (clang directly when its command is learnt, else emcc): its standard output,
    or CompileError with its messages."""
    return _run(_argv(emcc, cmd, echo), what, echo)


def _cpp_flags(include_dirs: Sequence[Path], defines: Sequence[str]) -> list[str]:
    flags = [f"-I{d}" for d in include_dirs]
    flags += [f"-D{d}" for d in defines]
    return flags


_UNSAFE_IN_INCLUDE = ('"', "\\", "\n", "\r")  # clang reads a header name up to `"`, without escapes


def _umbrella(headers: Sequence[Path]) -> tuple[str, list[str]]:
    """The text of a file that #includes every header, and the flags it needs.

    A header name in `#include "..."` cannot hold `"` or a newline, nor a backslash (taken
    literally): a header whose path has one is included by its file name from its folder,
    given with `-iquote` (an argument, which needs no escaping)."""
    lines: list[str] = []
    quote_dirs: list[str] = []
    for h in headers:
        path = str(h.resolve())
        if not any(c in path for c in _UNSAFE_IN_INCLUDE):
            lines.append(f'#include "{path}"\n')
            continue
        folder, name = os.path.split(path)
        if any(c in name for c in _UNSAFE_IN_INCLUDE):
            raise ToolchainError(
                f"header {path!r}: a file name with a quote, backslash or newline cannot be included"
            )
        for d in quote_dirs:
            if d != folder and os.path.exists(os.path.join(d, name)):
                raise ToolchainError(
                    f"header {path!r}: its folder's name needs escaping, and {name} is also in {d!r}: "
                    "rename one of them"
                )
        if folder not in quote_dirs:
            quote_dirs.append(folder)
        lines.append(f'#include "{name}"\n')
    return "".join(lines), [a for d in quote_dirs for a in ("-iquote", d)]


def _header_command(
    before: Sequence[str],
    headers: Sequence[Path],
    include_dirs: Sequence[Path],
    defines: Sequence[str],
    src: Path,
) -> tuple[Command, str]:
    """The command that runs `before` on `src`, a file that #includes every header (its text
    returned, for the caller to write and append to)."""
    text, extra = _umbrella(headers)
    block = (*_cpp_flags(include_dirs, defines), *extra)
    return Command(tuple(before), block, (), (("", str(src)),)), text


def _run_on_headers(
    emcc: Emcc,
    before: Sequence[str],
    headers: Sequence[Path],
    include_dirs: Sequence[Path],
    defines: Sequence[str],
    what: str,
    echo: Echo | None,
) -> str:
    """Run `before` on one umbrella file that #includes every header."""
    with scratch_dir("embind-py-") as tmp:
        cmd, text = _header_command(before, headers, include_dirs, defines, Path(tmp) / "embind_py_headers.c")
        Path(tmp, "embind_py_headers.c").write_text(text)
        return run_command(emcc, cmd, what, echo)


def preprocess(
    emcc: Emcc,
    headers: Sequence[Path],
    include_dirs: Sequence[Path] = (),
    defines: Sequence[str] = (),
    echo: Echo | None = None,
) -> str:
    """Preprocess the headers together (line markers kept) for pycparser."""
    before = ["-E", "-x", "c", *PYCPARSER_DEFINES]
    return _run_on_headers(emcc, before, headers, include_dirs, defines, "preprocessing the headers", echo)


def preprocess_and_macros(
    emcc: Emcc,
    headers: Sequence[Path],
    include_dirs: Sequence[Path] = (),
    defines: Sequence[str] = (),
    echo: Echo | None = None,
) -> tuple[str, str]:
    """`preprocess` and `dump_macros` of the headers, the two at once."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="embind-py-pp") as pool:
        macros = pool.submit(dump_macros, emcc, headers, include_dirs, defines, echo)
        try:
            pre = preprocess(emcc, headers, include_dirs, defines, echo)
        except BaseException:
            macros.cancel()
            raise
        return pre, macros.result()


def record_layouts(
    emcc: Emcc,
    headers: Sequence[Path],
    probe: str,
    include_dirs: Sequence[Path] = (),
    defines: Sequence[str] = (),
    echo: Echo | None = None,
) -> str:
    """clang's record layouts (`-Xclang -fdump-record-layouts`) of the headers as they really
    are (no GNU extension blanked), with `probe` (C declarations) after them. A record the
    probe cannot name is an error clang reports and goes past: its layout is just absent."""
    before = ["-fsyntax-only", "-w", "-ferror-limit=0", "-Xclang", "-fdump-record-layouts", "-x", "c"]
    with scratch_dir("embind-py-") as tmp:
        src = Path(tmp) / "embind_py_layouts.c"
        cmd, text = _header_command(before, headers, include_dirs, defines, src)
        src.write_text(text + probe)
        return _spawn(_argv(emcc, cmd, echo), echo).stdout


def dump_macros(
    emcc: Emcc,
    headers: Sequence[Path],
    include_dirs: Sequence[Path] = (),
    defines: Sequence[str] = (),
    echo: Echo | None = None,
) -> str:
    """Every macro defined after including the headers (`emcc -dM -E`)."""
    before = ["-dM", "-E", "-x", "c"]
    return _run_on_headers(emcc, before, headers, include_dirs, defines, "listing the headers' macros", echo)


def _path_map_flags(root: Path | None) -> list[str]:
    """Flags that keep the build folder out of the wasm: `__FILE__` (in every `assert`) and
    DWARF paths under `root` become relative to it, and DWARF's compilation folder is `.`,
    so the same project built in another folder gives the same bytes."""
    if root is None:
        return []
    prefix = str(root).rstrip(os.sep) + os.sep
    if "=" in prefix:  # clang splits OLD=NEW at the first `=`: such a folder cannot be mapped
        return ["-fdebug-compilation-dir=."]
    return [f"-ffile-prefix-map={prefix}=", "-fdebug-compilation-dir=."]


@dataclass(frozen=True)
class Job:
    """What one build compiles and links: the sources, the C functions to export, and the
    options. `root` is the project folder that `_path_map_flags` keeps out of the wasm;
    `objects` are the compiled sources (`compile_objects`), which the link reads."""

    sources: Sequence[Path]
    exports: Sequence[str]
    include_dirs: Sequence[Path] = ()
    defines: Sequence[str] = ()
    opt: str = "2"
    cflags: Sequence[str] = ()
    has_main: bool = False
    root: Path | None = None
    objects: Sequence[Path] = ()
    shim: Path | None = None  # FILES_SHIM compiled (`shim_job`); else the link compiles it
    # Functions the sources may call without defining: they become imports Python implements.
    host_functions: Sequence[str] = ()


def compile_command(job: Job, source: Path, obj: Path, depfile: Path) -> Command:
    """emcc -c -MMD -O<opt> <paths, -I/-D> <cflags> -MF DEP -o OBJ SRC: one source to an
    object, and the list of the user's files it read (system headers left out, as `-MM` does)."""
    return Command(
        ("-c", "-MMD", f"-O{job.opt}"),
        (*_path_map_flags(job.root), *_cpp_flags(job.include_dirs, job.defines)),
        tuple(_language_flags(job.cflags, "c++" if is_cxx(source) else "c")),
        (("-MF", str(depfile)), ("-o", str(obj)), ("", str(source))),
    )


CXX_SUFFIXES = (".cpp", ".cc", ".cxx", ".c++", ".C", ".mm")


def is_cxx(source: Path) -> bool:
    """Whether clang compiles `source` as C++ (by its suffix, as emcc does)."""
    return source.suffix in CXX_SUFFIXES


def _language_flags(cflags: Sequence[str], language: str) -> list[str]:
    """`cflags` for a compile of `language` ("c", "c++") or for the link (""): a `-std=` of the
    other language is left out (`-std=c++17` beside `-std=c11` for a library that mixes both),
    and the link gets none."""
    out = []
    for flag in cflags:
        if flag.startswith("-std="):
            std_cxx = "++" in flag
            if language == "" or std_cxx != (language == "c++"):
                continue
        out.append(flag)
    return out


def link_command(emcc: Emcc, sources: Sequence[Path]) -> tuple[str, ...]:
    """em++ beside emcc when a source is C++ (it links the C++ standard library in every
    version), else emcc."""
    if any(is_cxx(s) for s in sources):
        cxx = Path(emcc.command[-1]).with_name("em++")
        if cxx.exists():
            return (*emcc.command[:-1], str(cxx))
    return emcc.command


def _link_argv(
    emcc: Emcc, job: Job, settings: list[str], exports: list[str], out: Path, standalone: bool = False
) -> list[str]:
    """emcc [--no-entry] OBJ... -O<opt> <settings> -sEXPORTED_FUNCTIONS=... <paths, cflags> -o OUT.

    A standalone wasm also gets the file-system shim (`FILES_SHIM`, a C source) among its inputs."""
    argv = [
        *link_command(emcc, job.sources),
        *([] if job.has_main else ["--no-entry"]),
        *[str(s) for s in job.objects],
        *([str(job.shim or FILES_SHIM)] if standalone else []),
        f"-O{job.opt}",
        *settings,
        "-sEXPORTED_FUNCTIONS=" + ",".join(dict.fromkeys(exports)),
        *_path_map_flags(job.root),
        *(_shim_path_map() if standalone else []),
        *_language_flags(job.cflags, ""),
        *(["--js-library", str(host_library(out))] if _imports(job, standalone) else []),
        "-o",
        str(out),
    ]
    return argv


def shim_job(job: Job) -> Job:
    """The compile of FILES_SHIM with `job`'s optimisation and flags (not its -I/-D, which are
    the user's sources'), as the link would compile it: an object the cache can keep."""
    return replace(job, sources=(FILES_SHIM,), include_dirs=(), defines=(), root=None)


# C linked into every standalone wasm: the C library's file calls go to the runtime's
# file system (runtime/host/files.py), through these imports.
FILES_SHIM = Path(__file__).parent / "csrc" / "embind_py_files.c"
FILES_IMPORTS = (
    "embind_py_fs_openat",
    "embind_py_fs_stat",
    "embind_py_fs_getdents",
    "embind_py_fs_fcntl",
    "embind_py_fs_ioctl",
    "embind_py_fs_linkat",
)


def _shim_path_map() -> list[str]:
    """The shim's folder named `embind_py/csrc/` in the wasm (`-g`), wherever embind-py is installed."""
    folder = str(FILES_SHIM.parent).rstrip(os.sep) + os.sep
    return [] if "=" in folder else [f"-ffile-prefix-map={folder}=embind_py/csrc/"]


def _imports(job: Job, standalone: bool) -> list[str]:
    """The undefined functions the link lets through as imports the runtime answers."""
    return sorted({*job.host_functions, *(FILES_IMPORTS if standalone else ())})


def host_library(out: Path) -> Path:
    """The JS library file `compile_wasm` writes beside `out` naming the host functions."""
    return out.with_name(out.name + ".host.js")


def _write_host_library(names: list[str], out: Path) -> None:
    # emcc accepts an undefined symbol that a JS library provides and makes it an `env`
    # import; every other undefined symbol stays an error. The bodies only run under JS glue.
    entries = "".join(
        f"  {name}: function() {{ throw new Error('{name}() is a host function, in Python'); }},\n"
        for name in names
    )
    host_library(out).write_text(
        "// Written by embind-py: the C functions Python implements (host functions).\n"
        "(typeof addToLibrary === 'function' ? addToLibrary\n"
        "  : (lib) => mergeInto(LibraryManager.library, lib))({\n"
        f"{entries}}});\n"
    )


# emcc's (3.1.x JS compiler) and wasm-ld's (later versions) ways of naming an undefined symbol.
_UNDEFINED = re.compile(r"undefined symbol: ([A-Za-z_$][\w$]*)")


def undefined_symbols(output: str) -> list[str]:
    """The undefined symbols a failed link names, in first-seen order."""
    return list(dict.fromkeys(_UNDEFINED.findall(output)))


def _link(
    argv: list[str],
    what: str,
    job: Job,
    out: Path,
    echo: Echo | None,
    tmp: Path,
    standalone: bool = False,
    early: EarlyLink | None = None,
) -> None:
    names = _imports(job, standalone)
    if names:
        _write_host_library(names, out)
    try:
        _run(argv, what, echo, tmp, early)
    except CompileError as e:
        missing = undefined_symbols(e.output)
        if missing:
            raise ToolchainError(
                f"the sources call {', '.join(n + '()' for n in missing)}, which no source defines and no "
                "bound header declares: define them in a source, or declare them in a bound header to "
                "implement them in Python (host functions: NAME.load(host={...})), or allow them by name "
                "with --host-function NAME (host-functions in pyproject.toml)"
            ) from None
        raise


def wasm_argv(emcc: Emcc, job: Job, out_wasm: Path) -> list[str]:
    """The emcc command line that builds the standalone wasm (see `compile_wasm`).

    `___errno_location` lets the runtime set C's errno from a host function (`system`);
    3.1.6 exports it by itself, versions since 3.1.52 only when asked.
    """
    wanted = ["_" + e for e in job.exports]
    wanted += ["_malloc", "_free", "_fflush", "___errno_location", *emcc.stack_exports()]
    if job.has_main:
        # A command's static constructors otherwise run only from `_start`; exporting
        # them lets the runtime run them once at load and then call main (and the
        # library's functions) directly, as Emscripten's JS glue does.
        wanted += ["_main", "___wasm_call_ctors"]
    settings = [
        "-sSTANDALONE_WASM=1",
        "-sALLOW_MEMORY_GROWTH=1",
        "-sALLOW_TABLE_GROWTH=1",
        "--profiling-funcs",
    ]
    return _link_argv(emcc, job, settings, wanted, out_wasm, standalone=True)


def compile_wasm(
    emcc: Emcc, job: Job, out_wasm: Path, echo: Echo | None = None, early: EarlyLink | None = None
) -> None:
    """Link the objects (`job.objects`) to a standalone wasm module at `out_wasm`, through
    `early` (the link's emcc, started before: `EarlyLink`) when given."""
    with scratch_dir("embind-py-") as tmp:
        argv = wasm_argv(emcc, job, out_wasm)
        _link(argv, "emcc", job, out_wasm, echo, Path(tmp), standalone=True, early=early)


# Emscripten before 3.1.12 made its Node.js loader `fetch` the .wasm by file path when
# `fetch` exists (Node 18+), which fails (emscripten-core/emscripten#16913); synchronous
# compilation reads the file instead.
NODE_FETCH_FIXED = (3, 1, 12)


def js_argv(emcc: Emcc, job: Job, out_js: Path) -> list[str]:
    """The emcc command line that writes the JS glue `out_js` and its wasm (see `compile_js`)."""
    wanted = ["_" + e for e in job.exports] + ["_malloc", "_free"]
    if job.has_main:
        wanted.append("_main")
    settings = [
        "-sMODULARIZE=1",
        "-sALLOW_MEMORY_GROWTH=1",
        # With a main: run it on request (`M.callMain(args)`), as the Python module does,
        # rather than when the factory loads it.
        "-sEXPORTED_RUNTIME_METHODS=ccall,cwrap" + (",callMain" if job.has_main else ""),
        *(["-sINVOKE_RUN=0"] if job.has_main else []),
        *(["-sWASM_ASYNC_COMPILATION=0"] if emcc.version < NODE_FETCH_FIXED else []),
    ]
    return _link_argv(emcc, job, settings, wanted, out_js)


def compile_js(emcc: Emcc, job: Job, out_js: Path, echo: Echo | None = None) -> Path:
    """Compile the sources with Emscripten's JS glue: `out_js` plus `<out_js>.wasm` beside it.

    The glue is a MODULARIZE factory with `ccall`/`cwrap` (and `callMain`, when there
    is a main, which then does not run at load). emcc names the wasm after
    the JS file (`X.js` -> `X.wasm`), which would clash with the standalone NAME.wasm,
    so emcc writes `NAME.js.js` (whose wasm is `NAME.js.wasm`, the name the glue loads)
    in a temporary folder and the JS is then moved to `out_js`. Returns the wasm's path.
    """
    with scratch_dir("embind-py-") as tmp:
        tmp_js = Path(tmp) / (out_js.name + ".js")
        _link(js_argv(emcc, job, tmp_js), "emcc (JS glue)", job, tmp_js, echo, Path(tmp))
        out_js.parent.mkdir(parents=True, exist_ok=True)
        out_wasm = out_js.with_name(out_js.name + ".wasm")
        shutil.move(str(tmp_js.with_suffix(".wasm")), out_wasm)
        shutil.move(str(tmp_js), out_js)
    return out_wasm


# ---------------------------------------------------------------------------
# Objects: each source compiled once, in parallel, through the object cache; what the build
# must know of the sources (the functions they define, `main`) is read from the objects.

MAIN_SYMBOLS = frozenset({"main", "__main_argc_argv", "__main_void", "__original_main"})
Progress = Callable[[int, int], None]  # (objects done, total)


@dataclass(frozen=True)
class Object:
    """One compiled source: its object file, the external functions and variables it defines
    (`symbols`), and the
    user's files its compile read (the source first; system headers are not listed)."""

    source: Path
    path: Path
    symbols: frozenset[str]
    deps: tuple[str, ...]
    cached: bool


def default_jobs() -> int:
    """Parallel compiles by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class ObjectBuild:
    """Compiles `job.sources` to objects in worker threads (one emcc each, `jobs` at a time)
    while the caller goes on (parsing the headers); `results()` waits for them. Used as a
    context manager: leaving it early (an error, Ctrl-C, SIGTERM) stops the compiles."""

    def __init__(
        self,
        emcc: Emcc,
        job: Job,
        workdir: Path,
        *,
        jobs: int | None = None,
        cache: objcache.ObjectCache | None = None,
        echo: Echo | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._emcc, self._job, self._dir = emcc, job, workdir
        self._cache = cache if cache is not None and cacheable(job) else None
        self._echo, self._progress = echo, progress
        self._folders = [str(p) for p in (*job.include_dirs, *(s.parent for s in job.sources))]
        if job.root is not None:
            self._folders.append(str(job.root))
        self._done = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=jobs or default_jobs(), thread_name_prefix="embind-py-cc")
        self._futures = [self._pool.submit(self._compile, i, src) for i, src in enumerate(job.sources)]

    def __enter__(self) -> ObjectBuild:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            for f in self._futures:
                f.cancel()
            stop_children()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def results(self) -> list[Object]:
        """Every object, in source order; the first failing compile's CompileError (in source
        order) once the others have stopped."""
        out: list[Object] = []
        for f in self._futures:
            try:
                out.append(f.result())
            except BaseException:
                for g in self._futures:
                    g.cancel()
                raise
        return out

    def _compile(self, i: int, source: Path) -> Object:
        obj, dep = self._dir / f"{i}.o", self._dir / f"{i}.d"
        cmd = compile_command(self._job, source, obj, dep)

        def make() -> tuple[bytes, Sequence[str]]:
            run_command(self._emcc, cmd, f"compiling {source.name}", self._echo)
            depfile = dep.read_bytes().decode("utf-8", "surrogateescape")  # a "\r" in a path stays
            return obj.read_bytes(), _depfile_paths(depfile, self._folders)

        if self._cache is None:
            data, deps = make()
            return self._finish(Object(source, obj, self._symbols(obj, data), tuple(deps), False))
        # The key leaves out the output paths (temporary); the source and flags are in it.
        stable = [a for a in cmd.emcc_argv(self._emcc) if a not in (str(obj), str(dep))]
        src_sha = self._cache.hashes.get(str(source)) or ""
        key = objcache.command_key(stable, f"{self._emcc.version_str} {self._emcc.command}", src_sha)
        made = self._cache.through(key, make)
        path = made.path or obj
        if made.cached and self._echo:
            self._echo(f"cached: {source.name} ({path.name})")
        return self._finish(Object(source, path, self._symbols(path, made.data), made.deps, made.cached))

    def _finish(self, obj: Object) -> Object:
        with self._lock:
            self._done += 1
            done = self._done
        if self._progress:
            self._progress(done, len(self._futures))
        return obj

    def _symbols(self, path: Path, data: bytes) -> frozenset[str]:
        try:
            found = wasmcheck.object_symbols(data)
        except wasmcheck.WasmFileError as e:
            raise ToolchainError(f"{path}: {e}") from None
        return found if found is not None else _nm_symbols(self._emcc, path, self._echo)


def _nm_symbols(emcc: Emcc, path: Path, echo: Echo | None) -> frozenset[str]:
    """The functions and variables an LLVM bitcode object (from -flto) defines, listed by emnm
    (llvm-nm)."""
    emnm = Path(emcc.command[-1]).with_name("emnm")
    if not emnm.exists():
        emnm = Path(emcc.command[-1]).resolve().with_name("emnm")
    out = _run([str(emnm), "--defined-only", "--extern-only", str(path)], f"listing {path.name}", echo)
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-2] in ("T", "W", "D", "B", "R", "V"):
            names.add(parts[-1])
    return frozenset(names)


def _depfile_paths(text: str, folders: Sequence[str] = ()) -> list[str]:
    """The prerequisites of the make rules clang writes (-MMD, -MM): continuations joined,
    clang's escapes undone (`\\ ` for a space, `\\#` for `#`, `$$` for `$`).

    clang writes a newline in a path as it is (a rule is one line otherwise, so a newline
    that does not start the next `NAME.o: ` rule is part of a path), and every backslash as
    `/`: a path under one of `folders` (the folders given to clang) gets its spelling back."""
    found: list[str] = []
    seen: set[str] = set()
    text = text.rstrip("\n").replace("\\\n", " ")
    for rule in re.split(r"\n(?=[^\s:]+\.o: )", text):
        _, sep, deps = rule.partition(": ")
        for word in re.findall(r"(?:\\ |[^ \t])+", deps if sep else ""):
            p = _restore_backslashes(_make_unescape(word.strip("\t")), folders)
            if p and p not in seen:
                seen.add(p)
                found.append(p)
    return found


def _restore_backslashes(path: str, folders: Sequence[str]) -> str:
    for folder in folders:
        spelled = folder.replace("\\", "/").rstrip("/") + "/"
        if "\\" in folder and path.startswith(spelled):
            return folder.rstrip("/") + "/" + path[len(spelled) :]
    return path


# Flags that add system include folders: -MMD leaves their headers out of the files a compile
# read, so an object built with them is never cached (a change there would go unseen). The
# toolchain's own headers are covered by emcc's identity in the cache key.
_SYSTEM_INCLUDE_FLAGS = (
    "-isystem",
    "-idirafter",
    "--sysroot",
    "-isysroot",
    "-iwithsysroot",
    "-Xclang",
    "-nostdinc",
)


def cacheable(job: Job) -> bool:
    """Whether objects of `job` may go to the object cache (see `_SYSTEM_INCLUDE_FLAGS`)."""
    flags = [*job.cflags, *os.environ.get("EMCC_CFLAGS", "").split()]
    return not any(f.startswith(_SYSTEM_INCLUDE_FLAGS) for f in flags)


def user_files(paths: Sequence[str]) -> list[Path]:
    """`paths` (the user's files compiles and the parse read), resolved, without duplicates."""
    return list(dict.fromkeys(Path(os.path.realpath(p)) for p in paths))


def quick_version(explicit: str | None = None) -> str | None:
    """The version of the emcc `find_emcc` would pick, without running it, or None (no emcc
    found, or no version file beside it: see `_version_file`)."""
    located = _locate(explicit)
    if located is None:
        return None
    found = _version_file(shutil.which(located[1]) or located[1])
    return ".".join(map(str, found)) if found else None


def _version_file(emcc: str) -> tuple[int, int, int] | None:
    """emcc's version from `emscripten-version.txt` beside the (symlink-resolved) emcc, where
    emcc itself reads it (emsdk and Debian both ship it): no process start. None when it is
    missing (then emcc is asked)."""
    resolved = Path(emcc).resolve()
    for d in (resolved.parent, resolved.parent / "upstream" / "emscripten"):
        try:
            text = (d / "emscripten-version.txt").read_text()
        except OSError:
            continue
        m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
        if m:
            return int(m[1]), int(m[2]), int(m[3])
    return None


def dependencies(
    emcc: Emcc,
    files: Sequence[Path],
    include_dirs: Sequence[Path] = (),
    defines: Sequence[str] = (),
    cflags: Sequence[str] = (),
    echo: Echo | None = None,
) -> list[Path]:
    """Every non-system file that `files` (C sources or headers) include, themselves included.

    `emcc -MM` lists the user's includes and leaves out system headers (the sysroot);
    its make-rule output is parsed here (continuations, and clang's escapes: `\\ ` for a
    space, `\\#` for `#`, `$$` for `$`).
    """
    if not files:
        return []
    argv = [
        *emcc.command,
        "-MM",
        "-x",
        "c",
        *_cpp_flags(include_dirs, defines),
        *cflags,
        *[str(f) for f in files],
    ]
    out = _run(argv, "listing the included files", echo)
    folders = [str(p) for p in (*include_dirs, *(f.parent for f in files))]
    return list(dict.fromkeys(Path(p).resolve() for p in _depfile_paths(out, folders)))


def _make_unescape(word: str) -> str:
    """A path as clang writes it in a make rule, unescaped: backslashes before a space or `#`
    are doubled and then one more added (`\\ `, `\\#`), and `$` is doubled."""
    word = re.sub(r"(\\*)\\([ #])", lambda m: "\\" * (len(m[1]) // 2) + m[2], word)
    return word.replace("$$", "$")
