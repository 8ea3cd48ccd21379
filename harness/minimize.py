"""Shrinking a failing op sequence to a small one that fails the same way.

`minimize(program, still_fails)` knows nothing of targets: `still_fails(candidate)` answers
whether a candidate shows the same failure (typically: replaying it gives a divergence with the
same signature). Candidates are always valid programs — removing a declaration removes every
statement that uses the name — and each is tried at most once (memoized by its text).

Passes, in order, repeated until none makes progress:
1. `drop_tail`: cut everything after the failing statement (the last statement is kept).
2. `drop_chunks`: remove runs of statements, halving the run length (delta debugging).
3. `drop_results`: remove `=> RESULT` annotations that the failure does not need.
Progress is deterministic: the same input and predicate give the same result. With a
`deadline` (a `time.monotonic()` value), no candidate is tried after it: the result is the
smallest program reached by then (still failing, since only failing candidates are kept).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.ops import Drop, Expect, Op, Program, without_results
from harness.text import format_program
from harness.validate import check


@dataclass
class Minimizer:
    still_fails: Callable[[Program], bool]
    deadline: float | None = None  # time.monotonic() after which no candidate is tried
    tried: dict[str, bool] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def test(self, candidate: Program, pass_name: str) -> bool:
        """Whether `candidate` is valid and still fails (memoized by its text); False for every
        new candidate once the deadline has passed."""
        text = format_program(candidate)
        if text not in self.tried:
            if self.out_of_time:
                return False
            self.attempts[pass_name] = self.attempts.get(pass_name, 0) + 1
            self.tried[text] = _valid(candidate) and self.still_fails(candidate)
        return self.tried[text]

    def run(self, program: Program) -> Program:
        current = program
        progress = True
        while progress and not self.out_of_time:
            progress = False
            for pass_ in (self.drop_chunks, self.drop_results):
                smaller = pass_(current)
                if smaller is not current:
                    current, progress = smaller, True
        return current

    def drop_chunks(self, program: Program) -> Program:
        ops = list(program.statements)
        size = max(len(ops) // 2, 1)
        while size >= 1:
            start = 0
            while start < len(ops) - 1:  # the last (failing) statement is never removed here
                candidate = _without(ops, range(start, min(start + size, len(ops) - 1)))
                if len(candidate) < len(ops) and self.test(program.with_statements(tuple(candidate)), "drop_chunks"):
                    ops = candidate
                else:
                    start += size
            size //= 2
        return program if len(ops) == len(program.statements) else program.with_statements(tuple(ops))

    def drop_results(self, program: Program) -> Program:
        ops = list(program.statements)
        changed = False
        for i, op in enumerate(ops[:-1]):
            if isinstance(op, Expect) or op.result is None:
                continue
            candidate = ops[:i] + [without_results(op)] + ops[i + 1 :]
            if self.test(program.with_statements(tuple(candidate)), "drop_results"):
                ops, changed = candidate, True
        return program.with_statements(tuple(ops)) if changed else program


def minimize(program: Program, still_fails: Callable[[Program], bool], deadline: float | None = None) -> Program:
    """The smallest program the passes reach (by `deadline`, if given) that still fails;
    `program` if none does."""
    return Minimizer(still_fails, deadline).run(program)


def _without(ops: list[Op], indices: range) -> list[Op]:
    """`ops` without `indices`, and without every later statement naming what they declared."""
    removed = {i for i in indices}
    gone: set[str] = set()
    for i in indices:
        gone |= _declared(ops[i])
    out = []
    for i, op in enumerate(ops):
        if i in removed:
            continue
        if _names(op) & gone:
            continue
        out.append(op)
    return out


def _declared(op: Op) -> set[str]:
    if op.kind in ("module", "shared"):
        return {op.name}  # type: ignore[attr-defined]
    if op.kind == "instantiate":
        return {op.instance}  # type: ignore[attr-defined]
    return set()


def _names(op: Op) -> set[str]:
    names = {getattr(op, attr) for attr in ("instance", "module", "name") if hasattr(op, attr)}
    if isinstance(op, Expect):
        names |= {a for a in op.args if isinstance(a, str)}
    if isinstance(op, Drop):
        names.add(op.module)
    return names


def _valid(program: Program) -> bool:
    try:
        check(program)
    except Exception:  # an invalid candidate simply does not count
        return False
    return True
