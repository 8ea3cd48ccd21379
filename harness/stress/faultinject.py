"""Fault injection: every n-th system call of a sequence fails, and the pool must stay sound.

    report = sweep(generated_program(seed=3))          # or parse_file("corpora/...ops")
    assert report.ok, report.describe()

`sweep(program)` runs the program once to count the calls the reference allocator makes
(`engine.vm.inject` sees each one by name), then once more for every call kind in `FAILABLE`,
every n from 1 to that kind's count, and every errno in `ERRNOS`, on a fresh engine whose hook
fails exactly the n-th call of that kind. What each run must keep (clean failures, no slot
leaked, fresh tenants that see only zeros or their own image, nothing left after close) is
`harness.stress.faultrun`'s business.
"""

from __future__ import annotations

import errno
import itertools
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from harness.ops import Program
from harness.stress.faultrun import FailNth, Injection, Problem, Run

__all__ = ["ERRNOS", "FAILABLE", "FailNth", "Injection", "Problem", "RunResult", "SweepReport",
           "generated_program", "injections", "run_once", "sweep"]

FAILABLE = ("mmap", "mprotect", "madvise", "memfd_create", "ftruncate")
"""The calls whose failures are injected."""

ERRNOS = (errno.ENOMEM, errno.EAGAIN)


@dataclass
class RunResult:
    """One run of the program: the calls counted, whether the fault fired, what broke."""

    counts: Counter[str]
    fired: bool
    failed_ops: int  # ops that failed cleanly because of the fault
    problems: list[Problem]


@dataclass
class SweepReport:
    """Every run of a sweep, summed up."""

    ops: int
    calls: dict[str, int] = field(default_factory=dict)
    runs: int = 0
    fired: int = 0
    failed_cleanly: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self, limit: int = 10) -> str:
        calls = ", ".join(f"{name} {count}" for name, count in self.calls.items())
        head = (f"{self.ops} ops; calls counted: {calls}; {self.runs} runs, {self.fired} faults "
                f"fired, {self.failed_cleanly} ops failed cleanly, {len(self.problems)} problems")
        return "\n".join([head, *(p.describe() for p in self.problems[:limit])])


def sweep(program: Program, calls: tuple[str, ...] = FAILABLE,
          errnos: tuple[int, ...] = ERRNOS, stop_at_first: bool = False) -> SweepReport:
    """Runs `program` once without faults, then once per injection (module docstring)."""
    dry = run_once(program, None)
    report = SweepReport(len(program.statements), {c: dry.counts[c] for c in calls}, 1,
                         problems=list(dry.problems))
    for injection in injections(dry.counts, calls, errnos):
        if stop_at_first and report.problems:
            break
        result = run_once(program, injection)
        report.runs += 1
        report.fired += result.fired
        report.failed_cleanly += result.failed_ops
        report.problems += result.problems
    return report


def injections(counts: Counter[str], calls: tuple[str, ...],
               errnos: tuple[int, ...]) -> Iterator[Injection]:
    for call in calls:
        for n, code in itertools.product(range(1, counts[call] + 1), errnos):
            yield Injection(call, n, code)


def run_once(program: Program, injection: Injection | None) -> RunResult:
    """One run of `program` with `injection` (None: no fault), checked as the docstring says."""
    run = Run(program, injection)
    run.execute()
    return RunResult(run.hook.counts, run.hook.fired, run.failed_ops, run.problems)


def generated_program(seed: int, ops: int = 50) -> Program:
    """A valid program of `ops` statements generated from `seed` (the fuzzers' own decoder)."""
    from harness.engines.atheris_engine import decode

    rng = random.Random(seed)
    for size in (1024, 4096, 16384):
        program = decode(rng.randbytes(size), max_ops=ops)
        if len(program.statements) >= ops:
            return program
    return program
