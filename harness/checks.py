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

from dataclasses import dataclass

from harness import observers
from harness.model import FILE, Model
from harness.ops import OS_PAGE, Expect
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
    """Bytes of [0, length) of the instance's memory, read without changing any page state."""
    if length <= 0:
        return None
    got = observers.peek_memory(region.base, length)
    want = model.instances[instance].slot.peek(0, length)
    if got == want:
        return None
    at = next(i for i in range(length) if got[i] != want[i])
    return Mismatch("contents", want[at : at + 16], got[at : at + 16], f"instance {instance}, offset {at:#x}")


def check_memfds(model: Model, baseline: int) -> Mismatch | None:
    """Image memfds this run opened (those open before it started are `baseline`)."""
    expected = model.observe(Expect("memfds", (), 0))
    observed = observers.memfd_count() - baseline
    if observed != expected:
        return Mismatch("memfds", expected, observed)
    return None


def observe_zero(region: MemoryRegion, offset: int, length: int) -> bool | str:
    """True if every byte of the range reads zero (read without changing any page state);
    `"not-accessible"` if part of the range cannot be read without a fault."""
    try:
        return not any(observers.peek_memory(region.base + offset, length))
    except observers.NotAccessible:
        return "not-accessible"
