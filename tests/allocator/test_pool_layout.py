"""Pool layout (docs/semantics.md §1): one reservation, a leading guard, strides, guards."""

from __future__ import annotations

import gc

import pytest
from alloc_probes import accessible, mappings, protection
from hypothesis import given
from hypothesis import strategies as st

from allocator import Engine, PoolConfig, PoolExhausted
from allocator.units import GiB, KiB, MiB
from allocator.units import OS_PAGE as P


def test_slots_are_one_stride_apart_after_the_leading_guard(make_engine) -> None:
    engine = make_engine(memories=5, max_memory=64 * KiB, reservation=64 * KiB, guard=0)
    pool = engine.pool
    assert pool.layout.stride == 64 * KiB and pool.layout.total_bytes == 5 * 64 * KiB
    assert [pool.slot_base(i) - pool.base for i in range(5)] == [i * 64 * KiB for i in range(5)]


def test_stride_is_the_larger_of_reservation_and_max_memory_plus_guard() -> None:
    layout = PoolConfig(memories=3, max_memory=100, reservation=10 * P + 1, guard=1).layout
    assert (layout.static_size, layout.reservation, layout.guard) == (P, 11 * P, P)
    assert layout.stride == 12 * P and layout.pre_guard == P
    assert layout.total_bytes == P + 3 * 12 * P
    assert layout.slot_offset(2) == P + 2 * 12 * P


def test_stride_is_never_zero() -> None:
    """CVE-2022-39392: with max_memory = reservation = guard = 0, slots must not alias."""
    layout = PoolConfig(memories=3, max_memory=0, guard=0).layout
    assert layout.stride == P and layout.static_size == 0


def test_no_memories_reserve_nothing_and_every_instantiate_fails(make_engine) -> None:
    engine = make_engine(memories=0)
    assert engine.syscalls.snapshot() == {}
    module = engine.compile("m", 1)
    with pytest.raises(PoolExhausted, match="all 0 slots"):
        module.instantiate()


def test_pool_is_reserved_inaccessible_without_huge_pages(make_engine) -> None:
    engine = make_engine()
    pool = engine.pool
    assert engine.syscalls.verbs() == {"reserve": 1, "no_hugepages": 1}
    assert protection(pool.base) == "---p"
    assert accessible(pool.base, pool.layout.total_bytes) == 0
    with open("/proc/self/smaps") as smaps:
        text = smaps.read()
    header = f"{pool.base:x}-"
    block = text[text.index(header):].split("VmFlags:")[1].split("\n")[0]
    assert " nh" in block


def test_guards_stay_inaccessible_around_each_slot(make_engine) -> None:
    engine = make_engine(memories=3, max_memory=256 * KiB, guard=64 * KiB)
    module = engine.compile("m", 1, 4)
    instances = [module.instantiate() for _ in range(3)]
    for instance in instances:
        base = instance.memory.base
        assert protection(base - 1) == "---p"
        assert accessible(base, 256 * KiB) == 64 * KiB
        instance.memory.grow(3)
        assert accessible(base, 256 * KiB) == 256 * KiB
        assert protection(base + 256 * KiB) == "---p"


def test_ten_thousand_slots_of_four_gib(make_engine) -> None:
    engine = make_engine(memories=10_000, max_memory=4 * GiB, guard=32 * MiB,
                         strategy="random", seed=1)
    pool = engine.pool
    assert pool.layout.total_bytes == 32 * MiB + 10_000 * (4 * GiB + 32 * MiB)
    module = engine.compile("m", 1, data=[(8, b"far")])
    instances = [module.instantiate() for _ in range(4)]
    assert len({i.slot for i in instances}) == 4
    slots = sorted(i.slot for i in instances)
    assert slots[-1] - slots[0] > 100, f"slots {slots} not far apart"
    for instance in instances:
        assert instance.memory.base == pool.slot_base(instance.slot)
        assert instance.memory.read(8, 3) == b"far"
        instance.memory.write(60_000, bytes([instance.slot % 251]))
        assert instance.memory.grow(1) == 1
        instance.memory.write(70_000, b"grown")
    for instance in instances:
        assert instance.memory.read(60_000, 1) == bytes([instance.slot % 251])
        assert instance.memory.read(70_000, 5) == b"grown"
        instance.deallocate()
    base = pool.base
    engine.close()
    assert not any(m.start <= base < m.end for m in mappings())


def test_an_engine_that_is_garbage_collected_unmaps_its_pool() -> None:
    engine = Engine(PoolConfig(memories=2, max_memory=64 * KiB, guard=0))
    base = engine.pool.base
    engine.compile("m", 1).instantiate().deallocate()
    del engine
    gc.collect()
    assert not any(m.start <= base < m.end for m in mappings())


@given(memories=st.integers(0, 64), max_memory=st.integers(0, 8 * GiB),
       reservation=st.none() | st.integers(0, 8 * GiB), guard=st.integers(0, 4 * GiB))
def test_layout_invariants(memories: int, max_memory: int, reservation: int | None,
                           guard: int) -> None:
    layout = PoolConfig(memories=memories, max_memory=max_memory, reservation=reservation,
                        guard=guard).layout
    sizes = (layout.stride, layout.static_size, layout.reservation, layout.guard)
    assert all(size % P == 0 for size in sizes), f"{layout!r}: not page-aligned"
    assert layout.stride >= max(layout.reservation, layout.static_size) + layout.guard
    assert layout.stride >= P and layout.static_size >= max_memory
    expected_total = 0 if memories == 0 else layout.pre_guard + memories * layout.stride
    assert layout.total_bytes == expected_total
    for index in range(min(memories, 3)):  # a slot and its guard end where the next begins
        end = layout.slot_offset(index) + max(layout.static_size, layout.reservation) + layout.guard
        assert end <= layout.pre_guard + (index + 1) * layout.stride
