"""The nightly campaign: corpus replay, then engine workers on every core until the budget ends.

    result = nightly(budget=8 * 3600, workers=os.cpu_count(), targets=["reference"], out=Path("reports"))
    result.exit_status   # 0 clean, 1 findings, 2 harness error (128 + signal if interrupted clean)
    result.run.root      # reports/<date>-<id>/, with report.json and report.html

One supervisor process (this one) runs the campaign in a run folder (`layout.RunDir`):

1. Replays every `.ops` file of the corpus on every target, each in a forked child (`corpus`).
2. Starts `workers` worker processes (`worker`), slot i on target i mod len(targets), and one
   triage process (`triage`). A worker's flight record says what it is running; when a worker
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
from dataclasses import dataclass, field
from pathlib import Path

from harness import targets as target_registry
from harness.nightly import report_html, report_json, summary
from harness.nightly.board import Board
from harness.nightly.corpus import corpus_files, replay_corpus
from harness.nightly.deaths import examine
from harness.nightly.engines import engine_named
from harness.nightly.flight import read_flight
from harness.nightly.layout import RunDir, WorkerFiles
from harness.nightly.proc import cause_of, kill, spawn_module, stop, tail
from harness.nightly.sampler import Sampler
from harness.nightly.state import FINISHED, INTERRUPTED, RunState, Series
from harness.nightly.triage import save_as_seen
from harness.nightly.worker import read_stats

TICK = 0.1
STATE_EVERY = 1.0
STOP_MARGIN = 1.5  # seconds before the deadline at which the workers stop at the latest
RESTART_WINDOW = 10.0  # seconds: deaths of one slot closer than this slow its restarts down
GIVE_UP_AFTER = 5  # consecutive harness errors of one slot


@dataclass
class NightlyResult:
    exit_status: int
    run: RunDir
    report: dict


def wrapup_seconds(budget: float) -> float:
    """The end of the budget given to triage instead of the workers when findings wait to be
    minimized: 5 %, between 4 s and 60 s."""
    return min(60.0, max(4.0, 0.05 * budget))


def sample_interval(budget: float) -> float:
    """Seconds between samples: about 400 samples a run, and at most one a second."""
    return max(1.0, budget / 400)


def nightly(
    budget: float,
    workers: int,
    targets: list[str],
    out: Path = Path("reports"),
    resume: Path | None = None,
    *,
    engine: str = "hypothesis",
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
    engine_named(engine)
    if hang_timeout <= 0:
        raise ValueError(f"the hang timeout must be positive (got {hang_timeout:g} s)")


@dataclass
class Slot:
    """One worker slot: the successive worker processes of one target."""

    index: int
    target: str
    files: WorkerFiles
    process: subprocess.Popen | None = None  # while a worker runs
    starts: int = 0
    next_start: float = 0.0
    deaths: list[float] = field(default_factory=list)  # monotonic times
    errors_in_row: int = 0
    retired: bool = False

    @property
    def name(self) -> str:
        return f"worker {self.index}"


class Supervisor:
    """Runs one session of a run (see the module docstring). Single-threaded: it forks."""

    def __init__(self, run: RunDir, state: RunState, log: Callable[[str], None]) -> None:
        self.dir, self.state, self.log = run, state, log
        self.board = Board(run.claims)
        self.series = Series(run.series)
        self.sampler = Sampler()
        self.remaining = state.remaining
        self.start_at = state.begin_session()
        self.started = time.monotonic()
        self.deadline = self.started + self.remaining
        self.wrapup_from = self.deadline - wrapup_seconds(state.budget)
        self.fuzz_stop = self.deadline - STOP_MARGIN
        self.every = sample_interval(state.budget)
        self.slots = [Slot(i, state.targets[i % len(state.targets)], run.worker(i).create()) for i in range(state.workers)]
        self.triage: subprocess.Popen | None = None
        self.triage_starts = 0
        self.features = set(state.features)
        self.stop_signal: int | None = None
        self.last_state = self.last_sample = -1e9
        self.last_status = time.monotonic()
        self.announced = {c.key for c in self.board.all()}

    # -- the session ---------------------------------------------------------------------------

    def run(self) -> NightlyResult:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._fold_leftovers()
            self.log(f"poolfuzz nightly {self.dir.run_id}: {self.remaining:.0f} s of {self.state.budget:.0f} s left, "
                     f"{len(self.slots)} workers on {', '.join(self.state.targets)} ({self.dir.root})")
            self.book(force=True)
            if self.remaining > 0:
                self._replay_corpus()
                self._campaign()
            return self._finish()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._kill_all()

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (findings are on the board already)
        self.stop_signal = signum
        self.log(f"poolfuzz nightly: {signal.Signals(signum).name}: stopping; findings so far are kept")

    @property
    def stopping(self) -> bool:
        return self.stop_signal is not None

    def clock(self) -> float:
        """Campaign seconds now (earlier sessions included)."""
        return self.start_at + (time.monotonic() - self.started)

    def wall(self, monotonic: float) -> float:
        """The `time.time()` of a `time.monotonic()` value."""
        return time.time() + (monotonic - time.monotonic())

    def _replay_corpus(self) -> None:
        if self.state.corpus_results is not None:
            return
        files = corpus_files(Path(self.state.corpus) if self.state.corpus else None)
        if not files:
            self.state.corpus_results = []
            return
        self.log(f"replaying {len(files)} corpus files on {len(self.state.targets)} target(s)")
        results, complete = replay_corpus(
            files, self.state.targets, self.board, self.clock, parallel=len(self.slots),
            timeout=self.state.hang_timeout, rss_limit_mb=self.state.rss_limit_mb, tick=self.book,
            should_stop=lambda: self.stopping or time.monotonic() >= self.fuzz_stop)
        if complete:
            self.state.corpus_results = [r.to_json() for r in results]
        self._announce()

    def _campaign(self) -> None:
        self._start_triage()
        while not self.stopping and time.monotonic() < self.fuzz_stop:
            if time.monotonic() >= self.wrapup_from and self._triage_has_work():
                break  # the end of the budget goes to minimizing what was found
            for slot in self.slots:
                self._tend(slot)
            self._tend_triage()
            self._announce()
            self.book()
            time.sleep(TICK)
        self._stop_workers()
        while not self.stopping and time.monotonic() < self.deadline - 1.0 and self._triage_has_work():
            self._tend_triage()
            self.book()
            time.sleep(TICK)
        self._stop_triage()

    def _finish(self) -> NightlyResult:
        for claim in self.board.pending():
            if claim.raw:
                save_as_seen(claim, self.dir, "the run ended before it was minimized")
        self._announce()
        self.state.status = INTERRUPTED if self.stopping else FINISHED
        self.state.end_session("interrupted" if self.stopping else "budget")
        self.book(force=True, final=True)
        report = report_json.build(self.dir, self.state, self.board.all(), self.series.load())
        problems = report_json.write(report, self.dir.report_json)
        if problems:
            self.state.errors.append({"seconds": round(self.clock(), 3), "message": "report.json does not match the schema: " + "; ".join(problems)})
            report["errors"] = self.state.errors
            report["exit_status"] = 2
            report_json.write(report, self.dir.report_json)
        report_html.write(report, self.dir.report_html)
        self.book(force=True, final=True)
        status = report["exit_status"]
        if status == 0 and self.stopping:
            status = 128 + int(self.stop_signal or 0)
        print(summary.render(report, self.dir), flush=True)
        return NightlyResult(status, self.dir, report)

    # -- workers ---------------------------------------------------------------------------------

    def _start(self, slot: Slot) -> None:
        slot.files.stats.unlink(missing_ok=True)
        slot.files.flight.unlink(missing_ok=True)  # the previous worker's record was examined at its death
        args = ["--run", str(self.dir.root), "--slot", str(slot.index), "--target", slot.target,
                "--engine", self.state.engine, "--stop-at", f"{self.wall(self.fuzz_stop):.6f}",
                "--clock-zero", f"{time.time() - self.clock():.6f}", "--profile", self.state.profile,
                "--parent", str(os.getpid())]
        if self.state.database:
            args += ["--database", self.state.database]
        if self.state.corpus:
            args += ["--corpus", self.state.corpus]
        slot.process = spawn_module("harness.nightly.worker", args, slot.files.log)
        slot.starts += 1

    def _tend(self, slot: Slot) -> None:
        """Start, watch or replace the worker of `slot`."""
        process = slot.process
        if process is None:
            if not slot.retired and time.monotonic() >= slot.next_start and time.monotonic() < self.fuzz_stop - 1.0:
                self._start(slot)
            return
        code = process.poll()
        if code is not None:
            self._ended(slot, code, None)
            return
        flight = slot.files.flight
        try:
            stale = time.time() - flight.stat().st_mtime > self.state.hang_timeout
        except FileNotFoundError:
            stale = False
        if stale and (record := read_flight(flight)) is not None and record.in_flight:
            self.log(f"{slot.name} ({slot.target}) made no progress for {self.state.hang_timeout:g} s on `{record.last_op}`: killing it")
            self._ended(slot, kill(process, dump=True), "timeout")
            return
        limit = self.state.rss_limit_mb
        if limit and self.sampler.rss(process.pid) > limit * 1024 * 1024:
            self.log(f"{slot.name} ({slot.target}) passed {limit} MiB resident: killing it")
            self._ended(slot, kill(process), "oom")

    def _ended(self, slot: Slot, code: int, killed_for: str | None, stopping: bool = False) -> None:
        """Take in the end of the slot's worker: its counters, and what its death means."""
        self._fold(slot.files)
        self.sampler.forget(slot.process.pid)
        slot.process = None
        if stopping and killed_for is None and code in (0, -signal.SIGTERM, -signal.SIGKILL):
            return
        death = examine(slot.files, code, killed_for, slot.target, self.clock(), slot.name)
        now = time.monotonic()
        if death.claim is not None:
            claim = death.claim
            self.state.deaths.append({"seconds": round(self.clock(), 3), "slot": slot.index, "target": slot.target,
                                      "cause": claim.cause, "signature": claim.signature})
            self.state.hits[claim.key] = self.state.hits.get(claim.key, 0) + 1
            self.board.claim(claim)
            slot.errors_in_row = 0
        elif death.error is not None:
            self._error(death.error)
            slot.errors_in_row += 1
            if slot.errors_in_row >= GIVE_UP_AFTER:
                slot.retired = True
                self._error(f"{slot.name} ({slot.target}) is not restarted after {GIVE_UP_AFTER} errors in a row")
        slot.deaths = [t for t in slot.deaths if now - t < RESTART_WINDOW] + [now]
        crowded = len(slot.deaths) - 2
        slot.next_start = now + (min(30.0, 2.0 ** crowded) if crowded > 0 else 0.0) + (1.0 if death.clean else 0.0)

    def _stop_workers(self) -> None:
        """Ask every worker to stop (SIGTERM: they publish their counters and exit), then end
        those that do not within a short grace."""
        grace_until = time.monotonic() + max(0.2, min(1.0, self.deadline - time.monotonic() - 0.5))
        for slot in self.slots:
            if slot.process is not None:
                slot.process.terminate()
        for slot in self.slots:
            process = slot.process
            if process is None:
                continue
            try:
                process.wait(max(grace_until - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            self._ended(slot, stop(process, grace=0.5), None, stopping=True)

    def _fold(self, files: WorkerFiles) -> None:
        """Add the counters of a worker process that ended to the run's totals."""
        stats = read_stats(files.stats)
        files.stats.unlink(missing_ok=True)
        if stats is None:
            return
        self.state.totals["sequences"] += int(stats.get("sequences", 0))
        self.state.totals["ops"] += int(stats.get("ops", 0))
        for key, count in stats.get("hits", {}).items():
            self.state.hits[key] = self.state.hits.get(key, 0) + int(count)
        self.features.update(stats.get("features", []))
        if stats.get("coverage") is not None:
            self.state.coverage = max(self.state.coverage or 0, int(stats["coverage"]))

    def _fold_leftovers(self) -> None:
        """Counters left by the workers of a session that was killed."""
        for folder in sorted(self.dir.workers.glob("*")):
            self._fold(WorkerFiles(folder))

    # -- triage --------------------------------------------------------------------------------

    def _start_triage(self) -> None:
        args = ["--run", str(self.dir.root), "--stop-at", f"{self.wall(self.deadline - 0.5):.6f}",
                "--timeout", f"{self.state.hang_timeout:g}", "--rss-limit-mb", str(self.state.rss_limit_mb or 0),
                "--claim-seconds", f"{max(self.state.budget / 10, 60.0):g}", "--parent", str(os.getpid())]
        self.triage = spawn_module("harness.nightly.triage", args, self.dir.triage / "triage.log")
        self.triage_starts += 1

    def _tend_triage(self) -> None:
        if self.triage is None:
            return
        code = self.triage.poll()
        if code is None:
            return
        self.triage = None
        if code != 0 or time.monotonic() < self.deadline - 1.0:
            self._error(f"the triage process ended ({cause_of(code)}); its last output:\n{tail(self.dir.triage / 'triage.log', 15)}")
            if self.triage_starts < GIVE_UP_AFTER and time.monotonic() < self.deadline - 1.0:
                self._start_triage()

    def _triage_has_work(self) -> bool:
        return self.triage is not None and any(c.raw for c in self.board.pending())

    def _stop_triage(self) -> None:
        if self.triage is not None:
            stop(self.triage, grace=3.0)
            self.triage = None

    def _kill_all(self) -> None:
        for slot in self.slots:
            if slot.process is not None:
                kill(slot.process)
                slot.process = None
        if self.triage is not None:
            kill(self.triage)
            self.triage = None

    # -- books -----------------------------------------------------------------------------------

    def _error(self, message: str) -> None:
        self.state.errors.append({"seconds": round(self.clock(), 3), "message": message})
        self.log(f"harness error: {message}")

    def _announce(self) -> None:
        """Log each finding once, when first seen."""
        for claim in self.board.all():
            if claim.key not in self.announced:
                self.announced.add(claim.key)
                self.log(f"finding {claim.signature} on {claim.target} at {claim.seconds:.1f} s ({claim.source}; "
                         f"{claim.raw_ops} statements as seen)")

    def live_stats(self) -> list[dict]:
        return [s for s in (read_stats(slot.files.stats) for slot in self.slots if slot.process is not None) if s]

    def book(self, force: bool = False, final: bool = False) -> None:
        """Write the state (every second) and a sample (every `self.every` seconds)."""
        now = time.monotonic()
        if force or now - self.last_sample >= self.every:
            self.last_sample = now
            self._sample()
        if force or now - self.last_state >= STATE_EVERY:
            self.last_state = now
            self.state.features = sorted(self.features)
            self.state.charge(self.start_at, now - self.started, final=final)
            self.state.save(self.dir.state)
        if not final and now - self.last_status >= max(10.0, self.state.budget / 20):
            self.last_status = now
            self.log(summary.status_line(self.state, self.totals(), len(self.board.all()), self.clock()))

    def totals(self) -> dict[str, int]:
        live = self.live_stats()
        features = set(self.features)
        for stats in live:
            features.update(stats.get("features", []))
        coverage = [s["coverage"] for s in live if s.get("coverage") is not None] + ([self.state.coverage] if self.state.coverage else [])
        return {
            "sequences": self.state.totals["sequences"] + sum(int(s.get("sequences", 0)) for s in live),
            "ops": self.state.totals["ops"] + sum(int(s.get("ops", 0)) for s in live),
            "features": len(features),
            "coverage": max(coverage) if coverage else None,
        }

    def _sample(self) -> None:
        processes = [(slot.name, slot.target, slot.process) for slot in self.slots if slot.process is not None]
        if self.triage is not None:
            processes.append(("triage", None, self.triage))
        usage = []
        for name, target, process in processes:
            used = self.sampler.usage(process.pid)
            if used is not None:
                usage.append({"name": name, "target": target, "pid": process.pid, **used.to_json()})
        totals = self.totals()
        self.series.append({"t": round(self.clock(), 3), "sequences": totals["sequences"], "ops": totals["ops"],
                            "features": totals["features"], "coverage": totals["coverage"],
                            "findings": len(self.board.all()), "processes": usage})
