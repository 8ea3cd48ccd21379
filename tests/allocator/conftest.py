"""Fixtures of the allocator tests: engines that are always closed, exact fault counting."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from slot_bench import SlotBench, slot_bench

from allocator import Engine, PoolConfig, disable_thp
from allocator.memfd_slot import MemfdGrowthSlot
from allocator.slot import MemoryImageSlot
from allocator.units import KiB, MiB


@pytest.fixture(autouse=True, scope="session")
def _no_transparent_huge_pages() -> None:
    disable_thp()  # fault counts are exact only without THP


SMALL = dict(memories=4, max_memory=1 * MiB, guard=64 * KiB)
"""A pool small enough for any test: 4 slots of 1 MiB with 64 KiB guards."""


@pytest.fixture
def make_engine() -> Iterator[Callable[..., Engine]]:
    """`make_engine(**config)`: an engine over `SMALL` updated by `config`, closed afterwards."""
    engines: list[Engine] = []

    def make(**config: object) -> Engine:
        engine = Engine(PoolConfig(**{**SMALL, **config}))  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def bench() -> Iterator[SlotBench]:
    """A `MemoryImageSlot` (growth by mprotect) over its own reservation."""
    yield from slot_bench(MemoryImageSlot)


@pytest.fixture
def memfd_bench() -> Iterator[SlotBench]:
    """A `MemfdGrowthSlot` (growth by ftruncate of an extension memfd)."""
    yield from slot_bench(MemfdGrowthSlot)
