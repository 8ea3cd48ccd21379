"""How much work each section of the benchmark does: `FULL` (a few minutes), `QUICK` (under a
minute) and, for tests, `SMOKE` (seconds, every section, figures too noisy to read).

Every timed figure is a median: of `repeats` runs for the cycle and scaling sections (short
runs, many of them, so that a burst of other work on the machine moves few of them), of
`program_repeats` runs for the sections that run programs. Within a run, the contenders of one
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
    """Timed runs per cycle figure (the figure is their median)."""
    cycles: int
    """Cycles per timed run, cycle and scaling sections."""
    program_repeats: int
    """Timed runs per figure of the throughput and op-cost sections."""
    programs: int
    """Programs per engine per timed run, throughput section."""
    lengths: tuple[int, ...]
    """Sequence lengths of the op-cost section."""
    ops_per_length: int
    """Ops per timed run at each length (rounded up to whole programs)."""
    reuses: int
    """Reuses counted per claim."""


FULL = Plan("full", repeats=21, cycles=1000, program_repeats=9, programs=128,
            lengths=(10, 100, 1000), ops_per_length=600, reuses=100)
QUICK = Plan("quick", repeats=7, cycles=150, program_repeats=3, programs=24,
             lengths=(10, 100, 1000), ops_per_length=300, reuses=20)
SMOKE = Plan("smoke", repeats=1, cycles=5, program_repeats=1, programs=1,
             lengths=(10, 40), ops_per_length=10, reuses=3)
