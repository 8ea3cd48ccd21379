"""Memory accesses that never fault: `load` and `store` through `process_vm_readv/writev`.

A stress check must survive the bug it looks for. A plain load from a page that a racing
`mprotect` has not made accessible yet is SIGSEGV, which ends the process and the check with
it. These two go through the kernel's copy of the calling process's own memory instead: an
inaccessible page (PROT_NONE, unmapped, past the end of a mapped file) makes the call fail with
EFAULT, which they report as a value.

    data = load(address, 8)        # bytes, or None if any byte could not be read
    ok = store(address, b"cookie") # True, or False if any byte could not be written

Each call is one system call (about 3 µs) and releases the GIL, so a probe is also a point where
another thread may run. A one-byte access is a single byte copy, atomic with respect to other
one-byte accesses; longer ones are not guaranteed to be.
"""

from __future__ import annotations

import os

import cffi

_ffi = cffi.FFI()
_ffi.cdef(
    """
    struct iovec { void *iov_base; size_t iov_len; };
    ssize_t process_vm_readv(int pid, const struct iovec *local, unsigned long liovcnt,
                             const struct iovec *remote, unsigned long riovcnt,
                             unsigned long flags);
    ssize_t process_vm_writev(int pid, const struct iovec *local, unsigned long liovcnt,
                              const struct iovec *remote, unsigned long riovcnt,
                              unsigned long flags);
    """
)
_lib = _ffi.dlopen(None)


def load(address: int, length: int) -> bytes | None:
    """The `length` bytes at `address`, or None if some of them cannot be read."""
    if length == 0:
        return b""
    buffer = _ffi.new("char[]", length)
    local = _ffi.new("struct iovec *", [buffer, length])
    remote = _ffi.new("struct iovec *", [_ffi.cast("void *", address), length])
    done = _lib.process_vm_readv(os.getpid(), local, 1, remote, 1, 0)
    if done != length:
        return None
    return _ffi.buffer(buffer, length)[:]


def store(address: int, data: bytes) -> bool:
    """Writes `data` at `address`; False if some byte could not be written (some may have been)."""
    if not data:
        return True
    source = _ffi.from_buffer(data)
    local = _ffi.new("struct iovec *", [source, len(data)])
    remote = _ffi.new("struct iovec *", [_ffi.cast("void *", address), len(data)])
    return _lib.process_vm_writev(os.getpid(), local, 1, remote, 1, 0) == len(data)
