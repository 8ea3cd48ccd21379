"""Target `crashy`: the reference allocator with deliberate, deterministic failures.

A test target for the crash handling of `poolfuzz nightly`: it behaves exactly like `reference`
until an op matches one of its failure patterns, then it fails the way a native runtime does —
it never raises a Python exception the executor could catch.

| mode    | pattern                                                  | failure                          |
|---------|----------------------------------------------------------|----------------------------------|
| `segv`  | the Nth `grow` applied to one instance (N = 3)           | reads address 0: SIGSEGV         |
| `hang`  | the Nth `shared-grow` applied to one shared memory (N = 2) | sleeps forever (a hang)        |
| `abort` | a `read` of exactly 64 KiB                                | `abort()`: SIGABRT (a panic)     |
| `oom`   | a `read` of exactly 16 bytes                              | fills memory until it is killed  |

`POOLFUZZ_CRASHY` (a comma-separated list of modes, read when the target is opened) picks the
active ones; the default is `segv,hang`. `segv=N` and `hang=N` set N (`segv=1`: the first grow
of any instance faults, which a fuzzer reaches within its first sequences). Counts are per target
object, so a fresh target (one per program run) starts from zero: a program reproduces its
failure every time it is replayed.
"""

from __future__ import annotations

import ctypes
import os
import time

from harness.ops import Grow, Op, PoolSpec, Read, Result, SharedGrow
from harness.targets.reference import ReferenceTarget

MODES = {"segv": 3, "hang": 2, "abort": 0, "oom": 0}
"""Each mode and its default N (the grow, or shared-grow, of one object that fails)."""
DEFAULT_MODES = "segv,hang"
ENVIRONMENT = "POOLFUZZ_CRASHY"

ABORT_READ = 65536  # length of the read that aborts
OOM_READ = 16  # length of the read that exhausts memory


def active_modes() -> dict[str, int]:
    """The modes `POOLFUZZ_CRASHY` names, each with its N; ValueError for a bad entry."""
    raw = os.environ.get(ENVIRONMENT, DEFAULT_MODES)
    modes = {}
    for entry in filter(None, (e.strip() for e in raw.split(","))):
        name, _, count = entry.partition("=")
        if name not in MODES or (count and not (count.isdigit() and int(count) > 0)):
            raise ValueError(f"{ENVIRONMENT}: bad entry {entry!r}; write MODE or MODE=N (N > 0) with MODE one of "
                             f"{', '.join(MODES)}")
        modes[name] = int(count) if count else MODES[name]
    return modes


class CrashyTarget(ReferenceTarget):
    """`ReferenceTarget` that dies on the patterns of the module docstring."""

    name = "crashy"

    def __init__(self) -> None:
        super().__init__()
        self.modes: dict[str, int] = {}
        self.grows: dict[str, int] = {}
        self.shared_grows: dict[str, int] = {}

    def open(self, pool: PoolSpec) -> None:
        self.modes = active_modes()
        self.grows.clear()
        self.shared_grows.clear()
        super().open(pool)

    def apply(self, op: Op) -> Result | None:
        if isinstance(op, Grow) and "segv" in self.modes:
            self.grows[op.instance] = self.grows.get(op.instance, 0) + 1
            if self.grows[op.instance] == self.modes["segv"]:
                segfault()
        if isinstance(op, SharedGrow) and "hang" in self.modes:
            self.shared_grows[op.name] = self.shared_grows.get(op.name, 0) + 1
            if self.shared_grows[op.name] == self.modes["hang"]:
                hang()
        if isinstance(op, Read) and op.length == ABORT_READ and "abort" in self.modes:
            os.abort()
        if isinstance(op, Read) and op.length == OOM_READ and "oom" in self.modes:
            exhaust_memory()
        return super().apply(op)


def segfault() -> None:
    """Read address 0 (a real invalid access, as a native runtime's bug would make)."""
    ctypes.string_at(0)


def hang() -> None:
    """Never return (without using the CPU)."""
    while True:
        time.sleep(3600)


def exhaust_memory(step: int = 32 << 20) -> None:
    """Take resident memory, 32 MiB every 50 ms, until the process is killed."""
    hoard = []
    while True:
        hoard.append(bytearray(b"\x01") * step)
        time.sleep(0.05)


TARGET = CrashyTarget
