"""Pool configuration (`PoolConfig`) and the layout it implies (`PoolLayout`). Pure.

```
 pool base
 |<- guard ->|<------------------ slot 0 stride ----------------->|<- slot 1 ...
 | PROT_NONE | accessible (RW) | reserved, PROT_NONE   | guard    |
             ^ base(0)          ^ base(0)+accessible    ^ base(0)+reservation
```

`reservation` (default `max_memory`), `max_memory` and `guard` are rounded up to OS pages;
`stride = max(reservation, max_memory) + guard`, and never less than one OS page (a zero stride
would let every slot alias the same memory, CVE-2022-39392); `base(i) = pool + guard + i *
stride`; a slot's `static_size` is `max_memory`. `memories == 0` reserves nothing.
`keep_resident` is rounded up to OS pages as well: the boundary between the memset and the
`madvise` of a reset must be page-aligned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from allocator.errors import InvalidArgument, expect_int
from allocator.units import OS_PAGE, TiB, round_up

STYLES = ("static", "dynamic")
STRATEGIES = ("next-available", "random", "reuse-affinity")
GROWTHS = ("mprotect", "memfd")

ADDRESS_SPACE = 128 * TiB
"""User address space of an x86-64 process with 4-level page tables: no pool can be larger."""


@dataclass(frozen=True)
class PoolLayout:
    """Byte arithmetic of a pool (all OS-page multiples). See the module docstring's picture."""

    slots: int
    pre_guard: int
    stride: int
    static_size: int
    reservation: int
    guard: int
    keep_resident: int

    @property
    def total_bytes(self) -> int:
        """Bytes the pool reserves: 0 without slots, else the leading guard and every stride."""
        return 0 if self.slots == 0 else self.pre_guard + self.slots * self.stride

    def slot_offset(self, index: int) -> int:
        """Offset of slot `index`'s byte 0 from the pool's base."""
        assert 0 <= index < self.slots, f"slot {index} outside 0..{self.slots - 1}"
        return self.pre_guard + index * self.stride


@dataclass(frozen=True)
class PoolConfig:
    """Settings of a pooling allocator; validated on construction (`InvalidArgument`).

    | field | meaning |
    |---|---|
    | `memories` | slots in the pool |
    | `max_memory` | largest linear memory, bytes: each slot's `static_size` |
    | `reservation` | bytes reserved per slot before its guard (None: `max_memory`) |
    | `guard` | PROT_NONE bytes after each slot (and before slot 0) |
    | `keep_resident` | bytes at the start of a slot reset by memset and left resident |
    | `style` | `static`: accessible bytes fit the memory exactly; `dynamic`: may exceed it |
    | `strategy` | `next-available`, `random` or `reuse-affinity` (see `allocator.index`) |
    | `seed` | seed of the `random` strategy |
    | `warm_slots` | max unused warm slots before `reuse-affinity` prefers warm over cold |
    | `decommit_batch` | slots whose `madvise` is queued before one flush (<= 1: immediate) |
    | `growth` | `mprotect` (slots in a reservation) or `memfd` (extension memfd, seed 003) |
    """

    memories: int = 1000
    max_memory: int = 4 << 30
    reservation: int | None = None
    guard: int = 32 << 20
    keep_resident: int = 0
    style: str = "static"
    strategy: str = "reuse-affinity"
    seed: int = 0
    warm_slots: int = 100
    decommit_batch: int = 1
    growth: str = "mprotect"
    layout: PoolLayout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("memories", "max_memory", "guard", "keep_resident", "warm_slots",
                     "decommit_batch"):
            expect_int(f"PoolConfig.{name}", getattr(self, name))
        if self.reservation is not None:
            expect_int("PoolConfig.reservation", self.reservation)
        expect_int("PoolConfig.seed", self.seed, minimum=None)
        _check_choice("style", self.style, STYLES)
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("growth", self.growth, GROWTHS)
        object.__setattr__(self, "layout", self._compute_layout())

    def _compute_layout(self) -> PoolLayout:
        static_size = round_up(self.max_memory)
        reservation = round_up(self.max_memory if self.reservation is None else self.reservation)
        guard = round_up(self.guard)
        stride = max(max(reservation, static_size) + guard, OS_PAGE)
        layout = PoolLayout(
            slots=self.memories,
            pre_guard=guard,
            stride=stride,
            static_size=static_size,
            reservation=reservation,
            guard=guard,
            keep_resident=round_up(self.keep_resident),
        )
        if layout.total_bytes > ADDRESS_SPACE:
            raise InvalidArgument(
                f"the pool needs {layout.total_bytes:#x} bytes of address space "
                f"({self.memories} slots x stride {stride:#x} + guard {guard:#x}), more than "
                f"the {ADDRESS_SPACE:#x} bytes a process has; lower memories, max_memory, "
                f"reservation or guard"
            )
        return layout


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidArgument(
            f"PoolConfig.{name}={value!r}: expected one of {', '.join(map(repr, choices))}"
        )
