"""The crashy target: the reference allocator until a failure pattern, then a real crash or hang."""

from __future__ import annotations

import pytest

from harness.executor import run
from harness.nightly.isolate import CRASHED, PASSED, run_isolated
from harness.targets import available, make_target
from harness.targets.crashy import active_modes

from .helpers import HANG, PASSING, SEGV, program


def test_crashy_is_a_target() -> None:
    assert "crashy" in available()
    assert make_target("crashy").name == "crashy"


def test_modes_default_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POOLFUZZ_CRASHY", raising=False)
    assert active_modes() == {"segv": 3, "hang": 2}
    monkeypatch.setenv("POOLFUZZ_CRASHY", "segv=1, abort")
    assert active_modes() == {"segv": 1, "abort": 0}
    monkeypatch.setenv("POOLFUZZ_CRASHY", "")
    assert active_modes() == {}


@pytest.mark.parametrize("bad", ["explode", "segv=0", "hang=x"])
def test_bad_modes_are_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("POOLFUZZ_CRASHY", bad)
    with pytest.raises(ValueError, match="segv, hang, abort, oom"):
        active_modes()


def test_without_modes_it_is_the_reference_allocator(crashy) -> None:
    crashy("")
    for text in (SEGV, HANG, PASSING):
        assert run(program(text), make_target("crashy")).passed


def test_segv_on_the_nth_grow_of_one_instance(crashy) -> None:
    crashy("segv=2")
    assert run_isolated(program(SEGV), "crashy", timeout=30).status == PASSED  # one grow only
    crashy("segv=1")
    verdict = run_isolated(program(SEGV), "crashy", timeout=30)
    assert (verdict.status, verdict.cause, verdict.index) == (CRASHED, "SIGSEGV", 7)


def test_hang_on_shared_grow(crashy) -> None:
    crashy("hang=1")
    verdict = run_isolated(program(HANG), "crashy", timeout=1.5)
    assert (verdict.status, verdict.cause, verdict.index) == (CRASHED, "timeout", 4)


def test_abort_on_a_64k_read(crashy) -> None:
    crashy("abort")
    text = "version 1\npool memories=1 max-memory=1MiB\nmodule a min=1\ninstantiate i1 a\nread i1 0 64KiB\n"
    verdict = run_isolated(program(text), "crashy", timeout=30)
    assert (verdict.status, verdict.cause, verdict.index) == (CRASHED, "SIGABRT", 2)
