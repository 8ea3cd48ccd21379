"""The executor's per-op checks: what each op can change is checked right after it, including
another live instance's slot after a pool-level op, and page states are compared whole."""

from __future__ import annotations

from allocator.pool import MemoryPool
from allocator.units import OS_PAGE
from harness.checks import first_page_difference
from harness.executor import run
from harness.mutants import replaced
from harness.targets import make_target
from harness.text import parse

TWO_LIVE = """\
version 1
pool memories=2 max-memory=1MiB strategy=next-available
module m min=1 max=1
instantiate a m => slot 0
instantiate b m => slot 1
write b 0 "cookie"
deallocate a
size b => 1
read b 0 6 => "cookie"
"""


def _clears_the_next_slot_too(original):
    """A deallocation that also decommits the first page of the next slot (a wrong index)."""

    def deallocate(self: MemoryPool, index: int) -> None:
        original(self, index)
        self.vm.decommit(self.slot_base((index + 1) % self.layout.slots), OS_PAGE)

    return deallocate


def test_a_clear_of_another_live_slot_is_caught_at_the_deallocate() -> None:
    program = parse(TWO_LIVE)
    assert run(program, make_target("reference"), full_every=1000).passed
    with replaced(MemoryPool, "deallocate", _clears_the_next_slot_too):
        outcome = run(program, make_target("reference"), full_every=1000)
    divergence = outcome.divergence
    assert divergence is not None
    assert (divergence.line, divergence.observable) == (7, "page-state")
    assert (divergence.expected, divergence.observed) == ("private", "absent")
    assert "instance b, OS page 0" in divergence.detail


def test_an_image_page_not_yet_mapped_is_still_the_files() -> None:
    assert first_page_difference(b"aff", b"aaf") is None
    assert first_page_difference(b"affpf", b"afapa") is None


def test_every_other_difference_is_found_at_its_page() -> None:
    assert first_page_difference(b"apa", b"aaa") == 1
    assert first_page_difference(b"ffpf", b"aaaf") == 2  # inside the image too
    assert first_page_difference(b"fa", b"af") == 1  # a file page where none is expected
    assert first_page_difference(b"zzz", b"zzp") == 2
