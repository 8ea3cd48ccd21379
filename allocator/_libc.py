"""The C library, opened in cffi ABI mode: the only module of `allocator` that touches cffi.

Nothing here is compiled: `ffi.dlopen(None)` opens the symbols already loaded in the process
(glibc), so importing the package needs no C compiler. Only declarations and constants live
here; every call goes through the verbs of `allocator.vm`, which count and check them.

The constants are the Linux x86-64 / glibc values; they are part of the kernel ABI.
"""

from __future__ import annotations

import cffi

ffi = cffi.FFI()
ffi.cdef(
    """
    typedef long off_t;

    void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
    int munmap(void *addr, size_t length);
    int mprotect(void *addr, size_t length, int prot);
    int madvise(void *addr, size_t length, int advice);
    int mincore(void *addr, size_t length, unsigned char *vec);

    int memfd_create(const char *name, unsigned int flags);
    int fcntl(int fd, int cmd, ...);
    int ftruncate(int fd, off_t length);
    ssize_t write(int fd, const void *buf, size_t count);
    int close(int fd);

    struct timeval { long tv_sec; long tv_usec; };
    struct rusage {
        struct timeval ru_utime;
        struct timeval ru_stime;
        long ru_maxrss;
        long ru_ixrss;
        long ru_idrss;
        long ru_isrss;
        long ru_minflt;
        long ru_majflt;
        long ru_nswap;
        long ru_inblock;
        long ru_oublock;
        long ru_msgsnd;
        long ru_msgrcv;
        long ru_nsignals;
        long ru_nvcsw;
        long ru_nivcsw;
    };
    int getrusage(int who, struct rusage *usage);
    int prctl(int option, ...);

    void *memset(void *s, int c, size_t n);
    void *memcpy(void *dest, const void *src, size_t n);
    """
)
lib = ffi.dlopen(None)

PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4
PROT_RW = PROT_READ | PROT_WRITE

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_NORESERVE = 0x4000

MADV_DONTNEED = 4
MADV_NOHUGEPAGE = 15

MFD_CLOEXEC = 0x1
MFD_ALLOW_SEALING = 0x2

F_ADD_SEALS = 1033
F_GET_SEALS = 1034
F_SEAL_SEAL = 0x1
F_SEAL_SHRINK = 0x2
F_SEAL_GROW = 0x4
F_SEAL_WRITE = 0x8

RUSAGE_THREAD = 1

PR_SET_THP_DISABLE = 41
PR_GET_THP_DISABLE = 42

MAP_FAILED = -1
"""`mmap`'s failure value, `(void *) -1`, as a signed integer."""
