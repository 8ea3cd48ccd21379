"""`poolfuzz`: the command line. The only module that prints.

    poolfuzz replay PATH... [--target NAME] [--mutant NAME]   run .ops files; exit 0 pass, 1 diverged, 2 malformed/misuse
    poolfuzz fuzz [--engine hypothesis|atheris] [--budget 60s] [--target NAME] [--mutant NAME]
                                                 generate sequences; exit 0 clean, 1 findings, 2 misuse
    poolfuzz atheris [--target NAME] [--mutant NAME] [-- [CORPUS_DIR] [-max_total_time=60] [-FLAG=VALUE...]]
                                                 atheris with libFuzzer's command line (harness/engines/atheris_command.py);
                                                 crashes become .ops files in corpora/found/; exit 0 clean, 1 findings, 2 misuse
    poolfuzz mutants [--budget 60s]              a campaign against every seeded bug: the mutation score
    poolfuzz bench [--json FILE] [--quick]       what the allocator and the harness cost
    poolfuzz matrix --wasmtime 32.0.0 40.0.0 50.0.1   corpus, campaign and probes per Wasmtime release
    poolfuzz nightly [--budget 8h] [--workers auto] [--target NAME]... [--out reports/] [--resume DIR]
                                                exit 0 clean, 1 findings, 2 harness error
    poolfuzz soak [--duration 1h] [--workers auto] / lincheck [--duration 10m]   long stress checks, reports/
    poolfuzz targets                            list the targets

`main(argv)` returns the exit status (tests call it directly); `entrypoint()` is the console script.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from harness import replay, targets
from harness.campaign import Campaign
from harness.errors import HarnessError


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
    _target_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    p.add_argument("--script", action="store_true",
                   help="with --target wasmtime: write FILE.py beside each diverging FILE.ops, a "
                        "standalone script that shows the divergence with only the wasmtime package")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("fuzz", help="generate op sequences until the budget ends")
    p.add_argument("--engine", choices=["hypothesis", "atheris"], default="hypothesis")
    p.add_argument("--budget", type=_duration, default=60.0, help="time budget, e.g. 90s, 10m, 8h (default 60s)")
    p.add_argument("--profile", choices=["dev", "ci", "nightly"], default="dev", help="Hypothesis settings profile")
    p.add_argument("--database", help="example database: a folder, redis://host:port/db, or none")
    p.add_argument("--keep-going", action="store_true", help="continue after the first finding")
    p.add_argument("--out", type=Path, default=Path("corpora/found"), help="where findings are saved")
    p.add_argument("--json", type=Path, help="also write the campaign summary as JSON")
    p.add_argument("--corpus", type=Path, help="atheris: the corpus folder (default .poolfuzz-cache/atheris-corpus)")
    _target_options(p)
    p.set_defaults(func=cmd_fuzz)

    p = sub.add_parser("atheris", help="the atheris engine with libFuzzer's command line after --",
                       usage="poolfuzz atheris [options] [-- [CORPUS_DIR] [-max_total_time=N] [-FLAG=VALUE ...]]")
    p.add_argument("libfuzzer", nargs="*", metavar="-- CORPUS_DIR -FLAG=VALUE",
                   help="libFuzzer's command line: a corpus folder (seeded from corpora/ when empty), -max_total_time=N "
                        "(the budget, default 60), other -flag=value passed on")
    p.add_argument("--keep-going", action="store_true", help="continue after the first finding")
    p.add_argument("--out", type=Path, default=Path("corpora/found"), help="where findings are saved as .ops files")
    p.add_argument("--json", type=Path, help="also write the campaign summary as JSON")
    _target_options(p)
    p.set_defaults(func=cmd_atheris)

    p = sub.add_parser("mutants", help="a fuzz campaign against every seeded bug: the mutation score")
    p.add_argument("--engine", choices=["hypothesis", "atheris"], default="hypothesis")
    p.add_argument("--budget", type=_duration, default=60.0, help="budget per mutant (default 60s)")
    p.add_argument("--mutants-from", metavar="FILE.py", help="more mutants: a file defining MUTANTS = {name: factory}")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these mutants")
    p.add_argument("--profile", choices=["dev", "ci", "nightly"], default="dev", help="Hypothesis settings profile")
    p.add_argument("--out", type=Path, default=Path("reports/mutants"), help="where reproducers are saved")
    p.add_argument("--json", type=Path, help="where the results go (default: OUT/mutants.json)")
    p.set_defaults(func=cmd_mutants)

    p = sub.add_parser("bench", help="what the allocator and the harness cost: cycle, throughput, scaling, claims")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--quick", action="store_true", help="fewer and shorter runs: under a minute, noisier figures")
    p.add_argument("--out", type=Path, default=Path("reports/bench"), metavar="DIR", help="where bench.html, bench.md and bench.png go")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("matrix", help="corpus, campaign and probes on several Wasmtime releases: one table")
    from harness import matrix

    matrix.add_arguments(p)
    p.set_defaults(func=matrix.cmd_matrix)

    from harness.nightly import command as nightly_command  # light: the supervisor loads only when run

    p = sub.add_parser("nightly", help="a time-budgeted campaign on every core: crash isolation, findings, reports")
    nightly_command.add_arguments(p, _duration)
    p.set_defaults(func=nightly_command.run)

    from harness.stress import command as stress_command  # light: the checks load only when run

    p = sub.add_parser("soak", help="a random workload for long, sampled for growth and leftovers")
    stress_command.add_soak_arguments(p, _duration)
    p.set_defaults(func=stress_command.run_soak)
    p = sub.add_parser("lincheck", help="linearizability trials on one pool and one shared memory")
    stress_command.add_lincheck_arguments(p, _duration)
    p.set_defaults(func=stress_command.run_lincheck)

    p = sub.add_parser("targets", help="list the targets")
    p.set_defaults(func=cmd_targets)
    return parser


def _target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default="reference", help="target to run on (default: reference)")
    p.add_argument("--mutant", help="run the reference allocator with this seeded bug active")
    p.add_argument("--mutants-from", metavar="FILE.py", help="more mutants: a file defining MUTANTS = {name: factory}")


def _duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}: write e.g. 90s, 10m or 8h")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


@contextlib.contextmanager
def _mutant(args: argparse.Namespace) -> Iterator[None]:
    """Activate the seeded bug `--mutant` (only the reference allocator has them)."""
    if args.mutant is None:
        yield
        return
    if args.target != "reference":
        raise ValueError(f"--mutant patches the reference allocator; it cannot be used with --target {args.target}")
    from harness import mutation, mutants

    known = mutation.catalogue(args.mutants_from)
    with mutants.activate(known.get(args.mutant, args.mutant)):
        yield


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        make = _target_factory(args.target)
        files = replay.expand(args.paths)
        mutant = _mutant(args)
        mutant.__enter__()
    except (argparse.ArgumentTypeError, FileNotFoundError, ValueError) as err:
        print(f"poolfuzz replay: error: {err}", file=sys.stderr)
        return 2
    if not files:
        print(f"poolfuzz replay: error: no .ops files under {' '.join(args.paths)}", file=sys.stderr)
        return 2
    results = []
    try:
        for result in replay.replay_paths(files, make):
            results.append(result)
            _print_result(result, args)
    finally:
        mutant.__exit__(None, None, None)
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
        mutant = f" --mutant {args.mutant}" if args.mutant else ""
        print(f"  reproduce: poolfuzz replay {result.path} --target {args.target}{mutant}")
        if args.script and args.target == "wasmtime" and not args.mutant:
            from harness.wasmtime_script import save_script

            print(f"  {save_script(outcome.divergence, result.path)}")


def cmd_fuzz(args: argparse.Namespace) -> int:
    from harness.engines import hypothesis_engine

    atheris = args.engine == "atheris"
    try:
        make = _target_factory(args.target)
        db = None if atheris else hypothesis_engine.database(args.database, args.profile)
        if atheris:
            from harness.engines import atheris_engine

            atheris_engine.require_atheris()
        # The atheris engine activates the mutant in its fuzzing child, never here.
        mutant = _mutant(args) if not atheris else contextlib.nullcontext()
        mutant.__enter__()
    except (argparse.ArgumentTypeError, ValueError, ImportError) as err:
        print(f"poolfuzz {args.command}: error: {err}", file=sys.stderr)
        return 2
    campaign = Campaign(args.engine, args.target, args.mutant, args.budget, out=args.out)
    progress = _Progress(campaign)
    try:
        if atheris:
            progress.status = atheris_engine.FuzzerStatus()
            atheris_engine.fuzz(campaign, args.target, args.mutant, args.corpus, getattr(args, "libfuzzer_flags", ()),
                                keep_going=args.keep_going, on_progress=progress.update, status=progress.status,
                                mutants_from=args.mutants_from)
        else:
            hypothesis_engine.fuzz(campaign, make, args.profile, db, args.keep_going, progress.update)
    except KeyboardInterrupt:
        print(f"\npoolfuzz {args.command}: interrupted; findings so far are saved", file=sys.stderr)
    except (ValueError, HarnessError) as err:  # e.g. atheris: a child that failed without an artifact
        print(f"poolfuzz {args.command}: error: {err}", file=sys.stderr)
        return 2
    finally:
        mutant.__exit__(None, None, None)
    progress.update(campaign, final=True)
    for finding in campaign.findings:
        print(f"FINDING {finding.signature} after {finding.seconds:.1f} s, {finding.ops} ops: {finding.path}")
        print("  " + finding.description.replace("\n", "\n  "))
    if args.json:
        from harness.findings import write_atomically

        write_atomically(args.json, json.dumps(progress.summary(), indent=2) + "\n")
    return 1 if campaign.findings else 0


def cmd_atheris(args: argparse.Namespace) -> int:
    """`poolfuzz fuzz --engine atheris`, with libFuzzer's command line (`atheris_command`)."""
    from harness.engines.atheris_command import parse_libfuzzer_command

    try:
        command = parse_libfuzzer_command(args.libfuzzer)
    except ValueError as err:
        print(f"poolfuzz atheris: error: {err}", file=sys.stderr)
        return 2
    args.engine, args.budget, args.corpus, args.libfuzzer_flags = "atheris", command.budget, command.corpus, command.flags
    args.profile, args.database = "dev", None
    return cmd_fuzz(args)


class _Progress:
    """One status line, rewritten in place on a terminal and printed every 10 s otherwise."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.tty = sys.stderr.isatty()
        self.last = time.monotonic()
        self.status = None  # the atheris engine's FuzzerStatus: libFuzzer's coverage

    def summary(self) -> dict[str, object]:
        """The campaign's summary, with libFuzzer's coverage and corpus size when there are."""
        status = self.status
        extra = {} if status is None else {"coverage": status.coverage, "features": status.features,
                                           "corpus": status.corpus, "children": status.children}
        return {**self.campaign.summary(), **extra}

    def update(self, campaign: Campaign, final: bool = False) -> None:
        now = time.monotonic()
        if not (final or self.tty or now - self.last >= 10):
            return
        self.last = now
        c = campaign
        line = (
            f"[{c.engine} on {c.target}{' +' + c.mutant if c.mutant else ''}] {c.elapsed:6.1f}/{c.budget:.0f} s  "
            f"{c.sequences} sequences ({c.sequences_per_second:.1f}/s)  {c.ops} checked ops ({c.ops_per_second:.0f}/s)  "
            f"{len(c.findings)} findings"
            + (f"  cov {self.status.coverage} ft {self.status.features} corp {self.status.corpus}" if self.status else "")
        )
        end = "\n" if final or not self.tty else ""
        print(("\r" if self.tty else "") + line, end=end, file=sys.stderr, flush=True)


def cmd_mutants(args: argparse.Namespace) -> int:
    from harness import mutation
    from harness.findings import write_atomically

    try:
        known = mutation.catalogue(args.mutants_from)
        unknown = [n for n in args.only or [] if n not in known]
        if unknown:
            raise ValueError(f"unknown mutant(s) {', '.join(unknown)}; see `poolfuzz mutants --help`")
    except ValueError as err:
        print(f"poolfuzz mutants: error: {err}", file=sys.stderr)
        return 2
    chosen = [known[n] for n in (args.only or known)]
    print(f"{'mutant':44} {'found':6} {'seconds':>8} {'ops':>4} {'replay':>7} {'seq/s':>6} {'ops/s':>6}")

    def show(r: "mutation.MutantResult") -> None:
        found = ("yes" if r.sequential else "lin") if r.found else "no"  # lin: by the linearizability checker
        seconds = f"{r.seconds:8.1f}" if r.seconds is not None else f"{'-':>8}"
        ops = f"{r.reproducer_ops:4d}" if r.reproducer_ops is not None else f"{'-':>4}"
        replayed = {None: "-", True: "ok", False: "WRONG"}[r.confirmed]  # fails with the mutant, passes without
        rates = f"{r.sequences_per_s:6.1f} {r.ops_per_s:6.0f}" if r.ops_per_s is not None else f"{'-':>6} {'-':>6}"
        print(f"{r.name:44} {found:6} {seconds} {ops} {replayed:>7} {rates}  {r.error}".rstrip(), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    results = mutation.run_all(chosen, args.engine, args.budget, args.out, args.mutants_from, show, args.profile)
    report = mutation.report(results, args.engine, args.budget)
    path = args.json or args.out / "mutants.json"
    write_atomically(path, json.dumps(report, indent=2) + "\n")
    print(f"mutation score {report['score']:.0%} ({args.engine}; concurrent mutants by lincheck; {args.budget:.0f} s each); "
          f"results: {path}")
    return 0 if report["score"] == 1.0 else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench.command import run_bench

    return run_bench(args)


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


if __name__ == "__main__":
    entrypoint()
