"""A worker's end: nothing, a finding with the flight record as reproducer, or a harness error."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from harness.nightly.deaths import examine
from harness.nightly.layout import WorkerFiles
from harness.nightly.proc import EXIT_EXCEPTION

from .helpers import SEGV


@pytest.fixture
def files(tmp_path: Path) -> WorkerFiles:
    files = WorkerFiles(tmp_path / "workers" / "0").create()
    files.log.write_text("Fatal Python error: Segmentation fault\n  File crashy.py, line 87 in segfault\n")
    return files


def test_a_clean_exit_means_nothing(files: WorkerFiles) -> None:
    assert examine(files, 0, None, "crashy", 1.0, "worker 0").clean


def test_a_signal_during_an_op_is_a_crash_of_that_op(files: WorkerFiles) -> None:
    files.flight.write_text(SEGV)
    death = examine(files, -signal.SIGSEGV, None, "crashy", 12.5, "worker 0")
    claim = death.claim
    assert claim is not None and death.error is None
    assert (claim.key, claim.kind, claim.cause, claim.op_kind) == ("crashy:crash/SIGSEGV/grow", "crash", "SIGSEGV", "grow")
    assert claim.raw == SEGV and claim.raw_ops == 8 and claim.last_op == "grow i1 1" and claim.seconds == 12.5
    assert "line 87 in segfault" in claim.detail and "died of SIGSEGV" in claim.description


def test_a_hang_or_memory_kill_is_named_by_its_reason(files: WorkerFiles) -> None:
    files.flight.write_text(SEGV)
    assert examine(files, -signal.SIGKILL, "timeout", "crashy", 1, "w").claim.signature == "crash/timeout/grow"
    assert examine(files, -signal.SIGKILL, "oom", "crashy", 1, "w").claim.kind == "oom"


def test_a_signal_between_sequences_names_no_op(files: WorkerFiles) -> None:
    files.flight.write_text(SEGV + "# closed\n")
    assert examine(files, -signal.SIGABRT, None, "crashy", 1, "w").claim.signature == "crash/SIGABRT/none"


def test_an_exception_raised_by_an_op_is_a_finding(files: WorkerFiles) -> None:
    files.exit.write_text(json.dumps({"type": "KeyError", "message": "'slot'", "traceback": "Traceback ..."}))
    files.raised.write_text(json.dumps({"type": "KeyError", "message": "'slot'", "op": "grow i1 1", "program": SEGV}))
    claim = examine(files, EXIT_EXCEPTION, None, "reference", 3, "worker 1").claim
    assert claim.signature == "crash/exception-KeyError/grow" and claim.raw == SEGV and "Traceback" in claim.detail


@pytest.mark.parametrize("exit_record, raised_record", [
    ({"type": "HarnessError", "message": "invariant", "traceback": "T"},
     {"type": "HarnessError", "op": "grow i1 1", "program": SEGV}),
    ({"type": "ValueError", "message": "no .ops files", "traceback": "T"}, None),
    (None, None),
])
def test_an_exception_of_the_harness_is_an_error(files: WorkerFiles, exit_record, raised_record) -> None:
    for path, record in ((files.exit, exit_record), (files.raised, raised_record)):
        if record is not None:
            path.write_text(json.dumps(record))
    death = examine(files, EXIT_EXCEPTION, None, "reference", 3, "worker 1")
    assert death.claim is None and "worker 1 (reference)" in death.error


def test_other_ends_are_errors_of_the_harness(files: WorkerFiles) -> None:
    assert "exited with status 3" in examine(files, 3, None, "reference", 1, "worker 0").error
    assert "before it ran any sequence" in examine(files, -signal.SIGSEGV, None, "reference", 1, "worker 0").error
