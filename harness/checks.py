"""Measuring a target against the model, through the shared observers.

Every comparison here reads the real process without changing what it compares: page states
come from /proc/self/pagemap, residency from mincore, and page contents are read only where a
read cannot change a page's state (present pages, and file-backed image pages, whose read maps
the page cache the model already counts as resident). An anonymous page the kernel reports
absent (not present, not swapped) reads as zero by definition and is never read, because reading
it would map the zero page and change the very residency being checked.

Each check returns `None` when the target agrees, else a `Mismatch` the executor turns into a
`Divergence`.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import observers
from harness.model import FILE, Model
from harness.model.slot import pages_of
from harness.ops import OS_PAGE, Expect
from harness.targets.base import MemoryRegion


@dataclass(frozen=True)
class Mismatch:
    observable: str
    expected: object
    observed: object
    detail: str = ""
    source: str = "model"  # who required `expected`: "model", or "file" (its `=>` / `expect`)


def check_accessible(model: Model, instance: str, region: MemoryRegion, maps: list) -> Mismatch | None:
    expected = model.instances[instance].slot.accessible
    observed = observers.accessible_bytes(region.base, region.limit, maps)
    if observed != expected:
        return Mismatch("accessible", expected, observed, f"instance {instance} at {region.base:#x}")
    return None


def check_pages(model: Model, instance: str, region: MemoryRegion, length: int) -> Mismatch | None:
    """Page states of [0, length) of the instance's memory against the model's."""
    if length <= 0:
        return None
    expected = model.observed_states(instance, 0, length)
    observed = [s.name.lower() for s in observers.page_states(region.base, length)]
    for page, (want, got) in enumerate(zip(expected, observed)):
        if want == got or (want == FILE and got == "absent"):
            continue  # an image page not yet mapped into the page tables is still the file's
        return Mismatch("page-state", want, got, f"instance {instance}, OS page {page} (offset {page * OS_PAGE:#x})")
    return None


def check_contents(model: Model, instance: str, region: MemoryRegion, length: int) -> Mismatch | None:
    """Bytes of every page of [0, length) that can be read without changing state."""
    slot = model.instances[instance].slot
    states = observers.page_states(region.base, length) if length > 0 else []
    for page, state in enumerate(states):
        if state.name == "ABSENT" and model.observed_states(instance, page * OS_PAGE, 1)[0] != FILE:
            continue
        got = observers.read_memory(region.base + page * OS_PAGE, OS_PAGE)
        want = slot.peek(page * OS_PAGE, OS_PAGE)
        if got != want:
            at = next(i for i in range(OS_PAGE) if got[i] != want[i])
            offset = page * OS_PAGE + at
            return Mismatch("contents", want[at : at + 16], got[at : at + 16], f"instance {instance}, offset {offset:#x}")
    return None


def check_memfds(model: Model, baseline: int) -> Mismatch | None:
    """Image memfds this run opened (those open before it started are `baseline`)."""
    expected = model.observe(Expect("memfds", (), 0))
    observed = observers.memfd_count() - baseline
    if observed != expected:
        return Mismatch("memfds", expected, observed)
    return None


def observe_zero(region: MemoryRegion, offset: int, length: int, maps: list) -> bool:
    """True if every byte of the range reads zero, without mapping absent anonymous pages."""
    if length <= 0:
        return True
    first = offset // OS_PAGE
    states = observers.page_states(region.base + first * OS_PAGE, len(pages_of(offset, length)) * OS_PAGE)
    for i, state in enumerate(states):
        page = first + i
        addr = region.base + page * OS_PAGE
        if state.name == "ABSENT" and not observers.inode_at(addr, maps):
            continue
        lo, hi = max(offset, page * OS_PAGE), min(offset + length, (page + 1) * OS_PAGE)
        if any(observers.read_memory(region.base + lo, hi - lo)):
            return False
    return True
