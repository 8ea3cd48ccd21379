"""Memory images: what a module's data segments make, and the sealed memfd that holds it.

**Layout (pure, at compile time).** `plan_initialization(segments)` lays the segments over a
zero buffer in order (later ones overwrite earlier ones), trims leading and trailing zero bytes,
and widens what is left to OS pages (the start rounds down, the end up):

```
 linear memory  0          offset                      offset + len
                |--zeros---|#### image (page-aligned) ####|---zeros---...
                           ^ round_down(first nonzero)    ^ round_up(last nonzero + 1)
```

It decides one of three initializations:

* `NONE`: the segments write only zeros (or there are none); nothing to do at instantiation.
* `IMAGE`: the image is mapped copy-on-write into the slot (`MemoryImage`).
* `RUNTIME`: the image is *refused* because it is sparse (`len >= 2 * segment bytes` and
  `len >= 16 MiB`, Wasmtime's dense-image rule): the segments are written into the memory at
  each instantiation, so their pages are private, not file-backed.

The layout never materializes more than the image itself: segments are reduced to the pieces
still visible after later segments overwrite them, and only a dense image is ever copied into
one buffer.

**The memfd (at first instantiation).** A `MemoryImage` holds its bytes; its memfd, named
`wasm-memory-image`, file offset 0 = linear offset `offset`, sealed against growing, shrinking,
writing and further sealing, is created by the first `source_fd()` call, i.e. the first time a
slot maps the image. The image counts references: the module holds one and every slot that maps
it holds one; when the last is released the memfd is closed.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from allocator._libc import ffi
from allocator.errors import InvalidState
from allocator.units import OS_PAGE, MiB, round_down, round_up
from allocator.vm import VirtualMemory

MEMFD_NAME = "wasm-memory-image"
DENSE_IMAGE_BYTES = 16 * MiB
"""Images shorter than this are always used, however sparse (Wasmtime's default)."""

Segment = tuple[int, bytes]


class Initialization(enum.Enum):
    """How a module's memory gets its data at instantiation (see the module docstring)."""

    NONE = "none"
    IMAGE = "image"
    RUNTIME = "runtime"


@dataclass(frozen=True)
class InitPlan:
    """The outcome of laying out a module's segments.

    For `IMAGE`, `offset` and `data` are the image (both OS-page multiples in length and
    offset); otherwise `offset == 0` and `data == b""`.
    """

    kind: Initialization
    offset: int = 0
    data: bytes = b""


def plan_initialization(segments: Sequence[Segment]) -> InitPlan:
    """Lays out `segments` (in order) and applies the dense-image rule. Pure."""
    pieces = _visible_pieces(segments)
    extent = _nonzero_extent(pieces)
    if extent is None:
        return InitPlan(Initialization.NONE)
    offset, end = round_down(extent[0]), round_up(extent[1])
    length = end - offset
    segment_bytes = sum(len(data) for _, data in segments)
    if length >= 2 * segment_bytes and length >= DENSE_IMAGE_BYTES:
        return InitPlan(Initialization.RUNTIME)
    return InitPlan(Initialization.IMAGE, offset, _materialize(pieces, offset, length))


def _visible_pieces(segments: Sequence[Segment]) -> list[tuple[int, memoryview]]:
    """The parts of each segment that no later segment overwrites, as (offset, bytes)."""
    covered: list[tuple[int, int]] = []  # disjoint ranges written by later segments
    pieces: list[tuple[int, memoryview]] = []
    for start, data in reversed(segments):
        view = memoryview(bytes(data))
        for lo, hi in _subtract(start, start + len(view), covered):
            pieces.append((lo, view[lo - start:hi - start]))
        covered = _add_range(covered, start, start + len(view))
    return pieces


def _subtract(lo: int, hi: int, covered: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """`[lo, hi)` minus the (sorted, disjoint) `covered` ranges."""
    left: list[tuple[int, int]] = []
    for c_lo, c_hi in covered:
        if c_hi <= lo or c_lo >= hi:
            continue
        if c_lo > lo:
            left.append((lo, c_lo))
        lo = max(lo, c_hi)
    if lo < hi:
        left.append((lo, hi))
    return left


def _add_range(covered: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """`covered` plus `[lo, hi)`, kept sorted and merged."""
    if lo >= hi:
        return covered
    merged: list[tuple[int, int]] = []
    for c_lo, c_hi in sorted([*covered, (lo, hi)]):
        if merged and c_lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], c_hi))
        else:
            merged.append((c_lo, c_hi))
    return merged


def _nonzero_extent(pieces: Iterable[tuple[int, memoryview]]) -> tuple[int, int] | None:
    """`(first nonzero byte, last nonzero byte + 1)` over all pieces, or None if all zero."""
    first: int | None = None
    last: int | None = None
    for start, view in pieces:
        data = view.tobytes()
        stripped = data.strip(b"\0")
        if not stripped:
            continue
        lead = len(data) - len(data.lstrip(b"\0"))
        trail = len(data) - len(data.rstrip(b"\0"))
        lo, hi = start + lead, start + len(data) - trail
        first = lo if first is None else min(first, lo)
        last = hi if last is None else max(last, hi)
    return None if first is None or last is None else (first, last)


def _materialize(pieces: Iterable[tuple[int, memoryview]], offset: int, length: int) -> bytes:
    buffer = bytearray(length)
    for start, view in pieces:
        lo, hi = max(start, offset), min(start + len(view), offset + length)
        if lo < hi:
            buffer[lo - offset:hi - offset] = view[lo - start:hi - start]
    return bytes(buffer)


class MemoryImage:
    """A module's memory image: `len` bytes to appear at linear offset `offset`.

    Invariants: `offset` and `len` are OS-page multiples, `len > 0`; while `fd` is not None it
    is a memfd of exactly `len` bytes holding `data`, sealed; `refs` counts the module's handle
    plus the slots that map the image, and the memfd is closed when it drops to zero.
    """

    def __init__(self, vm: VirtualMemory, offset: int, data: bytes) -> None:
        assert data and offset % OS_PAGE == 0 and len(data) % OS_PAGE == 0, (
            f"image at offset {offset:#x} of {len(data):#x} bytes is not page-aligned"
        )
        self.offset = offset
        self.data = data
        self.len = len(data)
        self._vm = vm
        self._lock = threading.Lock()
        self._refs = 1
        self._forced = False  # closed by close(), whoever still held it
        self._fd: int | None = None
        self.inode: int | None = None
        """The memfd's inode (set when it is created): identifies its mappings in /proc."""
        self._source: Any = ffi.from_buffer(data)

    def __repr__(self) -> str:
        return (
            f"MemoryImage(offset={self.offset:#x}, len={self.len:#x}, fd={self._fd}, "
            f"refs={self._refs})"
        )

    @property
    def end(self) -> int:
        """Linear offset just past the image."""
        return self.offset + self.len

    @property
    def fd(self) -> int | None:
        """The memfd, or None before the first instantiation and after the last release."""
        return self._fd

    @property
    def refs(self) -> int:
        return self._refs

    @property
    def closed(self) -> bool:
        return self._refs == 0

    def source_fd(self) -> int:
        """The memfd, created (filled and sealed) on first use."""
        with self._lock:
            if self._refs == 0:
                raise InvalidState(f"{self!r} was released; its module is gone")
            if self._fd is None:
                self._fd = self._create_memfd()
            return self._fd

    def _create_memfd(self) -> int:
        fd = self._vm.create_memfd(MEMFD_NAME)
        try:
            self._vm.write_file(fd, self.data)
            self._vm.seal(fd)
        except BaseException:
            self._vm.close_fd(fd)
            raise
        self.inode = os.fstat(fd).st_ino
        return fd

    def source_at(self, image_offset: int) -> Any:
        """A pointer to the original byte at `image_offset` (for restoring pages by `memcpy`)."""
        assert 0 <= image_offset <= self.len, f"{image_offset:#x} outside {self!r}"
        return self._source + image_offset

    def acquire(self) -> None:
        """One more holder (a slot mapping the image)."""
        with self._lock:
            if self._refs == 0:
                raise InvalidState(f"{self!r} was released; its module is gone")
            self._refs += 1

    def release(self) -> None:
        """One holder fewer; the last one closes the memfd."""
        with self._lock:
            if self._forced:
                return
            assert self._refs > 0, f"release of {self!r} with no holder left"
            self._refs -= 1
            if self._refs == 0:
                self._close_locked()

    def close(self) -> None:
        """Closes the memfd now, whoever still holds the image (engine shutdown). Idempotent."""
        with self._lock:
            self._refs = 0
            self._forced = True
            self._close_locked()

    def _close_locked(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            self._vm.close_fd(fd)
