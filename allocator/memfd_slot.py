"""The original growth design: heap growth by `ftruncate` of an extension memfd (seed 003).

```
 base                   base + initial                                 base + static_size
 | anonymous | image | anonymous |  extension memfd, MAP_SHARED                        |
 | zero (RW) | (CoW) | zero (RW) |  [0, file size): RW zero | past the end: SIGBUS    |
 +-----------+-------+-----------+--------------------------+--------------------------+
                                 ^ initial                  ^ accessible = initial + file size
```

The slot maps `[0, initial)` anonymous RW and a per-slot memfd named `wasm-heap-extension` over
`[initial, static_size)` (file offset 0 at `initial`), and remaps both only when the image or
`initial` changes: reinstantiating the same module into the same slot makes no call at all.
Growth is `ftruncate(extension, size - initial)`; an access past the file's end is SIGBUS, so
`accessible` is always exactly the current size, in both styles (callers must bound every
access by it). Clearing is the keep-resident memset and `madvise` of `[0, initial)`, then
`ftruncate(extension, 0)`, which drops every extension page at once. (The `madvise` goes
through the caller's decommit callback, so it may be batched; the `ftruncate` is immediate.)

Invariants, on top of `MemoryImageSlot`'s: `initial is None` exactly when nothing is mapped
(a cold or erased slot); otherwise `accessible == initial + extension size`, and the extension
is empty whenever the slot is clean.
"""

from __future__ import annotations

from allocator.image import MemoryImage
from allocator.slot import MemoryImageSlot
from allocator.units import round_up
from allocator.vm import VirtualMemory

EXTENSION_MEMFD_NAME = "wasm-heap-extension"


class MemfdGrowthSlot(MemoryImageSlot):
    """A slot that grows by `ftruncate` of its extension memfd. See the module docstring."""

    def __init__(self, vm: VirtualMemory, base: int, static_size: int) -> None:
        super().__init__(vm, base, static_size)
        self.initial: int | None = None
        self.extension_fd: int | None = None
        self.extension_size = 0

    def instantiate(self, initial_size_bytes: int, image: MemoryImage | None, style: str) -> None:
        """As `MemoryImageSlot.instantiate`; `style` makes no difference in this design."""
        self._check_instantiate(initial_size_bytes, image, style)
        initial = round_up(initial_size_bytes)
        if image is not self.image or initial != self.initial:
            self._remap(initial, image)
        self.dirty = True

    def _remap(self, initial: int, image: MemoryImage | None) -> None:
        """Lays out the whole slot again: anonymous heap, extension, then the image."""
        assert self.extension_size == 0, (
            f"remap of slot at {self.base:#x} with a {self.extension_size:#x}-byte extension"
        )
        self.vm.remap_as_zeros(self.base, initial)
        self._map_extension(initial)
        self._forget_image()  # the old image mapping was just replaced
        self.initial = initial
        self.accessible = initial
        if image is not None:
            self._map_image(image)

    def _map_extension(self, initial: int) -> None:
        length = self.static_size - initial
        if length:
            fd = self._extension()
            self.vm.map_file_shared(self.base + initial, length, fd)

    def _extension(self) -> int:
        if self.extension_fd is None:
            self.extension_fd = self.vm.create_memfd(EXTENSION_MEMFD_NAME)
        return self.extension_fd

    def set_heap_limit(self, size_bytes: int) -> None:
        """Grows the extension file so that exactly `[0, round_up(size_bytes))` is accessible."""
        assert 0 <= size_bytes <= self.static_size, (
            f"size_bytes={size_bytes:#x} exceeds static_size={self.static_size:#x}"
        )
        assert self.initial is not None, f"set_heap_limit on unmapped slot at {self.base:#x}"
        target = round_up(size_bytes)
        if target > self.accessible:
            self.vm.resize_file(self._extension(), target - self.initial)
            self.extension_size = target - self.initial
            self.accessible = target

    def _reset_end(self) -> int:
        assert self.initial is not None, f"clear of unmapped slot at {self.base:#x}"
        return self.initial

    def _after_clear(self) -> None:
        self._truncate_extension()
        self.accessible = self._reset_end()

    def _truncate_extension(self) -> None:
        """`ftruncate(extension, 0)`: every extension page is dropped, later accesses SIGBUS."""
        if self.extension_size and self.extension_fd is not None:
            self.vm.resize_file(self.extension_fd, 0)
        self.extension_size = 0

    def reset_with_anon_memory(self) -> None:
        super().reset_with_anon_memory()
        self._truncate_extension()
        self.initial = None

    def close(self) -> None:
        super().close()
        fd, self.extension_fd = self.extension_fd, None
        if fd is not None:
            self.vm.close_fd(fd)
