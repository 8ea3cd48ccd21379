"""Timing: medians over repeated runs, the contenders of one figure interleaved.

A *loop* is a callable `loop(count)` that does `count` units of work (cycles, programs). The
figures of one comparison are measured by `interleaved`: each repeat runs every contender once,
in turn, so that whatever else the machine is doing at that moment weighs on all of them alike,
and ratios between them are taken within the same run. The garbage collector is paused while a
loop is timed (as `timeit` does), and each loop is warmed up untimed first.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping

Loop = Callable[[int], None]


def seconds_of(loop: Loop, count: int) -> float:
    """Wall-clock seconds of one `loop(count)`, with the garbage collector paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        loop(count)
        return time.perf_counter() - started
    finally:
        if enabled:
            gc.enable()


def interleaved(loops: Mapping[str, Loop], repeats: int, count: int,
                warm_up: int | None = None) -> dict[str, float]:
    """Median microseconds per unit of each loop, over `repeats` interleaved runs of `count`.

    Each loop first runs `warm_up` units untimed (default: a tenth of `count`, at least one) for
    caches, first faults and lazy imports.
    """
    for loop in loops.values():
        if warm_up is None or warm_up > 0:
            loop(max(1, count // 10) if warm_up is None else warm_up)
    samples: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(repeats):
        for name, loop in loops.items():
            samples[name].append(seconds_of(loop, count) / count * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """`numerator / denominator`, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator
