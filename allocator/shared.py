"""Shared memories (threads proposal, seed 001): standalone, outside the pool.

```
 base                     base + current_length                  base + reservation
 | RW                     | PROT_NONE (reserved for growth)       |
 +------------------------+---------------------------------------+
 <- min pages at creation, grows by mprotect RW; never moves ----->  max pages
```

A shared memory has its own reservation of `max` pages (one PROT_NONE OS page when `max` is 0,
so that `base` is still an address no one else owns). `grow` and `size` run under one lock;
`grow` makes the new pages RW *then* publishes the new length, so any length a thread reads
without the lock (`current_length`) is backed by accessible pages. `min` and `max` are limited
to 32 bits, and a 32-bit memory has at most 65536 pages.

The pooling allocator refuses modules that declare shared memories (`SharedUnsupported`); these
are created directly: `SharedMemory(min, max)` or `engine.shared_memory(min, max)`.
"""

from __future__ import annotations

import weakref

from allocator.errors import InvalidArgument, expect_int
from allocator.memory import BoundsCheckedMemory
from allocator.units import MAX_U32, MAX_WASM_PAGES, OS_PAGE, WASM_PAGE
from allocator.vm import VirtualMemory


class SharedMemory(BoundsCheckedMemory):
    """A standalone shared linear memory of `min_pages`, growable to `max_pages`."""

    what = "shared memory"

    def __init__(self, min_pages: int, max_pages: int, vm: VirtualMemory | None = None) -> None:
        _check_limits(min_pages, max_pages)
        vm = vm if vm is not None else VirtualMemory()
        reservation = max(max_pages * WASM_PAGE, OS_PAGE)
        base = vm.reserve(reservation)
        try:
            vm.expose(base, min_pages * WASM_PAGE)
        except BaseException:
            vm.release(base, reservation)
            raise
        super().__init__(vm, base, min_pages * WASM_PAGE, max_pages)
        self.min_pages = min_pages
        self.max_pages = max_pages
        self.reservation = reservation
        self._finalizer = weakref.finalize(self, vm.release, base, reservation)

    @property
    def syscalls(self):  # noqa: ANN201 - a SyscallCounter
        """The calls made for this memory (its own counter unless it shares an engine's)."""
        return self._vm.calls

    @property
    def current_length(self) -> int:
        """The published length in bytes, read without the lock (always backed by RW pages)."""
        return self._size_bytes

    def _commit(self, old_bytes: int, new_bytes: int) -> None:
        self._vm.expose(self.base + old_bytes, new_bytes - old_bytes)

    def close(self) -> None:
        """Unmaps the memory (after any access in progress). Idempotent."""
        if self._invalidate("the shared memory was closed"):
            self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> SharedMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_limits(min_pages: int, max_pages: int) -> None:
    expect_int("SharedMemory min_pages", min_pages)
    expect_int("SharedMemory max_pages", max_pages)
    if min_pages > MAX_U32 or max_pages > MAX_U32:
        raise InvalidArgument(
            f"shared memory limits min={min_pages} max={max_pages}: both must fit in 32 bits"
        )
    if max_pages > MAX_WASM_PAGES:
        raise InvalidArgument(
            f"shared memory max={max_pages} pages exceeds the {MAX_WASM_PAGES} pages (4 GiB) "
            f"of a 32-bit memory"
        )
    if min_pages > max_pages:
        raise InvalidArgument(
            f"shared memory min={min_pages} pages exceeds its max={max_pages}; declare max >= min"
        )
