"""Results the model predicts for a whole program, written back into it as `=> RESULT`s."""

from __future__ import annotations

from harness.expectations import SEMANTICS, Expectations
from harness.model.pool import Model
from harness.ops import Expect, Program, with_result, without_results


def with_predicted_results(program: Program, expectations: Expectations = SEMANTICS) -> Program:
    """`program` with every op's `=>` set to what the model says it produces (and every
    `expect` value set to what the model says it reads), so that a saved reproducer states
    exactly what was required of the target (whose documented differences are
    `expectations`)."""
    model = Model(program.pool_spec, expectations)
    ops = []
    for op in program.statements:
        if isinstance(op, Expect):
            ops.append(Expect(op.observable, op.args, model.observe(op), line=op.line))
        else:
            ops.append(with_result(op, model.apply(without_results(op))))
    return program.with_statements(tuple(ops))


def without_any_results(program: Program) -> Program:
    """`program` with every `=>` removed (what the minimizer works on)."""
    return program.with_statements(tuple(without_results(op) for op in program.statements))
