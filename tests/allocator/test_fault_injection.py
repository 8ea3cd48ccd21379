"""Failed syscalls (injected through `engine.vm.inject`) leave the pool sound: the failing slot
becomes unknown and is re-paved by its next user (Wasmtime `memory_reset_if_instantiation_fails`)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

import pytest
from alloc_probes import accessible, image_memfds, mappings_of

from allocator import Engine, SyscallError
from allocator.units import KiB

WASM_PAGE = 64 * KiB


def fail_nth(call: str, n: int = 1) -> Callable[[str], int | None]:
    """A hook that fails the `n`-th call of `call` (counted from its installation) with ENOMEM."""
    seen = [0]

    def hook(name: str) -> int | None:
        if name != call:
            return None
        seen[0] += 1
        return errno.ENOMEM if seen[0] == n else None

    return hook


def test_failed_instantiation_frees_the_slot_and_the_next_user_repaves_it(
        make_engine) -> None:
    engine: Engine = make_engine(memories=1)
    with_image = engine.compile("img", 1, data=[(0, b"\xaa")])
    plain = engine.compile("plain", 1)
    engine.vm.inject = fail_nth("mmap")  # the image's map_file_private
    with pytest.raises(SyscallError) as failure:
        with_image.instantiate()
    engine.vm.inject = None
    assert failure.value.injected and failure.value.verb == "map_file_private"
    assert with_image.live_instances == 0 and engine.pool.is_unknown(0)
    engine.syscalls.reset()
    instance = plain.instantiate()
    assert engine.syscalls.verbs()["erase"] == 1
    assert instance.memory.read(0, 1) == b"\0"
    assert accessible(instance.memory.base, instance.memory.limit) == WASM_PAGE


def test_failed_decommit_never_leaks_stale_bytes(make_engine) -> None:
    engine: Engine = make_engine(memories=1)
    module = engine.compile("m", 1)
    instance = module.instantiate()
    instance.memory.write(1000, b"secret")
    engine.vm.inject = fail_nth("madvise")
    instance.deallocate()  # the decommit fails: the slot's contents are unknown
    engine.vm.inject = None
    assert engine.pool.decommit_failures == 1 and engine.pool.is_unknown(0)
    again = module.instantiate()
    assert again.memory.read(1000, 6) == bytes(6)


def test_failed_grow_returns_minus_one_and_changes_nothing(make_engine) -> None:
    engine: Engine = make_engine()
    memory = engine.compile("m", 1, 4).instantiate().memory
    engine.vm.inject = fail_nth("mprotect")
    assert memory.grow(1) == -1
    engine.vm.inject = None
    assert memory.size() == 1
    assert accessible(memory.base, memory.limit) == WASM_PAGE
    assert memory.grow(1) == 1


def test_failed_memfd_creation_leaks_nothing_and_can_be_retried(make_engine) -> None:
    engine: Engine = make_engine()
    fds = len(os.listdir("/proc/self/fd"))
    module = engine.compile("m", 1, data=[(0, b"x")])
    engine.vm.inject = fail_nth("fcntl")  # the seals: after memfd_create and write
    with pytest.raises(SyscallError, match="fcntl.*for seal failed \\(injected\\)"):
        module.instantiate()
    engine.vm.inject = None
    assert len(os.listdir("/proc/self/fd")) == fds and module.image.fd is None
    assert module.instantiate().memory.read(0, 1) == b"x"


def test_failed_purge_is_finished_by_the_next_user_of_the_slot(make_engine) -> None:
    engine: Engine = make_engine(memories=2)
    memfds = image_memfds()
    module = engine.compile("m", 1, data=[(0, b"x")])
    first, second = module.instantiate(), module.instantiate()
    first.deallocate()
    second.deallocate()
    inode = module.image.inode
    engine.vm.inject = fail_nth("mmap")  # the first slot's remap_as_zeros
    with pytest.raises(SyscallError):
        module.drop()
    engine.vm.inject = None
    assert module.purged and mappings_of(inode) == 1  # one slot still maps the image
    assert image_memfds() == memfds + 1  # ... and holds the memfd open
    other = engine.compile("o", 1)
    instances = [other.instantiate(), other.instantiate()]
    assert mappings_of(inode) == 0 and image_memfds() == memfds
    assert all(i.memory.read(0, 1) == b"\0" for i in instances)
