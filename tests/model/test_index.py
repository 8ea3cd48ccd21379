"""The model's slot choice (docs/semantics.md §3), after Wasmtime's index-allocator tests."""

from harness.model import IndexModel
from harness.ops import PoolSpec


def index(strategy: str = "reuse-affinity", memories: int = 10, warm: int = 100, seed: int = 0) -> IndexModel:
    return IndexModel(PoolSpec(memories=memories, strategy=strategy, warm_slots=warm, seed=seed))


def test_next_available_hands_out_in_order_then_none() -> None:
    ix = index("next-available", memories=3)
    assert [ix.pick("a") for _ in range(4)] == [0, 1, 2, None]


def test_next_available_takes_the_lowest_free_slot() -> None:
    ix = index("next-available", memories=4)
    for _ in range(4):
        ix.pick("a")
    ix.release(2, "a")
    ix.release(1, "b")
    assert ix.pick("a") == 1


def test_affinity_reuses_the_modules_slot() -> None:
    ix = index()
    assert (ix.pick("m1"), ix.pick("m2")) == (0, 1)
    ix.release(0, "m1")
    assert ix.pick("m1") == 0


def test_affinity_prefers_the_most_recently_freed() -> None:
    ix = index()
    a, b = ix.pick("m"), ix.pick("m")
    ix.release(a, "m")
    ix.release(b, "m")
    assert ix.pick("m") == b


def test_affinity_threshold_evicts_lru_warm_slot() -> None:
    # Wasmtime's test_affinity_threshold: capacity 10, 2 warm slots max.
    ix = index(memories=10, warm=2)
    assert ix.pick("id1") == 0
    ix.release(0, "id1")
    assert ix.pick("id2") == 1
    ix.release(1, "id2")
    assert ix.pick("id3") == 0  # two warm slots: evict the least recently freed
    ix.release(0, "id3")
    assert ix.pick("id2") == 1
    assert ix.pick("id1") == 2  # one warm slot left (< 2): a cold slot


def test_zero_warm_slots_reuse_warm_before_cold() -> None:
    ix = index(memories=3, warm=0)
    assert ix.pick("a") == 0
    ix.release(0, "a")
    assert ix.pick("b") == 0


def test_take_affine_for_purge() -> None:
    ix = index()
    x, y = ix.pick("m"), ix.pick("m")
    ix.release(y, "m")
    ix.release(x, "m")
    assert [ix.take_affine("m"), ix.take_affine("m"), ix.take_affine("m")] == [x, y, None]


def test_random_is_reproducible_per_seed_and_uses_every_slot() -> None:
    picks = []
    for _ in range(2):
        ix = index("random", memories=8, seed=7)
        picks.append([ix.pick("a") for _ in range(8)])
    assert picks[0] == picks[1]
    assert sorted(picks[0]) == list(range(8))


def test_affinity_tracked_under_every_strategy() -> None:
    for strategy in ("next-available", "random", "reuse-affinity"):
        ix = index(strategy)
        slot = ix.pick("a")
        ix.release(slot, "a")
        assert ix.affine("a") == [slot], strategy
