"""Sizes, growth and bounds of linear memories (Wasmtime `memory_guard_page_trap`,
`zero_memory_pages_disallows_oob`, `dynamic_memory_pooling_allocator`). Every out-of-bounds
access must raise, never fault."""

from __future__ import annotations

import pytest
from alloc_probes import accessible

from allocator import InvalidArgument, OutOfBounds
from allocator.units import KiB, MiB

WASM_PAGE = 64 * KiB


def test_accesses_past_the_size_raise_until_grown(make_engine) -> None:
    engine = make_engine(max_memory=2 * WASM_PAGE)
    module = engine.compile("m", 0)
    for _ in range(3):
        instance = module.instantiate()
        memory = instance.memory
        for offset in (0, 1):
            with pytest.raises(OutOfBounds):
                memory.read(offset, 1)
        assert memory.grow(1) == 0
        assert memory.read(0, 1) == b"\0"
        for offset in (WASM_PAGE, WASM_PAGE + 1):
            with pytest.raises(OutOfBounds):
                memory.read(offset, 1)
        assert memory.grow(1) == 1
        assert memory.read(WASM_PAGE, 1) == b"\0"
        assert memory.grow(1) == -1
        instance.deallocate()


def test_zero_sized_pool_memories_allow_no_access(make_engine) -> None:
    """CVE-2022-39392: (memory 0) in a pool with max_memory 0."""
    engine = make_engine(max_memory=0, guard=0)
    instance = engine.compile("m", 0, 0).instantiate()
    memory = instance.memory
    assert (memory.size(), memory.limit) == (0, 0)
    for bit in range(32):
        with pytest.raises(OutOfBounds):
            memory.read(1 << bit, 1)
        with pytest.raises(OutOfBounds):
            memory.write(1 << bit, b"x")
    assert memory.grow(1) == -1 and memory.grow(0) == 0
    instance.deallocate()
    assert engine.pool.layout.stride > 0


def test_memory_zero_to_n_grows_to_its_maximum(make_engine) -> None:
    engine = make_engine()
    instance = engine.compile("m", 0, 3).instantiate()
    assert accessible(instance.memory.base, instance.memory.limit) == 0
    assert [instance.memory.grow(1) for _ in range(4)] == [0, 1, 2, -1]
    assert accessible(instance.memory.base, instance.memory.limit) == 3 * WASM_PAGE


def test_growth_is_bounded_by_the_module_max_and_the_slot(make_engine) -> None:
    engine = make_engine(max_memory=4 * WASM_PAGE)
    unbounded = engine.compile("u", 1).instantiate().memory
    assert unbounded.maximum_pages == 4
    assert unbounded.grow(4) == -1 and unbounded.grow(3) == 1
    bounded = engine.compile("b", 1, 2).instantiate().memory
    assert bounded.grow(2) == -1 and bounded.size() == 1
    assert bounded.grow(0) == 1


def test_reads_and_writes_at_the_edges(make_engine) -> None:
    memory = make_engine().compile("m", 1).instantiate().memory
    memory.write(WASM_PAGE - 3, b"end")
    assert memory.read(WASM_PAGE - 3, 3) == b"end"
    assert memory.read(WASM_PAGE, 0) == b""
    with pytest.raises(OutOfBounds, match="write of 4 bytes at offset 0xfffd is out of bounds "
                                          "of a linear memory of 0x10000 bytes \\(1 pages\\)"):
        memory.write(WASM_PAGE - 3, b"over")
    assert memory.read(WASM_PAGE - 3, 3) == b"end"  # nothing was written
    with pytest.raises(OutOfBounds):
        memory.read(-1, 1)
    with pytest.raises(InvalidArgument, match="length=-1: must be >= 0"):
        memory.read(0, -1)
    with pytest.raises(InvalidArgument, match="expected bytes"):
        memory.write(0, "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="delta_pages=-1"):
        memory.grow(-1)


def test_dynamic_memory_reuse_keeps_pages_but_not_the_size(make_engine) -> None:
    engine = make_engine(memories=1, max_memory=128 * MiB, reservation=128 * MiB, guard=0,
                         style="dynamic")
    module = engine.compile("m", 1, data=[(100, b"x")])
    instance = module.instantiate()
    memory = instance.memory
    assert memory.read(100, 1) == b"x"
    assert memory.grow(1) == 1 and memory.size() == 2
    memory.write(WASM_PAGE, b"y")
    assert memory.grow(10_000) == -1
    instance.deallocate()
    memory = module.instantiate().memory
    with pytest.raises(OutOfBounds):
        memory.read(WASM_PAGE, 1)
    assert memory.size_bytes == WASM_PAGE
    assert accessible(memory.base, memory.limit) == 2 * WASM_PAGE  # mapped but zeroed
    assert engine.vm.peek(memory.base + WASM_PAGE, 1) == b"\0"
