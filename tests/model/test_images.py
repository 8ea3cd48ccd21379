"""The model's image construction (docs/semantics.md §2)."""

import random

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


def naive_initialization(decl: ModuleDecl) -> tuple[int, bytes] | None:
    """docs/semantics.md §2 spelled out byte by byte: the reference the fast scans must match."""
    segments = [(s.offset, s.data) for s in decl.data if s.data]
    if not segments:
        return None
    end = max(o + len(d) for o, d in segments)
    buf = bytearray(end)
    for o, d in segments:
        buf[o : o + len(d)] = d
    nonzero = [i for i, b in enumerate(buf) if b]
    if not nonzero:
        return None
    start, stop = nonzero[0] // 4096 * 4096, -(-(nonzero[-1] + 1) // 4096) * 4096
    return start, bytes(buf[start:stop]) + bytes(max(0, stop - len(buf)))


def test_fast_scans_match_the_byte_by_byte_rule() -> None:
    rng = random.Random(7)
    for _ in range(150):
        segments = []
        for _ in range(rng.randint(1, 4)):
            length = rng.choice([1, 3, 100, 5000])
            data = bytes(rng.choice([0, 0, 0, rng.randrange(256)]) for _ in range(length))
            segments.append((rng.randrange(0, 3 * 4096), data))
        decl = module(*segments, min=1)
        image = initialization(decl).image
        expected = naive_initialization(decl)
        assert (None if image is None else (image.offset, image.data)) == expected, segments


def test_a_sparse_extent_just_under_the_limit_is_kept_whole() -> None:
    decl = module((0, b"a"), (16 * MiB - 4097, b"b"), min=256)
    image = initialization(decl).image
    assert image is not None and (image.offset, len(image.data)) == (0, 16 * MiB - 4096)
    assert image.data[0] == ord("a") and image.data[-1] == ord("b")
    assert image.data.count(0) == len(image.data) - 2


def test_an_equal_declaration_reuses_the_image_and_old_images_are_forgotten() -> None:
    from harness.model.images import _InitializationCache

    first = initialization(module((0x1000, b"cached")))
    assert initialization(ModuleDecl("other", 4, data=(Segment(0x1000, b"cached"),))) is first
    cache = _InitializationCache(entries=8, image_bytes=3 * 4096)
    inits = [initialization(module((0, bytes([k + 1])))) for k in range(4)]  # one page each
    for k, init in enumerate(inits):
        cache.put(k, init)
    assert [cache.get(k) for k in range(4)] == [None, *inits[1:]]  # over 3 pages: the oldest goes
