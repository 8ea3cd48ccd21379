"""Loader of the native helpers in `harness/native/` (`touch.c`, `fds.c`), compiled on first use.

`native()` returns the cffi extension module (`.lib`, `.ffi`) that exposes:

    long poolfuzz_thread_faults(void)                      faults of the calling thread so far
    long poolfuzz_touch(uintptr_t addr, size_t len)        one atomic OR of 0 per page -> faults
    long poolfuzz_load(uintptr_t addr, size_t len)         one byte load per page -> faults
    long poolfuzz_fill(uintptr_t addr, int byte, size_t n) memset -> faults
    long poolfuzz_count_linked_fds(int dirfd, const char *link)  descriptors with that link

These do no checking: callers go through `harness.observers`, which refuses inaccessible ranges.

Build and cache (`compiled`, shared with the benchmark's helpers in `harness.bench.native`).
The module is compiled with cffi's API mode (`FFI.set_source` + `compile`)
into a cache directory, `$POOLFUZZ_CACHE` if set, else `$XDG_CACHE_HOME/poolfuzz`, else
`~/.cache/poolfuzz`. Its file name carries a hash of everything that shapes the binary (the C
source, the declarations, the interpreter's extension suffix, the cffi version), so an edited
source is rebuilt and a stale binary is never loaded. Several processes may build at once: each
compiles in a private temporary directory inside the cache and moves the result into place with
one atomic `os.replace`; the last writer wins with an identical file, and a reader only ever sees
a complete one. Without a C compiler, `NativeBuildError` says so.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shlex
import shutil
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import cffi

SOURCE_PATHS = tuple(Path(__file__).with_name("native") / name for name in ("touch.c", "fds.c"))
"""The C files of the helpers, compiled as one unit (in this order)."""

CDEF = """
long poolfuzz_thread_faults(void);
long poolfuzz_touch(uintptr_t addr, size_t len);
long poolfuzz_load(uintptr_t addr, size_t len);
long poolfuzz_fill(uintptr_t addr, int byte, size_t len);
long poolfuzz_count_linked_fds(int dirfd, const char *link);
"""


class NativeBuildError(RuntimeError):
    """The native helpers could not be built (no C compiler, or the compilation failed)."""


def cache_dir() -> Path:
    """Where compiled helpers are kept (see the module docstring for the order of choices)."""
    if os.environ.get("POOLFUZZ_CACHE"):
        return Path(os.environ["POOLFUZZ_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "poolfuzz"


def module_name(source: str, cdef: str = CDEF, prefix: str = "_poolfuzz_native_") -> str:
    """An extension's module name: `prefix` plus a hash of what shapes the binary."""
    key = "\0".join(
        (source, cdef, sysconfig.get_config_var("EXT_SUFFIX") or "", cffi.__version__)
    )
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:16]


@functools.cache
def native() -> ModuleType:
    """The compiled helpers, built into the cache on the first call of any process that lacks them.

    Raises `NativeBuildError` if the module has to be built and cannot be.
    """
    return compiled(SOURCE_PATHS, CDEF, "_poolfuzz_native_")


def compiled(sources: Path | Sequence[Path], cdef: str, prefix: str) -> ModuleType:
    """The extension built from the C file(s) `sources` (one unit, in order) with the
    declarations `cdef`: loaded from the cache, after building it there if it is missing (see the
    module docstring). Its module name is `prefix` plus the hash of `module_name`. Every native
    helper of poolfuzz is built by this one function."""
    paths = (sources,) if isinstance(sources, Path) else tuple(sources)
    source = source_text(paths)
    name = module_name(source, cdef, prefix)
    path = cache_dir() / (name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    if not path.exists():
        build(name, source, path, cdef, paths)
    return load(name, path)


def source_text(paths: Sequence[Path] = SOURCE_PATHS) -> str:
    """The C files `paths` joined into the one unit that is compiled (and hashed)."""
    return "\n".join(path.read_text() for path in paths)


def build(name: str, source: str, path: Path, cdef: str = CDEF,
          sources: Sequence[Path] = SOURCE_PATHS) -> None:
    """Compiles `source` (read from the files `sources`, named in errors) with the declarations
    `cdef` as extension `name` and moves the binary atomically to `path`."""
    named = ", ".join(str(source_path) for source_path in sources)
    check_compiler(", ".join(source_path.name for source_path in sources))
    path.parent.mkdir(parents=True, exist_ok=True)
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.set_source(name, source, extra_compile_args=["-O2"])
    with tempfile.TemporaryDirectory(prefix=".build-", dir=path.parent) as tmp:
        try:
            built = ffi.compile(tmpdir=tmp, verbose=False)
        except Exception as exc:  # cffi raises distutils/setuptools errors of several types
            raise NativeBuildError(f"compiling {named} failed: {exc}") from exc
        os.replace(built, path)


def check_compiler(needed_by: str = "the native helpers") -> None:
    """Raises `NativeBuildError` unless the C compiler that cffi will call exists (the message
    names `needed_by`, the files that need it)."""
    configured = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    compiler = shlex.split(configured)[0]
    if shutil.which(compiler) is None:
        raise NativeBuildError(
            f"no C compiler: {compiler!r} (from {'$CC' if os.environ.get('CC') else 'sysconfig'}) "
            f"was not found; poolfuzz compiles {needed_by} on first use. Install gcc or "
            "clang, or set CC to a C compiler."
        )


def load(name: str, path: Path) -> ModuleType:
    """Imports the extension module `name` from the file `path`."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise NativeBuildError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
