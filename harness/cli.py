"""`poolfuzz`: the command line. The only module that prints.

    poolfuzz replay PATH... [--target NAME]     run .ops files; exit 0 pass, 1 diverged, 2 malformed/misuse
    poolfuzz targets                            list the targets

`main(argv)` returns the exit status (tests call it directly); `entrypoint()` is the console script.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from harness import replay, targets


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"poolfuzz: error: {message}\n")


def _target_factory(name: str):
    if name not in targets.available():
        raise argparse.ArgumentTypeError(f"unknown target {name!r}; available: {', '.join(targets.available())}")
    return lambda: targets.make_target(name)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="poolfuzz", description="Fuzz and stress pooling allocators of Wasm linear memories.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("replay", help="run .ops files (a folder means every .ops under it)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--target", default="reference", help="target to run on (default: reference)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("targets", help="list the targets")
    p.set_defaults(func=cmd_targets)
    return parser


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        make = _target_factory(args.target)
        files = replay.expand(args.paths)
    except (argparse.ArgumentTypeError, FileNotFoundError) as err:
        print(f"poolfuzz replay: error: {err}", file=sys.stderr)
        return 2
    if not files:
        print(f"poolfuzz replay: error: no .ops files under {' '.join(args.paths)}", file=sys.stderr)
        return 2
    results = []
    for result in replay.replay_paths(files, make):
        results.append(result)
        _print_result(result, args)
    counts = {s: sum(r.status == s for r in results) for s in (replay.PASSED, replay.FAILED, replay.SKIPPED, replay.MALFORMED)}
    print(", ".join(f"{n} {s}" for s, n in counts.items()) + f" ({args.target})")
    return replay.exit_status(results)


def _print_result(result: replay.FileResult, args: argparse.Namespace) -> None:
    outcome = result.outcome
    if result.status == replay.PASSED:
        if not args.quiet and outcome is not None:
            print(f"PASS {result.path} ({outcome.ops} ops, {outcome.seconds:.2f} s)")
    elif result.status == replay.SKIPPED:
        print(f"SKIP {result.path}: {result.error}")
    elif result.status == replay.MALFORMED:
        print(f"MALFORMED {result.error}", file=sys.stderr)
    else:
        assert outcome is not None and outcome.divergence is not None
        print(f"FAIL {outcome.divergence.describe()}")
        print(f"  reproduce: poolfuzz replay {result.path} --target {args.target}")


def cmd_targets(args: argparse.Namespace) -> int:
    for name in targets.available():
        print(name)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or misuse (already reported by the parser)
        return int(exc.code or 0)
    return int(args.func(args))


def entrypoint() -> None:
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("poolfuzz: interrupted", file=sys.stderr)
        sys.exit(130)
