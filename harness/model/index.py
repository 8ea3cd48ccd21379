"""Which slot an instantiation gets: the model of the index allocator (docs/semantics.md §3).

Written independently of `allocator/index.py` on purpose: the two are checked against each other.

    cold:  slots never used, handed out lowest first
    warm:  free slots that were used, least recently freed first   [LRU ... MRU]
    affine[M]: the warm slots whose last user was module M          [... MRU]

A slot is in at most one of: cold, used (by an instance), queued (waiting for its decommit),
warm. Every warm slot with affinity appears in exactly one `affine` list, in `warm` order.
"""

from __future__ import annotations

import random

from harness.ops import PoolSpec


class IndexModel:
    """Slot choice under one of the three strategies, with affinity tracked under all of them."""

    def __init__(self, pool: PoolSpec, first: int = 0, capacity: int | None = None,
                 warm_limit: int | None = None) -> None:
        """The pool's slots, or (for one shard of a sharded index) the `capacity` slots from
        `first` on with a warm budget of `warm_limit`."""
        self.first = first
        self.end = first + (pool.memories if capacity is None else capacity)
        self.strategy = pool.strategy
        self.warm_limit = pool.warm_slots if warm_limit is None else warm_limit
        self.rng = random.Random(pool.seed)
        self.ever_used: set[int] = set()
        self.next_cold = first  # lowest never-used slot (== end when none is left)
        self.warm: list[int] = []
        self.affinity: dict[int, str | None] = {}

    # -- queries ---------------------------------------------------------------------------

    def cold_slots(self) -> list[int]:
        """Slots never used, sorted."""
        return [s for s in range(self.next_cold, self.end) if s not in self.ever_used]

    def free_slots(self) -> list[int]:
        """Every free slot (warm, or cold), sorted."""
        return sorted(self.warm + self.cold_slots())

    def affine(self, module: str) -> list[int]:
        """Warm slots whose last user was `module`, least recently freed first."""
        return [s for s in self.warm if self.affinity.get(s) == module]

    # -- transitions -----------------------------------------------------------------------

    def pick(self, module: str) -> int | None:
        """The slot an instance of `module` takes now (it becomes used), or None if none is free."""
        if self.strategy == "next-available":
            free = self.free_slots()
            slot = free[0] if free else None
        elif self.strategy == "random":
            free = self.free_slots()
            slot = free[self.rng.randrange(len(free))] if free else None
        else:
            slot = self._pick_affine(module)
        if slot is not None:
            self._take(slot)
        return slot

    def release(self, slot: int, module: str | None) -> None:
        """`slot` becomes warm (most recently freed), affine to `module`."""
        assert slot not in self.warm, f"slot {slot} released twice"
        self.warm.append(slot)
        self.affinity[slot] = module

    def take_affine(self, module: str) -> int | None:
        """For a purge: the most recently freed slot affine to `module`, taken, or None."""
        affine = self.affine(module)
        if not affine:
            return None
        self._take(affine[-1])
        return affine[-1]

    # -- helpers ---------------------------------------------------------------------------

    def _pick_affine(self, module: str) -> int | None:
        """Wasmtime's choice: affine MRU; else cold before LRU warm while few slots are warm."""
        affine = self.affine(module)
        if affine:
            return affine[-1]
        cold = self.next_cold if self.next_cold < self.end else None
        lru = self.warm[0] if self.warm else None
        if len(self.warm) < self.warm_limit:
            return cold if cold is not None else lru
        return lru if lru is not None else cold

    def _take(self, slot: int) -> None:
        if slot in self.warm:
            self.warm.remove(slot)
            self.affinity.pop(slot, None)
            return
        assert slot not in self.ever_used and self.first <= slot < self.end, f"slot {slot} is not free"
        self.ever_used.add(slot)
        while self.next_cold in self.ever_used:
            self.next_cold += 1


class ShardedIndexModel:
    """Wasmtime's sharded `ModuleAffinityIndexAllocator` (`Expectations.index_shards`).

    Shard k is an `IndexModel` of the contiguous slots `[k * per, (k + 1) * per)`, where
    `per = ceil(memories / shards)`, with `warm_slots // count` of the warm budget plus one for
    each of the first `warm_slots % count` shards (`count` is the number of non-empty shards).
    A pick tries the shards from `home` on, wrapping around; a purge's `take_affine` tries them
    from 0. A slot is released into the shard that owns it.
    """

    def __init__(self, pool: PoolSpec, shards: int, home: int = 0) -> None:
        per = max(1, -(-pool.memories // shards))
        count = max(1, -(-pool.memories // per))
        warm = pool.warm_slots
        self.per = per
        self.home = home % count
        self.shards = [
            IndexModel(pool, k * per, min(per, pool.memories - k * per), warm // count + (k < warm % count))
            for k in range(count)
        ]

    def free_slots(self) -> list[int]:
        return sorted(s for shard in self.shards for s in shard.free_slots())

    def affine(self, module: str) -> list[int]:
        return [s for shard in self.shards for s in shard.affine(module)]

    def pick(self, module: str) -> int | None:
        for k in range(len(self.shards)):
            slot = self.shards[(self.home + k) % len(self.shards)].pick(module)
            if slot is not None:
                return slot
        return None

    def release(self, slot: int, module: str | None) -> None:
        self.shards[slot // self.per].release(slot, module)

    def take_affine(self, module: str) -> int | None:
        for shard in self.shards:
            slot = shard.take_affine(module)
            if slot is not None:
                return slot
        return None


def index_model(pool: PoolSpec, shards: int = 1) -> IndexModel | ShardedIndexModel:
    """The index of `pool`: one `IndexModel`, or Wasmtime's shards when `shards > 1`
    (which only the `reuse-affinity` strategy has)."""
    if shards == 1:
        return IndexModel(pool)
    if pool.strategy != "reuse-affinity":
        raise ValueError(f"a sharded index exists only for reuse-affinity, not {pool.strategy}")
    return ShardedIndexModel(pool, shards)
