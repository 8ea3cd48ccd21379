"""The nightly campaign: corpus replay, then engine workers on every core until the budget ends.

    result = nightly(budget=8 * 3600, workers=os.cpu_count(), targets=["reference"], out=Path("reports"))
    result.exit_status   # 0 clean, 1 findings, 2 harness error (128 + signal if interrupted clean)
    result.run.root      # reports/<date>-<id>/, with report.json and report.html

One supervisor process (this one) runs the campaign in a run folder (`layout.RunDir`), keeping
its books (`books`) and its worker slots (`workforce`):

1. Replays every `.ops` file of the corpus on every target, each in a forked child (`corpus`).
2. Starts `workers` worker processes (`worker`), slot i on the i-th (target, engine) pair in
   turn (`workforce`), and one triage process (`triage`). A worker's flight record says what it is running; when a worker
   dies (signal, exception), hangs (no progress on an op for `hang_timeout` s: killed) or passes
   `rss_limit_mb` (killed), its death becomes a finding (`deaths`) and a new worker takes the slot.
3. Every second it writes the run's state (`state`), and samples throughput, coverage and the
   processes' resources into the time series every few seconds.
4. The workers stop `STOP_MARGIN` seconds before the end of the budget — or, when findings wait
   for triage, `wrapup_seconds` before it, to give triage the cores. Triage finishes what it
   can; findings not minimized yet are saved as seen; the report (`report.json`,
   `report.html`) and a one-screen summary are written. All of it within the budget.

SIGINT or SIGTERM stops the run the same way, early (a second SIGINT stops it at once). Findings
are on the board the moment they are seen, so even `kill -9` loses none: `--resume DIR` finishes
their triage and runs the rest of the budget (the state charges time ahead: `state.LEASE`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import targets as target_registry
from harness.nightly import report_html, report_json, summary
from harness.nightly.books import Books
from harness.nightly.corpus import corpus_files, replay_corpus
from harness.nightly.engines import DEFAULT_ENGINES, engine_names
from harness.nightly.layout import RunDir
from harness.nightly.proc import cause_of, spawn_module
from harness.processes import kill, stop, tail
from harness.nightly.state import FINISHED, INTERRUPTED, RunState
from harness.nightly.triage import save_as_seen
from harness.nightly.workforce import GIVE_UP_AFTER, Workforce

TICK = 0.1
STOP_MARGIN = 1.5  # seconds before the deadline at which the workers stop at the latest


@dataclass
class NightlyResult:
    exit_status: int
    run: RunDir
    report: dict


def wrapup_seconds(budget: float) -> float:
    """The end of the budget given to triage instead of the workers when findings wait to be
    minimized: 5 %, between 4 s and 60 s."""
    return min(60.0, max(4.0, 0.05 * budget))


def nightly(
    budget: float,
    workers: int,
    targets: list[str],
    out: Path = Path("reports"),
    resume: Path | None = None,
    *,
    engine: str = DEFAULT_ENGINES,
    profile: str = "nightly",
    database: str | None = None,
    corpus: Path | None = Path("corpora"),
    hang_timeout: float = 30.0,
    rss_limit_mb: int | None = 2048,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> NightlyResult:
    """Run (or, with `resume`, continue) a nightly campaign; see the module docstring.

    With `resume`, the run's own settings (budget, targets, engine, timeouts) are kept; only the
    number of workers is taken from this call. Raises ValueError (or FileNotFoundError for a
    missing run) with a message for the person, before anything starts, for bad arguments."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1 (got {workers})")
    if resume is not None:
        run = RunDir(Path(resume))
        state = RunState.load(run.state)
        state.workers = workers
    else:
        check_arguments(budget, targets, engine, hang_timeout)
        run = RunDir.new(Path(out)).create()
        state = RunState(run.run_id, budget, list(targets), engine, profile, database, workers,
                         str(corpus) if corpus is not None else None, hang_timeout, rss_limit_mb)
        state.save(run.state)
    run.create()
    return Supervisor(run, state, log).run()


def check_arguments(budget: float, targets: list[str], engine: str, hang_timeout: float) -> None:
    if budget <= 0:
        raise ValueError(f"the budget must be positive (got {budget:g} s)")
    if not targets:
        raise ValueError("name at least one --target")
    known = target_registry.available()
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise ValueError(f"unknown target(s) {', '.join(unknown)}; available: {', '.join(known)}")
    engine_names(engine)
    if hang_timeout <= 0:
        raise ValueError(f"the hang timeout must be positive (got {hang_timeout:g} s)")


class Supervisor:
    """Runs one session of a run (see the module docstring). Single-threaded: it forks."""

    def __init__(self, run: RunDir, state: RunState, log: Callable[[str], None]) -> None:
        self.dir, self.state, self.log = run, state, log
        self.books = Books(run, state, log)
        self.started = self.books.started
        self.deadline = self.started + self.books.remaining
        self.wrapup_from = self.deadline - wrapup_seconds(state.budget)
        self.fuzz_stop = self.deadline - STOP_MARGIN
        self.workforce = Workforce(self.books, self.fuzz_stop)
        self.triage: subprocess.Popen | None = None
        self.triage_starts = 0
        self.stop_signal: int | None = None

    # -- the session ---------------------------------------------------------------------------

    def run(self) -> NightlyResult:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.workforce.fold_leftovers()
            self.log(f"poolfuzz nightly {self.dir.run_id}: {self.books.remaining:.0f} s of {self.state.budget:.0f} s "
                     f"left, {len(self.workforce.slots)} workers on {', '.join(self.state.targets)} ({self.dir.root})")
            self.book(force=True)
            if self.books.remaining > 0:
                self._replay_corpus()
                self._campaign()
            return self._finish()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.workforce.kill_all()
            if self.triage is not None:
                kill(self.triage)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (findings are on the board already)
        self.stop_signal = signum
        self.log(f"poolfuzz nightly: {signal.Signals(signum).name}: stopping; findings so far are kept")

    @property
    def stopping(self) -> bool:
        return self.stop_signal is not None

    def book(self, force: bool = False) -> None:
        processes = [(slot.name, slot.target, slot.process.pid) for slot in self.workforce.live()]
        processes += [("triage", None, self.triage.pid)] if self.triage is not None else []
        self.books.book(self.workforce.live_stats(), processes, force)

    def _replay_corpus(self) -> None:
        if self.state.corpus_results is not None:
            return
        files = corpus_files(Path(self.state.corpus) if self.state.corpus else None)
        if not files:
            self.state.corpus_results = []
            return
        self.log(f"replaying {len(files)} corpus files on {len(self.state.targets)} target(s)")
        results, complete = replay_corpus(
            files, self.state.targets, self.books.board, self.books.clock, parallel=len(self.workforce.slots),
            timeout=self.state.hang_timeout, rss_limit_mb=self.state.rss_limit_mb, tick=self.book,
            should_stop=lambda: self.stopping or time.monotonic() >= self.fuzz_stop)
        if complete:
            self.state.corpus_results = [r.to_json() for r in results]
        for result in results:
            if result.key is not None:
                self.state.hits[result.key] = self.state.hits.get(result.key, 0) + 1
        self.books.announce()

    def _campaign(self) -> None:
        self._start_triage()
        while not self.stopping and time.monotonic() < self.fuzz_stop:
            if time.monotonic() >= self.wrapup_from and self._triage_has_work():
                break  # the end of the budget goes to minimizing what was found
            self.workforce.tend()
            self._tend_triage()
            self.books.announce()
            self.book()
            time.sleep(TICK)
        self.workforce.stop(grace=max(0.2, min(1.0, self.deadline - time.monotonic() - 0.5)))
        while not self.stopping and time.monotonic() < self.deadline - 1.0 and self._triage_has_work():
            self._tend_triage()
            self.book()
            time.sleep(TICK)
        if self.triage is not None:
            stop(self.triage, grace=3.0)
            self.triage = None

    def _finish(self) -> NightlyResult:
        books = self.books
        for claim in books.board.pending():
            if claim.raw:
                save_as_seen(claim, self.dir, "the run ended before it was minimized")
        books.announce()
        self.state.status = INTERRUPTED if self.stopping else FINISHED
        self.state.end_session("interrupted" if self.stopping else "budget")
        books.sample([], [])
        books.save_state(final=True)
        report = report_json.build(self.dir, self.state, books.board.all(), books.series.load())
        problems = report_json.write(report, self.dir.report_json)
        if problems:
            books.error("report.json does not match its schema: " + "; ".join(problems))
            report["errors"], report["exit_status"] = self.state.errors, 2
            report_json.write(report, self.dir.report_json)
        report_html.write(report, self.dir.report_html)
        books.save_state(final=True)  # the report's time counts too
        status = report["exit_status"]
        if status == 0 and self.stopping:
            status = 128 + int(self.stop_signal or 0)
        print(summary.render(report, self.dir), flush=True)
        return NightlyResult(status, self.dir, report)

    # -- triage --------------------------------------------------------------------------------

    def _start_triage(self) -> None:
        stop_at = time.time() + (self.deadline - 0.5 - time.monotonic())
        args = ["--run", str(self.dir.root), "--stop-at", f"{stop_at:.6f}", "--timeout", f"{self.state.hang_timeout:g}",
                "--rss-limit-mb", str(self.state.rss_limit_mb or 0), "--parent", str(os.getpid()),
                "--claim-seconds", f"{max(self.state.budget / 10, 60.0):g}"]
        self.triage = spawn_module("harness.nightly.triage", args, self.dir.triage / "triage.log")
        self.triage_starts += 1

    def _tend_triage(self) -> None:
        """Replace a triage process that ended before its time (an error of the harness)."""
        if self.triage is None or (code := self.triage.poll()) is None:
            return
        self.triage = None
        if code != 0 or time.monotonic() < self.deadline - 1.0:
            log = tail(self.dir.triage / "triage.log", 15)
            self.books.error(f"the triage process ended ({cause_of(code)}); its last output:\n{log}")
            if self.triage_starts < GIVE_UP_AFTER and time.monotonic() < self.deadline - 1.0:
                self._start_triage()

    def _triage_has_work(self) -> bool:
        return self.triage is not None and any(c.raw for c in self.books.board.pending())
