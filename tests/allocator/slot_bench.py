"""A bare slot over its own 4 MiB reservation, as Wasmtime's cow.rs unit tests use.

The `bench` and `memfd_bench` fixtures (conftest.py) yield a `SlotBench`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from allocator import MemoryImage, VirtualMemory
from allocator.slot import MemoryImageSlot
from allocator.units import MiB
from allocator.units import OS_PAGE as P

STATIC_SIZE = 4 * MiB


@dataclass
class SlotBench:
    """A slot, its verbs, and the images made for it (released at the end)."""

    vm: VirtualMemory
    base: int
    slot: MemoryImageSlot
    images: list[MemoryImage] = field(default_factory=list)

    def image(self, offset: int, data: bytes) -> MemoryImage:
        """An image of `data` padded to a page, at linear `offset`."""
        image = MemoryImage(self.vm, offset, data + b"\0" * (-len(data) % P))
        self.images.append(image)
        return image

    def clear(self, keep: int = 0) -> int:
        """`clear_and_remain_ready` with every decommit performed at once."""
        return self.slot.clear_and_remain_ready(keep, self.vm.decommit)

    def read(self, offset: int, length: int = 1) -> bytes:
        return self.vm.peek(self.base + offset, length)

    def write(self, offset: int, data: bytes) -> None:
        self.vm.poke(self.base + offset, data)


def slot_bench(slot_class: type[MemoryImageSlot]) -> Iterator[SlotBench]:
    vm = VirtualMemory()
    base = vm.reserve(STATIC_SIZE)
    vm.no_hugepages(base, STATIC_SIZE)
    bench = SlotBench(vm, base, slot_class(vm, base, STATIC_SIZE))
    yield bench
    bench.slot.close()
    vm.release(base, STATIC_SIZE)
    for image in bench.images:
        image.close()
