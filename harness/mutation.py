"""The mutation score: a fuzzing campaign against every seeded bug, each in its own process.

For each mutant, `poolfuzz fuzz --mutant NAME --budget B --json FILE` runs in a child process
(so a mutant that crashes or hangs the allocator costs only its own campaign), and its summary
says whether the bug was found, how long that took, and how long the saved reproducer is. The
score is the share of *sequential* mutants found: the others (`sequential=False`) need concurrent
checks and are listed but not counted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.mutants import MUTANTS, Mutant, load_mutants


@dataclass
class MutantResult:
    name: str
    sequential: bool
    found: bool
    seconds: float | None  # to the first detection
    reproducer_ops: int | None
    reproducer: str | None
    error: str = ""


def catalogue(extra: str | None = None) -> dict[str, Mutant]:
    """The built-in mutants, plus those of the user's file `extra`."""
    mutants = dict(MUTANTS)
    if extra:
        mutants.update(load_mutants(extra))
    return mutants


def fuzz_command(name: str, engine: str, budget: float, out: Path, summary: Path, extra: str | None, profile: str = "dev") -> list[str]:
    command = [sys.executable, "-m", "harness.cli", "fuzz", "--engine", engine, "--budget", f"{budget}s",
               "--mutant", name, "--database", "none", "--out", str(out), "--json", str(summary),
               "--profile", profile]
    return command + (["--mutants-from", extra] if extra else [])


def run_one(mutant: Mutant, engine: str, budget: float, out: Path, extra: str | None, profile: str = "dev") -> MutantResult:
    """One campaign in a child process; a child that dies is reported, never fatal."""
    with tempfile.TemporaryDirectory(prefix="poolfuzz-mutant-") as tmp:
        summary = Path(tmp) / "summary.json"
        command = fuzz_command(mutant.name, engine, budget, out, summary, extra, profile)
        done = subprocess.run(command, capture_output=True, text=True, timeout=budget * 4 + 120)
        if not summary.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return MutantResult(mutant.name, mutant.sequential, False, None, None, None,
                                f"campaign exited {done.returncode}: {' / '.join(tail)}")
        data = json.loads(summary.read_text())
    first = data["findings"][0] if data["findings"] else None
    return MutantResult(
        mutant.name,
        mutant.sequential,
        first is not None,
        first["seconds"] if first else None,
        first["ops"] if first else None,
        first["path"] if first else None,
    )


def run_all(
    mutants: Iterable[Mutant],
    engine: str,
    budget: float,
    out: Path,
    extra: str | None = None,
    on_result: Callable[[MutantResult], None] = lambda r: None,
    profile: str = "dev",
) -> list[MutantResult]:
    results = []
    for mutant in mutants:
        result = run_one(mutant, engine, budget, out, extra, profile)
        on_result(result)
        results.append(result)
    return results


def score(results: list[MutantResult]) -> float:
    """Found sequential mutants / sequential mutants (1.0 when there are none)."""
    counted = [r for r in results if r.sequential]
    return sum(r.found for r in counted) / len(counted) if counted else 1.0


def report(results: list[MutantResult], engine: str, budget: float) -> dict[str, object]:
    return {
        "version": 1,
        "engine": engine,
        "budget_s": budget,
        "score": round(score(results), 4),
        "mutants": [asdict(r) for r in results],
    }
