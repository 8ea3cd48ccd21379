"""Processes of a nightly run: starting them tied to their parent, naming how they died, ending them.

Every process a run starts dies with its parent (`die_with_parent`, Linux `PR_SET_PDEATHSIG`):
`kill -9` of the supervisor leaves no worker running on, and a resumed run never races the
workers of the killed one.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1
EXIT_EXCEPTION = 70
"""Exit status of a worker whose engine raised (the exception is in its `exit.json`)."""


def die_with_parent(parent: int | None = None, sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies; if the parent is
    already gone (not `parent`, when given), exit at once."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the periodic parent check still applies
        pass
    if parent is not None and os.getppid() != parent:
        os._exit(0)


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


def stop(process: subprocess.Popen, grace: float = 2.0) -> int:
    """End a process we started: SIGTERM, then SIGKILL (with its descendants) after `grace`
    seconds; its return code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            return kill(process)
    return process.wait()


def kill(process: subprocess.Popen, dump: bool = False) -> int:
    """SIGKILL a process we started and every process it started (after SIGUSR1, which makes a
    worker print its stack, if `dump`); its return code."""
    if process.poll() is None and dump:
        process.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
    descendants = _descendants(process.pid)
    if process.poll() is None:
        process.kill()
    code = process.wait()
    for child in descendants:
        try:
            child.kill()
        except psutil.Error:
            pass
    return code


def kill_descendants() -> None:
    """SIGKILL every process this process started (and theirs)."""
    for child in _descendants(os.getpid()):
        try:
            child.kill()
        except psutil.Error:
            pass


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def tail(path: Path, lines: int = 30, limit: int = 64 * 1024) -> str:
    """The last `lines` lines of a text file (at most its last `limit` bytes); "" if absent."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - limit))
            data = handle.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
