"""`python -m embind_py` and the `embind-py` console script: the CLI, with signals handled
from the first instruction.

Owns: what Ctrl-C and SIGTERM do. While the CLI's modules are still being imported (typer
takes 0.04 s), and again once the CLI is done, either signal ends the process at once,
quietly, with 130 or 143 (there is nothing to clean up); while the CLI runs, SIGINT raises
KeyboardInterrupt and SIGTERM `cli.Terminated` (see `cli.run`), so a build stops its compiles
and removes its temporary files on the way out, and the CLI reports one line, never a traceback.
Before this module runs, Python itself answers: nothing while the interpreter starts (the
process dies of the signal), then a KeyboardInterrupt traceback while `site` runs (with an
editable install, whose finder imports pathlib, 10-15 ms): the console script's first import
is this module, and the package's `__init__` imports nothing, so the handlers follow at once.

May import: the standard library (os and signal: typing costs 2 ms), and `embind_py.cli`
once the handlers are in place.
"""

from __future__ import annotations

import os
import signal

TYPE_CHECKING = False  # not typing's: see embind_py/__init__.py
if TYPE_CHECKING:
    from types import FrameType


def _quit_now(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"embind-py: interrupted\n" if signum == signal.SIGINT else b"embind-py: terminated\n")
    os._exit(128 + signum)


def run() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGINT, _quit_now)
    signal.signal(signal.SIGTERM, _quit_now)
    from embind_py import cli

    cli.run(quiet=_quit_now)  # which makes the two unwind it while it runs


if __name__ == "__main__":
    run()
