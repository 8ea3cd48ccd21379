"""Loops timed in processes of their own: one worker process per group of loops.

Why. Two kinds of work timed in one process shape each other's heap: the programs the
throughput section runs allocate buffers of up to 16 MiB (images), and glibc's malloc serves
them from whatever the work before left behind (its mmap and trim thresholds move with what was
freed last). Measured in one process, the unchecked Hypothesis programs took 53 µs an op when
timed right after the checked ones and 107 µs an op in a process of their own, so the
checked/unchecked ratio said more about the order of the loops than about the checks. A
campaign runs one kind of work alone, so each group runs in its own process, forked before any
of that work has run (the parent never runs the loops), and the parent still interleaves the
groups' runs in time (`timing.interleaved_timers`), so that a burst of other work on the
machine weighs on all of them alike.

    with isolated({"checked": (make_loops, (plan, "checked")), ...}) as timers:
        micros = interleaved_timers(timers, repeats, count)

`make_loops(*args)` runs in the worker and returns `{loop name: loop}`; `timers` maps every
loop name of every group to a `Timer` that runs that loop in its worker and returns the
worker's CPU seconds (`timing.seconds_of`). A worker that fails or dies is a `BenchError`
naming the group and why.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterator, Mapping
from multiprocessing.connection import Connection
from typing import Any

from harness.bench.timing import BenchError, Loop, Timer, seconds_of

LoopFactory = Callable[..., Mapping[str, Loop]]
STOP_SECONDS = 10
"""How long a worker is given to exit once told to, before it is killed."""


def _serve(connection: Connection, make_loops: LoopFactory, args: tuple[Any, ...]) -> None:
    """A worker's life: build its loops, say which, then time `(name, count)` requests until
    `None`. Every failure is sent back as `("error", message)` rather than raised."""
    try:
        loops = dict(make_loops(*args))
    except Exception as err:  # reported to the parent, which raises it there
        connection.send(("error", f"{type(err).__name__}: {err}"))
        return
    connection.send(("ready", list(loops)))
    while (request := connection.recv()) is not None:
        name, count = request
        try:
            connection.send(("ok", seconds_of(loops[name], count)))
        except Exception as err:
            connection.send(("error", f"{type(err).__name__}: {err}"))


class _Worker:
    """One group's process and the parent's end of its pipe."""

    def __init__(self, group: str, make_loops: LoopFactory, args: tuple[Any, ...]) -> None:
        context = multiprocessing.get_context("fork")
        self.group = group
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, make_loops, args),
                                       name=f"bench-{group}", daemon=True)
        self.process.start()
        child.close()

    def answer(self) -> Any:
        """The worker's next answer; `BenchError` if it failed or died."""
        try:
            kind, value = self.connection.recv()
        except (EOFError, OSError):
            self.process.join(STOP_SECONDS)
            raise BenchError(f"the {self.group} benchmark worker died "
                             f"(exit status {self.process.exitcode})") from None
        if kind == "error":
            raise BenchError(f"the {self.group} benchmark worker failed: {value}")
        return value

    def timer(self, name: str) -> Timer:
        def run(count: int) -> float:
            self.connection.send((name, count))
            return float(self.answer())

        return run

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send(None)
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


@contextlib.contextmanager
def isolated(groups: Mapping[str, tuple[LoopFactory, tuple[Any, ...]]]) -> Iterator[dict[str, Timer]]:
    """Starts one worker per group, yields a `Timer` per loop of every group, and stops the
    workers on the way out (see the module docstring)."""
    workers: list[_Worker] = []
    try:
        for group, (make_loops, args) in groups.items():
            workers.append(_Worker(group, make_loops, args))
        timers: dict[str, Timer] = {}
        for worker in workers:
            for name in worker.answer():
                timers[name] = worker.timer(name)
        yield timers
    finally:
        for worker in workers:
            worker.stop()
