"""A fuzzing campaign: generate sequences until the budget ends, turn divergences into findings.

Both engines report into one `Campaign` record; every divergence goes through `record`:
replayed without its `=>` annotations, minimized by delta debugging against the same signature
(each candidate replayed on a fresh target), annotated with the model's results, and saved
atomically as an `.ops` file (`harness.findings`). One finding per signature. Minimizing one
finding stops after `MINIMIZE_SECONDS` with the smallest reproducer reached by then, so a
campaign's end is bounded whatever it finds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import findings
from harness.divergence import Divergence
from harness.errors import InvalidProgram
from harness.expectations import expectations_of
from harness.executor import run
from harness.minimize import minimize
from harness.model.predict import with_predicted_results, without_any_results
from harness.ops import Program
from harness.targets import Target

MINIMIZE_SECONDS = 120.0
"""At most this long minimizing one finding (a long reproducer of slow ops can take minutes)."""


@dataclass
class Finding:
    signature: str
    path: Path
    ops: int  # statements in the saved reproducer
    seconds: float  # from the campaign's start to the detection
    description: str


@dataclass
class Campaign:
    """What a campaign did so far. `ops` and `sequences` count checked work (throughput)."""

    engine: str
    target: str
    mutant: str | None
    budget: float
    out: Path = findings.DEFAULT_DIR
    started: float = field(default_factory=time.monotonic)
    sequences: int = 0
    ops: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining(self) -> float:
        return self.budget - self.elapsed

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def sequences_per_second(self) -> float:
        return self.sequences / self.elapsed if self.elapsed > 0 else 0.0

    def knows(self, signature: str) -> bool:
        return any(f.signature == signature for f in self.findings)

    def summary(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "target": self.target,
            "mutant": self.mutant,
            "seconds": round(self.elapsed, 2),
            "sequences": self.sequences,
            "ops": self.ops,
            "ops_per_s": round(self.ops_per_second, 1),
            "sequences_per_s": round(self.sequences_per_second, 2),
            "findings": [
                {"signature": f.signature, "path": str(f.path), "ops": f.ops, "seconds": round(f.seconds, 2)}
                for f in self.findings
            ],
        }


def record(campaign: Campaign, divergence: Divergence, make_target: Callable[[], Target]) -> Finding:
    """Minimize, annotate and save one divergence; add it to the campaign's findings."""
    seconds = campaign.elapsed
    signature = divergence.signature

    def same_failure(candidate: Program) -> bool:
        """The candidate diverges on the same kind of op in the same observable (how the values
        differ may change as statements go: more faults or fewer, another slot)."""
        try:
            found = run(candidate, make_target()).divergence
        except InvalidProgram:  # a candidate whose removed op was needed for a later name
            return False
        return found is not None and (found.op_kind, found.observable) == (divergence.op_kind, divergence.observable)

    bare = without_any_results(divergence.reproducer)
    deadline = time.monotonic() + MINIMIZE_SECONDS
    small = minimize(bare, same_failure, deadline) if same_failure(bare) else divergence.reproducer
    reproducer = with_predicted_results(small, expectations_of(make_target(), small.pool_spec))
    replayed = run(reproducer, make_target()).divergence or divergence
    path = findings.save(replayed, reproducer, campaign.target, campaign.mutant, campaign.out, signature)
    finding = Finding(signature, path, len(reproducer.statements), seconds, replayed.describe())
    campaign.findings.append(finding)
    return finding
