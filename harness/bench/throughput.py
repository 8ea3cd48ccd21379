"""Section 2: harness throughput — checked ops/s against the same ops applied unchecked.

*Checked* is what every campaign does: `harness.executor.run` on a fresh reference target, the
model beside it, every check after every op. *Unchecked* applies the same statements directly
to a fresh reference target and nothing else: no model, no checks, no `expect` (an observation
only), and `touch` as the bare C loop on the memory (`poolfuzz_touch`, without the observers'
accessibility check), bounds-checked only so that it stays inside the memory. Both count every
statement of the program as one op, and both include opening and closing the target.

A program must pass checked and run unchecked without error: anything else is a bug (or the
kernel refusing a call), and `BenchError` reports it.

Each engine's programs run in each mode in a worker process of its own
(`harness.bench.isolated`), as a campaign runs one engine in one process: in a shared process,
the heap one loop leaves behind changes what the next one's large allocations cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness._native import native
from harness.bench.plan import Plan
from harness.bench.sequences import atheris_programs, hypothesis_programs
from harness.bench.isolated import isolated
from harness.bench.timing import BenchError, Loop, interleaved_timers, ratio
from harness.executor import run
from harness.ops import Expect, Program, Touch
from harness.targets import make_target
from harness.targets.base import Target, TargetError
from harness.text import format_op

TARGET = "reference"
WARM_UP_OPS = 10


def run_checked(program: Program) -> None:
    """The program through the executor; `BenchError` unless it passes."""
    outcome = run(program, make_target(TARGET))
    if not outcome.passed:
        why = outcome.skipped or (outcome.divergence.describe() if outcome.divergence else "")
        raise BenchError(f"a benchmarked program did not pass: {why}")


def run_unchecked(program: Program) -> None:
    """The program's statements applied straight to a fresh target (see the module docstring);
    `BenchError` if the target fails."""
    target = make_target(TARGET)
    target.open(program.pool_spec)
    try:
        for op in program.statements:
            if isinstance(op, Touch):
                _touch(target, op)
            elif not isinstance(op, Expect):
                target.apply(op)
    except TargetError as err:
        raise BenchError(f"a benchmarked program failed unchecked at {format_op(op)}: {err}") from err
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


def warm_up(program: Program, mode: str) -> None:
    """The first ops of `program`, applied in `mode`, untimed."""
    MODES[mode](program.prefix(WARM_UP_OPS))


ENGINES = {
    "hypothesis": lambda plan: hypothesis_programs(plan.programs, seed=1),
    "atheris": lambda plan: atheris_programs(plan.programs, seed=2),
}
"""The typical programs of each engine, by engine name."""

MODES = {"checked": run_checked, "unchecked": run_unchecked}


def engine_loop(plan: Plan, engine: str, mode: str) -> dict[str, Loop]:
    """In a worker: `"ENGINE MODE"`, one pass over the engine's programs in `mode`, warmed up."""
    batch = ENGINES[engine](plan)
    warm_up(batch[0], mode)
    return {f"{engine} {mode}": programs_loop(batch, MODES[mode])}


def throughput(plan: Plan, progress: Callable[[str], None] = lambda _: None) -> dict[str, object]:
    """Section 2: checked and unchecked ops/s, overall and by engine, with their ratio.

    One pass over an engine's programs, checked or unchecked, is one loop. Each loop runs in a
    worker of its own, as each engine's campaign runs in a process of its own, and all four are
    timed in the same interleaved runs. Overall figures weigh the engines by their ops: all ops
    over the time all of them took.
    """
    progress("throughput")
    programs = {engine: make(plan) for engine, make in ENGINES.items()}
    loops = {f"{engine} {mode}": (engine_loop, (plan, engine, mode)) for engine in ENGINES for mode in MODES}
    with isolated(loops) as timers:
        micros = interleaved_timers(timers, plan.program_repeats, 1, warm_up=0)
    ops = {engine: sum(len(program.statements) for program in batch) for engine, batch in programs.items()}
    by_engine = {engine: with_ratio({mode: ops[engine] / micros[f"{engine} {mode}"] * 1e6 for mode in MODES})
                 for engine in programs}
    overall = {mode: sum(ops.values()) / sum(micros[f"{e} {mode}"] for e in programs) * 1e6 for mode in MODES}
    return {**with_ratio(overall), "engines": by_engine}


def with_ratio(rates: dict[str, float]) -> dict[str, float | None]:
    """`rates` plus `checked_per_unchecked`."""
    return {**rates, "checked_per_unchecked": ratio(rates["checked"], rates["unchecked"])}
