"""One run of a program with one injected fault, and the rules the pool must keep.

    run = Run(program, Injection("madvise", 2, errno.ENOMEM))
    run.execute()
    run.problems        # one `Problem` per broken rule; empty: the pool stayed sound

The engine's hook (`engine.vm.inject`, here a `FailNth`) fails exactly the n-th call of one
kind, counted from the engine's creation; an injected failure never reaches the kernel.

The rules (each broken one is a `Problem`):

1. **Clean failure.** An op either does what the sequence says or fails cleanly: an injected
   `SyscallError` out of `instantiate` (no instance), `deallocate` (the instance is gone all
   the same), `drop` (the module is purged all the same) or `shared` (no memory), or `-1` from
   a `grow` / `shared-grow` during which the fault fired (the size is unchanged). Any other
   exception, a real (not injected) `SyscallError`, or a wrong result is a problem.
2. **Consistency after every op.** The index allocator's invariants hold; the slots it counts
   as used (and not waiting in the decommit queue) are exactly those of live instances: no
   slot leaked, none handed out twice; every `FULL_CHECK_EVERY` ops and after the last, every
   live memory reads exactly what was written to it over its image (read without faulting,
   `harness.stress.probe`). Each read, write and grow checks the bytes it covers at once.
3. **Fresh tenants.** A new instance reads as its module's image and zeros: the next tenant of
   a slot whose reset failed sees only zeros or its own image, as Wasmtime guarantees by
   re-paving such slots (`ImageSlot::Unknown`).
4. **After the sequence** (no more faults): every instance and module is released, then every
   slot of the pool is instantiated at once by a module without an image and grown as large as
   any instance of the run grew: all must succeed (no slot leaked) and read only zeros.
5. **After close.** No memory-image or heap-extension memfd and no file descriptor is left
   beyond those open before, and nothing is mapped where the pool was.
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from allocator import (
    Engine,
    Instance,
    InvalidArgument,
    MemoryTooLarge,
    Module,
    OutOfBounds,
    PoolExhausted,
    SharedMemory,
    SharedUnsupported,
    SyscallError,
)
from harness import observers
from harness.ops import (
    Deallocate,
    Drop,
    Expect,
    Grow,
    Instantiate,
    ModuleDecl,
    Op,
    Program,
    Read,
    SharedDecl,
    SharedGrow,
    SharedSize,
    Size,
    Touch,
    Write,
)
from harness.stress import probe
from harness.stress.leftovers import grown, resources
from harness.stress.tenants import fresh_memory
from harness.targets.reference import pool_config
from harness.text import format_op

FULL_CHECK_EVERY = 8
"""Every live memory is compared with what was written to it after every this many ops, and
after the last (a whole memory can be 16 MiB: after every op would dominate the sweep)."""

WASM_PAGE = 64 << 10


@dataclass(frozen=True)
class Injection:
    """The `n`-th call of `call` (counted from the engine's creation) fails with `errno`."""

    call: str
    n: int
    errno: int

    def describe(self) -> str:
        return f"{self.call} #{self.n} fails with {errno.errorcode[self.errno]}"


class FailNth:
    """The fault-injection hook: counts calls by name and fails the one `injection` names.

    `fired` becomes True when it has failed its call.
    """

    def __init__(self, injection: Injection | None) -> None:
        self.injection = injection
        self.counts: Counter[str] = Counter()
        self.fired = False

    def __call__(self, call: str) -> int | None:
        self.counts[call] += 1
        chosen = self.injection
        if chosen is not None and call == chosen.call and self.counts[call] == chosen.n:
            self.fired = True
            return chosen.errno
        return None


@dataclass(frozen=True)
class Problem:
    """One broken rule: under which injection, at which op (-1: after the sequence), what."""

    injection: Injection | None
    op_index: int
    op: str
    text: str

    def describe(self) -> str:
        where = f"op {self.op_index + 1} `{self.op}`" if self.op_index >= 0 else self.op
        under = self.injection.describe() if self.injection else "no injected fault"
        return f"{under}: {where}: {self.text}"


class Run:
    """One run: applies the ops to a fresh engine, checking after each (module docstring)."""

    def __init__(self, program: Program, injection: Injection | None) -> None:
        self.program = program
        self.injection = injection
        self.hook = FailNth(injection)
        self.problems: list[Problem] = []
        self.failed_ops = 0
        self.modules: dict[str, tuple[Module, bytes]] = {}
        self.instances: dict[str, tuple[Instance, bytearray]] = {}
        self.shared: dict[str, tuple[SharedMemory, int]] = {}
        self.largest = 0  # bytes: the largest any instance of the run grew
        self.index = -1

    def problem(self, text: str) -> None:
        op = (format_op(self.program.statements[self.index]) if self.index >= 0
              else "after the sequence")
        self.problems.append(Problem(self.injection, self.index, op, text))

    def execute(self) -> None:
        baseline = resources()
        self.engine = Engine(pool_config(self.program.pool_spec))
        pool_range = (self.engine.pool.base, self.engine.pool.layout.total_bytes)
        self.engine.vm.inject = self.hook
        try:
            for self.index, op in enumerate(self.program.statements):
                fired = self.hook.fired
                self._apply(op, fired)
                full = self.index % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1
                self._check_consistency(contents=full)
                if self.problems:
                    return
            self._check_consistency(contents=True)
            self.engine.vm.inject = None
            self.index = -1
            self._release_everything()
            self._guarded("the next tenants", self._next_tenants)
        finally:
            self.engine.vm.inject = None
            self._guarded("closing the engine", self.engine.close)
        self._check_closed(baseline, pool_range)

    def _guarded(self, what: str, action: Callable[[], None]) -> None:
        """Runs `action`; an exception out of it is a problem of this run, not a crash of the
        sweep (a seeded bug can make the allocator's own assertions fail there)."""
        try:
            action()
        except Exception as err:
            self.problem(f"{what}: raised {type(err).__name__}: {err}")

    # -- one op ------------------------------------------------------------------------------

    def _apply(self, op: Op, fired_before: bool) -> None:
        handler = getattr(self, "_" + op.kind.replace("-", "_"))
        try:
            handler(op)
        except SyscallError as err:
            if err.injected and self.hook.fired and not fired_before:
                self.failed_ops += 1  # nothing was created: later ops naming it are skipped
            else:
                self.problem(f"raised {err!r}")
        except Exception as err:
            self.problem(f"raised {type(err).__name__}: {err}")

    def _module(self, op: ModuleDecl) -> None:
        segments = tuple((s.offset, s.data) for s in op.data)
        try:
            module = self.engine.compile(op.name, op.min, op.max, shared=op.shared, data=segments)
        except (MemoryTooLarge, SharedUnsupported, InvalidArgument):
            return
        self.modules[op.name] = (module, fresh_memory(op.min, segments))

    def _instantiate(self, op: Instantiate) -> None:
        if op.module not in self.modules:
            return
        module, image = self.modules[op.module]
        try:
            instance = module.instantiate()
        except PoolExhausted:
            return
        if op.instance in self.instances:  # alive only because an earlier op failed: keep it
            self.instances[f"{op.instance}~{self.index}"] = self.instances.pop(op.instance)
        self.instances[op.instance] = (instance, bytearray(image))
        seen = probe.load(instance.memory.base, len(image))
        if seen != image:
            self.problem(f"the new instance in slot {instance.slot} does not read as its "
                         f"module's image and zeros: {_difference(seen, image)}")

    def _write(self, op: Write) -> None:
        if op.instance not in self.instances:
            return
        instance, shadow = self.instances[op.instance]
        if op.offset + len(op.data) > len(shadow):
            self._expect_out_of_bounds(lambda: instance.memory.write(op.offset, op.data))
            return
        if not probe.store(instance.memory.base + op.offset, op.data):
            self.problem(f"bytes {op.offset:#x}+{len(op.data)} of a live memory are not writable")
        shadow[op.offset:op.offset + len(op.data)] = op.data

    def _read(self, op: Read | Touch) -> None:
        if op.instance not in self.instances:
            return
        instance, shadow = self.instances[op.instance]
        if op.offset + op.length > len(shadow):
            self._expect_out_of_bounds(lambda: instance.memory.read(op.offset, op.length))
            return
        seen = probe.load(instance.memory.base + op.offset, op.length)
        if seen != bytes(shadow[op.offset:op.offset + op.length]):
            self.problem(f"read {_difference(seen, shadow[op.offset:op.offset + op.length])}")

    _touch = _read

    def _expect_out_of_bounds(self, access) -> None:  # noqa: ANN001 - a zero-argument callable
        try:
            access()
        except OutOfBounds:
            return
        self.problem("an access past the memory's size did not raise OutOfBounds")

    def _grow(self, op: Grow) -> None:
        if op.instance not in self.instances:
            return
        instance, shadow = self.instances[op.instance]
        fired = self.hook.fired
        result = instance.memory.grow(op.delta)
        pages = len(shadow) // WASM_PAGE
        if not self._grow_result(result, pages, op.delta, instance.memory.maximum_pages, fired):
            return
        shadow.extend(bytes(op.delta * WASM_PAGE))
        self.largest = max(self.largest, len(shadow))
        grown = probe.load(instance.memory.base + pages * WASM_PAGE, op.delta * WASM_PAGE)
        if grown != bytes(op.delta * WASM_PAGE):
            zeros = bytes(op.delta * WASM_PAGE)
            self.problem(f"grown pages are not zero: {_difference(grown, zeros)}")

    def _grow_result(self, result: int, pages: int, delta: int, maximum: int,
                     fired_before: bool) -> bool:
        """Checks a grow's result; True if the memory grew."""
        if pages + delta > maximum:
            if result != -1:
                self.problem(f"grow past the maximum of {maximum} pages returned {result}")
            return False
        if result == -1 and self.hook.fired and not fired_before and delta:
            self.failed_ops += 1
            return False
        if result != pages:
            self.problem(f"grow returned {result}, expected {pages}")
            return False
        return True

    def _size(self, op: Size) -> None:
        if op.instance in self.instances:
            instance, shadow = self.instances[op.instance]
            if instance.memory.size() != len(shadow) // WASM_PAGE:
                self.problem(f"size {instance.memory.size()}, expected {len(shadow) // WASM_PAGE}")

    def _deallocate(self, op: Deallocate) -> None:
        if op.instance in self.instances:
            instance, _ = self.instances.pop(op.instance)
            instance.deallocate()

    def _drop(self, op: Drop) -> None:
        if op.module in self.modules:
            module, _ = self.modules.pop(op.module)
            module.drop()

    def _shared(self, op: SharedDecl) -> None:
        self.shared[op.name] = (self.engine.shared_memory(op.min, op.max), op.min)

    def _shared_grow(self, op: SharedGrow) -> None:
        if op.name in self.shared:
            memory, pages = self.shared[op.name]
            fired = self.hook.fired
            if self._grow_result(memory.grow(op.delta), pages, op.delta, memory.maximum_pages,
                                 fired):
                self.shared[op.name] = (memory, pages + op.delta)

    def _shared_size(self, op: SharedSize) -> None:
        if op.name in self.shared:
            memory, pages = self.shared[op.name]
            if memory.size() != pages:
                self.problem(f"shared size {memory.size()}, expected {pages}")

    def _expect(self, op: Expect) -> None:
        """Observables are the executor's business; this sweep checks contents and slots."""

    # -- checks --------------------------------------------------------------------------------

    def _check_consistency(self, contents: bool) -> None:
        """Rule 2: slots, then (if `contents`) every live memory's bytes."""
        pool = self.engine.pool
        try:
            pool.index.check()
        except AssertionError as err:
            self.problem(f"index allocator inconsistent: {err}")
            return
        held = sorted(instance.slot for instance, _ in self.instances.values())
        used = sorted(i for i in range(pool.layout.slots)
                      if pool.index.state(i).value == "used" and pool.slot_state(i).value == "used")
        if held != used:
            self.problem(f"slots used {used} but live instances hold {held}: a slot leaked or "
                         f"is held twice")
        for name, (live, shadow) in self.instances.items() if contents else ():
            seen = probe.load(live.memory.base, len(shadow))
            if seen != shadow:
                self.problem(f"live instance {name} in slot {live.slot}: "
                             f"{_difference(seen, shadow)}")

    def _release_everything(self) -> None:
        try:
            for instance, _ in self.instances.values():
                instance.deallocate()
            for module, _ in self.modules.values():
                module.drop()
            for memory, _ in self.shared.values():
                memory.close()
        except Exception as err:
            self.problem(f"releasing everything raised {type(err).__name__}: {err}")
        self.instances.clear()
        self.modules.clear()
        self.shared.clear()

    def _next_tenants(self) -> None:
        """Every slot at once, grown as large as any instance grew: all zeros (rule 4)."""
        layout = self.engine.pool.layout
        maximum = layout.static_size // WASM_PAGE
        size = min(max(self.largest // WASM_PAGE, 1), maximum)
        tenant = self.engine.compile("next-tenant", min(1, maximum), maximum)
        instances = []
        try:
            for _ in range(layout.slots):
                try:
                    instances.append(tenant.instantiate())
                except PoolExhausted:
                    held = sorted(i.slot for i in instances)
                    self.problem(f"only {len(instances)} of {layout.slots} slots could be "
                                 f"instantiated (free: {held}): a slot leaked")
                    return
            for instance in instances:
                memory = instance.memory
                if memory.size() < size and memory.grow(size - memory.size()) == -1:
                    self.problem(f"the next tenant of slot {instance.slot} cannot grow to "
                                 f"{size} pages")
                    continue
                seen = probe.load(memory.base, memory.size_bytes)
                if seen != bytes(memory.size_bytes):
                    self.problem(f"the next tenant of slot {instance.slot} does not see only "
                                 f"zeros: {_difference(seen, bytes(memory.size_bytes))}")
        finally:
            for instance in instances:
                instance.deallocate()
            tenant.drop()

    def _check_closed(self, baseline: dict[str, int], pool_range: tuple[int, int]) -> None:
        for name, extra in grown(baseline, resources()).items():
            self.problem(f"after close: {extra} more {name} than before the run")
        base, length = pool_range
        left = [m for m in observers.mappings() if m.start < base + length and m.end > base]
        if length and left:
            self.problem(f"after close: {len(left)} mappings left in the pool's range "
                         f"{base:#x}+{length:#x}")


def _difference(seen: bytes | None, expected: bytes | bytearray) -> str:
    """Where `seen` first differs from `expected`, in a few bytes."""
    if seen is None:
        return "some page is not readable"
    at = next((i for i, (a, b) in enumerate(zip(seen, expected)) if a != b), None)
    if at is None:
        return f"{len(seen)} bytes instead of {len(expected)}"
    return (f"byte {at:#x} is {seen[at:at + 8].hex()} instead of "
            f"{bytes(expected[at:at + 8]).hex()}")
