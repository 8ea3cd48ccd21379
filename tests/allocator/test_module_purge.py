"""Dropping a module removes every mapping of its image and closes its memfd (seed 004,
docs/semantics.md §5), under every strategy and with batched decommits."""

from __future__ import annotations

import os

import pytest
from alloc_probes import image_memfds, mappings_of

from allocator import InvalidState, SlotState
from allocator.config import STRATEGIES


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_drop_leaves_no_mapping_and_no_fd(make_engine, strategy: str, batch: int) -> None:
    engine = make_engine(memories=6, strategy=strategy, decommit_batch=batch, seed=5)
    memfds, fds = image_memfds(), open_fds()
    module = engine.compile("m", 1, data=[(0x10, b"hello")])
    other = engine.compile("o", 1)
    instances = [module.instantiate() for _ in range(4)] + [other.instantiate()]
    inode = module.image.inode
    assert mappings_of(inode) == 4 and image_memfds() == memfds + 1
    for instance in instances:
        instance.deallocate()
    module.drop()
    assert module.purged and module.image.fd is None
    assert mappings_of(inode) == 0
    assert image_memfds() == memfds and open_fds() == fds
    pool = engine.pool
    assert len(pool.queue) == 0  # flushed before the purge
    assert pool.index.affine(module.id) == []
    assert all(pool.slot_state(i) is not SlotState.QUEUED for i in range(6))
    fresh = other.instantiate()
    assert fresh.memory.read(0x10, 5) == bytes(5)


def test_memfd_is_created_at_the_first_instantiation(make_engine) -> None:
    engine = make_engine()
    memfds = image_memfds()
    module = engine.compile("m", 1, data=[(0, b"x")])
    assert module.has_image and module.image.fd is None and image_memfds() == memfds
    instance = module.instantiate()
    assert image_memfds() == memfds + 1
    instance.deallocate()
    module.drop()
    assert image_memfds() == memfds


def test_module_lives_until_its_last_instance_is_gone(make_engine) -> None:
    engine = make_engine()
    module = engine.compile("m", 1, data=[(0, b"foo")])
    first, second = module.instantiate(), module.instantiate()
    module.drop()
    assert module.dropped and not module.purged
    assert first.memory.read(0, 3) == b"foo"  # preserve_data_segments
    first.deallocate()
    assert not module.purged and mappings_of(module.image.inode) == 2
    second.deallocate()
    assert module.purged and mappings_of(module.image.inode) == 0


def test_purged_slots_keep_accessible_and_reverse_their_warm_order(make_engine) -> None:
    engine = make_engine(memories=6, strategy="reuse-affinity", style="dynamic")
    pool = engine.pool
    module = engine.compile("m", 1, 4, data=[(0, b"\x01")])
    other = engine.compile("o", 1)
    a = [module.instantiate() for _ in range(3)]
    b = other.instantiate()
    a[0].memory.grow(2)
    for instance in [a[1], a[0], b, a[2]]:
        instance.deallocate()
    assert pool.index.warm() == [1, 0, 3, 2]
    module.drop()
    # purged from most to least recently freed: 2, 0, 1 — each becoming the most recent
    assert pool.index.warm() == [3, 2, 0, 1]
    assert [pool.index.affinity(i) for i in (0, 1, 2)] == [None] * 3
    assert pool.index.affinity(3) == other.id
    assert pool.image_slot(0).accessible == 3 * 64 * 1024
    assert all(pool.image_slot(i).image is None for i in (0, 1, 2))


def test_drop_of_a_module_without_image_still_clears_affinity(make_engine) -> None:
    engine = make_engine(memories=2)
    module = engine.compile("m", 1)
    module.instantiate().deallocate()
    module.drop()
    assert engine.pool.index.affinity(0) is None and engine.modules() == []


def test_misuse_of_a_dropped_module(make_engine) -> None:
    engine = make_engine()
    module = engine.compile("m", 1)
    instance = module.instantiate()
    module.drop()
    with pytest.raises(InvalidState, match="instantiate of module 'm' after drop"):
        module.instantiate()
    with pytest.raises(InvalidState, match="already dropped"):
        module.drop()
    instance.deallocate()
    with pytest.raises(InvalidState, match="already gone: its instance was deallocated"):
        instance.deallocate()
    with pytest.raises(InvalidState, match="gone"):
        instance.memory.read(0, 1)
