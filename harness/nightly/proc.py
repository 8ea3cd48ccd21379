"""Processes of a nightly run: starting them tied to their parent, naming how they died, ending them.

Every process a run starts dies with its parent (`harness.processes.die_with_parent`):
`kill -9` of the supervisor leaves no worker running on, and a resumed run never races the
workers of the killed one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import psutil

from harness.processes import descendants_of

ROOT = Path(__file__).resolve().parents[2]
EXIT_EXCEPTION = 70
"""Exit status of a worker whose engine raised (the exception is in its `exit.json`)."""


def cause_of(returncode: int) -> str:
    """`SIGSEGV`, `SIGABRT`, ... for a negative return code (death by signal), `exit-N` else."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal-{-returncode}"
    return f"exit-{returncode}"


def spawn_module(module: str, args: Sequence[str], log: Path) -> subprocess.Popen:
    """Run `python -m module args...` with stdout and stderr appended to `log`, the project on
    its path, and standard input closed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=os.getcwd(),
        )


def kill_descendants() -> None:
    """SIGKILL every process this process started (and theirs)."""
    for child in descendants_of(os.getpid()):
        try:
            child.kill()
        except psutil.Error:
            pass
