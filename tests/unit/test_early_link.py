"""toolchain.EarlyLink: a process started before its arguments are known reads them from a
pipe given as its response file (`@FIFO`); a reader that never comes, or reads twice, is
handled. The emcc side is covered by every build (tests/e2e), which links this way."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from embind_py import toolchain

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")

# Reads its response file (the last argument, `@PATH`) as emcc does, `times` times, and prints it.
READER = "import sys\nfor _ in range({times}):\n    print(open(sys.argv[-1][1:]).read())\n"


def _command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_the_arguments_arrive_through_the_pipe(tmp_path: Path) -> None:
    cmd = _command(READER.format(times=1))
    with toolchain.EarlyLink(cmd, tmp_path) as early:
        done = early.run([*cmd, "a b", "-sEXPORTED_FUNCTIONS=_f,_g", "c"], tmp_path)
    assert done is not None and done.returncode == 0, done
    text = done.stdout.strip()
    assert text.startswith("'a b' -sEXPORTED_FUNCTIONS=@") and text.endswith(" c")
    listed = Path(text.split("@", 1)[1].split()[0]).read_text()
    assert listed == "_f\n_g\n"  # the export list in its own file, one name a line
    assert not list(tmp_path.glob(".link-*"))


def test_a_second_read_finds_the_same_arguments(tmp_path: Path) -> None:
    cmd = _command(READER.format(times=2))
    with toolchain.EarlyLink(cmd, tmp_path) as early:
        done = early.run([*cmd, "x", "y"], tmp_path)
    assert done is not None and done.stdout.split() == ["x", "y", "x", "y"]


def test_a_process_that_never_reads_is_no_early_link(tmp_path: Path) -> None:
    cmd = _command("pass")
    with toolchain.EarlyLink(cmd, tmp_path) as early:
        assert early.run([*cmd, "x"], tmp_path) is None  # the caller links as usual
    assert not toolchain._children


def test_another_command_or_no_response_folder_is_not_taken(tmp_path: Path) -> None:
    cmd = _command(READER.format(times=1))
    with toolchain.EarlyLink(cmd, tmp_path) as early:
        assert early.run(["em++", "x"], tmp_path) is None
        assert early.run([*cmd, "x"], None) is None
        done = early.run([*cmd, "x"], tmp_path)  # still there for the right one
        assert done is not None and done.stdout.split() == ["x"]


def test_an_unused_early_link_is_stopped(tmp_path: Path) -> None:
    with toolchain.EarlyLink(_command(READER.format(times=1)), tmp_path) as early:
        assert early._proc is not None
        proc = early._proc
    assert proc.poll() is not None and not toolchain._children
