"""Fault injection along whole sequences: every n-th call fails, the pool stays sound."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from harness.mutants import activate
from harness.stress import faultinject, faultrun
from harness.stress.faultinject import FAILABLE, FailNth, Injection, generated_program, sweep
from harness.stress.mutants import STRESS_MUTANTS
from harness.ops import Program
from harness.text import parse_file

CORPUS = Path(__file__).parents[2] / "corpora" / "regression"

EVERY_CALL = Path(__file__).parent / "every-call.ops"
"""A 50-op program that makes each of the `FAILABLE` calls at least twice (most generated ones
make no `ftruncate` or no `madvise`), kept as a file so that it does not change with the
generator."""


def test_generated_programs_have_fifty_ops_and_depend_only_on_the_seed() -> None:
    assert generated_program(4) == generated_program(4)
    assert len(generated_program(4).statements) == 50


def test_the_hook_fails_exactly_the_nth_call_of_its_kind() -> None:
    hook = FailNth(Injection("mprotect", 2, errno.EAGAIN))
    answers = [hook(call) for call in ("mmap", "mprotect", "mmap", "mprotect", "mprotect")]
    assert answers == [None, None, None, errno.EAGAIN, None] and hook.fired
    assert hook.counts == {"mmap": 2, "mprotect": 3}


def program(source: Path | str | int) -> Program:
    """A corpus file by name, a file by path, or a generated program by seed."""
    if isinstance(source, int):
        return generated_program(source)
    return parse_file(source if isinstance(source, Path) else CORPUS / source)


def test_every_failable_call_fails_at_every_point_of_a_fifty_op_sequence() -> None:
    report = sweep(program(EVERY_CALL))
    assert report.ok, report.describe()
    assert report.ops == 50 and all(report.calls[call] >= 2 for call in FAILABLE), report.calls
    assert report.runs == 1 + 2 * sum(report.calls.values())
    assert report.fired == report.runs - 1 and report.failed_cleanly > 0


def test_every_injection_along_a_generated_sequence_leaves_the_pool_sound() -> None:
    report = sweep(generated_program(1))
    assert report.ok, report.describe()
    assert report.runs == 1 + 2 * sum(report.calls.values())
    assert report.fired == report.runs - 1 and report.failed_cleanly > 0


@pytest.mark.parametrize("name", ["memory-zeroed-reuse.ops", "switch-image-keep-resident.ops",
                                  "memfd-growth-grow-and-reset.ops"])
def test_every_injection_along_a_corpus_sequence_leaves_the_pool_sound(name: str) -> None:
    report = sweep(parse_file(CORPUS / name))
    assert report.ok, report.describe()
    assert report.fired == report.runs - 1


@pytest.mark.parametrize(("mutant", "source"), [
    ("failed-reset-ignored", "memory-zeroed-reuse.ops"),
    ("failed-reset-ignored", 4),  # seeds whose generated program makes the failing call
    ("failed-reset-ignored", EVERY_CALL),
    ("unknown-slot-not-repaved", 24),
    ("unknown-slot-not-repaved", EVERY_CALL),
])
def test_a_mutant_that_ignores_a_failed_reset_is_caught(mutant: str,
                                                      source: Path | str | int) -> None:
    with activate(STRESS_MUTANTS[mutant]):
        report = sweep(program(source), stop_at_first=True)
    assert not report.ok
    problem = report.problems[0]
    assert problem.injection is not None and problem.injection.call in FAILABLE
    assert "fails with" in problem.describe()


def test_an_exception_after_the_sequence_is_a_problem_of_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def dirty(run: faultrun.Run) -> None:
        raise AssertionError("instantiate on dirty slot")

    monkeypatch.setattr(faultrun.Run, "_next_tenants", dirty)
    result = faultinject.run_once(program("memory-zeroed-reuse.ops"), None)
    assert [p.describe() for p in result.problems] == [
        "no injected fault: after the sequence: the next tenants: raised AssertionError: "
        "instantiate on dirty slot"]


def test_a_failed_reset_shows_the_previous_tenants_bytes() -> None:
    with activate(STRESS_MUTANTS["failed-reset-ignored"]):
        result = faultinject.run_once(parse_file(CORPUS / "memory-zeroed-reuse.ops"),
                                      Injection("madvise", 1, errno.ENOMEM))
    assert result.fired
    assert "does not read as its module's image and zeros: byte 0x0 is fefefefefefefefe" in (
        result.problems[0].text)


@pytest.mark.stress
@pytest.mark.slow
@pytest.mark.parametrize("seed", range(20))
def test_injection_sweeps_over_many_generated_sequences(seed: int) -> None:
    report = sweep(generated_program(1000 + seed))
    assert report.ok, report.describe()


@pytest.mark.stress
@pytest.mark.slow
def test_injection_sweeps_over_the_whole_corpus() -> None:
    problems = []
    for path in sorted(CORPUS.glob("*.ops")):
        report = sweep(parse_file(path))
        problems += [f"{path.name}: {p.describe()}" for p in report.problems]
    assert not problems, "\n".join(problems[:10])
