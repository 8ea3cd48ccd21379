"""The flight recorder: what a worker is running, on disk before it runs it.

A worker records every sequence its engine runs, whatever the engine, by wrapping the executor
(`recording`): `Executor.open` starts a new record, `Executor.step` appends the op before it is
applied, `Executor.close` marks the end. When the worker dies — a signal, a hang the supervisor
ends, an exception — the record is the reproducer and its last line the op that was running.

Invariant: before op k of a sequence is applied, the record file holds the sequence's header
(`version`, `pool`) and its ops 0..k, op k last; after the target is closed, a last `# closed`
line. Writes are unbuffered `pwrite` calls: a process killed by any signal leaves them on disk.
The record is a valid `.ops` program (`# closed` is a comment). Only the worker process writes
it: a child the engine forks to replay candidates (the atheris engine minimizes its crashes so)
runs its executors unrecorded, or the record would show the child's last op — in flight for as
long as the worker then takes to go on — instead of the worker's.

The recorder also counts sequences and ops and collects behaviour features (the kinds of op and
outcome seen under each pool style and growth strategy): the throughput and the coverage curve
of engines that report neither.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.executor import Executor
from harness.findings import write_atomically
from harness.ops import Error, Expect, Op, PoolSpec, Program, Result
from harness.text import format_op, format_program

CLOSED = "# closed"


class FlightRecorder:
    """Writes the record of the running sequence to `path` (see the module docstring).

    `on_step` is called before every op (the worker uses it to publish its counters)."""

    def __init__(self, path: Path, raised_path: Path | None = None, on_step: Callable[[], None] = lambda: None) -> None:
        self.path = path
        self.raised_path = raised_path
        self.on_step = on_step
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.pid = os.getpid()  # the process whose executors are recorded
        self.offset = 0
        self.lines: list[str] = []
        self.pool = PoolSpec()
        self.sequences = 0
        self.ops = 0
        self.features: set[str] = set()

    def begin(self, program: Program) -> None:
        """A new sequence starts on a fresh target: the record is reset to its header."""
        self.pool = program.pool_spec
        header = format_program(Program(pool=program.pool, version=program.version))
        os.ftruncate(self.fd, 0)
        self.offset = 0
        self.lines = []
        self._write(header)
        self.sequences += 1

    def step(self, op: Op) -> None:
        """`op` is about to be applied."""
        self.on_step()
        self._write(format_op(op) + "\n")

    def stepped(self, op: Op, expected: Result | None) -> None:
        """`op` was applied; the model said it produces `expected`."""
        self.ops += 1
        self.features.add(feature(self.pool, op, expected))

    def end(self) -> None:
        self._write(CLOSED + "\n")

    def raised(self, op: Op, error: BaseException) -> None:
        """`op` raised `error` out of the executor: keep the sequence that did it."""
        if self.raised_path is None:
            return
        record = {"type": type(error).__name__, "message": str(error)[:2000], "op": format_op(op), "program": self.text()}
        write_atomically(self.raised_path, json.dumps(record) + "\n")

    def text(self) -> str:
        return "".join(self.lines)

    def close(self) -> None:
        os.close(self.fd)

    def _write(self, text: str) -> None:
        data = text.encode()
        os.pwrite(self.fd, data, self.offset)
        self.offset += len(data)
        self.lines.append(text)


def feature(pool: PoolSpec, op: Op, expected: Result | None) -> str:
    """`<style>/<growth>:<op kind>-><outcome>`, e.g. `dynamic/memfd:grow->number`."""
    if isinstance(op, Expect):
        outcome = op.observable
    elif isinstance(expected, Error):
        outcome = f"error-{expected.kind}"
    elif expected is None:
        outcome = "ok"
    else:
        outcome = type(expected).__name__.lower()
    return f"{pool.style}/{pool.growth}:{op.kind}->{outcome}"


@contextlib.contextmanager
def recording(recorder: FlightRecorder) -> Iterator[FlightRecorder]:
    """Route every executor of this process through `recorder` while the block runs.

    The executor has no hook of its own, so its `open`, `step` and `close` are wrapped (and
    restored on exit). Worker processes enter this once, around their engine."""
    original_open, original_step, original_close = Executor.open, Executor.step, Executor.close

    def open_(self: Executor) -> None:
        if os.getpid() != recorder.pid:  # a forked replay: not the worker's own sequence
            return original_open(self)
        recorder.begin(self.program)
        original_open(self)

    def step(self: Executor, op: Op):  # type: ignore[no-untyped-def]
        if os.getpid() != recorder.pid:
            return original_step(self, op)
        recorder.step(op)
        try:
            mismatch = original_step(self, op)
        except BaseException as error:
            recorder.raised(op, error)
            raise
        recorder.stepped(op, self.last_expected)
        return mismatch

    def close(self: Executor):  # type: ignore[no-untyped-def]
        if os.getpid() != recorder.pid:
            return original_close(self)
        was_closed = self.closed
        try:
            return original_close(self)
        finally:
            if not was_closed:
                recorder.end()

    Executor.open, Executor.step, Executor.close = open_, step, close  # type: ignore[method-assign]
    try:
        yield recorder
    finally:
        Executor.open, Executor.step, Executor.close = original_open, original_step, original_close  # type: ignore[method-assign]


@dataclass(frozen=True)
class Flight:
    """A record as read back: `program` is its text without the `# closed` mark."""

    program: str
    in_flight: bool  # the sequence had not ended: its last op was running
    last_op: str  # the text of the last op recorded ("" if none)
    age: float  # seconds since the record last changed

    @property
    def op_kind(self) -> str | None:
        return op_kind_of(self.last_op)


def read_flight(path: Path) -> Flight | None:
    """The record at `path`, or None if there is none (the worker has not started a sequence)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    lines = text.splitlines()
    closed = bool(lines) and lines[-1] == CLOSED
    body = [line for line in lines if line != CLOSED]
    ops = [line for line in body if is_op_line(line)]
    return Flight("\n".join(body) + "\n" if body else "", not closed and bool(ops), ops[-1] if ops else "", age)


_NOT_OPS = re.compile(r"^\s*(#|version\b|pool\b|$)")


def is_op_line(line: str) -> bool:
    return not _NOT_OPS.match(line)


def op_kind_of(op_text: str) -> str | None:
    """The keyword of an op's text (`grow i1 1` -> `grow`), None for no text."""
    words = op_text.split()
    return words[0] if words else None
