"""Per-target expectations: where a target legitimately does something other than
docs/semantics.md, stated explicitly so that the model predicts it exactly.

    expectations = expectations_of(target, program.pool_spec)   # SEMANTICS unless the target says
    model = Model(program.pool_spec, expectations)

Each field names one behaviour. Its default is what docs/semantics.md requires, so
`SEMANTICS = Expectations()` is the reference allocator's (and any target's that declares
nothing). A target that differs defines `expectations(pool) -> Expectations` and returns the
values that hold for that pool on the version it drives; the model then predicts that behaviour
exactly, on the same observables and with the same strictness. No field loosens a comparison: a
field changes *what* is predicted, never *whether* it is checked.

Each field's docstring says what Wasmtime does instead, since which release, and how it was
established (measured with the `wasmtime` package on Linux x86-64, and located in Wasmtime's
source). docs/semantics.md §8 is the same list in prose; `tests/wasmtime/` pins every field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from harness.ops import GiB, PoolSpec

MEMORY_RESERVATION_FOR_GROWTH = 2 * GiB
"""Wasmtime's default `memory_reservation_for_growth` on 64-bit hosts (32.0.0 to 50.0.1): the
room a standalone memory whose minimum exceeds `memory_reservation` gets to grow into."""


@dataclass(frozen=True)
class Expectations:
    """The behaviours in which a target differs from docs/semantics.md (defaults: none).

    Invariant: `index_shards >= 1`; `shared_reservation` is `None` or >= 0.
    """

    queue_empty_decommits: bool = False
    """§4 step 2 makes a slot with nothing to decommit (keep-resident covers `accessible`, or
    `accessible` is 0) warm at once. Wasmtime 37 and later enqueue one decommit region per
    deallocated memory even when it is empty (`reset_with_pagemap` always calls
    `decommit(ptr, len)`), so with `decommit-batch` > 1 such a slot waits in the queue like any
    other. Measured on 40.0.0 and 50.0.1: batch=3, a `min=0` module instantiated, deallocated and
    instantiated again gets slot 1 (slot 0 is queued); 32.0.0 gives slot 0."""

    purge_flushes_queue: bool = True
    """§5 flushes the decommit queue before purging a dropped module. No Wasmtime release does
    (`MemoryPool::purge_module` only visits warm slots): a slot still queued becomes warm at the
    next flush, affine to the dead module, its image still mapped and its memfd open until
    another module takes the slot or the engine is dropped. The drop also leaves the queue's
    order alone. Measured on 32.0.0, 40.0.0 and 50.0.1: batch=2, instantiate and deallocate a
    module with an image (queued), drop it: 1 memfd and 1 image mapping remain (§5: 0); the
    memfd closes when another module's instance takes the slot."""

    reset_madvises_image: bool = False
    """§4 step 1 writes every byte below keep-resident back to pristine, image pages included.
    Wasmtime 32 to 36 (`reset_with_original_mapping`) instead, when the image starts below
    keep-resident: memsets `[0, image.offset)`, `madvise`s the image's pages (they fault again),
    memsets `min(keep - image.offset, accessible - image.end)` bytes after the image (so the
    memset range ends `image.len` bytes past keep-resident), and `madvise`s the rest; an image
    at or above keep-resident is handled as §4 says. Each non-empty `madvise` is one decommit
    region, and the queue counts regions, so such a reset may queue 2 and flush at once with
    `decommit-batch` 2. Measured on 32.0.0: a 1-page image at 0 with keep-resident covering the
    memory takes 1 fault per image page on reuse, 0 elsewhere."""

    zero_only_segments_make_image: bool = False
    """§2: segments of zero bytes only make no image. Wasmtime trims leading and trailing zeros
    only when a non-zero byte exists (`try_static_init`: `position`/`rposition`); otherwise the
    segments' whole extent, widened to OS pages, is an all-zero image with its own memfd.
    Measured on 32.0.0, 40.0.0 and 50.0.1: `data=0:fill:0x00*4096`, `data=0:fill:0x00*10` and
    `data=100:hex:00` each give 1 memfd and a 4 KiB image mapping at offset 0."""

    sparse_rule_on_extent: bool = False
    """§2 applies the dense-image rule to the trimmed, page-widened image. Wasmtime applies it
    to the raw extent of the non-empty segments (lowest start to highest end, before trimming or
    widening): the image is refused when `extent >= 2 * data bytes` and `extent >= 16 MiB`.
    Read in `try_static_init` (32.0.0 to 49-dev alike); measured on 32.0.0, 40.0.0 and 50.0.1:
    segments `0:"a"` and `0xfffffe:"z"` (extent 16 MiB - 1, widened 16 MiB) make an image (one
    memfd), where §2 refuses it."""

    static_keeps_accessible: bool = False
    """§4 step 3 shrinks a reused `style=static` slot to its new size. Wasmtime before 44 (and
    36.0.7, 42.0.2, 43.0.1) only reset protections when the memory had a guard or could elide
    bounds checks (`can_elide_bounds_check`: `reservation + guard >= 4 GiB`), so a static memory
    with guard 0 and a smaller reservation keeps its grown `accessible`, as `style=dynamic` does.
    Fixed by #13008 (`can_use_virtual_memory`). Measured on 32.0.0 and 40.0.0: grown to 6 pages,
    freed, reused by a 1-page module with guard=0: `accessible` stays 6 pages. (The same releases
    then let Wasm load past the size without a trap: a bug the target reports, not modelled.)"""

    index_shards: int = 1
    """§3 has one index allocator. Wasmtime 48 and later split it into
    `min(available CPUs, 16)` shards when the pool has 128 slots or more: shard k owns the slots
    `[k * ceil(n / s), (k + 1) * ceil(n / s))` and `warm-slots // s` of the warm budget (the
    remainder to the leading shards). Each shard picks as §3 says among its own slots; an
    instantiation tries the driving thread's home shard first and then the next ones, wrapping
    around; a purge visits the shards in order. The home shard is the driving thread's first
    number in Wasmtime's process-wide round-robin (0 for the first thread to use a shard, which
    the executor's thread is). Measured on 50.0.1 with 2 CPUs, warm-slots=2, three modules each
    instantiated and deallocated in turn: 127 slots give slots 0, 1, 0; 128 slots give 0, 0, 0."""

    size_checked_before_shared: bool = False
    """§2 lists `shared-unsupported` before `too-large`. Wasmtime's `validate_memory` checks the
    minimum size first, so a shared module too large for the pool is `too-large`. Read in
    32.0.0 and 49-dev alike; measured on 32.0.0, 40.0.0 and 50.0.1 with `(memory 20 40 shared)`
    and max-memory=1MiB."""

    shared_reservation: int | None = None
    """§6 reserves `max` pages for a standalone shared memory. Wasmtime reserves
    `memory_reservation` bytes (the pool's `reservation`) when `min` fits in it, else
    `min + MEMORY_RESERVATION_FOR_GROWTH`, rounded up to OS pages, and a shared memory cannot
    move, so growth past that fails (`-1`) even below `max`. `None` means §6; a number is the
    reservation in bytes. Measured on 32.0.0, 40.0.0 and 50.0.1 with reservation=1MiB:
    `min=1 max=64` stops at 16 pages, `min=17 max=200` reaches 200."""

    def __post_init__(self) -> None:
        if self.index_shards < 1:
            raise ValueError(f"index_shards must be at least 1, not {self.index_shards}")
        if self.shared_reservation is not None and self.shared_reservation < 0:
            raise ValueError(f"shared_reservation must be >= 0, not {self.shared_reservation}")

    def differences(self) -> dict[str, object]:
        """The fields whose value is not docs/semantics.md's, by name (empty for `SEMANTICS`)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        }


SEMANTICS = Expectations()
"""docs/semantics.md exactly: what the reference allocator must do."""


class DeclaresExpectations(Protocol):
    """A target that differs from docs/semantics.md says how, for each pool it can open."""

    def expectations(self, pool: PoolSpec) -> Expectations: ...


def expectations_of(target: object, pool: PoolSpec) -> Expectations:
    """What `target` declares for `pool` (its `expectations(pool)`), or `SEMANTICS` if it
    declares nothing. Pure: opens nothing."""
    declare = getattr(target, "expectations", None)
    if declare is None:
        return SEMANTICS
    declared = declare(pool)
    if not isinstance(declared, Expectations):
        raise TypeError(f"{type(target).__name__}.expectations() returned {declared!r}, not Expectations")
    return declared


__all__ = ["MEMORY_RESERVATION_FOR_GROWTH", "SEMANTICS", "DeclaresExpectations", "Expectations", "expectations_of"]
