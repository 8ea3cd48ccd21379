"""Isolated runs: whatever a program does to its child, the caller gets a verdict and goes on."""

from __future__ import annotations

import os

import psutil

from harness.mutants import replaced
from harness.nightly.isolate import CRASHED, DIVERGED, INVALID, PASSED, SKIPPED, Isolated, run_isolated
from harness.targets.reference import ReferenceTarget

from .helpers import PASSING, SEGV, program


def no_children() -> bool:
    return not [c for c in psutil.Process().children() if c.status() != psutil.STATUS_ZOMBIE]


def test_passing_program() -> None:
    verdict = run_isolated(program(PASSING), "reference", timeout=30)
    assert verdict.status == PASSED and verdict.divergence is None and verdict.seconds > 0


def test_divergence_comes_back_whole() -> None:
    verdict = run_isolated(program(PASSING.replace("=> slot 0\nread", "=> slot 1\nread")), "reference", timeout=30)
    assert verdict.status == DIVERGED
    assert verdict.divergence is not None and verdict.divergence.signature == "instantiate/result/differs"
    assert verdict.index == verdict.divergence.index == 4


def test_segfault_kills_only_the_child(crashy) -> None:
    crashy("segv=1")
    verdict = run_isolated(program(SEGV), "crashy", timeout=30)
    assert (verdict.status, verdict.cause) == (CRASHED, "SIGSEGV")
    assert os.getpid() == psutil.Process().pid and no_children()


def test_hang_is_bounded_by_the_timeout(crashy) -> None:
    crashy("hang=1")
    text = "version 1\npool memories=1 max-memory=1MiB\nshared s1 min=0 max=4\nshared-grow s1 1\n"
    verdict = run_isolated(program(text), "crashy", timeout=1.5)
    assert (verdict.status, verdict.cause, verdict.index) == (CRASHED, "timeout", 1)
    assert 1.5 <= verdict.seconds < 15 and no_children()


def test_memory_exhaustion_is_killed_at_the_limit(crashy) -> None:
    crashy("oom")
    text = "version 1\npool memories=1 max-memory=1MiB\nmodule a min=1\ninstantiate i1 a\nread i1 0 16\n"
    verdict = run_isolated(program(text), "crashy", timeout=60, rss_limit_mb=200)
    assert (verdict.status, verdict.cause, verdict.index) == (CRASHED, "oom", 2)
    assert "limit of 200 MiB" in verdict.detail and no_children()


def test_exception_escaping_the_target_is_a_crash_of_its_type() -> None:
    def broken(original):
        return lambda self, op: (_ for _ in ()).throw(KeyError("lost slot"))

    with replaced(ReferenceTarget, "_grow", broken):
        verdict = run_isolated(program(SEGV), "reference", timeout=30)
    assert (verdict.status, verdict.cause, verdict.index) == (CRASHED, "exception-KeyError", 7)
    assert "lost slot" in verdict.detail


def test_a_name_misused_at_run_time_is_invalid_and_an_unsupported_pool_skipped() -> None:
    text = "version 1\npool memories=1 max-memory=64KiB\nmodule a min=1\ninstantiate i1 a\ninstantiate i2 a\nsize i2\n"
    assert run_isolated(program(text), "reference", timeout=30).status == INVALID

    def refuse(original):
        from harness.targets import Unsupported

        def open_(self, pool):
            raise Unsupported("no such pool here")

        return open_

    with replaced(ReferenceTarget, "open", refuse):
        verdict = run_isolated(program(PASSING), "reference", timeout=30)
    assert (verdict.status, verdict.detail) == (SKIPPED, "no such pool here")


def test_cancel_leaves_no_child(crashy) -> None:
    crashy("hang=1")
    text = "version 1\npool memories=1 max-memory=1MiB\nshared s1 min=0 max=4\nshared-grow s1 1\n"
    handle = Isolated(program(text), "crashy", timeout=60)
    assert handle.poll() is None
    handle.cancel()
    assert no_children()
