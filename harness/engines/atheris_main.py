"""The libFuzzer process of the atheris engine: `TestOneInput` over decoded op sequences.

    python -m harness.engines.atheris_main [--target NAME] [--mutant NAME] [--out DIR]
        [--mutants-from FILE.py] [--stats FILE] [--stop-at EPOCH] [--started-wall EPOCH]
        [--known SIGNATURE]...
        -- [CORPUS_DIR...] [-libfuzzer_flag=VALUE...]

Everything after `--` goes to libFuzzer unchanged. `harness.engines.atheris_engine.fuzz` runs
this as a child process; it also runs alone, in the OSS-Fuzz manner (a script whose
`TestOneInput` takes libFuzzer's bytes).

Each input is decoded (`atheris_engine.decode`) and run on a fresh target beside the model; a
divergence of a new signature is minimized and saved as an `.ops` file before the next input
(`atheris_engine.Session`), and the fuzzer goes on — it never stops for a divergence it saved.
A crash of the target or of the harness ends the process the libFuzzer way: an artifact file,
which the parent turns into a finding. The mutant, if any, is active for the whole process.

`allocator` and `harness` are imported under `atheris.instrument_imports()`, so their Python
branches are the coverage libFuzzer follows. This module imports neither before that.
At `--stop-at` (a `time.time()` value) the process writes its final stats and exits with status 0.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

INSTRUMENTED = ["allocator", "harness"]
NOT_INSTRUMENTED = ["harness.cli", "harness.minimize", "harness.findings", "harness.text"]
"""Run only when a finding is saved or a program printed: their branches would be noise."""

_session: Any = None  # the atheris_engine.Session inputs go to
_deadline: float | None = None  # time.monotonic() at which the process stops
_last_run: int | None = None  # libFuzzer's `-runs=N`: after the Nth input, libFuzzer exits
_active: list[Any] = []  # the mutant's context manager, entered and never left


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options (before `--`) and libFuzzer's arguments (after it)."""
    argv = list(argv)
    ours, theirs = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog="python -m harness.engines.atheris_main",
                                     description="libFuzzer process of the atheris engine")
    parser.add_argument("--target", default="reference")
    parser.add_argument("--mutant", help="a mutant, active for the life of the process")
    parser.add_argument("--mutants-from", help="a Python file defining MUTANTS = {name: factory}")
    parser.add_argument("--out", type=Path, default=Path("corpora/found"), help="where findings are saved")
    parser.add_argument("--stats", type=Path, help="JSON file of the counters and findings (for the parent)")
    parser.add_argument("--stop-at", type=float, help="time.time() at which to exit 0 (default: libFuzzer's flags)")
    parser.add_argument("--started-wall", type=float, help="time.time() at which the campaign started")
    parser.add_argument("--known", action="append", default=[], help="a signature already saved (repeatable)")
    return parser.parse_args(ours), theirs


def configure(target: str = "reference", out: Path = Path("corpora/found"), stats: Path | None = None,
              mutant: str | None = None, known: Sequence[str] = (), started_wall: float | None = None) -> Any:
    """Make the session `TestOneInput` uses (and return it).

    `mutant` names the mutant active in this process, for the findings' headers (activating it
    is the caller's part); `known` signatures are not saved again; `started_wall` (a
    `time.time()` value) dates findings from the campaign's start rather than this process's."""
    global _session
    from harness.campaign import Campaign
    from harness.engines.atheris_engine import Session

    campaign = Campaign("atheris", target, mutant, budget=0.0, out=out)
    if started_wall is not None:
        campaign.started = time.monotonic() - (time.time() - started_wall)
    _session = Session(campaign, stats, known=frozenset(known))
    return _session


def TestOneInput(data: bytes) -> None:  # the name libFuzzer and OSS-Fuzz use
    """Run the program `data` decodes to; save a new divergence; stop at the deadline. The
    final stats are written before the process ends (at the deadline, or after `-runs=N`)."""
    session = _session or configure()
    if _deadline is not None and time.monotonic() >= _deadline:
        _finish(session)
    session.test_one_input(data)
    if _last_run is not None and session.runs >= _last_run:
        session.write_stats(done=True)  # libFuzzer exits now, without running Python's exit hooks


def _finish(session: Any) -> None:
    """Write the final stats and end the process (libFuzzer's corpus is already on disk)."""
    session.write_stats(done=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _first_input(test_one_input: Any) -> Any:
    """`test_one_input`, enabling faulthandler on the first call: installed after libFuzzer's
    handlers, it names the fatal signal in the output, then hands it on to libFuzzer (which
    saves the input)."""
    started = False

    def wrapped(data: bytes) -> None:
        nonlocal started
        if not started:
            started = True
            faulthandler.enable(file=sys.stderr)
        test_one_input(data)

    return wrapped


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, import the harness instrumented, activate the mutant, fuzz."""
    global _deadline, _last_run
    options, libfuzzer_args = parse_args(sys.argv[1:] if argv is None else argv)
    if options.stop_at is not None:  # run by the engine: never outlive it (a killed campaign)
        from harness.processes import die_with_parent

        die_with_parent()
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed: pip install 'poolfuzz[fuzz]'")
    _import_instrumented(atheris, options.target)
    if options.mutant:
        from harness.engines.atheris_engine import activate_mutant

        _active.append(activate_mutant(options.mutant, options.mutants_from))  # kept: collecting it would undo it
        _active[-1].__enter__()  # for the life of the process
    session = configure(options.target, options.out, options.stats, options.mutant, options.known,
                        options.started_wall)
    session.write_stats()
    if options.stop_at is not None:
        _deadline = time.monotonic() + (options.stop_at - time.time())
    _last_run = _runs_flag(libfuzzer_args)
    atheris.Setup([sys.argv[0], *libfuzzer_args], _first_input(TestOneInput))
    atheris.Fuzz()


def _runs_flag(libfuzzer_args: Sequence[str]) -> int | None:
    """N of the last `-runs=N` among libFuzzer's arguments (None: no limit)."""
    values = [arg.split("=", 1)[1] for arg in libfuzzer_args if arg.startswith("-runs=")]
    return int(values[-1]) if values and values[-1].lstrip("-").isdigit() and int(values[-1]) >= 0 else None


def _import_instrumented(atheris: Any, target: str) -> None:
    """Import, under coverage instrumentation, everything an input runs: the engine (and through
    it the executor, model, checks and generator), the mutants (and through them the allocator),
    and the target's module."""
    with atheris.instrument_imports(include=INSTRUMENTED, exclude=NOT_INSTRUMENTED):
        import harness.engines.atheris_engine
        import harness.mutants  # noqa: F401
        from harness.targets import make_target

        make_target(target)


if __name__ == "__main__":
    main()
