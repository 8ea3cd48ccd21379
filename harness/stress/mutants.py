"""Seeded bugs that only concurrent or fault-injecting checks can reveal.

They are `harness.mutants.Mutant`s, built with `replaced`, and like every mutant patch the
allocator only while active. None is `sequential`: no sequential op sequence without injected
faults reveals them.

| name | caught by |
|---|---|
| `slot-double-handout` | `harness.stress.lincheck` (a slot held twice), `harness.stress.workload` (another instance's cookies) |
| `failed-reset-ignored` | `harness.stress.faultinject` (the next tenant sees the previous one's bytes) |
| `unknown-slot-not-repaved` | `harness.stress.faultinject` |

`harness.mutants.MUTANTS` keeps `shared-grow-without-lock`, which `lincheck` catches too.
`lookup(name)` finds a mutant in either catalogue.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from allocator.decommit import Flushed
from allocator.index import IndexAllocator, IndexState
from allocator.pool import MemoryPool
from harness.mutants import MUTANTS, Mutant, replaced


def _alloc_in_two_steps(self: IndexAllocator, module: Any) -> int | None:
    """`IndexAllocator.alloc` with the pick and the take in two critical sections."""
    with self._lock:
        slot = self._pick(module)
    if slot is None:
        return None
    with self._lock:  # another thread may have taken `slot` since it was picked
        _take_unchecked(self, slot, module)
    return slot


def _take_unchecked(self: IndexAllocator, slot: int, module: Any) -> None:
    """`IndexAllocator._take` without its check that the slot is still free."""
    state = self._state[slot]
    if state is IndexState.COLD:
        self._cold.remove(slot)
    elif state is IndexState.WARM:
        self._unlink_warm(slot)
    if slot in self._free:
        self._free.remove(slot)
    self._state[slot] = IndexState.USED
    self._module[slot] = module


def _double_handout() -> AbstractContextManager[None]:
    return replaced(IndexAllocator, "alloc", lambda original: _alloc_in_two_steps)


def _ignore_decommit_error() -> AbstractContextManager[None]:
    def make(original: Any) -> Any:
        return lambda self, flushed: original(self, Flushed(flushed.index))

    return replaced(MemoryPool, "_finish_decommit", make)


def _never_unknown() -> AbstractContextManager[None]:
    return replaced(MemoryPool, "_mark_unknown", lambda original: lambda self, index: None)


STRESS_MUTANTS: dict[str, Mutant] = {
    mutant.name: mutant
    for mutant in (
        Mutant(
            "slot-double-handout",
            "the index allocator picks a free slot and takes it in two separate critical "
            "sections (a check-then-act race), so two concurrent instantiations can be handed "
            "the same slot",
            _double_handout,
            sequential=False,
        ),
        Mutant(
            "failed-reset-ignored",
            "a failed madvise(DONTNEED) of a slot's reset is ignored and the slot is freed as "
            "clean, where Wasmtime marks it unknown (ImageSlot::Unknown) and re-paves it",
            _ignore_decommit_error,
            sequential=False,
        ),
        Mutant(
            "unknown-slot-not-repaved",
            "a slot whose instantiation or reset failed half-way is never marked unknown, so "
            "its next user takes it as it was left (memory_reset_if_instantiation_fails)",
            _never_unknown,
            sequential=False,
        ),
    )
}


def lookup(name: str) -> Mutant:
    """The mutant called `name`, from `STRESS_MUTANTS` or `harness.mutants.MUTANTS`."""
    known = {**MUTANTS, **STRESS_MUTANTS}
    if name not in known:
        raise ValueError(f"unknown mutant {name!r}; available: {', '.join(sorted(known))}")
    return known[name]
