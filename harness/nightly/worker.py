"""A worker: one engine on one target, in its own process, until its stop time.

    python -m harness.nightly.worker --run DIR --slot N --target NAME --engine NAME
        --stop-at EPOCH --clock-zero EPOCH [--profile P] [--database SPEC] [--corpus DIR] [--parent PID]

What it leaves for the supervisor, in `workers/N/` (`layout.WorkerFiles`):
- `flight.ops`: the sequence it is running, each op on disk before it runs (`flight`);
- `stats.json`: its counters, behaviour features and detections, replaced at most once a second
  and when it stops;
- `raised.json`, `exit.json`: when its engine raised, the sequence whose op raised and the
  exception (it then exits with status `proc.EXIT_EXCEPTION`).

Findings go to the run's claim board the moment they are seen (`SharedCampaign.knows`). The
worker exits with status 0 at `--stop-at` (a timer, wherever the engine is) or on SIGTERM; it
ignores SIGINT (the supervisor decides when the run stops), prints its stack on SIGUSR1 (the
supervisor does that to a hung worker before killing it), and dies with its parent.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.campaign import Campaign, Finding
from harness.divergence import Divergence
from harness.findings import write_atomically
from harness.nightly.board import SAVED, Board, Claim, divergence_claim, finding_key, kind_of_cause
from harness.nightly.engines import EngineOptions, engine_named
from harness.nightly.flight import FlightRecorder, recording
from harness.nightly.layout import RunDir, WorkerFiles
from harness.nightly.proc import EXIT_EXCEPTION, kill_descendants
from harness.processes import die_with_parent
from harness.text import format_program

STATS_INTERVAL = 1.0


@dataclass
class SharedCampaign(Campaign):
    """A `Campaign` whose findings are shared with every process of the run through the board.

    `knows(signature)` answers for the whole run: the first process to see a signature claims it
    (with its raw reproducer when the engine tells where the divergence is, `divergence_of`) and
    hands it to triage — it answers True, so the engine goes on at once instead of minimizing.
    Only a new signature without a reproducer gets False: the engine saves it itself, and
    `settle` links the claim to that file. `findings` lists every signature this process saw.
    """

    board: Board | None = None
    run_root: Path = Path(".")
    source: str = ""
    divergence_of: Callable[[str], Divergence | None] = field(default=lambda signature: None)
    coverage_of: Callable[[], int | None] = field(default=lambda: None)
    hits: Counter = field(default_factory=Counter)
    engine_saves: set[str] = field(default_factory=set)

    def knows(self, signature: str) -> bool:
        self.hits[signature] += 1
        if super().knows(signature) or signature in self.engine_saves:
            return True
        assert self.board is not None, "a SharedCampaign needs the run's board"
        divergence = self.divergence_of(signature)
        claim = self._claim_of(signature, divergence)
        created = self.board.claim(claim)
        if created and divergence is None:
            self.engine_saves.add(signature)
            return False
        self.findings.append(Finding(signature, self.board.file_of(claim.key), claim.raw_ops, claim.seconds, "claimed"))
        return True

    def settle(self) -> None:
        """Mark the claims of findings the engine saved itself as saved, with their files."""
        assert self.board is not None
        for finding in self.findings:
            if finding.signature not in self.engine_saves:
                continue
            claim = self.board.get(finding_key(self.target, finding.signature))
            if claim is None or claim.status == SAVED:
                continue
            path = Path(finding.path)
            try:
                path = path.resolve().relative_to(self.run_root.resolve())
            except ValueError:
                pass
            claim.status, claim.path, claim.ops, claim.minimized = SAVED, str(path), finding.ops, True
            claim.description = finding.description
            self.board.update(claim)

    def _claim_of(self, signature: str, divergence: Divergence | None) -> Claim:
        key = finding_key(self.target, signature)
        seconds = round(self.elapsed, 3)
        if divergence is not None:
            reproducer = divergence.reproducer
            return divergence_claim(self.target, replace(divergence, program=reproducer), format_program(reproducer),
                                    seconds, self.source)
        cause = signature.split("/")[1] if signature.startswith("crash/") and "/" in signature else None
        kind = kind_of_cause(cause) if cause else "divergence"
        return Claim(key, self.target, signature, kind, "", seconds, self.source, cause=cause)


class Publisher:
    """Writes the worker's `stats.json` (atomically, at most once every `STATS_INTERVAL` s)."""

    def __init__(self, files: WorkerFiles, slot: int, campaign: SharedCampaign, recorder: FlightRecorder) -> None:
        self.files, self.slot, self.campaign, self.recorder = files, slot, campaign, recorder
        self.last = 0.0

    def maybe(self) -> None:
        if time.monotonic() - self.last >= STATS_INTERVAL:
            self.publish()

    def publish(self, done: bool = False) -> None:
        self.last = time.monotonic()
        c, r = self.campaign, self.recorder
        stats = {
            "pid": os.getpid(), "slot": self.slot, "target": c.target, "engine": c.engine, "done": done,
            "sequences": max(r.sequences, c.sequences), "ops": max(r.ops, c.ops),
            "features": sorted(r.features), "coverage": c.coverage_of(),
            "hits": {finding_key(c.target, s): n for s, n in c.hits.items()},
        }
        write_atomically(self.files.stats, json.dumps(stats) + "\n")


def read_stats(path: Path) -> dict | None:
    """A worker's last stats, or None if it wrote none."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.nightly.worker", description="one nightly worker")
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--slot", type=int, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--engine", default="hypothesis")
    parser.add_argument("--stop-at", type=float, required=True, help="time.time() at which to stop")
    parser.add_argument("--clock-zero", type=float, required=True, help="time.time() at second 0 of the campaign")
    parser.add_argument("--profile", default="nightly")
    parser.add_argument("--database")
    parser.add_argument("--corpus", help="the corpus folder (the soak engine replays it)")
    parser.add_argument("--parent", type=int)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    die_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    run = RunDir(args.run)
    files = run.worker(args.slot).create()
    for stale in (files.raised, files.exit):
        stale.unlink(missing_ok=True)
    engine = engine_named(args.engine)
    campaign = SharedCampaign(args.engine, args.target, None, budget=args.stop_at - args.clock_zero,
                              out=run.found / args.target, board=Board(run.claims), run_root=run.root,
                              source=f"worker {args.slot}")
    campaign.started = time.monotonic() - (time.time() - args.clock_zero)  # elapsed = campaign seconds
    publisher: Publisher | None = None
    recorder = FlightRecorder(files.flight, files.raised, on_step=lambda: publisher and publisher.maybe())
    publisher = Publisher(files, args.slot, campaign, recorder)

    def finish(*_: object) -> None:
        kill_descendants()  # an engine's own processes (libFuzzer's) end with the worker
        campaign.settle()
        publisher.publish(done=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGALRM, finish)
    signal.setitimer(signal.ITIMER_REAL, max(args.stop_at - time.time(), 0.001))
    publisher.publish()

    def on_progress(_: object) -> None:
        campaign.settle()
        publisher.maybe()

    try:
        with recording(recorder):
            engine(campaign, args.target, EngineOptions(args.profile, args.database, args.corpus, args.slot), on_progress)
    except BaseException as error:  # the engine gave up: the supervisor decides whose fault it is
        signal.setitimer(signal.ITIMER_REAL, 0)
        kill_descendants()
        publisher.publish(done=True)
        record = {"type": type(error).__name__, "message": str(error)[:2000], "traceback": traceback.format_exc()[-8000:]}
        write_atomically(files.exit, json.dumps(record) + "\n")
        os._exit(EXIT_EXCEPTION)
    finish()


if __name__ == "__main__":
    main()
