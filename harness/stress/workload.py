"""The isolation workload: many threads per pool churn instances and check they never mix.

    report = run_isolation(IsolationConfig(target="reference", pools=2, threads=4, rounds=40))
    assert report.ok, report.describe()

Each thread of each pool repeats, `rounds` times or until `deadline`:

1. every `module_churn` rounds, drop its own module and compile a new one, whose image names
   the pool, thread and generation (so no two modules share an image);
2. instantiate its own module or one of the pool's shared modules;
3. check the new instance (its *own image*): its slot is held by no other live instance of
   the pool, and its whole memory reads as its module's data segments over zeros;
4. write a 16-byte cookie unique to the instance into every OS page of its memory, then maybe
   grow it (the new pages must read as zeros; they get cookies too);
5. keep up to `hold` instances live, and before releasing one, read its whole memory back: it
   must hold exactly its image and its own cookies (*isolation*). A foreign cookie found there
   names the instance it came from.

Pools run at once, each with its own settings drawn from the seed. Afterwards every pool is
closed, and the process must hold no more memory-image or heap-extension memfds, and no more
file descriptors, than before. Every problem becomes one line of `IsolationReport.problems`;
an exception inside a thread is a problem too, never a silent thread death.
"""

from __future__ import annotations

import itertools
import random
import struct
import threading
import time
import traceback
import zlib
from dataclasses import dataclass, field

from harness.ops import KiB, PoolSpec
from harness.stress.leftovers import grown, resources
from harness.stress.scheduling import switch_interval
from harness.stress.tenants import Segments, Tenant, TenantPool, fresh_memory, open_tenant_pool

PAGE = 4096
WASM_PAGE = 64 * KiB
MAX_PAGES = 4
COOKIE = struct.Struct("<4sHHII")
MAGIC = b"\xc0\x0c\x1e\x5a"
MAX_PROBLEMS = 20

SHARED_MODULES: dict[str, tuple[int, Segments]] = {
    "alpha": (1, ((0x10, b"alpha: shared module image"), (0x7000, b"\xaa" * 300))),
    "bravo": (2, ((0x0, b"bravo"), (0x1FFF0, b"\xbb" * 16))),
    "plain": (1, ()),
}
"""Modules every thread of a pool may instantiate: (min pages, data segments)."""


@dataclass(frozen=True)
class IsolationConfig:
    """What `run_isolation` runs. Pool settings are drawn per pool from `seed`."""

    target: str = "reference"
    pools: int = 2
    threads: int = 4
    rounds: int | None = 40
    seed: int = 0
    hold: int = 2
    module_churn: int = 6
    memories: int = 8
    switch_interval: float | None = None  # see harness.stress.scheduling


@dataclass
class IsolationReport:
    """What the workload saw: counts, and one line per problem (empty: isolated and clean)."""

    target: str
    instances: int = 0
    exhausted: int = 0
    grows: int = 0
    modules: int = 0
    seconds: float = 0.0
    pool_specs: list[PoolSpec] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        with self._lock:
            if len(self.problems) < MAX_PROBLEMS:
                self.problems.append(text)

    def count(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def describe(self) -> str:
        head = (f"{self.target}: {self.instances} instances, {self.grows} grows, "
                f"{self.modules} modules, {self.exhausted} exhausted, in {self.seconds:.1f} s")
        return "\n".join([head, *self.problems])


def pool_spec(target: str, rng: random.Random, memories: int) -> PoolSpec:
    """Settings of one pool, drawn from `rng` among those `target` honours."""
    dynamic = rng.random() < 0.5
    guard = 0 if dynamic and target == "wasmtime" else rng.choice((0, 64 * KiB))
    return PoolSpec(
        memories=memories,
        max_memory=MAX_PAGES * WASM_PAGE,
        keep_resident=rng.choice((0, 4 * KiB, 64 * KiB)),
        guard=guard,
        style="dynamic" if dynamic else "static",
        strategy="reuse-affinity" if target == "wasmtime" else rng.choice(
            ("reuse-affinity", "next-available", "random")),
        seed=rng.randrange(1000),
        warm_slots=rng.choice((0, 2, 100)),
        decommit_batch=rng.choice((1, 2, 3)),
        growth="memfd" if target == "reference" and rng.random() < 0.3 else "mprotect",
    )


def cookie(pool: int, thread: int, instance: int, round_: int) -> bytes:
    return COOKIE.pack(MAGIC, pool, thread, instance, round_)


def foreign_cookies(data: bytes, own: bytes) -> list[str]:
    """Every cookie in `data` other than `own`, as `pool P thread T instance I`."""
    found, start = [], 0
    while (at := data.find(MAGIC, start)) >= 0 and len(found) < 3:
        start = at + 1
        chunk = data[at:at + COOKIE.size]
        if len(chunk) == COOKIE.size and chunk != own:
            _, pool, thread, instance, _ = COOKIE.unpack(chunk)
            found.append(f"pool {pool} thread {thread} instance {instance} at {at:#x}")
    return found


def run_isolation(config: IsolationConfig, deadline: float | None = None) -> IsolationReport:
    """Runs the workload (module docstring) until every thread did `rounds` rounds or
    `time.monotonic()` passes `deadline`; returns the report."""
    rng = random.Random(config.seed)
    report = IsolationReport(config.target)
    report.pool_specs = [pool_spec(config.target, rng, config.memories)
                         for _ in range(config.pools)]
    before = resources()
    started = time.monotonic()
    pools = [_PoolRun(config, n, open_tenant_pool(config.target, spec), report, deadline)
             for n, spec in enumerate(report.pool_specs)]
    try:
        threads = [threading.Thread(target=pool.thread, args=(t,), name=f"pool{pool.number}-{t}")
                   for pool in pools for t in range(config.threads)]
        with switch_interval(config.switch_interval):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        for pool in pools:
            pool.finish()
    finally:
        for pool in pools:
            pool.tenants.close()
    report.seconds = time.monotonic() - started
    after = resources()
    for name in grown(before, after):
        report.problem(f"after closing every pool: {after[name]} {name}, {before[name]} before")
    return report


@dataclass
class _PoolRun:
    """One pool and the state its threads share: modules, and which slot each instance holds."""

    config: IsolationConfig
    number: int
    tenants: TenantPool
    report: IsolationReport
    deadline: float | None
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    holders: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.shared = {name: (self.tenants.compile(name, pages, MAX_PAGES, segments),
                              fresh_memory(pages, segments))
                       for name, (pages, segments) in SHARED_MODULES.items()}

    def finish(self) -> None:
        """After the threads: the pool's own invariants, then every shared module dropped."""
        try:
            self.tenants.check()
        except AssertionError as err:
            self.report.problem(f"pool {self.number}: invariant broken after the run: {err}")
        for module, _ in self.shared.values():
            self.tenants.drop(module)

    def thread(self, number: int) -> None:
        try:
            _ThreadRun(self, number).run()
        except Exception:
            self.report.problem(f"pool {self.number} thread {number} raised:\n"
                                f"{traceback.format_exc()}")

    def claim(self, slot: int, who: str) -> str | None:
        """Records that `who` holds `slot`; the holder it already had, if any."""
        with self.lock:
            previous = self.holders.get(slot)
            self.holders[slot] = who
            return previous

    def unclaim(self, slot: int) -> None:
        with self.lock:
            self.holders.pop(slot, None)


@dataclass
class _Held:
    tenant: Tenant
    name: str
    cookie: bytes
    expected: bytearray


@dataclass
class _ThreadRun:
    """One thread's loop (module docstring, steps 1-5)."""

    pool: _PoolRun
    number: int

    def __post_init__(self) -> None:
        self.rng = random.Random(self.pool.config.seed * 7919 + self.pool.number * 101
                                 + self.number)
        self.held: list[_Held] = []
        self.own: tuple[object, bytes] | None = None
        self.generation = 0

    def run(self) -> None:
        config = self.pool.config
        try:
            for round_ in itertools.count():
                if config.rounds is not None and round_ >= config.rounds:
                    break
                if self.pool.deadline is not None and time.monotonic() >= self.pool.deadline:
                    break
                if round_ % config.module_churn == 0:
                    self._churn_module()
                self._round(round_)
                if self.rng.random() < 0.3:
                    time.sleep(0)
        finally:
            while self.held:
                self._release(self.held.pop())
            if self.own is not None:
                self.pool.tenants.drop(self.own[0])

    def _churn_module(self) -> None:
        tenants = self.pool.tenants
        if self.own is not None:
            tenants.drop(self.own[0])  # instances of it still held keep it alive
        self.generation += 1
        pages = self.rng.randint(1, 2)
        label = f"module of pool {self.pool.number} thread {self.number} gen {self.generation}"
        segments = ((self.generation * PAGE % (pages * WASM_PAGE), label.encode()),)
        self.own = (tenants.compile(f"t{self.number}g{self.generation}", pages, MAX_PAGES,
                                    segments), fresh_memory(pages, segments))
        self.pool.report.count(modules=1)

    def _round(self, round_: int) -> None:
        choices = [*self.pool.shared.items(), ("own", self.own)]
        name, (module, pristine) = self.rng.choice(choices)  # type: ignore[misc]
        tenant = self.pool.tenants.instantiate(module)
        if tenant is None:
            self.pool.report.count(exhausted=1)
            if self.held:
                self._release(self.held.pop(0))
            return
        instance = next(self.pool.ids)
        who = f"pool {self.pool.number} thread {self.number} instance {instance} ({name})"
        if (other := self.pool.claim(tenant.slot, who)) is not None:
            self.pool.report.problem(f"slot {tenant.slot} handed to {who} while {other} holds it")
        self._check(tenant, pristine, who, "fresh instance does not read as its image")
        held = _Held(tenant, who, cookie(self.pool.number, self.number, instance, round_),
                     bytearray(pristine))
        self._mark(held, 0)
        self._maybe_grow(held)
        self.held.append(held)
        self.pool.report.count(instances=1)
        if len(self.held) > self.pool.config.hold:
            self._release(self.held.pop(self.rng.randrange(len(self.held))))

    def _mark(self, held: _Held, start: int) -> None:
        """Writes the instance's cookie into every OS page from `start`, and into `expected`."""
        for page in range(start // PAGE, len(held.expected) // PAGE):
            offset = page * PAGE + (zlib.crc32(held.cookie) + page * 40) % (PAGE - COOKIE.size)
            held.tenant.write(offset, held.cookie)
            held.expected[offset:offset + COOKIE.size] = held.cookie

    def _maybe_grow(self, held: _Held) -> None:
        delta = self.rng.choice((0, 0, 1, 2))
        if not delta:
            return
        pages = len(held.expected) // WASM_PAGE
        old = held.tenant.grow(delta)
        want = -1 if pages + delta > MAX_PAGES else pages
        if old != want:
            self.pool.report.problem(f"{held.name}: grow({delta}) returned {old}, expected {want}")
            return
        if old == -1:
            return
        self.pool.report.count(grows=1)
        start = len(held.expected)
        held.expected.extend(bytes(delta * WASM_PAGE))
        if held.tenant.read(start, delta * WASM_PAGE) != bytes(delta * WASM_PAGE):
            self.pool.report.problem(f"{held.name}: grown pages at {start:#x} are not zero")
        self._mark(held, start)

    def _release(self, held: _Held) -> None:
        self._check(held.tenant, bytes(held.expected), held.name,
                    "memory changed behind its back", held.cookie)
        self.pool.unclaim(held.tenant.slot)
        held.tenant.release()

    def _check(self, tenant: Tenant, expected: bytes, who: str, what: str,
               own: bytes = b"") -> None:
        size = tenant.size
        seen = tenant.read(0, size)
        if size == len(expected) and seen == expected:
            return
        if size != len(expected):
            self.pool.report.problem(f"{who}: size {size:#x}, expected {len(expected):#x}")
            return
        at = next(i for i, (a, b) in enumerate(zip(seen, expected)) if a != b)
        foreign = foreign_cookies(seen, own)
        self.pool.report.problem(
            f"{who} in slot {tenant.slot}: {what}: first difference at {at:#x}: "
            f"{seen[at:at + 16].hex()} instead of {expected[at:at + 16].hex()}"
            + (f"; foreign cookies: {', '.join(foreign)}" if foreign else "")
        )
