"""Every `.ops` file under `corpora/` is a test case: it must pass on the reference allocator.

Adding a file adds a test. A file that diverges fails with the divergence's description; a file
that is skipped on the reference target is a failure too (the reference honours every key).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import replay
from harness.targets import make_target

CORPORA = Path(__file__).resolve().parents[2] / "corpora"
FILES = sorted(CORPORA.rglob("*.ops"))


def test_the_corpus_is_not_empty() -> None:
    assert len(list((CORPORA / "regression").glob("*.ops"))) >= 30


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPORA)) for p in FILES])
def test_corpus_file_passes_on_reference(path: Path) -> None:
    result = replay.replay_file(path, lambda: make_target("reference"))
    if result.status == replay.MALFORMED:
        pytest.fail(result.error)
    assert result.status != replay.SKIPPED, f"reference skipped {path}: {result.error}"
    assert result.outcome is not None
    divergence = result.outcome.divergence
    assert divergence is None, divergence.describe()
