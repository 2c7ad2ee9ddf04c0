"""A tiny hand-written module for runtime tests: bump malloc, loops, traps, WASI path_open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime

from embind_py.runtime import host as _host

WAT = r"""
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "env" "embind_test_reenter" (func $reenter (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $sp (mut i32) (i32.const 60000))
  ;; bump allocator: grows memory as needed, 0 when memory.grow fails
  (func $malloc (export "malloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end)
                  (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "free") (param i32))
  (func (export "stackSave") (result i32) (global.get $sp))
  (func (export "stackRestore") (param i32) (global.set $sp (local.get 0)))
  (func (export "stackAlloc") (param i32) (result i32)
    (global.set $sp (i32.sub (global.get $sp) (local.get 0))) (global.get $sp))
  (func (export "get_sp") (result i32) (global.get $sp))
  (func $spin (export "spin") (loop $l (br $l)))
  (func (export "spin_deep") (global.set $sp (i32.sub (global.get $sp) (i32.const 256))) (call $spin))
  (func (export "count") (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $i))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func $inner_boom (unreachable))
  (func $boom (export "boom") (call $inner_boom))
  (func (export "bad_load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "quit") (param i32) (call $proc_exit (local.get 0)))
  (func (export "reenter") (param i32) (result i32) (call $reenter (local.get 0)))
  ;; malloc until NULL; returns how many blocks of n bytes it got
  (func (export "malloc_bomb") (param $n i32) (result i32)
    (local $k i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (call $malloc (local.get $n))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l)))
    (local.get $k))
  ;; path_open(fd 3, path at $p/$len, oflags, rights) -> errno; the new fd is stored at address 16
  (func (export "open_at")
    (param $p i32) (param $len i32) (param $oflags i32) (param $rights i64) (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (local.get $p) (local.get $len)
      (local.get $oflags) (local.get $rights) (local.get $rights) (i32.const 0) (i32.const 16)))
  ;; the fd path_open stored at address 16
  (func (export "opened_fd") (result i32) (i32.load (i32.const 16)))
  ;; fd_read / fd_write of one buffer: bytes moved, or -errno (iovec at 32, count at 40)
  (func (export "read_fd") (param $fd i32) (param $buf i32) (param $n i32) (result i32)
    (local $e i32)
    (i32.store (i32.const 32) (local.get $buf))
    (i32.store (i32.const 36) (local.get $n))
    (local.set $e (call $fd_read (local.get $fd) (i32.const 32) (i32.const 1) (i32.const 40)))
    (if (result i32) (local.get $e)
      (then (i32.sub (i32.const 0) (local.get $e))) (else (i32.load (i32.const 40)))))
  (func (export "write_fd") (param $fd i32) (param $buf i32) (param $n i32) (result i32)
    (local $e i32)
    (i32.store (i32.const 32) (local.get $buf))
    (i32.store (i32.const 36) (local.get $n))
    (local.set $e (call $fd_write (local.get $fd) (i32.const 32) (i32.const 1) (i32.const 40)))
    (if (result i32) (local.get $e)
      (then (i32.sub (i32.const 0) (local.get $e))) (else (i32.load (i32.const 40)))))
)
"""

SIGNATURES: dict[str, tuple[str, str]] = {
    "spin": ("", ""),
    "spin_deep": ("", ""),
    "count": ("i", "i"),
    "add": ("ii", "i"),
    "div": ("ii", "i"),
    "boom": ("", ""),
    "bad_load": ("i", "i"),
    "quit": ("i", ""),
    "reenter": ("i", "i"),
    "malloc_bomb": ("i", "i"),
    "get_sp": ("", "i"),
    "open_at": ("iiiI", "i"),
    "opened_fd": ("", "i"),
    "read_fd": ("iii", "i"),
    "write_fd": ("iii", "i"),
}

_wasm: bytes | None = None


def wasm() -> bytes:
    global _wasm
    if _wasm is None:
        _wasm = bytes(wasmtime.wat2wasm(WAT))
    return _wasm


def _reenter_factory(inst: Any, name: str) -> Callable[..., Any]:
    # The test sets `inst.test_cb`; calling it is what C's `reenter(x)` does.
    return lambda x: inst.test_cb(x)


_host.host("env", "embind_test_reenter")(_reenter_factory)
