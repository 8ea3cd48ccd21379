"""The kernel facts the model's fault and residency rules rest on, asserted exactly.

Each test walks a page through the transitions of docs/semantics.md §7 with plain mappings and
checks, after every step, the touch fault count, the pagemap state (`.` absent, `z` zero-mapped,
`f` file, `p` private) and mincore residency.
"""

import os

import pytest

from harness import observers
from harness.observers import NotAccessible

from .vm import (
    MADV_DONTNEED,
    PROT_NONE,
    PROT_READ,
    PROT_RW,
    advise,
    extension_memfd,
    fill,
    image_bytes,
    image_memfd,
    load,
    peek,
    protect,
    region,
    resident,
    states,
    touch,
)

P = observers.PAGE
WINDOW = 16  # pages of the read fault-around window (fault_around_bytes = 64 KiB)


# --- (a) anonymous memory ---------------------------------------------------------------------


def test_fresh_anonymous_page_faults_once_then_never():
    with region(2) as a:
        assert (states(a, 2), resident(a, 2)) == ("..", "00")
        assert touch(a) == 1
        assert (states(a, 2), resident(a, 2)) == ("p.", "10")
        assert touch(a) == 0
        assert touch(a, 2) == 1
        assert states(a, 2) == "pp"


def test_read_maps_the_zero_page_and_a_touch_still_faults_once():
    with region(1) as a:
        assert load(a) == 1
        assert (states(a, 1), resident(a, 1)) == ("z", "1")
        assert load(a) == 0
        assert touch(a) == 1
        assert (states(a, 1), resident(a, 1)) == ("p", "1")
        assert peek(a) == bytes(P)


def test_touch_leaves_the_bytes_as_they_were():
    with region(3) as a:
        fill(a, 3, 0x5A)
        assert observers.touch(a + 100, 2 * P) == 0  # unaligned: 3 pages overlap
        assert peek(a, 3) == b"\x5a" * 3 * P


def test_touch_counts_every_page_overlapping_an_unaligned_range():
    with region(3) as a:
        assert observers.touch(a + P - 1, 2) == 2
        assert states(a, 3) == "pp."
        assert observers.touch(a + 2 * P, 0) == 0


# --- (b) a MAP_PRIVATE memory image ------------------------------------------------------------


def test_image_page_copy_on_write_faults_once():
    content = image_bytes(WINDOW)
    with image_memfd(content) as fd, region(WINDOW, fd=fd, align=WINDOW * P) as a:
        assert (states(a, WINDOW), resident(a, WINDOW)) == ("." * WINDOW, "1" * WINDOW)
        assert touch(a) == 1
        assert states(a, 2) == "p."
        assert touch(a) == 0
        assert peek(a, WINDOW) == content


def test_image_page_read_stays_file_and_a_touch_faults_once():
    content = image_bytes(WINDOW)
    with image_memfd(content) as fd, region(WINDOW, fd=fd, align=WINDOW * P) as a:
        assert load(a + 8 * P) == 1
        # the read maps its whole 64 KiB fault-around window, all still file pages
        assert (states(a, WINDOW), resident(a, WINDOW)) == ("f" * WINDOW, "1" * WINDOW)
        assert touch(a + 8 * P) == 1
        assert touch(a + 9 * P) == 1  # mapped by fault-around only: still copy-on-write
        assert states(a + 7 * P, 4) == "fppf"
        assert peek(a, WINDOW) == content


def test_read_fault_around_stays_within_the_aligned_block_of_the_page_read():
    with image_memfd(image_bytes(2 * WINDOW)) as fd, region(
        2 * WINDOW, fd=fd, align=WINDOW * P
    ) as a:
        assert load(a + WINDOW * P) == 1
        assert states(a, 2 * WINDOW) == "." * WINDOW + "f" * WINDOW
        assert load(a + (WINDOW - 1) * P) == 1
        assert states(a, 2 * WINDOW) == "f" * 2 * WINDOW


def test_image_page_decommitted_returns_to_the_file_contents():
    content = image_bytes(4)
    with image_memfd(content) as fd, region(4, fd=fd) as a:
        fill(a, 2, 0xEE)
        assert states(a, 4) == "pp.."
        advise(a, 4, MADV_DONTNEED)
        assert (states(a, 4), resident(a, 4)) == ("....", "1111")
        assert peek(a, 4) == content
        assert touch(a, 4) == 4
        assert states(a, 4) == "pppp"


def test_image_mapped_twice_keeps_each_mapping_private():
    content = image_bytes(1)
    with image_memfd(content) as fd, region(1, fd=fd) as a, region(1, fd=fd) as b:
        fill(a, 1, 0x11)
        assert load(b) == 1
        assert (states(a, 1), states(b, 1)) == ("p", "f")
        assert peek(b) == content
        assert touch(b) == 1


# --- (c) protection round trips ---------------------------------------------------------------


@pytest.mark.parametrize("hidden", [PROT_NONE, PROT_READ])
def test_private_page_survives_a_protection_round_trip_without_a_fault(hidden):
    with region(2) as a:
        fill(a, 2, 0x77)
        protect(a, 2, hidden)
        assert (states(a, 2), resident(a, 2)) == ("pp", "11")
        protect(a, 2, PROT_RW)
        assert (states(a, 2), resident(a, 2)) == ("pp", "11")
        assert touch(a, 2) == 0
        assert peek(a, 2) == b"\x77" * 2 * P


def test_protection_round_trip_of_a_partial_range_keeps_pages_private():
    with region(4) as a:
        fill(a, 4, 0x33)
        protect(a + P, 1, PROT_NONE)  # splits the mapping in three
        protect(a + P, 1, PROT_RW)
        assert touch(a, 4) == 0


def test_shared_pages_still_fault_after_a_protection_round_trip():
    with image_memfd(image_bytes(3)) as fd, region(3, fd=fd) as image, region(3) as anon:
        load(image, 3)
        load(anon, 2)
        for addr in (image, anon):
            protect(addr, 3, PROT_NONE)
            protect(addr, 3, PROT_RW)
        assert (states(image, 3), states(anon, 3)) == ("fff", "zz.")
        assert touch(image, 3) == 3
        assert touch(anon, 3) == 3


# --- (d) the original heap growth: a MAP_SHARED memfd extended with ftruncate ----------------


def test_shared_memfd_hole_faults_once_and_becomes_a_file_page():
    with extension_memfd() as fd, region(4, fd=fd, shared=True) as a:
        os.ftruncate(fd, 4 * P)
        assert (states(a, 4), resident(a, 4)) == ("....", "0000")
        assert touch(a) == 1
        assert (states(a, 4), resident(a, 4)) == ("f...", "1000")
        assert touch(a) == 0


def test_shared_memfd_read_of_a_hole_maps_a_writable_page():
    with extension_memfd() as fd, region(4, fd=fd, shared=True) as a:
        os.ftruncate(fd, 4 * P)
        assert load(a + P, 2) == 2  # holes are not mapped by fault-around
        assert (states(a, 4), resident(a, 4)) == (".ff.", "0110")
        assert touch(a, 4) == 2
        assert states(a, 4) == "ffff"


def test_shared_memfd_decommit_keeps_the_bytes_in_the_page_cache():
    with extension_memfd() as fd, region(4, fd=fd, shared=True) as a:
        os.ftruncate(fd, 4 * P)
        fill(a, 2, 0x42)
        advise(a, 4, MADV_DONTNEED)
        assert (states(a, 4), resident(a, 4)) == ("....", "1100")
        assert touch(a) == 1
        assert peek(a) == b"\x42" * P


def test_shared_memfd_read_after_decommit_maps_cached_neighbours():
    """Fault-around maps the cached pages of the 64 KiB-aligned block (of virtual addresses)
    that holds the faulting page: the region is aligned so that all four pages are in it."""
    with extension_memfd() as fd, region(4, fd=fd, shared=True, align=WINDOW * P) as a:
        os.ftruncate(fd, 4 * P)
        fill(a, 3, 0x42)
        advise(a, 4, MADV_DONTNEED)
        assert load(a + P) == 1
        assert states(a, 4) == "fff."
        assert touch(a, 4) == 1  # only the hole


def test_shared_memfd_truncation_discards_and_eof_bounds_access():
    with extension_memfd() as fd, region(4, fd=fd, shared=True) as a:
        os.ftruncate(fd, 4 * P)
        fill(a, 4, 0x42)
        os.ftruncate(fd, 0)
        assert (states(a, 4), resident(a, 4)) == ("....", "0000")
        assert observers.accessible_bytes(a, 4 * P) == 0
        with pytest.raises(NotAccessible, match="past the end"):
            observers.touch(a, 1)
        os.ftruncate(fd, 2 * P)
        assert observers.accessible_bytes(a, 4 * P) == 2 * P
        assert (states(a, 2), resident(a, 2)) == ("..", "00")
        assert touch(a, 2) == 2
        assert peek(a, 2) == bytes(2 * P)


# --- (e) resets -------------------------------------------------------------------------------


def test_memset_reset_makes_pages_private_and_resident():
    with region(8) as a:
        load(a, 2)
        assert fill(a, 8) == 8
        assert (states(a, 8), resident(a, 8)) == ("p" * 8, "1" * 8)
        assert touch(a, 8) == 0


def test_memset_of_image_bytes_makes_image_pages_private():
    content = image_bytes(2)
    with image_memfd(content) as fd, region(2, fd=fd) as a:
        assert fill(a, 2, 0x01) == 2
        assert states(a, 2) == "pp"
        assert touch(a, 2) == 0


def test_decommit_after_a_read_makes_an_anonymous_page_absent_again():
    with region(2) as a:
        load(a)
        fill(a + P, 1, 0x42)
        advise(a, 2, MADV_DONTNEED)
        assert (states(a, 2), resident(a, 2)) == ("..", "00")
        assert peek(a, 2) == bytes(2 * P)
        assert touch(a, 2) == 2
