"""Linearizability campaigns: trial after trial until a time budget ends or one fails.

    report = run(duration=600, seed=0, out=Path("reports/lincheck"))
    report.violation        # None, or the first failing trial, with its report folder

Trial `n` runs `trial.plan(seed + n)` (`harness.stress.trial`). A failing trial (a history no
sequential order explains, a hang, a failed teardown) ends the campaign; its report folder
holds `history.json`, `timeline.html` (`harness.stress.timeline`) and `report.txt`. Trials
that show only the known deviation (`harness.stress.trial`, "A known deviation") are counted
apart and the first one's report is written under `OUT/deviations/`; `strict` makes them fail
the campaign too.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.mutants import activate
from harness.stress import timeline
from harness.stress.history import save
from harness.stress.linearizability import UNKNOWN
from harness.stress.mutants import lookup
from harness.stress.trial import DEVIATION, Trial, plan, run_trial


@dataclass
class Violation:
    """The first failing trial of a campaign, and where its report was written."""

    trial: Trial
    number: int
    seconds: float
    folder: Path

    def describe(self) -> str:
        what = ("no sequential order explains the history" if not self.trial.problem
                else self.trial.problem)
        return (f"trial {self.number} (seed {self.trial.plan.seed}) after {self.seconds:.1f} s: "
                f"{what}; report: {self.folder}")


@dataclass
class LincheckReport:
    """What a campaign came to (`run`)."""

    trials: int = 0
    operations: int = 0
    seconds: float = 0.0
    undecided: int = 0  # partitions the search gave up on
    deviations: int = 0  # trials showing only the known deviation
    first_deviation: Path | None = None
    mutant: str | None = None
    violation: Violation | None = None
    stopped: bool = False  # asked to stop before its budget ended

    @property
    def ok(self) -> bool:
        return self.violation is None

    def summary(self) -> dict[str, object]:
        return {
            "trials": self.trials, "operations": self.operations,
            "seconds": round(self.seconds, 2), "undecided_partitions": self.undecided,
            "deviations": self.deviations,
            "first_deviation": str(self.first_deviation) if self.first_deviation else None,
            "mutant": self.mutant, "ok": self.ok, "stopped": self.stopped,
            "violation": self.violation.describe() if self.violation else None,
        }

    def describe(self) -> str:
        rate = self.operations / self.seconds if self.seconds else 0.0
        head = (f"{self.trials} trials, {self.operations} operations in {self.seconds:.1f} s "
                f"({rate:.0f} ops/s), {self.undecided} undecided partitions"
                + ("; stopped early" if self.stopped else ""))
        if self.deviations:
            head += (f"; {self.deviations} trials showed only the known deviation, "
                     f"{DEVIATION} (first: {self.first_deviation})")
        if self.violation is None:
            return head + "; all linearizable"
        return f"{head}\n{self.violation.describe()}"


def run(duration: float, seed: int = 0, threads: int = 4, out: Path = Path("reports/lincheck"),
        mutant: str | None = None, max_trials: int | None = None, strict: bool = False,
        progress: Callable[[LincheckReport], None] | None = None,
        stop: Callable[[], bool] | None = None) -> LincheckReport:
    """Trials of seeds `seed, seed + 1, ...` until `duration` seconds pass or one fails.

    `mutant` names a seeded bug (`harness.stress.mutants.lookup`) active for the whole run. A
    failing trial's report (history JSON, HTML timeline, text) goes under `out`. `strict`
    fails on the known deviation too (module docstring). `stop`, asked between trials, ends
    the campaign early when it returns True (`LincheckReport.stopped`).
    """
    report = LincheckReport(mutant=mutant)
    started = time.monotonic()
    bug = activate(lookup(mutant)) if mutant else contextlib.nullcontext()
    with bug:
        for number in itertools.count():
            if time.monotonic() - started >= duration or number == max_trials:
                break
            if stop is not None and stop():
                report.stopped = True
                break
            trial = run_trial(plan(seed + number, threads))
            report.trials += 1
            report.operations += len(trial.history)
            report.undecided += sum(p.verdict == UNKNOWN for p in (trial.result.partitions
                                                                    if trial.result else []))
            report.seconds = time.monotonic() - started
            if trial.deviation and trial.ok:
                report.deviations += 1
                if report.first_deviation is None:
                    report.first_deviation = write_report(
                        trial, out / "deviations" / f"seed{trial.plan.seed}", mutant)
            if not trial.ok or (strict and trial.deviation):
                folder = write_report(trial, out / f"seed{trial.plan.seed}", mutant)
                report.violation = Violation(trial, number, report.seconds, folder)
                break
            if progress is not None:
                progress(report)
    report.seconds = time.monotonic() - started
    return report


def write_report(trial: Trial, folder: Path, mutant: str | None = None) -> Path:
    """Writes `history.json`, `timeline.html` and `report.txt` of a trial into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    save(trial.history, folder / "history.json")
    lines = [f"trial plan: {asdict(trial.plan)}", f"mutant: {mutant or 'none'}"]
    if trial.deviation:
        lines.append(f"known deviation: {DEVIATION}; explained once slots may be freed late")
    if trial.problem:
        lines += [f"problem: {trial.problem}", trial.details]
    if trial.result is not None and not trial.result.ok:
        lines.append(trial.result.explain())
    notes = "\n".join(lines)
    (folder / "report.txt").write_text(notes + "\n")
    if trial.result is not None:
        timeline.write(trial.result, folder / "timeline.html",
                       f"linearizability trial, seed {trial.plan.seed}", notes)
    return folder
