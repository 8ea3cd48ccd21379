"""Dynamic-style slots keep what they exposed (seed 000, Wasmtime cow.rs `dynamic`)."""

from __future__ import annotations

from alloc_probes import accessible, touch
from slot_bench import STATIC_SIZE, SlotBench

from allocator.units import KiB


def test_image_restored_and_still_readable_after_clear(bench: SlotBench) -> None:
    image = bench.image(0, b"\x01\x02\x03\x04")
    bench.slot.instantiate(64 * KiB, image, "dynamic")
    bench.write(0, b"\x05")
    bench.clear()
    assert bench.read(0, 4) == b"\x01\x02\x03\x04"


def test_grown_pages_stay_accessible_and_zero(bench: SlotBench) -> None:
    image = bench.image(0, b"\x01")
    bench.slot.instantiate(64 * KiB, image, "dynamic")
    bench.slot.set_heap_limit(128 * KiB)
    assert bench.read(64 * KiB) == b"\0"
    bench.write(64 * KiB, b"\x64")
    bench.clear()
    assert bench.read(64 * KiB) == b"\0"
    bench.slot.instantiate(64 * KiB, image, "dynamic")
    assert accessible(bench.base, STATIC_SIZE) == 128 * KiB
    assert bench.read(64 * KiB) == b"\0"
    bench.slot.set_heap_limit(128 * KiB)
    bench.write(64 * KiB, b"\x64")
    bench.clear()
    bench.slot.instantiate(64 * KiB, None, "dynamic")
    assert not bench.slot.has_image
    assert bench.read(0) == bench.read(64 * KiB) == b"\0"


def test_reuse_makes_zero_mprotect_calls(bench: SlotBench) -> None:
    bench.slot.instantiate(64 * KiB, None, "dynamic")
    bench.slot.set_heap_limit(1024 * KiB)
    bench.clear()
    bench.vm.calls.reset()
    for _ in range(5):
        bench.slot.instantiate(64 * KiB, None, "dynamic")
        bench.slot.set_heap_limit(512 * KiB)  # a grow within what is already accessible
        bench.clear()
    assert bench.vm.calls["mprotect"] == 0
    assert bench.slot.accessible == 1024 * KiB


def test_kept_pages_beyond_the_initial_size_do_not_fault_on_reuse(bench: SlotBench) -> None:
    """Memory paged in by a previous instance and memset stays present after growth."""
    bench.slot.instantiate(64 * KiB, None, "dynamic")
    bench.slot.set_heap_limit(128 * KiB)
    bench.vm.fill(bench.base, 128 * KiB, 0x11)
    bench.clear(keep=128 * KiB)
    bench.slot.instantiate(64 * KiB, None, "dynamic")
    bench.slot.set_heap_limit(128 * KiB)
    assert touch(bench.base, 128 * KiB) == 0
    assert bench.read(0, 128 * KiB) == bytes(128 * KiB)
