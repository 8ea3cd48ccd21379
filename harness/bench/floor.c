/*
 * The C floor of the cycle benchmark: a slot's per-cycle calls with nothing around them.
 *
 * The reference allocator's calls for one cycle (instantiate, then deallocate) are recorded from
 * its own counted verbs (`harness/bench/trace.py`) and handed here as arrays of `bench_call`;
 * `bench_cycles` replays them in a loop around the same page-dirtying step the Python sides use,
 * so the floor makes exactly the reference's syscalls on exactly the same offsets and lengths,
 * and nothing else: no interpreter, no bookkeeping, no locks.
 *
 * `bench_cycles` and `bench_release` return 0 on success and -errno on failure; nothing checks
 * the ranges, which the caller takes from a reservation made by `bench_reserve`. The caller
 * times the loop (the calling thread's CPU time, as for every contender).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define BENCH_PAGE ((size_t)4096)

enum {
    BENCH_MPROTECT = 1, /* mprotect(base + offset, length, arg) */
    BENCH_MADVISE = 2,  /* madvise(base + offset, length, arg) */
    BENCH_MEMSET = 3,   /* memset(base + offset, arg, length) */
    BENCH_MMAP = 4,     /* mmap(base + offset, length, arg, flags, -1, 0): anonymous, FIXED */
};

struct bench_call {
    int call;
    int arg;
    int flags;
    size_t offset;
    size_t length;
};

/* A fresh PROT_NONE reservation without huge pages, as the pool makes one; 0 on failure. */
uintptr_t bench_reserve(size_t length)
{
    void *base = mmap(NULL, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return 0;
    if (madvise(base, length, MADV_NOHUGEPAGE) != 0) {
        munmap(base, length);
        return 0;
    }
    return (uintptr_t)base;
}

int bench_release(uintptr_t base, size_t length)
{
    return munmap((void *)base, length) == 0 ? 0 : -errno;
}

/* One plain store into each of the first `pages` pages from `addr`: what "dirty N pages" is. */
void bench_dirty(uintptr_t addr, size_t pages)
{
    for (size_t i = 0; i < pages; i++)
        *(volatile unsigned char *)(addr + i * BENCH_PAGE) = 0xa5;
}

static int run_calls(uintptr_t base, const struct bench_call *calls, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const struct bench_call *c = &calls[i];
        void *at = (void *)(base + c->offset);
        switch (c->call) {
        case BENCH_MPROTECT:
            if (mprotect(at, c->length, c->arg) != 0)
                return -errno;
            break;
        case BENCH_MADVISE:
            if (madvise(at, c->length, c->arg) != 0)
                return -errno;
            break;
        case BENCH_MEMSET:
            memset(at, c->arg, c->length);
            break;
        case BENCH_MMAP:
            if (mmap(at, c->length, c->arg, c->flags, -1, 0) == MAP_FAILED)
                return -errno;
            break;
        default:
            return -EINVAL;
        }
    }
    return 0;
}

/*
 * `iterations` cycles on the slot at `base`: the instantiate calls, `dirty_pages` dirtied, the
 * deallocate calls. Returns 0, or -errno if a call failed (the caller times the loop).
 */
int bench_cycles(uintptr_t base, const struct bench_call *instantiate, size_t n_instantiate,
                 const struct bench_call *deallocate, size_t n_deallocate, size_t dirty_pages,
                 long iterations)
{
    for (long k = 0; k < iterations; k++) {
        int err = run_calls(base, instantiate, n_instantiate);
        if (err)
            return err;
        bench_dirty(base, dirty_pages);
        err = run_calls(base, deallocate, n_deallocate);
        if (err)
            return err;
    }
    return 0;
}
