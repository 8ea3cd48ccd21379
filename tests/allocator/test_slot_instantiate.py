"""A slot's instantiate / grow / clear cycle (Wasmtime cow.rs `instantiate_no_image`,
`instantiate_image`), with `accessible` read from /proc/self/maps."""

from __future__ import annotations

import pytest
from alloc_probes import accessible, mappings_of
from slot_bench import STATIC_SIZE, SlotBench

from allocator.units import KiB
from allocator.units import OS_PAGE as P


def test_instantiate_no_image(bench: SlotBench) -> None:
    slot = bench.slot
    slot.instantiate(64 * KiB, None, "static")
    assert slot.dirty and accessible(bench.base, STATIC_SIZE) == 64 * KiB
    assert bench.read(0) == bench.read(65535) == b"\0"
    bench.write(1024, b"\x2a")
    slot.set_heap_limit(128 * KiB)
    assert accessible(bench.base, STATIC_SIZE) == 128 * KiB
    assert bench.read(1024) == b"\x2a" and bench.read(131071) == b"\0"
    bench.clear()
    assert not slot.dirty
    slot.instantiate(64 * KiB, None, "static")
    assert bench.read(1024) == b"\0"  # reuse without remapping reads zeros


def test_instantiate_image(bench: SlotBench) -> None:
    slot = bench.slot
    a = bench.image(P, b"\x01\x02\x03\x04")
    slot.instantiate(64 * KiB, a, "static")
    assert slot.image is a and bench.read(P, 4) == b"\x01\x02\x03\x04"
    bench.write(P, b"\x05")
    bench.clear()
    slot.instantiate(64 * KiB, a, "static")
    assert bench.read(P, 4) == b"\x01\x02\x03\x04"
    bench.clear()
    slot.instantiate(64 * KiB, None, "static")
    assert not slot.has_image and bench.read(P, 4) == b"\0" * 4
    bench.clear()
    slot.instantiate(64 * KiB, a, "static")
    assert bench.read(P, 4) == b"\x01\x02\x03\x04"
    b = bench.image(P, b"\x0a\x0b\x0c\x0d")
    bench.clear()
    slot.instantiate(128 * KiB, b, "static")
    assert bench.read(P, 4) == b"\x0a\x0b\x0c\x0d"
    bench.clear()
    slot.instantiate(64 * KiB, a, "static")  # a different image is detected and remapped
    assert bench.read(P, 4) == b"\x01\x02\x03\x04"


def test_image_is_mapped_once_and_released_with_the_slot_reference(bench: SlotBench) -> None:
    image = bench.image(0, b"\x07")
    bench.slot.instantiate(64 * KiB, image, "static")
    assert image.refs == 2 and mappings_of(image.inode) == 1
    bench.clear()
    bench.slot.remove_image()
    assert image.refs == 1 and mappings_of(image.inode) == 0
    assert bench.read(0) == b"\0" and accessible(bench.base, STATIC_SIZE) == 64 * KiB


def test_static_style_shrinks_accessible_to_the_new_size(bench: SlotBench) -> None:
    bench.slot.instantiate(64 * KiB, None, "static")
    bench.slot.set_heap_limit(256 * KiB)
    bench.clear()
    assert accessible(bench.base, STATIC_SIZE) == 256 * KiB  # clear never shrinks
    bench.vm.calls.reset()
    bench.slot.instantiate(64 * KiB, None, "static")
    assert accessible(bench.base, STATIC_SIZE) == 64 * KiB == bench.slot.accessible
    assert bench.vm.calls.verbs() == {"hide": 1}


def test_zero_size_instantiation_leaves_nothing_accessible(bench: SlotBench) -> None:
    bench.slot.instantiate(0, None, "static")
    assert accessible(bench.base, STATIC_SIZE) == 0 == bench.slot.accessible
    bench.clear(keep=64 * KiB)
    assert bench.vm.calls["madvise"] == 1  # the fixture's NOHUGEPAGE only


def test_reset_with_anon_memory_forgets_everything(bench: SlotBench) -> None:
    image = bench.image(0, b"\x07")
    bench.slot.instantiate(128 * KiB, image, "dynamic")
    bench.clear()
    bench.slot.reset_with_anon_memory()
    assert (bench.slot.accessible, bench.slot.image, bench.slot.dirty) == (0, None, False)
    assert accessible(bench.base, STATIC_SIZE) == 0 and mappings_of(image.inode) == 0
    assert image.refs == 1


def test_dirty_flag_preconditions_are_asserted_with_values(bench: SlotBench) -> None:
    with pytest.raises(AssertionError, match="clean slot at 0x"):
        bench.clear()
    bench.slot.instantiate(64 * KiB, None, "static")
    with pytest.raises(AssertionError, match="dirty slot at 0x.*clear_and_remain_ready"):
        bench.slot.instantiate(64 * KiB, None, "static")
    with pytest.raises(AssertionError, match=f"size_bytes=0x800000 exceeds static_size={STATIC_SIZE:#x}"):
        bench.slot.set_heap_limit(2 * STATIC_SIZE)
