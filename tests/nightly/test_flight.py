"""The flight recorder: each op is on disk before it runs, whatever the engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.executor import Executor, run
from harness.mutants import replaced
from harness.nightly.flight import CLOSED, FlightRecorder, read_flight, recording
from harness.ops import Grow
from harness.targets import make_target
from harness.targets.reference import ReferenceTarget
from harness.text import parse

from .helpers import SEGV, program


def test_each_op_is_recorded_before_it_is_applied(tmp_path: Path) -> None:
    record = tmp_path / "flight.ops"
    seen_at_grow = []

    def spy(original):
        def grow(self, op):
            seen_at_grow.append(record.read_text())
            return original(self, op)
        return grow

    with replaced(ReferenceTarget, "_grow", spy), recording(FlightRecorder(record)) as recorder:
        assert run(program(SEGV), make_target("reference")).passed
    assert seen_at_grow[0].rstrip().endswith("grow i1 1")  # on disk while the grow runs
    assert parse(seen_at_grow[0]).statements == program(SEGV).statements
    assert record.read_text().rstrip().endswith(CLOSED)
    assert (recorder.sequences, recorder.ops) == (1, 8)
    assert "static/mprotect:grow->number" in recorder.features


def test_a_new_sequence_replaces_the_record(tmp_path: Path) -> None:
    record = tmp_path / "flight.ops"
    with recording(FlightRecorder(record)) as recorder:
        run(program(SEGV), make_target("reference"))
        run(program("version 1\npool memories=1\nmodule z min=0\n"), make_target("reference"))
    flight = read_flight(record)
    assert flight is not None and not flight.in_flight
    assert flight.program == "version 1\npool memories=1\nmodule z min=0\n" and recorder.sequences == 2


def test_a_forked_replay_leaves_the_workers_record_alone(tmp_path: Path) -> None:
    record = tmp_path / "flight.ops"
    with recording(FlightRecorder(record)) as recorder:
        run(program(SEGV), make_target("reference"))
        before = record.read_bytes()
        pid = os.fork()
        if pid == 0:  # as an engine's minimization child: replay another program, then exit
            try:
                run(program("version 1\npool memories=1\nmodule z min=0\n"), make_target("reference"))
            finally:
                os._exit(0)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert record.read_bytes() == before and recorder.sequences == 1


def test_recording_restores_the_executor(tmp_path: Path) -> None:
    methods = (Executor.open, Executor.step, Executor.close)
    with pytest.raises(RuntimeError):
        with recording(FlightRecorder(tmp_path / "f.ops")):
            raise RuntimeError
    assert (Executor.open, Executor.step, Executor.close) == methods


def test_an_op_that_raises_leaves_its_sequence(tmp_path: Path) -> None:
    def broken(original):
        return lambda self, op: (_ for _ in ()).throw(KeyError("lost slot"))

    raised = tmp_path / "raised.json"
    with replaced(ReferenceTarget, "_grow", broken), recording(FlightRecorder(tmp_path / "f.ops", raised)):
        with pytest.raises(KeyError):
            run(program(SEGV), make_target("reference"))
    record = json.loads(raised.read_text())
    assert record["type"] == "KeyError" and record["op"] == "grow i1 1"
    assert parse(record["program"]).statements[-1] == Grow("i1", 1)


def test_reading_a_record_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "flight.ops"
    assert read_flight(path) is None
    path.write_text("version 1\npool memories=1\n# a comment\nmodule a min=1\ninstantiate i1 a\ngrow i1 1\n")
    flight = read_flight(path)
    assert flight.in_flight and flight.last_op == "grow i1 1" and flight.op_kind == "grow"
    path.write_text("version 1\npool memories=1\n")
    assert not read_flight(path).in_flight and read_flight(path).op_kind is None
