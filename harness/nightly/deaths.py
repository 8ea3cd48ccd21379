"""What a worker's end means: nothing, a finding, or an error of the harness.

`examine` reads what the dead worker left (`layout.WorkerFiles`) and decides:

| how it ended                                   | meaning                                           |
|------------------------------------------------|---------------------------------------------------|
| status 0                                       | its stop time came (or its engine finished)       |
| killed by a signal (SIGSEGV, SIGABRT, ...)     | a crash finding, `crash/<SIGNAL>/<op kind>`       |
| killed by the supervisor for a hang / memory   | `crash/timeout/<op kind>`, `crash/oom/<op kind>`  |
| status `EXIT_EXCEPTION`, raised by an op       | `crash/exception-<Type>/<op kind>`                |
| raised outside any op, or a poolfuzz error     | an error of the harness                           |
| died before its first sequence; other statuses | an error of the harness                           |

A finding's reproducer is the flight record: the sequence that was running, its last op the
one that was running when the worker died.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.nightly.board import Claim, describe_cause, finding_key, kind_of_cause
from harness.nightly.flight import is_op_line, op_kind_of, read_flight
from harness.nightly.layout import WorkerFiles
from harness.nightly.proc import EXIT_EXCEPTION, cause_of
from harness.processes import tail
from harness.crashes import crash_signature, last_dump, stack_key, stack_of

HARNESS_EXCEPTIONS = {"HarnessError", "InvalidProgram", "NativeBuildError", "ImportError", "ModuleNotFoundError"}
"""Exceptions that are poolfuzz's own failures, never the target's."""


@dataclass
class Death:
    claim: Claim | None = None  # the finding this death is
    error: str | None = None  # the harness failed (a message for the report)

    @property
    def clean(self) -> bool:
        return self.claim is None and self.error is None


def examine(files: WorkerFiles, returncode: int, killed_for: str | None, target: str, seconds: float, source: str) -> Death:
    """The meaning of a worker's end (see the module docstring). `killed_for` is `timeout` or
    `oom` when the supervisor killed it for that reason."""
    log = tail(files.log, 20)
    if killed_for is None and returncode == 0:
        return Death()
    if killed_for is None and returncode == EXIT_EXCEPTION:
        return _exception(files, target, seconds, source)
    if killed_for is None and returncode > 0:
        return Death(error=f"{source} ({target}) exited with status {returncode}; its last output:\n{log}")
    cause = killed_for or cause_of(returncode)
    flight = read_flight(files.flight)
    if flight is None or not flight.program:
        return Death(error=f"{source} ({target}) died of {cause} before it ran any sequence; its last output:\n{log}")
    last_op = flight.last_op if flight.in_flight else ""
    detail = last_dump(tail(files.log, 400)) or log  # the dump's top holds the innermost frames
    return Death(claim=crash_claim(target, cause, flight.program, last_op, seconds, source, detail))


def _exception(files: WorkerFiles, target: str, seconds: float, source: str) -> Death:
    ended, raised = _read_json(files.exit), _read_json(files.raised)
    if ended is None:
        log = tail(files.log, 20)
        return Death(error=f"{source} ({target}) exited on an exception it did not record; its last output:\n{log}")
    what = f"{ended['type']}: {ended['message']}"
    if ended["type"] in HARNESS_EXCEPTIONS or raised is None or raised.get("type") != ended["type"]:
        return Death(error=f"{source} ({target}) stopped on {what}\n{ended.get('traceback', '')}")
    detail = f"{what}\n{ended.get('traceback', '')}"
    cause = f"exception-{ended['type']}"
    return Death(claim=crash_claim(target, cause, raised["program"], raised["op"], seconds, source, detail))


def crash_claim(target: str, cause: str, program: str, last_op: str, seconds: float, source: str, detail: str) -> Claim:
    """The claim of a target's death of `cause` while running `program` (last op `last_op`)."""
    op_kind = op_kind_of(last_op)
    signature = crash_signature(cause, op_kind)
    raw_ops = sum(1 for line in program.splitlines() if is_op_line(line))
    key = finding_key(target, signature, stack_key(detail))
    return Claim(key, target, signature, kind_of_cause(cause), program, round(seconds, 3),
                 source, op_kind=op_kind, cause=cause, last_op=last_op, detail=detail[-4000:], raw_ops=raw_ops,
                 description=f"the target {describe_cause(cause)} while running {last_op or 'no statement'}",
                 stack=stack_of(detail))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
