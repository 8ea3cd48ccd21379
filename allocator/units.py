"""Sizes and page arithmetic (pure).

Two page sizes matter: the OS page (4 KiB on the machines poolfuzz targets; every `mmap`,
`mprotect` and `madvise` works on whole OS pages) and the Wasm page (64 KiB; memory sizes and
`grow` deltas count them). A Wasm page is always a whole number of OS pages.
"""

from __future__ import annotations

import mmap

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40

OS_PAGE = mmap.PAGESIZE
"""Bytes in an OS page (the unit of every protection and residency)."""

WASM_PAGE = 64 * KiB
"""Bytes in a WebAssembly page (the unit of `memory.size` and `memory.grow`)."""

MAX_WASM_PAGES = 1 << 16
"""Largest size of a 32-bit linear memory, in Wasm pages (4 GiB)."""

MAX_U32 = (1 << 32) - 1

assert WASM_PAGE % OS_PAGE == 0, f"OS page {OS_PAGE} does not divide the Wasm page {WASM_PAGE}"


def round_up(n: int, to: int = OS_PAGE) -> int:
    """The smallest multiple of `to` that is >= `n` (n >= 0)."""
    return -(-n // to) * to


def round_down(n: int, to: int = OS_PAGE) -> int:
    """The largest multiple of `to` that is <= `n` (n >= 0)."""
    return n // to * to


def is_aligned(n: int, to: int = OS_PAGE) -> bool:
    return n % to == 0


def pages_spanned(offset: int, length: int, page: int = OS_PAGE) -> range:
    """Indices of the pages of size `page` that overlap `[offset, offset + length)`."""
    if length <= 0:
        return range(0)
    return range(offset // page, (offset + length - 1) // page + 1)
