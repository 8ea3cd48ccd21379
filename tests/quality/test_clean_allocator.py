"""Without a mutant, the reference allocator passes every file the mutant tests replay."""

from __future__ import annotations

from harness import replay

from .replaying import CORPUS, programs_for, run


def test_clean_allocator_passes_every_file() -> None:
    files = CORPUS + programs_for()
    assert len(CORPUS) >= 30
    failures = []
    for path in files:
        result = run(path)
        if result.status != replay.PASSED:
            divergence = result.outcome.divergence if result.outcome else None
            failures.append(divergence.describe() if divergence else f"{path}: {result.status} {result.error}")
    assert not failures, "\n".join(failures)
