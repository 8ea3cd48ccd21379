"""Timing: medians over repeated runs, the contenders of one figure interleaved.

A *loop* is a callable `loop(count)` that does `count` units of work (cycles, programs). The
figures of one comparison are measured by `interleaved`: each repeat runs every contender once,
in turn, so that whatever else the machine is doing at that moment weighs on all of them alike,
and ratios between them are taken within the same run. The garbage collector is paused while a
loop is timed (as `timeit` does), and each loop is warmed up untimed first.

Time is the CPU time of the calling thread (`time.thread_time`: user plus system, so syscalls
and page faults count), not wall-clock time: on a machine shared with other work, a run that
waited for a CPU would otherwise count the wait (measured at a load average of 7 on 2 CPUs:
wall-clock samples of one cycle case ranged from 20 to 2,400 µs, CPU-time samples within ±15%
of their median). Every contender runs on one thread only: the calling thread, or the main
thread of a worker process of its own (`harness.bench.isolated`, for work whose heap must not be
shaped by the other contenders'), whose CPU time it reports.
"""

from __future__ import annotations

import functools
import gc
import statistics
import time
from collections.abc import Callable, Mapping

Loop = Callable[[int], None]
Timer = Callable[[int], float]
"""Runs `count` units of some loop and returns the CPU seconds they took (`seconds_of`, or a
loop timed in another process: `harness.bench.isolated`)."""


class BenchError(RuntimeError):
    """The benchmark could not measure something: a benchmarked program did not pass, or a
    worker that times loops failed."""


def seconds_of(loop: Loop, count: int) -> float:
    """CPU seconds of the calling thread over one `loop(count)`, the garbage collector paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.thread_time()
        loop(count)
        return time.thread_time() - started
    finally:
        if enabled:
            gc.enable()


def interleaved(loops: Mapping[str, Loop], repeats: int, count: int,
                warm_up: int | None = None) -> dict[str, float]:
    """Median microseconds per unit of each loop, over `repeats` interleaved runs of `count`,
    the loops run by the calling thread (see `interleaved_timers`)."""
    return interleaved_timers({name: functools.partial(seconds_of, loop) for name, loop in loops.items()},
                              repeats, count, warm_up)


def interleaved_timers(timers: Mapping[str, Timer], repeats: int, count: int,
                       warm_up: int | None = None) -> dict[str, float]:
    """Median microseconds per unit of each timer's loop, over `repeats` interleaved runs of
    `count`.

    Each loop first runs `warm_up` units untimed (default: a tenth of `count`, at least one) for
    caches, first faults and lazy imports.
    """
    for timer in timers.values():
        if warm_up is None or warm_up > 0:
            timer(max(1, count // 10) if warm_up is None else warm_up)
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(repeats):
        for name, timer in timers.items():
            samples[name].append(timer(count) / count * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """`numerator / denominator`, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator
