"""The worker slots of a session: starting, watching and replacing worker processes.

Slot i runs the i-th (target, engine) pair in turn: with targets A, B and engines
hypothesis, atheris, slots 0–3 run A/hypothesis, A/atheris, B/hypothesis, B/atheris, then again.
`tend` is called a few times a second for every slot:

- no worker: start one, unless the slot waits out a back-off (deaths closer than
  `RESTART_WINDOW` seconds slow restarts down, up to 30 s) or gave up (`GIVE_UP_AFTER` harness
  errors in a row) or the stop time is near;
- the worker ended: its counters are folded into the books and its end examined (`deaths`): a
  finding is claimed on the board, an error of the harness recorded;
- its flight record shows an op in flight that has not changed for `hang_timeout` seconds: it is
  a hang — the worker prints its stack (SIGUSR1), is killed, and its end is examined as such;
- it is resident past `rss_limit_mb`: it is killed, and its end examined as memory exhaustion.

A new worker's flight record starts empty, so a hang is never judged on its predecessor's record.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from harness.nightly.books import Books
from harness.nightly.deaths import examine
from harness.nightly.engines import engine_names
from harness.nightly.flight import read_flight
from harness.nightly.layout import WorkerFiles
from harness.nightly.proc import spawn_module
from harness.processes import kill, stop
from harness.nightly.worker import read_stats

RESTART_WINDOW = 10.0
GIVE_UP_AFTER = 5


@dataclass
class Slot:
    """One worker slot: the successive worker processes of one target and one engine."""

    index: int
    target: str
    engine: str
    files: WorkerFiles
    process: subprocess.Popen | None = None  # while a worker runs
    starts: int = 0
    next_start: float = 0.0
    deaths: list[float] = field(default_factory=list)  # monotonic times of recent ends
    errors_in_row: int = 0
    retired: bool = False

    @property
    def name(self) -> str:
        return f"worker {self.index}"

    @property
    def label(self) -> str:
        """`worker 0 (hypothesis on reference)`, for the log."""
        return f"{self.name} ({self.engine} on {self.target})"


class Workforce:
    """The slots of one session; workers stop by themselves at `stop_at` (monotonic)."""

    def __init__(self, books: Books, stop_at: float) -> None:
        self.books = books
        self.stop_at = stop_at
        state, run = books.state, books.run
        pairs = [(target, engine) for target in state.targets for engine in engine_names(state.engine)]
        self.slots = [Slot(i, *pairs[i % len(pairs)], run.worker(i).create()) for i in range(state.workers)]

    def live(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.process is not None]

    def live_stats(self) -> list[dict]:
        return [s for s in (read_stats(slot.files.stats) for slot in self.live()) if s]

    def fold_leftovers(self) -> None:
        """Counters left by the workers of a session that was killed."""
        for folder in sorted(self.books.run.workers.glob("*")):
            self.books.fold(WorkerFiles(folder))

    def tend(self) -> None:
        for slot in self.slots:
            self._tend(slot)

    def stop(self, grace: float) -> None:
        """Ask every worker to stop (SIGTERM: it publishes its counters and exits), waiting at
        most `grace` seconds before killing the rest."""
        until = time.monotonic() + grace
        for slot in self.live():
            slot.process.terminate()
        for slot in self.live():
            try:
                slot.process.wait(max(until - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            self._ended(slot, stop(slot.process, grace=0.5), None, stopping=True)

    def kill_all(self) -> None:
        for slot in self.live():
            kill(slot.process)
            slot.process = None

    # -- one slot --------------------------------------------------------------------------------

    def _start(self, slot: Slot) -> None:
        books, state = self.books, self.books.state
        slot.files.stats.unlink(missing_ok=True)
        slot.files.flight.unlink(missing_ok=True)  # the previous worker's record was examined at its end
        args = ["--run", str(books.run.root), "--slot", str(slot.index), "--target", slot.target,
                "--engine", slot.engine, "--profile", state.profile, "--parent", str(os.getpid()),
                "--stop-at", f"{time.time() + (self.stop_at - time.monotonic()):.6f}",
                "--clock-zero", f"{time.time() - books.clock():.6f}"]
        args += ["--database", state.database] if state.database else []
        args += ["--corpus", state.corpus] if state.corpus else []
        slot.process = spawn_module("harness.nightly.worker", args, slot.files.log)
        slot.starts += 1

    def _tend(self, slot: Slot) -> None:
        process, now = slot.process, time.monotonic()
        if process is None:
            if not slot.retired and now >= slot.next_start and now < self.stop_at - 1.0:
                self._start(slot)
            return
        code = process.poll()
        if code is not None:
            self._ended(slot, code, None)
        elif self._hung(slot):
            self._ended(slot, kill(process, dump=True), "timeout")
        elif (limit := self.books.state.rss_limit_mb) and self.books.sampler.rss(process.pid) > limit << 20:
            self.books.log(f"{slot.label} passed {limit} MiB resident: killing it")
            self._ended(slot, kill(process), "oom")

    def _hung(self, slot: Slot) -> bool:
        """Whether the slot's worker has had the same op in flight for the hang timeout."""
        timeout = self.books.state.hang_timeout
        try:
            if time.time() - slot.files.flight.stat().st_mtime <= timeout:
                return False
        except FileNotFoundError:
            return False
        record = read_flight(slot.files.flight)
        if record is None or not record.in_flight:
            return False
        self.books.log(f"{slot.label} made no progress for {timeout:g} s on `{record.last_op}`: killing it")
        return True

    def _ended(self, slot: Slot, code: int, killed_for: str | None, stopping: bool = False) -> None:
        """Take in the end of the slot's worker: its counters, and what its end means."""
        books = self.books
        books.fold(slot.files)
        books.sampler.forget(slot.process.pid)
        slot.process = None
        if stopping and killed_for is None and code in (0, -signal.SIGTERM, -signal.SIGKILL):
            return
        death = examine(slot.files, code, killed_for, slot.target, books.clock(), slot.label)
        if death.claim is not None:
            books.death(slot.index, slot.target, death.claim.cause, death.claim.signature, death.claim.key)
            books.board.claim(death.claim)
            slot.errors_in_row = 0
        elif death.error is not None:
            books.error(death.error)
            slot.errors_in_row += 1
            if slot.errors_in_row >= GIVE_UP_AFTER:
                slot.retired = True
                books.error(f"{slot.label} is not restarted after {GIVE_UP_AFTER} errors in a row")
        now = time.monotonic()
        slot.deaths = [t for t in slot.deaths if now - t < RESTART_WINDOW] + [now]
        crowded = len(slot.deaths) - 2
        slot.next_start = now + (min(30.0, 2.0 ** crowded) if crowded > 0 else 0.0) + (1.0 if death.clean else 0.0)
