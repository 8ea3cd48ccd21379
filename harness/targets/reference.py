"""Target `reference`: the reference pooling allocator of `allocator/`, in this process.

Every pool key is honoured. Errors of the allocator map to the spec's error kinds; any other
exception escaping the allocator is a `TargetError` (a bug in the allocator or a seeded one).
"""

from __future__ import annotations

import allocator
from harness.ops import (
    Data,
    Deallocate,
    Drop,
    Error,
    Grow,
    Instantiate,
    ModuleDecl,
    Number,
    Op,
    PoolSpec,
    Read,
    Result,
    SharedDecl,
    SharedGrow,
    SharedSize,
    Size,
    Slot,
    Write,
)
from harness.targets.base import MemoryRegion, TargetError

ERROR_KINDS = {
    allocator.PoolExhausted: "pool-exhausted",
    allocator.MemoryTooLarge: "too-large",
    allocator.SharedUnsupported: "shared-unsupported",
    allocator.OutOfBounds: "out-of-bounds",
}


def pool_config(pool: PoolSpec) -> allocator.PoolConfig:
    """The allocator configuration a `pool` statement asks for."""
    return allocator.PoolConfig(
        memories=pool.memories,
        max_memory=pool.max_memory,
        reservation=pool.reservation,
        guard=pool.guard,
        keep_resident=pool.keep_resident,
        style=pool.style,
        strategy=pool.strategy,
        seed=pool.seed,
        warm_slots=pool.warm_slots,
        decommit_batch=pool.decommit_batch,
        growth=pool.growth,
    )


class ReferenceTarget:
    """Drives `allocator.Engine`; names of the program map to allocator objects."""

    name = "reference"

    def __init__(self) -> None:
        self.engine: allocator.Engine | None = None
        self.modules: dict[str, allocator.Module] = {}
        self.instances: dict[str, allocator.Instance] = {}
        self.shared: dict[str, allocator.SharedMemory] = {}

    def open(self, pool: PoolSpec) -> None:
        allocator.disable_thp()
        self.engine = allocator.Engine(pool_config(pool))

    def apply(self, op: Op) -> Result | None:
        handler = getattr(self, "_" + op.kind.replace("-", "_"))
        try:
            return handler(op)
        except tuple(ERROR_KINDS) as err:
            return Error(ERROR_KINDS[type(err)])
        except allocator.AllocatorError as err:
            raise TargetError(f"{type(err).__name__}: {err}") from err

    def memory(self, instance: str) -> MemoryRegion:
        mem = self.instances[instance].memory
        return MemoryRegion(base=mem.base, size=mem.size_bytes, limit=mem.limit)

    def close(self) -> None:
        for inst in self.instances.values():
            inst.deallocate()
        for module in self.modules.values():
            module.drop()
        for shared in self.shared.values():
            shared.close()
        self.instances.clear()
        self.modules.clear()
        self.shared.clear()
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    # -- one method per statement ---------------------------------------------------------

    def _module(self, op: ModuleDecl) -> Result | None:
        assert self.engine is not None
        data = [(s.offset, s.data) for s in op.data]
        self.modules[op.name] = self.engine.compile(op.name, op.min, op.max, shared=op.shared, data=data)
        return None

    def _instantiate(self, op: Instantiate) -> Result | None:
        inst = self.modules[op.module].instantiate()
        self.instances[op.instance] = inst
        return Slot(inst.slot)

    def _write(self, op: Write) -> Result | None:
        self.instances[op.instance].memory.write(op.offset, op.data)
        return None

    def _read(self, op: Read) -> Result | None:
        return Data(self.instances[op.instance].memory.read(op.offset, op.length))

    def _grow(self, op: Grow) -> Result | None:
        return Number(self.instances[op.instance].memory.grow(op.delta))

    def _size(self, op: Size) -> Result | None:
        return Number(self.instances[op.instance].memory.size())

    def _deallocate(self, op: Deallocate) -> Result | None:
        self.instances.pop(op.instance).deallocate()
        return None

    def _drop(self, op: Drop) -> Result | None:
        self.modules.pop(op.module).drop()
        return None

    def _shared(self, op: SharedDecl) -> Result | None:
        assert self.engine is not None
        self.shared[op.name] = self.engine.shared_memory(op.min, op.max)
        return None

    def _shared_grow(self, op: SharedGrow) -> Result | None:
        return Number(self.shared[op.name].grow(op.delta))

    def _shared_size(self, op: SharedSize) -> Result | None:
        return Number(self.shared[op.name].size())


TARGET = ReferenceTarget
