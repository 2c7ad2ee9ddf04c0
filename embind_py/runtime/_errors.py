"""The exceptions C code can raise in Python, in one hierarchy.

    WasmError                       anything that went wrong inside or at the edge of wasm
    ├── WasmTrap                    the wasm code trapped (unreachable, out-of-bounds, div by 0, abort)
    │   ├── WasmInterrupted         a call was stopped by `interrupt()` (or Ctrl-C, when the
    │   │                           SIGINT handler raised nothing itself)
    │   ├── WasmTimeout             a call ran past the instance's `timeout`
    │   └── WasmOutOfFuel           a call used up the instance's `fuel`
    ├── WasmExit                    C called exit(n) (or main returned, for call_main): `.code`
    ├── WasmBoundsError             a pointer/length outside linear memory (also a ValueError)
    └── WasmLinkError               the .wasm does not match its bindings, or needs an import
                                    the runtime cannot provide

Bad Python arguments raise the built-in TypeError / OverflowError / ValueError.
After any of these the instance stays usable.

May import: the standard library only.
"""

from __future__ import annotations


class WasmError(Exception):
    """Base class of every error raised by wasm code or the embind-py runtime."""


class WasmTrap(WasmError):
    """The wasm code trapped.

    `code` is the trap kind (e.g. "unreachable", "memory out of bounds",
    "integer divide by zero", "interrupt", "out of fuel") or None; `frames`
    lists the C functions on the wasm stack, innermost first; `locations` gives
    each frame's "file:line:column" when the module carries DWARF line tables
    (built with `--cflag=-g`; inlined calls are frames of their own then), else None.
    """

    def __init__(
        self,
        message: str,
        code: str | None = None,
        frames: tuple[str, ...] = (),
        locations: tuple[str | None, ...] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.frames = frames
        self.locations = locations or (None,) * len(frames)

    @property
    def function(self) -> str | None:
        """The C function the trap happened in, when the module has a name section."""
        return self.frames[0] if self.frames else None


class WasmInterrupted(WasmTrap):
    """A call was stopped by `Instance.interrupt()` (from any thread), or by Ctrl-C when the
    SIGINT handler did not raise an exception of its own."""


class WasmTimeout(WasmTrap):
    """A call ran longer than the instance's `timeout` and was interrupted."""


class WasmOutOfFuel(WasmTrap):
    """A call used up the instance's `fuel` budget."""


class WasmExit(WasmError):
    """C called `exit(code)` (or `abort()` in older Emscripten, code 1)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"wasm program exited with code {code}")
        self.code = code


class WasmBoundsError(WasmError, ValueError):
    """A pointer or length that falls outside the instance's linear memory."""


class WasmLinkError(WasmError):
    """The wasm module does not fit its bindings or needs an unavailable import."""
