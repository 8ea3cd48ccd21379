"""Plain virtual-memory tools for measuring kernel facts: mappings made with libc `mmap` through
cffi, memfds like Wasmtime's, and compact views of page states (independent of `allocator/`)."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import Iterator

import cffi

from harness import observers
from harness._native import native
from harness.observers import PAGE, PageState

ffi = cffi.FFI()
ffi.cdef(
    """
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
    int munmap(void *addr, size_t length);
    int mprotect(void *addr, size_t length, int prot);
    int madvise(void *addr, size_t length, int advice);
    int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
    """
)
libc = ffi.dlopen(None)

PROT_NONE, PROT_READ, PROT_RW = 0, 1, 3
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE = 0x1, 0x2, 0x10, 0x20, 0x4000
MADV_DONTNEED, MADV_HUGEPAGE, MADV_GUARD_INSTALL = 4, 14, 102
HUGE = 2 << 20
IMAGE_SEALS = fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ffi.errno, f"{what}: {os.strerror(ffi.errno)}")


def _mmap(addr: int, length: int, prot: int, flags: int, fd: int = -1) -> int:
    got = libc.mmap(ffi.cast("void *", addr), length, prot, flags, fd, 0)
    got = int(ffi.cast("uintptr_t", got))
    if got == 2**64 - 1:
        raise OSError(ffi.errno, f"mmap: {os.strerror(ffi.errno)}")
    return got


@contextmanager
def region(
    pages: int, *, fd: int = -1, shared: bool = False, prot: int = PROT_RW, align: int = PAGE
) -> Iterator[int]:
    """Maps `pages` pages at an `align`-aligned address (anonymous, or `fd` from offset 0,
    MAP_PRIVATE unless `shared`) and yields the address; unmapped on exit.

    At least one PROT_NONE page stays on either side, so the mapping never merges with a
    neighbour and is one line of the maps of its own.
    """
    length = pages * PAGE
    span = length + align + PAGE
    reserved = _mmap(0, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
    base = -(-(reserved + PAGE) // align) * align
    kind = (MAP_SHARED if shared else MAP_PRIVATE) | (MAP_ANONYMOUS if fd < 0 else 0)
    try:
        _mmap(base, length, prot, kind | MAP_FIXED, fd)
        yield base
    finally:
        libc.munmap(ffi.cast("void *", reserved), span)


def map_file_at(addr: int, pages: int, fd: int) -> None:
    """Maps `pages` pages of `fd` (from offset 0) MAP_PRIVATE over `addr`, replacing them."""
    _mmap(addr, pages * PAGE, PROT_RW, MAP_PRIVATE | MAP_FIXED, fd)


def unmap(addr: int, pages: int) -> None:
    _check(libc.munmap(ffi.cast("void *", addr), pages * PAGE), "munmap")


def protect(addr: int, pages: int, prot: int) -> None:
    _check(libc.mprotect(ffi.cast("void *", addr), pages * PAGE, prot), "mprotect")


def advise(addr: int, pages: int, advice: int) -> None:
    _check(libc.madvise(ffi.cast("void *", addr), pages * PAGE, advice), "madvise")


def set_thp_disabled(disabled: bool) -> None:
    """prctl(PR_SET_THP_DISABLE) both ways (`observers.disable_thp` only ever disables)."""
    _check(libc.prctl(41, int(disabled), 0, 0, 0), "prctl(PR_SET_THP_DISABLE)")


@contextmanager
def image_memfd(content: bytes) -> Iterator[int]:
    """A sealed memfd holding `content`, as Wasmtime makes a memory image."""
    fd = os.memfd_create("wasm-memory-image", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, IMAGE_SEALS)
        yield fd
    finally:
        os.close(fd)


@contextmanager
def extension_memfd() -> Iterator[int]:
    """An empty memfd, as the original heap-growth design made per slot."""
    fd = os.memfd_create("wasm-heap-extension", os.MFD_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def image_bytes(pages: int) -> bytes:
    """Image content whose page i is filled with byte i + 1 (no zero page, no two alike)."""
    return b"".join(bytes([i + 1]) * PAGE for i in range(pages))


# --- Measurements ----------------------------------------------------------------------------

_CODES = {
    PageState.ABSENT: ".",
    PageState.ZERO: "z",
    PageState.FILE: "f",
    PageState.PRIVATE: "p",
    PageState.SHARED_ANON: "s",
    PageState.SWAPPED: "S",
    PageState.GUARD: "g",
}


def states(addr: int, pages: int) -> str:
    """Page states as one letter a page: `.` absent, `z` zero, `f` file, `p` private, `s`
    shared anonymous, `S` swapped, `g` guard."""
    return "".join(_CODES[state] for state in observers.page_states(addr, pages * PAGE))


def resident(addr: int, pages: int) -> str:
    """mincore residency as one digit a page."""
    return "".join(str(observers.resident_pages(addr + i * PAGE, PAGE)) for i in range(pages))


def touch(addr: int, pages: int = 1) -> int:
    """Faults of the observers' touch of `pages` pages from `addr`."""
    return observers.touch(addr, pages * PAGE)


def load(addr: int, pages: int = 1) -> int:
    """Faults of one byte load per page (a Wasm read)."""
    return native().lib.poolfuzz_load(addr, pages * PAGE)


def fill(addr: int, pages: int, byte: int = 0) -> int:
    """Faults of a memset of `pages` pages (a keep-resident reset)."""
    return native().lib.poolfuzz_fill(addr, byte, pages * PAGE)


def peek(addr: int, pages: int = 1) -> bytes:
    return observers.read_memory(addr, pages * PAGE)
