"""The pieces of the benchmark that are exact: the recorded calls the C floor replays, the
sequences the throughput section runs, and the tables' rendering of what was not measured."""

from __future__ import annotations

import copy

import pytest

from harness import validate
from harness.bench import tables
from harness.bench.cycle import MEMORY_PAGES, CycleCase, FloorCycle, ReferenceCycle
from harness.bench.native import floor
from harness.bench.sequences import atheris_programs, hypothesis_programs
from harness.bench.trace import NotReplayable, SlotCall, record_cycles
from harness.bench.throughput import run_checked, run_unchecked
from harness.ops import WASM_PAGE

MEMORY = MEMORY_PAGES * WASM_PAGE
MADV_DONTNEED, PROT_RW = 4, 3


@pytest.mark.parametrize(
    "keep_resident, steady_reset",
    [(False, SlotCall("madvise", 0, MEMORY, MADV_DONTNEED)), (True, SlotCall("memset", 0, MEMORY, 0))],
)
def test_recorded_cycles_are_the_reference_calls(keep_resident, steady_reset):
    case = CycleCase(16, keep_resident)
    reference = ReferenceCycle(case.pool(), case.pages)
    try:
        first, steady = record_cycles(reference.engine, reference.module,
                                      lambda base: floor().lib.bench_dirty(base, case.pages))
    finally:
        reference.close()
    assert first.instantiate == (SlotCall("mprotect", 0, MEMORY, PROT_RW),)
    assert first.deallocate == steady.deallocate == (steady_reset,)
    assert steady.instantiate == ()  # a warm slot of the same size: nothing to do


def test_the_floor_replays_a_recorded_cycle():
    case = CycleCase(16, False)
    side = FloorCycle(case.pool(), case.pages)
    try:
        side.loop(3)
    finally:
        side.close()


def test_a_cycle_with_an_image_cannot_be_replayed():
    reference = ReferenceCycle(CycleCase(0, True).pool(), 0)
    module = reference.engine.compile("image", 1, 1, data=[(0, b"x")])
    try:
        with pytest.raises(NotReplayable, match="mmap|memcpy"):
            record_cycles(reference.engine, module, lambda base: None)
    finally:
        module.drop()
        reference.close()


@pytest.mark.parametrize("make", [hypothesis_programs, atheris_programs])
def test_typical_sequences_are_valid_reproducible_and_pass(make):
    programs = make(3, 7)
    assert programs == make(3, 7) and programs != make(3, 8)
    for program in programs:
        assert program.statements
        validate.check(program)
        run_checked(program)
        run_unchecked(program)


def test_tables_show_what_was_not_measured(smoke):
    report = copy.deepcopy(smoke[0])
    for figures in report["cycle"].values():
        figures["wasmtime_us"] = figures["reference_per_wasmtime"] = None
    report["claims"]["faults_per_reuse"]["wasmtime"] = None
    report["targets"][0].update(measured=None, met=None)
    text = tables.text(report)
    assert "n/a" in text.split("2. Harness")[0]
    assert "| n/a |" in tables.markdown(report)
