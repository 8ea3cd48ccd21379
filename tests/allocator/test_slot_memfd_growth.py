"""The original growth design (seed 003): an extension memfd grown by ftruncate."""

from __future__ import annotations

import pytest
from alloc_probes import accessible, extension_memfds, resident, touch
from slot_bench import STATIC_SIZE, SlotBench

from allocator.units import KiB


@pytest.mark.parametrize("style", ["static", "dynamic"])
def test_accessible_is_exactly_the_size(memfd_bench: SlotBench, style: str) -> None:
    slot = memfd_bench.slot
    slot.instantiate(64 * KiB, None, style)
    assert accessible(memfd_bench.base, STATIC_SIZE) == 64 * KiB
    slot.set_heap_limit(192 * KiB)
    assert accessible(memfd_bench.base, STATIC_SIZE) == 192 * KiB == slot.accessible
    memfd_bench.write(192 * KiB - 1, b"\x01")
    memfd_bench.clear()
    assert accessible(memfd_bench.base, STATIC_SIZE) == 64 * KiB == slot.accessible


def test_growth_is_one_ftruncate_and_reset_one_more(memfd_bench: SlotBench) -> None:
    slot = memfd_bench.slot
    slot.instantiate(64 * KiB, None, "static")
    memfd_bench.vm.calls.reset()
    slot.set_heap_limit(128 * KiB)
    assert memfd_bench.vm.calls.snapshot() == {"ftruncate": 1}
    memfd_bench.clear()
    assert memfd_bench.vm.calls["ftruncate"] == 2
    assert memfd_bench.vm.calls["mprotect"] == 0


def test_same_image_and_size_reinstantiate_without_any_call(memfd_bench: SlotBench) -> None:
    image = memfd_bench.image(0, b"\x01\x02")
    slot = memfd_bench.slot
    slot.instantiate(64 * KiB, image, "static")
    memfd_bench.write(0, b"\xff")
    memfd_bench.clear()
    memfd_bench.vm.calls.reset()
    slot.instantiate(64 * KiB, image, "static")
    assert memfd_bench.vm.calls.total() == 0
    assert memfd_bench.read(0, 2) == b"\x01\x02"


def test_changed_size_or_image_remaps_everything(memfd_bench: SlotBench) -> None:
    slot = memfd_bench.slot
    image = memfd_bench.image(0, b"\x01")
    slot.instantiate(64 * KiB, image, "static")
    memfd_bench.clear()
    memfd_bench.vm.calls.reset()
    slot.instantiate(128 * KiB, None, "static")
    assert memfd_bench.vm.calls.verbs() == {"remap_as_zeros": 1, "map_file_shared": 1}
    assert memfd_bench.read(0) == b"\0" and image.refs == 1
    assert accessible(memfd_bench.base, STATIC_SIZE) == 128 * KiB


def test_extension_pages_are_dropped_by_the_reset(memfd_bench: SlotBench) -> None:
    slot = memfd_bench.slot
    slot.instantiate(64 * KiB, None, "static")
    slot.set_heap_limit(128 * KiB)
    memfd_bench.vm.fill(memfd_bench.base + 64 * KiB, 64 * KiB, 0x22)
    memfd_bench.clear()
    slot.instantiate(64 * KiB, None, "static")
    slot.set_heap_limit(128 * KiB)
    assert resident(memfd_bench.base + 64 * KiB, 64 * KiB) == [0] * 16
    assert touch(memfd_bench.base + 64 * KiB, 64 * KiB) == 16
    assert memfd_bench.read(64 * KiB, 64 * KiB) == bytes(64 * KiB)


def test_one_extension_memfd_per_slot_closed_with_it(memfd_bench: SlotBench) -> None:
    before = extension_memfds()
    memfd_bench.slot.instantiate(64 * KiB, None, "static")
    assert extension_memfds() == before + 1
    memfd_bench.clear()
    memfd_bench.slot.instantiate(128 * KiB, None, "static")
    assert extension_memfds() == before + 1
    memfd_bench.clear()
    memfd_bench.slot.close()
    assert extension_memfds() == before


def test_reset_with_anon_memory_unmaps_the_extension(memfd_bench: SlotBench) -> None:
    slot = memfd_bench.slot
    slot.instantiate(64 * KiB, None, "static")
    slot.set_heap_limit(128 * KiB)
    memfd_bench.clear()
    slot.reset_with_anon_memory()
    assert (slot.initial, slot.accessible, slot.extension_size) == (None, 0, 0)
    assert accessible(memfd_bench.base, STATIC_SIZE) == 0
    slot.instantiate(64 * KiB, None, "static")
    assert accessible(memfd_bench.base, STATIC_SIZE) == 64 * KiB
