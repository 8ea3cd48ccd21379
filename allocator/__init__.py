"""The reference pooling allocator of WebAssembly linear memories (docs/semantics.md).

```python
from allocator import Engine, PoolConfig

with Engine(PoolConfig(memories=10, max_memory=1 << 20, guard=64 << 10)) as engine:
    module = engine.compile("a", min_pages=1, max_pages=4, data=[(0x10, b"hello")])
    instance = module.instantiate()
    assert instance.memory.read(0x10, 5) == b"hello"
    instance.deallocate()
    module.drop()
```

Layers, bottom to top: `_libc` (cffi declarations) → `vm` (one-syscall verbs, counted) →
`image` (memory images and their memfds) → `slot` / `memfd_slot` (one slot's life) → `index`
(which slot) and `decommit` (batched madvise) → `pool` → `module` / `memory` / `shared` →
`engine`. Nothing here imports the harness.
"""

from allocator.config import PoolConfig, PoolLayout
from allocator.engine import Engine
from allocator.errors import (
    AllocatorError,
    InvalidArgument,
    InvalidState,
    MemoryTooLarge,
    OutOfBounds,
    PoolExhausted,
    SharedUnsupported,
    SyscallError,
)
from allocator.image import Initialization, MemoryImage
from allocator.memory import LinearMemory
from allocator.module import Instance, Module
from allocator.pool import MemoryPool, SlotState
from allocator.shared import SharedMemory
from allocator.vm import SyscallCounter, VirtualMemory, disable_thp, thp_disabled

__all__ = [
    "AllocatorError",
    "Engine",
    "Initialization",
    "Instance",
    "InvalidArgument",
    "InvalidState",
    "LinearMemory",
    "MemoryImage",
    "MemoryPool",
    "MemoryTooLarge",
    "Module",
    "OutOfBounds",
    "PoolConfig",
    "PoolExhausted",
    "PoolLayout",
    "SharedMemory",
    "SharedUnsupported",
    "SlotState",
    "SyscallCounter",
    "SyscallError",
    "VirtualMemory",
    "disable_thp",
    "thp_disabled",
]
