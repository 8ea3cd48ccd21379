"""Perturbing the interpreter's thread scheduling, to make rare interleavings common.

CPython lets another thread run only at certain points (calls, loop back-edges, blocking calls)
and, by default, asks the running thread to let go only every 5 ms. A race window a few
bytecodes wide is then almost never hit. `switch_interval(seconds)` shortens that interval for
the duration of a block (and restores it, even on error), so that a thread is asked to let go
at nearly every such point: the technique of PULSE-style randomized schedulers, with the
interpreter's own switch points. It is process-wide: use it around a whole multi-threaded trial.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

SWITCH_INTERVALS = (1e-6, 1e-5, 1e-4, 5e-3)
"""Switch intervals (seconds) worth trying; 5 ms is the interpreter's default."""


@contextlib.contextmanager
def switch_interval(seconds: float | None) -> Iterator[None]:
    """`sys.setswitchinterval(seconds)` inside the block (None: leave it as it is)."""
    before = sys.getswitchinterval()
    if seconds is not None:
        sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
