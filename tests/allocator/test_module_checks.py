"""Compile-time checks of a module (docs/semantics.md §2) and of configurations: typed errors
with messages that give the numbers and the fix."""

from __future__ import annotations

import pytest

from allocator import (
    Engine,
    InvalidArgument,
    MemoryTooLarge,
    PoolConfig,
    SharedUnsupported,
)
from allocator.units import KiB


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(min_pages=3, max_pages=2), "minimum of 3 pages exceeds the maximum of 2 pages"),
        (dict(min_pages=1, max_pages=65537), "maximum of 65537 pages exceeds the 65536 pages"),
        (dict(min_pages=65537), "minimum of 65537 pages exceeds the maximum of 65536"),
        (dict(min_pages=-1), "min_pages=-1: must be >= 0"),
        (dict(min_pages=True), "min_pages=True: expected an integer"),
        (dict(min_pages=1, data=[(65535, b"ab")]),
         "data segment 0 of 2 bytes at offset 0xffff ends at 0x10001, past the minimum memory "
         "size of 0x10000 bytes"),
        (dict(min_pages=0, data=[(0, b"a")]), "past the minimum memory size of 0x0 bytes"),
        (dict(min_pages=1, data=[(-1, b"a")]), "offset=-1: must be >= 0"),
        (dict(min_pages=1, data=[(0, "text")]), "holds str; expected bytes"),
        (dict(min_pages=1, data=[b"x"]), "expected \\(offset, bytes\\)"),
    ],
)
def test_invalid_declarations(make_engine, args: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        make_engine().compile("bad", **args)


def test_shared_memory_is_refused(make_engine) -> None:
    with pytest.raises(SharedUnsupported, match="not supported in the pooling allocator") as e:
        make_engine().compile("s", 5, 5, shared=True)
    assert e.value.kind == "shared-unsupported"


def test_check_order_invalid_then_shared_then_too_large(make_engine) -> None:
    engine = make_engine(max_memory=64 * KiB)
    with pytest.raises(InvalidArgument):
        engine.compile("m", 3, 2, shared=True)
    with pytest.raises(SharedUnsupported):
        engine.compile("m", 4, shared=True)


def test_minimum_past_max_memory_is_too_large(make_engine) -> None:
    engine = make_engine(max_memory=3 * 64 * KiB, guard=64 * KiB, reservation=192 * KiB)
    with pytest.raises(MemoryTooLarge, match="minimum size of 0x40000 bytes \\(4 pages\\) "
                                             "exceeds the pool's max_memory of 0x30000"):
        engine.compile("m", 4)
    engine.compile("fits", 3)


def test_max_memory_is_rounded_up_to_a_page_before_the_check(make_engine) -> None:
    make_engine(max_memory=64 * KiB - 1).compile("m", 1)


def test_memory_limit_growth(make_engine) -> None:
    engine = make_engine(max_memory=3 * 64 * KiB, guard=64 * KiB, reservation=192 * KiB)
    memory = engine.compile("m", 0).instantiate().memory
    assert [memory.grow(1) for _ in range(5)] == [0, 1, 2, -1, -1]
    assert memory.size() == 3


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (dict(memories=-1), "PoolConfig.memories=-1: must be >= 0"),
        (dict(max_memory=1.5), "PoolConfig.max_memory=1.5: expected an integer"),
        (dict(guard=None), "PoolConfig.guard=None: expected an integer"),
        (dict(reservation=-4), "PoolConfig.reservation=-4: must be >= 0"),
        (dict(style="fast"), "PoolConfig.style='fast': expected one of 'static', 'dynamic'"),
        (dict(strategy="lru"), "PoolConfig.strategy='lru': expected one of"),
        (dict(growth="brk"), "PoolConfig.growth='brk': expected one of 'mprotect', 'memfd'"),
        (dict(decommit_batch=False), "decommit_batch=False: expected an integer"),
        (dict(memories=40_000), "more than the 0x800000000000 bytes a process has; lower"),
    ],
)
def test_invalid_configurations(config: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        PoolConfig(**config)


def test_engine_wants_a_pool_config() -> None:
    with pytest.raises(InvalidArgument, match="expected a PoolConfig"):
        Engine({"memories": 1})  # type: ignore[arg-type]


def test_config_is_frozen_and_comparable() -> None:
    assert PoolConfig(memories=2) == PoolConfig(memories=2)
    with pytest.raises(AttributeError):
        PoolConfig().memories = 3  # type: ignore[misc]
