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
 * they never take away a right a shadow mapping grants. An entry a walk used
 * while the page was unsynced is applied whatever it holds: the mapping may
 * come from a value in between (set, mapped, then cleared back to what the
 * snapshot has). A page that no window uses as a table any more (its
 * page-directory entries moved on: freed page tables, reused as data) is not
 * traced again until a walk meets it.
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

struct unsync_page {
    uint32_t pn;
    uint32_t snap[1024];
    uint32_t walked[32];   /* bit per entry a mapping or lookup was made from since */
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

static bool was_walked(const struct unsync_page *u, uint32_t i)
{
    return u->walked[i / 32] & (1u << (i % 32));
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
        bool walked = i < 1024 && was_walked(u, i);
        if (i < 1024 && (matters(o, n) || walked)) {
            if (!open)
                first = i, frames = false;
            open = true;
            last = i;
            frames |= moves_frame(o, n) || walked;
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
    memcpy(u->snap, page, PAGE);
    memset(u->walked, 0, sizeof(u->walked));
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
    while (m->mmu->nunsync)
        resync_slot(m, m->mmu->nunsync - 1);
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
    if (matters(*o, cur[idx]) || was_walked(&mmu->unsync[i], idx))
        mmu_table_written(m, pn, idx, idx, true);
    *o = cur[idx];
    mmu->unsync[i].walked[idx / 32] &= ~(1u << (idx % 32));
}

void unsync__walked(struct machine *m, uint32_t pn, uint32_t idx)
{
    int i = slot_of(m->mmu, pn);

    if (i >= 0)
        m->mmu->unsync[i].walked[idx / 32] |= 1u << (idx % 32);
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
