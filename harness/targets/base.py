"""The protocol every target implements, and the errors a target may raise.

A target is one allocator under test. The executor drives it one op at a time, beside the model:

    target.open(pool)              # may raise Unsupported(reason): the file is skipped
    result = target.apply(op)      # every statement except `touch` and `expect`
    region = target.memory("i1")   # where instance i1's linear memory is, for the observers
    target.close()                 # release everything; the process is left as before open()

`touch` and the observables of `expect` are measured by the shared observers
(`harness/observers.py`) through `memory()`, so that every target is measured the same way.

`apply` returns what the op produced — `Number`, `Data`, `Slot`, `Error(kind)` for the spec's
error kinds (`pool-exhausted`, `too-large`, `shared-unsupported`, `out-of-bounds`), or `None` for
an op that produces nothing. Any other failure of the target raises `TargetError`; a crash of the
target (a signal) ends the process, and the campaign runner records it as a finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from harness.ops import Op, PoolSpec, Result


class Unsupported(Exception):
    """The target cannot honour the program's settings; the file is skipped with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TargetError(Exception):
    """The target failed in a way no op result describes (an unexpected exception inside it)."""


@dataclass(frozen=True)
class MemoryRegion:
    """Where a linear memory lives in this process.

    `base` is the address of byte 0; `size` the current size in bytes (Wasm pages × 64 KiB);
    `limit` the bytes from `base` that belong to the memory's slot (its static size), so that an
    observer never looks past the slot.
    """

    base: int
    size: int
    limit: int


class Target(Protocol):
    """An allocator under test. See the module docstring for the calling sequence."""

    name: str

    def open(self, pool: PoolSpec) -> None: ...

    def apply(self, op: Op) -> Result | None: ...

    def memory(self, instance: str) -> MemoryRegion: ...

    def close(self) -> None: ...
