"""Linearizability trials and campaigns: the clean allocator passes, the concurrency mutants
are caught.

Every campaign that must reach a verdict is bounded by a number of trials, never by seconds:
how many trials fit in a time depends on the machine's load. Nothing asserts how long anything
took (`poolfuzz lincheck --mutant NAME` measures the time to detection).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.stress import lincheck, trial
from harness.stress.history import Operation, from_json
from harness.stress.linearizability import check
from harness.stress.models import WASM_PAGE

CATCH_TRIALS = 5000
"""Trials a campaign against a concurrency mutant may run before it counts as not caught. From
seeds 0, 10000, ..., 40000 both were caught within 400 trials (the lock mutant within 40)."""

UNBOUNDED = float("inf")

CONCURRENCY_MUTANTS = ("shared-grow-without-lock", "slot-double-handout")


def test_a_trial_of_the_clean_allocator_is_linearizable() -> None:
    done = trial.run_trial(trial.plan(7))
    assert done.ok, done.result.explain() if done.result else done.details
    kinds = {op.kind for op in done.history}
    assert kinds >= {"instantiate", "deallocate", "grow", "load"}
    per_thread = {}
    for op in done.history:
        per_thread.setdefault(op.thread, []).append(op)
    for ops in per_thread.values():  # a thread's operations never overlap
        assert all(a.ret <= b.call for a, b in zip(ops, ops[1:]))


def test_trial_plans_are_drawn_from_the_seed() -> None:
    assert trial.plan(11) == trial.plan(11)
    plans = {trial.plan(seed) for seed in range(40)}
    assert {p.strategy for p in plans} == {"reuse-affinity", "next-available", "random"}
    assert {p.style for p in plans} == {"static", "dynamic"}


def test_a_short_campaign_of_the_clean_allocator_passes(tmp_path: Path) -> None:
    report = lincheck.run(duration=UNBOUNDED, seed=1000, out=tmp_path, max_trials=400)
    assert report.ok, report.describe()
    assert report.trials == 400 and report.operations > 400 * 40
    assert not list(tmp_path.glob("seed*"))  # no violation report


@pytest.mark.parametrize("mutant", CONCURRENCY_MUTANTS)
def test_a_concurrency_mutant_is_caught_with_a_readable_report(tmp_path: Path, mutant: str) -> None:
    report = lincheck.run(duration=UNBOUNDED, seed=0, out=tmp_path, mutant=mutant,
                          max_trials=CATCH_TRIALS)
    assert not report.ok, f"{mutant} not caught in {report.describe()}"
    folder = report.violation.folder
    text = (folder / "report.txt").read_text()
    assert f"mutant: {mutant}" in text and "no sequential order explains" in text
    history = from_json((folder / "history.json").read_text())
    assert len(history) == len(report.violation.trial.history)
    page = (folder / "timeline.html").read_text()
    assert "<svg" in page and "refused next" in page


def test_the_shared_memory_race_shows_as_a_fault_inside_the_published_size(tmp_path: Path) -> None:
    report = lincheck.run(duration=UNBOUNDED, seed=0, out=tmp_path,
                          mutant="shared-grow-without-lock", max_trials=CATCH_TRIALS)
    assert report.violation is not None
    (bad,) = report.violation.trial.result.violations()
    assert bad.key == "shared:size"
    assert any(op.result == "fault" for op in bad.ops)


def pool_op(n: int, thread: int, kind: str, args: tuple, result: tuple, call: int,
            ret: int) -> Operation:
    return Operation(n, thread, "pool", kind, args, result, call, ret)


def test_a_slot_freed_after_its_deallocation_returned_is_the_known_deviation() -> None:
    """Thread 1 deallocates slot 1 and, once that returned, gets slot 2 under next-available:
    slot 1 was still being freed by thread 0's flush, which took it out of the queue."""
    plan = dataclasses.replace(trial.plan(0), memories=3, strategy="next-available")
    history = [
        pool_op(0, 0, "instantiate", ("a", 1), ("slot", 0, True), 0, 1),
        pool_op(1, 1, "instantiate", ("a", 2), ("slot", 1, True), 2, 3),
        pool_op(2, 1, "deallocate", ("a", 2, 1), ("ok", True), 10, 20),
        pool_op(3, 0, "deallocate", ("a", 1, 0), ("ok", True), 15, 40),
        pool_op(4, 1, "instantiate", ("a", 3), ("slot", 2, True), 21, 25),
    ]
    late = trial.Trial(plan, history)
    late.result = check(history, plan.specification())
    assert not late.result.ok and trial.only_late_releases(late)
    late.deviation = True
    assert late.ok
    held_twice = [*history[:2], pool_op(2, 1, "instantiate", ("a", 3), ("slot", 0, True), 4, 5)]
    twice = trial.Trial(plan, held_twice)
    twice.result = check(held_twice, plan.specification())
    assert not twice.result.ok and not trial.only_late_releases(twice)


def test_wasm_accesses_are_bounded_by_the_published_length() -> None:
    from allocator import SharedMemory

    with SharedMemory(1, 2) as memory:
        assert trial.wasm_store(memory, WASM_PAGE - 1, 9) == "ok"
        assert trial.wasm_load(memory, WASM_PAGE - 1) == 9
        assert trial.wasm_load(memory, WASM_PAGE) == "oob"
        assert memory.grow(1) == 1
        assert trial.wasm_load(memory, 2 * WASM_PAGE - 1) == 0


@pytest.mark.stress
@pytest.mark.slow
def test_the_clean_allocator_stays_linearizable_for_long(tmp_path: Path) -> None:
    report = lincheck.run(duration=45, seed=50_000, out=tmp_path)
    assert report.ok, report.describe()
    summary = report.summary()
    assert json.loads(json.dumps(summary))["ok"] is True


@pytest.mark.stress
@pytest.mark.slow
@pytest.mark.parametrize("seed", [10_000, 20_000, 30_000])
@pytest.mark.parametrize("mutant", CONCURRENCY_MUTANTS)
def test_concurrency_mutants_are_caught_from_other_seeds(tmp_path: Path, mutant: str,
                                                         seed: int) -> None:
    report = lincheck.run(duration=UNBOUNDED, seed=seed, out=tmp_path, mutant=mutant,
                          max_trials=CATCH_TRIALS)
    assert not report.ok, f"{mutant} not caught in {report.describe()}"
