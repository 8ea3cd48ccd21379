"""Running out of slots and getting them back (Wasmtime `total_memories_limit`,
`memory_zeroed`)."""

from __future__ import annotations

import pytest

from allocator import PoolExhausted, SlotState
from allocator.units import KiB


@pytest.mark.parametrize("strategy", ["next-available", "random", "reuse-affinity"])
def test_exhaustion_then_recovery(make_engine, strategy: str) -> None:
    engine = make_engine(memories=5, strategy=strategy)
    module = engine.compile("m", 1)
    instances = [module.instantiate() for _ in range(5)]
    assert sorted(i.slot for i in instances) == list(range(5))
    state = engine.pool.index._rng.getstate()
    with pytest.raises(PoolExhausted) as failure:
        module.instantiate()
    assert "all 5 slots of the pool are in use" in str(failure.value)
    assert "PoolConfig.memories" in str(failure.value)
    assert failure.value.kind == "pool-exhausted"
    assert engine.pool.index._rng.getstate() == state  # a failed pick draws nothing
    assert module.live_instances == 5
    for instance in instances:
        instance.deallocate()
    again = [module.instantiate() for _ in range(5)]
    assert sorted(i.slot for i in again) == list(range(5))


def test_every_reused_memory_reads_zero(make_engine) -> None:
    engine = make_engine(memories=1, max_memory=64 * KiB, reservation=64 * KiB, guard=0)
    module = engine.compile("m", 1)
    for _ in range(10):
        instance = module.instantiate()
        assert instance.memory.read(0, 64 * KiB) == bytes(64 * KiB)
        instance.memory.write(0, b"\xfe" * (64 * KiB))
        instance.deallocate()


def test_slot_states_follow_the_life_of_an_instance(make_engine) -> None:
    engine = make_engine(memories=2)
    pool = engine.pool
    module = engine.compile("m", 1)
    assert [pool.slot_state(i) for i in range(2)] == [SlotState.COLD] * 2
    instance = module.instantiate()
    assert pool.slot_state(instance.slot) is SlotState.USED
    instance.deallocate()
    assert pool.slot_state(instance.slot) is SlotState.WARM
    assert pool.index.affinity(instance.slot) == module.id
