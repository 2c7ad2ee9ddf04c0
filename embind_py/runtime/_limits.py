"""Per-call limits of an instance (wall-clock timeout, fuel).

Owns: the one process-wide epoch timer thread that drives `timeout`, the
`Limits` object an instance with `timeout` or `fuel` wraps its callers with
(setting the store's epoch deadline / fuel before each outermost call), the
validation of limit options (the `preopens` folders belong to `host.files`).

Instances without limits never touch this module on the call path: their
callers are not wrapped, so the fast path costs nothing extra.

How `timeout` works: wasmtime checks the store's epoch deadline in loop headers
and function entries. Every epoch engine shares one counter per engine; the
timer thread increments it every `TICK` seconds, but only while at least one
timed call is running (otherwise it sleeps on a condition). A call with
`timeout=t` sets its deadline `ceil(t / TICK) + 1` ticks ahead, so it is
stopped after at least `t` and at most about `t + 2 * TICK` seconds of wall
clock (plus the time a host function that does not return to wasm takes).

May import: wasmtime, the standard library, the runtime's own modules.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only the wasmtime backend makes Limits and WASI grants
    import wasmtime

TICK = 0.01  # seconds between epoch increments while a timed call runs


class _EpochTimer:
    """Increments the epoch of every registered engine while timed calls are running."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._active = 0
        self._engines: list[wasmtime.Engine] = []
        self._thread: threading.Thread | None = None

    def register(self, engine: wasmtime.Engine) -> None:
        with self._cond:
            if not any(e is engine for e in self._engines):
                self._engines.append(engine)

    def enter(self) -> None:
        with self._cond:
            self._active += 1
            if self._thread is None:
                # A daemon: a process must be able to exit while the timer waits.
                self._thread = threading.Thread(target=self._run, name="embind-py-epoch", daemon=True)
                self._thread.start()
            if self._active == 1:
                self._cond.notify()

    def leave(self) -> None:
        with self._cond:
            self._active -= 1

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._active:
                    cond.wait()
                engines = list(self._engines)
            # Sleep a full tick before each increment: a deadline of n ticks then
            # never fires before (n - 1) * TICK seconds have passed.
            time.sleep(TICK)
            for eng in engines:
                eng.increment_epoch()


TIMER = _EpochTimer()


def check_options(timeout: float | None, fuel: int | None, max_memory: int | None) -> None:
    """Raise TypeError/ValueError for a limit option that cannot work."""
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
        self, store: wasmtime.Store, engine: wasmtime.Engine, timeout: float | None, fuel: int | None
    ) -> None:
        self.store = store
        self.timeout = timeout
        self.fuel = fuel
        self.depth = 0
        self.ticks = math.ceil(timeout / TICK) + 1 if timeout is not None else 0
        if timeout is not None:
            TIMER.register(engine)
        # Instantiation may run a start function: give it the same budget.
        if fuel is not None:
            store.set_fuel(fuel)
        if self.ticks:
            store.set_epoch_deadline(self.ticks)

    def refill(self) -> None:
        """A fresh budget for the runtime's own clean-up calls after a failure."""
        if self.fuel is not None:
            self.store.set_fuel(self.fuel)
        if self.ticks:
            self.store.set_epoch_deadline(self.ticks)

    def wrap(self, call: Callable[[], None]) -> Callable[[], None]:
        store, fuel, ticks = self.store, self.fuel, self.ticks
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
            if ticks:
                store.set_epoch_deadline(ticks)
                TIMER.enter()
            lim.depth = 1
            try:
                call()
            finally:
                lim.depth = 0
                if ticks:
                    TIMER.leave()

        limited.__dict__["_inner"] = call
        return limited
