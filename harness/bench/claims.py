"""Section 4: the seeds' claims about slot reuse, as exact counts per reuse.

Each claim runs one cycle on a cold slot first, then `reuses` more cycles of the same module on
the slot it keeps getting back, and divides what was counted by `reuses`:

* `mprotect_per_reuse` — instantiate a 1-page memory, grow it by 1 page, deallocate; `mprotect`
  calls from the engine's counter (`engine.syscalls`). Static style fits `accessible` to each
  new instance (hide the grown page, expose it again on grow: 2); dynamic style keeps it (0).
* `faults_per_reuse` — instantiate a 1-page memory (16 OS pages), touch every page, deallocate;
  faults of the touch from the calling thread's counter (`getrusage(RUSAGE_THREAD)` around the
  C loop of `observers.touch`). Without keep-resident every page was decommitted (16); with
  keep-resident covering the page they were reset in place and stay present (0). The same
  cycle on Wasmtime is given beside them when the package is there.
* `syscalls_per_reuse` — the same cycle; every call the engine counted, and the system calls
  among them (all but `memset`/`memcpy`, which enter no kernel). The fast path (keep-resident
  covering the memory) makes none; without keep-resident the reset is one `madvise`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import allocator
from harness import observers
from harness.bench.wasmtime_cycle import WasmtimeCycle, wasmtime_missing
from harness.ops import WASM_PAGE, KiB, MiB, ModuleDecl, PoolSpec
from harness.targets.reference import pool_config

MODULE = ModuleDecl("m", 1, 4)
"""A 1-page memory that may grow to 4 pages."""

LIBRARY_CALLS = frozenset({"memset", "memcpy"})
"""Calls the engine counts that are not system calls."""

Cycle = Callable[[allocator.Instance], None]


def claim_pool(style: str = "static", keep_resident: int = 0) -> PoolSpec:
    """The pool of every claim: 2 slots of 1 MiB, 64 KiB guards."""
    return PoolSpec(memories=2, max_memory=1 * MiB, guard=64 * KiB, style=style,
                    keep_resident=keep_resident)


def per_reuse(total: int, reuses: int) -> int | float:
    """`total / reuses`, as an int when it is one (the claims are exact counts)."""
    return total // reuses if total % reuses == 0 else total / reuses


def reference_reuses(pool: PoolSpec, reuses: int, work: Cycle) -> tuple[Counter[str], int]:
    """Calls counted by the engine over `reuses` reuses, and the sum of what `work` returned.

    `work(instance)` runs between instantiate and deallocate and returns a count (or None).
    """
    allocator.disable_thp()
    with allocator.Engine(pool_config(pool)) as engine:
        module = engine.compile(MODULE.name, MODULE.min, MODULE.max)
        total = 0
        for reuse in range(reuses + 1):
            if reuse == 1:
                engine.syscalls.reset()
                total = 0
            instance = module.instantiate()
            total += work(instance) or 0
            instance.deallocate()
        return Counter(engine.syscalls.snapshot()), total


def _grow(instance: allocator.Instance) -> None:
    instance.memory.grow(1)


def _touch(instance: allocator.Instance) -> int:
    return observers.touch(instance.memory.base, WASM_PAGE)


def mprotect_per_reuse(reuses: int) -> dict[str, int | float]:
    """`mprotect` calls per reuse, by style."""
    counts = {}
    for style in ("static", "dynamic"):
        calls, _ = reference_reuses(claim_pool(style), reuses, _grow)
        counts[style] = per_reuse(calls["mprotect"], reuses)
    return counts


def faults_per_reuse(reuses: int) -> dict[str, object]:
    """Faults of touching the whole memory per reuse, keep-resident off and on."""
    figures: dict[str, object] = {}
    for key, keep in (("keep_resident_off", 0), ("keep_resident_on", WASM_PAGE)):
        _, faults = reference_reuses(claim_pool(keep_resident=keep), reuses, _touch)
        figures[key] = per_reuse(faults, reuses)
    figures["wasmtime"] = wasmtime_faults_per_reuse(reuses) if wasmtime_missing() is None else None
    return figures


def wasmtime_faults_per_reuse(reuses: int) -> dict[str, int | float]:
    """The faults claim on Wasmtime: the same cycle, the same touch."""
    import wasmtime

    figures = {}
    for key, keep in (("keep_resident_off", 0), ("keep_resident_on", WASM_PAGE)):
        side = WasmtimeCycle(claim_pool(keep_resident=keep), MODULE, 0)
        try:
            faults = 0
            for reuse in range(reuses + 1):
                store = wasmtime.Store(side.pool.engine)
                instance = wasmtime.Instance(store, side.module, [])
                touched = observers.touch(side.memory_base(store, instance), WASM_PAGE)
                store.close()
                faults += touched if reuse else 0
        finally:
            side.close()
        figures[key] = per_reuse(faults, reuses)
    return figures


def syscalls_per_reuse(reuses: int) -> dict[str, object]:
    """System calls per reuse on the fast path and on the decommit path, with every call."""
    figures: dict[str, object] = {}
    calls_by_path = {}
    for path, keep in (("fast_path", WASM_PAGE), ("decommit_path", 0)):
        calls, _ = reference_reuses(claim_pool(keep_resident=keep), reuses, _touch)
        syscalls = sum(n for call, n in calls.items() if call not in LIBRARY_CALLS)
        figures[path] = per_reuse(syscalls, reuses)
        calls_by_path[path] = {call: per_reuse(n, reuses) for call, n in sorted(calls.items())}
    figures["calls"] = calls_by_path
    return figures


def claims(reuses: int, progress: Callable[[str], None] = lambda _: None) -> dict[str, object]:
    """Section 4: every claim's figures."""
    progress("claims")
    return {
        "mprotect_per_reuse": mprotect_per_reuse(reuses),
        "faults_per_reuse": faults_per_reuse(reuses),
        "syscalls_per_reuse": syscalls_per_reuse(reuses),
    }
