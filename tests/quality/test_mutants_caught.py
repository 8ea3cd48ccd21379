"""Every sequential mutant makes some file diverge, and the divergence says where and what.

A mutant that no corpus file catches gets a program of its own in `programs/NAME.ops`; the
mutant itself is never weakened to be caught.
"""

from __future__ import annotations

import pytest

from harness.mutants import MUTANTS

from .replaying import CORPUS, first_divergence, programs_for

SEQUENTIAL = sorted(name for name, mutant in MUTANTS.items() if mutant.sequential)


@pytest.mark.parametrize("name", SEQUENTIAL)
def test_sequential_mutant_is_caught(name: str) -> None:
    caught = first_divergence(name, CORPUS + programs_for(name))
    assert caught is not None, f"no corpus file, and no program of tests/quality/programs, catches {name}"
    path, divergence = caught
    assert divergence.line > 0 and divergence.op_text, f"{path.name}: the divergence names no op"
    assert divergence.observable, f"{path.name}: the divergence names no observable"
    assert divergence.expected != divergence.observed, divergence.describe()
