"""Linear memories as the program sees them: bounds-checked loads, stores and `memory.grow`.

```
 base                         base + size_bytes                       base + limit
 | readable and writable      | may be accessible (dynamic style),   |
 | [0, size_bytes)            | PROT_NONE, or SIGBUS (memfd growth)  |
 +----------------------------+--------------------------------------+
   every access must lie here   never touched: OutOfBounds instead
```

Every `read` and `write` is checked against the current size *before* memory is touched, so an
out-of-bounds access raises `OutOfBounds` and never faults; every operation on a memory whose
instance is gone raises `InvalidState`. Size, growth and accesses of one memory are serialized
by its lock, so a concurrent `deallocate` (or engine close) never pulls pages from under an
access in progress.
"""

from __future__ import annotations

import threading

from allocator.errors import InvalidArgument, InvalidState, OutOfBounds, SyscallError, expect_int
from allocator.slot import MemoryImageSlot
from allocator.units import MAX_WASM_PAGES, WASM_PAGE
from allocator.vm import VirtualMemory


class BoundsCheckedMemory:
    """A memory at `base` of `size()` Wasm pages, growable up to `maximum_pages`.

    Subclasses provide `_commit(old_bytes, new_bytes)`, which makes the new pages accessible
    (raising `SyscallError` and changing nothing if it cannot).
    """

    what = "memory"

    def __init__(self, vm: VirtualMemory, base: int, size_bytes: int, maximum_pages: int):
        self._vm = vm
        self.base = base
        self.maximum_pages = maximum_pages
        self._size_bytes = size_bytes
        self._lock = threading.Lock()
        self._gone: str | None = None  # why the memory may no longer be used

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base={self.base:#x}, pages={self._size_bytes // WASM_PAGE}, "
            f"maximum_pages={self.maximum_pages})"
        )

    @property
    def size_bytes(self) -> int:
        with self._lock:
            self._check_alive()
            return self._size_bytes

    def size(self) -> int:
        """`memory.size`: the current size in Wasm pages."""
        return self.size_bytes // WASM_PAGE

    def grow(self, delta_pages: int) -> int:
        """`memory.grow`: the old size in pages, or -1 (nothing changed) past the maximum."""
        expect_int(f"{self.what}.grow delta_pages", delta_pages)
        with self._lock:
            self._check_alive()
            old_bytes = self._size_bytes
            new_pages = old_bytes // WASM_PAGE + delta_pages
            if new_pages > self.maximum_pages:
                return -1
            if delta_pages:
                try:
                    self._commit(old_bytes, new_pages * WASM_PAGE)
                except SyscallError:
                    return -1
                self._size_bytes = new_pages * WASM_PAGE  # published after the pages exist
            return old_bytes // WASM_PAGE

    def read(self, offset: int, length: int) -> bytes:
        """The `length` bytes at `offset`; `OutOfBounds` if they pass the size."""
        with self._lock:
            self._check_range("read", offset, length)
            return self._vm.peek(self.base + offset, length)

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Stores `data` at `offset`; `OutOfBounds` (nothing written) if it passes the size."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArgument(f"{self.what}.write data={data!r}: expected bytes")
        data = bytes(data)
        with self._lock:
            self._check_range("write", offset, len(data))
            self._vm.poke(self.base + offset, data)

    def _check_range(self, access: str, offset: int, length: int) -> None:
        expect_int(f"{self.what}.{access} offset", offset, minimum=None)
        expect_int(f"{self.what}.{access} length", length)
        self._check_alive()
        if offset < 0 or offset + length > self._size_bytes:
            raise OutOfBounds(
                f"{access} of {length} bytes at offset {offset:#x} is out of bounds of a "
                f"{self.what} of {self._size_bytes:#x} bytes ({self._size_bytes // WASM_PAGE} "
                f"pages); grow it first or stay below its size"
            )

    def _check_alive(self) -> None:
        if self._gone is not None:
            raise InvalidState(f"{self.what} at {self.base:#x} is gone: {self._gone}")

    def _commit(self, old_bytes: int, new_bytes: int) -> None:
        raise NotImplementedError

    def _invalidate(self, why: str) -> bool:
        """Forbids further use (waiting for an access in progress); False if already gone."""
        with self._lock:
            if self._gone is not None:
                return False
            self._gone = why
            return True


class LinearMemory(BoundsCheckedMemory):
    """The memory of an instance, in its pool slot.

    `limit` is the slot's `static_size`: bytes from `base` that belong to this memory. Its
    maximum is the smaller of the module's maximum and what fits in the slot.
    """

    what = "linear memory"

    def __init__(self, slot: MemoryImageSlot, size_bytes: int, max_pages: int | None) -> None:
        declared = MAX_WASM_PAGES if max_pages is None else max_pages
        super().__init__(slot.vm, slot.base, size_bytes,
                         min(declared, slot.static_size // WASM_PAGE))
        self._slot = slot
        self.limit = slot.static_size

    def _commit(self, old_bytes: int, new_bytes: int) -> None:
        self._slot.set_heap_limit(new_bytes)
