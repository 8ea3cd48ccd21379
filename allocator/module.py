"""Modules (one linear memory each, checked at compile time) and their instances.

```
 compile ──► live ──drop()──► dropped, still held by its instances ──last deallocate──┐
               │                                                                       ▼
               └──drop() with no instance alive──────────────────────────────────► purged
```

A module is released by `drop()`, but while instances of it are alive it stays alive (they hold
it, as Wasmtime's stores do). When the last reference goes the module is **purged**
(docs/semantics.md §5): the pool's decommit queue is flushed, every free slot affine to the
module has its image replaced by anonymous zero memory, and the image's memfd is closed, so that
no mapping of it is left in the process.

Compile-time checks, in this order (docs/semantics.md §2):

| condition | error |
|---|---|
| `min > max`, `max > 65536`, a data segment ending past `min * 64 KiB` | `InvalidArgument` |
| `shared` | `SharedUnsupported` |
| `min * 64 KiB > max_memory` (rounded up to OS pages) | `MemoryTooLarge` |
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from allocator.errors import (
    InvalidArgument,
    InvalidState,
    MemoryTooLarge,
    SharedUnsupported,
    expect_int,
)
from allocator.image import Initialization, InitPlan, MemoryImage, Segment, plan_initialization
from allocator.memory import LinearMemory
from allocator.units import MAX_WASM_PAGES, WASM_PAGE

if TYPE_CHECKING:
    from allocator.engine import Runtime


class Module:
    """A compiled module: its memory's limits, data segments and image.

    `image` is the `MemoryImage` (its memfd is created at the first instantiation) or None:
    `initialization` says whether the data is mapped (`IMAGE`), written at each instantiation
    because the image was refused as sparse (`RUNTIME`), or absent (`NONE`).
    """

    def __init__(self, runtime: Runtime, module_id: int, name: str, min_pages: int,
                 max_pages: int | None, segments: tuple[Segment, ...], plan: InitPlan) -> None:
        self._runtime = runtime
        self.id = module_id
        self.name = name
        self.min_pages = min_pages
        self.max_pages = max_pages
        self.segments = segments
        self.initialization = plan.kind
        self.image = (
            MemoryImage(runtime.vm, plan.offset, plan.data)
            if plan.kind is Initialization.IMAGE else None
        )
        self._lock = threading.Lock()
        self._instances: set[Instance] = set()
        self._pending = 0  # instantiations under way: they hold the module too
        self._dropped = False
        self._purged = False

    def __repr__(self) -> str:
        state = "purged" if self._purged else "dropped" if self._dropped else "live"
        return (
            f"Module({self.name!r}, min={self.min_pages}, max={self.max_pages}, "
            f"{self.initialization.value}, {state}, instances={self.live_instances})"
        )

    @property
    def has_image(self) -> bool:
        return self.image is not None

    @property
    def min_bytes(self) -> int:
        return self.min_pages * WASM_PAGE

    @property
    def dropped(self) -> bool:
        return self._dropped

    @property
    def purged(self) -> bool:
        return self._purged

    @property
    def live_instances(self) -> int:
        """Instances alive, counting those being created."""
        return len(self._instances) + self._pending

    # --- instantiate ------------------------------------------------------------------

    def instantiate(self) -> Instance:
        """A new instance in a pool slot; `PoolExhausted` if every slot is taken."""
        runtime = self._runtime
        with self._lock:
            if self._dropped:
                raise InvalidState(f"instantiate of module {self.name!r} after drop()")
            if runtime.closed:
                runtime.check_open(f"instantiate of module {self.name!r}")
            self._pending += 1  # holds the module while the slot is prepared
        try:
            index, slot = runtime.pool.allocate(self.id, self.min_bytes, self.image)
        except BaseException:
            self._release(None)
            raise
        instance = Instance(self, index, LinearMemory(slot, self.min_bytes, self.max_pages))
        with self._lock:
            self._instances.add(instance)
            self._pending -= 1
            if runtime.closed:  # closed while the slot was prepared: never usable
                instance.memory._invalidate("its engine was closed")
        if self.initialization is Initialization.RUNTIME:
            self._write_segments(instance.memory)
        return instance

    def _write_segments(self, memory: LinearMemory) -> None:
        """Runtime initialization: the segments, in order, written into the new memory."""
        for offset, data in self.segments:
            memory.write(offset, data)

    # --- drop and purge -------------------------------------------------------------------

    def drop(self) -> None:
        """Releases the module; it is purged once no instance of it is alive."""
        with self._lock:
            if self._dropped:
                raise InvalidState(f"module {self.name!r} was already dropped")
            self._dropped = True
            purge = not self._instances and not self._pending
        if purge:
            self._purge()

    def _release(self, instance: Instance | None) -> None:
        """An instance (None: a failed instantiation) no longer holds the module."""
        with self._lock:
            if instance is None:
                self._pending -= 1
            else:
                self._instances.discard(instance)
            purge = self._dropped and not self._instances and not self._pending
        if purge:
            self._purge()

    def _purge(self) -> None:
        with self._lock:
            if self._purged:
                return
            self._purged = True
        try:
            if not self._runtime.closed:
                self._runtime.pool.purge_module(self.id)
        finally:
            if self.image is not None:
                self.image.release()
            self._runtime.forget(self)

    def _engine_closed(self) -> None:
        """The engine is closing: every instance's memory becomes unusable."""
        with self._lock:
            instances = list(self._instances)
        for instance in instances:
            instance.memory._invalidate("its engine was closed")


class Instance:
    """An instance of a module: its slot index and its linear memory."""

    def __init__(self, module: Module, slot: int, memory: LinearMemory) -> None:
        self.module = module
        self.slot = slot
        self.memory = memory

    def __repr__(self) -> str:
        return f"Instance(module={self.module.name!r}, slot={self.slot})"

    def deallocate(self) -> None:
        """Drops the instance: its slot is cleared and remains ready for reuse."""
        if not self.memory._invalidate("its instance was deallocated"):
            raise InvalidState(
                f"instance of {self.module.name!r} in slot {self.slot} is already gone: "
                f"{self.memory._gone}"
            )
        try:
            self.module._runtime.pool.deallocate(self.slot)
        finally:
            self.module._release(self)


def compile_module(runtime: Runtime, module_id: int, name: str, min_pages: int,
                   max_pages: int | None, shared: bool,
                   data: Iterable[tuple[int, bytes]]) -> Module:
    """Checks a module declaration (see the module docstring) and builds its `Module`."""
    if not isinstance(name, str):
        raise InvalidArgument(f"module name {name!r}: expected a string")
    expect_int(f"module {name!r} min_pages", min_pages)
    if max_pages is not None:
        expect_int(f"module {name!r} max_pages", max_pages)
    _check_limits(name, min_pages, max_pages)
    segments = _check_segments(name, min_pages, data)
    if shared:
        raise SharedUnsupported(
            f"module {name!r}: memory is shared, which is not supported in the pooling "
            f"allocator; create shared memories with engine.shared_memory(min, max)"
        )
    static_size = runtime.pool.layout.static_size
    if min_pages * WASM_PAGE > static_size:
        raise MemoryTooLarge(
            f"module {name!r}: minimum size of {min_pages * WASM_PAGE:#x} bytes ({min_pages} "
            f"pages) exceeds the pool's max_memory of {static_size:#x} bytes; raise "
            f"PoolConfig.max_memory or lower the module's minimum"
        )
    return Module(runtime, module_id, name, min_pages, max_pages, segments,
                  plan_initialization(segments))


def _check_limits(name: str, min_pages: int, max_pages: int | None) -> None:
    if max_pages is not None and max_pages > MAX_WASM_PAGES:
        raise InvalidArgument(
            f"module {name!r}: maximum of {max_pages} pages exceeds the {MAX_WASM_PAGES} pages "
            f"(4 GiB) of a 32-bit memory"
        )
    maximum = MAX_WASM_PAGES if max_pages is None else max_pages
    if min_pages > maximum:
        raise InvalidArgument(
            f"module {name!r}: minimum of {min_pages} pages exceeds the maximum of {maximum} "
            f"pages; declare max >= min"
        )


def _check_segments(name: str, min_pages: int,
                    data: Iterable[tuple[int, bytes]]) -> tuple[Segment, ...]:
    segments = []
    limit = min_pages * WASM_PAGE
    for k, segment in enumerate(data):
        try:
            offset, payload = segment
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"module {name!r}: data segment {k} is {segment!r}; expected (offset, bytes)"
            ) from None
        expect_int(f"module {name!r} data segment {k} offset", offset)
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise InvalidArgument(
                f"module {name!r}: data segment {k} holds {type(payload).__name__}; expected bytes"
            )
        payload = bytes(payload)
        if offset + len(payload) > limit:
            raise InvalidArgument(
                f"module {name!r}: data segment {k} of {len(payload)} bytes at offset "
                f"{offset:#x} ends at {offset + len(payload):#x}, past the minimum memory size "
                f"of {limit:#x} bytes ({min_pages} pages); the instantiation could never succeed"
            )
        segments.append((offset, payload))
    return tuple(segments)
