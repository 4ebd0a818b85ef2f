/*
 * Two-level page walk (see walk.h). Entries are read from guest RAM; a table
 * outside RAM reads as not present. A/D updates go straight to RAM: they are
 * the walker's own writes, and the mappings that depend on the entry are the
 * ones the caller is about to make.
 */
#include "mmu-shadow/walk.h"

#include <string.h>

#include "mmu-shadow/mem.h"
#include "monitor/machine.h"

static uint32_t *entry_at(struct machine *m, uint32_t gpa)
{
    return (uint32_t *)machine__gpa(m, gpa & m->cpu->a20_mask, 4);
}

static int pf(struct mem_fault *f, uint32_t lin, unsigned acc, bool present)
{
    if (f) {
        f->vector = 14;
        f->cr2 = lin;
        f->error_code = (present ? PFERR_P : 0) | (acc & ACC_WRITE ? PFERR_W : 0) |
                        (acc & ACC_USER ? PFERR_U : 0);
    }
    return -1;
}

int walk__lin(struct machine *m, uint32_t cr3, uint32_t lin, unsigned acc, bool set_ad,
              struct walk *w, struct mem_fault *f)
{
    struct vcpu *c = m->cpu;
    uint32_t *pdep, *ptep = NULL, pde, pte = 0, flags;
    bool user_ok, write_ok;

    memset(w, 0, sizeof(*w));
    w->pde_gpa = (cr3 & 0xfffff000u) + ((lin >> 22) << 2);
    pdep = entry_at(m, w->pde_gpa);
    pde = pdep ? __atomic_load_n(pdep, __ATOMIC_RELAXED) : 0;
    if (!(pde & PTE_P))
        return pf(f, lin, acc, false);
    if ((pde & PTE_PS) && (c->cr4 & CR4_PSE)) {
        w->large = true;
        flags = pde;
        w->gpa = (pde & 0xffc00000u) | (lin & 0x003fffffu);
    } else {
        w->pte_gpa = (pde & 0xfffff000u) + (((lin >> 12) & 0x3ff) << 2);
        ptep = entry_at(m, w->pte_gpa);
        pte = ptep ? __atomic_load_n(ptep, __ATOMIC_RELAXED) : 0;
        if (!(pte & PTE_P))
            return pf(f, lin, acc, false);
        flags = pte & (pde | ~(PTE_RW | PTE_US)); /* U/S and R/W: both levels must allow */
        w->gpa = (pte & 0xfffff000u) | (lin & 0xfffu);
    }
    user_ok = flags & PTE_US;
    write_ok = flags & PTE_RW;
    w->user = user_ok;
    if (acc & ACC_USER) {
        if (!user_ok || ((acc & ACC_WRITE) && !write_ok))
            return pf(f, lin, acc, true);
        w->writable = write_ok;
    } else {
        w->writable = write_ok || !(c->cr0 & CR0_WP);
        if ((acc & ACC_WRITE) && !w->writable)
            return pf(f, lin, acc, true);
    }
    w->global = (flags & PTE_G) && (c->cr4 & CR4_PGE);
    if (set_ad) {
        if (!(pde & PTE_A) || (w->large && (acc & ACC_WRITE) && !(pde & PTE_D)))
            __atomic_or_fetch(pdep, PTE_A | (w->large && (acc & ACC_WRITE) ? PTE_D : 0),
                              __ATOMIC_RELAXED);
        if (ptep && (!(pte & PTE_A) || ((acc & ACC_WRITE) && !(pte & PTE_D))))
            __atomic_or_fetch(ptep, PTE_A | (acc & ACC_WRITE ? PTE_D : 0), __ATOMIC_RELAXED);
    }
    w->dirty = w->large ? (*pdep & PTE_D) != 0 : (*ptep & PTE_D) != 0;
    return 0;
}
