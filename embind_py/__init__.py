"""embind-py: build C to WebAssembly with emcc and call it from typed Python bindings.

This package's top level only carries the version and the runtime's public
exceptions; it imports nothing heavy (no jinja2, pycparser or typer), and the
exceptions are loaded on first use (they live in the runtime, which needs
wasmtime), so the CLI's `check` starts without loading wasmtime.
"""

from __future__ import annotations

# Not `typing.TYPE_CHECKING`: importing typing costs the console script 2 ms before its
# Ctrl-C handler is in place (see `embind_py.__main__`); mypy reads any TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .runtime._errors import (
        WasmBoundsError,
        WasmError,
        WasmExit,
        WasmInterrupted,
        WasmLinkError,
        WasmOutOfFuel,
        WasmTimeout,
        WasmTrap,
    )

__version__ = "0.1.0"

__all__ = [
    "WasmBoundsError",
    "WasmError",
    "WasmExit",
    "WasmInterrupted",
    "WasmLinkError",
    "WasmOutOfFuel",
    "WasmTimeout",
    "WasmTrap",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from .runtime import _errors

        return getattr(_errors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
