"""Observers of this process's memory: what every target is measured with.

They look at raw addresses of the calling process (a target's `MemoryRegion`) and must never
crash it: `touch`, `read_memory` and `peek_memory` first check, from the mappings and
`/proc/self/pagemap`, that every page of the range can be accessed, and raise `NotAccessible`
instead of faulting on a PROT_NONE page, an unmapped gap, a page past the end of a mapped file
(SIGBUS) or a guard page. The other observers only read `/proc` or call `mincore`/`prctl`.

    disable_thp(), thp_disabled()             transparent huge pages off for the process
    mappings() -> [Mapping]                   /proc/self/maps
    accessible_bytes(base, limit)             RW bytes from base, stopping at a file's end
    page_states(addr, length) -> [PageState]  ABSENT / ZERO / FILE / PRIVATE (+ rarer ones)
    page_codes(addr, length) -> bytes         the same, one letter a page (`PageState.code`)
    resident_pages(addr, length)              mincore
    touch(addr, length) -> faults             one atomic OR of 0 a page, faults counted in C
    read_memory(addr, length)                 a read through the mapping (it has effects)
    peek_memory(addr, length)                 the same bytes, changing no page's state
    peek_parts(addr, length)                  the same, without the pages that are zero by definition
    peek_layout(addr, length)                 the same, file pages as unread `FilePart`s
    sealed_file_holds(part, data)             an immutable file holding `data` (compared once)
    memfd_count(name), inode_at(addr), mappings_of_inode(inode)
    process_resources() -> {rss, fds, mappings}

Every function taking `maps` accepts a `mappings()` reading to reuse instead of asking again.

Per-call cost is kept low because they run after every op of a campaign. A range is checked
by asking the kernel for just the mappings it spans (PROCMAP_QUERY, Linux 6.11+, about 5 µs
each; older kernels read `/proc/self/maps` whole, about 1 ms); pass `maps=mappings()` to share
one full reading among several calls instead. Pagemap is read with one `pread` of just the range
asked, and turned into page states by C-speed byte operations (`page_codes`), not a Python loop
over the pages. Both `/proc` descriptors stay open (reopened after a fork, since an inherited one
would describe the parent). `memfd_count` lists the descriptors in C and reads each one's link
once per file; reads of sealed image memfds are remembered (they cannot change). A checked touch of one page costs about 15 µs, of 256 pages about 60 µs.

Kernel facts (measured on Linux 6.18 x86-64, 4 KiB pages, THP=madvise, no swap, as root, and
asserted exactly by `tests/observers/`, the anonymous and image walks 200 times over, with THP
disabled and at the system default). `touch` = one `lock orb $0` per page, counted by
`getrusage(RUSAGE_THREAD)` in C; states as `page_states` reports them:

| page, then what happens                              | touch faults   | after   | mincore |
|------------------------------------------------------|----------------|---------|---------|
| anonymous, fresh (ABSENT)                            | 1              | PRIVATE | 0 → 1   |
| anonymous, privately present (PRIVATE)               | 0              | PRIVATE | 1       |
| anonymous, only read (load: 1 fault → ZERO)          | 1              | PRIVATE | 1       |
| anonymous, used, then MADV_DONTNEED (ABSENT)         | 1              | PRIVATE | 0 → 1   |
| anonymous PRIVATE → mprotect NONE or READ → RW       | 0 (bytes kept) | PRIVATE | 1       |
| anonymous ZERO → mprotect NONE → RW (still ZERO)     | 1              | PRIVATE | 1       |
| anonymous, fresh, memset (1 fault a page)            | 0              | PRIVATE | 1       |
| sealed image memfd MAP_PRIVATE, fresh (ABSENT)       | 1              | PRIVATE | 1       |
| image page only read (load: 1 fault → FILE)          | 1              | PRIVATE | 1       |
| image page after MADV_DONTNEED (ABSENT, image bytes) | 1              | PRIVATE | 1       |
| image page FILE → mprotect NONE → RW (still FILE)    | 1              | PRIVATE | 1       |
| MAP_SHARED memfd, hole below EOF (ABSENT)            | 1              | FILE    | 0 → 1   |
| MAP_SHARED memfd hole only read (load: 1 → FILE)     | 0              | FILE    | 1       |
| MAP_SHARED memfd page after MADV_DONTNEED (ABSENT)   | 1 (bytes kept) | FILE    | 1       |
| MAP_SHARED memfd, ftruncate(0) and regrown (ABSENT)  | 1 (zeros)      | FILE    | 0 → 1   |
| 512 fresh pages, 2 MiB-aligned, THP disabled         | 512            | PRIVATE | 0 → 512 |

Consequences worth knowing:
* An unwritten image page that nothing has read is ABSENT in the pagemap yet resident for
  `mincore` (its memfd page is in the page cache). A read maps it FILE, and the kernel's read
  fault-around maps the cached pages of the same 64 KiB-aligned block of virtual addresses
  (clipped to the mapping) FILE too; a touch of any of them is still exactly 1 fault (a
  copy-on-write), so image fault counts never depend on earlier reads.
* A MAP_SHARED memfd page is FILE whether written or not: a read of a hole allocates the page
  and maps it writable (not the zero page), so a later touch costs 0. After MADV_DONTNEED its
  bytes stay in the page cache, and one read fault maps every cached page of its fault-around
  block writable: there, touch counts do depend on earlier reads. `ftruncate(0)` discards all.
* Access past the end of a mapped file is SIGBUS; `accessible_bytes` stops at the file's end.
* The protection round trip costs no fault because the kernel makes the page table entry of an
  exclusively owned anonymous page writable again at once; a page shared after a fork
  (SHARED_ANON) or a file page stays write-protected and faults.
* Exactness needs pages that no other process maps (after a fork a touch copies: 1 fault, and
  the page is SHARED_ANON until then), no transparent huge pages (`disable_thp()`; otherwise an
  advised 2 MiB block takes 1 fault for 512 pages), and none of NUMA balancing, KSM, swap (all
  off here). A page the kernel migrates or compacts at the very moment of a touch would fault
  once more; it was never seen in these measurements.
"""

from __future__ import annotations

import bisect
import enum
import fcntl
import functools
import itertools
import os
import struct
import threading
from typing import Iterator, NamedTuple

import cffi
import psutil

from harness._native import native

PAGE = 4096
"""The page size fault counts and page states are given in (the host's: checked at import)."""

if os.sysconf("SC_PAGE_SIZE") != PAGE:
    raise ImportError(f"the observers need {PAGE}-byte pages, not {os.sysconf('SC_PAGE_SIZE')}")

_ffi = cffi.FFI()
_ffi.cdef(
    """
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
    int munmap(void *addr, size_t length);
    int mincore(void *addr, size_t length, unsigned char *vec);
    int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
    """
)
_libc = _ffi.dlopen(None)

_PR_SET_THP_DISABLE = 41
_PR_GET_THP_DISABLE = 42


class NotAccessible(Exception):
    """A range the caller asked to access has a page that cannot be accessed without a signal.

    `addr` is the start of the range asked, `page` the address of its first bad page and
    `reason` what is wrong there (no mapping, protection, past the end of the file, guard page).
    """

    def __init__(self, addr: int, page: int, reason: str) -> None:
        super().__init__(f"{addr:#x}: page {page:#x} is not accessible: {reason}")
        self.addr = addr
        self.page = page
        self.reason = reason


# --- Transparent huge pages ---------------------------------------------------------------


def disable_thp() -> None:
    """Disables transparent huge pages for this process, `prctl(PR_SET_THP_DISABLE, 1)`.

    Idempotent. From then on no mapping of the process gets a huge page, not even one advised
    MADV_HUGEPAGE (measured: 512 fresh pages of a 2 MiB-aligned MADV_HUGEPAGE region take 1 fault
    without it, 512 with it). The setting is inherited by children. Raises `OSError` on failure.
    """
    if _libc.prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0:
        raise OSError(_ffi.errno, f"prctl(PR_SET_THP_DISABLE): {os.strerror(_ffi.errno)}")


def thp_disabled() -> bool:
    """`True` once `disable_thp()` (or a parent's equivalent) is in effect for this process."""
    return _libc.prctl(_PR_GET_THP_DISABLE, 0, 0, 0, 0) > 0


# --- Mappings ------------------------------------------------------------------------------


class Mapping(NamedTuple):
    """One line of `/proc/self/maps`: `[start, end)`, permissions like `rw-p`, file offset,
    inode (0 for anonymous memory), path (`""`, `[heap]`, `/memfd:NAME (deleted)`, ...) and the
    file's device (`st_dev`; with `inode`, the file's identity)."""

    start: int
    end: int
    perms: str
    offset: int
    inode: int
    path: str
    dev: int = 0

    @property
    def is_memfd(self) -> bool:
        return self.path.startswith("/memfd:")

    def allows(self, perms: str) -> bool:
        """`True` if the mapping grants every permission letter of `perms` (`"r"`, `"rw"`)."""
        return all(letter in self.perms for letter in perms)


def mappings() -> list[Mapping]:
    """The mappings of this process, in address order, from one reading of `/proc/self/maps`."""
    with open("/proc/self/maps", "rb") as maps:
        lines = maps.read().decode("utf-8", "surrogateescape").splitlines()
    return [_parse_mapping(line) for line in lines]


def _parse_mapping(line: str) -> Mapping:
    fields = line.split(maxsplit=5)
    start, end = fields[0].split("-")
    path = fields[5] if len(fields) > 5 else ""
    major, minor = fields[3].split(":")
    return Mapping(
        int(start, 16), int(end, 16), fields[1], int(fields[2], 16), int(fields[4]), path,
        os.makedev(int(major, 16), int(minor, 16)),
    )


_proc_fds: dict[str, tuple[int, int]] = {}  # name -> (pid, fd) of an open /proc/self file


def _proc_fd(name: str) -> int:
    """An open descriptor of `/proc/self/NAME`, reopened in a forked child (an inherited one
    would still describe the parent)."""
    pid, fd = _proc_fds.get(name, (-1, -1))
    if pid != os.getpid():
        fd = os.open(f"/proc/self/{name}", os.O_RDONLY | os.O_CLOEXEC)
        _proc_fds[name] = (os.getpid(), fd)
    return fd


def _at_or_after(maps: list[Mapping], addr: int) -> int:
    """Index of the first mapping that ends above `addr`."""
    return bisect.bisect_right(maps, addr, key=lambda m: m.end)


# PROCMAP_QUERY (Linux 6.11+): one mapping by address, without formatting the whole maps file.
_QUERY_FORMAT = "<9Q4I2Q"  # struct procmap_query
_QUERY_SIZE = struct.calcsize(_QUERY_FORMAT)
_PROCMAP_QUERY = (3 << 30) | (_QUERY_SIZE << 16) | (ord("f") << 8) | 17  # _IOWR('f', 17, ...)
_COVERING_OR_NEXT_VMA = 0x10
_NAME_MAX = 4096


_PERMS = tuple(
    "".join(letter if flags & bit else "-" for letter, bit in (("r", 1), ("w", 2), ("x", 4)))
    + ("s" if flags & 8 else "p")
    for flags in range(16)
)
"""The `perms` of a mapping by the low four bits of `procmap_query.vma_flags`."""

_query_buffers = threading.local()  # per thread: the request template and the name buffer


def _query_request() -> tuple[bytes, object]:
    """This thread's `(request template, name buffer)`; the template asks for the mapping
    containing (or next above) address 0, naming it into the buffer."""
    buffers = getattr(_query_buffers, "buffers", None)
    if buffers is None:
        name = _ffi.new("char[]", _NAME_MAX)
        request = bytearray(_QUERY_SIZE)
        struct.pack_into("<3Q", request, 0, _QUERY_SIZE, _COVERING_OR_NEXT_VMA, 0)
        struct.pack_into("<I", request, 80, _NAME_MAX)  # vma_name_size
        struct.pack_into("<Q", request, 88, int(_ffi.cast("uintptr_t", name)))  # vma_name_addr
        buffers = _query_buffers.buffers = (bytes(request), name)
    return buffers


def _query(addr: int) -> Mapping | None:
    """The mapping containing `addr`, else the next one above it, else `None`."""
    template, name = _query_request()
    request = bytearray(template)
    struct.pack_into("<Q", request, 16, addr)  # query_addr
    try:
        fcntl.ioctl(_proc_fd("maps"), _PROCMAP_QUERY, request)
    except FileNotFoundError:
        return None
    _, _, _, start, end, flags, _, offset, inode, major, minor, name_size, *_ = struct.unpack(
        _QUERY_FORMAT, request
    )
    path = _ffi.string(name, name_size).decode("utf-8", "surrogateescape") if name_size else ""
    return Mapping(start, end, _PERMS[flags & 15], offset, inode, path, os.makedev(major, minor))


@functools.cache
def _query_supported() -> bool:
    """Whether this kernel answers PROCMAP_QUERY (else the maps file is read whole)."""
    try:
        _query(0)
    except OSError:
        return False
    return True


def _mappings_from(addr: int, maps: list[Mapping] | None) -> Iterator[Mapping]:
    """The mappings that end above `addr`, in address order: from `maps` if given, else asked
    of the kernel one at a time (cheap when only the first few are wanted)."""
    if maps is None and _query_supported():
        while (mapping := _query(addr)) is not None:
            yield mapping
            addr = mapping.end
        return
    maps = mappings() if maps is None else maps
    yield from itertools.islice(maps, _at_or_after(maps, addr), None)


def _mapped_file(mapping: Mapping) -> str | None:
    """A path that opens the file behind a file-backed mapping, or `None` if there is none.

    `/proc/self/map_files/START-END` (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), else an
    open descriptor of the process with the same path and inode.
    """
    path = f"/proc/self/map_files/{mapping.start:x}-{mapping.end:x}"
    if os.access(path, os.R_OK):
        return path
    for fd, link in _fd_links():
        path = f"/proc/self/fd/{fd}"
        if link == mapping.path and _inode_of(path) == mapping.inode:
            return path
    return None


def _inode_of(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _file_size(mapping: Mapping) -> int | None:
    """Size of the file behind a file-backed mapping, or `None` if it cannot be found.

    The size of a file sealed against shrinking and growing (an image memfd) cannot change
    while it exists: it is found once and remembered by the file's identity (device, inode),
    as `memfd_count` remembers links. Any other file is asked each time."""
    key = (mapping.dev, mapping.inode)
    size = _immutable_sizes.get(key)
    if size is not None:
        return size
    path = _mapped_file(mapping)
    if path is None:
        return None
    try:
        if key in _immutable_sizes:  # known to be mutable (None)
            return os.stat(path).st_size
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        stat = os.fstat(fd)
        if (stat.st_dev, stat.st_ino) == key:
            if len(_immutable_sizes) >= 4096:
                _immutable_sizes.clear()
            _immutable_sizes[key] = stat.st_size if _immutable(fd) else None
        return stat.st_size
    finally:
        os.close(fd)


_immutable_sizes: dict[tuple[int, int], int | None] = {}
"""(dev, inode) -> size of a file sealed against shrinking and growing; None: a file that was
not (its size is asked each time)."""


def _usable_end(mapping: Mapping) -> tuple[int, str]:
    """Where accesses to the mapping stop being safe, and why if before its end.

    Anonymous memory is safe to its end; a file mapping up to the last page that holds file
    bytes (a page wholly past the file's end is SIGBUS). A file whose size cannot be found counts
    as empty.
    """
    if mapping.inode == 0:
        return mapping.end, ""
    size = _file_size(mapping)
    if size is None:
        return mapping.start, f"size of {mapping.path!r} unknown"
    file_end = mapping.start + max(0, _round_up(size) - mapping.offset)
    if file_end >= mapping.end:
        return mapping.end, ""
    return file_end, f"past the end of {mapping.path!r} ({size} bytes)"


def _covered(start: int, stop: int, maps: list[Mapping] | None, perms: str) -> tuple[int, str]:
    """How far from `start` (towards `stop`) mappings granting `perms` reach without a gap.

    Returns the first address not covered, or `stop` if all is, and the reason it is not.
    """
    here = start
    for mapping in _mappings_from(start, maps):
        if mapping.start > here:
            return here, "not mapped"
        if not mapping.allows(perms):
            return here, f"mapping {mapping.start:#x}-{mapping.end:#x} is {mapping.perms}"
        usable, why = _usable_end(mapping)
        if usable >= stop:
            return stop, ""
        if usable < mapping.end:
            return max(usable, here), why
        here = mapping.end
    return here, "not mapped"


def accessible_bytes(base: int, limit: int, maps: list[Mapping] | None = None) -> int:
    """Bytes from `base`, at most `limit`, covered without a gap by readable and writable
    mappings, a file-backed mapping counting only up to its file's end (past it, SIGBUS)."""
    return _covered(base, base + limit, maps, "rw")[0] - base


# --- Page states ---------------------------------------------------------------------------


class PageState(enum.Enum):
    """What `/proc/self/pagemap` says of one page (see `page_states`)."""

    ABSENT = "absent"
    """No page table entry: never touched, decommitted, not mapped at all, or an unwritten
    image page that has not been read (which `mincore` still reports resident)."""
    ZERO = "zero"
    """The shared zero page is mapped: anonymous memory read but never written."""
    FILE = "file"
    """A page-cache page is mapped: an unwritten MAP_PRIVATE image page that was read (or
    mapped by fault-around), or any page of a MAP_SHARED memfd, written or not."""
    PRIVATE = "private"
    """An anonymous page mapped only here: written memory, including the copy of a file page."""
    SHARED_ANON = "shared-anon"
    """An anonymous page also mapped by another process (after a fork): a write copies it."""
    SWAPPED = "swapped"
    """A swap entry (or a page under migration, transiently). Never seen without swap."""
    GUARD = "guard"
    """A guard page (MADV_GUARD_INSTALL): any access is SIGSEGV."""

    @property
    def code(self) -> int:
        """The state's one-byte code in `page_codes` (an ASCII letter, see `CODES`)."""
        return CODES[self]


CODES = {
    PageState.ABSENT: ord("a"),
    PageState.ZERO: ord("z"),
    PageState.FILE: ord("f"),
    PageState.PRIVATE: ord("p"),
    PageState.SHARED_ANON: ord("s"),
    PageState.SWAPPED: ord("w"),
    PageState.GUARD: ord("g"),
}
"""The byte `page_codes` gives each state (the model's page codes use the same letters)."""

_STATE_OF_CODE = {code: state for state, code in CODES.items()}


_PM_PRESENT = 1 << 63
_PM_SWAPPED = 1 << 62
_PM_FILE = 1 << 61
_PM_GUARD = 1 << 58
_PM_EXCLUSIVE = 1 << 56
_PM_PFN = (1 << 55) - 1


def _pagemap_raw(first_page: int, count: int) -> bytes:
    """The pagemap entries of `count` pages from page number `first_page`, as read: 8
    little-endian bytes a page (usually one `pread`)."""
    raw = os.pread(_proc_fd("pagemap"), 8 * count, 8 * first_page)
    while len(raw) < 8 * count:
        chunk = os.pread(_proc_fd("pagemap"), 8 * count - len(raw), 8 * first_page + len(raw))
        if not chunk:
            raise OSError(f"short read of /proc/self/pagemap at page {first_page:#x}")
        raw += chunk
    return raw


def _pagemap_entries(first_page: int, count: int) -> tuple[int, ...]:
    """The 64-bit pagemap entries of `count` pages from page number `first_page`."""
    return struct.unpack(f"<{count}Q", _pagemap_raw(first_page, count))


def _flag_bytes(raw: bytes) -> bytes:
    """Bits 56-63 of every entry of a `_pagemap_raw` reading: one byte a page, sliced at C
    speed (the entries are little-endian, so each one's top byte is its eighth)."""
    return raw[7::8]


@functools.cache
def zero_page_pfn() -> int | None:
    """The frame number of the kernel's zero page, or `None` if frame numbers are hidden.

    Found once by reading a fresh private anonymous page and looking it up in the pagemap (one
    fixed frame for the whole system; 0x3b34 on the machine measured). Frame numbers are shown
    to CAP_SYS_ADMIN only; without it they read as 0.
    """
    addr = int(_ffi.cast("uintptr_t", _libc.mmap(_ffi.NULL, PAGE, 1, 0x22, -1, 0)))
    if addr == 2**64 - 1:
        raise OSError(_ffi.errno, "mmap of the zero-page probe failed")
    try:
        _ffi.cast("volatile unsigned char *", addr)[0]
        entry = _pagemap_entries(addr // PAGE, 1)[0]
    finally:
        _libc.munmap(_ffi.cast("void *", addr), PAGE)
    present_anon = entry & (_PM_PRESENT | _PM_FILE | _PM_EXCLUSIVE) == _PM_PRESENT
    return entry & _PM_PFN if present_anon and entry & _PM_PFN else None


def _state_of_flags(flags: int) -> PageState:
    """The state told by the top byte of a pagemap entry (bits 56-63), taking any present,
    anonymous, not exclusive page as SHARED_ANON (`page_codes` then picks out the zero page)."""
    if flags & (_PM_GUARD >> 56):
        return PageState.GUARD
    if not flags & (_PM_PRESENT >> 56):
        return PageState.SWAPPED if flags & (_PM_SWAPPED >> 56) else PageState.ABSENT
    if flags & (_PM_FILE >> 56):
        return PageState.FILE
    return PageState.PRIVATE if flags & (_PM_EXCLUSIVE >> 56) else PageState.SHARED_ANON


_CODE_OF_FLAGS = bytes(_state_of_flags(flags).code for flags in range(256))
"""`translate` table: the top byte of a pagemap entry to its state's code (before the zero
page is picked out of SHARED_ANON)."""

_NOT_PRESENT = bytes(0 if flags & (_PM_PRESENT >> 56) else 1 for flags in range(256))
_IS_GUARD = bytes(1 if flags & (_PM_GUARD >> 56) else 0 for flags in range(256))


def page_codes(addr: int, length: int) -> bytes:
    """`page_states` as one byte a page (`PageState.code`: `b"a"` absent, `b"p"` private, ...),
    from one `pread` of the pagemap and C-speed byte operations: no Python work per page
    except for present anonymous pages that are not exclusive (the zero page's candidates)."""
    first, count = _page_span(addr, length)
    if count == 0:
        return b""
    raw = _pagemap_raw(first, count)
    codes = _flag_bytes(raw).translate(_CODE_OF_FLAGS)
    shared = CODES[PageState.SHARED_ANON]
    if shared not in codes:
        return codes
    zero_pfn = zero_page_pfn()
    if zero_pfn is None:
        return codes.replace(bytes([shared]), bytes([CODES[PageState.ZERO]]))
    out = bytearray(codes)
    page = codes.find(shared)
    while page >= 0:
        if int.from_bytes(raw[8 * page : 8 * page + 8], "little") & _PM_PFN == zero_pfn:
            out[page] = CODES[PageState.ZERO]
        page = codes.find(shared, page + 1)
    return bytes(out)


def page_states(addr: int, length: int) -> list[PageState]:
    """The state of every 4 KiB page overlapping `[addr, addr + length)`, from one `pread` of
    `/proc/self/pagemap`. Never faults; an unmapped page reads as ABSENT.

    How the zero page is told apart from a private page. Both are present, anonymous entries.
    Measured here: a private page has PM_MMAP_EXCLUSIVE (bit 56) set, the zero page does not,
    and the zero page has one fixed frame number. As root the frame number is shown, and ZERO
    means exactly "the frame of the zero page" (a private page shared with a forked child is
    then SHARED_ANON, not ZERO). Without the frame numbers, ZERO means "not exclusive", which
    also catches pages shared after a fork.
    """
    return [_STATE_OF_CODE[code] for code in page_codes(addr, length)]


def resident_pages(addr: int, length: int) -> int:
    """How many 4 KiB pages overlapping the range `mincore` reports resident.

    For a file mapping this is page-cache residency: an unwritten image page is resident even
    before anything maps it. Raises `OSError` (ENOMEM) if part of the range is not mapped.
    """
    first, count = _page_span(addr, length)
    if count == 0:
        return 0
    vec = _ffi.new("unsigned char[]", count)
    if _libc.mincore(_ffi.cast("void *", first * PAGE), count * PAGE, vec) != 0:
        raise OSError(_ffi.errno, f"mincore({addr:#x}, {length}): {os.strerror(_ffi.errno)}")
    return _ffi.buffer(vec)[:].translate(_LOW_BIT).count(1)


_LOW_BIT = bytes(byte & 1 for byte in range(256))


# --- Accesses ------------------------------------------------------------------------------


def read_memory(addr: int, length: int, maps: list[Mapping] | None = None) -> bytes:
    """The bytes of `[addr, addr + length)`, read by one copy.

    Raises `NotAccessible` (and reads nothing) unless every page is readable: mapped with `r`,
    not past a mapped file's end, not a guard page. Like a Wasm load, the read has effects on
    page states (see `peek_memory`, which has none).
    """
    _require(addr, length, maps, "r")
    return _copy(addr, length)


def peek_memory(addr: int, length: int, maps: list[Mapping] | None = None) -> bytes:
    """The bytes of `[addr, addr + length)`, read without changing the state of any page.

    A read through the mapping (`read_memory`) has effects: it maps the zero page or a file
    page, and in a MAP_SHARED memfd it allocates the page of a hole and maps it writable (it is
    then resident, and a later touch costs 0 instead of 1). `peek_memory` copies from memory
    only the pages that are mapped; an ABSENT page reads as zeros if anonymous, else is read
    from the file behind the mapping with `pread`, which maps nothing and allocates no hole.
    If that file cannot be opened (no CAP_SYS_ADMIN and no open descriptor of it), the page is
    read through the mapping after all. Raises `NotAccessible` as `read_memory` does.
    """
    out = bytearray(length)  # what no part covers reads as zero
    for at, data in peek_parts(addr, length, maps):
        out[at - addr : at - addr + len(data)] = data
    return bytes(out)


def peek_parts(addr: int, length: int, maps: list[Mapping] | None = None) -> list[tuple[int, bytes]]:
    """`peek_memory` without its zeros: `(address, bytes)` parts, in address order, of the
    range's pages that have to be read; every byte of the range outside them is an anonymous
    page absent from the page tables, which reads as zero by definition. Same guarantees and
    `NotAccessible` as `peek_memory`; comparing a large, mostly untouched memory this way
    costs what its present and file-backed pages cost, not its size."""
    return [part.read() if isinstance(part, FilePart) else part for part in peek_layout(addr, length, maps)]


class FilePart(NamedTuple):
    """Pages of a file mapping that are absent from the page tables: the `length` bytes at
    `addr` read as the file's bytes from `offset` (zeros past its end), not yet read. `path`
    opens the file; `dev` and `inode` identify it."""

    addr: int
    length: int
    path: str
    offset: int
    dev: int
    inode: int

    def read(self) -> tuple[int, bytes]:
        """The part as `peek_parts` gives it: `(addr, bytes)`, read with one `pread`."""
        return self.addr, _read_file(self.path, self.offset, self.length)


def peek_layout(addr: int, length: int,
                maps: list[Mapping] | None = None) -> list[tuple[int, bytes] | FilePart]:
    """`peek_parts`, with the file bytes under absent pages left unread: those parts are
    `FilePart`s (which say which file, and where in it), the others `(address, bytes)` copied
    from memory. A caller that already knows what a file holds need not read it again."""
    absent = _require(addr, length, maps, "r").translate(_NOT_PRESENT)
    if 1 not in absent:
        return [(addr, _copy(addr, length))] if length else []  # every page present: one copy
    parts: list[tuple[int, bytes] | FilePart] = []
    first = addr // PAGE
    for lo_page, hi_page, is_absent in byte_runs(absent):
        lo = max(addr, (first + lo_page) * PAGE)
        hi = min(addr + length, (first + hi_page) * PAGE)
        if is_absent:
            parts += _peek_absent(lo, hi, maps)
        else:
            parts.append((lo, _copy(lo, hi - lo)))
    return parts


def byte_runs(flags: bytes) -> Iterator[tuple[int, int, int]]:
    """`(start, stop, value)` of each maximal run of equal bytes of `flags` (all 0 or 1)."""
    start = 0
    while start < len(flags):
        value = flags[start]
        stop = flags.find(b"\1" if value == 0 else b"\0", start)
        stop = len(flags) if stop < 0 else stop
        yield start, stop, value
        start = stop


def _peek_absent(lo: int, hi: int, maps: list[Mapping] | None) -> list[tuple[int, bytes] | FilePart]:
    """The parts of `[lo, hi)` (pages known readable and absent from the page tables) that
    are not zero by definition: a `FilePart` under each file mapping (read as it is, through
    the mapping, if the file cannot be opened). Anonymous mappings give no part."""
    parts: list[tuple[int, bytes] | FilePart] = []
    for mapping in _mappings_from(lo, maps):
        if mapping.start >= hi:
            break
        a, b = max(lo, mapping.start), min(hi, mapping.end)
        if mapping.inode == 0:
            continue
        path = _mapped_file(mapping)
        if path is None:  # no way to the file: read through the mapping after all
            parts.append((a, _copy(a, b - a)))
            continue
        parts.append(FilePart(a, b - a, path, mapping.offset + a - mapping.start, mapping.dev, mapping.inode))
    return parts


_F_GET_SEALS = 1034
_F_SEAL_SHRINK, _F_SEAL_GROW, _F_SEAL_WRITE = 0x2, 0x4, 0x8
_IMMUTABLE = _F_SEAL_SHRINK | _F_SEAL_GROW | _F_SEAL_WRITE
_sealed_reads: dict[tuple[int, int, int, int], bytes] = {}  # (dev, inode, offset, length) -> bytes
_SEALED_READS_KEPT = 8


def _read_file(path: str, offset: int, length: int) -> bytes:
    """`length` bytes of the file at `path` from `offset`, zeros past its end.

    A file sealed against writing, shrinking and growing (a memory image's memfd) cannot
    change while it is open, so what was read of it is remembered by file identity and read
    again only once forgotten (the last few reads are kept): a full check of a memory with a
    large image does not read the image again each time."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sealed = _immutable(fd)
        if sealed:
            stat = os.fstat(fd)
            key = (stat.st_dev, stat.st_ino, offset, length)
            if key in _sealed_reads:
                return _sealed_reads[key]
        got = os.pread(fd, length, offset).ljust(length, b"\0")
    finally:
        os.close(fd)
    if sealed:
        if len(_sealed_reads) >= _SEALED_READS_KEPT:
            del _sealed_reads[next(iter(_sealed_reads))]
        _sealed_reads[key] = got
    return got


def _immutable(fd: int) -> bool:
    """Whether the file of `fd` is sealed against writing, shrinking and growing: its bytes
    cannot change while it exists."""
    try:
        return fcntl.fcntl(fd, _F_GET_SEALS) & _IMMUTABLE == _IMMUTABLE
    except OSError:  # not a file that can be sealed
        return False


_HOLDS_CHUNK = 1 << 20


def sealed_file_holds(part: FilePart, data: bytes) -> bool:
    """Whether the file behind `part` is sealed against writing, shrinking and growing (so it
    holds the same bytes for as long as it exists) and holds `data` from its first byte on.

    Read in 1 MiB chunks into one buffer and compared at C speed, stopping at the first chunk
    that differs: a 16 MiB image costs no 16 MiB allocation. `False` also when `part.path` no
    longer opens the file `part` names (`dev`, `inode`)."""
    fd = os.open(part.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        stat = os.fstat(fd)
        if (stat.st_dev, stat.st_ino) != (part.dev, part.inode) or not _immutable(fd):
            return False
        view, chunk, at = memoryview(data), bytearray(min(_HOLDS_CHUNK, len(data))), 0
        while at < len(data):
            size = min(len(chunk), len(data) - at)
            buffer = chunk if size == len(chunk) else bytearray(size)
            if os.preadv(fd, [buffer], at) != size or buffer != view[at : at + size]:
                return False
            at += size
        return True
    finally:
        os.close(fd)


def touch(addr: int, length: int, maps: list[Mapping] | None = None) -> int:
    """One atomic OR of zero into every 4 KiB page overlapping the range; the faults it caused.

    The bytes are left as they were. A page mapped writable (PRIVATE, or FILE in a MAP_SHARED
    memfd mapping) does not fault; every other page faults exactly once (ABSENT, ZERO, FILE of a
    MAP_PRIVATE image, SHARED_ANON) and ends PRIVATE (FILE in a MAP_SHARED mapping). The count
    is the calling thread's minor + major faults, read in C just before and after the loop, so
    nothing else is counted. Raises `NotAccessible` (and touches nothing) unless every page is
    readable and writable.
    """
    _require(addr, length, maps, "rw")
    faults = native().lib.poolfuzz_touch(addr, length)
    if faults < 0:
        raise OSError("getrusage(RUSAGE_THREAD) failed")
    return faults


def _require(addr: int, length: int, maps: list[Mapping] | None, perms: str) -> bytes:
    """Raises `NotAccessible` unless every page overlapping the range can be accessed with
    `perms` without a signal (checked from the maps, then the pagemap for guard pages).
    Returns the pages' pagemap flag bytes (`_flag_bytes`), read after the maps."""
    if length < 0 or addr < 0:
        raise ValueError(f"bad range {addr:#x}+{length}")
    first, count = _page_span(addr, length)
    if count == 0:
        return b""
    stop = (first + count) * PAGE
    reached, why = _covered(first * PAGE, stop, maps, perms)
    if reached < stop:
        raise NotAccessible(addr, reached, why)
    flags = _flag_bytes(_pagemap_raw(first, count))
    guard = flags.translate(_IS_GUARD).find(1)
    if guard >= 0:
        raise NotAccessible(addr, (first + guard) * PAGE, "guard page")
    return flags


# --- Memfds and resources ------------------------------------------------------------------


def _fd_links() -> list[tuple[int, str]]:
    """`(fd, link target)` of the open descriptors of this process (skipping any closed
    while listing)."""
    links = []
    for name in os.listdir("/proc/self/fd"):
        try:
            links.append((int(name), os.readlink(f"/proc/self/fd/{name}")))
        except OSError:
            continue
    return links


def memfd_count(name: str = "wasm-memory-image") -> int:
    """Open descriptors of this process whose link is `/memfd:NAME (deleted)`.

    Counted in C (`harness/native/fds.c`): one listing of `/proc/self/fd` and one `fstat` a
    descriptor; the link itself is read only for a file not seen before, then remembered by
    file identity (device, inode), since a memfd's link never changes while it is open and
    another file's never turns into a memfd's. About 8 µs with ten descriptors open.
    """
    wanted = f"/memfd:{name} (deleted)".encode("utf-8", "surrogateescape")
    helpers = native()
    with _fd_count_lock:  # one directory offset and one table of known files in C
        count = helpers.lib.poolfuzz_count_linked_fds(_proc_fd("fd"), wanted)
        if count < 0:
            raise OSError(helpers.ffi.errno, f"listing /proc/self/fd: {os.strerror(helpers.ffi.errno)}")
    return count


_fd_count_lock = threading.Lock()


def inode_at(addr: int, maps: list[Mapping] | None = None) -> int | None:
    """The inode of the memfd mapped at `addr`, or `None` if no memfd mapping contains it."""
    mapping = next(_mappings_from(addr, maps), None)
    if mapping is not None and mapping.start <= addr and mapping.is_memfd:
        return mapping.inode
    return None


def mappings_of_inode(inode: int, maps: list[Mapping] | None = None) -> int:
    """How many memfd mappings (lines of the maps, i.e. VMAs) map the memfd `inode`."""
    maps = mappings() if maps is None else maps
    return sum(1 for m in maps if m.inode == inode and m.is_memfd)


def process_resources(maps: list[Mapping] | None = None) -> dict[str, int]:
    """`rss` (bytes), `fds` (open descriptors) and `mappings` (VMAs) of this process, for
    watching a long run for leaks."""
    maps = mappings() if maps is None else maps
    process = psutil.Process()
    return {"rss": process.memory_info().rss, "fds": process.num_fds(), "mappings": len(maps)}


# --- Helpers -------------------------------------------------------------------------------


def _copy(addr: int, length: int) -> bytes:
    """The bytes at `addr`, copied through the mapping (the caller checked they are readable)."""
    return _ffi.buffer(_ffi.cast("char *", addr), length)[:] if length else b""


def _round_up(size: int) -> int:
    return -(-size // PAGE) * PAGE


def _page_span(addr: int, length: int) -> tuple[int, int]:
    """`(first page number, page count)` of the pages overlapping `[addr, addr + length)`."""
    if length <= 0:
        return addr // PAGE, 0
    first = addr // PAGE
    return first, (addr + length - 1) // PAGE - first + 1
