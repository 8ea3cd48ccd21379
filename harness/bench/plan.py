"""How much work each section of the benchmark does: `FULL` (a few minutes), `QUICK` (under a
minute) and, for tests, `SMOKE` (seconds, every section, figures too noisy to read).

Every timed figure is the median of `repeats` runs; within a run, the contenders of one
comparison run in turn (`harness.bench.timing.interleaved`).
"""

from __future__ import annotations

from dataclasses import dataclass

CYCLE_PAGES = (0, 16, 256)
"""OS pages dirtied between instantiate and deallocate, per cycle case."""

POOL_SIZES = (10, 1000, 10000)
"""Slots of the pools whose cycle cost is compared (section 3)."""


@dataclass(frozen=True)
class Plan:
    """Repeat counts and sizes of one benchmark run."""

    name: str
    repeats: int
    """Timed runs per figure (the figure is their median)."""
    cycles: int
    """Cycles per timed run, cycle and scaling sections."""
    programs: int
    """Programs per engine per timed run, throughput section."""
    lengths: tuple[int, ...]
    """Sequence lengths of the op-cost section."""
    ops_per_length: int
    """Ops per timed run at each length (rounded up to whole programs)."""
    reuses: int
    """Reuses counted per claim."""


FULL = Plan("full", repeats=9, cycles=2000, programs=24, lengths=(10, 100, 1000),
            ops_per_length=1000, reuses=100)
QUICK = Plan("quick", repeats=3, cycles=300, programs=6, lengths=(10, 100, 1000),
             ops_per_length=300, reuses=20)
SMOKE = Plan("smoke", repeats=1, cycles=5, programs=1, lengths=(10, 40),
             ops_per_length=10, reuses=3)
