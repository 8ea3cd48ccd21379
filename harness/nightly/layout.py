"""The folder of one nightly run, `reports/<date>-<id>/`, and what lives where in it.

    state.json           the run's settings and progress (`state.RunState`), replaced atomically
    series.jsonl         one sample per line: throughput, coverage, workers' resources (appended)
    claims/*.json        every finding from the moment it is seen, with its raw reproducer (`board`)
    found/TARGET/*.ops   the saved reproducers, minimized, annotated, with an explanatory header
    workers/N/           one folder per worker slot: flight record, stats, exit record, log
    triage/              the log of the process that minimizes findings
    report.json          the report (validated against `schema.json`)
    report.html          the same, for a person: self-contained, with SVG plots

Every path of the run is built here, so that the processes that share the folder (supervisor,
workers, triage) agree on it.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run folder (nothing is created until `create`)."""

    root: Path

    @classmethod
    def new(cls, out: Path) -> "RunDir":
        """A run folder under `out` named `<UTC date>-<6 hex digits>` that does not exist yet."""
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        while True:
            candidate = out / f"{date}-{secrets.token_hex(3)}"
            if not candidate.exists():
                return cls(candidate)

    @property
    def run_id(self) -> str:
        return self.root.name

    def create(self) -> "RunDir":
        for folder in (self.root, self.claims, self.found, self.workers, self.triage):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def series(self) -> Path:
        return self.root / "series.jsonl"

    @property
    def claims(self) -> Path:
        return self.root / "claims"

    @property
    def found(self) -> Path:
        return self.root / "found"

    @property
    def workers(self) -> Path:
        return self.root / "workers"

    @property
    def triage(self) -> Path:
        return self.root / "triage"

    @property
    def report_json(self) -> Path:
        return self.root / "report.json"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    def worker(self, slot: int) -> "WorkerFiles":
        return WorkerFiles(self.workers / str(slot))


@dataclass(frozen=True)
class WorkerFiles:
    """The files of one worker slot (shared by the successive processes of the slot)."""

    folder: Path

    def create(self) -> "WorkerFiles":
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def flight(self) -> Path:
        """The sequence being run, op by op (`flight.FlightRecorder`)."""
        return self.folder / "flight.ops"

    @property
    def raised(self) -> Path:
        """The sequence whose last op raised an exception out of the executor."""
        return self.folder / "raised.json"

    @property
    def stats(self) -> Path:
        return self.folder / "stats.json"

    @property
    def exit(self) -> Path:
        """Why the worker process ended, when it ended on an exception."""
        return self.folder / "exit.json"

    @property
    def log(self) -> Path:
        return self.folder / "worker.log"
