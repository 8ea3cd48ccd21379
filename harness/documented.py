"""Whether a corpus file's divergence on a target is one of the target's documented differences.

A corpus file states results (`=>`, `expect`) as `docs/semantics.md` predicts them. On a target
with declared differences (`harness.expectations`, e.g. Wasmtime's), a file can fail only because
it states the semantics' value where the target legitimately does otherwise. Such a failure is
not a finding, and `explaining_differences` tells it from one that is:

    flags, why_not = explaining_differences(program, divergence, expectations, make_target)
    # flags: the `Expectations` fields that explain it (empty when they do not; `why_not` says why)

It is documented only if all of these hold:
1. the divergence is against the file's own statement (`source == "file"`), not the model's;
2. the model told the target's expectations predicts exactly what the target did there;
3. at least one declared difference, reset alone to the semantics' choice, predicts the file's
   value — the difference that explains it;
4. the program with every result predicted under the expectations passes on a fresh target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from harness.divergence import Divergence
from harness.executor import Executor, Outcome
from harness.expectations import SEMANTICS, Expectations
from harness.model import Model
from harness.model.predict import with_predicted_results, without_any_results
from harness.ops import Expect, Program, without_results
from harness.targets import Target


def run_expecting(program: Program, target: Target, expectations: Expectations) -> Outcome:
    """`harness.executor.run`, its model told `expectations` instead of the target's own."""
    executor = Executor(program, target)
    executor.model = Model(program.pool_spec, expectations)
    return executor.run()


def predicted_at(program: Program, index: int, expectations: Expectations) -> object:
    """What the model with `expectations` says statement `index` of `program` produces (or an
    `expect` reads); a `RuntimeError` if the model cannot get there."""
    model = Model(program.pool_spec, expectations)
    try:
        for op in program.statements[:index]:
            if not isinstance(op, Expect):
                model.apply(without_results(op))
        op = program.statements[index]
        return model.observe(op) if isinstance(op, Expect) else model.apply(without_results(op))
    except (KeyError, AssertionError) as err:
        return RuntimeError(f"model cannot reach statement {index + 1}: {err!r}")


def responsible_flags(program: Program, index: int, file_value: object, expectations: Expectations) -> tuple[str, ...]:
    """The declared differences which, each reset to docs/semantics.md alone, make the model
    predict the file's value at statement `index`."""
    found = []
    for name in expectations.differences():
        alone = dataclasses.replace(expectations, **{name: getattr(SEMANTICS, name)})
        if predicted_at(program, index, alone) == file_value:
            found.append(name)
    return tuple(found)


def explaining_differences(program: Program, divergence: Divergence, expectations: Expectations,
                           make_target: Callable[[], Target]) -> tuple[tuple[str, ...], str]:
    """`(flags, "")` when `divergence` is a documented difference (see the module docstring),
    else `((), why not)`. Runs the program once more on `make_target()` for condition 4."""
    if divergence.source != "file":
        return (), "the model itself disagrees with the target"
    if predicted_at(program, divergence.index, expectations) != divergence.observed:
        return (), "the target's declared differences do not predict what it did"
    flags = responsible_flags(program, divergence.index, divergence.expected, expectations)
    if not flags:
        return (), "no declared difference explains the file's value"
    predicted = with_predicted_results(without_any_results(program), expectations)
    again = run_expecting(predicted, make_target(), expectations)
    if not again.passed:
        return (), "with predicted results: " + (again.skipped or again.divergence.describe())
    return flags, ""
