"""embind-py: build C to WebAssembly with emcc and call it from typed Python bindings.

This package's top level only carries the version and the runtime's public
exceptions; it imports nothing heavy (no jinja2, pycparser or typer).
"""

from __future__ import annotations

from .runtime._errors import (
    WasmBoundsError,
    WasmError,
    WasmExit,
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
    "WasmLinkError",
    "WasmOutOfFuel",
    "WasmTimeout",
    "WasmTrap",
    "__version__",
]
