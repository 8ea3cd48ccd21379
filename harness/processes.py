"""Ending the processes we started, tying them to us, and reading the end of their logs.

Shared by the nightly runner (`harness.nightly`) and the atheris engine, which both run
fuzzing processes as children: `stop` ends one (politely, then not), `kill` at once, `tail` shows
what it said last; a child calls `die_with_parent` so that it never outlives the process that
started it (Linux `PR_SET_PDEATHSIG`), even one killed by `kill -9`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

PR_SET_PDEATHSIG = 1


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
    nightly worker print its stack, if `dump`); its return code."""
    if process.poll() is None and dump:
        process.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
    descendants = descendants_of(process.pid)
    if process.poll() is None:
        process.kill()
    code = process.wait()
    for child in descendants:
        try:
            child.kill()
        except psutil.Error:
            pass
    return code


def descendants_of(pid: int) -> list[psutil.Process]:
    """Every live process `pid` started, and theirs ([] if `pid` is gone)."""
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
