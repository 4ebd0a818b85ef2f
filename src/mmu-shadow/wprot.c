/*
 * Write protection of the physical window's RAM: userfaultfd write-protect
 * where the host kernel offers it for shared memory, mprotect otherwise,
 * chosen once at start (TACHYON_WP=mprotect or =uffd forces one; the default
 * takes uffd when it works).
 *
 * Paged windows use mprotect whatever the choice (window.c, mmu_downgrade):
 * they are mapped a prefetch group at a time, and registering every new
 * mapping with the userfaultfd cost an ioctl per mmap (half the host system
 * calls of a fork) for the few pages that are ever protected after being
 * mapped writable; a page that is a table or holds code when it is mapped is
 * simply mapped read-only.
 *
 * mprotect changes the VMA: protecting one page in the middle of a mapping
 * splits it in three, and the windows' VMA budget pays for that. uffd-wp
 * marks page-table entries and leaves VMAs alone, but only works on ranges
 * registered with the userfaultfd, and a mapping made later over a
 * registered range is not registered: every RAM mapping is registered right
 * after it is made (wprot__mapped). A write to a write-protected page then
 * raises SIGBUS (UFFD_FEATURE_SIGBUS) in the vCPU thread, with the page-fault
 * error code in the signal context, and takes the same path as a SIGSEGV.
 *
 * Either way a protection can only be lifted where it was put: uffd cannot
 * make a mapping writable that was mapped read-only. Callers do not need to
 * care: a write that faults on a page no longer protected is mapped again,
 * writable, by the hidden-fault path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mmu-shadow/internal.h"
#include "monitor/log.h"
#include "monitor/stats.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static int uffd_open(void)
{
    const uint64_t want = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
    struct uffdio_api api = {.api = UFFD_API, .features = want};
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

    if (fd < 0)
        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    if (ioctl(fd, UFFDIO_API, &api) < 0 || (api.features & want) != want) {
        close(fd);
        return -1;
    }
    return fd;
}

void wprot__init(struct mmu *mmu)
{
    const char *how = getenv("TACHYON_WP");

    mmu->uffd = -1;
    if (how && !strcmp(how, "mprotect"))
        return;
    mmu->uffd = uffd_open();
    if (mmu->uffd < 0 && how && !strcmp(how, "uffd"))
        fprintf(stderr, "tachyon: TACHYON_WP=uffd: userfaultfd write-protect is not "
                        "available here (%s); using mprotect\n", strerror(errno));
    LOG(MMU, 1, "write protection: %s", mmu->uffd >= 0 ? "userfaultfd" : "mprotect");
}

void wprot__fini(struct mmu *mmu)
{
    if (mmu->uffd >= 0)
        close(mmu->uffd);
    mmu->uffd = -1;
}

void wprot__mapped(struct mmu *mmu, void *addr, size_t len)
{
    struct uffdio_register r = {
        .range = {.start = (uint64_t)addr, .len = len},
        .mode = UFFDIO_REGISTER_MODE_WP,
    };

    if (mmu->uffd >= 0 && ioctl(mmu->uffd, UFFDIO_REGISTER, &r) < 0)
        LOG(MMU, 2, "userfaultfd register of %p+%zu failed: %s", addr, len, strerror(errno));
}

void wprot__set(struct mmu *mmu, void *addr, size_t len, bool writable)
{
    struct uffdio_writeprotect wp = {
        .range = {.start = (uint64_t)addr, .len = len},
        .mode = writable ? 0 : UFFDIO_WRITEPROTECT_MODE_WP,
    };

    if (mmu->uffd >= 0 && ioctl(mmu->uffd, UFFDIO_WRITEPROTECT, &wp) == 0) {
        STAT_INC(mmu_wp_uffd);
        return;
    }
    mprotect(addr, len, writable ? PROT_READ | PROT_WRITE : PROT_READ);
}
