"""`poolfuzz soak` and `poolfuzz lincheck`: the command lines of the long stress checks.

    poolfuzz soak --duration 1h --workers auto [--out reports/soak] [--mutant NAME]
    poolfuzz lincheck --duration 10m [--seed N] [--threads 4] [--mutant NAME] [--strict]
                      [--out reports/lincheck]

Each run writes its report into a fresh folder `OUT/<UTC date>-<id>/`, prints a progress line
every `--every` seconds while it runs and the report's summary and folder at the end. Ctrl-C
stops a run early and still writes the report of what it did.

Exit status: 0 clean, 1 findings (growth, leftovers, a history no sequential order explains),
2 misuse, 130 when Ctrl-C stopped a run that had found nothing.

`add_soak_arguments(parser, duration)` / `run_soak(args)` and `add_lincheck_arguments(parser,
duration)` / `run_lincheck(args)` are what `harness.cli` registers (`duration` parses `90s`,
`10m`, `1h`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.findings import write_atomically

INTERRUPTED = 130
"""The exit status of a run that Ctrl-C stopped before it found anything (128 + SIGINT)."""


def new_folder(out: Path) -> Path:
    """A report folder under `out` named `<UTC date>-<6 hex digits>` that does not exist yet."""
    from harness.nightly.layout import RunDir

    return RunDir.new(out).root


def _workers(text: str) -> int | str:
    if text == "auto" or (text.isdigit() and int(text) > 0):
        return text if text == "auto" else int(text)
    raise argparse.ArgumentTypeError(f"bad worker count {text!r}: write a positive number or auto")


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a positive value")
        return value

    return parse


def _mutant(name: str) -> str:
    from harness.stress.mutants import lookup

    try:
        lookup(name)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return name


class _Ticker:
    """Says whether a progress line is due: at most one every `every` seconds."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.last = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.every:
            return False
        self.last = now
        return True


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# --- soak --------------------------------------------------------------------------------------


def add_soak_arguments(parser: argparse.ArgumentParser, duration: Callable[[str], float]) -> None:
    parser.add_argument("--duration", type=_positive(duration), default=3600.0,
                        help="how long the workload runs, e.g. 90s, 10m, 1h (default 1h)")
    parser.add_argument("--workers", type=_workers, default="auto",
                        help="worker processes (default auto: one per CPU this process may use)")
    parser.add_argument("--out", type=Path, default=Path("reports/soak"),
                        help="where the report folder is made (default reports/soak)")
    parser.add_argument("--interval", type=_positive(float), default=1.0,
                        help="seconds between samples of each worker (default 1)")
    parser.add_argument("--epoch", type=_positive(duration), default=10.0,
                        help="life of one pool in a worker, e.g. 10s (default 10s)")
    parser.add_argument("--threads", type=int, default=3, help="threads per pool (default 3)")
    parser.add_argument("--target", choices=["reference", "wasmtime"], default="reference")
    parser.add_argument("--mutant", type=_mutant, help="a seeded bug active in every worker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=_positive(float), default=5.0,
                        help="seconds between progress lines (default 5)")


def run_soak(args: argparse.Namespace) -> int:
    from harness.stress import soak

    if args.threads < 1:
        print("poolfuzz soak: error: --threads must be at least 1", file=sys.stderr)
        return 2
    workers = soak.resolve_workers(args.workers)
    folder = new_folder(args.out)
    ticker = _Ticker(args.every)

    def progress(now: float, samples: list[soak.Sample]) -> None:
        if not ticker.due():
            return
        latest = {s.worker: s for s in samples}
        totals = {m: sum(getattr(s, m) for s in latest.values()) for m in soak.METRICS}
        print(f"soak {_clock(now)}/{_clock(args.duration)}  rss {totals['rss'] >> 20} MiB  "
              f"fds {totals['fds']}  memfds {totals['memfds']}  mappings {totals['mappings']}  "
              f"threads {totals['threads']}  ({len(latest)}/{workers} workers sampled)",
              flush=True)

    print(f"soak: {_clock(args.duration)}, {workers} worker{'s' * (workers != 1)}, "
          f"target {args.target}; report: {folder}; Ctrl-C stops it early", flush=True)
    report = soak.soak(args.duration, workers, folder, interval=args.interval, epoch=args.epoch,
                       threads=args.threads, target=args.target, mutant=args.mutant,
                       seed=args.seed, progress=progress)
    print(report.describe(), flush=True)
    if not report.ok:
        return 1
    return INTERRUPTED if report.interrupted is not None else 0


# --- lincheck ----------------------------------------------------------------------------------


def add_lincheck_arguments(parser: argparse.ArgumentParser,
                           duration: Callable[[str], float]) -> None:
    parser.add_argument("--duration", type=_positive(duration), default=600.0,
                        help="how long trials run, e.g. 30s, 10m (default 10m)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first trial (default 0)")
    parser.add_argument("--threads", type=int, default=4, help="threads per trial (default 4)")
    parser.add_argument("--mutant", type=_mutant, help="a seeded bug active for the whole run")
    parser.add_argument("--strict", action="store_true",
                        help="fail on the known deviation (a slot freed after its deallocation "
                             "returned) too")
    parser.add_argument("--out", type=Path, default=Path("reports/lincheck"),
                        help="where the report folder is made (default reports/lincheck)")
    parser.add_argument("--every", type=_positive(float), default=5.0,
                        help="seconds between progress lines (default 5)")


@contextmanager
def _sigint_flag() -> Iterator[list[int]]:
    """Inside the block, Ctrl-C only appends to the list it yields (the run ends after the
    trial under way, whose threads still use their engine); a second Ctrl-C interrupts."""
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) > 1:
            raise KeyboardInterrupt
        print("lincheck: stopping after the trial under way (Ctrl-C again to abort)",
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


def run_lincheck(args: argparse.Namespace) -> int:
    from harness.stress import lincheck

    if args.threads < 2:
        print("poolfuzz lincheck: error: --threads must be at least 2", file=sys.stderr)
        return 2
    folder = new_folder(args.out)
    ticker = _Ticker(args.every)

    def progress(report: lincheck.LincheckReport) -> None:
        if ticker.due():
            print(f"lincheck {_clock(report.seconds)}/{_clock(args.duration)}  "
                  f"trials {report.trials}  ops {report.operations}  "
                  f"undecided {report.undecided}  deviations {report.deviations}", flush=True)

    print(f"lincheck: {_clock(args.duration)}, {args.threads} threads, seeds from {args.seed}, "
          f"mutant {args.mutant or 'none'}; report: {folder}; Ctrl-C stops it early",
          flush=True)
    with _sigint_flag() as interrupted:
        report = lincheck.run(args.duration, args.seed, args.threads, folder, args.mutant,
                              strict=args.strict, progress=progress,
                              stop=lambda: bool(interrupted))
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / "summary.json", json.dumps(report.summary(), indent=2) + "\n")
    write_atomically(folder / "summary.txt", report.describe() + "\n")
    print(report.describe(), flush=True)
    print(f"report: {folder}", flush=True)
    if not report.ok:
        return 1
    return INTERRUPTED if report.stopped else 0
