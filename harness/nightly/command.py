"""`poolfuzz nightly`: the command line of the nightly runner.

    poolfuzz nightly --budget 8h --workers auto --target reference [--target NAME ...] --out reports/
    poolfuzz nightly --resume reports/2025-01-31-3f2a1c

`add_arguments(parser, duration)` declares the options (`duration` parses `90s`, `10m`, `8h`);
`run(args)` runs the campaign and returns the exit status: 0 clean, 1 findings, 2 harness error
or misuse, 128 + N when signal N stopped a run that had found nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.nightly.engines import DEFAULT_ENGINES, ENGINES

DEFAULT_BUDGET = 8 * 3600.0


def workers_count(text: str) -> int:
    """`auto` (every core: `os.cpu_count()`) or a positive number."""
    if text == "auto":
        return os.cpu_count() or 1
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError(f"bad worker count {text!r}: write a positive number or auto")


def add_arguments(parser: argparse.ArgumentParser, duration: Callable[[str], float]) -> None:
    parser.add_argument("--budget", type=duration, default=DEFAULT_BUDGET,
                        help="total time of the run, across resumes, e.g. 30m or 8h (default 8h)")
    parser.add_argument("--workers", type=workers_count, default="auto", help="worker processes (default auto: one per core)")
    parser.add_argument("--target", dest="targets", action="append", metavar="NAME",
                        help="target to fuzz (repeat for several; default reference)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="where the run folder is made (default reports/)")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR with the budget it has left")
    parser.add_argument("--engine", default=DEFAULT_ENGINES, metavar="NAME[,NAME...]",
                        help=f"engines of the workers, taken in turn by the worker slots: {', '.join(ENGINES)} "
                             f"(default {DEFAULT_ENGINES})")
    parser.add_argument("--profile", choices=["dev", "ci", "nightly"], default="nightly", help="Hypothesis settings profile")
    parser.add_argument("--database", help="Hypothesis example database: a folder, redis://host:port/db, or none")
    parser.add_argument("--corpus", type=Path, default=Path("corpora"), help="the corpus replayed first (default corpora/)")
    parser.add_argument("--hang-timeout", type=duration, default=30.0, help="an op running this long is a hang (default 30s)")
    parser.add_argument("--rss-limit-mb", type=int, default=2048,
                        help="a worker resident past this is out of memory (default 2048; 0: no limit)")


def run(args: argparse.Namespace) -> int:
    from harness.nightly.runner import nightly  # the supervisor's modules, only when it runs

    try:
        result = nightly(
            args.budget, args.workers, args.targets or ["reference"], args.out, args.resume,
            engine=args.engine, profile=args.profile, database=args.database, corpus=args.corpus,
            hang_timeout=args.hang_timeout, rss_limit_mb=args.rss_limit_mb or None,
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"poolfuzz nightly: error: {err}", file=sys.stderr)
        return 2
    return result.exit_status


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m harness.nightly ...`: the same command without the `poolfuzz` front end."""
    from harness.cli import _duration

    parser = argparse.ArgumentParser(prog="poolfuzz nightly", description=__doc__.splitlines()[0])
    add_arguments(parser, _duration)
    return run(parser.parse_args(argv))
