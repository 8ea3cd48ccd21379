"""Triage: minimization with every candidate in its own child, then an annotated, saved reproducer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from allocator.memory import LinearMemory
from harness.executor import run
from harness.mutants import replaced
from harness.nightly.board import SAVED, Board, divergence_claim
from harness.nightly.deaths import crash_claim
from harness.nightly.isolate import run_isolated
from harness.nightly.layout import RunDir
from harness.nightly.triage import TriageOptions, next_claim, triage
from harness.targets import make_target
from harness.text import format_program, parse

from .helpers import HANG, PASSING, SEGV, program

HANG_TIMEOUT = 1.5
"""Long enough for a child on a busy machine to reach the op that hangs (each hanging candidate
costs this much)."""


@pytest.fixture
def run_dir(tmp_path: Path) -> RunDir:
    return RunDir(tmp_path / "run").create()


def claimed(run_dir: RunDir, claim):
    assert Board(run_dir.claims).claim(claim)
    return claim


def test_a_crash_is_minimized_and_saved_with_its_header(crashy, run_dir: RunDir) -> None:
    crashy("segv=1")
    claim = claimed(run_dir, crash_claim("crashy", "SIGSEGV", SEGV, "grow i1 1", 4.0, "worker 0", ""))
    saved = triage(claim, run_dir, TriageOptions(timeout=30), time.monotonic() + 60)
    assert saved.status == SAVED and saved.minimized and saved.ops == 3
    text = (run_dir.root / saved.path).read_text()
    assert "# finding: crash/SIGSEGV/grow (target crashy)" in text
    assert "# the target died of SIGSEGV while running statement 3: grow i1 1" in text
    assert "--target crashy (the replaying process ends the same way)" in text
    reproducer = parse(text)
    assert [op.kind for op in reproducer.statements] == ["module", "instantiate", "grow"]
    verdict = run_isolated(reproducer, "crashy", timeout=30)
    assert (verdict.cause, verdict.index) == ("SIGSEGV", 2)
    assert Board(run_dir.claims).get(claim.key).status == SAVED


def test_a_hang_is_minimized_with_a_timeout_per_candidate(crashy, run_dir: RunDir) -> None:
    crashy("hang=1")
    claim = claimed(run_dir, crash_claim("crashy", "timeout", HANG, "shared-grow s1 1", 1.0, "worker 0", ""))
    saved = triage(claim, run_dir, TriageOptions(timeout=HANG_TIMEOUT), time.monotonic() + 60)
    assert saved.minimized and saved.kind == "hang"
    assert [op.kind for op in parse((run_dir.root / saved.path).read_text()).statements] == ["shared", "shared-grow"]


def test_a_divergence_is_minimized_annotated_and_saved(run_dir: RunDir) -> None:
    def off_by_one(original):
        return lambda self: original(self) + 1

    text = PASSING + "grow i1 1\nsize i1\n"
    with replaced(LinearMemory, "size", off_by_one):
        divergence = run(program(text), make_target("reference")).divergence
        assert divergence is not None
        raw = format_program(divergence.reproducer)
        claim = claimed(run_dir, divergence_claim("reference", divergence, raw, 2.0, "worker 0"))
        saved = triage(claim, run_dir, TriageOptions(timeout=30), time.monotonic() + 60)
    assert saved.signature == "size/result/differs" and saved.minimized and saved.ops <= 5  # the grow went
    saved_text = (run_dir.root / saved.path).read_text()
    assert "# finding: size/result/differs (target reference)" in saved_text
    assert "grow" not in saved_text and saved_text.rstrip().endswith("size i1 => 1")  # annotated by the model
    assert "statement 5: size i1 => 1" in saved_text


def test_a_finding_that_does_not_fail_again_is_saved_as_seen(run_dir: RunDir) -> None:
    claim = claimed(run_dir, crash_claim("reference", "SIGSEGV", SEGV, "grow i1 1", 1.0, "worker 0", ""))
    saved = triage(claim, run_dir, TriageOptions(timeout=30), time.monotonic() + 60)
    assert saved.status == SAVED and not saved.minimized and saved.ops == 8
    text = (run_dir.root / saved.path).read_text()
    assert "# not minimized: it did not fail the same way when replayed alone" in text
    assert parse(text).statements == program(SEGV).statements


def test_no_time_left_saves_as_seen(crashy, run_dir: RunDir) -> None:
    crashy("segv=1")
    claim = claimed(run_dir, crash_claim("crashy", "SIGSEGV", SEGV, "grow i1 1", 1.0, "worker 0", ""))
    saved = triage(claim, run_dir, TriageOptions(timeout=30), time.monotonic())
    assert not saved.minimized and "time ran out" in saved.description


def test_a_hang_gives_way_to_a_quicker_finding_and_resumes_where_it_was(crashy, run_dir: RunDir) -> None:
    crashy("hang=1,segv=1")
    board = Board(run_dir.claims)
    hang = claimed(run_dir, crash_claim("crashy", "timeout", HANG, "shared-grow s1 1", 1.0, "worker 0", ""))
    answers = iter([False, True])
    preempted = triage(hang, run_dir, TriageOptions(timeout=HANG_TIMEOUT), time.monotonic() + 60,
                       preempt=lambda: next(answers, True))
    assert preempted is None
    waiting = board.get(hang.key)
    assert waiting.status == "claimed" and waiting.partial and len(parse(waiting.partial).statements) <= 5
    crash = claimed(run_dir, crash_claim("crashy", "SIGSEGV", SEGV, "grow i1 1", 9.0, "worker 1", ""))
    assert next_claim(board).key == crash.key  # hangs last, whatever their age
    triage(next_claim(board), run_dir, TriageOptions(timeout=30), time.monotonic() + 60)
    assert next_claim(board).key == hang.key
    assert triage(board.get(hang.key), run_dir, TriageOptions(timeout=HANG_TIMEOUT), time.monotonic() + 60).ops == 2
