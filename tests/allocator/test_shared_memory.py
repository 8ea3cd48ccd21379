"""Standalone shared memories (seed 001, docs/semantics.md §6)."""

from __future__ import annotations

import threading

import pytest
from alloc_probes import accessible, mappings, run_threads

from allocator import InvalidArgument, InvalidState, OutOfBounds, SharedMemory
from allocator.units import KiB

WASM_PAGE = 64 * KiB


def test_size_grow_read_write() -> None:
    with SharedMemory(1, 3) as memory:
        assert memory.size() == 1 and memory.current_length == WASM_PAGE
        assert accessible(memory.base, memory.reservation) == WASM_PAGE
        memory.write(10, b"shared")
        assert memory.read(10, 6) == b"shared"
        assert memory.grow(2) == 1 and memory.size() == 3
        assert accessible(memory.base, memory.reservation) == 3 * WASM_PAGE
        assert memory.grow(1) == -1 and memory.grow(0) == 3
        with pytest.raises(OutOfBounds):
            memory.read(3 * WASM_PAGE, 1)


def test_close_unmaps_and_forbids_use() -> None:
    memory = SharedMemory(1, 1)
    base = memory.base
    memory.close()
    memory.close()
    assert memory.closed
    assert not any(m.start <= base < m.end for m in mappings())
    with pytest.raises(InvalidState, match="shared memory was closed"):
        memory.read(0, 1)
    with pytest.raises(InvalidState):
        memory.grow(1)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ((0, 1 << 32), "both must fit in 32 bits"),
        ((1 << 32, 1 << 32), "both must fit in 32 bits"),
        ((0, 65537), "exceeds the 65536 pages"),
        ((2, 1), "min=2 pages exceeds its max=1"),
        ((-1, 1), "min_pages=-1: must be >= 0"),
    ],
)
def test_limits_are_checked(limits: tuple[int, int], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        SharedMemory(*limits)


def test_zero_page_memory_still_owns_an_address() -> None:
    with SharedMemory(0, 0) as memory:
        assert memory.size() == 0 and memory.base != 0
        with pytest.raises(OutOfBounds):
            memory.read(0, 1)


def test_engine_shared_memory_is_counted_and_closed_with_the_engine(make_engine) -> None:
    engine = make_engine()
    engine.syscalls.reset()
    memory = engine.shared_memory(1, 2)
    assert memory.grow(1) == 1
    assert engine.syscalls.verbs() == {"reserve": 1, "expose": 2}
    engine.close()
    assert memory.closed


def test_grow_from_many_threads_hands_out_each_size_once() -> None:
    with SharedMemory(0, 1000) as memory:
        results: list[list[int]] = [[] for _ in range(4)]

        def grow(me: int) -> None:
            for _ in range(250):
                results[me].append(memory.grow(1))

        run_threads(grow, 4)
        for olds in results:
            assert olds == sorted(olds)
        assert sorted(sum(results, [])) == list(range(1000))
        assert memory.size() == 1000


def test_any_published_length_is_backed_by_accessible_pages() -> None:
    """A reader loads the last word of whatever length it sees, without the lock, while a
    writer grows: if the length were published before the mprotect, this would crash."""
    with SharedMemory(1, 400) as memory:
        done = threading.Event()
        loads = [0]

        def reader() -> None:
            while not done.is_set():
                length = memory.current_length
                assert memory._vm.peek(memory.base + length - 4, 4) == bytes(4)
                loads[0] += 1

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for _ in range(399):
                assert memory.grow(1) != -1
        finally:
            done.set()
            thread.join()
        assert loads[0] > 0
