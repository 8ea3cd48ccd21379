"""The mutation score: a fuzzing campaign against every seeded bug, each in its own process.

For each mutant, `poolfuzz fuzz --mutant NAME --budget B --json FILE` runs in a child process
(so a mutant that crashes or hangs the allocator costs only its own campaign), and its summary
says whether the bug was found, how long that took, and how long the saved reproducer is. Every
campaign starts from the same place: the atheris engine from a new corpus seeded from
`corpora/`, the Hypothesis engine without an example database.

A mutant no sequential program can reveal (`sequential=False`: a race, such as a shared memory
grown without its lock) is measured by the linearizability checker instead, whatever the engine:
`poolfuzz lincheck --mutant NAME --duration B` in a child, found when it reports a history no
sequential order explains; its reproducer is that report folder (history and timeline), not an
`.ops` file. The score counts both: found mutants / mutants.
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
    confirmed: bool | None = None  # the reproducer fails with the mutant and passes without (None: not found)
    sequences: int | None = None  # the campaign's throughput
    ops: int | None = None
    ops_per_s: float | None = None
    sequences_per_s: float | None = None


def catalogue(extra: str | None = None) -> dict[str, Mutant]:
    """The built-in mutants, plus those of the user's file `extra`."""
    mutants = dict(MUTANTS)
    if extra:
        mutants.update(load_mutants(extra))
    return mutants


def fuzz_command(name: str, engine: str, budget: float, out: Path, summary: Path, extra: str | None,
                 profile: str = "dev", corpus: Path | None = None) -> list[str]:
    """The `poolfuzz fuzz` command of one mutant's campaign. `corpus`: the atheris engine's
    corpus folder (a new one is seeded from `corpora/`)."""
    command = [sys.executable, "-m", "harness.cli", "fuzz", "--engine", engine, "--budget", f"{budget}s",
               "--mutant", name, "--database", "none", "--out", str(out), "--json", str(summary),
               "--profile", profile]
    return command + (["--mutants-from", extra] if extra else []) + (["--corpus", str(corpus)] if corpus else [])


def run_one(mutant: Mutant, engine: str, budget: float, out: Path, extra: str | None, profile: str = "dev") -> MutantResult:
    """One campaign in a child process; a child that dies is reported, never fatal."""
    if not mutant.sequential:
        return run_concurrent(mutant, budget, out)
    with tempfile.TemporaryDirectory(prefix="poolfuzz-mutant-") as tmp:
        summary = Path(tmp) / "summary.json"
        corpus = Path(tmp) / "corpus" if engine == "atheris" else None
        command = fuzz_command(mutant.name, engine, budget, out, summary, extra, profile, corpus)
        done = _run_bounded(command, budget)
        if done is None:
            return MutantResult(mutant.name, mutant.sequential, False, None, None, None,
                                f"campaign killed after {_bound(budget):.0f} s (budget {budget:g} s)")
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
        confirmed=confirm(mutant.name, Path(first["path"]), extra) if first else None,
        sequences=data["sequences"], ops=data["ops"], ops_per_s=data["ops_per_s"],
        sequences_per_s=data["sequences_per_s"],
    )


def lincheck_command(name: str, budget: float, out: Path) -> list[str]:
    """The `poolfuzz lincheck` command that measures the concurrent mutant `name` (one of the
    built-in catalogues: lincheck does not load a user's mutant file)."""
    return [sys.executable, "-m", "harness.cli", "lincheck", "--duration", f"{budget}s", "--mutant", name,
            "--out", str(out), "--every", "3600"]


def run_concurrent(mutant: Mutant, budget: float, out: Path) -> MutantResult:
    """Linearizability trials with `mutant` active, in a child process, for at most `budget` s."""
    folder = out / f"lincheck-{mutant.name}"
    done = _run_bounded(lincheck_command(mutant.name, budget, folder), budget)
    if done is None:
        return MutantResult(mutant.name, False, False, None, None, None,
                            f"lincheck killed after {_bound(budget):.0f} s (budget {budget:g} s)")
    summaries = sorted(folder.glob("*/summary.json"), key=lambda path: path.stat().st_mtime)
    if done.returncode not in (0, 1) or not summaries:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return MutantResult(mutant.name, False, False, None, None, None,
                            f"lincheck exited {done.returncode}: {' / '.join(tail)}")
    data = json.loads(summaries[-1].read_text())
    violations = sorted(summaries[-1].parent.glob("seed*/history.json"))  # the failing trial's report
    found = data["violation"] is not None and bool(violations)
    seconds = data["seconds"] or None
    return MutantResult(
        mutant.name, False, found, data["seconds"] if found else None, None,
        str(violations[0].parent) if found else None, "" if found else "no violation (lincheck)",
        sequences=data["trials"], ops=data["operations"],
        ops_per_s=round(data["operations"] / seconds, 1) if seconds else None,
        sequences_per_s=round(data["trials"] / seconds, 2) if seconds else None,
    )


def _bound(budget: float) -> float:
    """How long a campaign of `budget` seconds may take in all, minimization and start-up included."""
    return budget * 4 + 120


def _run_bounded(command: list[str], budget: float) -> subprocess.CompletedProcess | None:
    """Run `command` (killed past `_bound(budget)`: None)."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=_bound(budget))
    except subprocess.TimeoutExpired:
        return None


def replay_status(path: Path, mutant: str | None, extra: str | None = None) -> int:
    """Exit status of `poolfuzz replay --target reference [--mutant NAME] PATH`, in a child."""
    command = [sys.executable, "-m", "harness.cli", "replay", "--target", "reference", str(path), "-q"]
    command += (["--mutant", mutant] if mutant else []) + (["--mutants-from", extra] if extra else [])
    return subprocess.run(command, capture_output=True, timeout=300).returncode


def confirm(mutant: str, path: Path, extra: str | None = None) -> bool:
    """Whether the reproducer at `path` fails with `mutant` (status 1) and passes without (0)."""
    return replay_status(path, mutant, extra) == 1 and replay_status(path, None, extra) == 0


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
    """Found mutants / mutants (1.0 when there are none); concurrent ones count as lincheck found them."""
    return sum(r.found for r in results) / len(results) if results else 1.0


def report(results: list[MutantResult], engine: str, budget: float) -> dict[str, object]:
    return {
        "version": 1,
        "engine": engine,
        "budget_s": budget,
        "score": round(score(results), 4),
        "mutants": [asdict(r) for r in results],
    }
