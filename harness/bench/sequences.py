"""Typical op sequences of both engines, made reproducibly from seeded random bytes.

* `atheris_programs`: what the atheris engine runs — `atheris_engine.decode` of random inputs
  of libFuzzer's `-max_len` (512 bytes, up to 40 ops, each op annotated with its `=> RESULT`).
* `hypothesis_programs`: what the Hypothesis state machine (`harness.machine.PoolMachine`)
  sends to the executor — its rule mix (declare a module, instantiate, an access of one of six
  kinds, deallocate, drop, declare or use a shared memory, each rule equally likely among those
  whose bundles are not empty) for `steps` rules, ops built by the same `OpBuilder`, without
  `=> RESULT`s. Its answers come from `ByteChoices` over random bytes rather than Hypothesis'
  draws: the same sequences in distribution, without Hypothesis' own cost.

Every op is built valid in the state a scratch model reached after the ops before it, as the
engines build them.
"""

from __future__ import annotations

import random

from harness.engines.atheris_engine import decode
from harness.generate import ByteChoices, OpBuilder, choose, pool_spec
from harness.model import Model
from harness.ops import Expect, Op, Program

LIBFUZZER_MAX_LEN = 512
"""Bytes of one atheris input (`-max_len` of `atheris_engine.DEFAULT_LIBFUZZER_ARGS`)."""

MACHINE_STEPS = 30
"""Rules per Hypothesis sequence (`stateful_step_count` of the `ci` profile)."""

ACCESS_KINDS = ("write", "touch", "read", "grow", "size", "expect")
"""The kinds of the state machine's `access` rule."""


def atheris_programs(count: int, seed: int, max_ops: int = 40,
                     size: int = LIBFUZZER_MAX_LEN) -> list[Program]:
    """`count` programs decoded from `size` random bytes each, at most `max_ops` ops long."""
    rng = random.Random(seed)
    return [decode(rng.randbytes(size), max_ops) for _ in range(count)]


def hypothesis_programs(count: int, seed: int, steps: int = MACHINE_STEPS) -> list[Program]:
    """`count` programs of `steps` state-machine rules each."""
    rng = random.Random(seed)
    return [machine_program(rng.randbytes(16 * steps + 64), steps) for _ in range(count)]


def machine_program(data: bytes, steps: int) -> Program:
    """The program the state machine's rule mix makes from `data` (see the module docstring)."""
    choices = ByteChoices(data)
    pool = pool_spec(choices)
    model = Model(pool)
    builder = OpBuilder(model, choices)
    statements: list[Op] = []
    for _ in range(steps):
        op = _rule(builder, choices)
        if isinstance(op, Expect):
            model.observe(op)
        else:
            model.apply(op)
        builder.note(op)
        statements.append(op)
    return Program(tuple(statements), pool=pool)


def _rule(builder: OpBuilder, choices: ByteChoices) -> Op:
    """One rule of `PoolMachine`, among those that can run now."""
    model = builder.model
    rules = ["declare_module", "declare_shared"]
    if builder.live_modules():
        rules += ["instantiate", "drop"]
    if model.instances:
        rules += ["access", "deallocate"]
    if model.shared:
        rules.append("use_shared")
    rule = choose(choices, rules)
    if rule == "declare_module":
        return builder.module()
    if rule == "declare_shared":
        return builder.shared()
    if rule in ("instantiate", "drop"):
        return getattr(builder, rule)(builder.pick(builder.live_modules()))
    if rule == "use_shared":
        name = builder.pick(list(model.shared))
        return builder.shared_grow(name) if choices.integer(0, 1) else builder.shared_size(name)
    instance = builder.pick(list(model.instances))
    if rule == "deallocate":
        return builder.deallocate(instance)
    return getattr(builder, choose(choices, ACCESS_KINDS))(instance)
