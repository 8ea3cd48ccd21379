"""The virtual-memory verbs: counted per call, typed errors, fault injection, empty ranges."""

from __future__ import annotations

import errno

import pytest
from alloc_probes import accessible, protection

from allocator import SyscallError, VirtualMemory, disable_thp, thp_disabled
from allocator._libc import F_GET_SEALS, ffi, lib
from allocator.units import OS_PAGE as P


def test_every_call_is_counted_by_function_and_by_verb() -> None:
    vm = VirtualMemory()
    base = vm.reserve(4 * P)
    vm.expose(base, 2 * P)
    vm.hide(base, P)
    vm.decommit(base + P, P)
    vm.release(base, 4 * P)
    assert vm.calls.snapshot() == {"mmap": 1, "mprotect": 2, "madvise": 1, "munmap": 1}
    assert vm.calls.verbs() == {"reserve": 1, "expose": 1, "hide": 1, "decommit": 1,
                                "release": 1}
    assert vm.calls["mprotect"] == 2 and vm.calls["never-called"] == 0
    vm.calls.reset()
    assert vm.calls.snapshot() == {} and vm.calls.total() == 0


def test_empty_ranges_make_no_call_and_never_fail() -> None:
    vm = VirtualMemory()
    assert vm.reserve(0) == 0
    for verb in (vm.release, vm.expose, vm.hide, vm.erase, vm.remap_as_zeros, vm.decommit,
                 vm.no_hugepages, vm.fill):
        verb(0x1000, 0)
    vm.map_file_private(0x1000, 0, -1)
    vm.map_file_shared(0x1000, 0, -1)
    assert vm.residency(0x1000, 0) == b""
    assert vm.calls.total() == 0


def test_reserve_expose_hide_erase_change_protection_from_maps() -> None:
    vm = VirtualMemory()
    base = vm.reserve(4 * P)
    try:
        assert protection(base) == "---p"
        vm.expose(base, 2 * P)
        assert accessible(base, 4 * P) == 2 * P
        vm.poke(base, b"data")
        vm.hide(base + P, P)
        assert accessible(base, 4 * P) == P
        vm.erase(base, 4 * P)
        assert accessible(base, 4 * P) == 0
        vm.remap_as_zeros(base, P)
        assert vm.peek(base, 4) == b"\0" * 4
    finally:
        vm.release(base, 4 * P)


def test_kernel_failure_raises_syscall_error_with_its_context() -> None:
    vm = VirtualMemory()
    with pytest.raises(SyscallError) as failure:
        vm.expose(0x1001, P)  # not page-aligned
    error = failure.value
    assert isinstance(error, OSError)
    assert (error.errno, error.call, error.verb, error.address, error.length) == (
        errno.EINVAL, "mprotect", "expose", 0x1001, P)
    assert not error.injected
    assert "mprotect(address=0x1001, length=0x1000) for expose failed" in str(error)


def test_inject_hook_fails_the_chosen_call_without_reaching_the_kernel() -> None:
    vm = VirtualMemory()
    seen: list[str] = []

    def fail_second_mmap(call: str) -> int | None:
        seen.append(call)
        return errno.ENOMEM if seen.count("mmap") == 2 and call == "mmap" else None

    vm.inject = fail_second_mmap
    base = vm.reserve(2 * P)
    try:
        with pytest.raises(SyscallError) as failure:
            vm.remap_as_zeros(base, P)
        assert failure.value.injected and failure.value.errno == errno.ENOMEM
        assert failure.value.verb == "remap_as_zeros"
        assert protection(base) == "---p"  # the call never happened
        vm.fill(base, 0)  # memset/memcpy are never offered to the hook
        assert seen == ["mmap", "mmap"]
        assert vm.calls["mmap"] == 2
    finally:
        vm.inject = None
        vm.release(base, 2 * P)


def test_memfd_seals_are_those_of_a_memory_image() -> None:
    vm = VirtualMemory()
    fd = vm.create_memfd("wasm-memory-image")
    try:
        vm.write_file(fd, b"x" * P)
        vm.seal(fd)
        assert lib.fcntl(fd, F_GET_SEALS) == 0b1111  # SEAL | SHRINK | GROW | WRITE
        with pytest.raises(SyscallError) as failure:
            vm.resize_file(fd, 2 * P)
        assert failure.value.errno == errno.EPERM and failure.value.call == "ftruncate"
    finally:
        vm.close_fd(fd)


def test_residency_and_minor_fault_counters() -> None:
    vm = VirtualMemory()
    base = vm.reserve(2 * P)
    try:
        vm.expose(base, 2 * P)
        usage = ffi.new("struct rusage *")
        before = vm.thread_minor_faults(usage)
        vm.poke(base, b"x")
        assert vm.thread_minor_faults(usage) >= before + 1
        assert vm.residency(base, 2 * P) == b"\x01\x00"
    finally:
        vm.release(base, 2 * P)


def test_disable_thp_is_idempotent() -> None:
    disable_thp()
    disable_thp()
    assert thp_disabled()


def test_syscall_error_pickles_with_its_fields() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(SyscallError(errno.ENOMEM, "mmap", "erase", 0x2000, P)))
    assert (error.errno, error.call, error.verb, error.address, error.length) == (
        errno.ENOMEM, "mmap", "erase", 0x2000, P)
