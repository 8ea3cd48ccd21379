"""Loader of the benchmark's C helpers (`floor.c`), compiled on first use.

`floor()` returns the cffi extension module (`.lib`, `.ffi`) exposing:

    uintptr_t bench_reserve(size_t length)          a PROT_NONE, no-huge-page reservation (0: failed)
    int bench_release(uintptr_t base, size_t length)
    void bench_dirty(uintptr_t addr, size_t pages)  one store into each page
    int bench_cycles(base, instantiate, n, deallocate, n, dirty_pages, iterations)
                                                    the floor loop: 0, or -errno

Built exactly as the observers' helpers are (`harness._native`): cffi API mode, into the same
cache directory, under a name that hashes everything shaping the binary, moved into place with
one atomic `os.replace` so that concurrent first builds are safe.
"""

from __future__ import annotations

import functools
import os
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

import cffi

from harness._native import NativeBuildError, cache_dir, check_compiler, load, module_name

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
    source = SOURCE_PATH.read_text()
    name = module_name(source + CDEF).replace("_native_", "_bench_")
    path = cache_dir() / (name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    if not path.exists():
        _compile(name, source, path)
    return load(name, path)


def _compile(name: str, source: str, path: Path) -> None:
    check_compiler()
    path.parent.mkdir(parents=True, exist_ok=True)
    builder = cffi.FFI()
    builder.cdef(CDEF)
    builder.set_source(name, source, extra_compile_args=["-O2"])
    with tempfile.TemporaryDirectory(prefix=".build-", dir=path.parent) as scratch:
        try:
            os.replace(builder.compile(tmpdir=scratch, verbose=False), path)
        except Exception as exc:  # cffi raises distutils/setuptools errors of several types
            raise NativeBuildError(f"compiling {SOURCE_PATH} failed: {exc}") from exc
