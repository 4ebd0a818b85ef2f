/*
 * The legacy areas below 1 MiB: the i440BX PAM registers steer 0xC0000-0xFFFFF
 * between the firmware ROM and shadow RAM, reads and writes separately, and
 * the A20 gate folds the 64 KiB above 1 MiB onto 0-64 KiB. What a physical
 * page is (RAM, ROM, or nothing) is decided here for the fault paths of
 * window.c.
 */
#include <sys/mman.h>

#include "bt/bt.h"
#include "devices/i440bx.h"
#include "mmu-shadow/internal.h"
#include "monitor/machine.h"

#define PAM_BASE 0xc0000u

/* The host bridge's PAM attributes for a page of the BIOS areas 0xC0000-0xFFFFF, or -1
 * outside them (or without a host bridge, where the low ROM copy is simply ROM). */
static int pam_of(struct machine *m, uint32_t gpa)
{
    return gpa >= PAM_BASE && gpa < 0x100000u ? i440bx__pam(m, gpa) : -1;
}

/* Is guest-physical page gpa RAM for reads (not shadowed by the low ROM copy)? */
bool page_is_ram(struct machine *m, uint32_t gpa)
{
    int pam = pam_of(m, gpa);

    if (gpa >= m->ram_size || gpa >= RAM_LIMIT)
        return false;
    if (pam >= 0)
        return pam & I440BX_PAM_RE;
    if (m->rom_size >= LOW_ROM_SIZE && gpa >= LOW_ROM_BASE && gpa < LOW_ROM_BASE + LOW_ROM_SIZE)
        return false;
    return true;
}

/* Does a write to RAM page gpa reach RAM (PAM write enable in the BIOS areas)? */
bool page_ram_writable(struct machine *m, uint32_t gpa)
{
    int pam = pam_of(m, gpa);
    return pam < 0 || (pam & I440BX_PAM_WE);
}

/* Offset into the ROM memfd for a ROM-backed physical page, or -1. */
int64_t rom_offset(struct machine *m, uint32_t gpa)
{
    int pam = pam_of(m, gpa);

    if (!m->rom_size)
        return -1;
    if (gpa >= (uint32_t)(WINDOW_SIZE - m->rom_size))
        return gpa - (uint32_t)(WINDOW_SIZE - m->rom_size);
    if (pam >= 0 && (pam & I440BX_PAM_RE))
        return -1;
    if (m->rom_size >= LOW_ROM_SIZE && gpa >= LOW_ROM_BASE && gpa < LOW_ROM_BASE + LOW_ROM_SIZE)
        return m->rom_size - LOW_ROM_SIZE + (gpa - LOW_ROM_BASE);
    return -1;
}

/* Map the phys window's view of the BIOS areas as the PAM registers say, page by page:
 * shadow RAM (read-only unless write-enabled and unprotected), the ROM copy, or nothing
 * (the bus: reads and writes emulated). Paged windows and translations made from the
 * area are dropped: what the addresses hold has changed. */
void mmu_pam_changed(struct machine *m)
{
    struct mmu *mmu = m->mmu;

    if (!mmu)
        return;
    for (uint32_t a = PAM_BASE; a < 0x100000u; a += PAGE) {
        uint8_t *at = mmu->phys.base + a;
        int64_t ro = rom_offset(m, a);

        if (page_is_ram(m, a)) {
            int prot = PROT_READ;
            if (page_ram_writable(m, a) && !protected_page(mmu, a / PAGE))
                prot |= PROT_WRITE;
            if (map_fixed(at, PAGE, prot, m->ram_fd, a) == 0)
                wprot__mapped(mmu, at, PAGE);
        } else if (ro >= 0) {
            map_fixed(at, PAGE, PROT_READ, m->rom_fd, ro);
        } else {
            mmap(at, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                 -1, 0);
        }
        if (m->bt)
            bt__invalidate_page(m, a);
    }
    mmu__flush_all(m);
}

void mmu__a20_changed(struct machine *m)
{
    struct mmu *mmu = m->mmu;
    bool closed = !(m->cpu->a20_mask & 0x100000u);
    const uint32_t hma = 0x100000u, len = 0x10000u;

    if (!mmu || m->ram_size < hma + len)
        return;
    /* The HMA's pages now show other bytes: drop translations from both views. */
    for (uint32_t a = 0; a < len; a += PAGE) {
        if (m->bt) {
            bt__invalidate_page(m, a);
            bt__invalidate_page(m, hma + a);
        }
    }
    /* Closed: an alias of 0-64 KiB, read-only so that every write through it is emulated
     * (and reaches the code-page bookkeeping of the page it really hits). */
    if (map_fixed(mmu->phys.base + hma, len, closed ? PROT_READ : PROT_READ | PROT_WRITE,
                  m->ram_fd, closed ? 0 : hma) == 0)
        wprot__mapped(mmu, mmu->phys.base + hma, len);
    for (uint32_t a = 0; !closed && a < len; a += PAGE) /* keep code pages write-protected */
        if (protected_page(mmu, (hma + a) / PAGE))
            wprot__set(mmu, mmu->phys.base + hma + a, PAGE, false);
    mmu__flush_all(m);
}
