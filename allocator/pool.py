"""The pool: one reservation of slots, which slot each instance takes, and slot reuse.

```
 base
 |<- guard ->|<----------- stride ----------->|<----------- stride ----------->|
 | PROT_NONE | slot 0: static_size | guard    | slot 1: static_size | guard    | ...
             ^ slot_base(0)                   ^ slot_base(1)
```

One `mmap(PROT_NONE, NORESERVE)` holds every slot, with `madvise(NOHUGEPAGE)` over it (see
`allocator.config` for the arithmetic). `memories == 0` reserves nothing and every allocation
fails with `PoolExhausted`.

Each slot is in one of the states of `SlotState`:

    COLD ──allocate──► USED ──deallocate──► QUEUED ──flush──► WARM ──allocate──► USED ...
                              └── nothing to decommit, or decommit_batch <= 1 ──┘

*Queued* slots wait for their `madvise` in the `DecommitQueue`, flushed once it holds
`decommit_batch` slots, or when an allocation finds no free slot (then the pick is retried), or
before a module is purged. With `decommit_batch <= 1` nothing is ever queued: the deallocation
performs its own `madvise` (`DecommitQueue.decommit`) and frees the slot at once, without the
queue's round trip. Separately, a slot whose last operation failed half-way is *unknown*:
nothing is known about its memory, and whoever takes it next first re-paves it with
`reset_with_anon_memory` (Wasmtime's `ImageSlot::Unknown`).

Thread safety: the index allocator, the queue and the slot table have their own locks; the work
on one slot's memory (instantiate, clear) runs outside them, by the one thread that holds it.
`close` waits for running operations and then unmaps everything. Every operation passes the
pool's gate (`_Gate`), one uncontended lock acquisition on the way in and one on the way out.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

from allocator.config import PoolConfig
from allocator.decommit import DecommitQueue, Flushed, QueuedSlot
from allocator.errors import InvalidState, PoolExhausted, SyscallError
from allocator.image import MemoryImage
from allocator.index import IndexAllocator, IndexState
from allocator.memfd_slot import MemfdGrowthSlot
from allocator.slot import MemoryImageSlot
from allocator.vm import VirtualMemory


class SlotState(enum.Enum):
    COLD = "cold"  # never used
    USED = "used"  # held by an instance
    QUEUED = "queued"  # deallocated, waiting for its decommit; not reusable yet
    WARM = "warm"  # free and used before


class MemoryPool:
    """Slots of linear memory in one reservation. See the module docstring."""

    def __init__(self, config: PoolConfig, vm: VirtualMemory) -> None:
        self.config = config
        self.layout = config.layout
        self.vm = vm
        self.index = IndexAllocator(config.memories, config.strategy, config.warm_slots,
                                    config.seed)
        self.queue = DecommitQueue(config.decommit_batch)
        self.decommit_failures = 0
        self._slot_class = MemfdGrowthSlot if config.growth == "memfd" else MemoryImageSlot
        self._lock = threading.Lock()
        self._slots: list[MemoryImageSlot | None] = [None] * config.memories
        self._unknown: set[int] = set()
        self._queued: set[int] = set()
        self._gate = _Gate()
        self.base = self._reserve()

    def _reserve(self) -> int:
        total = self.layout.total_bytes
        base = self.vm.reserve(total)
        try:
            self.vm.no_hugepages(base, total)
        except BaseException:
            self.vm.release(base, total)
            raise
        return base

    def __repr__(self) -> str:
        return (
            f"MemoryPool(base={self.base:#x}, slots={self.layout.slots}, "
            f"stride={self.layout.stride:#x}, static_size={self.layout.static_size:#x})"
        )

    @property
    def closed(self) -> bool:
        return self._gate.closed

    def slot_base(self, index: int) -> int:
        """Address of slot `index`'s byte 0."""
        return self.base + self.layout.slot_offset(index)

    # --- allocate ---------------------------------------------------------------------

    def allocate(self, module: Hashable, initial_bytes: int,
                 image: MemoryImage | None) -> tuple[int, MemoryImageSlot]:
        """Takes a slot for an instance of `module` and instantiates it.

        Raises `PoolExhausted` if no slot is free even after flushing the decommit queue; a
        `SyscallError` leaves the slot free and unknown.
        """
        gate = self._gate
        gate.enter("allocate")
        try:
            index = self._alloc_index(module)
            try:
                slot = self._take_slot(index)
                slot.instantiate(initial_bytes, image, self.config.style)
            except BaseException:
                self._mark_unknown(index)
                self.index.free(index)
                raise
            return index, slot
        finally:
            gate.leave()

    def _alloc_index(self, module: Hashable) -> int:
        index = self.index.alloc(module)
        if index is None and len(self.queue):
            self._flush()
            index = self.index.alloc(module)
        if index is None:
            raise PoolExhausted(
                f"all {self.layout.slots} slots of the pool are in use; deallocate an "
                f"instance first or configure more memories (PoolConfig.memories)"
            )
        return index

    def _take_slot(self, index: int) -> MemoryImageSlot:
        """The slot object of `index`, created on first use, re-paved if unknown."""
        slot = self._slots[index]
        if slot is None:
            with self._lock:
                slot = self._slots[index]
                if slot is None:
                    slot = self._slot_class(self.vm, self.slot_base(index), self.layout.static_size)
                    self._slots[index] = slot
        if self._unknown and self.is_unknown(index):  # the set is only ever non-empty after a failure
            slot.reset_with_anon_memory()
            with self._lock:
                self._unknown.discard(index)
        return slot

    def _mark_unknown(self, index: int) -> None:
        with self._lock:
            self._unknown.add(index)

    # --- deallocate -------------------------------------------------------------------

    def deallocate(self, index: int) -> None:
        """Clears a used slot (keeping `keep_resident` bytes) and frees or queues it."""
        gate = self._gate
        gate.enter("deallocate")
        try:
            slot = self._slots[index]
            assert slot is not None and self.index.state(index) is IndexState.USED, (
                f"deallocate of slot {index}, which is {self.slot_state(index).value}"
            )
            entry = QueuedSlot(index)
            try:
                slot.clear_and_remain_ready(self.layout.keep_resident, entry.add)
            except BaseException:
                self._mark_unknown(index)
                self.index.free(index)
                raise
            self._queue_or_free(entry)
        finally:
            gate.leave()

    def _queue_or_free(self, entry: QueuedSlot) -> None:
        if not entry.regions:
            self.index.free(entry.index)
            return
        if self.queue.batch <= 1:  # nothing is ever queued: decommit now, no queue round trip
            self._finish_decommit(DecommitQueue.decommit(self.vm, entry))
            return
        with self._lock:
            self._queued.add(entry.index)
        if self.queue.push(entry):
            self._flush()

    def flush_decommits(self) -> None:
        """Performs every queued `madvise` and frees the queued slots, in queue order."""
        with self._gate.operation("flush"):
            self._flush()

    def _flush(self) -> None:
        for flushed in self.queue.flush(self.vm):
            self._finish_decommit(flushed)

    def _finish_decommit(self, flushed: Flushed) -> None:
        with self._lock:
            self._queued.discard(flushed.index)
            if flushed.error is not None:
                self.decommit_failures += 1
                self._unknown.add(flushed.index)
        self.index.free(flushed.index)

    # --- purge --------------------------------------------------------------------------

    def purge_module(self, module: Hashable) -> int:
        """Removes `module`'s image from every free slot affine to it; returns how many.

        The queue is flushed first, so queued slots are purged too. Slots are taken from the
        most to the least recently freed and each is freed again at once, without affinity. A
        slot whose purge fails is left unknown (re-paved by its next user), the others are
        still purged, and the first failure is raised at the end.
        """
        with self._gate.operation("purge"):
            self._flush()
            purged, failures = 0, []
            while (index := self.index.alloc_affine_and_clear_affinity(module)) is not None:
                try:
                    self._purge_slot(index)
                except SyscallError as failure:
                    failures.append(failure)
                purged += 1
            if failures:
                raise failures[0]
            return purged

    def _purge_slot(self, index: int) -> None:
        try:
            self._take_slot(index).remove_image()
        except BaseException:
            self._mark_unknown(index)
            raise
        finally:
            self.index.free(index)

    # --- introspection ------------------------------------------------------------------

    def slot_state(self, index: int) -> SlotState:
        with self._lock:
            if index in self._queued:
                return SlotState.QUEUED
        return SlotState(self.index.state(index).value)

    def image_slot(self, index: int) -> MemoryImageSlot | None:
        """The `MemoryImageSlot` of `index` (None while cold)."""
        return self._slots[index]

    def is_unknown(self, index: int) -> bool:
        with self._lock:
            return index in self._unknown

    # --- shutdown -----------------------------------------------------------------------

    def close(self) -> None:
        """Waits for running operations, unmaps the whole pool and closes slot fds. Idempotent."""
        if not self._gate.close():
            return
        self.queue.discard()  # their ranges are about to be unmapped
        self.vm.release(self.base, self.layout.total_bytes)
        for slot in self._slots:
            if slot is not None:
                slot.close()


class _Gate:
    """Admits operations until `close()`, which waits for the running ones to finish.

    `enter`/`leave` bracket an operation (`operation(what)` is the same as a `with` block); on
    the uncontended path each is one acquisition of a plain lock. `close` waits on an event that
    the last operation to leave sets.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._idle: threading.Event | None = None  # set once a closing gate has no operation
        self.closed = False

    def enter(self, what: str) -> None:
        """Admits one operation; `InvalidState` once the gate is closed."""
        with self._lock:
            if self.closed:
                raise InvalidState(f"{what} on a closed pool; its engine was closed")
            self._running += 1

    def leave(self) -> None:
        """Ends an operation that `enter` admitted."""
        with self._lock:
            self._running -= 1
            idle = self._idle if self._running == 0 else None
        if idle is not None:
            idle.set()

    @contextmanager
    def operation(self, what: str) -> Iterator[None]:
        self.enter(what)
        try:
            yield
        finally:
            self.leave()

    def close(self) -> bool:
        """Closes the gate; True the first time (after the running operations finished)."""
        with self._lock:
            if self.closed:
                return False
            self.closed = True
            if self._running == 0:
                return True
            self._idle = idle = threading.Event()
        idle.wait()
        return True
