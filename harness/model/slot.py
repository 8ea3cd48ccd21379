"""The model of one slot's memory, page by page (docs/semantics.md §4 and §7).

```
 base                                                                  static_size
 |  anonymous zero  |  image (file-backed)  |  anonymous zero  | PROT_NONE ...      |
 |<------------------------- accessible ------------------------->|
```

Only what differs from the default is stored: `private` maps an OS page number to the bytes of
the private page mapped there; `zero_mapped` holds anonymous pages that were read (the shared
zero page is mapped). Every other page is `file` inside the image, `absent` outside it.

Beside them the slot keeps every page's state as one letter (`codes`, the letters of
`observers.PageState.code`), updated by each change of a page, so that the checks compare a
whole memory's states with one bytes comparison instead of a Python loop over its pages.

Invariants (checked by `check()`): `accessible % OS_PAGE == 0`; an image lies below
`accessible` while an instance uses the slot; no page is both private and zero-mapped; the
codes agree with `private`, `zero_mapped` and the image.
"""

from __future__ import annotations

from harness.model.images import Image
from harness.ops import OS_PAGE

ABSENT, ZERO, FILE, PRIVATE = "absent", "zero", "file", "private"
"""The four page states of docs/semantics.md §7 (names match `observers.PageState`)."""

ZERO_PAGE = bytes(OS_PAGE)

CODE = {ABSENT: ord("a"), ZERO: ord("z"), FILE: ord("f"), PRIVATE: ord("p")}
"""Each state's one-letter code (the same as `observers.PageState.code`)."""
_STATE_OF_CODE = {code: state for state, code in CODE.items()}


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
        self._codes = bytearray()  # page -> state code; pages past its end are absent

    # -- what a page is ----------------------------------------------------------------------

    def state(self, page: int) -> str:
        codes = self._codes
        return _STATE_OF_CODE[codes[page]] if page < len(codes) else ABSENT

    def codes(self, pages: range) -> bytes:
        """The state code of every page of `pages` (a range with step 1), in order."""
        got = bytes(self._codes[pages.start : pages.stop])
        return got + b"a" * (len(pages) - len(got))

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
                self._set(page, ZERO)
            out += self.page_bytes(page)
        start = offset - (offset // OS_PAGE) * OS_PAGE
        return bytes(out[start : start + length])

    def peek(self, offset: int, length: int) -> bytes:
        """Bytes of [offset, offset+length) without changing any page state (for checks): the
        private pages in order, the pristine bytes (image slices, zeros) between them, joined
        in one copy (none when the range is exactly the image with no private page)."""
        if length <= 0:
            return b""
        end = offset + length
        pages = pages_of(offset, length)
        private = self.private
        owned = pages if len(pages) < len(private) else sorted(p for p in private if p in pages)
        pieces, at = [], offset
        for page in owned:
            content = private.get(page)
            if content is None:
                continue
            lo, hi = max(offset, page * OS_PAGE), min(end, (page + 1) * OS_PAGE)
            pieces += self._pristine_pieces(at, lo)
            pieces.append(memoryview(content)[lo - page * OS_PAGE : hi - page * OS_PAGE])
            at = hi
        pieces += self._pristine_pieces(at, end)
        return b"".join(pieces)

    def _pristine_pieces(self, start: int, end: int) -> list:
        """Pieces making the pristine bytes of [start, end): zeros, and the image's bytes."""
        image = self.image
        if start >= end:
            return []
        if image is None or image.end <= start or end <= image.offset:
            return [bytes(end - start)]
        lo, hi = max(start, image.offset), min(end, image.end)
        data = image.data if (lo, hi) == (image.offset, image.end) else memoryview(image.data)[lo - image.offset : hi - image.offset]
        return [piece for piece in (bytes(lo - start), data, bytes(end - hi)) if len(piece)]

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
        old, self.image, self.image_owner = self.image, None, None
        if old is not None:
            self._forget(old.pages())
        if image is not None:
            self.image, self.image_owner = image, owner
            self._forget(image.pages())

    def remap_all(self) -> None:
        """Every page of the slot becomes fresh anonymous memory (growth=memfd re-layout)."""
        self.private.clear()
        self.zero_mapped.clear()
        self.image, self.image_owner = None, None
        self._codes = bytearray()

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
        top = max([len(self._codes), *self.private, *self.zero_mapped]) + 1
        want = [self._state_from_sets(page) for page in range(top)]
        got = [self.state(page) for page in range(top)]
        assert got == want, f"slot {self.index}: page codes disagree with the page sets"

    # -- helpers -----------------------------------------------------------------------------

    def _state_from_sets(self, page: int) -> str:
        """A page's state from `private`, the image and `zero_mapped` (what `codes` caches)."""
        if page in self.private:
            return PRIVATE
        if self.image is not None and page in self.image.pages():
            return FILE
        return ZERO if page in self.zero_mapped else ABSENT

    def _set(self, page: int, state: str) -> None:
        codes = self._codes
        if page >= len(codes):
            codes.extend(b"a" * (page + 1 - len(codes)))
        codes[page] = CODE[state]

    def _make_private(self, page: int, content: bytes) -> None:
        self.private[page] = ZERO_PAGE if content == ZERO_PAGE else content
        self.zero_mapped.discard(page)
        self._set(page, PRIVATE)

    def _forget(self, pages: range) -> None:
        """Pages of `pages` lose their private copy or zero page: file inside the image,
        absent elsewhere."""
        if len(pages) > len(self.private) + len(self.zero_mapped):
            self.private = {p: b for p, b in self.private.items() if p not in pages}
            self.zero_mapped = {p for p in self.zero_mapped if p not in pages}
        else:
            for page in pages:
                self.private.pop(page, None)
                self.zero_mapped.discard(page)
        self._reset_codes(pages)

    def _reset_codes(self, pages: range) -> None:
        """Codes of `pages` (none private or zero-mapped any more) back to file or absent."""
        codes = self._codes
        stop = min(pages.stop, len(codes))
        if pages.start < stop:
            codes[pages.start : stop] = b"a" * (stop - pages.start)
        image = self.image
        if image is not None:
            lo, hi = max(pages.start, image.offset // OS_PAGE), min(pages.stop, image.end // OS_PAGE)
            if lo < hi:
                if hi > len(codes):
                    codes.extend(b"a" * (hi - len(codes)))
                codes[lo:hi] = b"f" * (hi - lo)
