/*
 * Unsynced page tables.
 *
 * A traced page table costs a host fault and an emulated store per write,
 * and the kernel writes them in bursts: fork write-protects every entry of
 * the parent's tables and fills the child's, exit and exec clear whole
 * tables. The architecture does not ask the shadow to follow each store,
 * only to be no staler than a TLB: a changed entry must take effect by the
 * next CR3 load or INVLPG of its address, and a page fault re-reads the
 * entry of the faulting address (the hidden-fault path always walks the
 * guest's current tables, so that holds already).
 *
 * So the first write fault on a page table (not the current page directory,
 * not a page holding translations) snapshots the page and leaves it
 * writable: the guest's further stores run natively. A CR3 load brings every
 * such page back under write protection and applies what differs from the
 * snapshot through mmu_table_written(), the same path a traced store takes;
 * INVLPG applies one entry. Differences that only set A or D need nothing:
 * they never take away a right a shadow mapping grants. A walk that makes a
 * mapping (or a lookup) from an entry of an unsynced page first applies that
 * entry and takes its value into the snapshot, so the snapshot always holds
 * what the shadow was built from. A page that no window uses as a table any
 * more (its page-directory entries moved on: freed page tables, reused as
 * data) is not traced again until a walk meets it.
 *
 * A page that changed since the last flush stays writable across the CR3
 * load (its differences applied, a new snapshot taken): the kernel writes
 * the same tables again and again (every fork write-protects the parent's
 * entries, every exit clears the child's), and protecting them at each
 * flush cost a fault and an mprotect per window at the next write. A page
 * that did not change over a few CR3 loads is protected again, so the set
 * stays small; the directory the new CR3 names always is.
 *
 * Directories other than the current one are unsynced too: nothing walks
 * them before the CR3 load that resyncs them. Linux zeroes a new address
 * space's directory and copies the kernel's entries back in (pgd_alloc); its
 * pages come back hot, so the directory is usually the one a window for the
 * same CR3 still holds, and applying the writes one by one emptied that
 * window's kernel half on every fork. Compared with the snapshot, the
 * kernel half did not change at all.
 */
#include <stdlib.h>
#include <string.h>

#include "mmu-shadow/internal.h"
#include "mmu-shadow/walk.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/stats.h"

#define UNSYNC_MAX 128u /* pages at once; the oldest is resynced to make room */

#define UNSYNC_KEEP 64u /* pages left writable across a CR3 load */
#define UNSYNC_QUIET 4u  /* CR3 loads without a change before a page is protected again */

struct unsync_page {
    uint32_t pn;
    uint32_t quiet;        /* CR3 loads since the page last changed */
    uint32_t snap[1024];   /* what the shadow follows: mappings come from these values */
};

static bool is_directory(struct mmu *mmu, uint32_t pn)
{
    for (int i = 0; i < MMU_WINDOWS; i++)
        if (mmu->win[i].used && mmu->win[i].cr3 / PAGE == pn)
            return true;
    return false;
}

/* Does some window still reach page pn as a page table (or directory)? Drops the
 * dependencies that are gone on the way. */
static bool still_table(struct machine *m, uint32_t pn)
{
    struct mmu *mmu = m->mmu;

    if (is_directory(mmu, pn))
        return true;
    for (struct rmap_node **pp = &mmu->deps[pn], *n; (n = *pp);) {
        struct window *w = win_of(mmu, n->win);
        const uint32_t *pde = NULL;
        if (n->gen == w->gen && w->used)
            pde = (const uint32_t *)machine__gpa(m, w->cr3 + n->lin * 4, 4);
        if (pde && (*pde & PTE_P) && !((*pde & PTE_PS) && (m->cpu->cr4 & CR4_PSE)) &&
            (*pde & 0xfffff000u) / PAGE == pn)
            return true;
        /* (a directory entry that moved on was a traced write: its range is unmapped) */
        *pp = n->next;
        free(n);
    }
    return false;
}

/* Does going from entry o to entry n take anything from a mapping made from o? */
static bool matters(uint32_t o, uint32_t n)
{
    return ((o ^ n) & ~(PTE_A | PTE_D)) || (o & ~n & (PTE_A | PTE_D));
}

static bool moves_frame(uint32_t o, uint32_t n)
{
    return ((o ^ n) & (0xfffff000u | PTE_P | PTE_US)) != 0;
}

/* Apply the differences between the snapshot and the page's contents, in runs. */
static void apply(struct machine *m, const struct unsync_page *u)
{
    uint32_t pn = u->pn;
    const uint32_t *snap = u->snap;
    const uint32_t *cur = (const uint32_t *)machine__gpa(m, pn * PAGE, PAGE);
    uint32_t first = 0, last = 0;
    bool open = false, frames = false;

    for (uint32_t i = 0; i <= 1024; i++) {
        uint32_t o = i < 1024 ? snap[i] : 0, n = i < 1024 ? cur[i] : 0;
        if (i < 1024 && matters(o, n)) {
            if (!open)
                first = i, frames = false;
            open = true;
            last = i;
            frames |= moves_frame(o, n);
            continue;
        }
        /* An entry that was and is not present maps nothing: a run may span it. */
        if (i < 1024 && open && o == n && !(o & PTE_P))
            continue;
        if (open)
            mmu_table_written(m, pn, first, last, frames);
        open = false;
    }
}

static int slot_of(struct mmu *mmu, uint32_t pn)
{
    for (unsigned i = 0; i < mmu->nunsync; i++)
        if (mmu->unsync[i].pn == pn)
            return (int)i;
    return -1;
}

static void resync_slot(struct machine *m, unsigned i)
{
    struct mmu *mmu = m->mmu;
    struct unsync_page *u = &mmu->unsync[i];
    uint32_t pn = u->pn;

    set_bit(mmu->unsynced, pn, false);
    if (!still_table(m, pn)) {
        set_bit(mmu->table_pages, pn, false);
        STAT_INC(mmu_untraced);
    } else {
        mmu_downgrade(m, pn); /* first: no store may slip in between */
        apply(m, u);
    }
    STAT_INC(mmu_resyncs);
    mmu->nunsync--;
    if (i != mmu->nunsync)
        memcpy(u, &mmu->unsync[mmu->nunsync], sizeof(*u));
}

bool unsync__try(struct machine *m, uint32_t pn)
{
    struct mmu *mmu = m->mmu;
    const void *page = machine__gpa(m, pn * PAGE, PAGE);
    struct unsync_page *u;

    /* The directory CR3 points at is walked at every hidden fault: it stays in sync. Any
     * other one is only used again after a CR3 load, which resyncs everything first. */
    if (mmu->no_unsync || !page || pn == (m->cpu->cr3 & 0xfffff000u) / PAGE)
        return false;
    if (!mmu->unsync && !(mmu->unsync = malloc(UNSYNC_MAX * sizeof(*mmu->unsync))))
        die("out of memory");
    if (mmu->nunsync == UNSYNC_MAX) {
        mmu->unsync_next = (mmu->unsync_next + 1) % UNSYNC_MAX;
        resync_slot(m, mmu->unsync_next);
    }
    u = &mmu->unsync[mmu->nunsync++];
    u->pn = pn;
    u->quiet = 0;
    memcpy(u->snap, page, PAGE);
    set_bit(mmu->unsynced, pn, true);
    STAT_INC(mmu_unsyncs);
    return true;
}

void unsync__page(struct machine *m, uint32_t pn)
{
    int i = slot_of(m->mmu, pn);

    if (i >= 0)
        resync_slot(m, (unsigned)i);
}

void unsync__all(struct machine *m)
{
    struct mmu *mmu = m->mmu;
    uint32_t dir = (m->cpu->cr3 & 0xfffff000u) / PAGE;
    unsigned kept = 0;

    for (unsigned i = mmu->nunsync; i-- > 0;) {
        struct unsync_page *u = &mmu->unsync[i];
        const void *cur = machine__gpa(m, u->pn * PAGE, PAGE);

        /* Written lately: apply, and leave it writable for the next rounds (the kernel
         * writes the same tables fork after fork, a few CR3 loads apart). Quiet for a
         * while, the directory CR3 now names, or too many kept: write-protect it again. */
        if (u->pn != dir && kept < UNSYNC_KEEP && cur && still_table(m, u->pn)) {
            if (memcmp(u->snap, cur, PAGE)) {
                apply(m, u);
                memcpy(u->snap, cur, PAGE);
                u->quiet = 0;
            } else if (++u->quiet >= UNSYNC_QUIET) {
                resync_slot(m, i);
                continue;
            }
            kept++;
            STAT_INC(mmu_resyncs_kept);
            continue;
        }
        resync_slot(m, i);
    }
}

void unsync__entry(struct machine *m, uint32_t pn, uint32_t idx)
{
    struct mmu *mmu = m->mmu;
    const uint32_t *cur = (const uint32_t *)machine__gpa(m, pn * PAGE, PAGE);
    int i = slot_of(mmu, pn);
    uint32_t *o;

    if (i < 0 || !cur)
        return;
    o = &mmu->unsync[i].snap[idx];
    if (matters(*o, cur[idx]))
        mmu_table_written(m, pn, idx, idx, moves_frame(*o, cur[idx]));
    *o = cur[idx];
}

void unsync__reset(struct machine *m)
{
    struct mmu *mmu = m->mmu;

    for (unsigned i = 0; i < mmu->nunsync; i++)
        set_bit(mmu->unsynced, mmu->unsync[i].pn, false);
    mmu->nunsync = 0;
}

void unsync__destroy(struct machine *m)
{
    free(m->mmu->unsync);
    m->mmu->unsync = NULL;
    m->mmu->nunsync = 0;
}
