"""PoolSpec -> Wasmtime knobs, the pool layout, and engines that never abort the process."""

import os

import pytest

pytest.importorskip("wasmtime")

from harness import observers, wasmtime_pool  # noqa: E402
from harness.observers import Mapping  # noqa: E402
from harness.ops import GiB, KiB, MiB, PoolSpec  # noqa: E402
from harness.targets.base import TargetError, Unsupported  # noqa: E402
from harness.wasmtime_pool import PoolLayout, PoolSettings, pool_layout, pool_settings  # noqa: E402

pytestmark = pytest.mark.wasmtime


def test_keys_map_onto_wasmtime_knobs():
    spec = PoolSpec(memories=7, max_memory=3 * MiB, reservation=4 * MiB, guard=128 * KiB,
                    keep_resident=64 * KiB, decommit_batch=3, warm_slots=5)
    settings = pool_settings(spec)
    assert settings == PoolSettings(
        total_memories=7, max_memory_size=3 * MiB, memory_reservation=4 * MiB,
        memory_guard_size=128 * KiB, linear_memory_keep_resident=64 * KiB, decommit_batch_size=3,
        max_unused_warm_slots=5, signals_based_traps=True,
    )
    knobs = settings.pooling_knobs()
    assert knobs["total_core_instances"] == 8  # memories + 1: the memory limit bites first
    assert knobs["max_memories_per_module"] == 1
    assert "signals_based_traps" not in settings.config_knobs()


def test_defaults_reserve_max_memory_and_dynamic_turns_traps_off():
    assert pool_settings(PoolSpec()).memory_reservation == 4 * GiB
    dynamic = pool_settings(PoolSpec(style="dynamic", guard=0))
    assert dynamic.config_knobs()["signals_based_traps"] is False


@pytest.mark.parametrize("spec, key", [
    (PoolSpec(growth="memfd"), "growth=memfd"),
    (PoolSpec(strategy="next-available"), "strategy=next-available"),
    (PoolSpec(strategy="random", seed=3), "strategy=random"),
    (PoolSpec(style="dynamic"), "style=dynamic with guard=33554432"),
    (PoolSpec(max_memory=2 * MiB, reservation=1 * MiB), "max-memory=2097152 above reservation"),
    (PoolSpec(max_memory=0, reservation=0, guard=0), "max-memory=0 with reservation=0 and guard=0"),
    (PoolSpec(memories=2**32), "memories=4294967296"),
    (PoolSpec(warm_slots=-1), "warm-slots=-1"),
])
def test_keys_wasmtime_cannot_honour_are_unsupported(spec, key):
    with pytest.raises(Unsupported) as refused:
        pool_settings(spec)
    assert refused.value.reason.startswith(key)


def test_layout_rounds_to_pages_and_leads_with_a_guard():
    spec = PoolSpec(memories=3, max_memory=70000, reservation=100000, guard=1000)
    layout = pool_layout(pool_settings(spec))
    assert layout == PoolLayout(pre_guard=0x1000, stride=0x1A000, slots=3, static_size=0x12000)
    assert layout.total == 0x1000 + 3 * 0x1A000
    assert [layout.slot_at(0x1000 + i * 0x1A000) for i in range(3)] == [0, 1, 2]
    strangers = (0, 0x1000 + 0x1000, 0x1000 + 3 * 0x1A000)
    assert [layout.slot_at(o) for o in strangers] == [None, None, None]


def test_index_is_sharded_from_128_slots_since_wasmtime_48():
    cpus = min(len(os.sched_getaffinity(0)), 16)
    assert wasmtime_pool.index_shards(127, "50.0.1") == 1
    assert wasmtime_pool.index_shards(128, "50.0.1") == cpus
    assert wasmtime_pool.index_shards(128, "32.0.0") == 1


def _maps(*ranges):
    return [Mapping(start, end, "---p", 0, 0, "") for start, end in ranges]


def test_pool_candidates_from_two_readings_of_the_maps():
    before = _maps((0x10000, 0x20000), (0x90000, 0xA0000))
    exact = before + _maps((0x40000, 0x50000))
    assert wasmtime_pool.pool_candidates(before, exact, 0x10000) == (0x40000,)
    merged = _maps((0x10000, 0x38000), (0x90000, 0xA0000))  # pool merged with the old range below
    assert wasmtime_pool.pool_candidates(before, merged, 0x18000) == (0x20000,)
    larger = before + _maps((0x40000, 0x58000))  # pool plus another new mapping: either end
    assert wasmtime_pool.pool_candidates(before, larger, 0x10000) == (0x40000, 0x48000)
    assert wasmtime_pool.pool_candidates(before, before, 0x10000) == ()


def test_slot_of_decides_between_candidates_and_refuses_strangers():
    layout = PoolLayout(pre_guard=0x1000, stride=0x4000, slots=2, static_size=0x2000)
    pool = wasmtime_pool.PooledEngine(None, None, layout, candidates=(0x100000, 0x101800))
    assert pool.slot_of(0x105000) == 1 and pool.start == 0x100000
    with pytest.raises(TargetError, match="not a slot base"):
        pool.slot_of(0x102800)


def test_probe_reports_wasmtime_refusals_instead_of_dying():
    wrong = PoolSettings(  # what pool_settings would refuse: max_memory_size > memory_reservation
        total_memories=2, max_memory_size=2 * MiB, memory_reservation=1 * MiB, memory_guard_size=0,
        linear_memory_keep_resident=0, decommit_batch_size=1, max_unused_warm_slots=0,
        signals_based_traps=True,
    )
    message = wasmtime_pool.probe(wrong)  # the forked child aborts; this process must not
    assert "exceeds the configured memory reservation" in message
    assert wasmtime_pool.probe(pool_settings(PoolSpec(memories=2, max_memory=1 * MiB))) is None


def test_a_pool_larger_than_the_address_space_is_unsupported():
    with pytest.raises(Unsupported, match="failed to create memory pool mapping"):
        wasmtime_pool.open_pool(PoolSpec(memories=200_000))  # 4 GiB slots: ~800 TiB


def test_open_pool_finds_the_pool_and_close_releases_it():
    pool = wasmtime_pool.open_pool(PoolSpec(memories=3, max_memory=256 * KiB, guard=64 * KiB))
    (start,) = pool.candidates
    end = start + pool.layout.total
    assert pool.layout.total == 64 * KiB + 3 * (256 + 64) * KiB

    def reserved():
        maps = observers.mappings()
        return any(m.start <= start and end <= m.end and m.perms == "---p" for m in maps)

    assert reserved()
    pool.close()
    assert not reserved()


def test_reservable_tells_the_possible_from_the_impossible():
    assert wasmtime_pool.reservable(1 * GiB)
    assert not wasmtime_pool.reservable(2**62)
