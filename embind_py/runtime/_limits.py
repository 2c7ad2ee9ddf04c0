"""Per-call limits of an instance (wall-clock timeout, fuel), and stopping a running call.

Owns: the one process-wide epoch thread (`EPOCHS`) that advances wasm epochs, the
`Stopper` every instance has (how its running call is stopped: `interrupt()`,
Ctrl-C, `timeout`), the `Limits` object an instance with `timeout` or `fuel` wraps
its callers with (setting the store's epoch deadline / fuel before each
outermost call) and the validation of limit options (the `preopens`
folders belong to `host.files`).

How a running call is stopped: every instance has its own wasmtime engine, with
epoch interruption on, and its store's deadline one epoch ahead. wasm checks the
deadline at function entries and loop headers (loads and a compare: nothing per
call, but a tight byte loop runs about 1.4-1.6x slower; `interruptible=False`
leaves the checks out), so advancing the instance's epoch makes its running call trap
at the next check, whatever thread runs it, and no other instance's call. No
Python runs inside wasm for this (a Python epoch callback on the main thread
would run pending signal handlers where their exception cannot propagate).

- `interrupt()` records the reason and advances the epoch; the trap becomes
  `WasmInterrupted`. A request no trap took (no call was running, or it had just
  returned) is withdrawn as soon as the instance's lock is free (the deadline
  re-armed), so the next call is not stopped.
- Ctrl-C: Python runs signal handlers only between bytecodes of the main thread,
  never while it is inside a wasm call. The epoch thread owns the pipe given to
  `signal.set_wakeup_fd` (bytes are passed on to a wakeup fd that was set
  before, e.g. asyncio's), so it learns of SIGINT at once; if the main thread is
  inside a wasm call it stops that call, and the runtime lets the handler's
  exception (KeyboardInterrupt) surface with the wasm stack restored.
- `timeout`: the outermost call of an instance with `timeout=t` tells the epoch
  thread its wall-clock deadline; the thread sleeps until the earliest one and
  stops that call (`WasmTimeout`), so it ends within about a millisecond after
  `t` (plus the time a host function that does not return to wasm takes). The
  thread sleeps while no call is timed.

May import: wasmtime, the standard library, the runtime's own modules.
"""

from __future__ import annotations

import math
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only the wasmtime backend makes Limits and Stoppers
    import wasmtime

SETTLE = 0.005  # seconds between checks that a stopped instance's call has ended


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    for fd in (r, w):
        os.set_blocking(fd, False)
        os.set_inheritable(fd, False)
    return r, w


def _drain(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 512)
        except (BlockingIOError, InterruptedError):
            return out
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk


class _Epochs:
    """The thread that stops calls: timed calls at their deadline, the main thread's on SIGINT."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._timed: dict[int, tuple[float, Stopper]] = {}  # id(stopper) -> (deadline, stopper)
        self._thread: threading.Thread | None = None
        self._ctl = (-1, -1)  # wakes the thread when a timed call starts
        self._sig = (-1, -1)  # the pipe given to signal.set_wakeup_fd
        self._chained = -1  # the wakeup fd that was set before ours
        self._settling: dict[int, Stopper] = {}  # stop requests waiting for their call to end

    # -- timed calls --

    def enter(self, stopper: Stopper, seconds: float) -> None:
        """A timed call starts on `stopper`'s instance: stop it `seconds` from now."""
        with self._lock:
            self._timed[id(stopper)] = (time.monotonic() + seconds, stopper)
            self._start()
        self._wake()

    def leave(self, stopper: Stopper) -> None:
        with self._lock:
            self._timed.pop(id(stopper), None)

    def settle(self, stopper: Stopper) -> None:
        """Withdraw `stopper`'s request once its instance is idle (checked every `SETTLE` s)."""
        with self._lock:
            self._settling[id(stopper)] = stopper
            self._start()
        self._wake()

    # -- Ctrl-C --

    def arm_sigint(self) -> None:
        """Learn of SIGINT through `signal.set_wakeup_fd` (main thread only; called at each load()).

        A wakeup fd set before (asyncio's, or one that replaced ours since) keeps getting
        every byte: ours passes them on.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        with self._lock:
            if self._sig[1] < 0:
                self._sig = _pipe()
            try:
                previous = signal.set_wakeup_fd(self._sig[1], warn_on_full_buffer=False)
            except (ValueError, OSError):  # not the main interpreter, or no signals here
                return
            if previous not in (-1, self._sig[1]):
                self._chained = previous
            self._start()

    def _on_signals(self, data: bytes) -> None:
        if self._chained >= 0:
            try:
                os.write(self._chained, data)
            except OSError:
                pass  # that reader is gone or full: as Python itself does, drop it
        if signal.SIGINT not in data:
            return
        if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL, None):
            return
        from . import _fastcall  # the wasmtime backend's: only it arms SIGINT

        main = threading.main_thread().ident
        frame = sys._current_frames().get(main) if main is not None else None
        owner = _fastcall.running_owner(frame)
        stopper = getattr(getattr(owner, "_be", None), "stopper", None)
        if isinstance(stopper, Stopper):
            stopper.request("sigint")

    # -- the thread --

    def _start(self) -> None:
        """Start the thread if it is not running (in this process: fork leaves it behind)."""
        if self._thread is not None and self._thread.is_alive():
            return
        if self._ctl[0] < 0:
            self._ctl = _pipe()
        # A daemon: a process must be able to exit while the thread waits.
        self._thread = threading.Thread(target=self._run, name="embind-py-epoch", daemon=True)
        self._thread.start()

    def _wake(self) -> None:
        try:
            os.write(self._ctl[1], b"x")
        except OSError:
            pass

    def _after_fork(self) -> None:
        """In a forked child: fresh pipes (the parent's are shared), no thread, no timed calls."""
        self._lock = threading.Lock()
        self._timed.clear()
        self._settling.clear()
        self._thread = None
        for fd in (*self._ctl, *self._sig):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        armed = self._sig[1] >= 0
        self._ctl = self._sig = (-1, -1)
        if armed:
            self.arm_sigint()

    def _run(self) -> None:
        while True:
            with self._lock:
                first = min((d for d, _ in self._timed.values()), default=None)
                settling = list(self._settling.values())
                ctl, sig = self._ctl[0], self._sig[0]
            timeout = None if first is None else max(first - time.monotonic(), 0.0)
            if settling:
                timeout = SETTLE if timeout is None else min(timeout, SETTLE)
            fds = [fd for fd in (ctl, sig) if fd >= 0]
            try:
                ready = select.select(fds, [], [], timeout)[0]
            except (OSError, ValueError):  # a pipe closed under us (after fork): re-read them
                time.sleep(0.01)
                continue
            if ctl in ready:
                _drain(ctl)
            if sig >= 0 and sig in ready:
                data = _drain(sig)
                if data:
                    self._on_signals(data)
            now = time.monotonic()
            with self._lock:
                due = [st for d, st in self._timed.values() if d <= now]
                for st in due:
                    del self._timed[id(st)]
            for st in due:
                st.request("timeout")
            for st in settling:
                if st.settled():
                    with self._lock:
                        self._settling.pop(id(st), None)


EPOCHS = _Epochs()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=EPOCHS._after_fork)


class Stopper:
    """How one instance's running call is stopped: its own engine's epoch, advanced on request.

    `reason` says why the call in progress is being stopped ("interrupt", "sigint",
    "timeout"), read when the trap arrives; `rearm` clears it and puts the deadline one
    epoch ahead again (after a failure, or when a request found no call running). Every
    wasm call of the runtime runs under the instance's lock, so holding the lock means no
    call is running.
    """

    def __init__(self, store: wasmtime.Store, engine: wasmtime.Engine, lock: Any, enabled: bool) -> None:
        self.store = store
        self.engine = engine
        self.lock = lock
        self.enabled = enabled  # False: loaded with interruptible=False (no epoch checks in the code)
        self.reason: str | None = None
        if enabled:
            store.set_epoch_deadline(1)

    def rearm(self) -> None:
        self.reason = None
        if self.enabled:
            self.store.set_epoch_deadline(1)

    def request(self, reason: str) -> None:
        """Stop the call running on the instance, from any thread; withdrawn if none is running.

        A running call holds the instance's lock. The epoch thread takes the lock once it
        is free and withdraws a request that no trap took (the call had just returned).
        """
        if not self.enabled:
            if reason == "interrupt":
                raise RuntimeError("interrupt(): this instance was loaded with interruptible=False")
            return
        self.reason = reason
        self.engine.increment_epoch()
        EPOCHS.settle(self)

    def settled(self) -> bool:
        """True once no call is running: a request still pending then is withdrawn."""
        if not self.lock.acquire(blocking=False):
            return False
        try:
            if self.reason is not None:
                self.rearm()
        finally:
            self.lock.release()
        return True


def check_options(
    timeout: float | None, fuel: int | None, max_memory: int | None, interruptible: bool = True
) -> None:
    """Raise TypeError/ValueError for a limit option that cannot work."""
    if not isinstance(interruptible, bool):
        raise TypeError(f"interruptible: expected True or False, got {type(interruptible).__name__}")
    if timeout is not None and not interruptible:
        raise ValueError("timeout: needs an interruptible instance (drop interruptible=False)")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise TypeError(f"timeout: expected seconds as a number or None, got {type(timeout).__name__}")
        if not timeout > 0 or math.isinf(timeout):
            raise ValueError(f"timeout: expected a positive finite number of seconds, got {timeout!r}")
    for name, v in (("fuel", fuel), ("max_memory", max_memory)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name}: expected an int or None, got {type(v).__name__}")
        if v <= 0:
            raise ValueError(f"{name}: expected a positive int, got {v}")
    if fuel is not None and fuel > MAX_FUEL:
        raise ValueError(f"fuel: at most {MAX_FUEL} (wasmtime counts fuel in 64 bits), got {fuel}")


MAX_FUEL = 2**64 - 1


def check_stdio_env(stdout: Any, stderr: Any, stdin: Any, env: Any, argv: Any, default: Any) -> None:
    """Raise TypeError/ValueError for stdio, `env` or `argv` options C could not be given.

    Checked when the instance is made, so a bad option fails at `load()` rather than
    at the first `printf` or `getenv`.
    """
    for name, stream in (("stdout", stdout), ("stderr", stderr)):
        if stream is not None and stream is not default and not callable(getattr(stream, "write", None)):
            raise TypeError(
                f"{name}: expected a file-like object with write(), or None; got {type(stream).__name__}"
            )
    if stdin is not None and not isinstance(stdin, bytes | bytearray):
        if isinstance(stdin, str):
            raise TypeError("stdin: expected bytes or a file-like object, got str (encode it: s.encode())")
        if not callable(getattr(stdin, "read", None)):
            raise TypeError(
                f"stdin: expected bytes or a file-like object with read(), got {type(stdin).__name__}"
            )
    if env is not None:
        if not isinstance(env, Mapping):
            raise TypeError(f"env: expected a dict {{name: value}}, got {type(env).__name__}")
        for k, v in env.items():
            if not isinstance(k, str) or not k or "=" in k or "\0" in k:
                raise ValueError(
                    f"env: {k!r} is not an environment variable name (a non-empty str without '=')"
                )
            if "\0" in str(v):
                raise ValueError(f"env[{k!r}]: the value contains a NUL character")
    if argv is not None:
        if isinstance(argv, str | bytes) or not isinstance(argv, list | tuple):
            raise TypeError(f"argv: expected a list of str, got {type(argv).__name__}")
        for i, a in enumerate(argv):
            if not isinstance(a, str):
                raise TypeError(f"argv[{i}]: expected str, got {type(a).__name__}")
            if "\0" in a:
                raise ValueError(f"argv[{i}]: contains a NUL character")


class Limits:
    """The per-call budget of one instance; `wrap` puts it in front of a caller.

    Only the outermost call into the instance starts a budget: a callback that
    re-enters the instance runs on what is left of the outer call's budget.
    """

    def __init__(
        self, store: wasmtime.Store, stopper: Stopper, timeout: float | None, fuel: int | None
    ) -> None:
        self.store = store
        self.stopper = stopper
        self.timeout = timeout
        self.fuel = fuel
        self.depth = 0
        # Instantiation may run a start function: give it the same fuel.
        if fuel is not None:
            store.set_fuel(fuel)

    def refill(self) -> None:
        """A fresh budget for the runtime's own clean-up calls after a failure."""
        if self.fuel is not None:
            self.store.set_fuel(self.fuel)

    def wrap(self, call: Callable[[], None]) -> Callable[[], None]:
        store, fuel, timeout, stopper = self.store, self.fuel, self.timeout, self.stopper
        lim = self

        def limited() -> None:
            if lim.depth:
                lim.depth += 1
                try:
                    call()
                finally:
                    lim.depth -= 1
                return
            if fuel is not None:
                store.set_fuel(fuel)
            if timeout is not None:
                EPOCHS.enter(stopper, timeout)
            lim.depth = 1
            try:
                call()
            finally:
                lim.depth = 0
                if timeout is not None:
                    EPOCHS.leave(stopper)

        limited.__dict__["_inner"] = call
        return limited
