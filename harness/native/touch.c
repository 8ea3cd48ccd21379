/*
 * Fault-counting memory accesses for poolfuzz's observers.
 *
 * Every function visits each 4 KiB page that overlaps [addr, addr + len) once, in address
 * order, and returns the page faults the calling thread took meanwhile:
 * getrusage(RUSAGE_THREAD) minor + major faults, read immediately before and after the loop,
 * so that nothing but the loop itself is counted (no interpreter, no allocation).
 * The caller guarantees the range is mapped with the needed protection: these functions do no
 * checking of their own (a bad address is SIGSEGV or SIGBUS).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RUSAGE_THREAD */
#endif
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#define POOLFUZZ_PAGE ((uintptr_t)4096)

/* Minor + major faults of the calling thread so far, or -1 if getrusage fails. */
long poolfuzz_thread_faults(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return -1;
    return ru.ru_minflt + ru.ru_majflt;
}

/*
 * One write access that leaves the byte as it was: an atomic OR with zero. A single locked
 * read-modify-write instruction is one *write* access, so a page that is not privately present
 * faults exactly once (a plain load followed by a store faults twice on a fresh anonymous page:
 * the load maps the zero page, the store replaces it).
 */
static inline void rmw_zero(volatile unsigned char *p)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("lock orb $0, %0" : "+m"(*p) : : "memory");
#elif defined(__aarch64__) && defined(__ARM_FEATURE_ATOMICS)
    /* LSE: one store-set instruction, a single write access. */
    __asm__ __volatile__("stsetb %w1, %0" : "+Q"(*p) : "r"(0) : "memory");
#else
    /* Elsewhere the compiler's atomic; an LL/SC loop may take a read then a write fault. */
    __atomic_fetch_or(p, (unsigned char)0, __ATOMIC_SEQ_CST);
#endif
}

/* The first byte of the range that lies in the page starting at `page`. */
static inline uintptr_t first_in_page(uintptr_t page, uintptr_t addr)
{
    return page < addr ? addr : page;
}

/* Runs `visit` on one byte (the first in range) of every page overlapping the range. */
#define POOLFUZZ_FOR_EACH_PAGE(addr, len, visit)                                             \
    do {                                                                                      \
        uintptr_t end_ = (addr) + (len); /* an empty range overlaps no page */              \
        for (uintptr_t page_ = (addr) & ~(POOLFUZZ_PAGE - 1); (len) && page_ < end_;          \
             page_ += POOLFUZZ_PAGE)                                                          \
            visit(first_in_page(page_, (addr)));                                              \
    } while (0)

#define POOLFUZZ_TOUCH_ONE(p) rmw_zero((volatile unsigned char *)(p))
#define POOLFUZZ_LOAD_ONE(p) ((void)*(volatile unsigned char *)(p))

/*
 * Runs `body` between two reads of the thread's fault counter and returns the difference
 * (or -1 if getrusage failed). The counter is read once beforehand to warm its call path.
 */
#define POOLFUZZ_RETURN_FAULTS_OF(body)                                                     \
    do {                                                                                      \
        long before_, after_;                                                                 \
        poolfuzz_thread_faults();                                                             \
        before_ = poolfuzz_thread_faults();                                                   \
        body;                                                                                 \
        after_ = poolfuzz_thread_faults();                                                    \
        return (before_ < 0 || after_ < 0) ? -1 : after_ - before_;                           \
    } while (0)

/* touch: one atomic OR of zero per page; returns the faults it caused (or -1). */
long poolfuzz_touch(uintptr_t addr, size_t len)
{
    POOLFUZZ_RETURN_FAULTS_OF(POOLFUZZ_FOR_EACH_PAGE(addr, len, POOLFUZZ_TOUCH_ONE));
}

/* load: one volatile byte read per page (what a Wasm load does); returns the faults (or -1). */
long poolfuzz_load(uintptr_t addr, size_t len)
{
    POOLFUZZ_RETURN_FAULTS_OF(POOLFUZZ_FOR_EACH_PAGE(addr, len, POOLFUZZ_LOAD_ONE));
}

/* fill: memset of the whole range (what a keep-resident reset does); returns the faults. */
long poolfuzz_fill(uintptr_t addr, int byte, size_t len)
{
    POOLFUZZ_RETURN_FAULTS_OF(memset((void *)addr, byte, len));
}
