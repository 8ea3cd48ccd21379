"""The model's image construction (docs/semantics.md §2)."""

from harness.model import initialization
from harness.ops import MiB, ModuleDecl, Segment


def module(*segments: tuple[int, bytes], min: int = 4) -> ModuleDecl:
    return ModuleDecl("m", min, data=tuple(Segment(o, d) for o, d in segments))


def test_no_segments_no_image() -> None:
    init = initialization(module())
    assert init.image is None and init.runtime == ()


def test_all_zero_segments_make_no_image() -> None:
    assert initialization(module((100, bytes(50)))).image is None


def test_trimmed_and_widened_to_os_pages() -> None:
    image = initialization(module((0x1000 + 5, b"\0\0ab\0"))).image
    assert image is not None
    assert (image.offset, len(image.data)) == (0x1000, 0x1000)
    assert image.data[7:9] == b"ab" and image.data.count(0) == 0x1000 - 2


def test_later_segments_overwrite_earlier() -> None:
    image = initialization(module((0, b"aaaa"), (2, b"bb"))).image
    assert image is not None and image.data[:4] == b"aabb"


def test_image_spanning_pages() -> None:
    image = initialization(module((0x0FFE, b"wxyz"))).image
    assert image is not None and (image.offset, len(image.data)) == (0, 0x2000)
    assert list(image.pages()) == [0, 1]
    assert image.page_bytes(1)[:2] == b"yz"


def test_sparse_image_is_refused_and_initialized_at_runtime() -> None:
    decl = module((0, b"a"), (20 * MiB, b"b"), min=400)
    init = initialization(decl)
    assert init.image is None
    assert init.runtime == ((0, b"a"), (20 * MiB, b"b"))


def test_large_dense_image_is_kept() -> None:
    data = b"\x01" * (17 * MiB)
    assert initialization(module((0, data), min=400)).image is not None
