"""The decommit queue: batching the `madvise(DONTNEED)` of deallocated slots.

A deallocated slot hands the ranges it wants decommitted (`[keep, accessible)`) to the queue
instead of calling `madvise` itself. Until the queue is flushed the slot stays *queued*: its
contents above `keep` are not yet reset, so it must not be reused. `push` reports when the queue
holds `batch` slots, and the owner then calls `flush`, which performs every queued `madvise` in
push order and returns the slots, in the same order, to be freed.

A `batch` of 0 or 1 means every push fills the queue: each deallocation is decommitted at once
(the pool then skips the queue and calls `decommit` itself).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import NamedTuple

from allocator.errors import SyscallError
from allocator.vm import VirtualMemory


@dataclass
class QueuedSlot:
    """A deallocated slot and the `(address, length)` ranges it is waiting to decommit."""

    index: int
    regions: list[tuple[int, int]] = field(default_factory=list)

    def add(self, address: int, length: int) -> None:
        """Appends a range to decommit (the `Decommit` callback of `clear_and_remain_ready`)."""
        self.regions.append((address, length))


class Flushed(NamedTuple):
    """A slot whose decommit ran; `error` is set if a `madvise` failed (contents unknown)."""

    index: int
    error: SyscallError | None = None


class DecommitQueue:
    """Queued slots, least recently pushed first. Thread-safe."""

    def __init__(self, batch: int) -> None:
        self.batch = max(batch, 1)
        self._lock = threading.Lock()
        self._entries: list[QueuedSlot] = []

    def __len__(self) -> int:
        return len(self._entries)

    def slots(self) -> list[int]:
        """Indices of the queued slots, in push order."""
        with self._lock:
            return [entry.index for entry in self._entries]

    def push(self, entry: QueuedSlot) -> bool:
        """Queues `entry`; True if the queue now holds `batch` slots or more (flush it)."""
        with self._lock:
            self._entries.append(entry)
            return len(self._entries) >= self.batch

    def discard(self) -> list[int]:
        """Empties the queue without decommitting; returns the slots it held."""
        with self._lock:
            entries, self._entries = self._entries, []
        return [entry.index for entry in entries]

    def flush(self, vm: VirtualMemory) -> list[Flushed]:
        """Takes every queued slot and performs its `madvise`s, in push order."""
        with self._lock:
            entries, self._entries = self._entries, []
        return [self.decommit(vm, entry) for entry in entries]

    @staticmethod
    def decommit(vm: VirtualMemory, entry: QueuedSlot) -> Flushed:
        """Performs `entry`'s `madvise`s now (a flush of it alone, as a batch of 1 does)."""
        try:
            for address, length in entry.regions:
                vm.decommit(address, length)
        except SyscallError as error:
            return Flushed(entry.index, error)
        return Flushed(entry.index)
