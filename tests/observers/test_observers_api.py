"""The observers' API: mappings, accessibility checks that refuse instead of faulting, page
states, memfd bookkeeping and process resources."""

import os

import pytest

from harness import observers
from harness.observers import Mapping, NotAccessible

from .vm import (
    MADV_GUARD_INSTALL,
    PROT_NONE,
    PROT_READ,
    MADV_DONTNEED,
    advise,
    extension_memfd,
    fill,
    image_bytes,
    image_memfd,
    load,
    map_file_at,
    protect,
    region,
    resident,
    states,
    unmap,
)

P = observers.PAGE


@pytest.fixture(autouse=True, params=["procmap-query", "maps-file"])
def maps_source(request, monkeypatch):
    """Every test runs with mappings looked up one by one (PROCMAP_QUERY) and, as on kernels
    without it, by reading /proc/self/maps whole."""
    if request.param == "maps-file":
        monkeypatch.setattr(observers, "_query_supported", lambda: False)
    elif not observers._query_supported():
        pytest.skip("this kernel has no PROCMAP_QUERY")
    return request.param


def mapping_at(addr: int) -> Mapping:
    return next(m for m in observers.mappings() if m.start <= addr < m.end)


# --- mappings ----------------------------------------------------------------------------------


def test_mappings_describe_anonymous_and_memfd_memory():
    with image_memfd(image_bytes(2)) as fd, region(2, fd=fd) as image, region(3) as anon:
        assert mapping_at(anon) == Mapping(anon, anon + 3 * P, "rw-p", 0, 0, "")  # own VMA
        found = mapping_at(image)
        assert (found.start, found.end, found.perms) == (image, image + 2 * P, "rw-p")
        assert found.inode == os.fstat(fd).st_ino
        assert found.path == "/memfd:wasm-memory-image (deleted)"
        assert found.is_memfd and not mapping_at(anon).is_memfd


@pytest.mark.parametrize("maps_source", ["procmap-query"])  # this one only
def test_a_queried_mapping_is_its_line_of_the_maps(maps_source):
    if not observers._query_supported():
        pytest.skip("this kernel has no PROCMAP_QUERY")
    with extension_memfd() as fd, region(1, fd=fd, shared=True), region(2):
        maps = [m for m in observers.mappings() if m.path != "[vsyscall]"]  # not a VMA
        assert [observers._query(m.start) for m in maps] == maps
    assert observers._query(2**47) is None


def test_mappings_are_in_address_order():
    starts = [m.start for m in observers.mappings()]
    assert starts == sorted(starts)


# --- accessible_bytes --------------------------------------------------------------------------


def test_accessible_bytes_stop_at_protection_and_limit():
    with region(4) as a:
        protect(a + 2 * P, 1, PROT_NONE)
        assert observers.accessible_bytes(a, 4 * P) == 2 * P
        assert observers.accessible_bytes(a, P + 1) == P + 1
        assert observers.accessible_bytes(a + 2 * P, 2 * P) == 0
        assert observers.accessible_bytes(a + 3 * P, 8 * P) == P  # then the reservation's rest
        protect(a + 2 * P, 1, PROT_READ)
        assert observers.accessible_bytes(a, 4 * P) == 2 * P


def test_accessible_bytes_span_adjacent_mappings_and_stop_at_gaps():
    with image_memfd(image_bytes(2)) as fd, region(4) as a:
        unmap(a + 3 * P, 1)
        map_file_at(a + P, 2, fd)
        assert len({mapping_at(a + i * P) for i in range(3)}) == 2
        assert observers.accessible_bytes(a, 8 * P) == 3 * P


def test_accessible_bytes_of_a_file_end_at_its_last_page():
    with image_memfd(b"\x01" * (P + 100)) as fd, region(4, fd=fd) as a:
        assert observers.accessible_bytes(a, 4 * P) == 2 * P
        assert observers.accessible_bytes(a + 3 * P, P) == 0


def test_files_are_found_through_open_descriptors_without_map_files(monkeypatch):
    monkeypatch.setattr(observers.os, "access", lambda path, mode: "map_files" not in path)
    with image_memfd(b"\x05" * (P + 1)) as fd, region(3, fd=fd) as a:
        assert observers.accessible_bytes(a, 3 * P) == 2 * P
        assert observers.peek_memory(a + P, 2) == b"\x05\x00"
        assert states(a, 3) == "..."


def test_a_file_that_cannot_be_found_counts_as_empty(monkeypatch):
    monkeypatch.setattr(observers.os, "access", lambda path, mode: "map_files" not in path)
    fd = os.memfd_create("wasm-memory-image")
    os.ftruncate(fd, P)
    with region(1, fd=fd) as a:
        os.close(fd)  # the mapping stays; nothing names its file any more
        with pytest.raises(NotAccessible, match="size of .* unknown"):
            observers.touch(a, 1)
        assert observers.accessible_bytes(a, P) == 0


def test_accessible_bytes_use_a_given_maps_reading():
    with region(2) as a:
        maps = observers.mappings()
        protect(a, 2, PROT_NONE)
        assert observers.accessible_bytes(a, 2 * P, maps) == 2 * P
        assert observers.accessible_bytes(a, 2 * P) == 0


# --- refusals instead of faults ----------------------------------------------------------------


def test_touch_refuses_a_range_with_a_protected_page_and_touches_nothing():
    with region(3) as a:
        protect(a + 2 * P, 1, PROT_NONE)
        with pytest.raises(NotAccessible) as refused:
            observers.touch(a + 10, 3 * P - 20)
        assert (refused.value.addr, refused.value.page) == (a + 10, a + 2 * P)
        assert "---p" in refused.value.reason
        assert states(a, 3) == "..."


def test_touch_refuses_read_only_memory_that_a_read_accepts():
    with region(1, prot=PROT_READ) as a:
        with pytest.raises(NotAccessible, match="r--p"):
            observers.touch(a, 1)
        assert observers.read_memory(a, 4) == bytes(4)


def test_read_refuses_past_the_end_of_file():
    with image_memfd(b"\x07" * 10) as fd, region(2, fd=fd) as a:
        assert observers.read_memory(a, 10) == b"\x07" * 10
        with pytest.raises(NotAccessible, match="past the end") as refused:
            observers.read_memory(a, P + 1)
        assert refused.value.page == a + P


def test_read_refuses_unmapped_memory():
    with region(3) as a:
        unmap(a + P, 1)
        with pytest.raises(NotAccessible, match="not mapped") as refused:
            observers.read_memory(a, 3 * P)
        assert refused.value.page == a + P


def test_guard_pages_are_refused():
    with region(3) as a:
        try:
            advise(a + P, 1, MADV_GUARD_INSTALL)
        except OSError:
            pytest.skip("this kernel has no MADV_GUARD_INSTALL")
        assert states(a, 3) == ".g."
        with pytest.raises(NotAccessible, match="guard page") as refused:
            observers.touch(a, 3 * P)
        assert refused.value.page == a + P
        with pytest.raises(NotAccessible, match="guard page"):
            observers.read_memory(a + P, 1)


def test_empty_ranges_are_not_accesses():
    assert observers.touch(0, 0) == 0
    assert observers.read_memory(0, 0) == b""
    assert observers.page_states(0, 0) == []
    assert observers.resident_pages(0, 0) == 0


# --- peeking without effects ------------------------------------------------------------------


def test_peek_reads_absent_anonymous_pages_as_zeros_without_mapping_them():
    with region(3) as a:
        fill(a + P, 1, 0x61)
        assert observers.peek_memory(a + P - 2, P + 4) == bytes(2) + b"\x61" * P + bytes(2)
        assert states(a, 3) == ".p."


def test_peek_reads_unmapped_image_pages_from_the_file():
    content = image_bytes(3)
    with image_memfd(content) as fd, region(3, fd=fd) as a:
        fill(a, 1, 0x61)
        assert observers.peek_memory(a, 3 * P) == b"\x61" * P + content[P:]
        assert states(a, 3) == "p.."


def test_peek_neither_allocates_shared_memfd_holes_nor_maps_cached_pages():
    with extension_memfd() as fd, region(4, fd=fd, shared=True, align=16 * P) as a:
        os.ftruncate(fd, 4 * P)
        fill(a, 2, 0x42)
        advise(a, 4, MADV_DONTNEED)
        assert observers.peek_memory(a, 4 * P) == b"\x42" * 2 * P + bytes(2 * P)
        assert (states(a, 4), resident(a, 4)) == ("....", "1100")
        assert observers.touch(a, 4 * P) == 4


def test_peek_reads_the_tail_of_a_files_last_page_as_zeros():
    with image_memfd(b"\x07" * 10) as fd, region(1, fd=fd) as a:
        assert observers.peek_memory(a, 16) == b"\x07" * 10 + bytes(6)
        assert states(a, 1) == "."


def test_peek_parts_leave_out_only_absent_anonymous_pages():
    content = image_bytes(2)
    with image_memfd(content) as fd, region(2, fd=fd) as image, region(4) as anon:
        fill(anon + P, 2, 0x33)
        assert observers.peek_parts(anon, 4 * P) == [(anon + P, b"\x33" * 2 * P)]
        fill(image, 1, 0x44)
        assert observers.peek_parts(image, 2 * P) == [(image, b"\x44" * P), (image + P, content[P:])]
        fill(anon, 4, 0x55)
        assert observers.peek_parts(anon + 1, 4 * P - 2) == [(anon + 1, b"\x55" * (4 * P - 2))]
        assert states(anon, 4) + states(image, 2) == "pppp" + "p."


def test_a_sealed_image_is_read_once_and_an_unsealed_file_every_time(monkeypatch):
    reads = []
    real_pread = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, at: reads.append(n) or real_pread(fd, n, at))
    content = image_bytes(2)
    with image_memfd(content) as fd, region(2, fd=fd) as a:
        assert observers.peek_memory(a, 2 * P) == observers.peek_memory(a, 2 * P) == content
        assert reads.count(2 * P) == 1
    with extension_memfd() as fd, region(2, fd=fd, shared=True) as a:
        os.ftruncate(fd, 2 * P)
        assert observers.peek_memory(a, 2 * P) == bytes(2 * P)
        os.pwrite(fd, b"new", 5)
        assert observers.peek_memory(a, 8) == bytes(5) + b"new"
        assert reads.count(2 * P) == 2


def test_peek_refuses_what_a_read_refuses():
    with region(2) as a:
        protect(a + P, 1, PROT_NONE)
        with pytest.raises(NotAccessible, match="---p"):
            observers.peek_memory(a, 2 * P)


# --- page states and residency -----------------------------------------------------------------


def test_zero_page_frame_is_known_as_root():
    with region(2) as a:
        load(a)
        fill(a + P, 1)
        frames = [e & ((1 << 55) - 1) for e in observers._pagemap_entries(a // P, 2)]
    assert frames[0] == observers.zero_page_pfn() != frames[1]


def test_page_codes_are_the_page_states_one_letter_a_page():
    with image_memfd(image_bytes(2)) as fd, region(2, fd=fd) as image, region(4) as anon:
        fill(anon + P, 1, 1)
        load(anon + 2 * P, 1)
        load(image, 1)
        for addr, pages in ((anon, 4), (image, 2), (anon + P + 5, 2)):
            codes = observers.page_codes(addr, pages * P)
            assert [observers.CODES[s] for s in observers.page_states(addr, pages * P)] == list(codes)
        assert observers.page_codes(anon, 4 * P) == b"apza"
        assert observers.page_codes(image, 2 * P)[0:1] == b"f"
        assert observers.page_codes(anon, 0) == b""


def test_unmapped_pages_read_absent_but_mincore_refuses_them():
    with region(3) as a:
        fill(a, 3)
        unmap(a + P, 1)
        assert states(a, 3) == "p.p"
        with pytest.raises(OSError):
            observers.resident_pages(a, 3 * P)


def test_after_fork_pages_are_shared_and_the_child_sees_its_own_pagemap():
    """The child writes a page the parent never touched: it must see it private, which it
    would not through the parent's pagemap descriptor."""
    with region(2) as a:
        fill(a, 1, 0x42)
        observers.page_states(a, P)  # opens the pagemap in the parent
        ready, release = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - child process
            fill(a + P, 1, 0x43)
            ok = states(a + P, 1) == "p"  # page 0 depends on whether the parent copied it yet
            os.read(ready, 1)
            os._exit(0 if ok else 1)
        try:
            assert states(a, 2) == "s."
            assert observers.touch(a, 1) == 1  # the write copies the shared page
            assert states(a, 1) == "p"
        finally:
            os.write(release, b"x")
            _, status = os.waitpid(child, 0)
            os.close(ready)
            os.close(release)
        assert os.waitstatus_to_exitcode(status) == 0


# --- memfds and resources ----------------------------------------------------------------------


def test_memfd_count_counts_open_descriptors_by_name():
    before = observers.memfd_count()
    with image_memfd(b"a") as one, image_memfd(b"b"):
        assert observers.memfd_count() == before + 2
        assert observers.memfd_count("wasm-heap-extension") == 0
        with region(1, fd=one):
            pass
    assert observers.memfd_count() == before


def test_memfd_count_follows_descriptors_reused_for_other_files():
    before = observers.memfd_count()
    for _ in range(3):  # the same descriptor numbers come back for other files each round
        with image_memfd(b"a") as fd:
            assert observers.memfd_count() == before + 1
        with extension_memfd() as fd2:
            assert fd2 == fd and observers.memfd_count() == before
            assert observers.memfd_count("wasm-heap-extension") == 1


def test_memfd_count_is_the_callers_own_after_a_fork():
    before = observers.memfd_count()  # the /proc/self/fd descriptor is open in the parent now
    with image_memfd(b"a"):
        child = os.fork()
        if child == 0:
            with image_memfd(b"b"), image_memfd(b"c"):
                counted = observers.memfd_count()
            os._exit(0 if counted == before + 3 else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert observers.memfd_count() == before + 1


def test_memfd_count_from_many_threads_at_once_agrees():
    import threading

    with image_memfd(b"a"), image_memfd(b"b"):
        expected = observers.memfd_count()
        counts: list[int] = []

        def count() -> None:
            counts.extend(observers.memfd_count() for _ in range(200))

        threads = [threading.Thread(target=count) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert counts == [expected] * 1200


def test_image_mappings_are_counted_by_inode():
    with image_memfd(image_bytes(1)) as fd:
        inode = os.fstat(fd).st_ino
        assert observers.mappings_of_inode(inode) == 0
        with region(1, fd=fd) as a, region(1, fd=fd) as b, region(1) as anon:
            maps = observers.mappings()
            assert observers.inode_at(a, maps) == observers.inode_at(b + P - 1, maps) == inode
            assert observers.inode_at(anon, maps) is None
            assert observers.mappings_of_inode(inode, maps) == 2
        assert observers.mappings_of_inode(inode) == 0


def test_process_resources_follow_descriptors_and_mappings():
    before = observers.process_resources()
    assert before["rss"] > 0
    with image_memfd(b"x") as fd, region(1, fd=fd):
        during = observers.process_resources()
    assert during["fds"] == before["fds"] + 1
    assert during["mappings"] >= before["mappings"] + 1


def test_disable_thp_is_idempotent():
    observers.disable_thp()
    observers.disable_thp()
    assert observers.thp_disabled()
