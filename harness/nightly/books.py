"""The books of a session: campaign clock, counters, errors, state writes and samples.

The supervisor's one place of record. Counters of worker processes that ended are folded into
the run's state (`fold`); the counters of live workers are read from their stats files whenever
totals are needed, so nothing is counted twice. `save_state` charges the session's time with the
lease (`state.LEASE`) except at the very end (`final`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.nightly.board import Board
from harness.nightly.layout import RunDir, WorkerFiles
from harness.nightly.sampler import Sampler
from harness.nightly.state import RunState, Series
from harness.nightly.summary import status_line
from harness.nightly.worker import read_stats

STATE_EVERY = 1.0  # seconds between state writes (less than state.LEASE)


def sample_interval(budget: float) -> float:
    """Seconds between samples: about 400 samples a run, and at most one a second."""
    return max(1.0, budget / 400)


class Books:
    """See the module docstring. `clock()` is campaign seconds, earlier sessions included."""

    def __init__(self, run: RunDir, state: RunState, log: Callable[[str], None]) -> None:
        self.run, self.state, self.log = run, state, log
        self.board = Board(run.claims)
        self.series = Series(run.series)
        self.sampler = Sampler()
        self.remaining = state.remaining
        self.start_at = state.begin_session()
        self.started = time.monotonic()
        self.features = set(state.features)
        self.every = sample_interval(state.budget)
        self.last_state = self.last_sample = -1e9
        self.last_status = time.monotonic()
        self.announced = {c.key for c in self.board.all()}

    def clock(self) -> float:
        return self.start_at + (time.monotonic() - self.started)

    def error(self, message: str) -> None:
        """Record an error of the harness (it makes the exit status 2)."""
        self.state.errors.append({"seconds": round(self.clock(), 3), "message": message})
        self.log(f"harness error: {message}")

    def death(self, slot: int, target: str, cause: str | None, signature: str, key: str) -> None:
        self.state.deaths.append({"seconds": round(self.clock(), 3), "slot": slot, "target": target,
                                  "cause": cause, "signature": signature})
        self.state.hits[key] = self.state.hits.get(key, 0) + 1

    def fold(self, files: WorkerFiles) -> None:
        """Add the counters of a worker process that ended to the run's totals (once: the
        stats file is removed)."""
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

    def totals(self, live: list[dict]) -> dict:
        """The run's counters with those of the live workers (`live`: their stats)."""
        features = set(self.features).union(*(s.get("features", []) for s in live))
        coverage = [s["coverage"] for s in live if s.get("coverage") is not None]
        coverage += [self.state.coverage] if self.state.coverage else []
        return {
            "sequences": self.state.totals["sequences"] + sum(int(s.get("sequences", 0)) for s in live),
            "ops": self.state.totals["ops"] + sum(int(s.get("ops", 0)) for s in live),
            "features": len(features),
            "coverage": max(coverage) if coverage else None,
        }

    def book(self, live: list[dict], processes: list[tuple[str, str | None, int]], force: bool = False) -> None:
        """Write the state (every second), a sample (every `self.every` seconds) and a status
        line (every twentieth of the budget, at most every 10 s). `processes` are (name,
        target, pid) of the processes to sample."""
        now = time.monotonic()
        if force or now - self.last_sample >= self.every:
            self.sample(live, processes)
        if force or now - self.last_state >= STATE_EVERY:
            self.save_state()
        if now - self.last_status >= max(10.0, self.state.budget / 20):
            self.last_status = now
            self.log(status_line(self.state, self.totals(live), len(self.board.all()), self.clock()))

    def sample(self, live: list[dict], processes: list[tuple[str, str | None, int]]) -> None:
        self.last_sample = time.monotonic()
        usage = []
        for name, target, pid in processes:
            used = self.sampler.usage(pid)
            if used is not None:
                usage.append({"name": name, "target": target, "pid": pid, **used.to_json()})
        totals = self.totals(live)
        self.series.append({"t": round(self.clock(), 3), "sequences": totals["sequences"], "ops": totals["ops"],
                            "features": totals["features"], "coverage": totals["coverage"],
                            "findings": len(self.board.all()), "processes": usage})

    def save_state(self, final: bool = False) -> None:
        """Charge the session's time (with the lease unless `final`) and write the state."""
        self.last_state = time.monotonic()
        self.state.features = sorted(self.features)
        self.state.charge(self.start_at, self.last_state - self.started, final=final)
        self.state.save(self.run.state)

    def announce(self) -> None:
        """Log each finding once, when first seen."""
        for claim in self.board.all():
            if claim.key not in self.announced:
                self.announced.add(claim.key)
                self.log(f"finding {claim.signature} on {claim.target} at {claim.seconds:.1f} s ({claim.source}; "
                         f"{claim.raw_ops} statements as seen)")
