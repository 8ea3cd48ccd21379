"""Section 1: the cost of one cycle — instantiate, dirty N OS pages, deallocate.

Three contenders run the same cycle on the same pool settings (`CycleCase.pool`):

* `ReferenceCycle`: the reference allocator (`allocator.Engine`), driven directly;
* `FloorCycle`: the C floor, which replays the reference's own calls for one cycle (recorded by
  `harness.bench.trace`) on a slot it reserved itself: the least any implementation of the same
  syscall sequence can cost;
* `WasmtimeCycle` (`harness.bench.wasmtime_cycle`): real Wasmtime through the `wasmtime`
  package, its pooling allocator configured by `harness.wasmtime_pool`.

The module has one memory of 16 Wasm pages (1 MiB, 256 OS pages) and no data, so no image;
"keep-resident on" keeps the whole memory resident (the reset is a 1 MiB memset), "off"
decommits it (one `madvise`). Dirtying is one store per page, by the same C function for
every contender.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import allocator
from harness.bench.native import CALLS, floor
from harness.bench.plan import CYCLE_PAGES, Plan
from harness.bench.timing import interleaved
from harness.bench.trace import CycleCalls, SlotCall, record_cycles
from harness.bench.wasmtime_cycle import WasmtimeCycle, wasmtime_missing
from harness.ops import WASM_PAGE, KiB, MiB, ModuleDecl, PoolSpec
from harness.targets.reference import pool_config

MEMORY_PAGES = 16
"""Wasm pages of the benchmarked memory (1 MiB: room for the 256 OS pages of the largest case)."""

MODULE = ModuleDecl("m", MEMORY_PAGES, MEMORY_PAGES)

Progress = Callable[[str], None]


class Contender(Protocol):
    """One side of a cycle comparison."""

    def loop(self, count: int) -> None:
        """Runs `count` cycles."""

    def close(self) -> None:
        """Releases everything the contender holds."""


@dataclass(frozen=True)
class CycleCase:
    """One cycle case: `pages` OS pages dirtied, keep-resident on or off."""

    pages: int
    keep_resident: bool

    @property
    def key(self) -> str:
        return f"N={self.pages} kr={'on' if self.keep_resident else 'off'}"

    def pool(self, memories: int = 10) -> PoolSpec:
        """The pool every contender uses: static style, 1 MiB slots, 64 KiB guards."""
        return PoolSpec(
            memories=memories,
            max_memory=1 * MiB,
            guard=64 * KiB,
            keep_resident=MEMORY_PAGES * WASM_PAGE if self.keep_resident else 0,
        )


CASES = tuple(CycleCase(pages, kr) for pages in CYCLE_PAGES for kr in (False, True))


class ReferenceCycle:
    """The cycle on the reference allocator."""

    def __init__(self, pool: PoolSpec, pages: int) -> None:
        allocator.disable_thp()
        self.pages = pages
        self.engine = allocator.Engine(pool_config(pool))
        self.module = self.engine.compile(MODULE.name, MODULE.min, MODULE.max)

    def loop(self, count: int) -> None:
        instantiate, dirty, pages = self.module.instantiate, floor().lib.bench_dirty, self.pages
        for _ in range(count):
            instance = instantiate()
            if pages:
                dirty(instance.memory.base, pages)
            instance.deallocate()

    def fill(self) -> None:
        """Uses every slot once, so that the whole pool is warm."""
        instances = [self.module.instantiate() for _ in range(self.engine.config.memories)]
        for instance in instances:
            instance.deallocate()

    def close(self) -> None:
        self.module.drop()
        self.engine.close()


class FloorCycle:
    """The reference's calls for the same cycle, replayed in C on a slot of its own."""

    def __init__(self, pool: PoolSpec, pages: int) -> None:
        lib = floor().lib
        self.pages = pages
        recorder = ReferenceCycle(pool, pages)
        try:
            first, steady = record_cycles(recorder.engine, recorder.module,
                                          lambda base: lib.bench_dirty(base, pages))
            self.length = recorder.engine.config.layout.stride
        finally:
            recorder.close()
        self.base = lib.bench_reserve(self.length)
        if not self.base:
            raise OSError(f"cannot reserve {self.length:#x} bytes for the C floor's slot")
        self.steady = _encode(steady)
        self._run(_encode(first), 1)  # the slot leaves its cold state as the reference's did

    def loop(self, count: int) -> None:
        self._run(self.steady, count)

    def _run(self, calls: tuple[object, int, object, int], count: int) -> None:
        result = floor().lib.bench_cycles(self.base, *calls, self.pages, count)
        if result < 0:
            raise OSError(-result, f"the C floor's replay failed (errno {-result})")

    def close(self) -> None:
        floor().lib.bench_release(self.base, self.length)


def _encode(cycle: CycleCalls) -> tuple[object, int, object, int]:
    """The cycle as `bench_cycles` takes it: (array, count) per phase."""
    return (*_array(cycle.instantiate), *_array(cycle.deallocate))


def _array(calls: tuple[SlotCall, ...]) -> tuple[object, int]:
    ffi = floor().ffi
    array = ffi.new("struct bench_call[]", max(len(calls), 1))
    for entry, call in zip(array, calls):
        entry.call, entry.arg, entry.flags = CALLS[call.call], call.arg, call.flags
        entry.offset, entry.length = call.offset, call.length
    return array, len(calls)


def contenders(pool: PoolSpec, pages: int, with_floor: bool = True) -> dict[str, Contender]:
    """The contenders of one case, by figure name (`wasmtime_us` only if Wasmtime is there)."""
    makers: dict[str, Callable[[], Contender]] = {"reference_us": lambda: ReferenceCycle(pool, pages)}
    if with_floor:
        makers["floor_us"] = lambda: FloorCycle(pool, pages)
    if wasmtime_missing() is None:
        makers["wasmtime_us"] = lambda: WasmtimeCycle(pool, MODULE, pages)
    sides: dict[str, Contender] = {}
    try:
        for name, make in makers.items():
            sides[name] = make()
    except BaseException:
        close_all(sides)
        raise
    return sides


def close_all(sides: dict[str, Contender]) -> None:
    for side in sides.values():
        side.close()


def measure(sides: dict[str, Contender], plan: Plan) -> dict[str, float]:
    """Median µs per cycle of each contender (interleaved), then every contender is closed."""
    try:
        return interleaved({name: side.loop for name, side in sides.items()}, plan.repeats, plan.cycles)
    finally:
        close_all(sides)


def cycle_costs(plan: Plan, progress: Progress = lambda _: None) -> dict[str, dict[str, object]]:
    """Section 1: every case's median µs per cycle, by contender (None: not available)."""
    results = {}
    for case in CASES:
        progress(f"cycle {case.key}")
        figures = measure(contenders(case.pool(), case.pages), plan)
        results[case.key] = {
            "pages": case.pages,
            "keep_resident": case.keep_resident,
            "reference_us": figures["reference_us"],
            "floor_us": figures["floor_us"],
            "wasmtime_us": figures.get("wasmtime_us"),
        }
    return results
