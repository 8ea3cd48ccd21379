/*
 * Counting this process's open descriptors of one kind, for poolfuzz's observers
 * (`observers.memfd_count`: the image memfds a target holds open).
 *
 * A descriptor counts when its /proc/self/fd link is exactly `link` (a memfd's is
 * "/memfd:NAME (deleted)"). One pass of getdents64 over /proc/self/fd and one fstat a
 * descriptor; the link itself is read (readlinkat: a path lookup and a formatting in /proc, the
 * costly part) only for a file not seen before, then remembered by the identity of the file
 * (st_dev, st_ino) in `known`. That is sound because a memfd's link never changes while it is
 * open, another file's may (renamed, deleted) but never into a memfd's, and memfd inode numbers
 * are handed out by a counter that does not come back to a number in use.
 *
 * Not thread-safe (one directory offset, one table): the caller serializes calls.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KNOWN_SLOTS 1024 /* a power of two */
#define LINK_MAX_BYTES 4096

struct known_file {
    dev_t dev;
    ino_t ino;
    signed char linked; /* 0: empty slot; 1: its link is `known_link`; -1: it is not */
};

static struct known_file known[KNOWN_SLOTS];
static char known_link[LINK_MAX_BYTES]; /* the link `known` was filled for */

struct dirent64_record {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static struct known_file *slot_of(const struct stat *st)
{
    uint64_t key = (uint64_t)st->st_ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)st->st_dev;
    return &known[(key >> 32) & (KNOWN_SLOTS - 1)];
}

/* 1 if descriptor `fd` (named `name` in `dirfd`, fstat `st`) has link `link`, 0 if not, -1 if
 * it was closed meanwhile. Remembers the answer unless the descriptor changed while asked. */
static int has_link(int dirfd, const char *name, int fd, const struct stat *st, const char *link)
{
    struct known_file *slot = slot_of(st);
    if (slot->linked && slot->dev == st->st_dev && slot->ino == st->st_ino)
        return slot->linked > 0;
    char got[LINK_MAX_BYTES];
    ssize_t n = readlinkat(dirfd, name, got, sizeof got - 1);
    if (n < 0)
        return -1;
    got[n] = '\0';
    int linked = strcmp(got, link) == 0;
    struct stat again;
    if (fstat(fd, &again) == 0 && again.st_dev == st->st_dev && again.st_ino == st->st_ino) {
        slot->dev = st->st_dev;
        slot->ino = st->st_ino;
        slot->linked = linked ? 1 : -1;
    }
    return linked;
}

/*
 * Open descriptors whose /proc/self/fd link is `link`. `dirfd` is an open descriptor of
 * /proc/self/fd (of this process: one inherited across fork lists the parent's); it is rewound
 * and read whole. Returns the count, or -1 with errno set if the directory cannot be read.
 */
long poolfuzz_count_linked_fds(int dirfd, const char *link)
{
    if (strlen(link) >= sizeof known_link)
        return errno = ENAMETOOLONG, -1;
    if (strcmp(link, known_link) != 0) {
        memset(known, 0, sizeof known);
        strcpy(known_link, link);
    }
    if (lseek(dirfd, 0, SEEK_SET) < 0)
        return -1;
    char buf[8192];
    long count = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, dirfd, buf, sizeof buf);
        if (got < 0)
            return -1;
        if (got == 0)
            return count;
        for (long at = 0; at < got;) {
            struct dirent64_record *entry = (struct dirent64_record *)(buf + at);
            at += entry->d_reclen;
            if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
                continue; /* "." and ".." */
            int fd = atoi(entry->d_name);
            struct stat st;
            if (fstat(fd, &st) != 0)
                continue; /* closed while listing */
            count += has_link(dirfd, entry->d_name, fd, &st, link) == 1;
        }
    }
}
