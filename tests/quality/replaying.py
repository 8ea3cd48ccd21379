"""Replaying `.ops` files on the reference allocator, with or without a mutant active.

The files are the regression corpus, then the programs of this folder (`programs/NAME.ops`,
written for a mutant that no corpus file catches).
"""

from __future__ import annotations

from pathlib import Path

from harness import mutants, replay
from harness.divergence import Divergence
from harness.targets import make_target

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((ROOT / "corpora" / "regression").glob("*.ops"))
PROGRAMS = Path(__file__).resolve().parent / "programs"


def programs_for(mutant: str | None = None) -> list[Path]:
    """This folder's programs: the one written for `mutant`, or all of them."""
    return sorted(PROGRAMS.glob(f"{mutant or '*'}.ops"))


def run(path: Path) -> replay.FileResult:
    """`path` replayed on a fresh reference target; an exception escaping it fails the test."""
    try:
        return replay.replay_file(path, lambda: make_target("reference"))
    except Exception as err:  # a crash is no divergence: the harness must report, not raise
        raise AssertionError(f"replaying {path.name} raised {type(err).__name__}: {err}") from err


def first_divergence(mutant: str, files: list[Path]) -> tuple[Path, Divergence] | None:
    """The first file of `files` that diverges with `mutant` active, and its divergence."""
    with mutants.activate(mutant):
        for path in files:
            result = run(path)
            assert result.status != replay.MALFORMED, f"{path.name}: {result.error}"
            if result.status == replay.FAILED:
                assert result.outcome is not None and result.outcome.divergence is not None
                return path, result.outcome.divergence
    return None
