"""Clearing with keep_resident: memset (and image memcpy) below `keep`, madvise above
(Wasmtime cow.rs `memset_instead_of_madvise`), checked page by page: contents, residency and
the faults of a touch (docs/semantics.md §7)."""

from __future__ import annotations

import pytest
from alloc_probes import resident, touch
from slot_bench import SlotBench

from allocator.units import KiB, MiB
from allocator.units import OS_PAGE as P

HEAP = 64 * KiB
PAGES = HEAP // P
KEEPS = [0, P, 10 * P, 1 * MiB, 10 * MiB]
IMAGE = b"\x01\x02\x03\x04"


def page_states(bench: SlotBench) -> list[tuple[int, int]]:
    """(resident, faults of a touch) for every page of the heap. Touching keeps the bytes."""
    residency = resident(bench.base, HEAP)
    return [(residency[p], touch(bench.base + p * P, P)) for p in range(PAGES)]


def expected_states(keep: int, image_page: int | None) -> list[tuple[int, int]]:
    kept = min(keep, HEAP) // P
    states = []
    for page in range(PAGES):
        if page < kept:
            states.append((1, 0))  # memset: privately present
        elif page == image_page:
            states.append((1, 1))  # back to the file: page cache, one fault to copy
        else:
            states.append((0, 1))  # anonymous, decommitted: absent
    return states


@pytest.mark.parametrize("keep", KEEPS)
@pytest.mark.parametrize("image_offset", [0, P, 2 * P])
def test_image_is_restored_for_every_keep(bench: SlotBench, image_offset: int,
                                          keep: int) -> None:
    image = bench.image(image_offset, IMAGE)
    bench.slot.instantiate(HEAP, image, "static")
    if image_offset:
        assert bench.read(image_offset - 1) == b"\0"
    assert bench.read(image_offset, 5) == IMAGE + b"\0"
    for page in range(PAGES):  # dirty every page, the image's included
        bench.write(page * P + 7, b"\x05")
    assert bench.clear(keep) == min(keep, HEAP)

    assert page_states(bench) == expected_states(keep, image_offset // P)
    assert bench.read(image_offset, 5) == IMAGE + b"\0"
    assert bench.read(0, HEAP).count(0) == HEAP - len(IMAGE)


@pytest.mark.parametrize("keep", KEEPS)
def test_anonymous_memory_is_zeroed_for_every_keep(bench: SlotBench, keep: int) -> None:
    bench.slot.instantiate(HEAP, bench.image(P, IMAGE), "static")
    bench.clear(keep)
    bench.slot.instantiate(HEAP, None, "static")
    for offset in range(0, HEAP, KiB):
        assert bench.read(offset) == b"\0", f"byte {offset:#x} not zero"
        bench.write(offset, b"\x05")
    bench.clear(keep)
    assert page_states(bench) == expected_states(keep, None)
    assert bench.read(0, HEAP) == bytes(HEAP)


def test_memset_restores_image_bytes_by_memcpy_not_madvise(bench: SlotBench) -> None:
    image = bench.image(P, IMAGE)
    bench.slot.instantiate(HEAP, image, "static")
    bench.write(P, b"\xff" * 8)
    bench.vm.calls.reset()
    bench.clear(keep=4 * P)
    # [0, P) zero, [P, 2P) image bytes, [2P, 4P) zero; the rest decommitted (queued here).
    assert bench.vm.calls.snapshot() == {"memset": 2, "memcpy": 1, "madvise": 1}
    assert bench.read(P, 8) == IMAGE + b"\0" * 4


def test_decommit_callback_receives_the_rest_of_accessible(bench: SlotBench) -> None:
    regions: list[tuple[int, int]] = []
    bench.slot.instantiate(HEAP, None, "dynamic")
    bench.slot.set_heap_limit(2 * HEAP)
    bench.slot.clear_and_remain_ready(3 * P, lambda a, n: regions.append((a, n)))
    assert regions == [(bench.base + 3 * P, 2 * HEAP - 3 * P)]
    bench.slot.instantiate(HEAP, None, "dynamic")
    bench.slot.clear_and_remain_ready(10 * MiB, lambda a, n: regions.append((a, n)))
    assert len(regions) == 1  # everything kept: nothing to decommit


def test_keep_resident_is_rounded_up_to_a_page(bench: SlotBench) -> None:
    bench.slot.instantiate(HEAP, None, "static")
    assert bench.clear(keep=1) == P
