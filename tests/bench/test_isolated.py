"""Loops timed in worker processes of their own: each group's loops run in its own process,
answer with that process's CPU time, and a worker that fails or dies is a `BenchError`."""

from __future__ import annotations

import os

import pytest

from harness.bench.isolated import isolated
from harness.bench.timing import BenchError, interleaved_timers


def pid_loops(record: str) -> dict:
    """Two loops that note the worker's pid in the file `record`, and burn some CPU."""

    def loop(count: int) -> None:
        with open(record, "a") as out:
            out.write(f"{os.getpid()}\n")
        sum(range(20_000 * count))

    return {f"{record} a": loop, f"{record} b": loop}


def test_each_group_runs_in_a_process_of_its_own(tmp_path):
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    with isolated({"first": (pid_loops, (first,)), "second": (pid_loops, (second,))}) as timers:
        assert set(timers) == {f"{first} a", f"{first} b", f"{second} a", f"{second} b"}
        micros = interleaved_timers(timers, repeats=3, count=2, warm_up=0)
    assert all(value > 0 for value in micros.values())
    pids = [set(open(path).read().split()) for path in (first, second)]
    assert all(len(group) == 1 for group in pids)  # every loop of a group in the same worker
    assert pids[0] != pids[1] and str(os.getpid()) not in pids[0] | pids[1]


def failing_loops() -> dict:
    raise ValueError("no programs")


def loops_that_fail_or_die() -> dict:
    def fails(count: int) -> None:
        raise RuntimeError("a program diverged")

    def dies(count: int) -> None:
        os._exit(3)

    return {"fails": fails, "dies": dies}


def test_a_worker_that_fails_or_dies_is_a_bench_error_naming_it():
    with pytest.raises(BenchError, match="the checked benchmark worker failed: ValueError: no programs"):
        with isolated({"checked": (failing_loops, ())}):
            pass
    with isolated({"unchecked": (loops_that_fail_or_die, ())}) as timers:
        with pytest.raises(BenchError, match="unchecked .*failed: RuntimeError: a program diverged"):
            timers["fails"](1)
        with pytest.raises(BenchError, match=r"unchecked benchmark worker died \(exit status 3\)"):
            timers["dies"](1)
