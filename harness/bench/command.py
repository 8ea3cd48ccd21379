"""`poolfuzz bench [--json FILE] [--quick] [--out DIR]`: run every section, print the tables.

Progress goes to stderr, the tables to stdout; `OUT/bench.html` (the benchmark page, with its
charts), `OUT/bench.md` (and `OUT/bench.png` when matplotlib is installed) are written every
time, `--json FILE` the figures as JSON. Exit status:
0 when the figures were measured, whatever they are; 1 when the benchmark could not run (no C
compiler for the floor, or a benchmarked program diverged); 2 on misuse.

`add_arguments(parser)` declares the options on any parser, `run_bench(args)` runs from parsed
arguments, and `main_bench(argv)` does both.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from harness._native import NativeBuildError
from harness.bench import html, plot, tables
from harness.bench.plan import FULL, QUICK
from harness.bench.results import collect
from harness.bench.timing import BenchError
from harness.findings import write_atomically

DEFAULT_OUT = Path("reports/bench")
DESCRIPTION = ("Measure the reference allocator and the harness: cycle cost against a C floor and "
               "Wasmtime, checked throughput, scaling, and the claims about slot reuse.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `poolfuzz bench`."""
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="fewer and shorter runs: under a minute, noisier figures")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"where bench.html, bench.md and bench.png go (default: {DEFAULT_OUT})")


def run_bench(args: argparse.Namespace) -> int:
    """Runs the benchmark as `args` say; the exit status (see the module docstring)."""
    plan = QUICK if args.quick else FULL
    try:
        report = collect(plan, progress=lambda step: print(f"bench: {step}", file=sys.stderr, flush=True))
    except (NativeBuildError, BenchError) as err:
        print(f"poolfuzz bench: error: {err}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    drawn = plot.draw(report, args.out / "bench.png")
    write_atomically(args.out / "bench.md", tables.markdown(report, "bench.png" if drawn else None))
    html.write(report, args.out / "bench.html")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(args.json, json.dumps(report, indent=2) + "\n")
    print(tables.text(report), end="")
    written = [args.out / "bench.html", args.out / "bench.md", *([args.out / "bench.png"] if drawn else []),
               *([args.json] if args.json else [])]
    print(f"\nwritten: {', '.join(map(str, written))}")
    return 0


def main_bench(argv: Sequence[str] | None = None) -> int:
    """`poolfuzz bench` on its own: parses `argv` and runs."""
    parser = argparse.ArgumentParser(prog="poolfuzz bench", description=DESCRIPTION)
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or misuse (already reported by the parser)
        return int(exc.code or 0)
    return run_bench(args)
