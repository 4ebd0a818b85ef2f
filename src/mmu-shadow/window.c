/*
 * The physical window (paging off). See window.h.
 */
#include "mmu-shadow/window.h"

#include <asm/prctl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bt/bt.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

#define PAGE 4096u
#define LOW_ROM_BASE 0xe0000u
#define LOW_ROM_SIZE 0x20000u
#define RAM_LIMIT 0xe0000000u   /* RAM above this would collide with PCI/MMIO space */

static int map_fixed(void *at, size_t len, int prot, int fd, off_t off)
{
    void *p = mmap(at, len, prot, MAP_SHARED | MAP_FIXED, fd, off);
    return p == MAP_FAILED ? -errno : 0;
}

int mmu__init(struct machine *m)
{
    struct mmu *mmu = calloc(1, sizeof(*mmu));
    uint64_t ram = m->ram_size < RAM_LIMIT ? m->ram_size : RAM_LIMIT;
    void *w;

    if (!mmu)
        return -ENOMEM;
    mmu->reserved = WINDOW_SIZE + WINDOW_GUARD;
    w = mmap(NULL, mmu->reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (w == MAP_FAILED) {
        free(mmu);
        return -errno;
    }
    mmu->window = w;
    if (ram && map_fixed(mmu->window, ram, PROT_READ | PROT_WRITE, m->ram_fd, 0) < 0)
        goto fail;
    if (m->rom_size) {
        /* The whole image below 4 GiB; its last 128 KiB also below 1 MiB. */
        if (map_fixed(mmu->window + WINDOW_SIZE - m->rom_size, m->rom_size, PROT_READ, m->rom_fd,
                      0) < 0)
            goto fail;
        if (m->rom_size >= LOW_ROM_SIZE &&
            map_fixed(mmu->window + LOW_ROM_BASE, LOW_ROM_SIZE, PROT_READ, m->rom_fd,
                      m->rom_size - LOW_ROM_SIZE) < 0)
            goto fail;
    }
    mmu->ram_pages = (uint32_t)(ram / PAGE);
    mmu->code_pages = calloc(mmu->ram_pages / 8 + 1, 1);
    if (!mmu->code_pages)
        goto fail;
    mmu->use_wrgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
    m->mmu = mmu;
    return 0;
fail:
    munmap(mmu->window, mmu->reserved);
    free(mmu->code_pages);
    free(mmu);
    return -ENOMEM;
}

void mmu__destroy(struct machine *m)
{
    if (!m->mmu)
        return;
    munmap(m->mmu->window, m->mmu->reserved);
    free(m->mmu->code_pages);
    free(m->mmu);
    m->mmu = NULL;
}

void mmu__activate(struct machine *m)
{
    uint64_t base = (uint64_t)m->mmu->window;

    if (m->mmu->use_wrgsbase)
        __asm__ volatile("wrgsbase %0" ::"r"(base) : "memory");
    else if (syscall(SYS_arch_prctl, ARCH_SET_GS, base) != 0)
        die("arch_prctl(ARCH_SET_GS) failed: %s", strerror(errno));
}

/* Is guest-physical page `gpa` backed by RAM in the window (readable and writable)? */
static bool page_is_ram(struct machine *m, uint32_t gpa)
{
    if (gpa >= m->ram_size || gpa >= RAM_LIMIT)
        return false;
    if (m->rom_size >= LOW_ROM_SIZE && gpa >= LOW_ROM_BASE && gpa < LOW_ROM_BASE + LOW_ROM_SIZE)
        return false;
    return true;
}

enum mmu_fault_result mmu__handle_fault(struct machine *m, uint64_t addr, bool write,
                                        uint32_t *linear)
{
    struct mmu *mmu = m->mmu;
    uint64_t off = addr - (uint64_t)mmu->window;

    if (off >= mmu->reserved)
        return MMU_FAULT_OUTSIDE;
    if (off >= WINDOW_SIZE) {
        /* An access that straddled 0xffffffff: mirror the wrapped page after the window. */
        uint32_t page = (uint32_t)(off - WINDOW_SIZE) & ~(PAGE - 1);
        unsigned bit = page / PAGE;

        *linear = page + (uint32_t)(off & (PAGE - 1));
        if (!page_is_ram(m, page) || (mmu->mirrored & (1ull << bit)))
            return MMU_FAULT_EMULATE;
        if (map_fixed(mmu->window + WINDOW_SIZE + page, PAGE, PROT_READ | PROT_WRITE, m->ram_fd,
                      page) < 0)
            return MMU_FAULT_EMULATE;
        mmu->mirrored |= 1ull << bit;
        return MMU_FAULT_RETRY;
    }
    (void)write;
    *linear = (uint32_t)off;
    return MMU_FAULT_EMULATE;
}

void mmu__protect_code(struct machine *m, uint32_t gpa)
{
    struct mmu *mmu = m->mmu;
    uint32_t pn = gpa / PAGE;

    if (pn >= mmu->ram_pages || (mmu->code_pages[pn / 8] & (1u << (pn % 8))))
        return;
    if (!page_is_ram(m, pn * PAGE))
        return; /* ROM is read-only already */
    if (mprotect(mmu->window + (uint64_t)pn * PAGE, PAGE, PROT_READ) == 0)
        mmu->code_pages[pn / 8] |= (uint8_t)(1u << (pn % 8));
}

void mmu__note_write(struct machine *m, uint32_t gpa, uint32_t len)
{
    struct mmu *mmu = m->mmu;

    if (!mmu || !len)
        return;
    for (uint32_t pn = gpa / PAGE; pn <= (gpa + len - 1) / PAGE && pn < mmu->ram_pages; pn++) {
        if (!(mmu->code_pages[pn / 8] & (1u << (pn % 8))))
            continue;
        bt__invalidate_page(m, pn * PAGE);
        mprotect(mmu->window + (uint64_t)pn * PAGE, PAGE, PROT_READ | PROT_WRITE);
        mmu->code_pages[pn / 8] &= (uint8_t)~(1u << (pn % 8));
    }
}
