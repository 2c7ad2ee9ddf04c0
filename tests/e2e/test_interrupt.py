"""Stopping C: Ctrl-C (SIGINT) in a C call on the main thread, `interrupt()` from another thread.

A C loop that never calls back into Python gives Python no chance to run its SIGINT handler;
the runtime stops the call so that the handler's KeyboardInterrupt surfaces. Real emcc, real
wasmtime, real processes and signals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from embind_py.runtime import WasmInterrupted, WasmTimeout, WasmTrap
from tests.conftest import BuildFn, read_line

C_SRC = r"""
#include "spinner.h"
int add(int a, int b) { return a + b; }
void spin(void) { for (volatile int i = 1; i;) {} }
unsigned work(unsigned n) {
    volatile unsigned x = 0;
    for (unsigned i = 0; i < n; i++) x = x * 31u + i;
    return x;
}
"""
H_SRC = """
int add(int a, int b);
void spin(void);
unsigned work(unsigned n);
"""


@pytest.fixture(scope="module")
def spinner(build_c: BuildFn) -> ModuleType:
    return build_c("spinner", C_SRC, H_SRC)


def child(spinner: ModuleType, script: str) -> subprocess.Popen[bytes]:
    """A Python process running `script` next to the built module, as a user's shell would start it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=Path(str(spinner.__file__)).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def interrupt_when_ready(proc: subprocess.Popen[bytes], after: float = 0.3) -> float:
    """Wait for the child's "ready" line, let it enter C, send SIGINT; the time it was sent."""
    assert proc.stdout is not None
    assert read_line(proc.stdout, timeout=60) == b"ready\n"
    time.sleep(after)
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    return t


def finish(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    try:
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)


SCRIPT_CAUGHT = """
    import sys, time
    import spinner
    lib = spinner.load()
    print("ready", flush=True)
    try:
        lib.spin()
    except KeyboardInterrupt:
        print("caught", flush=True)
    print(lib.add(2, 3), spinner.add(4, 5), flush=True)  # the same instance answers
    lib.reset()
    print(lib.work(10) == spinner.work(10), flush=True)
"""


def test_ctrl_c_stops_a_c_loop_with_keyboard_interrupt(spinner: ModuleType) -> None:
    proc = child(spinner, SCRIPT_CAUGHT)
    assert proc.stdout is not None
    sent = interrupt_when_ready(proc)
    assert read_line(proc.stdout, timeout=30) == b"caught\n"
    latency = time.monotonic() - sent
    out, err = finish(proc)
    assert proc.returncode == 0, err.decode()
    assert out == b"5 9\nTrue\n" and err == b""
    assert latency < 1.0, latency  # typically a few ms: the wakeup fd wakes the runtime at once


def test_uncaught_ctrl_c_ends_the_script_as_python_does(spinner: ModuleType) -> None:
    proc = child(spinner, "import spinner\nprint('ready', flush=True)\nspinner.spin()\n")
    interrupt_when_ready(proc)
    _, err = finish(proc)
    assert proc.returncode == -signal.SIGINT  # Python re-raises SIGINT after an uncaught KeyboardInterrupt
    assert err.decode().rstrip().endswith("KeyboardInterrupt"), err.decode()
    assert "Exception ignored" not in err.decode()


def test_ctrl_c_with_limits_and_handlers(spinner: ModuleType) -> None:
    script = """
        import asyncio, os, signal
        import spinner
        from embind_py.runtime import WasmInterrupted
        timed = spinner.load(timeout=60, fuel=10**15)
        print("ready", flush=True)
        try:
            timed.spin()
        except KeyboardInterrupt:
            print("timed: KeyboardInterrupt", flush=True)
        # A handler that raises nothing: the C call is still stopped, with WasmInterrupted.
        seen = []
        signal.signal(signal.SIGINT, lambda *a: seen.append(a[0]))
        print("ready", flush=True)
        try:
            spinner.spin()
        except WasmInterrupted as e:
            print("custom:", seen == [signal.SIGINT], "Ctrl-C" in str(e), flush=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

        # Under asyncio, whose signal handlers own the wakeup fd: a load() made there passes
        # the bytes on, so the loop's own SIGTERM handler still runs; and asyncio.run's SIGINT
        # handler (which cancels the main task, raising nothing) stops C with WasmInterrupted.
        async def main():
            loop = asyncio.get_running_loop()
            got = asyncio.Event()
            loop.add_signal_handler(signal.SIGTERM, got.set)
            lib = spinner.load()
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(got.wait(), 30)
            print("asyncio: SIGTERM handled", flush=True)
            print("ready", flush=True)
            try:
                lib.spin()
            except WasmInterrupted:
                print("asyncio: WasmInterrupted", flush=True)
            await asyncio.sleep(30)  # the cancelled main task ends here
        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            print("asyncio: KeyboardInterrupt", flush=True)
    """
    proc = child(spinner, script)
    assert proc.stdout is not None
    interrupt_when_ready(proc)
    assert read_line(proc.stdout, timeout=30) == b"timed: KeyboardInterrupt\n"
    interrupt_when_ready(proc)
    assert read_line(proc.stdout, timeout=30) == b"custom: True True\n"
    assert read_line(proc.stdout, timeout=30) == b"asyncio: SIGTERM handled\n"
    interrupt_when_ready(proc)
    out, err = finish(proc)
    assert proc.returncode == 0, err.decode()
    # asyncio.run has its own SIGINT handler from Python 3.11; on 3.10 Python's default one raises.
    stopped = b"asyncio: WasmInterrupted\n" if sys.version_info >= (3, 11) else b""
    assert out == stopped + b"asyncio: KeyboardInterrupt\n" and err == b""


def test_interrupt_from_another_thread_stops_only_that_instance(spinner: ModuleType) -> None:
    victim, bystander = spinner.load(), spinner.load()
    expected = spinner.work(3_000_000)
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(bystander.work(3_000_000)))
    timer = threading.Timer(0.2, victim.interrupt)
    t0 = time.monotonic()
    worker.start()
    timer.start()
    with pytest.raises(WasmInterrupted) as ei:
        victim.spin()
    elapsed = time.monotonic() - t0
    timer.join(timeout=10)
    worker.join(timeout=60)
    assert 0.2 <= elapsed < 2, elapsed
    assert isinstance(ei.value, WasmTrap) and ei.value.code == "interrupt"
    assert ei.value.function == "spin" and "interrupt()" in str(ei.value)
    assert results == [expected]  # the other instance's call ran to its end
    assert victim.add(1, 2) == 3  # and the interrupted one answers again


def test_interrupt_without_a_running_call_changes_nothing(spinner: ModuleType) -> None:
    lib = spinner.load()
    lib.interrupt()
    time.sleep(0.05)  # the runtime withdraws the request once it sees the instance idle
    assert lib.work(1000) == spinner.work(1000)
    assert lib.add(1, 1) == 2


def test_interrupt_and_timeout_are_told_apart(spinner: ModuleType) -> None:
    lib = spinner.load(timeout=0.3)
    threading.Timer(0.05, lib.interrupt).start()
    with pytest.raises(WasmInterrupted):
        lib.spin()
    with pytest.raises(WasmTimeout):
        lib.spin()
    assert lib.add(2, 2) == 4


def test_interruptible_false_opts_out(spinner: ModuleType) -> None:
    """For hot loops: no epoch checks compiled in, so nothing can stop a call of this instance."""
    lib = spinner.load(interruptible=False)
    assert lib.work(1000) == spinner.work(1000)
    with pytest.raises(RuntimeError, match="interruptible=False"):
        lib.interrupt()
    with pytest.raises(ValueError, match="timeout: needs an interruptible instance"):
        spinner.load(interruptible=False, timeout=1)
    with pytest.raises(TypeError, match="interruptible: expected True or False"):
        spinner.load(interruptible=1)


def test_jupyter_interrupt_kernel_stops_a_c_loop(spinner: ModuleType) -> None:
    """Jupyter's "interrupt kernel" (jupyter_client, as the notebook does) on a real ipykernel."""
    import importlib

    manager: Any = importlib.import_module("jupyter_client.manager")  # a test extra (pyproject)
    km, kc = manager.start_new_kernel(startup_timeout=120, cwd=str(Path(str(spinner.__file__)).parent))
    try:
        reply = kc.execute_interactive("import spinner; lib = spinner.load()", timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        msg_id = kc.execute("lib.spin()")
        time.sleep(1.0)  # the cell is inside C by now
        km.interrupt_kernel()
        while True:
            reply = kc.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        out: list[str] = []
        reply = kc.execute_interactive(
            "print(lib.add(2, 3))",
            timeout=60,
            output_hook=lambda m: out.append(m["content"].get("text", "")),
        )
        assert reply["content"]["status"] == "ok" and "".join(out) == "5\n"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
