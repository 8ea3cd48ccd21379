"""Histories of concurrent operations: who invoked what, when, and what came back.

An `Operation` is one call on one shared object (`obj`: `"pool"`, `"shared"`), made by one
thread, with its invocation and response times read from one clock that every thread shares
(`time.perf_counter_ns`, CLOCK_MONOTONIC). A history is a list of operations; it is what the
linearizability checker judges and what the timeline draws.

Invariants of a recorded history:

* `call <= ret` for every operation, and `id`s are distinct;
* the operations of one thread never overlap: a thread invokes its next operation only after
  the previous one returned (`ThreadLog` records them in that order);
* `result` is hashable and made of ints, strings, bytes, bools and tuples of those, so that a
  model can compare it and `to_json` can write it.

An operation that raised an unexpected exception is recorded with the result
`("raised", TypeName, message)`: no sequential model accepts it, so it shows as a violation
instead of killing the thread that saw it.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

clock = time.perf_counter_ns
"""The clock of every timestamp: nanoseconds, monotonic, shared by all threads."""


@dataclass(frozen=True)
class Operation:
    """One call, `kind(*args)` on `obj` by `thread`: invoked at `call`, returned `result` at
    `ret`."""

    id: int
    thread: int
    obj: str
    kind: str
    args: tuple
    result: Any
    call: int
    ret: int

    def describe(self) -> str:
        """`kind(args) -> result`, as the timeline and reports print it."""
        args = ", ".join(_show(a) for a in self.args)
        return f"{self.kind}({args}) -> {_show(self.result)}"


def raised(err: BaseException) -> tuple[str, str, str]:
    """The result recorded for an operation that raised `err` unexpectedly."""
    return ("raised", type(err).__name__, str(err).splitlines()[0][:200] if str(err) else "")


@dataclass
class Recorder:
    """Collects the operations of many threads; each thread records through its own `ThreadLog`."""

    _ids: Iterable[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _logs: list[ThreadLog] = field(default_factory=list)

    def thread(self, thread: int) -> ThreadLog:
        log = ThreadLog(self, thread)
        with self._lock:
            self._logs.append(log)
        return log

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)  # type: ignore[call-overload]

    def history(self) -> list[Operation]:
        """Every operation recorded so far, by invocation time."""
        with self._lock:
            ops = [op for log in self._logs for op in log.ops]
        return sorted(ops, key=lambda op: (op.call, op.id))


@dataclass
class ThreadLog:
    """The operations of one thread, in program order."""

    recorder: Recorder
    thread: int
    ops: list[Operation] = field(default_factory=list)

    def record(self, obj: str, kind: str, args: tuple, run: Callable[[], Any]) -> Any:
        """Runs `run()` as the operation `kind(*args)` on `obj` and records it; returns its result.

        The invocation time is read just before `run` starts and the response time just after
        it returns, so the recorded interval contains the real one. An exception from `run`
        becomes the result `raised(err)`.
        """
        call = clock()
        try:
            result = run()
        except Exception as err:  # recorded: the checker reports it with the history
            result = raised(err)
        ret = clock()
        self.ops.append(Operation(self.recorder.next_id(), self.thread, obj, kind, tuple(args),
                                  result, call, ret))
        return result


# --- JSON ---------------------------------------------------------------------------------


def to_json(history: Iterable[Operation]) -> str:
    """The history as JSON: a list of objects; bytes are written as `{"hex": "..."}`."""
    return json.dumps([_encode(vars(op)) for op in history], indent=1)


def from_json(text: str) -> list[Operation]:
    """The history `to_json` wrote (tuples come back as tuples)."""
    return [Operation(**{k: _decode(v) for k, v in entry.items()}) for entry in json.loads(text)]


def save(history: Iterable[Operation], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(history) + "\n")
    return path


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return {"tuple": [_encode(v) for v in value]}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"hex"}:
        return bytes.fromhex(value["hex"])
    if isinstance(value, dict) and set(value) == {"tuple"}:
        return tuple(_decode(v) for v in value["tuple"])
    return value


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        if len(value) > 8:
            return f"{value[:8].hex()}…({len(value)} B)"
        return value.hex() or "b''"
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 4096:
        return hex(value)
    return str(value)
