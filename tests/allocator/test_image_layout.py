"""How data segments become a memory image (docs/semantics.md §2), without any syscall."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocator.image import DENSE_IMAGE_BYTES, Initialization, plan_initialization
from allocator.units import MiB
from allocator.units import OS_PAGE as P


def test_no_segments_or_only_zeros_make_no_image() -> None:
    assert plan_initialization([]).kind is Initialization.NONE
    assert plan_initialization([(0, b"\0" * 100), (P * 3, b"")]).kind is Initialization.NONE


def test_zero_bytes_are_trimmed_then_widened_to_pages() -> None:
    plan = plan_initialization([(P + 10, b"\0\0hello\0")])
    assert plan.kind is Initialization.IMAGE
    assert (plan.offset, len(plan.data)) == (P, P)
    assert plan.data[12:17] == b"hello" and plan.data.count(0) == P - 5


def test_image_spanning_page_boundary_covers_both_pages() -> None:
    plan = plan_initialization([(65530, b"abcdefghij")])
    assert (plan.offset, len(plan.data)) == (65530 // P * P, 2 * P)
    assert plan.data[65530 % P:65530 % P + 10] == b"abcdefghij"


def test_later_segments_overwrite_earlier_ones() -> None:
    plan = plan_initialization([(0, b"aaaa"), (2, b"bb"), (3, b"\0")])
    assert plan.data[:4] == b"aab\0"


def test_overwriting_with_zeros_can_trim_the_image() -> None:
    plan = plan_initialization([(0, b"x"), (2 * P, b"y"), (0, b"\0")])
    assert (plan.offset, len(plan.data)) == (2 * P, P)


def test_sparse_image_is_refused_for_runtime_initialization() -> None:
    segments = [(0, b"a"), (DENSE_IMAGE_BYTES, b"b")]  # 16 MiB + 1 page for 2 bytes
    plan = plan_initialization(segments)
    assert plan.kind is Initialization.RUNTIME and plan.data == b""


def test_sparse_image_below_sixteen_mib_is_kept() -> None:
    plan = plan_initialization([(0, b"a"), (DENSE_IMAGE_BYTES - P - 1, b"b")])
    assert plan.kind is Initialization.IMAGE and len(plan.data) == DENSE_IMAGE_BYTES - P


def test_large_dense_image_is_kept() -> None:
    plan = plan_initialization([(0, b"\x01" * (9 * MiB)), (17 * MiB, b"\x02" * (9 * MiB))])
    assert plan.kind is Initialization.IMAGE and len(plan.data) == 26 * MiB


@pytest.mark.parametrize(("extra", "kind"), [(b"", Initialization.RUNTIME),
                                             (b"\x01", Initialization.IMAGE)])
def test_density_boundary_is_inclusive(extra: bytes, kind: Initialization) -> None:
    """A 16 MiB image of exactly half segment bytes is sparse; one byte more makes it dense."""
    half = DENSE_IMAGE_BYTES // 2
    plan = plan_initialization(
        [(0, b"\x01" * (half - 1)), (DENSE_IMAGE_BYTES - 1, b"\x01"), (0, extra)]
    )
    assert plan.kind is kind


segments = st.lists(
    st.tuples(st.integers(0, 6 * P), st.binary(max_size=300).map(
        lambda b: bytes(x if x % 3 else 0 for x in b))),
    max_size=6,
)


@given(segments)
def test_image_equals_segments_laid_over_zeros(segments: list[tuple[int, bytes]]) -> None:
    memory = bytearray(8 * P)
    for offset, data in segments:
        memory[offset:offset + len(data)] = data
    plan = plan_initialization(segments)
    if not any(memory):
        assert plan.kind is Initialization.NONE
        return
    assert plan.kind is Initialization.IMAGE
    assert plan.offset % P == 0 and len(plan.data) % P == 0
    rebuilt = bytearray(8 * P)
    rebuilt[plan.offset:plan.offset + len(plan.data)] = plan.data
    assert rebuilt == memory
    assert any(memory[plan.offset:plan.offset + P])  # no whole zero page at either end
    assert any(memory[plan.offset + len(plan.data) - P:plan.offset + len(plan.data)])
