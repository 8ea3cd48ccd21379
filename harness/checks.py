"""Measuring a target against the model, through the shared observers.

Every comparison here reads the real process without changing what it compares: page states
come from /proc/self/pagemap, residency from mincore, and page contents from
`observers.peek_memory`, which copies only mapped pages and never faults one in (an absent
anonymous page is zero by definition; an absent file page is read with `pread`). A plain read
would map the zero page, or allocate a memfd hole, and change the very state being checked.

Each check returns `None` when the target agrees, else a `Mismatch` the executor turns into a
`Divergence`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness import observers
from harness.image_files import ImageFiles
from harness.model import Model
from harness.ops import OS_PAGE
from harness.targets.base import MemoryRegion


@dataclass(frozen=True)
class Mismatch:
    observable: str
    expected: object
    observed: object
    detail: str = ""
    source: str = "model"  # who required `expected`: "model", or "file" (its `=>` / `expect`)


def check_accessible(model: Model, instance: str, region: MemoryRegion, maps: list | None) -> Mismatch | None:
    expected = model.instances[instance].slot.accessible
    observed = observers.accessible_bytes(region.base, region.limit, maps)
    if observed != expected:
        return Mismatch("accessible", expected, observed, f"instance {instance} at {region.base:#x}")
    return None


def check_pages(model: Model, instance: str, region: MemoryRegion, length: int) -> Mismatch | None:
    """Page states of [0, length) of the instance's memory against the model's: one pagemap
    read and one bytes comparison (a page-by-page walk only to describe a difference)."""
    if length <= 0:
        return None
    expected = model.observed_codes(instance, 0, length)
    observed = observers.page_codes(region.base, length)
    if expected == observed:
        return None
    page = first_page_difference(expected, observed)
    if page is None:
        return None
    want, got = _STATE_NAME[expected[page]], _STATE_NAME[observed[page]]
    return Mismatch("page-state", want, got, f"instance {instance}, OS page {page} (offset {page * OS_PAGE:#x})")


_STATE_NAME = {state.code: state.value for state in observers.PageState}
_FILE_RUN = re.compile(rb"f+")


def first_page_difference(expected: bytes, observed: bytes) -> int | None:
    """The first page whose observed state code differs from the expected one, or None.

    An image page the model calls `file` may still be absent from the page tables (not yet
    read: it is still the file's), so `a` is accepted where `f` is expected. The accepted pages
    are made equal run by run (C-speed `replace` over each run of `f`), then compared whole.
    """
    normalized = bytearray(observed)
    for run in _FILE_RUN.finditer(expected):
        start, stop = run.span()
        normalized[start:stop] = normalized[start:stop].replace(b"a", b"f")
    if normalized == expected:
        return None
    return next(page for page, (want, got) in enumerate(zip(expected, normalized)) if want != got)


def check_contents(model: Model, instance: str, region: MemoryRegion, length: int,
                   files: ImageFiles | None = None) -> Mismatch | None:
    """Bytes of [0, length) of the instance's memory, read without changing any page state.

    Compared part by part: the parts `observers.peek_layout` finds (present pages, file pages)
    against the model's bytes there, and every page the model says is not absent that no part
    covers (the target reads zeros there) against zeros. Everything else is zero on both sides
    by definition: an absent anonymous page for the target, an absent page outside the image
    for the model. A file part that `files` vouches for (an immutable image file already
    compared with the model's image, mapped where that image belongs) equals the model's bytes
    and is not read again.
    """
    if length <= 0:
        return None
    slot = model.instances[instance].slot
    covered = bytearray(-(-length // OS_PAGE))  # 1 for each page a part covers
    for part in observers.peek_layout(region.base, length):
        if isinstance(part, observers.FilePart):
            if files is not None and files.vouches(part, slot, part.addr - region.base):
                _cover(covered, part.addr - region.base, part.length)
                continue
            part = part.read()
        at, got = part
        offset = at - region.base
        mismatch = _compare(instance, offset, slot.peek(offset, len(got)), got)
        if mismatch is not None:
            return mismatch
        _cover(covered, offset, len(got))
    codes = slot.codes(range(len(covered)))
    for run in _NOT_ABSENT_RUN.finditer(codes):
        for start, stop, is_covered in observers.byte_runs(bytes(covered[run.start() : run.end()])):
            if is_covered:
                continue
            offset = (run.start() + start) * OS_PAGE
            size = min(length, (run.start() + stop) * OS_PAGE) - offset
            mismatch = _compare(instance, offset, slot.peek(offset, size), bytes(size))
            if mismatch is not None:
                return mismatch
    return None


def _cover(covered: bytearray, offset: int, length: int) -> None:
    """Marks the pages of `[offset, offset + length)` covered."""
    first, stop = offset // OS_PAGE, -(-(offset + length) // OS_PAGE)
    covered[first:stop] = b"\1" * (stop - first)


_NOT_ABSENT_RUN = re.compile(rb"[^a]+")


def _compare(instance: str, offset: int, want: bytes, got: bytes) -> Mismatch | None:
    """A `contents` mismatch at the first byte where `got` (read at `offset`) differs."""
    if got == want:
        return None
    at = next(i for i in range(len(want)) if got[i] != want[i])
    return Mismatch("contents", want[at : at + 16], got[at : at + 16], f"instance {instance}, offset {offset + at:#x}")


def check_memfds(model: Model, baseline: int) -> Mismatch | None:
    """Image memfds this run opened (those open before it started are `baseline`)."""
    expected = model.memfds()
    observed = observers.memfd_count() - baseline
    if observed != expected:
        return Mismatch("memfds", expected, observed)
    return None


def observe_zero(region: MemoryRegion, offset: int, length: int) -> bool | str:
    """True if every byte of the range reads zero (read without changing any page state);
    `"not-accessible"` if part of the range cannot be read without a fault."""
    try:
        return not observers.peek_memory(region.base + offset, length).strip(b"\0")
    except observers.NotAccessible:
        return "not-accessible"
