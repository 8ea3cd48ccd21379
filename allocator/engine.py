"""The engine: one pool, the modules compiled for it, and everything it must close.

```
 Engine ── Runtime ── VirtualMemory (syscall counter, fault-injection hook)
                  ├── MemoryPool ── IndexAllocator, DecommitQueue, MemoryImageSlot × memories
                  ├── Module × n ── MemoryImage (memfd) ── Instance × k ── LinearMemory
                  └── SharedMemory × m
```

`Engine.close()` (also on leaving a `with` block, and when the engine is garbage-collected)
makes every live instance's memory unusable, unmaps the pool, closes every image memfd, every
extension memfd and every shared memory. It is idempotent.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Iterable

from allocator.config import PoolConfig
from allocator.errors import InvalidArgument, InvalidState
from allocator.module import Module, compile_module
from allocator.pool import MemoryPool
from allocator.shared import SharedMemory
from allocator.vm import SyscallCounter, VirtualMemory


class Runtime:
    """What an engine owns. Holds no reference to the `Engine`, so that it can close it."""

    def __init__(self, config: PoolConfig) -> None:
        self.vm = VirtualMemory()
        self.pool = MemoryPool(config, self.vm)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.modules: set[Module] = set()
        self.shared: weakref.WeakSet[SharedMemory] = weakref.WeakSet()
        self.closed = False

    def check_open(self, what: str) -> None:
        if self.closed:
            raise InvalidState(f"{what}: the engine was closed")

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def adopt(self, module: Module) -> None:
        with self._lock:
            self.check_open(f"compile of module {module.name!r}")
            self.modules.add(module)

    def forget(self, module: Module) -> None:
        with self._lock:
            self.modules.discard(module)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            modules, shared = list(self.modules), list(self.shared)
        for module in modules:
            module._engine_closed()
        self.pool.close()
        for module in modules:
            if module.image is not None:
                module.image.close()
        for memory in shared:
            memory.close()


class Engine:
    """A pooling allocator of linear memories configured by a `PoolConfig`."""

    def __init__(self, config: PoolConfig | None = None) -> None:
        if config is None:
            config = PoolConfig()
        if not isinstance(config, PoolConfig):
            raise InvalidArgument(f"Engine(config={config!r}): expected a PoolConfig")
        self.config = config
        self._runtime = Runtime(config)
        self._finalizer = weakref.finalize(self, self._runtime.close)

    def __repr__(self) -> str:
        return f"Engine({self.config!r}, closed={self.closed})"

    @property
    def vm(self) -> VirtualMemory:
        """The verbs the pool uses; set `engine.vm.inject` to inject syscall failures."""
        return self._runtime.vm

    @property
    def syscalls(self) -> SyscallCounter:
        """Calls made for this engine, by C function (`engine.syscalls["mprotect"]`)."""
        return self._runtime.vm.calls

    @property
    def pool(self) -> MemoryPool:
        return self._runtime.pool

    @property
    def closed(self) -> bool:
        return self._runtime.closed

    def modules(self) -> list[Module]:
        """Modules not yet purged."""
        return list(self._runtime.modules)

    def compile(self, name: str, min_pages: int, max_pages: int | None = None,
                shared: bool = False, data: Iterable[tuple[int, bytes]] = ()) -> Module:
        """Declares a module with one memory of `min_pages`..`max_pages` and data segments.

        Raises `InvalidArgument`, `SharedUnsupported` or `MemoryTooLarge` (see
        `allocator.module`); a refused module does not exist.
        """
        self._runtime.check_open(f"compile of module {name!r}")
        module = compile_module(self._runtime, self._runtime.next_id(), name, min_pages,
                                max_pages, shared, data)
        self._runtime.adopt(module)
        return module

    def shared_memory(self, min_pages: int, max_pages: int) -> SharedMemory:
        """A standalone shared memory, counted in `syscalls` and closed with the engine."""
        self._runtime.check_open("shared_memory")
        memory = SharedMemory(min_pages, max_pages, vm=self._runtime.vm)
        self._runtime.shared.add(memory)
        return memory

    def close(self) -> None:
        """Releases everything the engine holds (see the module docstring). Idempotent."""
        self._finalizer()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
