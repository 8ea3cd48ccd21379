"""Section 3: scaling — cycle cost by pool size, op cost by sequence length.

* `pool_scaling`: the cycle of `SCALING_CASE` on pools of 10, 1,000 and 10,000 slots, every slot
  used once first (so the index allocator holds a warm list, and Wasmtime's pool its
  affinities, as large as the pool), reference and Wasmtime interleaved.
* `length_scaling`: µs per op, checked and unchecked, of atheris-decoded sequences cut at each
  length of the plan: the model and the process's mappings grow as a sequence goes on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from harness.bench.cycle import CycleCase, close_all, contenders, measure
from harness.bench.plan import POOL_SIZES, Plan
from harness.bench.sequences import atheris_programs
from harness.bench.throughput import pass_micros

SCALING_CASE = CycleCase(pages=16, keep_resident=False)
"""The cycle compared across pool sizes."""

Progress = Callable[[str], None]


def pool_scaling(plan: Plan, progress: Progress = lambda _: None) -> dict[str, dict[str, object]]:
    """Median µs per cycle by pool size (keys are the slot counts, as strings)."""
    results = {}
    for slots in POOL_SIZES:
        progress(f"scaling {slots} slots")
        sides = contenders(SCALING_CASE.pool(memories=slots), SCALING_CASE.pages, with_floor=False)
        try:
            for side in sides.values():
                side.fill()  # type: ignore[attr-defined]
        except BaseException:
            close_all(sides)
            raise
        figures = measure(sides, plan)
        results[str(slots)] = {"reference_us": figures["reference_us"],
                               "wasmtime_us": figures.get("wasmtime_us")}
    return results


def length_scaling(plan: Plan, progress: Progress = lambda _: None) -> dict[str, dict[str, float]]:
    """Median µs per op, checked and unchecked, by sequence length (keys: lengths as strings)."""
    results = {}
    for length in plan.lengths:
        progress(f"op cost at {length} ops")
        count = math.ceil(plan.ops_per_length / length)
        programs = atheris_programs(count, seed=random.Random(length).randrange(1 << 30),
                                    max_ops=length, size=24 * length + 64)
        ops = sum(len(program.statements) for program in programs)
        micros = pass_micros(programs, plan)
        results[str(length)] = {"ops": ops / len(programs),
                                "checked_us": micros["checked"] / ops,
                                "unchecked_us": micros["unchecked"] / ops}
    return results
