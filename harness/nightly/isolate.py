"""Running one program where its crash cannot hurt: a forked child per run.

    verdict = run_isolated(program, "crashy", timeout=30)
    verdict.status   # passed | skipped | diverged | documented | crashed | invalid
    verdict.cause    # for crashed: SIGSEGV, SIGABRT, ..., timeout, oom, exception-<Type>
    verdict.index    # the statement that was running (len(statements) while finishing)

The child runs the program on a fresh target beside the model, statement by statement through
the executor's incremental API, and publishes the index of the statement it is about to apply in
a page shared with the parent. Its faulthandler writes to an unnamed file of the parent's: a
crash's stack (and, asked by SIGUSR1 before a hang is killed, the hung stack) becomes the
verdict's `detail`, from which the crash's identity is read (`harness.crashes`). It sends its
verdict (with the `Divergence`, if any) back through a pipe and exits. The parent waits at most `timeout` seconds (then the child is killed: a hang)
and, when `rss_limit_mb` is given, kills a child whose resident memory passes it (`oom`).

Invariants: the calling process never runs target code; whatever the child does, the call
returns a verdict and leaves no child behind. The caller must be single-threaded (it forks).
"""

from __future__ import annotations

import faulthandler
import functools
import mmap
import os
import pickle
import select
import signal
import struct
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

import psutil

from harness._native import native
from harness.divergence import Divergence
from harness.documented import explaining_differences
from harness.errors import InvalidProgram
from harness.executor import Executor
from harness.nightly.proc import cause_of
from harness.processes import die_with_parent
from harness.crashes import last_dump
from harness.ops import Program
from harness.targets import Unsupported, make_target

PASSED, SKIPPED, DIVERGED, CRASHED, INVALID = "passed", "skipped", "diverged", "crashed", "invalid"
DOCUMENTED = "documented"  # diverged only from the program's own results, as the target's declared differences say
_INDEX = struct.Struct("q")


@dataclass
class Verdict:
    status: str
    index: int = -1
    cause: str | None = None
    divergence: Divergence | None = None
    detail: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status in (DIVERGED, CRASHED)


class Isolated:
    """One program running in a forked child; `poll()` until it returns a `Verdict`."""

    def __init__(self, program: Program, target: str, timeout: float, rss_limit_mb: int | None = None) -> None:
        warm(target)
        self.program = program
        self.timeout = timeout
        self.rss_limit = rss_limit_mb * 1024 * 1024 if rss_limit_mb else None
        self.started = time.monotonic()
        self.shared = mmap.mmap(-1, _INDEX.size)
        _INDEX.pack_into(self.shared, 0, -1)
        self.stack_file = tempfile.TemporaryFile()
        read_end, write_end = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_end)
            _child(program, target, write_end, self.shared, parent, self.stack_file)
        os.close(write_end)
        self.pid = pid
        self.pipe = read_end
        self.data = bytearray()
        self.verdict: Verdict | None = None
        self.last_memory_check = 0.0

    def poll(self, wait: float = 0.0) -> Verdict | None:
        """The verdict once the child has ended (waiting up to `wait` seconds for output)."""
        if self.verdict is not None:
            return self.verdict
        self._drain(wait)
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid:
            self._read_to_end()
            return self._finish(status)
        elapsed = time.monotonic() - self.started
        if elapsed > self.timeout:
            return self._kill("timeout", f"no result after {self.timeout:g} s")
        if self.rss_limit and time.monotonic() - self.last_memory_check >= 0.05:
            self.last_memory_check = time.monotonic()
            rss = _rss(self.pid)
            if rss > self.rss_limit:
                return self._kill("oom", f"resident memory {rss >> 20} MiB passed the limit of {self.rss_limit >> 20} MiB")
        return None

    def wait(self) -> Verdict:
        while True:
            verdict = self.poll(wait=0.01)
            if verdict is not None:
                return verdict

    def cancel(self) -> None:
        """Kill the child if it still runs (no verdict)."""
        if self.verdict is None:
            self._kill("cancelled", "")

    # -- internals ---------------------------------------------------------------------------

    def _drain(self, wait: float) -> None:
        """Read what the child wrote so far (it blocks on a full pipe otherwise)."""
        while True:
            ready, _, _ = select.select([self.pipe], [], [], wait)
            if not ready:
                return
            chunk = os.read(self.pipe, 1 << 16)
            if not chunk:
                return
            self.data += chunk
            wait = 0.0

    def _read_to_end(self) -> None:
        """After the child exited: every write end is closed, so this ends at EOF."""
        while chunk := os.read(self.pipe, 1 << 16):
            self.data += chunk

    def _index(self) -> int:
        return _INDEX.unpack_from(self.shared, 0)[0]

    def _finish(self, status: int) -> Verdict:
        seconds = time.monotonic() - self.started
        code = os.waitstatus_to_exitcode(status)
        if code == 0 and self.data:
            verdict: Verdict = pickle.loads(bytes(self.data))
        else:
            verdict = Verdict(CRASHED, self._index(), cause_of(code) if code < 0 else f"exit-{code}",
                              detail=self._dump())
        verdict.seconds = seconds
        return self._close(verdict)

    def _kill(self, cause: str, detail: str) -> Verdict:
        if cause == "timeout":
            self._ask_for_stack()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        detail = "\n".join(filter(None, [detail, self._dump()]))
        return self._close(Verdict(CRASHED, self._index(), cause, detail=detail, seconds=time.monotonic() - self.started))

    def _ask_for_stack(self, wait: float = 0.5) -> None:
        """SIGUSR1: the hung child's faulthandler writes its stack (waiting at most `wait` s)."""
        size = os.fstat(self.stack_file.fileno()).st_size
        try:
            os.kill(self.pid, signal.SIGUSR1)
        except ProcessLookupError:
            return
        until = time.monotonic() + wait
        while os.fstat(self.stack_file.fileno()).st_size == size and time.monotonic() < until:
            time.sleep(0.01)
        time.sleep(0.02)  # the rest of the dump

    def _dump(self) -> str:
        """The last stack the child's faulthandler wrote, or ""."""
        self.stack_file.seek(0)
        return last_dump(self.stack_file.read().decode("utf-8", "replace")) or ""

    def _close(self, verdict: Verdict) -> Verdict:
        os.close(self.pipe)
        self.stack_file.close()
        self.shared.close()
        self.verdict = verdict
        return verdict


@functools.cache
def warm(target: str) -> None:
    """Import what a run on `target` needs, once, in the parent: every child then starts ready
    (an unopened target object runs no target code; the native helpers are poolfuzz's own)."""
    make_target(target)
    native()


def run_isolated(program: Program, target: str, timeout: float, rss_limit_mb: int | None = None) -> Verdict:
    """Run `program` on a fresh `target` in a forked child; see the module docstring."""
    return Isolated(program, target, timeout, rss_limit_mb).wait()


def _rss(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


def _child(program: Program, target: str, pipe: int, shared: mmap.mmap, parent: int, stacks: IO[bytes]) -> None:
    """Run the program, write the pickled verdict to `pipe`, exit. Never returns."""
    try:
        faulthandler.enable(stacks)  # a crash's stack goes to the parent's file, not to any log
        faulthandler.register(signal.SIGUSR1, stacks)  # the parent asks for it before killing a hang
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a run ends
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent(parent)
        verdict = _apply(program, target, lambda i: _INDEX.pack_into(shared, 0, i))
    except BaseException as error:  # anything the target raised past the executor
        index = _INDEX.unpack_from(shared, 0)[0]
        verdict = Verdict(CRASHED, index, f"exception-{type(error).__name__}",
                          detail=f"{error}\n{traceback.format_exc()}"[-4000:])
    try:
        data = pickle.dumps(verdict)
    except Exception as error:  # a divergence holding something unpicklable
        data = pickle.dumps(Verdict(verdict.status, verdict.index, verdict.cause, None, f"{verdict.detail} ({error})"))
    view = memoryview(data)
    while view:
        view = view[os.write(pipe, view):]
    os._exit(0)


def _apply(program: Program, target: str, mark: Callable[[int], None]) -> Verdict:
    """What `Executor.run` does, statement by statement, marking each before it runs."""
    executor = Executor(program, make_target(target))
    try:
        executor.open()
    except Unsupported as err:
        return Verdict(SKIPPED, detail=err.reason)
    statements = program.statements
    mismatch = None
    index = -1
    try:
        for index, op in enumerate(statements):
            mark(index)
            mismatch = executor.step(op)
            if mismatch is not None:
                break
    except InvalidProgram as err:
        executor.close()
        return Verdict(INVALID, index, detail=str(err))
    if mismatch is None:
        mark(len(statements))  # the full checks and the close
        mismatch = executor.finish()
        index = max(len(statements) - 1, 0)
    else:
        executor.close()
    if mismatch is None:
        return Verdict(PASSED, index)
    divergence = executor.diverge(index, mismatch)
    expectations = executor.model.expectations
    if divergence.source == "file" and expectations.differences():
        flags, _ = explaining_differences(program, divergence, expectations, lambda: make_target(target))
        if flags:
            return Verdict(DOCUMENTED, index, divergence=divergence, detail=f"documented difference ({', '.join(flags)})")
    return Verdict(DIVERGED, index, divergence=divergence)
