"""Batched decommits: queued slots wait for the flush (Wasmtime `decommit_batching`)."""

from __future__ import annotations

import threading

import pytest
from alloc_probes import resident

from allocator import SlotState
from allocator.units import KiB


@pytest.mark.parametrize(("memories", "batch"), [(10, 5), (10, 1), (10, 0), (10, 99)])
def test_every_round_of_instantiations_succeeds(make_engine, memories: int, batch: int) -> None:
    engine = make_engine(memories=memories, decommit_batch=batch)
    module = engine.compile("m", 1, data=[(0, b"image")])
    for _ in range(3):
        instances = [module.instantiate() for _ in range(memories)]  # flushes when exhausted
        for instance in instances:
            assert instance.memory.read(0, 6) == b"image\0"
            instance.memory.write(0, b"dirty!")
            instance.deallocate()


def test_queued_slots_are_not_reused_until_the_batch_is_full(make_engine) -> None:
    engine = make_engine(memories=4, decommit_batch=3, strategy="next-available")
    pool = engine.pool
    module = engine.compile("m", 1)
    first, second = module.instantiate(), module.instantiate()
    first.memory.write(0, b"x" * (64 * KiB))
    engine.syscalls.reset()
    first.deallocate()
    second.deallocate()
    assert engine.syscalls["madvise"] == 0
    assert [pool.slot_state(i) for i in (0, 1)] == [SlotState.QUEUED] * 2
    assert pool.queue.slots() == [0, 1]
    assert resident(first.memory.base, 64 * KiB) == [1] * 16  # not decommitted yet
    assert module.instantiate().slot == 2  # queued slots are skipped
    module.instantiate().deallocate()  # slot 3: the third queued slot fills the batch
    assert engine.syscalls["madvise"] == 3
    assert [pool.slot_state(i) for i in (0, 1, 3)] == [SlotState.WARM] * 3
    assert resident(first.memory.base, 64 * KiB) == [0] * 16
    assert pool.index.warm() == [0, 1, 3]  # freed in queue order


def test_exhaustion_flushes_the_queue_and_retries(make_engine) -> None:
    engine = make_engine(memories=2, decommit_batch=10)
    module = engine.compile("m", 1)
    for instance in [module.instantiate(), module.instantiate()]:
        instance.memory.write(100, b"stale")
        instance.deallocate()
    assert len(engine.pool.queue) == 2
    instance = module.instantiate()
    assert len(engine.pool.queue) == 0
    assert instance.memory.read(100, 5) == bytes(5)


def test_nothing_to_decommit_frees_the_slot_at_once(make_engine) -> None:
    engine = make_engine(memories=2, decommit_batch=10, keep_resident=1024 * KiB)
    module = engine.compile("m", 1)
    instance = module.instantiate()
    instance.memory.write(0, b"x")
    instance.deallocate()
    assert engine.pool.slot_state(instance.slot) is SlotState.WARM
    assert len(engine.pool.queue) == 0 and engine.syscalls["madvise"] == 1  # NOHUGEPAGE


def test_explicit_flush(make_engine) -> None:
    engine = make_engine(memories=2, decommit_batch=10)
    instance = engine.compile("m", 1).instantiate()
    instance.deallocate()
    engine.pool.flush_decommits()
    assert engine.pool.slot_state(instance.slot) is SlotState.WARM


@pytest.mark.parametrize("batch", [0, 1])
def test_without_batching_a_deallocation_decommits_itself_and_frees_the_slot(make_engine, batch: int) -> None:
    engine = make_engine(memories=2, decommit_batch=batch, strategy="next-available")
    module = engine.compile("m", 1)
    instance = module.instantiate()
    instance.memory.write(0, b"dirty")
    pushed = []
    engine.pool.queue.push = pushed.append  # the queue must not even be offered the slot
    before = engine.syscalls["madvise"]
    instance.deallocate()
    assert pushed == [] and engine.syscalls["madvise"] == before + 1
    assert engine.pool.slot_state(0) is SlotState.WARM
    assert sum(resident(engine.pool.slot_base(0), 64 * KiB)) == 0
    assert module.instantiate().memory.read(0, 5) == bytes(5)


def test_a_closing_pool_waits_for_the_operation_under_way(make_engine) -> None:
    engine = make_engine(memories=1)
    module = engine.compile("m", 1)
    instance = module.instantiate()
    pool = engine.pool
    entered, release = threading.Event(), threading.Event()
    original = pool._queue_or_free

    def slow_queue_or_free(entry):  # holds the deallocation inside the pool's gate
        entered.set()
        release.wait(10)
        original(entry)

    pool._queue_or_free = slow_queue_or_free
    worker = threading.Thread(target=instance.deallocate)
    worker.start()
    assert entered.wait(10)
    closer = threading.Thread(target=engine.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # still waiting for the deallocation
    release.set()
    worker.join(10)
    closer.join(10)
    assert not closer.is_alive() and engine.closed
