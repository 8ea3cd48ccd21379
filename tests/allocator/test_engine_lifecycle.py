"""Closing an engine releases everything, once, and nothing used afterwards can crash."""

from __future__ import annotations

import os

import pytest
from alloc_probes import image_memfds, mappings

from allocator import Engine, InvalidState, PoolConfig
from allocator.units import KiB


def test_close_releases_everything_and_is_idempotent() -> None:
    memfds, fds = image_memfds(), len(os.listdir("/proc/self/fd"))
    with Engine(PoolConfig(memories=3, max_memory=256 * KiB, guard=0)) as engine:
        modules = [engine.compile(f"m{n}", 1, data=[(0, bytes([n + 1]))]) for n in range(3)]
        live = modules[0].instantiate()
        modules[1].instantiate().deallocate()
        shared = engine.shared_memory(1, 1)
        base = engine.pool.base
        assert image_memfds() == memfds + 2
    engine.close()
    assert engine.closed and shared.closed
    assert image_memfds() == memfds and len(os.listdir("/proc/self/fd")) == fds
    assert not any(m.start <= base < m.end for m in mappings())
    with pytest.raises(InvalidState, match="engine was closed"):
        live.memory.read(0, 1)
    with pytest.raises(InvalidState):
        live.deallocate()
    with pytest.raises(InvalidState, match="engine was closed"):
        modules[2].instantiate()
    with pytest.raises(InvalidState, match="engine was closed"):
        engine.compile("late", 1)
    modules[0].drop()  # bookkeeping only: nothing is left to purge


def test_syscall_counter_belongs_to_the_engine(make_engine) -> None:
    first, second = make_engine(), make_engine()
    first.syscalls.reset()
    second.compile("m", 1).instantiate()
    assert first.syscalls.total() == 0
    assert second.syscalls["mprotect"] == 1
