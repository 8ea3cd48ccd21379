"""Loader of the benchmark's C helpers (`floor.c`), compiled on first use.

`floor()` returns the cffi extension module (`.lib`, `.ffi`) exposing:

    uintptr_t bench_reserve(size_t length)          a PROT_NONE, no-huge-page reservation (0: failed)
    int bench_release(uintptr_t base, size_t length)
    void bench_dirty(uintptr_t addr, size_t pages)  one store into each page
    int bench_cycles(base, instantiate, n, deallocate, n, dirty_pages, iterations)
                                                    the floor loop: 0, or -errno

Built by the observers' builder (`harness._native.compiled`): cffi API mode, into the same
cache directory, under a name that hashes everything shaping the binary, moved into place with
one atomic `os.replace` so that concurrent first builds are safe.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType

from harness._native import compiled

SOURCE_PATH = Path(__file__).with_name("floor.c")

CDEF = """
struct bench_call { int call; int arg; int flags; size_t offset; size_t length; };
uintptr_t bench_reserve(size_t length);
int bench_release(uintptr_t base, size_t length);
void bench_dirty(uintptr_t addr, size_t pages);
int bench_cycles(uintptr_t base, const struct bench_call *instantiate, size_t n_instantiate,
                 const struct bench_call *deallocate, size_t n_deallocate, size_t dirty_pages,
                 long iterations);
"""

CALLS = {"mprotect": 1, "madvise": 2, "memset": 3, "mmap": 4}
"""`bench_call.call` of each C function the floor can replay."""


@functools.cache
def floor() -> ModuleType:
    """The compiled helpers, built into the cache on the first call of a process that lacks them.

    Raises `NativeBuildError` if the module has to be built and cannot be.
    """
    return compiled(SOURCE_PATH, CDEF, "_poolfuzz_bench_")
