"""Virtual memory: one-syscall verbs, every one counted and checked in one place.

Everything above this module speaks these verbs and never a raw call:

| verb | call | effect on `[address, address + length)` |
|---|---|---|
| `reserve(length)` | `mmap(PROT_NONE, PRIVATE\\|ANONYMOUS\\|NORESERVE)` | new inaccessible range, returns its address |
| `release` | `munmap` | the range is no longer mapped |
| `expose` | `mprotect(RW)` | becomes readable and writable; contents kept |
| `hide` | `mprotect(NONE)` | becomes inaccessible; contents kept (pages stay present) |
| `erase` | `mmap(PROT_NONE, ... FIXED)` | back to a fresh reservation: inaccessible, contents gone |
| `remap_as_zeros` | `mmap(RW, PRIVATE\\|ANONYMOUS\\|NORESERVE\\|FIXED)` | fresh zero-fill-on-demand memory |
| `map_file_private` | `mmap(RW, PRIVATE\\|FIXED, fd)` | copy-on-write view of a file |
| `map_file_shared` | `mmap(RW, SHARED\\|FIXED, fd)` | shared view of a file (past its end: SIGBUS) |
| `decommit` | `madvise(DONTNEED)` | private pages dropped: anonymous back to zero, file back to file |
| `no_hugepages` | `madvise(NOHUGEPAGE)` | never backed by transparent huge pages |
| `fill` / `copy` | `memset` / `memcpy` | bytes written (pages become private) |
| `residency` | `mincore` | which pages are resident |

and for files: `create_memfd`, `seal`, `resize_file` (`ftruncate`), `write_file`, `close_fd`; for
the calling thread or process: `thread_minor_faults` (`getrusage(RUSAGE_THREAD)`), `disable_thp`
and `thp_disabled` (`prctl(PR_SET_THP_DISABLE / PR_GET_THP_DISABLE)`).

**The choke point.** Every verb goes through `VirtualMemory._call`, which

1. counts the call, by C function and by verb, in `VirtualMemory.calls` (a `SyscallCounter`);
2. asks `VirtualMemory.inject` (if set) whether to fail it: the hook receives the C function's
   name (`"mmap"`, `"mprotect"`, `"madvise"`, `"memfd_create"`, `"ftruncate"`, ...) and returns
   an errno to fail with, or None to let the call through. An injected failure never reaches the
   kernel and is counted like any call. `memset`/`memcpy` cannot fail, so they are counted but
   never offered to the hook;
3. makes the call and turns a failure into `SyscallError(errno, call, verb, address, length)`.

A verb over an empty address range (`length == 0`) is a no-op: it makes no call, counts nothing
and never fails (the kernel would answer `EINVAL` to a zero-length `mmap`). `resize_file(fd, 0)`
is not empty: it truncates.

**Caller must** pass ranges it owns: these verbs do what they are told to any address, and a
wrong range corrupts the process. Ranges of `mmap`/`mprotect`/`madvise`/`mincore` must start on
an OS page (`units.OS_PAGE`).

Loads and stores made on behalf of Wasm code (`peek`, `poke`) are plain memory accesses, not
calls: they are not counted.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from allocator import _libc
from allocator._libc import ffi, lib
from allocator.errors import SyscallError
from allocator.units import OS_PAGE

Inject = Callable[[str], "int | None"]
"""A fault-injection hook: given a C function's name, an errno to fail the call with, or None."""

_MEMORY_IMAGE_SEALS = (
    _libc.F_SEAL_GROW | _libc.F_SEAL_SHRINK | _libc.F_SEAL_WRITE | _libc.F_SEAL_SEAL
)
_UNFAILING = frozenset({"memset", "memcpy"})


class SyscallCounter:
    """How many calls were made, by C function (`counter["mprotect"]`) and by verb.

    Thread-safe. `snapshot()` returns a plain dict of the per-function counts; `verbs()` the
    per-verb counts (`{"expose": 2, "hide": 1, ...}`); `reset()` zeroes both.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._verbs: Counter[str] = Counter()

    def record(self, call: str, verb: str) -> None:
        with self._lock:
            self._calls[call] += 1
            self._verbs[verb] += 1

    def __getitem__(self, call: str) -> int:
        with self._lock:
            return self._calls[call]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def verbs(self) -> dict[str, int]:
        with self._lock:
            return dict(self._verbs)

    def total(self) -> int:
        with self._lock:
            return sum(self._calls.values())

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._verbs.clear()

    def __repr__(self) -> str:
        return f"SyscallCounter({self.snapshot()!r})"


_VOID_P = ffi.typeof("void *")  # parsed once: a cast by type name parses it every time


def _pointer(address: int) -> Any:
    return ffi.cast(_VOID_P, address)


def _failed(result: Any) -> bool:
    if isinstance(result, int):
        return result == -1
    return int(ffi.cast("intptr_t", result)) == _libc.MAP_FAILED


class VirtualMemory:
    """The verbs, with their counter (`calls`) and fault-injection hook (`inject`).

    An `Engine` owns one, so its counts cover exactly the calls made for its pool; tests that
    observe memory (residency, fault counts) use a separate instance so as not to disturb them.
    """

    def __init__(self) -> None:
        self.calls = SyscallCounter()
        self.inject: Inject | None = None

    def _call(
        self,
        call: str,
        verb: str,
        address: int | None,
        length: int | None,
        function: Callable[..., Any],
        *args: Any,
    ) -> Any:
        self.calls.record(call, verb)
        hook = self.inject
        if hook is not None and call not in _UNFAILING:
            errno = hook(call)
            if errno:
                raise SyscallError(errno, call, verb, address, length, injected=True)
        result = function(*args)
        if call not in _UNFAILING and _failed(result):
            raise SyscallError(ffi.errno, call, verb, address, length)
        return result

    def _mmap(self, verb: str, address: int, length: int, prot: int, flags: int,
              fd: int = -1, offset: int = 0) -> int:
        result = self._call("mmap", verb, address, length, lib.mmap,
                            _pointer(address), length, prot, flags, fd, offset)
        mapped = int(ffi.cast("uintptr_t", result))
        if address and mapped != address:  # FIXED never moves; anything else is a kernel bug
            raise AssertionError(f"mmap FIXED at {address:#x} returned {mapped:#x}")
        return mapped

    # --- address space ------------------------------------------------------------------

    def reserve(self, length: int) -> int:
        """A new inaccessible range of `length` bytes that commits no memory; its address.

        `reserve(0)` reserves nothing and returns 0.
        """
        if length == 0:
            return 0
        flags = _libc.MAP_PRIVATE | _libc.MAP_ANONYMOUS | _libc.MAP_NORESERVE
        return self._mmap("reserve", 0, length, _libc.PROT_NONE, flags)

    def release(self, address: int, length: int) -> None:
        """Unmaps the range (whatever is mapped there)."""
        if length:
            self._call("munmap", "release", address, length, lib.munmap,
                       _pointer(address), length)

    def erase(self, address: int, length: int) -> None:
        """Replaces the range by a fresh reservation: PROT_NONE, contents and mappings gone."""
        if length:
            flags = (_libc.MAP_PRIVATE | _libc.MAP_ANONYMOUS | _libc.MAP_NORESERVE
                     | _libc.MAP_FIXED)
            self._mmap("erase", address, length, _libc.PROT_NONE, flags)

    def remap_as_zeros(self, address: int, length: int) -> None:
        """Replaces the range by fresh anonymous RW memory (zero-fill-on-demand)."""
        if length:
            flags = (_libc.MAP_PRIVATE | _libc.MAP_ANONYMOUS | _libc.MAP_NORESERVE
                     | _libc.MAP_FIXED)
            self._mmap("remap_as_zeros", address, length, _libc.PROT_RW, flags)

    def map_file_private(self, address: int, length: int, fd: int, offset: int = 0) -> None:
        """Maps `fd` from `offset` copy-on-write and RW over the range (writes stay private)."""
        if length:
            flags = _libc.MAP_PRIVATE | _libc.MAP_FIXED
            self._mmap("map_file_private", address, length, _libc.PROT_RW, flags, fd, offset)

    def map_file_shared(self, address: int, length: int, fd: int, offset: int = 0) -> None:
        """Maps `fd` from `offset` shared and RW over the range.

        Pages past the file's end are mapped but any access to them raises SIGBUS: the caller
        must bound every access by the file's size.
        """
        if length:
            flags = _libc.MAP_SHARED | _libc.MAP_FIXED
            self._mmap("map_file_shared", address, length, _libc.PROT_RW, flags, fd, offset)

    def expose(self, address: int, length: int) -> None:
        """Makes the range readable and writable (`mprotect RW`); contents are unchanged."""
        self._mprotect("expose", address, length, _libc.PROT_RW)

    def hide(self, address: int, length: int) -> None:
        """Makes the range inaccessible (`mprotect NONE`); contents are kept, not dropped."""
        self._mprotect("hide", address, length, _libc.PROT_NONE)

    def decommit(self, address: int, length: int) -> None:
        """Drops the range's private pages (`madvise DONTNEED`).

        Afterwards anonymous pages read as zero (and are absent), file pages read as the file.
        """
        self._madvise("decommit", address, length, _libc.MADV_DONTNEED)

    def no_hugepages(self, address: int, length: int) -> None:
        """Keeps transparent huge pages out of the range (`madvise NOHUGEPAGE`)."""
        self._madvise("no_hugepages", address, length, _libc.MADV_NOHUGEPAGE)

    def _mprotect(self, verb: str, address: int, length: int, prot: int) -> None:
        if length:
            self._call("mprotect", verb, address, length, lib.mprotect,
                       _pointer(address), length, prot)

    def _madvise(self, verb: str, address: int, length: int, advice: int) -> None:
        if length:
            self._call("madvise", verb, address, length, lib.madvise,
                       _pointer(address), length, advice)

    def residency(self, address: int, length: int) -> bytes:
        """One byte per OS page of the range: 1 if resident (`mincore`), else 0."""
        if not length:
            return b""
        pages = -(-length // OS_PAGE)
        vector = ffi.new("unsigned char[]", pages)
        self._call("mincore", "residency", address, length, lib.mincore,
                   _pointer(address), length, vector)
        return bytes(b & 1 for b in ffi.buffer(vector)[:])

    # --- bytes ----------------------------------------------------------------------------

    def fill(self, address: int, length: int, byte: int = 0) -> None:
        """`memset`: every byte of the range becomes `byte` (its pages become private)."""
        if length:
            self._call("memset", "fill", address, length, lib.memset,
                       _pointer(address), byte, length)

    def copy(self, address: int, source: Any, length: int) -> None:
        """`memcpy`: the first `length` bytes of `source` (a cffi buffer or pointer) to the range."""
        if length:
            self._call("memcpy", "copy", address, length, lib.memcpy,
                       _pointer(address), source, length)

    @staticmethod
    def peek(address: int, length: int) -> bytes:
        """The range's bytes (a plain load; not counted). The range must be accessible."""
        if not length:
            return b""
        return ffi.buffer(ffi.cast("char *", address), length)[:]

    @staticmethod
    def poke(address: int, data: bytes) -> None:
        """Stores `data` at `address` (a plain store; not counted). The range must be writable."""
        if data:
            ffi.memmove(ffi.cast("char *", address), data, len(data))

    # --- files ----------------------------------------------------------------------------

    def create_memfd(self, name: str) -> int:
        """A new, empty, sealable, close-on-exec memfd named `name`; its fd."""
        flags = _libc.MFD_CLOEXEC | _libc.MFD_ALLOW_SEALING
        return self._call("memfd_create", "create_memfd", None, None, lib.memfd_create,
                          name.encode(), flags)

    def seal(self, fd: int, seals: int = _MEMORY_IMAGE_SEALS) -> None:
        """Adds `seals` (default: grow, shrink, write and seal, a memory image's seals)."""
        self._call("fcntl", "seal", None, None, lib.fcntl,
                   fd, _libc.F_ADD_SEALS, ffi.cast("int", seals))

    def resize_file(self, fd: int, length: int) -> None:
        """Sets the file's size (`ftruncate`): new bytes read as zero, cut pages are dropped."""
        self._call("ftruncate", "resize_file", None, length, lib.ftruncate, fd, length)

    def write_file(self, fd: int, data: bytes) -> None:
        """Appends all of `data` at the file's current position."""
        view = memoryview(data)
        while view:
            written = self._call("write", "write_file", None, len(view), lib.write,
                                 fd, ffi.from_buffer(view), len(view))
            view = view[written:]

    def close_fd(self, fd: int) -> None:
        self._call("close", "close_fd", None, None, lib.close, fd)

    # --- the calling thread / process -----------------------------------------------------

    def thread_minor_faults(self, usage: Any = None) -> int:
        """Minor page faults taken so far by the calling thread (`getrusage(RUSAGE_THREAD)`).

        `usage`, a preallocated `struct rusage *`, avoids allocating during a measurement.
        """
        usage = usage if usage is not None else ffi.new("struct rusage *")
        self._call("getrusage", "thread_minor_faults", None, None, lib.getrusage,
                   _libc.RUSAGE_THREAD, usage)
        return int(usage.ru_minflt)

    def disable_thp(self) -> None:
        """No transparent huge pages for this process, ever (`prctl(PR_SET_THP_DISABLE, 1)`)."""
        zero = ffi.cast("unsigned long", 0)
        self._call("prctl", "disable_thp", None, None, lib.prctl,
                   _libc.PR_SET_THP_DISABLE, ffi.cast("unsigned long", 1), zero, zero, zero)

    def thp_disabled(self) -> bool:
        """Whether transparent huge pages are disabled for this process (`PR_GET_THP_DISABLE`)."""
        zero = ffi.cast("unsigned long", 0)
        return self._call("prctl", "thp_disabled", None, None, lib.prctl,
                          _libc.PR_GET_THP_DISABLE, zero, zero, zero, zero) == 1


_process_vm = VirtualMemory()


def disable_thp() -> None:
    """Disables transparent huge pages for the whole process. Idempotent.

    Page-fault counts are exact only without huge pages: a fault on a THP-eligible range may map
    512 pages at once.
    """
    _process_vm.disable_thp()


def thp_disabled() -> bool:
    """Whether `disable_thp()` (or an inherited setting) is in force."""
    return _process_vm.thp_disabled()
