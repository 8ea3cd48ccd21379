"""Random programs run on the wasmtime target beside the model told its expectations: the
generator of the campaigns (`harness.generate.OpBuilder`), driven by a seeded `random.Random`,
one op at a time through the executor's incremental API."""

from __future__ import annotations

import random

from harness.checks import Mismatch
from harness.executor import Executor
from harness.expectations import expectations_of
from harness.generate import OpBuilder
from harness.model import Model
from harness.ops import Op, PoolSpec, Program
from harness.targets import make_target


class SeededChoices:
    """`Choices` from `random.Random(seed)`: the same answers for the same seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


def differential(spec: PoolSpec, seed: int, steps: int) -> tuple[list[Op], Mismatch | None]:
    """`steps` generated ops on a fresh wasmtime target opened on `spec`: the ops, and the first
    mismatch with the model (told the target's expectations), or None."""
    target = make_target("wasmtime")
    executor = Executor(Program(pool=spec), target)
    executor.model = Model(spec, expectations_of(target, spec))  # as the executor itself will
    executor.open()
    builder = OpBuilder(executor.model, SeededChoices(seed))
    ops: list[Op] = []
    try:
        for _ in range(steps):
            ops.append(builder.next_op())
            mismatch = executor.step(ops[-1])
            builder.note(ops[-1])
            if mismatch is not None:
                return ops, mismatch
        return ops, executor.finish()
    finally:
        executor.close()
