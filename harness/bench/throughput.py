"""Section 2: harness throughput — checked ops/s against the same ops applied unchecked.

*Checked* is what every campaign does: `harness.executor.run` on a fresh reference target, the
model beside it, every check after every op. *Unchecked* applies the same statements directly
to a fresh reference target and nothing else: no model, no checks, no `expect` (an observation
only), and `touch` as the bare C loop on the memory (`poolfuzz_touch`, without the observers'
accessibility check), bounds-checked only so that it stays inside the memory. Both count every
statement of the program as one op, and both include opening and closing the target.

A checked program must pass: a divergence here is a bug, and `BenchError` reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness._native import native
from harness.bench.plan import Plan
from harness.bench.sequences import atheris_programs, hypothesis_programs
from harness.bench.timing import Loop, interleaved, ratio
from harness.executor import run
from harness.ops import Expect, Program, Touch
from harness.targets import make_target
from harness.targets.base import Target

TARGET = "reference"
WARM_UP_OPS = 10


class BenchError(RuntimeError):
    """A benchmarked program did not pass on the reference target."""


def run_checked(program: Program) -> None:
    """The program through the executor; `BenchError` unless it passes."""
    outcome = run(program, make_target(TARGET))
    if not outcome.passed:
        why = outcome.skipped or (outcome.divergence.describe() if outcome.divergence else "")
        raise BenchError(f"a benchmarked program did not pass: {why}")


def run_unchecked(program: Program) -> None:
    """The program's statements applied straight to a fresh target (see the module docstring)."""
    target = make_target(TARGET)
    target.open(program.pool_spec)
    try:
        for op in program.statements:
            if isinstance(op, Touch):
                _touch(target, op)
            elif not isinstance(op, Expect):
                target.apply(op)
    finally:
        target.close()


def _touch(target: Target, op: Touch) -> None:
    region = target.memory(op.instance)
    if op.length and op.offset + op.length <= region.size:
        native().lib.poolfuzz_touch(region.base + op.offset, op.length)


def programs_loop(programs: Sequence[Program], apply: Callable[[Program], None]) -> Loop:
    """A loop whose unit is one pass over `programs` (its `count` is the number of passes)."""

    def loop(count: int) -> None:
        for _ in range(count):
            for program in programs:
                apply(program)

    return loop


def pass_micros(programs: Sequence[Program], plan: Plan) -> dict[str, float]:
    """Median µs of one checked and one unchecked pass over `programs` (interleaved runs).

    The warm-up is the first ops of one program each way, not a whole pass.
    """
    warm_up = programs[0].prefix(WARM_UP_OPS)
    run_checked(warm_up)
    run_unchecked(warm_up)
    loops = {"checked": programs_loop(programs, run_checked),
             "unchecked": programs_loop(programs, run_unchecked)}
    return interleaved(loops, plan.repeats, 1, warm_up=0)


def ops_per_second(programs: Sequence[Program], plan: Plan) -> dict[str, float]:
    """Median checked and unchecked ops/s over `programs`."""
    ops = sum(len(program.statements) for program in programs)
    return {name: ops / (us / 1e6) for name, us in pass_micros(programs, plan).items()}


ENGINES = {
    "hypothesis": lambda plan: hypothesis_programs(plan.programs, seed=1),
    "atheris": lambda plan: atheris_programs(plan.programs, seed=2),
}
"""The typical programs of each engine, by engine name."""


def throughput(plan: Plan, progress: Callable[[str], None] = lambda _: None) -> dict[str, object]:
    """Section 2: checked and unchecked ops/s, overall and by engine, with their ratio.

    Overall figures weigh the engines by their ops: all ops over the time all of them took.
    """
    by_engine: dict[str, dict[str, float | None]] = {}
    ops, seconds = 0, {"checked": 0.0, "unchecked": 0.0}
    for engine, make in ENGINES.items():
        progress(f"throughput {engine}")
        programs = make(plan)
        count = sum(len(program.statements) for program in programs)
        rates = ops_per_second(programs, plan)
        by_engine[engine] = with_ratio(rates)
        ops += count
        for name, rate in rates.items():
            seconds[name] += count / rate
    return {**with_ratio({name: ops / s for name, s in seconds.items()}), "engines": by_engine}


def with_ratio(rates: dict[str, float]) -> dict[str, float | None]:
    """`rates` plus `checked_per_unchecked`."""
    return {**rates, "checked_per_unchecked": ratio(rates["checked"], rates["unchecked"])}
