"""Wasmtime engines with the pooling allocator on, configured from a `PoolSpec` via the C API.

The wasmtime Python package has no pooling API of its own, but its private, generated ctypes
bindings (`wasmtime._bindings`) wrap the whole C API: `wasmtime_pooling_allocation_config_*`
(since wasmtime 32.0.0) and `wasmtime_pooling_allocation_strategy_set`. This module maps a
`PoolSpec` onto those knobs, refuses what Wasmtime cannot do, and builds the engine without ever
letting Wasmtime abort the process.

    settings = pool_settings(spec)      # pure; Unsupported(reason) for keys Wasmtime can't honour
    pool = open_pool(spec)              # PooledEngine: .engine, .layout, .slot_of(base)
    ...
    pool.close()

Key mapping (`pool_settings`):

* `memories` -> `total_memories` (u32), and `total_core_instances = memories + 1` so that the
  memory limit is the one hit (with both at 2, a third instance fails on "core instances");
* `max-memory` -> `max_memory_size`;
* `reservation` -> `Config::memory_reservation` (default: `max-memory`, as in `PoolSpec`);
* `guard` -> `Config::memory_guard_size`, which also precedes slot 0 (Wasmtime's default
  `guard_before_linear_memory`);
* `keep-resident` -> `linear_memory_keep_resident`;
* `decommit-batch` -> `decommit_batch_size`;
* `warm-slots` -> `max_unused_warm_slots` (u32);
* `style=static` -> the defaults: signals-based traps, so a reused slot's accessible bytes fit
  its memory exactly;
* `style=dynamic` -> `Config::signals_based_traps(false)`, and only with guard=0: Wasmtime keeps
  `accessible` on reuse only for a memory with no guard that cannot use virtual memory for its
  bounds checks (`MemoryImageSlot::instantiate` in `cow.rs`); unsupported with a guard, and
  where the setter is missing (32.0.0);
* `strategy` -> only `reuse-affinity`, Wasmtime's one index allocator since v6
  (`ModuleAffinityIndexAllocator`); `next-available` and `random` are unsupported;
* `seed` -> accepted and meaningless (only `random` uses it);
* `growth` -> only `mprotect`; `memfd`, the extension-memfd design removed before it was
  released, is unsupported.

Fixed for every pool: `max_memories_per_module = 1`; `total_tables = total_stacks =
total_gc_heaps = 0` (the generated modules have no tables, no async stacks, no GC heaps, so
these pools would only reserve address space); `parallel_compilation(false)`, so Wasmtime starts
no compile threads (the process stays single-threaded, which keeps `fork` safe and makes the
calling thread the home shard of every sharded structure); `wasm_threads` and, where it exists,
`shared_memory`, for `shared` statements.

Setters. Only the C functions are called, through `_bindings`, never the Python `Config`
properties (32.0.0's `Config` lacks `memory_reservation`, `memory_guard_size` and
`shared_memory`). All 23 pooling functions exist in 32.0.0 and 50.0.1. Of the `wasmtime_config_*`
setters used, 32.0.0 lacks `signals_based_traps` (so `style=dynamic` is unsupported there) and
`shared_memory` (not needed there: shared memories only need `wasm_threads`). A missing setter
that matters raises `Unsupported` naming it.

Refused configurations. `wasm_engine_new_with_config` does `Engine::new(&config).unwrap()`, so a
configuration Wasmtime rejects *aborts the process* (SIGABRT after a Rust panic). Measured with
50.0.1: `max_memory_size` above `memory_reservation` ("maximum memory size of 0x200000 bytes
exceeds the configured memory reservation of 0x100000 bytes"), and a pool too large for the
address space (`memories=200000` at the 4 GiB default: "failed to create memory pool mapping /
mmap failed to reserve 0x3135a82000000 bytes / Cannot allocate memory"). Everything else tried
built fine (memories=0, max-memory=0, keep-resident > max-memory, decommit-batch > memories,
unaligned sizes, warm-slots=0, signals-based traps off with or without a guard). So before the
first engine of a given configuration is built, `probe` builds it in a forked child and returns
the child's panic message if it died; `open_pool` turns that into `Unsupported`. Probes are
cached per configuration (4-50 ms each, measured), and before every build the pool's
reservation is tried with one `mmap`/`munmap` in this process, in case the address space has
filled up since the probe.

Pool location. Slots are numbered from the pool's layout, not from allocation order: the memory
pool is one `mmap` of `total = guard + memories * stride` bytes (Wasmtime's `SlabLayout`, one
stripe: memory protection keys are off by default and the C API cannot turn them on), where
`stride = max(round_up(reservation), round_up(max-memory)) + round_up(guard)` and slot `i` starts
at `pool + guard + i * stride`. `open_pool` diffs `/proc/self/maps` around the engine's
construction; the pool is a new range of exactly `total` bytes (or, should the kernel have merged
it with another new mapping of the same flags, one end of a larger new range: both ends are kept
as candidates and the first memory base decides, refusing with `TargetError` if it fits both).
Measured: `memory_reservation=4MiB, guard=2MiB, total_memories=3` gave one new `---p` mapping of
0x1400000 bytes and bases at +2 MiB, +8 MiB, +14 MiB.
"""

from __future__ import annotations

import ctypes
import dataclasses
import faulthandler
import functools
import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from harness import observers
from harness.ops import OS_PAGE, PoolSpec
from harness.targets.base import TargetError, Unsupported

U32_MAX = (1 << 32) - 1
SIZE_MAX = (1 << 64) - 1

SHARD_THRESHOLD = 128
"""Index allocators with at least this many slots are sharded (see `index_shards`)."""

SHARDED_SINCE = 48
"""The first Wasmtime release with sharded index allocators and decommit queues (#13840)."""

PROBE_TIMEOUT = 30.0
"""Seconds a probe child may take to build an engine before it is killed."""


def wasmtime_version() -> str | None:
    """The installed wasmtime package's version, or `None` if it is not installed."""
    try:
        return metadata.version("wasmtime")
    except metadata.PackageNotFoundError:
        return None


def bindings():
    """`wasmtime._bindings`, the package's generated ctypes bindings of the C API.

    Raises `Unsupported` if the package is missing or predates the pooling C API (< 32.0.0).
    """
    try:
        from wasmtime import _bindings
    except ImportError as err:
        raise Unsupported(f"the wasmtime package is not installed ({err})") from err
    if not hasattr(_bindings, "wasmtime_pooling_allocation_strategy_set"):
        raise Unsupported(
            f"wasmtime {wasmtime_version()} has no pooling-allocator C API (needs >= 32.0.0)"
        )
    return _bindings


# --- Settings: the PoolSpec as Wasmtime knobs ----------------------------------------------


@dataclass(frozen=True)
class PoolSettings:
    """Every knob this module sets, in Wasmtime's own units (bytes, counts).

    `pool_settings` builds them and guarantees that each value fits its C type.
    """

    total_memories: int
    max_memory_size: int
    memory_reservation: int
    memory_guard_size: int
    linear_memory_keep_resident: int
    decommit_batch_size: int
    max_unused_warm_slots: int
    signals_based_traps: bool

    def pooling_knobs(self) -> dict[str, int]:
        """`wasmtime_pooling_allocation_config_<name>_set` arguments, in the order they are set."""
        return {
            "total_memories": self.total_memories,
            "total_core_instances": min(self.total_memories + 1, U32_MAX),
            "total_tables": 0,
            "total_stacks": 0,
            "total_gc_heaps": 0,
            "max_memories_per_module": 1,
            "max_memory_size": self.max_memory_size,
            "linear_memory_keep_resident": self.linear_memory_keep_resident,
            "decommit_batch_size": self.decommit_batch_size,
            "max_unused_warm_slots": self.max_unused_warm_slots,
        }

    def config_knobs(self) -> dict[str, int | bool]:
        """`wasmtime_config_<name>_set` arguments. Traps are only switched off for dynamic
        style, so that a version without the setter still runs static pools."""
        knobs: dict[str, int | bool] = {
            "memory_reservation": self.memory_reservation,
            "memory_guard_size": self.memory_guard_size,
            "parallel_compilation": False,
            "wasm_threads": True,
        }
        if not self.signals_based_traps:
            knobs["signals_based_traps"] = False
        return knobs


_OPTIONAL_KNOBS = {"total_gc_heaps"}
"""Pooling knobs skipped if the installed version lacks their setter: they only shrink a pool
the generated modules never use. `shared_memory` is optional the same way among `Config` knobs."""


def pool_settings(spec: PoolSpec) -> PoolSettings:
    """The Wasmtime knobs for `spec`; see the module docstring for the mapping.

    Raises `Unsupported(reason)`, the reason naming the key, for a key Wasmtime cannot honour
    or a value its C API cannot carry. Pure: installs nothing, builds nothing.
    """
    _refuse_designs(spec)
    reservation = spec.slot_reservation
    _refuse_out_of_range(spec, reservation)
    if spec.max_memory > reservation:
        raise Unsupported(
            f"max-memory={spec.max_memory} above reservation={reservation}: Wasmtime refuses a "
            "pool whose max_memory_size exceeds memory_reservation (MemoryPool::new)"
        )
    if _round_up(max(spec.max_memory, reservation)) + _round_up(spec.guard) == 0 and spec.memories:
        raise Unsupported(
            "max-memory=0 with reservation=0 and guard=0: Wasmtime reserves no pool at all "
            "(every memory's base is the same dangling address), so slots cannot be observed"
        )
    return PoolSettings(
        total_memories=spec.memories,
        max_memory_size=spec.max_memory,
        memory_reservation=reservation,
        memory_guard_size=spec.guard,
        linear_memory_keep_resident=spec.keep_resident,
        decommit_batch_size=spec.decommit_batch,
        max_unused_warm_slots=spec.warm_slots,
        signals_based_traps=spec.style == "static",
    )


def _refuse_designs(spec: PoolSpec) -> None:
    """Unsupported for the strategy, growth and style settings Wasmtime has no design for."""
    if spec.growth != "mprotect":
        raise Unsupported(
            f"growth={spec.growth}: Wasmtime grows memories only with mprotect; the extension-"
            "memfd design was removed before it was ever released"
        )
    if spec.strategy != "reuse-affinity":
        raise Unsupported(
            f"strategy={spec.strategy}: Wasmtime has one slot strategy since v6, "
            "ModuleAffinityIndexAllocator (reuse-affinity), and no way to choose another"
        )
    if spec.style == "dynamic" and spec.guard:
        raise Unsupported(
            f"style=dynamic with guard={spec.guard}: Wasmtime shrinks the accessible bytes of a "
            "reused slot whenever the memory has a guard, so dynamic style needs guard=0"
        )


def _refuse_out_of_range(spec: PoolSpec, reservation: int) -> None:
    """Unsupported for values the C API's integer types cannot carry (ctypes would wrap)."""
    limits = {
        "memories": (spec.memories, U32_MAX),
        "warm-slots": (spec.warm_slots, U32_MAX),
        "max-memory": (spec.max_memory, SIZE_MAX),
        "reservation": (reservation, SIZE_MAX),
        "guard": (spec.guard, SIZE_MAX),
        "keep-resident": (spec.keep_resident, SIZE_MAX),
        "decommit-batch": (spec.decommit_batch, SIZE_MAX),
    }
    for key, (value, limit) in limits.items():
        if not 0 <= value <= limit:
            raise Unsupported(f"{key}={value}: outside what Wasmtime's C API takes (0..{limit})")


def _round_up(n: int, page: int = OS_PAGE) -> int:
    return -(-n // page) * page


# --- Layout: where slot i lies ---------------------------------------------------------------


@dataclass(frozen=True)
class PoolLayout:
    """Wasmtime's `SlabLayout` with one stripe (memory protection keys off).

    ```
     pool                       slot 0                        slot 1
     |<-- pre_guard -->|<--------- stride ---------->|<--------- stride ...
     | PROT_NONE       | memory ... | guard          | memory ...
    ```
    `static_size` is the most a memory can grow to (`round_up(max-memory)`).
    """

    pre_guard: int
    stride: int
    slots: int
    static_size: int

    @property
    def total(self) -> int:
        """Bytes of the pool's one reservation."""
        return self.pre_guard + self.slots * self.stride

    def slot_at(self, offset: int) -> int | None:
        """The slot whose base lies `offset` bytes into the pool, or `None` if no slot does."""
        rel = offset - self.pre_guard
        if self.stride == 0 or rel < 0 or rel % self.stride:
            return None
        slot = rel // self.stride
        return slot if slot < self.slots else None


def pool_layout(settings: PoolSettings) -> PoolLayout:
    """The layout Wasmtime computes for `settings` (`memory_pool.rs`, `calculate`)."""
    guard = _round_up(settings.memory_guard_size)
    max_memory = _round_up(settings.max_memory_size)
    stride = max(_round_up(settings.memory_reservation), max_memory) + guard
    return PoolLayout(guard, stride, settings.total_memories, max_memory)


def index_shards(total_memories: int, version: str | None = None) -> int:
    """How many shards Wasmtime `version` (default: the installed one) splits the slot index
    allocator of a pool with `total_memories` slots into.

    One before Wasmtime 48 (measured: 32.0.0 does not shard) and below `SHARD_THRESHOLD` slots;
    else one per CPU this process may run on, at most 16 (Rust's `available_parallelism`, which
    may also count a cgroup CPU quota this does not see). Each shard owns a contiguous range of
    slot indices and `max_unused_warm_slots // shards` of the warm budget (the remainder to the
    leading shards); a thread allocates from its home shard first.
    """
    if total_memories < SHARD_THRESHOLD or major_version(version) < SHARDED_SINCE:
        return 1
    return min(len(os.sched_getaffinity(0)), 16)


def major_version(version: str | None = None) -> int:
    """The major number of Wasmtime `version` (default: the installed one; 0 if none is)."""
    return version_tuple(version)[0]


def version_tuple(version: str | None = None) -> tuple[int, int, int]:
    """Wasmtime `version` (default: the installed one; `(0, 0, 0)` if none is) as three numbers,
    for comparisons: `"50.0.1"` -> `(50, 0, 1)`; a part that is not a number counts as 0."""
    parts = [int(p) if p.isdigit() else 0 for p in (version or wasmtime_version() or "0").split(".")]
    parts += [0, 0, 0]
    return parts[0], parts[1], parts[2]


# --- Building engines, never dying of it -----------------------------------------------------


def new_config(settings: PoolSettings):
    """A `wasmtime.Config` with the pooling allocator configured as `settings` says.

    Raises `Unsupported` naming the setter when the installed version lacks one that matters.
    """
    import wasmtime

    api = bindings()
    config = wasmtime.Config()
    for name, value in settings.config_knobs().items():
        _call_setter(api, f"wasmtime_config_{name}_set", config.ptr(), value, optional=False)
    _call_setter(api, "wasmtime_config_shared_memory_set", config.ptr(), True, optional=True)
    pooling = api.wasmtime_pooling_allocation_config_new()
    try:
        for name, value in settings.pooling_knobs().items():
            setter = f"wasmtime_pooling_allocation_config_{name}_set"
            _call_setter(api, setter, pooling, value, optional=name in _OPTIONAL_KNOBS)
        api.wasmtime_pooling_allocation_strategy_set(config.ptr(), pooling)
    finally:
        api.wasmtime_pooling_allocation_config_delete(pooling)  # strategy_set copied it
    return config


def _call_setter(api, name: str, target, value: int | bool, optional: bool) -> None:
    setter = getattr(api, name, None)
    if setter is not None:
        setter(target, value)
    elif not optional:
        raise Unsupported(f"wasmtime {wasmtime_version()} has no C setter {name}")


def probe(settings: PoolSettings) -> str | None:
    """Builds an engine for `settings` in a forked child: `None` if it could, else why not
    (Wasmtime's own error text, from the child's panic message). Cached per settings."""
    return _probe_cached(settings)


@functools.lru_cache(maxsize=256)
def _probe_cached(settings: PoolSettings) -> str | None:
    import wasmtime

    new_config(settings)  # setter problems surface here, as Unsupported, not in the child
    return in_child(lambda: wasmtime.Engine(new_config(settings)), "building the engine")


def in_child(action: Callable[[], object], what: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Runs `action` in a forked child: `None` if it returned, else why not: its exception, or
    the message of the Rust panic that aborted it, on one line. `what` names the action in the
    fallback texts. The child never returns into the caller's code; a child still running after
    `timeout` seconds is killed."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: act, report through the exit status and stderr, never return
        os.close(read_end)
        _act_and_exit(action, write_end)
    os.close(write_end)
    output, timed_out = _read_until_exit(read_end, timeout)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return f"{what} took over {timeout:.0f} s"
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    return _refusal_text(output) or f"{what} failed (wait status {status:#x})"


def _act_and_exit(action: Callable[[], object], report_fd: int) -> None:
    """In a child of `in_child`: run `action`, exit 0; any failure goes to `report_fd`."""
    code = 1
    try:
        os.dup2(report_fd, 2)
        os.environ["RUST_BACKTRACE"] = "0"
        faulthandler.disable()  # the abort is expected: no Python traceback on the parent's stderr
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # and no core file
        action()
        code = 0
    except BaseException as err:  # noqa: BLE001 - the child reports everything, then exits
        os.write(report_fd, f"{type(err).__name__}: {err}".encode())
    finally:
        os._exit(code)


def compile_aborts(settings: PoolSettings, binary: bytes, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Compiles `binary` with an engine of `settings` in a fresh Python process (not a fork:
    forking would make this process's private pages copy-on-write, and the next write to each
    would fault). `None` if the child compiled it or Wasmtime refused it with an error; else
    the panic that aborted the child, on one line."""
    script = (
        "import json, sys, wasmtime\n"
        "from harness.wasmtime_pool import PoolSettings, new_config\n"
        "settings = PoolSettings(**json.loads(sys.argv[1]))\n"
        "engine = wasmtime.Engine(new_config(settings))\n"
        "try:\n    wasmtime.Module(engine, sys.stdin.buffer.read())\n"
        "except wasmtime.WasmtimeError:\n    pass\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "RUST_BACKTRACE": "0",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    argv = [sys.executable, "-c", script, json.dumps(dataclasses.asdict(settings))]
    try:
        done = subprocess.run(argv, input=binary, capture_output=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"compiling the module took over {timeout:.0f} s"
    if done.returncode == 0:
        return None
    return _refusal_text(done.stderr) or f"compiling the module failed (exit status {done.returncode})"


def _read_until_exit(fd: int, timeout: float) -> tuple[bytes, bool]:
    """Everything written to `fd` until its writers are gone, and whether `timeout` passed."""
    deadline = time.monotonic() + timeout
    chunks = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return b"".join(chunks), True
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
    finally:
        os.close(fd)


def _refusal_text(output: bytes) -> str:
    """Wasmtime's error from a child's stderr: the text after `unwrap()`'s prefix, on one line."""
    text = output.decode("utf-8", "replace")
    marker = "on an `Err` value: "
    if marker in text:
        text = text.split(marker, 1)[1]
    text = text.split("\nstack backtrace:", 1)[0].split("\nnote: run with", 1)[0]
    return " / ".join(line.strip() for line in text.splitlines() if line.strip())


def reservable(nbytes: int) -> bool:
    """`True` if this process can reserve `nbytes` of address space right now (one PROT_NONE,
    MAP_NORESERVE `mmap`, unmapped at once)."""
    if nbytes == 0:
        return True
    libc = _libc()
    addr = libc.mmap(None, nbytes, _PROT_NONE, _MAP_RESERVE, -1, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        return False
    libc.munmap(addr, nbytes)
    return True


_PROT_NONE = 0
_MAP_RESERVE = 0x02 | 0x20 | 0x4000  # MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE (x86-64, arm64)


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return libc


# --- The engine and its pool ---------------------------------------------------------------


@dataclass
class PooledEngine:
    """A `wasmtime.Engine` with the pooling allocator, and where its memory pool lies.

    `candidates` are the possible pool start addresses found at construction (see the module
    docstring); the first `slot_of` that fits exactly one of them fixes `start`. `version` is
    the wasmtime package's, for reports.
    """

    engine: object
    settings: PoolSettings
    layout: PoolLayout
    candidates: tuple[int, ...]
    start: int | None = None
    version: str | None = field(default_factory=wasmtime_version)

    def slot_of(self, base: int) -> int:
        """The slot index of a memory whose byte 0 is at `base`.

        Raises `TargetError` if `base` is not a slot base of the pool, or fits several
        candidate pool starts.
        """
        starts = (self.start,) if self.start is not None else self.candidates
        fits = {start: self.layout.slot_at(base - start) for start in starts}
        fits = {start: slot for start, slot in fits.items() if slot is not None}
        if len(fits) != 1:
            where = ", ".join(f"{s:#x}" for s in starts) or "none found"
            raise TargetError(
                f"memory base {base:#x} is not a slot base of exactly one candidate pool "
                f"start ({where}; {self.layout})"
            )
        (self.start, slot), = fits.items()
        return slot

    def close(self) -> None:
        """Drops the engine (and with it the pool), if nothing else holds it."""
        self.engine.close()  # type: ignore[attr-defined]


def quiet_error_backtraces() -> None:
    """No backtrace in Wasmtime's error values, unless `RUST_LIB_BACKTRACE` asks for one.

    With `RUST_BACKTRACE=1` in the environment every `anyhow` error captures a backtrace, and
    40.0.0 symbolizes it when the message is read: 62 ms per refused module, measured (1.1 ms
    with `RUST_LIB_BACKTRACE=0`). The setting is read once, at the first error of the process;
    panics still follow `RUST_BACKTRACE`."""
    os.environ.setdefault("RUST_LIB_BACKTRACE", "0")


def open_pool(spec: PoolSpec) -> PooledEngine:
    """A pooling engine for `spec`, located in this process's address space.

    Raises `Unsupported` for a spec Wasmtime cannot honour or would refuse (see the module
    docstring); never lets Wasmtime abort the process over its configuration.
    """
    import wasmtime

    quiet_error_backtraces()
    settings = pool_settings(spec)
    refusal = probe(settings)
    if refusal is not None:
        raise Unsupported(f"Wasmtime refuses this pool: {refusal}")
    layout = pool_layout(settings)
    if not reservable(layout.total):
        raise Unsupported(f"cannot reserve the pool's {layout.total:#x} bytes of address space now")
    before = observers.mappings()
    engine = wasmtime.Engine(new_config(settings))
    candidates = pool_candidates(before, observers.mappings(), layout.total)
    return PooledEngine(engine, settings, layout, candidates)


def pool_candidates(before: list, after: list, total: int) -> tuple[int, ...]:
    """Possible starts of a `total`-byte reservation made between two readings of the maps.

    The ranges covered after but not before, merged; a range of exactly `total` bytes is the
    pool; failing that, both ends of every larger range are candidates.
    """
    if total == 0:
        return ()
    ranges = _new_ranges(before, after)
    exact = tuple(start for start, end in ranges if end - start == total)
    if exact:
        return exact
    return tuple(sorted({p for s, e in ranges if e - s > total for p in (s, e - total)}))


def _new_ranges(before: list, after: list) -> list[tuple[int, int]]:
    """`[start, end)` ranges mapped in `after` and not in `before`, adjacent ones merged."""
    old = _merged([(m.start, m.end) for m in before])
    fresh: list[tuple[int, int]] = []
    for start, end in _merged([(m.start, m.end) for m in after]):
        for old_start, old_end in old:
            if old_end <= start or old_start >= end:
                continue
            if old_start > start:
                fresh.append((start, old_start))
            start = max(start, old_end)
        if start < end:
            fresh.append((start, end))
    return _merged(fresh)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


__all__ = [
    "PoolLayout",
    "compile_aborts",
    "PoolSettings",
    "PooledEngine",
    "in_child",
    "index_shards",
    "major_version",
    "new_config",
    "open_pool",
    "pool_candidates",
    "pool_layout",
    "pool_settings",
    "probe",
    "reservable",
    "version_tuple",
    "wasmtime_version",
]
