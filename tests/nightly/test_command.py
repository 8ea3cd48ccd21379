"""`poolfuzz nightly` options, and its misuse errors (exit status 2, a message, no traceback)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import _duration
from harness.nightly.command import add_arguments, run, workers_count

from .helpers import ROOT


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poolfuzz nightly")
    add_arguments(parser, _duration)
    return parser


def test_the_documented_command_line_parses() -> None:
    args = parser().parse_args("--budget 8h --workers auto --target reference --target crashy --out reports/".split())
    assert (args.budget, args.workers, args.targets, args.out, args.resume) == \
        (8 * 3600, os.cpu_count(), ["reference", "crashy"], Path("reports"), None)
    args = parser().parse_args(["--resume", "reports/2025-01-31-abcdef", "--workers", "3"])
    assert args.resume == Path("reports/2025-01-31-abcdef") and args.workers == 3 and args.engine == "hypothesis,atheris"


@pytest.mark.parametrize("text", ["0", "-1", "many"])
def test_a_bad_worker_count_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="positive number or auto"):
        workers_count(text)


@pytest.mark.parametrize("argv, message", [
    (["--target", "nosuch", "--budget", "10s"], "unknown target(s) nosuch; available:"),
    (["--resume", "/nonexistent/run"], "no run to resume: /nonexistent/run/state.json does not exist"),
    (["--budget", "0s"], "the budget must be positive"),
    (["--engine", "hypotesis"], "unknown engine 'hypotesis'; did you mean `hypothesis`"),
    (["--engine", "hypothesis,,atheris"], "bad engine list 'hypothesis,,atheris'"),
    (["--engine", "soak,soak"], "engine 'soak' is named twice"),
])
def test_misuse_exits_2_with_a_message(argv, message, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parser().parse_args([*argv, "--out", str(tmp_path)])) == 2
    err = capsys.readouterr().err
    assert err.startswith("poolfuzz nightly: error: ") and message in err
    assert not list(tmp_path.iterdir())  # nothing was started


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "harness.nightly", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "--resume DIR" in done.stdout and "--hang-timeout" in done.stdout
