"""Section 3: scaling — cycle cost by pool size, op cost by sequence length.

* `pool_scaling`: the cycle of `SCALING_CASE` on pools of 10, 1,000 and 10,000 slots, every slot
  used once first (so the index allocator holds a warm list, and Wasmtime's pool its
  affinities, as large as the pool).
* `length_scaling`: µs per op, checked and unchecked, of atheris-decoded sequences of each
  length of the plan: the model and the process's mappings grow as a sequence goes on.

Within each, every size is timed in the same interleaved runs (`timing.interleaved`), so that
the sizes are compared under the same load.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from harness.bench.cycle import Contender, CycleCase, close_all, contenders, measure
from harness.bench.plan import POOL_SIZES, Plan
from harness.bench.sequences import atheris_programs
from harness.bench.isolated import isolated
from harness.bench.throughput import MODES, programs_loop, warm_up
from harness.bench.timing import Loop, interleaved_timers
from harness.ops import Program

SCALING_CASE = CycleCase(pages=16, keep_resident=False)
"""The cycle compared across pool sizes."""

Progress = Callable[[str], None]


def pool_scaling(plan: Plan, progress: Progress = lambda _: None) -> dict[str, dict[str, object]]:
    """Median µs per cycle by pool size (keys are the slot counts, as strings).

    Every pool is built and filled first, then all of them are timed in the same interleaved
    runs, so that the sizes are compared under the same load.
    """
    sides: dict[str, Contender] = {}
    try:
        for slots in POOL_SIZES:
            progress(f"scaling: filling {slots} slots")
            pool = SCALING_CASE.pool(memories=slots)
            for name, side in contenders(pool, SCALING_CASE.pages, with_floor=False).items():
                sides[f"{slots} {name}"] = side
                side.fill()  # type: ignore[attr-defined]
    except BaseException:
        close_all(sides)
        raise
    progress("scaling: cycles")
    figures = measure(sides, plan)
    return {str(slots): {name: figures.get(f"{slots} {name}") for name in ("reference_us", "wasmtime_us")}
            for slots in POOL_SIZES}


def length_scaling(plan: Plan, progress: Progress = lambda _: None) -> dict[str, dict[str, float]]:
    """Median µs per op, checked and unchecked, by sequence length (keys: lengths as strings),
    every length timed in the same interleaved runs, each mode in a worker of its own
    (`harness.bench.isolated`)."""
    progress("op cost by length")
    programs = {length: _programs_of_length(length, plan) for length in plan.lengths}
    with isolated({mode: (length_loops, (plan, mode)) for mode in MODES}) as timers:
        micros = interleaved_timers(timers, plan.program_repeats, 1, warm_up=0)
    results = {}
    for length, batch in programs.items():
        ops = sum(len(program.statements) for program in batch)
        results[str(length)] = {"ops": ops / len(batch),
                                **{f"{mode}_us": micros[f"{length} {mode}"] / ops for mode in MODES}}
    return results


def length_loops(plan: Plan, mode: str) -> dict[str, Loop]:
    """In a worker: `"LENGTH MODE"`, one pass over the programs of that length in `mode`, for
    every length of the plan, each warmed up."""
    loops = {}
    for length in plan.lengths:
        batch = _programs_of_length(length, plan)
        warm_up(batch[0], mode)
        loops[f"{length} {mode}"] = programs_loop(batch, MODES[mode])
    return loops


def _programs_of_length(length: int, plan: Plan) -> list[Program]:
    """Atheris-decoded programs of `length` ops, enough for `plan.ops_per_length` ops."""
    count = math.ceil(plan.ops_per_length / length)
    return atheris_programs(count, seed=random.Random(length).randrange(1 << 30),
                            max_ops=length, size=24 * length + 64)
