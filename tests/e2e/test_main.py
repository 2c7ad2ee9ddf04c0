"""Programs with `main`: `call_main(args)`, exit codes, stdio, static constructors, `python -m NAME`."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import BuildFn, read_line

C_SRC = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "prog.h"

int constructed;  /* external, so clang cannot fold the constructor away */
__attribute__((constructor)) static void setup(void) { constructed++; }

int get_constructed(void) { return constructed; }
int square(int x) { return x * x; }

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "exit") == 0) exit(atoi(argv[2]));
    if (argc > 1 && strcmp(argv[1], "cat") == 0) {
        int c, n = 0;
        while ((c = getchar()) != EOF) { putchar(c); n++; }
        fprintf(stderr, "%d bytes\n", n);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "spin") == 0) {
        puts("spinning");
        fflush(stdout);
        for (volatile int i = 1; i;) {}
    }
    if (argc > 1 && strcmp(argv[1], "trap") == 0) return *(volatile int *)0xFFFFFFF0;
    if (argc > 1 && strcmp(argv[1], "lines") == 0) for (int i = 0; i < 100000; i++) printf("line %d\n", i);
    if (argc > 1 && strcmp(argv[1], "partial") == 0) { printf("no newline"); return 3; }
    if (argc > 1 && strcmp(argv[1], "env") == 0) { printf("%s\n", getenv("GREETING")); return 0; }
    printf("argc=%d constructed=%d\n", argc, constructed);
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    printf("argv[argc]=%s\n", argv[argc] == NULL ? "NULL" : "?");
    return argc;
}
"""

H_SRC = """
int get_constructed(void);
int square(int x);
"""


@pytest.fixture(scope="module")
def prog(build_c: BuildFn) -> ModuleType:
    return build_c("prog", C_SRC, H_SRC)


def test_call_main_passes_argv_and_returns_main_result(
    prog: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = prog.load()
    assert lib.call_main(["one", "two words", "ünï"]) == 4
    out = capsys.readouterr().out
    assert out == (
        "argc=4 constructed=1\nargv[0]=prog\nargv[1]=one\nargv[2]=two words\nargv[3]=ünï\nargv[argc]=NULL\n"
    )
    assert lib.call_main([], program="/bin/x") == 1
    assert "argv[0]=/bin/x\n" in capsys.readouterr().out


def test_exit_code(prog: ModuleType) -> None:
    lib = prog.load(stdout=None)
    assert lib.call_main(["exit", "42"]) == 42
    assert lib.call_main(["exit", "0"]) == 0
    assert lib.square(7) == 49  # the instance stays usable after exit()


def test_stdin_and_stderr(prog: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    lib = prog.load(stdin=b"some input\n")
    assert lib.call_main(["cat"]) == 0
    cap = capsys.readouterr()
    assert cap.out == "some input\n" and cap.err == "11 bytes\n"


def test_large_bytes_stdin_is_read_in_linear_time(prog: ModuleType) -> None:
    err = io.StringIO()
    data = b"y" * (32 << 20)
    lib = prog.load(stdin=data, stdout=None, stderr=err)
    t = time.perf_counter()
    assert lib.call_main(["cat"]) == 0
    # copying the unread rest on every 1 KiB read took about 13 s here; linear is about 0.5 s
    assert time.perf_counter() - t < 6
    assert err.getvalue() == f"{len(data)} bytes\n"


def test_environment(prog: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert prog.load(env={"GREETING": "bonjour"}).call_main(["env"]) == 0
    assert capsys.readouterr().out == "bonjour\n"


def test_stdout_is_flushed_after_main(prog: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert prog.load().call_main(["partial"]) == 3
    assert capsys.readouterr().out == "no newline"


def test_constructors_run_once_and_functions_work_with_main(prog: ModuleType) -> None:
    lib = prog.load(stdout=None)
    assert lib.get_constructed() == 1
    lib.call_main([])
    lib.call_main([])
    assert lib.get_constructed() == 1
    assert lib.square(12) == 144
    assert prog.call_main is not None and "call_main" in prog.__all__


def test_python_dash_m(prog: ModuleType) -> None:
    folder = Path(str(prog.__file__)).parent
    proc = subprocess.run(
        [sys.executable, "-m", "prog", "a", "b"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    assert "argv[1]=a\nargv[2]=b\n" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "prog", "cat"],
        cwd=folder,
        input="piped",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "piped", "5 bytes\n")
    proc = subprocess.run(
        [sys.executable, "-m", "prog", "exit", "9"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 9


def test_python_dash_m_failures_are_one_line(prog: ModuleType) -> None:
    folder = Path(str(prog.__file__)).parent

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "prog", *args], cwd=folder, capture_output=True, timeout=60, input=input
        )

    proc = run("trap")  # a C crash: one line on stderr, not a Python traceback
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "prog: wasm trap in C function main(): out of bounds memory access "
        "(memory fault at wasm address 0xfffffff0 in linear memory of size 0x1000000)"
    ]
    data = bytes(range(256)) * 40  # not UTF-8: stdin is passed through as bytes
    proc = run("cat", input=data)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, data, b"10240 bytes\n")
    # `python -m prog lines | head -1`: the closed pipe ends the program quietly, as SIGPIPE would
    main = subprocess.Popen(
        [sys.executable, "-m", "prog", "lines"], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert main.stdout is not None and main.stderr is not None
        head = subprocess.Popen(["head", "-n", "1"], stdin=main.stdout, stdout=subprocess.PIPE)
        main.stdout.close()  # head holds the pipe now: its exit closes it
        out, _ = head.communicate(timeout=60)
        main.wait(timeout=60)
        err = main.stderr.read()  # the process has exited: the pipe is at its end
    finally:
        if main.poll() is None:
            main.kill()
    assert out == b"line 0\n" and err == b"" and main.returncode == 141


def test_python_dash_m_ctrl_c_stops_a_c_loop(prog: ModuleType) -> None:
    # a C loop never returns to Python, where signal handlers run: Ctrl-C must still end it
    folder = Path(str(prog.__file__)).parent
    # As from a user's shell (`python -m prog spin | cat`): without PYTHONUNBUFFERED, C's fflush
    # must still reach the pipe while the program runs.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prog", "spin"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert read_line(proc.stdout, timeout=30) == b"spinning\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and err == b""


def test_library_without_main_has_no_call_main(build_c: BuildFn) -> None:
    lib = build_c("nomain", "int one(void) { return 1; }\n", "int one(void);\n")
    assert not hasattr(lib.Library, "call_main") and not hasattr(lib, "call_main")
    text = Path(str(lib.__file__)).read_text()
    assert "__main__" not in text
