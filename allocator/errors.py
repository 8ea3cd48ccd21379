"""The errors of the allocator, split by whose fault they are.

| error | raised when | whose fault |
|---|---|---|
| `InvalidArgument` | a configuration, module or call makes no sense | the caller's |
| `InvalidState` | an object is used after it was dropped, deallocated or closed | the caller's |
| `MemoryTooLarge` | a module's minimum memory exceeds `max_memory` (compile time) | the program's |
| `SharedUnsupported` | a module declares a shared memory (compile time) | the program's |
| `PoolExhausted` | every slot is taken | a resource limit |
| `OutOfBounds` | a read or write reaches past the memory's size | the program's |
| `SyscallError` | the kernel refused a call (or an injected fault did) | the environment's |

Each spec error carries `kind`, its spelling in the op format (`error pool-exhausted`, ...).
"""

from __future__ import annotations

import os


class AllocatorError(Exception):
    """Base of every error the allocator raises on purpose."""

    kind: str = "error"


class InvalidArgument(AllocatorError, ValueError):
    """A configuration value, module declaration or call argument is nonsense."""

    kind = "invalid-argument"


class InvalidState(AllocatorError, RuntimeError):
    """An object was used after its end (dropped module, deallocated instance, closed engine)."""

    kind = "invalid-state"


class MemoryTooLarge(AllocatorError):
    """A module's minimum memory can never fit in a slot (`min * 64 KiB > max_memory`)."""

    kind = "too-large"


class SharedUnsupported(AllocatorError):
    """A module declares a shared memory, which the pooling allocator refuses."""

    kind = "shared-unsupported"


class PoolExhausted(AllocatorError):
    """No slot is free, even after flushing the decommit queue."""

    kind = "pool-exhausted"


class OutOfBounds(AllocatorError):
    """An access reaches past the current size of a memory; nothing was read or written."""

    kind = "out-of-bounds"


class SyscallError(AllocatorError, OSError):
    """A system call failed.

    `errno`, `call` (the C function, e.g. `"mprotect"`), `verb` (the allocator's name for what it
    was doing, e.g. `"expose"`), `address` and `length` (or None where they do not apply), and
    `injected` (True when a fault-injection hook failed the call without it reaching the kernel).
    """

    kind = "syscall"

    def __init__(
        self,
        errno: int,
        call: str,
        verb: str,
        address: int | None = None,
        length: int | None = None,
        injected: bool = False,
    ) -> None:
        self.call = call
        self.verb = verb
        self.address = address
        self.length = length
        self.injected = injected
        super().__init__(errno, self._describe(errno))

    def _describe(self, errno: int) -> str:
        where = []
        if self.address is not None:
            where.append(f"address={self.address:#x}")
        if self.length is not None:
            where.append(f"length={self.length:#x}")
        origin = " (injected)" if self.injected else ""
        return (
            f"{self.call}({', '.join(where)}) for {self.verb} failed{origin}: "
            f"{os.strerror(errno)}"
        )

    def __reduce__(self):  # keep the fields through pickling (pytest-xdist, multiprocessing)
        return (
            type(self),
            (self.errno, self.call, self.verb, self.address, self.length, self.injected),
        )


def expect_int(what: str, value: object, minimum: int | None = 0) -> int:
    """`value` if it is an integer (not a bool) >= `minimum`; else `InvalidArgument` naming `what`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{what}={value!r}: expected an integer")
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{what}={value}: must be >= {minimum}")
    return value
