"""The index allocator's three strategies (docs/semantics.md §3; Wasmtime index_allocator.rs
tests adapted to them)."""

from __future__ import annotations

import random
import threading

import pytest
from alloc_probes import run_threads
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.config import STRATEGIES
from allocator.index import IndexAllocator, IndexState


def test_next_available_hands_out_slots_in_order() -> None:
    index = IndexAllocator(10, "next-available")
    assert [index.alloc("m") for _ in range(10)] == list(range(10))
    assert index.alloc("m") is None and index.num_free == 0


def test_next_available_takes_the_lowest_free_slot_warm_or_cold() -> None:
    index = IndexAllocator(5, "next-available")
    for _ in range(3):
        index.alloc("a")
    index.free(2)
    index.free(0)
    assert index.alloc("b") == 0 and index.alloc("b") == 2 and index.alloc("b") == 3


def test_random_draws_once_per_pick_over_the_sorted_free_list() -> None:
    index = IndexAllocator(20, "random", seed=7)
    rng = random.Random(7)
    free = list(range(20))
    for step in range(60):
        if step % 3 == 2:
            slot = max(set(range(20)) - set(free))
            index.free(slot)
            free = sorted([*free, slot])
            continue
        expected = free[rng.randrange(len(free))] if free else None
        assert index.alloc("m") == expected
        if expected is not None:
            free.remove(expected)


def test_random_exhaustion_draws_nothing() -> None:
    index = IndexAllocator(1, "random", seed=3)
    rng = random.Random(3)
    assert index.alloc("m") == 0 == [0][rng.randrange(1)]
    assert index.alloc("m") is None
    index.free(0)
    assert index.alloc("m") == 0 == [0][rng.randrange(1)]
    assert index._rng.getstate() == rng.getstate()


def test_affinity_allocation_strategy() -> None:
    index = IndexAllocator(100, "reuse-affinity", warm_slots=100)
    assert index.alloc("id1") == 0 and index.alloc("id2") == 1
    index.free(0)
    assert index.alloc("id1") == 0
    index.free(0)
    index.free(1)
    assert sorted(index.modules_with_affinity()) == ["id1", "id2"]
    taken = [index.alloc("id2") for _ in range(100)]
    assert index.alloc("id3") is None
    assert taken[0] == 1 and taken[-1] == 0  # the slot affine to id1 goes last
    for slot in taken:
        index.free(slot)
    assert index.modules_with_affinity() == ["id2"]
    index.check()


@pytest.mark.parametrize("warm_slots", [0, 1, 2])
def test_clear_affine(warm_slots: int) -> None:
    index = IndexAllocator(100, "reuse-affinity", warm_slots=warm_slots)
    x, y = index.alloc("id"), index.alloc("id")
    index.free(y)
    index.free(x)
    assert index.alloc_affine_and_clear_affinity("id") == x  # most recently freed first
    assert index.alloc_affine_and_clear_affinity("id") == y
    assert index.alloc_affine_and_clear_affinity("id") is None
    index.free(x)
    index.free(y)
    assert index.affinity(x) is None and index.warm() == [x, y]


def test_affinity_threshold() -> None:
    index = IndexAllocator(10, "reuse-affinity", warm_slots=2)
    assert index.alloc("id1") == 0
    index.free(0)
    assert index.alloc("id2") == 1
    index.free(1)
    assert index.alloc("id3") == 0  # at the threshold: the least recently freed is evicted
    index.free(0)
    assert index.alloc("id2") == 1  # affine
    assert index.alloc("id1") == 2  # one warm slot left, under the threshold: a cold one
    index.free(1)
    index.free(2)
    assert (index.alloc("id1"), index.alloc("id2"), index.alloc("id3")) == (2, 1, 0)
    index.free(1)
    index.free(2)
    index.free(0)
    assert index.alloc("new1") == 1  # least recently freed
    assert index.alloc("new2") == 2
    assert index.alloc("new3") == 3  # one warm left: cold again
    index.free(1)
    index.free(2)
    index.free(3)
    assert index.alloc("id3") == 0


def test_freelist_order() -> None:
    index = IndexAllocator(10, "reuse-affinity")
    a = index.alloc("m")
    index.free(a)
    assert index.warm() == [a]
    assert index.alloc("m") == a
    b = index.alloc("m")
    index.free(b)
    index.free(a)
    assert index.warm() == [b, a]


def test_affinity_hit_rate_under_random_churn() -> None:
    index = IndexAllocator(100, "reuse-affinity", warm_slots=100)
    rng = random.Random(0)
    live: list[tuple[int, str]] = []
    last_user: dict[int, str] = {}
    hits = allocs = 0
    for _ in range(20_000):
        if live and rng.random() < 0.5:
            slot, module = live.pop(rng.randrange(len(live)))
            index.free(slot)
            last_user[slot] = module
            continue
        module = f"id{rng.randrange(10)}"
        slot = index.alloc(module)
        if slot is None:
            continue
        allocs += 1
        hits += last_user.get(slot) == module
        live.append((slot, module))
    assert hits / allocs > 0.2


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_affinity_is_tracked_under_every_strategy(strategy: str) -> None:
    index = IndexAllocator(4, strategy)
    slots = [index.alloc("a"), index.alloc("b")]
    for slot in slots:
        index.free(slot)
    assert index.affine("a") == [slots[0]] and index.affine("b") == [slots[1]]
    assert index.alloc_affine_and_clear_affinity("a") == slots[0]
    assert index.state(slots[0]) is IndexState.USED and index.user(slots[0]) is None


def test_freeing_a_slot_that_is_not_used_is_an_assertion() -> None:
    index = IndexAllocator(2)
    with pytest.raises(AssertionError, match="free of slot 1 which is cold"):
        index.free(1)


operations = st.lists(st.tuples(st.booleans(), st.integers(0, 4), st.integers(0, 20)),
                      max_size=80)


@settings(max_examples=60, deadline=None)
@given(strategy=st.sampled_from(STRATEGIES), warm=st.integers(0, 6), ops=operations)
def test_invariants_hold_under_any_sequence(strategy: str, warm: int,
                                            ops: list[tuple[bool, int, int]]) -> None:
    index = IndexAllocator(6, strategy, warm_slots=warm, seed=1)
    used: list[int] = []
    for allocate, module, pick in ops:
        if allocate:
            slot = index.alloc(module) if pick % 4 else index.alloc_affine_and_clear_affinity(module)
            if slot is not None:
                assert slot not in used
                used.append(slot)
        elif used:
            index.free(used.pop(pick % len(used)))
        index.check()
    assert index.num_free == 6 - len(used)


def test_concurrent_alloc_and_free_never_hand_out_a_slot_twice() -> None:
    index = IndexAllocator(64, "reuse-affinity", warm_slots=8)
    owners: dict[int, int] = {}
    lock = threading.Lock()
    errors: list[str] = []

    def churn(me: int) -> None:
        rng = random.Random(me)
        for _ in range(2000):
            slot = index.alloc(rng.randrange(5))
            if slot is None:
                continue
            with lock:
                if slot in owners:
                    errors.append(f"slot {slot} taken by {owners[slot]} and {me}")
                owners[slot] = me
            with lock:
                del owners[slot]
            index.free(slot)

    run_threads(churn, 8)
    assert errors == []
    index.check()
