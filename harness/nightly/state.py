"""The state of a run on disk: settings, time used, counters; and its time series.

`state.json` is replaced atomically, about once a second, by the supervisor only. It is what
`--resume DIR` continues from.

Budget invariant: `consumed` never understates the campaign time used. While a session runs, it
is written as the time used so far plus a lease (`LEASE` seconds, more than the interval between
writes), so a session killed with `kill -9` is charged at least the time it ran; the session
that ends normally writes the exact figure. A resumed run gets `budget - consumed` seconds: the
sessions of a run together never run longer than its budget.

`series.jsonl` holds one sample per line (appended; a line cut short by a kill is skipped when
read back). Sample times are campaign seconds, continuing across sessions.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.findings import write_atomically

LEASE = 3.0
"""Seconds charged ahead of time while a session runs (the state is written every second)."""

RUNNING, FINISHED, INTERRUPTED = "running", "finished", "interrupted"


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunState:
    """Everything a run needs to continue, and the counters its report is made of."""

    run_id: str
    budget: float
    targets: list[str]
    engine: str = "hypothesis"
    profile: str = "nightly"
    database: str | None = None
    workers: int = 1
    corpus: str | None = "corpora"
    hang_timeout: float = 30.0
    rss_limit_mb: int | None = 2048
    created: str = field(default_factory=now_iso)
    status: str = RUNNING
    consumed: float = 0.0
    corpus_results: list[dict] | None = None  # None until the corpus replay has completed
    sessions: list[dict] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=lambda: {"sequences": 0, "ops": 0})
    hits: dict[str, int] = field(default_factory=dict)  # finding key -> times seen (duplicates too)
    features: list[str] = field(default_factory=list)
    coverage: int | None = None  # the engine's own coverage, when it reports one
    deaths: list[dict] = field(default_factory=list)  # {seconds, slot, target, cause}
    errors: list[dict] = field(default_factory=list)  # {seconds, message}

    @property
    def remaining(self) -> float:
        return max(self.budget - self.consumed, 0.0)

    def save(self, path: Path) -> None:
        write_atomically(path, json.dumps(dataclasses.asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> "RunState":
        """The state at `path`; FileNotFoundError or ValueError naming the file if it is not one."""
        if not path.is_file():
            raise FileNotFoundError(f"no run to resume: {path} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in names})
        except (json.JSONDecodeError, TypeError, AttributeError) as err:
            raise ValueError(f"{path} is not the state of a nightly run: {err}") from err

    def begin_session(self) -> float:
        """Open a session; the campaign time it starts at. A session left open by a killed
        process is closed as `killed`."""
        for session in self.sessions:
            if session.get("ended") is None:
                session["ended"] = "killed"
        self.sessions.append({"started": now_iso(), "at": round(self.consumed, 3), "seconds": 0.0, "ended": None})
        self.status = RUNNING
        return self.consumed

    def charge(self, start: float, elapsed: float, final: bool = False) -> None:
        """Record that the open session, which began at campaign time `start`, has run
        `elapsed` seconds (plus the lease unless `final`)."""
        self.sessions[-1]["seconds"] = round(elapsed, 3)
        self.consumed = start + elapsed + (0.0 if final else LEASE)
        if not final:
            self.consumed = min(self.consumed, max(self.budget, start + elapsed))

    def end_session(self, how: str) -> None:
        self.sessions[-1]["ended"] = how


class Series:
    """The time series of a run, appended one sample (a JSON object) per line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, sample: dict) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(sample, separators=(",", ":")) + "\n")

    def load(self) -> list[dict]:
        """Every complete sample (a torn last line is skipped)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        samples = []
        for line in lines:
            try:
                samples.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return samples
