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

    def __init__(self, pool: PoolSpec) -> None:
        self.capacity = pool.memories
        self.strategy = pool.strategy
        self.warm_limit = pool.warm_slots
        self.rng = random.Random(pool.seed)
        self.ever_used: set[int] = set()
        self.next_cold = 0  # lowest never-used slot (== capacity when none is left)
        self.warm: list[int] = []
        self.affinity: dict[int, str | None] = {}

    # -- queries ---------------------------------------------------------------------------

    def cold_slots(self) -> list[int]:
        """Slots never used, sorted."""
        return [s for s in range(self.next_cold, self.capacity) if s not in self.ever_used]

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
        cold = self.next_cold if self.next_cold < self.capacity else None
        lru = self.warm[0] if self.warm else None
        if len(self.warm) < self.warm_limit:
            return cold if cold is not None else lru
        return lru if lru is not None else cold

    def _take(self, slot: int) -> None:
        if slot in self.warm:
            self.warm.remove(slot)
            self.affinity.pop(slot, None)
            return
        assert slot not in self.ever_used and slot < self.capacity, f"slot {slot} is not free"
        self.ever_used.add(slot)
        while self.next_cold in self.ever_used:
            self.next_cold += 1
