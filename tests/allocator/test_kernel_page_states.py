"""The kernel behaviour the semantics (docs/semantics.md §7) and the allocator rely on.

Each test measures one fact on real mappings with the probes: fault counts of `touch`,
residency (mincore), contents. If one of these fails, the machine differs from the one the
spec was written for, and the model's predictions no longer hold.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alloc_probes import accessible, resident, touch

from allocator import VirtualMemory
from allocator.units import OS_PAGE as P

REGION = 32 * P


@pytest.fixture
def vm() -> VirtualMemory:
    return VirtualMemory()


@pytest.fixture
def rw(vm: VirtualMemory) -> Iterator[int]:
    """32 pages of fresh anonymous RW memory, without huge pages."""
    base = vm.reserve(REGION)
    vm.no_hugepages(base, REGION)
    vm.expose(base, REGION)
    yield base
    vm.release(base, REGION)


@pytest.fixture
def image_fd(vm: VirtualMemory) -> Iterator[int]:
    """A sealed memfd of 8 pages of 0x01 bytes, like a memory image."""
    fd = vm.create_memfd("wasm-memory-image")
    vm.write_file(fd, b"\x01" * (8 * P))
    vm.seal(fd)
    yield fd
    vm.close_fd(fd)


def test_absent_anonymous_page_faults_once_then_never(rw: int) -> None:
    assert resident(rw, P) == [0]
    assert touch(rw, P) == 1
    assert touch(rw, P) == 0
    assert resident(rw, P) == [1]


def test_zero_mapped_page_is_resident_and_faults_once(vm: VirtualMemory, rw: int) -> None:
    assert vm.peek(rw, 1) == b"\0"
    assert resident(rw, P) == [1]
    assert touch(rw, P) == 1


def test_memset_page_is_private_and_never_faults(vm: VirtualMemory, rw: int) -> None:
    vm.fill(rw, P)
    assert touch(rw, P) == 0


def test_decommit_returns_anonymous_pages_to_absent_zero(vm: VirtualMemory, rw: int) -> None:
    vm.poke(rw, b"x")
    vm.decommit(rw, P)
    assert resident(rw, P) == [0]
    assert vm.peek(rw, 1) == b"\0"
    assert touch(rw, P) == 1


def test_mprotect_keeps_contents_and_presence(vm: VirtualMemory, rw: int) -> None:
    """I6: hide then expose keeps a written page's bytes, and it does not fault again."""
    vm.poke(rw, b"kept")
    vm.hide(rw, P)
    vm.expose(rw, P)
    assert vm.peek(rw, 4) == b"kept"
    assert touch(rw, P) == 0


def test_mprotect_of_an_absent_page_leaves_it_absent(vm: VirtualMemory, rw: int) -> None:
    vm.hide(rw, P)
    vm.expose(rw, P)
    assert resident(rw, P) == [0]
    assert touch(rw, P) == 1


def test_image_pages_are_resident_file_pages_until_touched(
    vm: VirtualMemory, rw: int, image_fd: int
) -> None:
    """`file` pages: resident (page cache), read the image, one fault to become private."""
    vm.map_file_private(rw, 8 * P, image_fd)
    assert resident(rw, 8 * P) == [1] * 8
    assert vm.peek(rw + P, 1) == b"\x01"
    assert touch(rw, 2 * P) == 2  # untouched and read-mapped pages alike
    assert touch(rw, 2 * P) == 0


def test_decommit_of_image_pages_restores_the_file(
    vm: VirtualMemory, rw: int, image_fd: int
) -> None:
    vm.map_file_private(rw, 8 * P, image_fd)
    vm.poke(rw, b"\x99" * P)
    vm.decommit(rw, 8 * P)
    assert vm.peek(rw, 2) == b"\x01\x01"
    assert resident(rw, 8 * P) == [1] * 8
    assert touch(rw, 8 * P) == 8


def test_private_copy_of_an_image_page_survives_mprotect(
    vm: VirtualMemory, rw: int, image_fd: int
) -> None:
    vm.map_file_private(rw, 8 * P, image_fd)
    assert touch(rw, 8 * P) == 8
    vm.hide(rw, 8 * P)
    vm.expose(rw, 8 * P)
    assert touch(rw, 8 * P) == 0


def test_sealed_image_accepts_private_writes_only(
    vm: VirtualMemory, rw: int, image_fd: int
) -> None:
    vm.map_file_private(rw, P, image_fd)
    vm.poke(rw, b"\x07")
    assert vm.peek(rw, 1) == b"\x07"
    assert open(f"/proc/self/fd/{image_fd}", "rb").read(1) == b"\x01"


def test_shared_extension_pages_past_the_end_are_not_accessible(
    vm: VirtualMemory, rw: int
) -> None:
    fd = vm.create_memfd("wasm-heap-extension")
    try:
        vm.map_file_shared(rw, 16 * P, fd)
        assert accessible(rw, 16 * P) == 0
        vm.resize_file(fd, 4 * P)
        assert accessible(rw, 16 * P) == 4 * P
        assert resident(rw, 16 * P) == [0] * 16
        assert touch(rw, P) == 1
        vm.resize_file(fd, 0)
        vm.resize_file(fd, 4 * P)
        assert resident(rw, 4 * P) == [0] * 4
        assert vm.peek(rw, 4) == b"\0" * 4
    finally:
        vm.close_fd(fd)


def test_read_of_a_shared_extension_page_maps_it_writable(vm: VirtualMemory, rw: int) -> None:
    """Unlike an anonymous page, a read of a memfd page in a MAP_SHARED mapping allocates it
    in the page cache and maps it writable: a later touch takes no fault (docs/semantics.md §7
    calls it `zero-mapped`, whose touch faults once: this is where the extension differs)."""
    fd = vm.create_memfd("wasm-heap-extension")
    try:
        vm.map_file_shared(rw, 4 * P, fd)
        vm.resize_file(fd, 4 * P)
        assert vm.peek(rw, 1) == b"\0"
        assert resident(rw, P) == [1]
        assert touch(rw, P) == 0
    finally:
        vm.close_fd(fd)
