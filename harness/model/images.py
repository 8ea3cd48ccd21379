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
    """
    segments = tuple((s.offset, s.data) for s in decl.data if s.data)
    if not segments:
        return Initialization(None, ())
    low = min(off for off, _ in segments)
    end = max(off + len(data) for off, data in segments)
    buf = bytearray(end)
    for off, data in segments:
        buf[off : off + len(data)] = data
    total = sum(len(d) for _, d in segments)
    if expectations.sparse_rule_on_extent and _sparse(end - low, total):
        return Initialization(None, segments)
    first = next((i for i, b in enumerate(buf) if b), None)
    if first is None and not expectations.zero_only_segments_make_image:
        return Initialization(None, ())
    start, stop = (low, end) if first is None else (first, len(buf.rstrip(b"\0")))
    start, stop = start // OS_PAGE * OS_PAGE, -(-stop // OS_PAGE) * OS_PAGE
    assert stop <= decl.min * WASM_PAGE, f"image end {stop:#x} past min size of {decl.name}"
    data = bytes(buf[start:stop]) + bytes(max(0, stop - len(buf)))
    if not expectations.sparse_rule_on_extent and _sparse(len(data), total):
        return Initialization(None, segments)
    return Initialization(Image(start, data), ())


def _sparse(extent: int, total: int) -> bool:
    """The dense-image rule: an image this long for `total` bytes of data is refused."""
    return extent >= 2 * total and extent >= DENSE_IMAGE_LIMIT
