"""One slot of linear memory and its copy-on-write image: `MemoryImageSlot`.

```
 base                                                                    base + static_size
 |  anonymous zero   |  optional memory   |   anonymous zero   |        PROT_NONE        |
 |  memory (RW)      |  image (RW, CoW)   |   memory (RW)      |        (reserved)       |
 +-------------------+--------------------+--------------------+-------------------------+
                     ^ image.offset       ^ image.end          ^ accessible
```

State: `accessible` (bytes from `base` that are RW, an OS-page multiple, at most `static_size`),
`image` (the `MemoryImage` mapped at `base + image.offset`, or None) and `dirty`.

Invariants:

* I1. `not dirty` => every byte below `accessible` is pristine (the image's bytes where the image
  lies, zero elsewhere) and every byte in `[accessible, static_size)` is PROT_NONE and zero.
* I2. `accessible % OS_PAGE == 0` and `accessible <= static_size`.
* I3. an image lies wholly below `accessible`: `image.end <= accessible`.
* I5. `instantiate` requires `not dirty` and leaves the slot dirty; `clear_and_remain_ready`
  requires `dirty` and leaves it clean. (Contents under `mprotect` are kept, never dropped, so
  everything below `accessible` must be reset before reuse.)

Life of a slot (docs/semantics.md §4):

    instantiate(initial, image, style)   1. a different image? remove_image()
                                         2. grow accessible up to round_up(initial)   (mprotect RW)
                                         3. static style: shrink it down to that      (mprotect NONE)
                                         4. map the new image copy-on-write           (mmap FIXED)
    set_heap_limit(size)                 memory.grow: mprotect RW what is new
    clear_and_remain_ready(keep, decommit)
                                         1. [0, keep) back to pristine by memset (+ memcpy of image)
                                         2. decommit([keep, accessible)): handed to the caller
    remove_image()                       the image range becomes anonymous zero memory
    reset_with_anon_memory()             the whole slot becomes a fresh reservation

Every step is its own method so that each can be observed or replaced on its own.
"""

from __future__ import annotations

from collections.abc import Callable

from allocator.config import STYLES
from allocator.image import MemoryImage
from allocator.units import OS_PAGE, round_up
from allocator.vm import VirtualMemory

Decommit = Callable[[int, int], None]
"""Receives `(address, length)` of a range to `madvise(DONTNEED)` now or in a later batch."""


class MemoryImageSlot:
    """One pool slot (growth by `mprotect`). See the module docstring for the picture.

    **Caller must** own `[base, base + static_size)`, reserved PROT_NONE and zero at creation
    beyond `accessible`, and RW and zero below it; and must use the slot from one thread at a time.
    """

    def __init__(self, vm: VirtualMemory, base: int, static_size: int, accessible: int = 0):
        assert static_size % OS_PAGE == 0, f"static_size={static_size:#x} is not page-aligned"
        assert accessible % OS_PAGE == 0 and accessible <= static_size, (
            f"accessible={accessible:#x} must be page-aligned and <= static_size={static_size:#x}"
        )
        self.vm = vm
        self.base = base
        self.static_size = static_size
        self.accessible = accessible
        self.image: MemoryImage | None = None
        self.dirty = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base={self.base:#x}, static_size={self.static_size:#x}, "
            f"accessible={self.accessible:#x}, image={self.image!r}, dirty={self.dirty})"
        )

    @property
    def has_image(self) -> bool:
        return self.image is not None

    # --- instantiate ------------------------------------------------------------------

    def instantiate(self, initial_size_bytes: int, image: MemoryImage | None, style: str) -> None:
        """Makes the slot a fresh memory of `initial_size_bytes` showing `image`.

        Pre: not dirty; `initial_size_bytes <= static_size`; the image ends below it.
        Post: dirty; bytes below `initial_size_bytes` read as the image (zeros elsewhere);
        `accessible == round_up(initial)` for `static`, `>=` for `dynamic`.
        """
        self._check_instantiate(initial_size_bytes, image, style)
        changed = image is not self.image
        if changed:
            self.remove_image()
        self.set_heap_limit(initial_size_bytes)
        if style == "static":
            self._shrink_to(round_up(initial_size_bytes))
        if changed and image is not None:
            self._map_image(image)
        # The next operation on this slot must be `clear_and_remain_ready`.
        self.dirty = True

    def _check_instantiate(self, initial: int, image: MemoryImage | None, style: str) -> None:
        assert not self.dirty, (
            f"instantiate on dirty slot at {self.base:#x}: clear_and_remain_ready() must run first"
        )
        assert style in STYLES, f"style={style!r}: expected one of {STYLES}"
        assert 0 <= initial <= self.static_size, (
            f"initial_size_bytes={initial:#x} exceeds static_size={self.static_size:#x}"
        )
        assert image is None or image.end <= initial, (
            f"image ends at {image.end:#x}, past initial_size_bytes={initial:#x}"
        )

    def set_heap_limit(self, size_bytes: int) -> None:
        """Makes at least `[0, round_up(size_bytes))` accessible; never shrinks.

        Dynamic memories keep pages a previous instance exposed, so reusing them costs no
        `mprotect`.
        """
        assert 0 <= size_bytes <= self.static_size, (
            f"size_bytes={size_bytes:#x} exceeds static_size={self.static_size:#x}"
        )
        target = round_up(size_bytes)
        if target > self.accessible:
            self.vm.expose(self.base + self.accessible, target - self.accessible)
            self.accessible = target

    def _shrink_to(self, target: int) -> None:
        """Static memories fit exactly: `[target, accessible)` goes back to PROT_NONE."""
        if target < self.accessible:
            self.vm.hide(self.base + target, self.accessible - target)
            self.accessible = target

    def _map_image(self, image: MemoryImage) -> None:
        """Maps `image` copy-on-write at `base + image.offset` (creating its memfd if needed)."""
        fd = image.source_fd()
        self.vm.map_file_private(self.base + image.offset, image.len, fd)
        image.acquire()
        self._forget_image()
        self.image = image

    def _forget_image(self) -> None:
        """Drops the slot's reference to its image (its mapping is already gone or replaced)."""
        old, self.image = self.image, None
        if old is not None:
            old.release()

    # --- images -------------------------------------------------------------------------

    def remove_image(self) -> None:
        """The image range becomes anonymous zero memory (RW); `accessible` is unchanged."""
        if self.image is not None:
            self.vm.remap_as_zeros(self.base + self.image.offset, self.image.len)
            self._forget_image()

    # --- clear ----------------------------------------------------------------------------

    def clear_and_remain_ready(self, keep_resident: int, decommit: Decommit) -> int:
        """Returns the slot to pristine (I1), keeping `keep_resident` bytes resident.

        Pre: dirty. Post: not dirty; `[0, keep)` pristine and privately present, where
        `keep = min(round_up(keep_resident), reset end)`; `[keep, reset end)` passed to
        `decommit`, which must `madvise(DONTNEED)` it before the slot is reused. The reset end
        is `accessible` (never shrunk here). Returns `keep`, the bytes left resident.
        """
        assert self.dirty, (
            f"clear_and_remain_ready on clean slot at {self.base:#x}: nothing was instantiated"
        )
        end = self._reset_end()
        keep = min(round_up(keep_resident), end)
        self._restore_resident(keep)
        self._decommit_rest(keep, end, decommit)
        self._after_clear()
        self.dirty = False
        return keep

    def _reset_end(self) -> int:
        """Where the memory reset by memset/madvise ends."""
        return self.accessible

    def _restore_resident(self, keep: int) -> None:
        """`[0, keep)` back to pristine by writing it: zeros, and the image's own bytes."""
        image = self.image
        if image is None or image.offset >= keep:
            self._zero(0, keep)
            return
        image_end = min(image.end, keep)
        self._zero(0, image.offset)
        self._restore_image_bytes(image.offset, image_end)
        self._zero(image_end, keep)

    def _zero(self, start: int, end: int) -> None:
        if start < end:
            self.vm.fill(self.base + start, end - start)

    def _restore_image_bytes(self, start: int, end: int) -> None:
        """Copies the image's original bytes over `[start, end)` (which the image covers)."""
        image = self.image
        assert image is not None and image.offset <= start <= end <= image.end, (
            f"[{start:#x}, {end:#x}) is not inside {image!r}"
        )
        self.vm.copy(self.base + start, image.source_at(start - image.offset), end - start)

    def _decommit_rest(self, keep: int, end: int, decommit: Decommit) -> None:
        """Hands `[keep, end)` to `decommit`: anonymous pages back to zero, image to the file."""
        if keep < end:
            decommit(self.base + keep, end - keep)

    def _after_clear(self) -> None:
        """Extra reset work of other growth designs (none here)."""

    # --- recovery and shutdown ------------------------------------------------------------

    def reset_with_anon_memory(self) -> None:
        """Throws everything away: the whole slot becomes a fresh PROT_NONE reservation.

        Used when nothing is known about the slot (an operation on it failed half-way).
        Post: not dirty, no image, `accessible == 0`.
        """
        if self.static_size == 0:
            assert self.image is None and self.accessible == 0, (
                f"a zero-size slot cannot hold anything: {self!r}"
            )
        else:
            self.vm.erase(self.base, self.static_size)
        self._forget_image()
        self.accessible = 0
        self.dirty = False

    def close(self) -> None:
        """Releases what the slot holds besides its address range (which its owner unmaps)."""
        self._forget_image()
