"""One linearizability trial: threads hammer one pool and one shared memory; the history is checked.

    trial = run_trial(plan(seed))
    trial.ok, trial.result.explain()

A trial:

1. an `Engine` whose pool settings, and a shared memory whose limits, are drawn from the seed;
   three modules of one page (two with distinct images, one without);
2. `threads` threads start together and each runs `ops` operations drawn from its own seeded
   generator, recording each one (`harness.stress.history`):
   * pool: `instantiate` (the new instance checks it sees its module's image and zeros, then
     writes a cookie of its own at three offsets) and `deallocate` (the instance first checks
     its cookies are intact); a thread holds at most two instances;
   * shared memory: `grow`, `size`, `read`/`write` of 8-byte registers below the minimum size
     through the locked host API, and `load`/`store` of one byte at or above it, bounds-checked
     against the length published without the lock, as Wasm code does (`current_length`),
     often at its very last byte;
3. every thread deallocates what it still holds; the engine is closed;
4. the history is checked against `harness.stress.models.Specification`.

Every access to instance or shared memory goes through `harness.stress.probe`, so a page that is
not accessible when it should be is the result `"fault"`, never a signal; and the pool keeps no
bytes resident (`keep_resident=0`), so the allocator itself never touches slot memory. A seeded
bug therefore shows as a history, not as a dead process. Scheduling is perturbed on purpose:
each trial sets the interpreter's thread switch interval (`sys.setswitchinterval`) to one of
`harness.stress.scheduling.SWITCH_INTERVALS` and yields between operations at random, as
PULSE-style testing does.

What a trial can come to: `linearizable`, `violation` (the report's HTML timeline and JSON
history say where), `hang` (a thread did not finish within `HANG_SECONDS`: every thread's stack
is reported) or `teardown` (closing the engine raised).

**A known deviation.** With `decommit_batch=1` every deallocation pushes its slot into the
pool's decommit queue and flushes the queue, and whichever thread flushes frees every slot it
took out of it. So a deallocation whose entry another thread's flush took returns *before* its
own slot is free, and the same thread's next instantiation can get another slot than the
sequential semantics say (or none, in a full pool). Wasmtime's pool does not do this: with a
batch size of 1 each deallocation decommits and frees its own slot. A trial whose only
violation is in the pool partition, and which `models.with_deferred_releases` explains, is
a `deviation` (`Trial.deviation`), which `harness.stress.lincheck` counts and reports apart.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field

from allocator import Engine, Instance, PoolConfig, PoolExhausted, SharedMemory
from allocator.units import KiB
from harness.stress import probe
from harness.stress.history import Operation, Recorder, ThreadLog
from harness.stress.linearizability import LINEARIZABLE, CheckResult, check, check_partition
from harness.stress.models import (
    WASM_PAGE,
    PoolModel,
    SharedMemoryModel,
    Specification,
    with_deferred_releases,
)
from harness.stress.scheduling import SWITCH_INTERVALS, switch_interval
from harness.stress.tenants import fresh_memory

HANG_SECONDS = 120.0
"""How long a trial's threads may take before the trial is reported as a hang."""

COOKIE_OFFSETS = (0x20, 0x4000, 0xFFF8)
"""Where each instance writes its cookie (inside its one page, clear of the images' bytes)."""

REGISTERS = 4
"""8-byte registers at offsets 0, 8, ... of the shared memory (below its minimum size)."""

MODULES = {
    "a": ((0x10, b"alpha image"), (0x9000, b"\x01\x02\x03\x04")),
    "b": ((0x0, b"bravo"), (0x8000, b"\xbb" * 64)),
    "c": (),
}
"""The trial's modules (one page each, at most two): their data segments."""

KINDS = ("instantiate", "deallocate", "grow", "size", "load", "store", "read", "write")
WEIGHTS = (4, 3, 2, 1, 3, 2, 1, 1)


@dataclass(frozen=True)
class TrialPlan:
    """Everything a trial depends on, drawn from `seed` by `plan`."""

    seed: int
    threads: int
    ops: int
    memories: int
    strategy: str
    style: str
    growth: str
    warm_slots: int
    max_memory: int
    guard: int
    shared_max: int
    switch_interval: float
    jitter: float
    shared_min: int = 1

    def pool_config(self) -> PoolConfig:
        return PoolConfig(memories=self.memories, max_memory=self.max_memory, guard=self.guard,
                          keep_resident=0, style=self.style, strategy=self.strategy,
                          seed=self.seed, warm_slots=self.warm_slots, decommit_batch=1,
                          growth=self.growth)

    def specification(self) -> Specification:
        pool = PoolModel(self.memories, self.strategy, self.warm_slots,
                         exact=self.strategy != "random")
        return Specification(pool, SharedMemoryModel(self.shared_min, self.shared_max))


def plan(seed: int, threads: int = 4) -> TrialPlan:
    """The trial of `seed`: pool settings, shared memory limits, scheduling perturbation."""
    rng = random.Random(seed)
    ops = rng.randint(12, 30)
    return TrialPlan(
        seed=seed,
        threads=threads,
        ops=ops,
        memories=rng.randint(threads, 2 * threads),
        strategy=rng.choice(("reuse-affinity", "next-available", "random")),
        style=rng.choice(("static", "dynamic")),
        growth=rng.choice(("mprotect", "mprotect", "memfd")),
        warm_slots=rng.choice((0, 1, 2, 100)),
        max_memory=rng.choice((128 * KiB, 256 * KiB)),
        guard=rng.choice((0, 64 * KiB)),
        shared_max=rng.randint(2, 2 + threads * ops // 6),
        switch_interval=rng.choice(SWITCH_INTERVALS),
        jitter=rng.choice((0.0, 0.1, 0.3)),
    )


DEVIATION = ("a deallocation returned before its slot was free (the decommit queue was flushed by "
             "another thread)")


@dataclass
class Trial:
    """A trial's plan, history, verdict, and what went wrong besides (hang, teardown).

    `deviation` is set when the only violation is the known one (module docstring).
    """

    plan: TrialPlan
    history: list[Operation]
    result: CheckResult | None = None
    problem: str = ""  # "hang" or "teardown", with `details`
    details: str = ""
    deviation: bool = False

    @property
    def ok(self) -> bool:
        """No problem, and a linearizable history (the known deviation aside)."""
        return not self.problem and (self.result is None or self.result.ok or self.deviation)


def run_trial(trial_plan: TrialPlan) -> Trial:
    """Runs one trial (see the module docstring) and checks its history."""
    with switch_interval(trial_plan.switch_interval):
        runner = _TrialRunner(trial_plan)
        problem, details = runner.run()
    trial = Trial(trial_plan, runner.recorder.history(), problem=problem, details=details)
    trial.result = check(trial.history, trial_plan.specification())
    trial.deviation = not trial.result.ok and only_late_releases(trial)
    return trial


def only_late_releases(trial: Trial) -> bool:
    """Whether the trial's violations are all explained by the known deviation: the pool
    partition alone fails, and passes once slots may be freed late (`with_deferred_releases`)."""
    assert trial.result is not None
    if [p.key for p in trial.result.violations()] != ["pool"]:
        return False
    pool_ops = [op for op in trial.history if op.obj == "pool"]
    relaxed = dataclasses.replace(trial.plan.specification().pool, deferred_release=True)
    return check_partition("pool", with_deferred_releases(pool_ops),
                           relaxed).verdict == LINEARIZABLE


@dataclass
class _Held:
    instance: Instance
    module: str
    id: int
    cookie: bytes


@dataclass
class _TrialRunner:
    """The threads of one trial and the objects they share."""

    plan: TrialPlan
    recorder: Recorder = field(default_factory=Recorder)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def run(self) -> tuple[str, str]:
        """Runs the threads; returns `("", "")`, or a problem and its details."""
        engine = Engine(self.plan.pool_config())
        try:
            self.modules = {name: engine.compile(name, 1, 2, data=segments)
                            for name, segments in MODULES.items()}
            self.images = {name: fresh_memory(1, segments) for name, segments in MODULES.items()}
            self.shared = engine.shared_memory(self.plan.shared_min, self.plan.shared_max)
            problem = self._run_threads()
        except BaseException:
            engine.close()
            raise
        if problem:
            return "hang", problem  # threads still run: the engine must stay open
        try:
            for module in self.modules.values():
                module.drop()
            engine.close()
        except Exception:
            return "teardown", traceback.format_exc()
        return "", ""

    def _run_threads(self) -> str:
        start = threading.Barrier(self.plan.threads)
        threads = [threading.Thread(target=self._thread, args=(n, start), daemon=True,
                                    name=f"lincheck-{n}") for n in range(self.plan.threads)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + HANG_SECONDS
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        stuck = [t for t in threads if t.is_alive()]
        return _stacks(stuck) if stuck else ""

    def _thread(self, number: int, start: threading.Barrier) -> None:
        rng = random.Random(self.plan.seed * 1009 + number)
        log = self.recorder.thread(number)
        held: list[_Held] = []
        start.wait(HANG_SECONDS)
        for _ in range(self.plan.ops):
            self._step(rng.choices(KINDS, WEIGHTS)[0], rng, log, held)
            if rng.random() < self.plan.jitter:
                time.sleep(0)
        while held:
            self._deallocate(log, held, 0)

    def _step(self, kind: str, rng: random.Random, log: ThreadLog, held: list[_Held]) -> None:
        if kind == "instantiate" and len(held) >= 2:
            kind = "deallocate"
        if kind == "deallocate" and not held:
            kind = "instantiate"
        if kind == "instantiate":
            self._instantiate(log, held, rng.choice(sorted(self.modules)))
        elif kind == "deallocate":
            self._deallocate(log, held, rng.randrange(len(held)))
        elif kind == "grow":
            delta = rng.choice((1, 1, 1, 2, 0))
            log.record("shared", "grow", (delta,), lambda: self.shared.grow(delta))
        elif kind == "size":
            log.record("shared", "size", (), self.shared.size)
        elif kind in ("load", "store"):
            self._byte_access(kind, rng, log)
        else:
            self._register(kind, rng, log)

    # -- pool operations ---------------------------------------------------------------------

    def _instantiate(self, log: ThreadLog, held: list[_Held], name: str) -> None:
        instance_id = next(self.ids)
        cookie = struct.pack("<HHI", 0xC00C, 0, instance_id)

        def run() -> tuple:
            try:
                instance = self.modules[name].instantiate()
            except PoolExhausted:
                return ("exhausted",)
            base = instance.memory.base
            pristine = probe.load(base, WASM_PAGE) == self.images[name]
            for offset in COOKIE_OFFSETS:
                probe.store(base + offset, cookie)
            held.append(_Held(instance, name, instance_id, cookie))
            return ("slot", instance.slot, pristine)

        log.record("pool", "instantiate", (name, instance_id), run)

    def _deallocate(self, log: ThreadLog, held: list[_Held], index: int) -> None:
        item = held.pop(index)
        base = item.instance.memory.base

        def run() -> tuple:
            intact = all(probe.load(base + o, len(item.cookie)) == item.cookie
                         for o in COOKIE_OFFSETS)
            item.instance.deallocate()
            return ("ok", intact)

        log.record("pool", "deallocate", (item.module, item.id, item.instance.slot), run)

    # -- shared memory operations -----------------------------------------------------------------

    def _byte_access(self, kind: str, rng: random.Random, log: ThreadLog) -> None:
        """A one-byte Wasm-style access at or above the minimum size, often at the very top."""
        memory = self.shared
        low = self.plan.shared_min * WASM_PAGE
        if rng.random() < 0.6:
            offset = max(memory.current_length, low + 1) - 1
        else:
            offset = rng.randint(self.plan.shared_min + 1, self.plan.shared_max) * WASM_PAGE - 1
        if kind == "load":
            log.record("shared", "load", (offset,), lambda: wasm_load(memory, offset))
        else:
            value = rng.randint(1, 255)
            log.record("shared", "store", (offset, value),
                       lambda: wasm_store(memory, offset, value))

    def _register(self, kind: str, rng: random.Random, log: ThreadLog) -> None:
        offset = 8 * rng.randrange(REGISTERS)
        if kind == "read":
            log.record("shared", "read", (offset,), lambda: self.shared.read(offset, 8))
        else:
            value = struct.pack("<HHI", 0xBEEF, rng.randrange(1 << 16), next(self.ids))
            log.record("shared", "write", (offset, value),
                       lambda: self.shared.write(offset, value) or "ok")


def wasm_load(memory: SharedMemory, offset: int) -> int | str:
    """`i32.load8_u` as compiled code does it: bounds-checked against the published length."""
    if offset + 1 > memory.current_length:
        return "oob"
    data = probe.load(memory.base + offset, 1)
    return "fault" if data is None else data[0]


def wasm_store(memory: SharedMemory, offset: int, value: int) -> str:
    """`i32.store8`, bounds-checked as `wasm_load` is."""
    if offset + 1 > memory.current_length:
        return "oob"
    return "ok" if probe.store(memory.base + offset, bytes([value])) else "fault"


def _stacks(threads: list[threading.Thread]) -> str:
    frames = sys._current_frames()
    parts = []
    for thread in threads:
        frame = frames.get(thread.ident or -1)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else "(no frame)\n"
        parts.append(f"thread {thread.name} still running after {HANG_SECONDS:.0f} s:\n{stack}")
    return "\n".join(parts)
