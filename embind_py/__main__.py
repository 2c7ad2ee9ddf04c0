"""`python -m embind_py` and the `embind-py` console script: the CLI, with signals handled
from the first instruction.

Owns: what Ctrl-C and SIGTERM do. While the CLI's modules are still being imported
(typer alone takes a tenth of a second), either signal ends the process at once, quietly,
with 130 or 143 (there is nothing to clean up yet); from then on SIGINT raises
KeyboardInterrupt and SIGTERM `cli.Terminated`, so a build stops its compiles and removes
its temporary files on the way out, and the CLI reports one line, never a traceback.

May import: the standard library, and `embind_py.cli` once the handlers are in place.
"""

from __future__ import annotations

import os
import signal
from types import FrameType


def _quit_now(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"embind-py: interrupted\n")
    os._exit(128 + signum)


def run() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGINT, _quit_now)
    signal.signal(signal.SIGTERM, _quit_now)
    from embind_py import cli

    signal.signal(signal.SIGTERM, cli.terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cli.run()


if __name__ == "__main__":
    run()
