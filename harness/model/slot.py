"""The model of one slot's memory, page by page (docs/semantics.md §4 and §7).

```
 base                                                                  static_size
 |  anonymous zero  |  image (file-backed)  |  anonymous zero  | PROT_NONE ...      |
 |<------------------------- accessible ------------------------->|
```

Only what differs from the default is stored: `private` maps an OS page number to the bytes of
the private page mapped there; `zero_mapped` holds anonymous pages that were read (the shared
zero page is mapped). Every other page is `file` inside the image, `absent` outside it.

Invariants (checked by `check()`): `accessible % OS_PAGE == 0`; an image lies below
`accessible` while an instance uses the slot; no page is both private and zero-mapped.
"""

from __future__ import annotations

from harness.model.images import Image
from harness.ops import OS_PAGE

ABSENT, ZERO, FILE, PRIVATE = "absent", "zero", "file", "private"
"""The four page states of docs/semantics.md §7 (names match `observers.PageState`)."""

ZERO_PAGE = bytes(OS_PAGE)


def round_up(n: int) -> int:
    """`n` rounded up to a whole number of OS pages."""
    return -(-n // OS_PAGE) * OS_PAGE


def pages_of(offset: int, length: int) -> range:
    """OS page numbers overlapping the byte range [offset, offset+length)."""
    if length <= 0:
        return range(0)
    return range(offset // OS_PAGE, (offset + length - 1) // OS_PAGE + 1)


class SlotModel:
    """One slot: `accessible` bytes, the image mapped (and whose it is), page states, contents."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.accessible = 0
        self.image: Image | None = None
        self.image_owner: str | None = None
        self.private: dict[int, bytes] = {}
        self.zero_mapped: set[int] = set()
        self.extension_start: int | None = None  # growth=memfd: where the extension maps

    # -- what a page is ----------------------------------------------------------------------

    def state(self, page: int) -> str:
        if page in self.private:
            return PRIVATE
        if self.image is not None and page in self.image.pages():
            return FILE
        return ZERO if page in self.zero_mapped else ABSENT

    def page_bytes(self, page: int) -> bytes:
        """What page `page` reads as now."""
        if page in self.private:
            return self.private[page]
        return self.pristine(page)

    def pristine(self, page: int) -> bytes:
        """What page `page` reads as right after a reset: image bytes, or zeros."""
        if self.image is not None and page in self.image.pages():
            return self.image.page_bytes(page)
        return ZERO_PAGE

    def in_extension(self, page: int) -> bool:
        return self.extension_start is not None and page * OS_PAGE >= self.extension_start

    # -- accesses ----------------------------------------------------------------------------

    def read(self, offset: int, length: int) -> bytes:
        """Bytes of [offset, offset+length); reading maps absent pages as zero-mapped."""
        out = bytearray()
        for page in pages_of(offset, length):
            if self.in_extension(page):
                # The memfd extension is MAP_SHARED: a read fault maps its page writable.
                self._make_private(page, self.page_bytes(page))
            elif self.state(page) == ABSENT:
                self.zero_mapped.add(page)
            out += self.page_bytes(page)
        start = offset - (offset // OS_PAGE) * OS_PAGE
        return bytes(out[start : start + length])

    def peek(self, offset: int, length: int) -> bytes:
        """Bytes of [offset, offset+length) without changing any page state (for checks)."""
        pages = pages_of(offset, length)
        out = b"".join(self.page_bytes(p) for p in pages)
        start = offset - (offset // OS_PAGE) * OS_PAGE
        return out[start : start + length]

    def write(self, offset: int, data: bytes) -> None:
        """Store `data`: every page written becomes private."""
        for page in pages_of(offset, len(data)):
            buf = bytearray(self.page_bytes(page))
            lo = max(offset, page * OS_PAGE)
            hi = min(offset + len(data), (page + 1) * OS_PAGE)
            buf[lo - page * OS_PAGE : hi - page * OS_PAGE] = data[lo - offset : hi - offset]
            self._make_private(page, bytes(buf))

    def touch(self, offset: int, length: int) -> int:
        """One read-modify-write per page: returns the faults (pages not yet private)."""
        faults = 0
        for page in pages_of(offset, length):
            if page not in self.private:
                faults += 1
                self._make_private(page, self.page_bytes(page))
        return faults

    # -- what the allocator does to the slot -------------------------------------------------

    def replace_image(self, image: Image | None, owner: str | None) -> None:
        """Map `image` (owned by module `owner`) in place of the current one, if it differs.

        The old image range becomes anonymous zero memory; the new range becomes file pages.
        """
        if owner == self.image_owner:
            return
        if self.image is not None:
            self._forget(self.image.pages())
        self.image, self.image_owner = None, None
        if image is not None:
            self._forget(image.pages())
            self.image, self.image_owner = image, owner

    def remap_all(self) -> None:
        """Every page of the slot becomes fresh anonymous memory (growth=memfd re-layout)."""
        self.private.clear()
        self.zero_mapped.clear()
        self.image, self.image_owner = None, None

    def memset_pristine(self, start: int, end: int) -> None:
        """Keep-resident reset of [start, end) (OS-page aligned): every page written back to
        pristine, private."""
        for page in range(start // OS_PAGE, end // OS_PAGE):
            self._make_private(page, self.pristine(page))

    def decommit(self, start: int, end: int) -> None:
        """`madvise(MADV_DONTNEED)` of [start, end): pages go back to absent or file."""
        self._forget(range(start // OS_PAGE, end // OS_PAGE))

    def check(self) -> None:
        assert self.accessible % OS_PAGE == 0, f"slot {self.index}: accessible {self.accessible:#x} not page-aligned"
        both = self.zero_mapped.intersection(self.private)
        assert not both, f"slot {self.index}: pages {sorted(both)[:4]} both private and zero-mapped"

    # -- helpers -----------------------------------------------------------------------------

    def _make_private(self, page: int, content: bytes) -> None:
        self.private[page] = ZERO_PAGE if content == ZERO_PAGE else content
        self.zero_mapped.discard(page)

    def _forget(self, pages: range) -> None:
        if len(pages) > len(self.private) + len(self.zero_mapped):
            self.private = {p: b for p, b in self.private.items() if p not in pages}
            self.zero_mapped = {p for p in self.zero_mapped if p not in pages}
            return
        for page in pages:
            self.private.pop(page, None)
            self.zero_mapped.discard(page)
