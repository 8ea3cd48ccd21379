"""Target `wasmtime`: the real Wasmtime runtime (the `wasmtime` package), pooling allocator on.

How each statement runs:

* `pool`: `open` builds an engine with `harness.wasmtime_pool.open_pool` (the key mapping is
  documented there).
* `module`: `wasmtime.Module(engine, harness.wasm.module_bytes(decl))`, compiled and validated
  against the pool (a `shared` one may be compiled in a fresh process first, see below).
* `instantiate`: a new `Store` and `Instance`; the slot is derived from the memory's base
  address and the pool's layout.
* `write`/`read`: bounds-checked here against `data_len`, then `memmove`/`string_at` on
  `data_ptr`; the first byte is cross-checked through the module's `load8` export, and an
  out-of-bounds access must make `load8` of its first byte past the end trap as out of bounds.
* `grow`/`size`: the module's `grow`/`size` exports (`memory.grow`, `memory.size`); `size` also
  checks the host's view.
* `deallocate`: the instance's `Store` is closed (the only way to free an instance).
* `drop`: the `Module` handle is closed; stores of live instances keep the module alive.
* `shared`, `shared-grow`, `shared-size`: a `wasmtime.SharedMemory`, its size read through the C
  API (wasmtime-py's `SharedMemory.size()` passes a pointer to the pointer and raises
  `ArgumentError`, in 32.0.0 and 50.0.1 alike).

Error kinds are recognised by Wasmtime's error texts, measured with 50.0.1 (32.0.0 says
`memory index 0` where 50.0.1 says `memory`, which the patterns allow):

* `too-large`, at `Module()`: `... memory has a minimum byte size of 196608 which exceeds the
  limit of 0x20000 bytes`;
* `shared-unsupported`, at `Module()`: `... memory is shared which is not supported in the
  pooling allocator`;
* `pool-exhausted`, at `Instance()`: `maximum concurrent limit of 2 for memory stripe 0 reached`;
* `out-of-bounds`: decided here from `data_len`, confirmed by a trap of the Wasm `load8`.

Anything else Wasmtime raises is a `TargetError` carrying its message.

Where Wasmtime legitimately differs from docs/semantics.md, the target says so: `expectations`
returns `wasmtime_expectations(pool, installed version)`, a `harness.expectations.Expectations`
whose fields (`queue_empty_decommits`, `purge_flushes_queue`, `reset_madvises_image`,
`zero_only_segments_make_image`, `sparse_rule_on_extent`, `static_keeps_accessible`,
`index_shards`, `size_checked_before_shared`, `shared_reservation`) the model then predicts
exactly; each field's docstring gives the releases and the measurement, docs/semantics.md §8
the overview. They were found by replaying `corpora/regression` and by differential runs of this
target against `harness.model` (random programs: modules with images, instantiate, deallocate,
drop, grow, write, read, touch, shared memories; checked after every op on results, slots,
accessible bytes, page states, contents and memfds) on wasmtime 32.0.0, 40.0.0 and 50.0.1, Linux
6.18 x86-64 with 2 CPUs: with the expectations declared, 202, 300 and 221 programs of 60 ops
(pools of 1 to 131 slots, static and dynamic) agree, apart from the two bugs below.

Not in the model (nothing observes them, or the pool is refused): `memories=0` still reserves
the leading guard; home shards and per-thread decommit queues (48 and later) are assigned
round-robin to threads, so driven from one thread they behave as one queue and a fixed home
shard (0 for the first thread to use one); the refusals of `harness.wasmtime_pool` (zero
stride, `max-memory > reservation`, `style=dynamic` with a guard, `strategy` other than
`reuse-affinity`, `growth=memfd`, and on 32.0.0 `style=dynamic` at all).

Bugs, not differences, reported as `TargetError`s (so a campaign records them as findings):
Wasmtime 32 to 38 abort the process compiling a shared memory in a pool whose reservation is 0
(`bounds_checks.rs`, fixed by #11973), so there such a module is compiled in a fresh process
first; and before 44, a static memory that keeps its grown `accessible` (see
`static_keeps_accessible`) lets Wasm load past its size without trapping (the compiled bounds
check trusts the slot's protections, #13008), which `read`/`write` past the size detect.

Agreements worth stating (same measurements): the memfd is created at a module's first
instantiation, not at `module`; one image mapping per slot that holds the image, kept after
`deallocate` and removed when the module is purged; from 37 on, keep-resident bytes, image pages
included, are rewritten on reset and take 0 faults on reuse; from 44 on, in static style
`accessible` is exactly the size; a sparse image (16 MiB or more, and at least twice its data) is refused and its data
written at instantiation, so no memfd; a `min=0` memory has a non-null, page-aligned base at its
slot; cold slots are handed out
from 0 upwards; slots are those of the layout in `harness.wasmtime_pool` (pool start from the
maps, `guard + i * stride`).

For the executor: `memory(I).base` is `data_ptr`, the slot base, and `[base, base + size)` may
be read and written through it, atomically too (the `touch` loop), while the instance is live
and no Wasm of its store runs, i.e. between ops on the driving thread. Pages past `size` are
PROT_NONE in static style and readable and writable (but not part of the memory) in dynamic
style. Wasmtime's SIGSEGV handler is installed with the first engine and passes faults outside
Wasm code on to the handler installed before it.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass

from harness import observers, ops, wasm
from harness.expectations import Expectations
from harness.ops import GiB, WASM_PAGE, Data, Error, Number, Op, PoolSpec, Result, Slot
from harness.targets.base import MemoryRegion, TargetError
from harness.wasmtime_pool import (
    PooledEngine,
    bindings,
    compile_aborts,
    index_shards,
    open_pool,
    version_tuple,
)

EMPTY_DECOMMITS_QUEUED_SINCE = (37, 0, 0)
"""The first release whose reset always enqueues a decommit region (and rewrites image pages
below keep-resident instead of `madvise`-ing them): `reset_with_pagemap`, #11372 and #11510."""

COMPILE_ABORT_FIXED_IN = (39, 0, 0)
"""The first release that compiles a shared memory in a pool with no reservation (#11973)."""

STATIC_SHRINK_FIXED_IN = ((36, 0, 7), (42, 0, 2), (43, 0, 1), (44, 0, 0))
"""Releases with #13008 (static memories without a guard shrink on reuse): 44.0.0 and later,
and the patch releases it was backported to. A version is fixed if it is at least one of these
within the same major, or at least the last one."""


def wasmtime_expectations(pool: PoolSpec, version: str | None = None) -> Expectations:
    """How Wasmtime `version` (default: the installed one) differs from docs/semantics.md on
    `pool`; each field is documented in `harness.expectations`. Pure."""
    release = version_tuple(version)
    return Expectations(
        queue_empty_decommits=release >= EMPTY_DECOMMITS_QUEUED_SINCE,
        purge_flushes_queue=False,
        reset_madvises_image=release < EMPTY_DECOMMITS_QUEUED_SINCE,
        zero_only_segments_make_image=True,
        sparse_rule_on_extent=True,
        static_keeps_accessible=_static_keeps_accessible(pool, release),
        index_shards=index_shards(pool.memories, version),
        size_checked_before_shared=True,
        shared_reservation=pool.slot_reservation,
    )


def _static_keeps_accessible(pool: PoolSpec, release: tuple[int, ...]) -> bool:
    """Before #13008 a static memory's protections were reset on reuse only with a guard or
    when bounds checks could be elided (`reservation + guard >= 4 GiB`)."""
    fixed = release >= STATIC_SHRINK_FIXED_IN[-1] or any(
        release[0] == f[0] and release >= f for f in STATIC_SHRINK_FIXED_IN
    )
    elidable = pool.slot_reservation + pool.guard >= 4 * GiB
    return not fixed and pool.style == "static" and pool.guard == 0 and not elidable


MODULE_ERRORS = (
    (re.compile(r"minimum byte size of \d+ which exceeds the limit"), "too-large"),
    (re.compile(r"is shared which is not supported in the pooling"), "shared-unsupported"),
)
"""Wasmtime's compile-time refusals of a module, and the error kind each one is."""

INSTANTIATE_ERRORS = (
    (re.compile(r"maximum concurrent limit of \d+ for memory stripe \d+"), "pool-exhausted"),
)
"""Wasmtime's refusals of an instantiation, and the error kind each one is."""

GROW_FAILED = re.compile(r"failed to grow memory by")


def error_kind(err: Exception, patterns: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    """The error kind whose pattern `err`'s message matches, or `None`."""
    text = str(err)
    return next((kind for pattern, kind in patterns if pattern.search(text)), None)


def first_line(err: Exception) -> str:
    """The first non-empty line of an error message, with the exception's type."""
    lines = [line for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0] if lines else ''}"


class WasmTrap(Exception):
    """A Wasm call trapped. Carries only the trap's code and message: the runtime's trap object
    (whose backtrace keeps the module, its memfd and the engine alive) is already released."""

    def __init__(self, code: object, message: str) -> None:
        super().__init__(message)
        self.code = code


RESULTS = {wasm.LOAD8: 1, wasm.STORE8: 0, wasm.GROW: 1, wasm.SIZE: 1}
"""How many (i32) results each accessor export returns."""


def call_i32(store: object, func: object, export: str, args: tuple[int, ...]) -> int | None:
    """Calls `func` (an accessor export) with i32 `args` through `wasmtime_func_call`.

    Returns its i32 result, or `None` for `store8`; raises `WasmTrap` if it trapped and
    `WasmtimeError` for any other failure. Bypasses `Func.__call__`, which builds a `FuncType`
    per call and, when the call traps, leaves it in a reference cycle with the exception: a
    `FuncType` holds the engine, so the pool and every image memfd would outlive `close()` until
    the next garbage collection (measured: 1 memfd left after close, 0 after `gc.collect()`).
    """
    import wasmtime
    from wasmtime import _ffi as ffi

    params = (ffi.wasmtime_val_t * len(args))()
    for param, value in zip(params, args):
        param.kind = ffi.WASMTIME_I32.value
        param.of.i32 = value
    count = RESULTS[export]
    results = (ffi.wasmtime_val_t * count)()
    trap = ctypes.POINTER(ffi.wasm_trap_t)()
    context, callee, trap_out = store._context(), ctypes.byref(func._func), ctypes.byref(trap)
    error = ffi.wasmtime_func_call(context, callee, params, len(args), results, count, trap_out)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
    if trap:
        caught = wasmtime.Trap._from_ptr(trap)
        code, message = caught.trap_code, caught.message
        caught.close()
        raise WasmTrap(code, message)
    return results[0].of.i32 if count else None


@dataclass
class LiveInstance:
    """One instance in its own store, with its memory and accessor exports at hand."""

    module: str
    store: object
    memory: object
    funcs: dict[str, object]

    @classmethod
    def create(cls, engine: object, module_name: str, module: object) -> "LiveInstance":
        """Instantiates `module` in a new store. Raises what Wasmtime raises; the store is
        closed on failure."""
        import wasmtime

        store = wasmtime.Store(engine)
        try:
            exports = wasmtime.Instance(store, module, []).exports(store)
        except BaseException:
            store.close()
            raise
        funcs = {name: exports[name] for name in RESULTS}
        return cls(module_name, store, exports[wasm.MEMORY], funcs)

    @property
    def base(self) -> int:
        """Address of byte 0 of the memory."""
        return ctypes.cast(self.memory.data_ptr(self.store), ctypes.c_void_p).value or 0

    @property
    def size(self) -> int:
        """Current size in bytes, as the host sees it."""
        return self.memory.data_len(self.store)

    def call(self, export: str, *args: int) -> int | None:
        """Calls one of the accessor exports (see `call_i32`)."""
        return call_i32(self.store, self.funcs[export], export, args)

    def close(self) -> None:
        self.store.close()


class WasmtimeTarget:
    """The `Target` protocol over Wasmtime; see the module docstring."""

    name = "wasmtime"

    def __init__(self) -> None:
        self.pool: PooledEngine | None = None
        self.modules: dict[str, object] = {}
        self.dropped: set[str] = set()
        self.instances: dict[str, LiveInstance] = {}
        self.shared: dict[str, object] = {}
        self.shared_max: dict[str, int] = {}

    # -- the protocol ------------------------------------------------------------------------

    def expectations(self, pool: PoolSpec) -> Expectations:
        """Where the installed Wasmtime differs from docs/semantics.md on `pool` (see
        `wasmtime_expectations`)."""
        return wasmtime_expectations(pool)

    def open(self, pool: PoolSpec) -> None:
        """Builds the engine. Raises `Unsupported` for settings Wasmtime cannot honour."""
        self.close()
        observers.disable_thp()
        self.pool = open_pool(pool)

    def apply(self, op: Op) -> Result | None:
        """Runs one statement (not `touch`, not `expect`); see the module docstring."""
        import wasmtime

        handler = getattr(self, "_" + op.kind.replace("-", "_"), None)
        if handler is None or self.pool is None:
            raise TargetError(f"{op.kind}: not a statement this target applies, or not open")
        try:
            return handler(op)
        except wasmtime.Trap as trap:  # from `Instance()`: a data segment that does not fit
            message = first_line(trap)
            trap.close()  # its backtrace holds the module (and so its memfd) until deleted
            raise TargetError(f"{op.kind}: {message}") from None
        except (wasmtime.WasmtimeError, WasmTrap) as err:
            raise TargetError(f"{op.kind}: {first_line(err)}") from err

    def memory(self, instance: str) -> MemoryRegion:
        """Where instance (or shared memory) `instance`'s bytes are; `limit` is the slot's
        static size, `round_up(max-memory)` (a shared memory's: its `max`)."""
        if instance in self.shared:
            shared = self.shared[instance]
            base = ctypes.cast(shared.data_ptr(), ctypes.c_void_p).value or 0
            limit = self.shared_max[instance] * WASM_PAGE
            return MemoryRegion(base=base, size=shared.data_len(), limit=limit)
        live = self._instance(instance)
        assert self.pool is not None
        return MemoryRegion(base=live.base, size=live.size, limit=self.pool.layout.static_size)

    def close(self) -> None:
        """Closes every store, module and shared memory, then the engine: afterwards the
        process holds no memfd, mapping or reservation of this target. Idempotent."""
        for handle in [*self.instances.values(), *self.modules.values(), *self.shared.values()]:
            handle.close()  # stores first: a module lives on while a store holds it
        for table in (self.instances, self.modules, self.shared, self.shared_max):
            table.clear()
        self.dropped.clear()
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    # -- one method per statement ------------------------------------------------------------

    def _module(self, op: ops.ModuleDecl) -> Result | None:
        import wasmtime

        binary = wasm.module_bytes(op)
        if op.shared:
            self._refuse_known_abort(op.name, binary)
        try:
            self.modules[op.name] = wasmtime.Module(self._engine(), binary)
        except wasmtime.WasmtimeError as err:
            kind = error_kind(err, MODULE_ERRORS)
            if kind is None:
                raise
            return Error(kind)
        self.dropped.discard(op.name)
        return None

    def _instantiate(self, op: ops.Instantiate) -> Result | None:
        import wasmtime

        module = self._module_handle(op.module)
        try:
            live = LiveInstance.create(self._engine(), op.module, module)
        except wasmtime.WasmtimeError as err:
            kind = error_kind(err, INSTANTIATE_ERRORS)
            if kind is None:
                raise
            return Error(kind)
        self.instances[op.instance] = live
        assert self.pool is not None
        return Slot(self.pool.slot_of(live.base))

    def _write(self, op: ops.Write) -> Result | None:
        live = self._instance(op.instance)
        if op.offset + len(op.data) > live.size:
            return self._out_of_bounds(live, op.offset)
        ctypes.memmove(live.base + op.offset, op.data, len(op.data))
        if op.data:
            self._cross_check(live, op.offset, op.data[0], "write")
        return None

    def _read(self, op: ops.Read) -> Result | None:
        live = self._instance(op.instance)
        if op.offset + op.length > live.size:
            return self._out_of_bounds(live, op.offset)
        data = ctypes.string_at(live.base + op.offset, op.length)
        if data:
            self._cross_check(live, op.offset, data[0], "read")
        return Data(data)

    def _grow(self, op: ops.Grow) -> Result | None:
        live = self._instance(op.instance)
        if op.delta >= wasm.U32:
            return Number(-1)  # no i32 operand says this; no 32-bit memory can grow by it
        return Number(live.call(wasm.GROW, wasm.as_i32(op.delta)))

    def _size(self, op: ops.Size) -> Result | None:
        live = self._instance(op.instance)
        pages = live.call(wasm.SIZE)
        if pages * WASM_PAGE != live.size:
            raise TargetError(f"memory.size is {pages} pages but the host sees {live.size} bytes")
        return Number(pages)

    def _deallocate(self, op: ops.Deallocate) -> Result | None:
        self._instance(op.instance)
        self.instances.pop(op.instance).close()
        return None

    def _drop(self, op: ops.Drop) -> Result | None:
        self._module_handle(op.module).close()
        del self.modules[op.module]
        self.dropped.add(op.module)
        return None

    def _shared(self, op: ops.SharedDecl) -> Result | None:
        import wasmtime

        memory_type = wasmtime.MemoryType(wasmtime.Limits(op.min, op.max), shared=True)
        self.shared[op.name] = wasmtime.SharedMemory(self._engine(), memory_type)
        self.shared_max[op.name] = op.max
        return None

    def _shared_grow(self, op: ops.SharedGrow) -> Result | None:
        import wasmtime

        try:
            return Number(self._shared_memory(op.name).grow(op.delta))
        except wasmtime.WasmtimeError as err:
            if GROW_FAILED.search(str(err)):
                return Number(-1)
            raise

    def _shared_size(self, op: ops.SharedSize) -> Result | None:
        return Number(bindings().wasmtime_sharedmemory_size(self._shared_memory(op.name).ptr()))

    # -- helpers -----------------------------------------------------------------------------

    def _refuse_known_abort(self, name: str, binary: bytes) -> None:
        """`TargetError` if compiling this shared module aborts the process, as Wasmtime before
        39 does in a pool whose `memory_reservation` is 0 (`bounds_checks.rs`:
        `checked_sub(..).unwrap()`, fixed by #11973). Only then is the compile tried first, in
        a fresh process (`compile_aborts`: a fork would make this process's private pages
        copy-on-write and add faults to the next `touch`); the abort is observed, not assumed."""
        assert self.pool is not None
        settings = self.pool.settings
        if version_tuple(self.pool.version) >= COMPILE_ABORT_FIXED_IN or settings.memory_reservation:
            return
        crash = compile_aborts(settings, binary)
        if crash is not None:
            raise TargetError(f"module {name}: Wasmtime aborts the process compiling it: {crash}")

    def _engine(self) -> object:
        assert self.pool is not None
        return self.pool.engine

    def _instance(self, name: str) -> LiveInstance:
        if name not in self.instances:
            live = ", ".join(self.instances) or "none"
            raise TargetError(f"no live instance {name!r} (live: {live})")
        return self.instances[name]

    def _module_handle(self, name: str) -> object:
        if name in self.dropped:
            raise TargetError(f"module {name!r} was dropped")
        if name not in self.modules:
            raise TargetError(f"no module {name!r} (declared: {', '.join(self.modules) or 'none'})")
        return self.modules[name]

    def _shared_memory(self, name: str):
        if name not in self.shared:
            raise TargetError(f"no shared memory {name!r}")
        return self.shared[name]

    def _cross_check(self, live: LiveInstance, offset: int, expected: int, what: str) -> None:
        """Wasm's `load8` of byte `offset` must see what the host's `what` saw there."""
        seen = live.call(wasm.LOAD8, wasm.as_i32(offset))
        if seen != expected:
            raise TargetError(
                f"{what} at {offset:#x}: the host sees byte {expected:#04x}, "
                f"Wasm load8 sees {seen:#04x}"
            )

    def _out_of_bounds(self, live: LiveInstance, offset: int) -> Result:
        """`Error("out-of-bounds")`, once Wasm's `load8` of the first byte past the end of the
        range's in-bounds part has trapped as out of bounds (skipped past 4 GiB)."""
        import wasmtime

        address = max(offset, live.size)
        if address >= wasm.U32:
            return Error("out-of-bounds")
        try:
            value = live.call(wasm.LOAD8, wasm.as_i32(address))
        except WasmTrap as trap:
            if trap.code != wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS:
                raise TargetError(f"load8 at {address:#x} trapped: {trap}") from trap
            return Error("out-of-bounds")
        raise TargetError(
            f"load8 at {address:#x}, past the memory's {live.size} bytes, returned {value} "
            "instead of trapping"
        )


TARGET = WasmtimeTarget

__all__ = [
    "EMPTY_DECOMMITS_QUEUED_SINCE",
    "INSTANTIATE_ERRORS",
    "MODULE_ERRORS",
    "TARGET",
    "LiveInstance",
    "WasmTrap",
    "WasmtimeTarget",
    "call_i32",
    "error_kind",
    "wasmtime_expectations",
]
