"""Every import the runtime answers for a wasm module, in one registry.

Layout:
- `_registry`: the registry (`host`, `prefix_host`, `lookup`) and shared helpers;
- `_link`: `define_imports`, which answers each function import of a module through the
  engine's backend (`_backend`), in order: user host functions, the registry, the
  engine's WASI;
- `user`: the user's host functions (C functions the headers declare and no source
  defines, implemented in Python: `load(host={...})`);
- `wasi`: the WASI preview 1 calls answered in Python (stdio, exit, clocks, argv);
- `emscripten`: the `env` imports of emcc's JS-glue library (time, memory growth,
  setjmp/longjmp, ...);
- `files`: C's file system over the granted folders (`preopens`): WASI `fd_*`, the libc's
  `__syscall_*` and the build's C shim (`embind_py/csrc/embind_py_files.c`).

Importing this package registers them all. Each registered factory takes
`(instance, import_name)` and returns a plain Python function over wasm values.

May import: the standard library, the runtime's own modules.
"""

from __future__ import annotations

from . import emscripten, files, user, wasi
from ._link import define_imports
from ._registry import (
    EBADF,
    EINVAL,
    EIO,
    ENOSYS,
    ENOTSUP,
    ESPIPE,
    WASI,
    host,
    import_params,
    import_results,
    js_utf8,
    lookup,
    prefix_host,
    set_errno,
)
from .files import FileSystem, parse_grants
from .wasi import DEFAULT, Stream

__all__ = [
    "DEFAULT",
    "EBADF",
    "EINVAL",
    "EIO",
    "ENOSYS",
    "ENOTSUP",
    "ESPIPE",
    "WASI",
    "FileSystem",
    "Stream",
    "define_imports",
    "emscripten",
    "files",
    "host",
    "import_params",
    "import_results",
    "js_utf8",
    "lookup",
    "parse_grants",
    "prefix_host",
    "set_errno",
    "user",
    "wasi",
]
