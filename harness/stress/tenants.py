"""One interface over the two allocators the stress workload drives: pools of tenants.

A *tenant* is a live instance seen from the host: its slot, its memory's size, byte access
to its memory, `grow`, and `release` (deallocation). A `TenantPool` compiles modules,
instantiates them (None when the pool is exhausted), drops them and closes.

| | `ReferencePool` (`allocator.Engine`) | `WasmtimePool` (`wasmtime` package) |
|---|---|---|
| memory access | `LinearMemory.read`/`write` (the allocator's API) | the memory's `data_ptr`, from the host |
| grow | `LinearMemory.grow` | the module's `memory.grow` export |
| release | `Instance.deallocate` | `Store.close` |
| exhausted | `PoolExhausted` | Wasmtime's "maximum concurrent limit" errors (`WASMTIME_EXHAUSTED`) |

Thread safety: every method may be called from any thread, but one tenant is used by one
thread at a time, and a module is dropped only when no other thread may still instantiate it.
For Wasmtime this matters: closing a `Module` handle that another thread is instantiating
would free it under that thread.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from typing import Any, Protocol

from allocator import Engine, Instance, PoolConfig, PoolExhausted
from harness.ops import ModuleDecl, PoolSpec, Segment

Segments = tuple[tuple[int, bytes], ...]

WASMTIME_EXHAUSTED = re.compile(
    r"maximum concurrent limit of \d+ for (memory stripe \d+|core instances)")
"""Wasmtime's refusals of an instantiation for want of a slot. Under concurrency the core
instance limit (`memories + 1`, see `harness.wasmtime_pool`) can be reached first: Wasmtime
counts an instance before it looks for a memory slot, so threads that all find the memories
taken can exceed it together."""


def fresh_memory(min_pages: int, segments: Segments) -> bytes:
    """What a new instance's memory reads as: its data segments, in order, over zeros."""
    memory = bytearray(min_pages * (64 << 10))
    for offset, data in segments:
        memory[offset:offset + len(data)] = data
    return bytes(memory)


class Tenant(Protocol):
    slot: int

    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...

    def write(self, offset: int, data: bytes) -> None: ...

    def grow(self, delta: int) -> int: ...

    def release(self) -> None: ...


class TenantPool(Protocol):
    target: str

    def compile(self, name: str, min_pages: int, max_pages: int, segments: Segments) -> Any: ...

    def instantiate(self, module: Any) -> Tenant | None: ...

    def drop(self, module: Any) -> None: ...

    def check(self) -> None: ...

    def close(self) -> None: ...


# --- the reference allocator ------------------------------------------------------------------


@dataclass
class ReferenceTenant:
    instance: Instance

    @property
    def slot(self) -> int:
        return self.instance.slot

    @property
    def size(self) -> int:
        return self.instance.memory.size_bytes

    def read(self, offset: int, length: int) -> bytes:
        return self.instance.memory.read(offset, length)

    def write(self, offset: int, data: bytes) -> None:
        self.instance.memory.write(offset, data)

    def grow(self, delta: int) -> int:
        return self.instance.memory.grow(delta)

    def release(self) -> None:
        self.instance.deallocate()


class ReferencePool:
    """A pool of the reference allocator."""

    target = "reference"

    def __init__(self, config: PoolConfig) -> None:
        self.engine = Engine(config)

    def compile(self, name: str, min_pages: int, max_pages: int, segments: Segments) -> Any:
        return self.engine.compile(name, min_pages, max_pages, data=segments)

    def instantiate(self, module: Any) -> ReferenceTenant | None:
        try:
            return ReferenceTenant(module.instantiate())
        except PoolExhausted:
            return None

    def drop(self, module: Any) -> None:
        module.drop()

    def check(self) -> None:
        """The index allocator's invariants (`IndexAllocator.check`)."""
        self.engine.pool.index.check()

    def close(self) -> None:
        self.engine.close()


# --- Wasmtime -----------------------------------------------------------------------------------


@dataclass
class WasmtimeTenant:
    live: Any  # harness.targets.wasmtime_target.LiveInstance
    slot: int

    @property
    def size(self) -> int:
        return self.live.size

    def read(self, offset: int, length: int) -> bytes:
        if offset + length > self.live.size:
            raise IndexError(f"read of {length} bytes at {offset:#x} past {self.live.size:#x}")
        return ctypes.string_at(self.live.base + offset, length)

    def write(self, offset: int, data: bytes) -> None:
        if offset + len(data) > self.live.size:
            raise IndexError(f"write of {len(data)} bytes at {offset:#x} past {self.live.size:#x}")
        ctypes.memmove(self.live.base + offset, data, len(data))

    def grow(self, delta: int) -> int:
        from harness import wasm

        return self.live.call(wasm.GROW, wasm.as_i32(delta))

    def release(self) -> None:
        self.live.close()


class WasmtimePool:
    """A Wasmtime engine with the pooling allocator (`harness.wasmtime_pool.open_pool`).

    Raises `harness.targets.Unsupported` if the package is missing or refuses `spec`.
    """

    target = "wasmtime"

    def __init__(self, spec: PoolSpec) -> None:
        from harness.wasmtime_pool import open_pool

        self.pool = open_pool(spec)

    def compile(self, name: str, min_pages: int, max_pages: int, segments: Segments) -> Any:
        import wasmtime

        from harness import wasm

        decl = ModuleDecl(name, min_pages, max_pages,
                          data=tuple(Segment(o, d) for o, d in segments))
        return wasmtime.Module(self.pool.engine, wasm.module_bytes(decl))

    def instantiate(self, module: Any) -> WasmtimeTenant | None:
        import wasmtime

        from harness.targets.wasmtime_target import LiveInstance

        try:
            live = LiveInstance.create(self.pool.engine, "m", module)
        except wasmtime.WasmtimeError as err:
            if WASMTIME_EXHAUSTED.search(str(err)):
                return None
            raise
        return WasmtimeTenant(live, self.pool.slot_of(live.base))

    def drop(self, module: Any) -> None:
        module.close()

    def check(self) -> None:
        """Nothing to check from outside beyond what the workload sees."""

    def close(self) -> None:
        self.pool.close()


def open_tenant_pool(target: str, spec: PoolSpec) -> TenantPool:
    """A `TenantPool` of `target` (`reference` or `wasmtime`) configured by `spec`."""
    if target == "reference":
        from harness.targets.reference import pool_config

        return ReferencePool(pool_config(spec))
    if target == "wasmtime":
        return WasmtimePool(spec)
    raise ValueError(f"unknown stress target {target!r}; expected 'reference' or 'wasmtime'")
