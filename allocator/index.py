"""Which slot an instantiation takes: the index allocator (pure Python, no syscalls).

Every slot is *cold* (never used), *used*, or *warm* (free, used before). A warm slot may have
**affinity** to the module whose instance last used it; affinity is tracked under every strategy
so that dropping a module can find every slot that may still map its image. (The pool adds a
fourth state, *queued*: deallocated but waiting for its decommit; to this allocator a queued
slot is still used.)

```
            alloc(M)                      free(i)
   cold ──────────────► used(M) ───────────────────────► warm, affine to M
                          ▲                                  │   │
                          └────────── alloc(M') ─────────────┘   │ alloc_affine_and_clear_affinity(M)
                                                                 ▼
                                            used(no module) ── free(i) ──► warm, no affinity
```

| strategy | the slot `alloc(M)` takes |
|---|---|
| `next-available` | the lowest-numbered free (cold or warm) slot |
| `random` | `free[rng.randrange(len(free))]`, `free` the sorted free slots, `rng = random.Random(seed)`: exactly one draw per successful pick |
| `reuse-affinity` | Wasmtime's `ModuleAffinityIndexAllocator`: the most recently freed slot affine to M; else, while fewer than `warm_slots` slots are warm, the lowest cold slot, falling back to the least recently freed warm slot; once `warm_slots` or more are warm, the least recently freed warm slot, falling back to the lowest cold slot |

Invariants (`check()`): `free == sorted(cold + warm)`; the warm list holds exactly the warm
slots, least recently freed first; each affine list holds exactly the warm slots affine to its
module, least recently freed first, and is never empty. All methods are thread-safe.
"""

from __future__ import annotations

import bisect
import enum
import random
import threading
from collections.abc import Hashable

from allocator.config import STRATEGIES


class IndexState(enum.Enum):
    COLD = "cold"
    USED = "used"
    WARM = "warm"


class IndexAllocator:
    """Slot indices `0 .. slots - 1` under one of the three strategies."""

    def __init__(self, slots: int, strategy: str = "reuse-affinity", warm_slots: int = 100,
                 seed: int = 0) -> None:
        assert strategy in STRATEGIES, f"strategy={strategy!r}: expected one of {STRATEGIES}"
        self.slots = slots
        self.strategy = strategy
        self.max_unused_warm_slots = warm_slots
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._state = [IndexState.COLD] * slots
        self._module: list[Hashable | None] = [None] * slots  # user, or affinity when warm
        self._free = list(range(slots))  # sorted
        self._cold = list(range(slots))  # sorted
        self._warm: dict[int, None] = {}  # least recently freed first
        self._affine: dict[Hashable, dict[int, None]] = {}  # least recently freed first

    # --- allocation ---------------------------------------------------------------------

    def alloc(self, module: Hashable) -> int | None:
        """Takes a free slot for an instance of `module` by the strategy; None if none is free."""
        with self._lock:
            slot = self._pick(module)
            if slot is not None:
                self._take(slot, module)
            return slot

    def alloc_affine_and_clear_affinity(self, module: Hashable) -> int | None:
        """Takes the most recently freed slot affine to `module`, used by no module; or None.

        Freeing it afterwards makes it the most recently freed warm slot, with no affinity.
        """
        with self._lock:
            affine = self._affine.get(module)
            if not affine:
                return None
            slot = next(reversed(affine))
            self._take(slot, None)
            return slot

    def free(self, slot: int) -> None:
        """A used slot becomes warm, the most recently freed, affine to the module that used it."""
        with self._lock:
            assert self._state[slot] is IndexState.USED, (
                f"free of slot {slot} which is {self._state[slot].value}, not used"
            )
            self._state[slot] = IndexState.WARM
            self._warm[slot] = None
            module = self._module[slot]
            if module is not None:
                self._affine.setdefault(module, {})[slot] = None
            bisect.insort(self._free, slot)

    def _pick(self, module: Hashable) -> int | None:
        if not self._free:
            return None
        if self.strategy == "next-available":
            return self._free[0]
        if self.strategy == "random":
            return self._free[self._rng.randrange(len(self._free))]
        return self._pick_by_affinity(module)

    def _pick_by_affinity(self, module: Hashable) -> int | None:
        affine = self._affine.get(module)
        if affine:
            return next(reversed(affine))
        cold = self._cold[0] if self._cold else None
        warm = next(iter(self._warm)) if self._warm else None
        if len(self._warm) < self.max_unused_warm_slots:
            return cold if cold is not None else warm
        return warm if warm is not None else cold

    def _take(self, slot: int, module: Hashable | None) -> None:
        state = self._state[slot]
        if state is IndexState.COLD:
            del self._cold[bisect.bisect_left(self._cold, slot)]
        else:
            assert state is IndexState.WARM, f"take of slot {slot} which is {state.value}"
            self._unlink_warm(slot)
        del self._free[bisect.bisect_left(self._free, slot)]
        self._state[slot] = IndexState.USED
        self._module[slot] = module

    def _unlink_warm(self, slot: int) -> None:
        del self._warm[slot]
        affinity = self._module[slot]
        if affinity is not None:
            affine = self._affine[affinity]
            del affine[slot]
            if not affine:
                del self._affine[affinity]

    # --- introspection ------------------------------------------------------------------

    def state(self, slot: int) -> IndexState:
        return self._state[slot]

    def affinity(self, slot: int) -> Hashable | None:
        """The module a warm slot is affine to (None if none or not warm)."""
        with self._lock:
            return self._module[slot] if self._state[slot] is IndexState.WARM else None

    def user(self, slot: int) -> Hashable | None:
        """The module a used slot was taken for (None if none or not used)."""
        with self._lock:
            return self._module[slot] if self._state[slot] is IndexState.USED else None

    def warm(self) -> list[int]:
        """Warm slots, least recently freed first."""
        with self._lock:
            return list(self._warm)

    def affine(self, module: Hashable) -> list[int]:
        """Warm slots affine to `module`, least recently freed first."""
        with self._lock:
            return list(self._affine.get(module, ()))

    def cold(self) -> list[int]:
        with self._lock:
            return list(self._cold)

    def free_slots(self) -> list[int]:
        with self._lock:
            return list(self._free)

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def num_warm(self) -> int:
        return len(self._warm)

    def modules_with_affinity(self) -> list[Hashable]:
        with self._lock:
            return list(self._affine)

    def check(self) -> None:
        """Asserts the invariants of the module docstring (for tests)."""
        with self._lock:
            cold = [i for i, s in enumerate(self._state) if s is IndexState.COLD]
            warm = {i for i, s in enumerate(self._state) if s is IndexState.WARM}
            assert self._cold == cold, f"cold list {self._cold} != cold slots {cold}"
            assert set(self._warm) == warm, f"warm list {list(self._warm)} != {sorted(warm)}"
            assert self._free == sorted(cold + list(warm)), f"free list {self._free} is wrong"
            for module, affine in self._affine.items():
                assert affine, f"empty affine list for {module!r}"
                for slot in affine:
                    assert slot in warm and self._module[slot] == module, (
                        f"slot {slot} in {module!r}'s affine list is "
                        f"{self._state[slot].value} with module {self._module[slot]!r}"
                    )
