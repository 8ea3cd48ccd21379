"""The counts are exact and repeatable: the same walk gives the same numbers every time, with
transparent huge pages disabled for the process (as the harness runs) or left to the system's
`madvise` default, and a 2 MiB-aligned run of 512 fresh pages never becomes a huge page."""

from collections import Counter
from pathlib import Path

import pytest

from harness import observers

from .vm import (
    HUGE,
    MADV_DONTNEED,
    MADV_HUGEPAGE,
    advise,
    fill,
    image_bytes,
    image_memfd,
    load,
    region,
    resident,
    set_thp_disabled,
    states,
    touch,
)

REPEATS = 200
HUGE_PAGES = HUGE // observers.PAGE


@pytest.fixture(params=["thp-disabled", "thp-default"])
def thp(request):
    """Runs the test under both settings (the autouse fixture restores the original one)."""
    if request.param == "thp-default":
        set_thp_disabled(False)
    return request.param


def anonymous_walk() -> tuple:
    """(a): fresh touch, second touch, read then touch, decommit then touch."""
    with region(2) as a:
        seen = [touch(a), touch(a), load(a + 1 * observers.PAGE), states(a, 2)]
        seen += [touch(a, 2), states(a, 2), resident(a, 2)]
        advise(a, 2, MADV_DONTNEED)
        seen += [states(a, 2), resident(a, 2), touch(a, 2)]
    return tuple(seen)


def image_walk(fd: int) -> tuple:
    """(b): fresh copy-on-write, read-only page, decommit back to the file."""
    with region(4, fd=fd) as a:
        seen = [states(a, 4), resident(a, 4), touch(a), touch(a)]
        advise(a, 4, MADV_DONTNEED)
        seen += [states(a, 4), load(a), states(a, 1), touch(a)]
    return tuple(seen)


def test_anonymous_counts_repeat_exactly(thp):
    expected = (1, 0, 1, "pz", 1, "pp", "11", "..", "00", 2)
    assert Counter(anonymous_walk() for _ in range(REPEATS)) == {expected: REPEATS}


def test_image_counts_repeat_exactly(thp):
    expected = ("....", "1111", 1, 0, "....", 1, "f", 1)
    with image_memfd(image_bytes(4)) as fd:
        assert Counter(image_walk(fd) for _ in range(REPEATS)) == {expected: REPEATS}


def fresh_huge_run(advice: int | None) -> tuple[int, int, int]:
    """Faults of touching, touching again and memset of 512 fresh 2 MiB-aligned pages."""
    with region(HUGE_PAGES, align=HUGE) as a:
        if advice is not None:
            advise(a, HUGE_PAGES, advice)
        return touch(a, HUGE_PAGES), touch(a, HUGE_PAGES), fill(a, HUGE_PAGES)


def test_thp_disabled_gives_one_fault_per_page_even_where_advised():
    runs = Counter(fresh_huge_run(MADV_HUGEPAGE) for _ in range(REPEATS))
    assert runs == {(HUGE_PAGES, 0, 0): REPEATS}


def test_default_thp_gives_one_fault_per_page_where_not_advised(thp):
    runs = Counter(fresh_huge_run(None) for _ in range(REPEATS))
    assert runs == {(HUGE_PAGES, 0, 0): REPEATS}


def test_without_disable_an_advised_run_can_become_a_huge_page():
    """The contrast that shows the two tests above would see a huge page."""
    setting = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    if "[never]" in setting:
        pytest.skip("transparent huge pages are off system-wide")
    set_thp_disabled(False)
    faults = fresh_huge_run(MADV_HUGEPAGE)[0]
    if faults == HUGE_PAGES:
        pytest.skip("no huge page was available to the kernel")
    assert faults == 1
