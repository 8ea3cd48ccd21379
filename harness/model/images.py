"""What a module's data segments make: the memory image, as docs/semantics.md §2 defines it.

Pure computation, no I/O. The reference allocator builds its images independently; the model
uses this to predict contents, page states and memfds.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.expectations import SEMANTICS, Expectations
from harness.ops import OS_PAGE, WASM_PAGE, MiB, ModuleDecl

DENSE_IMAGE_LIMIT = 16 * MiB
"""A sparse image this large or larger is refused (Wasmtime's `memory_guaranteed_dense_image_size`)."""


@dataclass(frozen=True)
class Image:
    """A page-aligned memory image: `data` is what lies at linear offset `offset`.

    Invariant: `offset % OS_PAGE == 0`, `len(data) % OS_PAGE == 0`, `len(data) > 0`.
    """

    offset: int
    data: bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)

    def pages(self) -> range:
        """OS page numbers (relative to the memory's base) the image covers."""
        return range(self.offset // OS_PAGE, self.end // OS_PAGE)

    def page_bytes(self, page: int) -> bytes:
        """The image's bytes of OS page `page` (which must be one of `pages()`)."""
        start = page * OS_PAGE - self.offset
        return self.data[start : start + OS_PAGE]


@dataclass(frozen=True)
class Initialization:
    """How a module's memory gets its data: `image` (copy-on-write mapped), or `runtime`
    segments written at instantiation because the image was refused, or neither."""

    image: Image | None
    runtime: tuple[tuple[int, bytes], ...]


def initialization(decl: ModuleDecl, expectations: Expectations = SEMANTICS) -> Initialization:
    """The image of `decl`, or the segments to write at runtime if the image is refused.

    docs/semantics.md §2: segments are laid over zeros in order; leading and trailing zero bytes
    are trimmed; the rest is widened to OS pages. No non-zero byte means no image. The image is
    refused when it is sparse: at least twice the total segment bytes and at least
    `DENSE_IMAGE_LIMIT`. `expectations` may move the sparse rule onto the segments' raw extent
    (`sparse_rule_on_extent`) and keep an all-zero extent as an image
    (`zero_only_segments_make_image`), as Wasmtime's `try_static_init` does.

    The result depends only on the segments and `expectations`, and is immutable: recent
    results are remembered (`_CACHE`), so a module declared again (the generators repeat their
    boundary cases, a minimizer replays a program many times) does not lay out its image again.
    """
    segments = tuple((s.offset, s.data) for s in decl.data if s.data)
    key = (segments, expectations)
    init = _CACHE.get(key)
    if init is None:
        init = _CACHE.put(key, _initialization(segments, expectations))
    image = init.image
    assert image is None or image.end <= decl.min * WASM_PAGE, (
        f"image end {image.end:#x} past min size of {decl.name}"
    )
    return init


class _InitializationCache:
    """The most recently used initializations, least recent first, holding at most `entries`
    of them and `image_bytes` bytes of images (the oldest are forgotten first)."""

    def __init__(self, entries: int = 512, image_bytes: int = 64 * MiB) -> None:
        self.entries, self.image_bytes = entries, image_bytes
        self._kept: dict[object, Initialization] = {}
        self._bytes = 0

    def get(self, key: object) -> Initialization | None:
        init = self._kept.pop(key, None)
        if init is not None:
            self._kept[key] = init  # now the most recent
        return init

    def put(self, key: object, init: Initialization) -> Initialization:
        self._kept[key] = init
        self._bytes += _size(init)
        while len(self._kept) > self.entries or (self._bytes > self.image_bytes and len(self._kept) > 1):
            self._bytes -= _size(self._kept.pop(next(iter(self._kept))))
        return init


def _size(init: Initialization) -> int:
    return 0 if init.image is None else len(init.image.data)


_CACHE = _InitializationCache()


def _initialization(segments: tuple[tuple[int, bytes], ...], expectations: Expectations) -> Initialization:
    if not segments:
        return Initialization(None, ())
    low = min(off for off, _ in segments)
    end = max(off + len(data) for off, data in segments)
    total = sum(len(d) for _, d in segments)
    if expectations.sparse_rule_on_extent and _sparse(end - low, total):
        return Initialization(None, segments)
    first = _first_nonzero(segments, low, end)
    if first is None and not expectations.zero_only_segments_make_image:
        return Initialization(None, ())
    start, stop = (low, end) if first is None else (first, _end_of_nonzero(segments, low, end))
    start, stop = start // OS_PAGE * OS_PAGE, -(-stop // OS_PAGE) * OS_PAGE
    if not expectations.sparse_rule_on_extent and _sparse(stop - start, total):
        return Initialization(None, segments)
    return Initialization(Image(start, _image_bytes(segments, start, stop)), ())


def _laid_out(segments: tuple[tuple[int, bytes], ...], start: int, stop: int) -> bytearray:
    """Bytes `[start, stop)` of the segments laid over zeros in order (later ones win)."""
    buf = bytearray(stop - start)
    for off, data in segments:
        lo, hi = max(off, start), min(off + len(data), stop)
        if lo < hi:
            buf[lo - start : hi - start] = memoryview(data)[lo - off : hi - off]
    return buf


def _image_bytes(segments: tuple[tuple[int, bytes], ...], start: int, stop: int) -> bytes:
    """`_laid_out(segments, start, stop)` as bytes. Segments that do not overlap (the usual
    case) are joined with zero gaps in one copy; overlapping ones are laid out in a buffer."""
    ordered = sorted(segments)
    if any(a + len(d) > b for (a, d), (b, _) in zip(ordered, ordered[1:])):
        return bytes(_laid_out(segments, start, stop))
    pieces, at = [], start
    for off, data in ordered:
        lo, hi = max(off, start), min(off + len(data), stop)
        if lo >= hi:
            continue
        pieces += [bytes(lo - at), memoryview(data)[lo - off : hi - off]]
        at = hi
    pieces.append(bytes(stop - at))
    return b"".join(pieces)


def _first_nonzero(segments: tuple[tuple[int, bytes], ...], low: int, end: int) -> int | None:
    """Offset of the first non-zero byte of the laid-out `[low, end)`, or None if all are zero.

    Windows of doubling size are laid out and stripped at C speed, so the cost follows the
    leading zeros, not the extent (a sparse extent of 16 MiB is never built whole)."""
    at, size = low, OS_PAGE
    while at < end:
        window = _laid_out(segments, at, min(end, at + size))
        zeros = len(window) - len(window.lstrip(b"\0"))
        if zeros < len(window):
            return at + zeros
        at, size = at + len(window), 2 * size
    return None


def _end_of_nonzero(segments: tuple[tuple[int, bytes], ...], low: int, end: int) -> int:
    """Offset just past the last non-zero byte of the laid-out `[low, end)` (which has one),
    found as `_first_nonzero` finds the first, from the end backwards."""
    at, size = end, OS_PAGE
    while at > low:
        window = _laid_out(segments, max(low, at - size), at)
        zeros = len(window) - len(window.rstrip(b"\0"))
        if zeros < len(window):
            return at - zeros
        at, size = at - len(window), 2 * size
    raise AssertionError("_end_of_nonzero of an all-zero extent")


def _sparse(extent: int, total: int) -> bool:
    """The dense-image rule: an image this long for `total` bytes of data is refused."""
    return extent >= 2 * total and extent >= DENSE_IMAGE_LIMIT
