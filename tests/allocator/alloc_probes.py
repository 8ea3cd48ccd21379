"""Measuring real memory facts for the allocator tests.

* `accessible(base, limit)`: bytes from `base` that are RW, read from /proc/self/maps (a
  file-backed mapping ends at its file's end, past which an access is SIGBUS).
* `resident(address, length)`: per OS page, 1 if resident (mincore).
* `touch(address, length)`: page faults taken by one `lock or $0` per OS page of the range (the
  byte is left as it was). The loop *and* the two `getrusage(RUSAGE_THREAD)` calls around it are
  one tiny machine-code routine, so nothing of Python runs in between and the count is exact.
* `image_memfds()`, `mappings_of(inode)`: memfds named `wasm-memory-image` open in the process,
  mappings of one memfd.
* `run_threads(target, n)`: `target(0) .. target(n - 1)` in `n` threads at once.

The probes make their calls through their own `VirtualMemory`, so engine counters stay exact.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from allocator import VirtualMemory
from allocator._libc import PROT_EXEC, PROT_READ, ffi
from allocator.units import OS_PAGE, round_down, round_up

PROBE_VM = VirtualMemory()

# void touch(void *addr, long pages, struct rusage *before, struct rusage *after):
#     getrusage(RUSAGE_THREAD, before);
#     for (; pages; pages--, addr += 4096) asm("lock orb $0, (%0)" :: "r"(addr));
#     getrusage(RUSAGE_THREAD, after);
# (x86-64 System V; raw `syscall` 98 = getrusage; rbx, r12, r13 saved and restored.)
_TOUCH_CODE = bytes.fromhex(
    "53 4154 4155 4889fb 4989f4 4989cd"  # push rbx/r12/r13; rbx=addr r12=pages r13=after
    "b862000000 bf01000000 4889d6 0f05"  # getrusage(RUSAGE_THREAD, before)
    "4d85e4 7410"  # loop: test r12, r12; jz done
    "f0800b00"  # lock or byte [rbx], 0
    "4881c300100000 49ffcc ebeb"  # add rbx, 4096; dec r12; jmp loop
    "b862000000 bf01000000 4c89ee 0f05"  # done: getrusage(RUSAGE_THREAD, after)
    "415d 415c 5b c3"  # pop r13/r12/rbx; ret
)


class _Toucher:
    def __init__(self) -> None:
        assert OS_PAGE == 4096, "the touch routine strides by 4096 bytes"
        self.code = PROBE_VM.reserve(OS_PAGE)
        PROBE_VM.expose(self.code, OS_PAGE)
        PROBE_VM.poke(self.code, _TOUCH_CODE)
        from allocator._libc import lib

        assert lib.mprotect(ffi.cast("void *", self.code), OS_PAGE, PROT_READ | PROT_EXEC) == 0
        self.function = ffi.cast("void (*)(void *, long, struct rusage *, struct rusage *)",
                                 self.code)
        self.before = ffi.new("struct rusage *")
        self.after = ffi.new("struct rusage *")
        self(0, 0)  # fault in the code page and both buffers

    def __call__(self, address: int, pages: int) -> int:
        self.function(ffi.cast("void *", address), pages, self.before, self.after)
        return int(self.after.ru_minflt - self.before.ru_minflt)


_toucher: _Toucher | None = None


def touch(address: int, length: int) -> int:
    """Faults taken by touching every OS page overlapping `[address, address + length)`."""
    global _toucher
    if _toucher is None:
        _toucher = _Toucher()
    if length <= 0:
        return 0
    start = round_down(address)
    return _toucher(start, (round_up(address + length) - start) // OS_PAGE)


def resident(address: int, length: int) -> list[int]:
    """Per OS page overlapping the range: 1 if resident, else 0."""
    start = round_down(address)
    return list(PROBE_VM.residency(start, round_up(address + length) - start))


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    perms: str
    offset: int
    inode: int
    path: str

    @property
    def file_backed(self) -> bool:
        return self.inode != 0

    def accessible_end(self) -> int:
        """Where accesses stop working: the mapping's end, or its file's end if sooner."""
        if not self.file_backed:
            return self.end
        size = os.stat(f"/proc/self/map_files/{self.start:x}-{self.end:x}").st_size
        return max(self.start, min(self.end, self.start + size - self.offset))


def mappings() -> list[Mapping]:
    result = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            start, end = (int(x, 16) for x in fields[0].split("-"))
            path = fields[5].strip() if len(fields) > 5 else ""
            result.append(Mapping(start, end, fields[1], int(fields[2], 16), int(fields[4]), path))
    return result


def accessible(base: int, limit: int) -> int:
    """Bytes from `base` (up to `limit`) that can be read and written without a fault."""
    position = base
    for mapping in mappings():
        if mapping.end <= position:
            continue
        if mapping.start > position or not mapping.perms.startswith("rw"):
            break
        end = mapping.accessible_end()
        position = max(position, end)
        if end < mapping.end or position >= base + limit:
            break
    return min(position - base, limit)


def protection(address: int) -> str:
    """The permission string of the mapping holding `address` ("" if unmapped)."""
    for mapping in mappings():
        if mapping.start <= address < mapping.end:
            return mapping.perms
    return ""


def image_memfds() -> int:
    """Open fds of memfds named `wasm-memory-image`."""
    return _count_fds("/memfd:wasm-memory-image")


def extension_memfds() -> int:
    return _count_fds("/memfd:wasm-heap-extension")


def _count_fds(prefix: str) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(prefix):
                count += 1
        except FileNotFoundError:
            pass
    return count


def mappings_of(inode: int | None) -> int:
    """Mappings of the file with this inode (a memory image's memfd) in the process."""
    if inode is None:
        return 0
    return sum(1 for m in mappings() if m.inode == inode and "memfd:" in m.path)


def run_threads(target: Callable[[int], None], count: int) -> None:
    """Runs `target(n)` for n in 0..count-1, each in its own thread, and waits for all."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
