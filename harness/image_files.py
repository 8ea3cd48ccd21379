"""Image files compared with the model once, then known by their identity.

A target maps a module's memory image from a memfd. When that memfd is sealed against writing,
shrinking and growing, its bytes cannot change for as long as it exists, so comparing it with
the model's image once is enough: from then on, a page that is absent from the page tables
(it reads as the file) and is mapped from that file at the offset the image needs there reads
as the model's image bytes, without reading it again.

```
 memory:  base ........ base+image.offset ....... at ..... at+len ...... base+image.end
                        |<------------------ model image ------------------>|
 file:                  0 ......................... at-image.offset ...... len(image)
                                                    ^ part.offset must be this
```

`ImageFiles.vouches(part, slot, at)` is true only when all of these hold, and then the part's
bytes equal the model's there (a content check may skip reading it):

* the part lies within the slot's model image, and the model has every page of it pristine
  (state `f`: no private copy, so the expected bytes are the image's);
* the part maps its file at `at - image.offset`, the image's own offset for `at`;
* its file is immutable and holds the image's bytes from its first byte on
  (`observers.sealed_file_holds`, asked once per file and image, remembered).

Anything else (an unsealed file, another module's image, a shifted mapping, a page the model
has written) is not vouched for, and the caller reads and compares the bytes as before, which
also names the first differing byte. Keep one `ImageFiles` per run: the files it knows are the
target's of that run.
"""

from __future__ import annotations

from harness.model.images import Image
from harness.model.slot import SlotModel
from harness.observers import FilePart, sealed_file_holds
from harness.ops import OS_PAGE


class ImageFiles:
    """What this run has learnt of the image files a target maps (see the module docstring)."""

    def __init__(self) -> None:
        self._holds: dict[tuple[int, int, int], tuple[Image, bool]] = {}
        """(dev, inode, id(image)) -> (the image, whether the file holds it); the image is kept
        so that its `id` is not reused while remembered."""

    def vouches(self, part: FilePart, slot: SlotModel, at: int) -> bool:
        """Whether `part` (unread file pages at linear offset `at` of the memory of `slot`)
        certainly reads as the model's bytes there."""
        image = slot.image
        if image is None or not image.offset <= at or at + part.length > image.end:
            return False
        if part.offset != at - image.offset:
            return False
        pages = range(at // OS_PAGE, -(-(at + part.length) // OS_PAGE))
        if slot.codes(pages) != b"f" * len(pages):
            return False
        return self.holds(part, image)

    def holds(self, part: FilePart, image: Image) -> bool:
        """Whether the file of `part` is immutable and holds `image.data` from its first byte
        on (asked of the file once per image)."""
        key = (part.dev, part.inode, id(image))
        known = self._holds.get(key)
        if known is None:
            known = self._holds[key] = (image, sealed_file_holds(part, image.data))
        return known[1]
