"""What the reference allocator calls in one cycle, recorded so that C can replay it.

Every call of the allocator goes through one choke point, `VirtualMemory._call` (see
`allocator.vm`). `CallRecorder` wraps that method on one engine's `VirtualMemory` instance
while a `with` block runs, and keeps each call's C function, address, length and arguments.
`record_cycles` runs cycles of a module (instantiate, dirty, deallocate) under it and returns
the calls of each phase as `SlotCall`s relative to the slot's base: the first cycle (from a
cold slot) and the steady one (the same calls in two consecutive later cycles, or
`NotReplayable`).

Only calls on the slot's own pages can be replayed: `mprotect`, `madvise`, `memset` and
anonymous `mmap`. Anything else in a cycle (an image's `memcpy` or file mapping, a memfd) is
`NotReplayable`: the cycles benchmarked have no image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from allocator import Engine, Module
from allocator.vm import VirtualMemory


class NotReplayable(Exception):
    """A recorded cycle holds a call the C floor cannot replay, or never reaches a steady state."""


@dataclass(frozen=True)
class SlotCall:
    """One call on a slot's pages: `call` is the C function, `arg` its `prot`, `advice` or fill
    byte, `flags` an `mmap`'s flags; `offset` is from the slot's base."""

    call: str
    offset: int
    length: int
    arg: int
    flags: int = 0


@dataclass(frozen=True)
class CycleCalls:
    """The calls of one cycle, by phase."""

    instantiate: tuple[SlotCall, ...]
    deallocate: tuple[SlotCall, ...]


@dataclass(frozen=True)
class _Raw:
    call: str
    address: int
    length: int
    args: tuple[Any, ...]


class CallRecorder:
    """Records every call an engine's `VirtualMemory` makes inside a `with` block (the calls are
    still made, and still counted)."""

    def __init__(self, vm: VirtualMemory) -> None:
        self.vm = vm
        self.calls: list[_Raw] = []

    def __enter__(self) -> CallRecorder:
        original = self.vm._call

        def recording(call: str, verb: str, address: int | None, length: int | None,
                      function: Callable[..., Any], *args: Any) -> Any:
            self.calls.append(_Raw(call, address or 0, length or 0, args))
            return original(call, verb, address, length, function, *args)

        self.vm._call = recording  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.vm._call  # the class's method again

    def take(self, base: int) -> tuple[SlotCall, ...]:
        """The calls recorded so far, relative to `base`; the record starts afresh."""
        calls, self.calls = self.calls, []
        return tuple(_on_slot(raw, base) for raw in calls)


def _on_slot(raw: _Raw, base: int) -> SlotCall:
    offset = raw.address - base
    if raw.call in ("mprotect", "madvise"):  # (pointer, length, prot or advice)
        return SlotCall(raw.call, offset, raw.length, int(raw.args[2]))
    if raw.call == "memset":  # (pointer, byte, length)
        return SlotCall(raw.call, offset, raw.length, int(raw.args[1]))
    if raw.call == "mmap" and raw.args[4] == -1:  # (pointer, length, prot, flags, fd, offset)
        return SlotCall(raw.call, offset, raw.length, int(raw.args[2]), int(raw.args[3]))
    raise NotReplayable(f"{raw.call} at {raw.address:#x}: only mprotect, madvise, memset and "
                        "anonymous mmap on the slot can be replayed in C")


def record_cycles(engine: Engine, module: Module,
                  dirty: Callable[[int], None]) -> tuple[CycleCalls, CycleCalls]:
    """The calls of the first cycle of `module` and of its steady cycles.

    Each cycle instantiates, runs `dirty(base)` and deallocates; three cycles are recorded and
    the last two must agree. Raises `NotReplayable` otherwise.
    """
    cycles = []
    with CallRecorder(engine.vm) as recorder:
        for _ in range(3):
            instance = module.instantiate()
            base = instance.memory.base
            try:
                instantiate = recorder.take(base)
                dirty(base)
                recorder.take(base)
            finally:
                instance.deallocate()
            cycles.append(CycleCalls(instantiate, recorder.take(base)))
    first, second, third = cycles
    if second != third:
        raise NotReplayable(f"no steady cycle: {second} then {third}")
    return first, second
