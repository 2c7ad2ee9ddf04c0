"""No test (or benchmark) waits without a timeout: a hung child process or thread fails, never hangs.

Reads the source of every test, benchmark and sample script and flags the calls that block
without a bound: `subprocess.run`/`check_output`/`check_call` without `timeout=`, and
`communicate()`, `wait()`, `join()`, `result()`, `get()`, `acquire()` with no arguments (on a
process, thread, event, future, queue or lock), and any `readline()` (on a pipe it has no
timeout: use `tests.conftest.read_line`). pytest-timeout (pyproject) is the net behind this.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNERS = {"run", "check_output", "check_call", "call"}
WAITS = {"communicate", "wait", "join", "result", "get", "acquire"}


def unbounded_waits(source: str) -> list[tuple[int, str]]:
    """(line, call) for each call in `source` that can block forever."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name, owner = node.func.attr, ast.unparse(node.func.value)
        keywords = {k.arg for k in node.keywords}
        if owner == "subprocess" and name in RUNNERS and "timeout" not in keywords:
            found.append((node.lineno, ast.unparse(node.func)))
        elif name in WAITS and not node.args and "timeout" not in keywords:
            found.append((node.lineno, ast.unparse(node)))
        elif name == "readline":
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_checker_finds_unbounded_waits() -> None:
    src = (
        "subprocess.run(['x'])\nsubprocess.run(['x'], timeout=5)\np.communicate()\n"
        "p.communicate(timeout=5)\nt.join()\nt.join(5)\n','.join(xs)\np.stdout.readline()\nq.get()\n"
    )
    assert [line for line, _ in unbounded_waits(src)] == [1, 3, 5, 8, 9]


def test_no_test_waits_without_a_timeout() -> None:
    files = [p for d in ("tests", "benchmarks", "samples", "scripts") for p in (ROOT / d).rglob("*.py")]
    bad = [
        f"{p.relative_to(ROOT)}:{line}: {call}"
        for p in sorted(files)
        if "/out/" not in p.as_posix() and "/expected" not in p.as_posix()
        for line, call in unbounded_waits(p.read_text(encoding="utf-8"))
    ]
    assert not bad, "calls that can wait forever (give them a timeout):\n" + "\n".join(bad)
