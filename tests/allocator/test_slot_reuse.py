"""What a reused slot shows the next instance (Wasmtime `switch_image_and_non_image`,
`pooling_reuse_resets`, `memory_init`), and runtime initialization of refused images."""

from __future__ import annotations

import pytest
from alloc_probes import accessible, image_memfds, resident, touch

from allocator import Initialization, OutOfBounds
from allocator.image import DENSE_IMAGE_BYTES
from allocator.units import KiB, MiB

WASM_PAGE = 64 * KiB


def test_switch_image_and_non_image(make_engine) -> None:
    engine = make_engine(memories=1)
    with_image = engine.compile("m2", 1, data=[(0, b"1234")])
    without = engine.compile("m1", 1)
    first = with_image.instantiate()
    assert first.memory.read(0, 4) == b"1234"
    first.deallocate()
    for _ in range(2):
        plain = without.instantiate()
        assert plain.memory.read(0, 4) == bytes(4)
        plain.deallocate()
    again = with_image.instantiate()
    assert again.memory.read(0, 4) == b"1234"
    again.memory.write(0, b"5678")
    assert again.memory.read(0, 4) == b"5678"


@pytest.mark.parametrize("style", ["static", "dynamic"])
def test_pooling_reuse_resets_the_size(make_engine, style: str) -> None:
    engine = make_engine(memories=1, max_memory=32 * MiB, reservation=32 * MiB, guard=0,
                         style=style)
    a = engine.compile("a", 10, 100).instantiate()
    assert a.memory.grow(10) == 10
    a.memory.write(15 * WASM_PAGE, b"stale")
    a.deallocate()
    b = engine.compile("b", 5, 100).instantiate()
    with pytest.raises(OutOfBounds):
        b.memory.read(983040, 1)
    expected = 5 * WASM_PAGE if style == "static" else 20 * WASM_PAGE
    assert accessible(b.memory.base, b.memory.limit) == expected
    assert b.memory.grow(11) == 5
    assert b.memory.read(15 * WASM_PAGE, 5) == bytes(5)


def test_segments_spanning_pages_are_initialized(make_engine) -> None:
    memory = make_engine().compile("m", 2, data=[(65530, b"abcdefghij"), (10, b"hi")]) \
        .instantiate().memory
    assert memory.read(65530, 10) == b"abcdefghij" and memory.read(10, 2) == b"hi"


def test_sparse_data_is_written_at_each_instantiation(make_engine) -> None:
    engine = make_engine(memories=2, max_memory=64 * MiB)
    memfds = image_memfds()
    module = engine.compile("sparse", 300, data=[(0, b"head"), (DENSE_IMAGE_BYTES, b"tail")])
    assert module.initialization is Initialization.RUNTIME and not module.has_image
    for _ in range(2):
        instance = module.instantiate()
        memory = instance.memory
        assert memory.read(0, 4) == b"head"
        assert memory.read(DENSE_IMAGE_BYTES, 4) == b"tail"
        assert touch(memory.base, 1) == 0  # a private page, written at instantiation
        assert image_memfds() == memfds
        memory.write(0, b"XXXX")
        instance.deallocate()


def test_all_zero_segments_need_no_initialization(make_engine) -> None:
    engine = make_engine()
    module = engine.compile("zeros", 1, data=[(0, bytes(100))])
    assert module.initialization is Initialization.NONE
    instance = module.instantiate()
    assert touch(instance.memory.base, 1) == 1  # never written: still absent


@pytest.mark.parametrize(("style", "mprotects"), [("dynamic", 0), ("static", 5)])
def test_reuse_after_growth_costs_mprotect_only_when_static(make_engine, style: str,
                                                             mprotects: int) -> None:
    engine = make_engine(memories=1, style=style)
    module = engine.compile("m", 1, 4)
    instance = module.instantiate()
    instance.memory.grow(3)
    instance.deallocate()
    engine.syscalls.reset()
    for _ in range(5):
        instance = module.instantiate()
        instance.memory.grow(3)  # static: hidden again at each reuse, exposed by each grow
        instance.deallocate()
    assert engine.syscalls["mprotect"] == 2 * mprotects
    assert engine.syscalls.verbs().get("hide", 0) == mprotects


def test_pages_of_a_reused_slot_are_in_the_predicted_states(make_engine) -> None:
    """docs/semantics.md §7 after a reset with keep_resident = 2 OS pages and an image page 4:
    kept pages are private, the image page is back to the file, the rest absent."""
    page = 4 * KiB
    engine = make_engine(memories=1, keep_resident=2 * page)
    module = engine.compile("m", 1, data=[(4 * page, b"image")])
    instance = module.instantiate()
    instance.memory.write(0, b"\xff" * WASM_PAGE)
    instance.deallocate()
    memory = module.instantiate().memory
    base = memory.base
    residency = resident(base, WASM_PAGE)
    assert residency == [1, 1, 0, 0, 1] + [0] * 11
    assert memory.read(5 * page, 1) == b"\0"  # absent -> zero-mapped
    assert resident(base + 5 * page, page) == [1]
    faults = [touch(base + p * page, page) for p in range(16)]
    assert faults == [0, 0] + [1] * 14
    assert memory.read(4 * page, 5) == b"image"
