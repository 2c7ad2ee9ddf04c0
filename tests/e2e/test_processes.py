"""embind-py modules across processes: pickling instances, and mapping C over data with
multiprocessing (spawn and fork), concurrent.futures' process pool and Dask's distributed
scheduler (a real LocalCluster with worker processes). Real emcc, real wasmtime, real processes.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import multiprocessing
import os
import pickle
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from embind_py.runtime import WasmLinkError
from tests.conftest import run_cli

C_SRC = r"""
#include "farm.h"
static int calls;
int add(int a, int b) { return a + b; }
unsigned work(unsigned n) {
    unsigned x = 2166136261u;
    for (unsigned i = 0; i < n; i++) x = (x ^ i) * 16777619u;
    return x;
}
int bump(void) { return ++calls; }
Vec2 vscale(Vec2 v, double k) { Vec2 r = { v.x * k, v.y * k }; return r; }
int apply(binop f, int a, int b) { return f(a, b); }
const char *hello(void) { return "hello"; }
"""
H_SRC = """
typedef struct { double x, y; } Vec2;
typedef int (*binop)(int, int);
int add(int a, int b);
unsigned work(unsigned n);
int bump(void);
Vec2 vscale(Vec2 v, double k);
int apply(binop f, int a, int b);
const char *hello(void);
"""
DATA = [1000 * i for i in range(24)]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The module built into a folder every worker process finds on its path, imported by name."""
    d = tmp_path_factory.mktemp("farm")
    (d / "farm.c").write_text(C_SRC)
    (d / "farm.h").write_text(H_SRC)
    res = run_cli("build", d / "farm.c", "-o", d)
    assert res.exit_code == 0, res.output
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(d), saved]))
    sys.path.insert(0, str(d))
    try:
        yield importlib.import_module("farm")
    finally:
        sys.path.remove(str(d))
        sys.modules.pop("farm", None)
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def test_an_instance_pickles_as_its_module_and_options(farm: ModuleType) -> None:
    lib = farm.load(fuel=10**9, env={"K": "V"}, stdin=b"in")
    assert (lib.bump(), lib.bump()) == (1, 2)
    copy = pickle.loads(pickle.dumps(lib))
    assert type(copy) is farm.Library and copy is not lib
    assert copy._options == lib._options  # the same load options
    assert copy.bump() == 1  # fresh memory: C's state is not copied
    assert copy.add(2, 3) == 5
    # module-level functions, struct values and CStr results are values
    assert pickle.loads(pickle.dumps(farm.add)) is farm.add
    v = farm.Vec2(x=1.5, y=-2.0)
    assert pickle.loads(pickle.dumps(v)) == v
    s = pickle.loads(pickle.dumps(farm.hello()))
    assert s == "hello" and type(s) is str


def test_pointers_refuse_to_pickle(farm: ModuleType) -> None:
    lib = farm.load()
    with pytest.raises(TypeError, match=r"cannot pickle a Pointer: it is an address in one wasm"):
        pickle.dumps(lib.ffi.new("int[]", 4))
    with pytest.raises(TypeError, match=r"cannot pickle a .*Ptr: it is an address"):
        pickle.dumps(lib.ffi.new("Vec2 *"))
    with pytest.raises(TypeError, match=r"cannot pickle a Callback: it is a slot"):
        pickle.dumps(lib.ffi.callback("binop", lambda a, b: a * b))
    with pytest.raises(TypeError, match=r"its stdout= is a StringIO, an object of this process"):
        import io

        pickle.dumps(farm.load(stdout=io.StringIO()))


def test_unpickling_with_another_wasm_is_refused(farm: ModuleType) -> None:
    data = pickle.dumps(farm.load())
    wasm = farm.Library(wasm=None)._wasm
    lib = farm.Library(wasm=wasm[:-1] + bytes([wasm[-1]]))  # a different build, same module
    fn, args = lib.__reduce__()
    assert args[2] is None  # pickled by reference to the module, which has another wasm
    with pytest.raises(WasmLinkError, match=r"comes with a different wasm"):
        fn(*args[:3], "0" * 64, *args[4:])
    assert pickle.loads(data).add(1, 1) == 2


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_multiprocessing_pool(farm: ModuleType, method: str) -> None:
    expected = [farm.work(n) for n in DATA]
    lib = farm.load(fuel=10**9)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        assert pool.map_async(farm.work, DATA).get(timeout=120) == expected
        assert pool.map_async(lib.work, DATA).get(timeout=120) == expected  # the instance travels
        assert pool.starmap_async(farm.add, [(i, i) for i in range(8)]).get(timeout=120) == [
            2 * i for i in range(8)
        ]


def test_process_pool_executor(farm: ModuleType) -> None:
    expected = [farm.work(n) for n in DATA]
    with concurrent.futures.ProcessPoolExecutor(2) as ex:
        assert list(ex.map(farm.work, DATA, timeout=120)) == expected
        job = ex.submit(farm.load().vscale, farm.Vec2(x=1.0, y=2.0), 3.0)
        assert job.result(timeout=120) == farm.Vec2(x=3.0, y=6.0)


def test_dask_distributed_local_cluster(farm: ModuleType) -> None:
    distributed: Any = importlib.import_module("distributed")  # a test extra (pyproject)
    expected = [farm.work(n) for n in DATA]
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, timeout=60
        ) as cluster,
        distributed.Client(cluster, timeout=60) as client,
    ):
        futures = client.map(farm.work, DATA)
        distributed.wait(futures, timeout=120)
        assert client.gather(futures) == expected
        lib = farm.load()
        futures = client.map(lib.work, DATA)  # bound methods: each worker re-creates the instance
        distributed.wait(futures, timeout=120)
        assert client.gather(futures) == expected
        pids = client.run(os.getpid)
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
