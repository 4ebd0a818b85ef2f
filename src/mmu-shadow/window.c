/*
 * Windows, hidden faults and write protection (see window.h).
 *
 * Reverse maps are per RAM page lists of (window, linear page or PDE index,
 * window generation). Emptying a window bumps its generation, which makes
 * its entries stale without walking the lists; stale entries are dropped
 * when a list is next walked.
 */
#include "mmu-shadow/window.h"

#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bt/bt.h"
#include "devices/i440bx.h"
#include "mmu-shadow/internal.h"
#include "mmu-shadow/walk.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/stats.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

#define VMA_BUDGET 48000u         /* VMA units across windows, see charge() */
#define SELFCHECK_AFTER 32u        /* translations dropped by writes before a page self-checks */

int map_fixed(void *at, size_t len, int prot, int fd, off_t off)
{
    void *p = mmap(at, len, prot, MAP_SHARED | MAP_FIXED, fd, off);
    return p == MAP_FAILED ? -errno : 0;
}

/* (Re)reserve a window: PROT_NONE over the 4 GiB and the guard after it. The first time,
 * a guard below the base is reserved too and never touched again, so that nothing that
 * runs down from the window's start can reach whatever the host placed before it. */
static int reserve(struct mmu *mmu, struct window *w)
{
    void *p;

    if (w->base)
        p = mmap(w->base, mmu->reserved, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    else
        p = mmap(NULL, WINDOW_GUARD + mmu->reserved, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    w->base = w->base ? p : (uint8_t *)p + WINDOW_GUARD;
    w->gen++;
    mmu->total_mapped -= w->mapped < mmu->total_mapped ? w->mapped : mmu->total_mapped;
    w->mapped = 0;
    if (w != &mmu->phys) {
        if (!w->present && !(w->present = calloc(1u << 17, 1)))
            return -ENOMEM;
        memset(w->present, 0, 1u << 17);
    }
    memset(w->present4m, 0, sizeof(w->present4m));
    return 0;
}

static void mark_present(struct window *w, uint32_t lin)
{
    if (w->present) {
        w->present[lin >> 15] |= (uint8_t)(1u << ((lin >> 12) & 7));
        w->present4m[lin >> 25] |= (uint8_t)(1u << ((lin >> 22) & 7));
    }
}

/* Account for a host mapping made in window w (or a protection change that may split one):
 * each may add up to two VMAs, and the process may have at most vm.max_map_count (65530 by
 * default) of them; past VMA_BUDGET everything is dropped. Runs of pages count once, so
 * large prefetches cost no more of the budget than single pages. */
static void charge(struct mmu *mmu, struct window *w, unsigned units)
{
    w->mapped += units;
    mmu->total_mapped += units;
    if (mmu->total_mapped > stats.mmu_mapped_peak)
        stats.mmu_mapped_peak = mmu->total_mapped;
}

static bool is_present(const struct window *w, uint32_t lin)
{
    return w->present && (w->present[lin >> 15] & (1u << ((lin >> 12) & 7)));
}


int mmu__init(struct machine *m)
{
    struct mmu *mmu = calloc(1, sizeof(*mmu));
    uint64_t ram = m->ram_size < RAM_LIMIT ? m->ram_size : RAM_LIMIT;

    if (!mmu)
        return -ENOMEM;
    mmu->uffd = -1;
    mmu->reserved = WINDOW_SIZE + WINDOW_GUARD;
    mmu->ram_pages = (uint32_t)(ram / PAGE);
    mmu->code_pages = calloc(mmu->ram_pages / 8 + 1, 1);
    mmu->table_pages = calloc(mmu->ram_pages / 8 + 1, 1);
    mmu->unsynced = calloc(mmu->ram_pages / 8 + 1, 1);
    mmu->selfcheck = calloc(mmu->ram_pages / 8 + 1, 1);
    mmu->smc_writes = calloc(mmu->ram_pages + 1, 1);
    mmu->maps = calloc(mmu->ram_pages + 1, sizeof(*mmu->maps));
    mmu->deps = calloc(mmu->ram_pages + 1, sizeof(*mmu->deps));
    if (!mmu->code_pages || !mmu->table_pages || !mmu->unsynced || !mmu->selfcheck ||
        !mmu->smc_writes || !mmu->maps || !mmu->deps ||
        reserve(mmu, &mmu->phys) < 0)
        goto fail;
    wprot__init(mmu);
    if (ram && map_fixed(mmu->phys.base, ram, PROT_READ | PROT_WRITE, m->ram_fd, 0) < 0)
        goto fail;
    if (ram)
        wprot__mapped(mmu, mmu->phys.base, ram);
    if (m->rom_size) {
        /* The whole image below 4 GiB; its last 128 KiB also below 1 MiB. */
        if (map_fixed(mmu->phys.base + WINDOW_SIZE - m->rom_size, m->rom_size, PROT_READ,
                      m->rom_fd, 0) < 0)
            goto fail;
        if (m->rom_size >= LOW_ROM_SIZE &&
            map_fixed(mmu->phys.base + LOW_ROM_BASE, LOW_ROM_SIZE, PROT_READ, m->rom_fd,
                      m->rom_size - LOW_ROM_SIZE) < 0)
            goto fail;
    }
    mmu->phys.used = true;
    mmu->active = &mmu->phys;
    m->mmu = mmu;
    i440bx__set_pam_hook(m, mmu_pam_changed);
    if (i440bx__pam(m, 0xc0000u) >= 0)
        mmu_pam_changed(m);
    mmu->use_wrgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
    m->mmu = mmu;
    return 0;
fail:
    m->mmu = mmu;
    mmu__destroy(m);
    return -ENOMEM;
}

static void free_list(struct rmap_node **head)
{
    while (*head) {
        struct rmap_node *n = *head;
        *head = n->next;
        free(n);
    }
}

void mmu__destroy(struct machine *m)
{
    struct mmu *mmu = m->mmu;

    if (!mmu)
        return;
    i440bx__set_pam_hook(m, NULL);
    if (mmu->phys.base)
        munmap(mmu->phys.base - WINDOW_GUARD, WINDOW_GUARD + mmu->reserved);
    for (int i = 0; i < MMU_WINDOWS; i++) {
        if (mmu->win[i].base)
            munmap(mmu->win[i].base - WINDOW_GUARD, WINDOW_GUARD + mmu->reserved);
        free(mmu->win[i].present);
    }
    for (uint32_t i = 0; mmu->maps && mmu->deps && i <= mmu->ram_pages; i++) {
        free_list(&mmu->maps[i]);
        free_list(&mmu->deps[i]);
    }
    free(mmu->maps);
    free(mmu->deps);
    free(mmu->code_pages);
    free(mmu->table_pages);
    unsync__destroy(m);
    wprot__fini(mmu);
    free(mmu->unsynced);
    free(mmu->selfcheck);
    free(mmu->smc_writes);
    free(mmu);
    m->mmu = NULL;
}

static void set_gs(struct machine *m)
{
    struct mmu *mmu = m->mmu;
    uint64_t base = (uint64_t)mmu->active->base;

    m->cpu->window = base;
    m->cpu->window_neg = -base;
    if (mmu->use_wrgsbase)
        __asm__ volatile("wrgsbase %0" ::"r"(base) : "memory");
    else if (syscall(SYS_arch_prctl, ARCH_SET_GS, base) != 0)
        die("arch_prctl(ARCH_SET_GS) failed: %s", strerror(errno));
}

void mmu__activate(struct machine *m)
{
    set_gs(m);
}

/* Record (window, lin) in a reverse-map list, dropping the stale entries met on the way:
 * lists of pages that are never protected are walked only here, and would otherwise grow
 * with every window that is emptied and refilled. */
static void add_node(struct mmu *mmu, struct rmap_node **head, unsigned win, uint32_t gen,
                     uint32_t lin)
{
    struct rmap_node *n;

    for (struct rmap_node **pp = head; (n = *pp);) {
        if (n->gen != win_of(mmu, n->win)->gen) {
            *pp = n->next;
            free(n);
            continue;
        }
        if (n->win == win && n->lin == lin)
            return;
        pp = &n->next;
    }
    n = malloc(sizeof(*n));
    if (!n)
        die("out of memory");
    n->win = (uint16_t)win;
    n->gen = gen;
    n->lin = lin;
    n->next = *head;
    *head = n;
}

void mmu__flush_all(struct machine *m)
{
    struct mmu *mmu = m->mmu;

    for (int i = 0; i < MMU_WINDOWS; i++) {
        struct window *w = &mmu->win[i];
        if (!w->used)
            continue;
        if (reserve(mmu, w) < 0)
            die("cannot empty a guest address window: %s", strerror(errno));
        w->used = false;
    }
    memset(mmu->table_pages, 0, mmu->ram_pages / 8 + 1);
    unsync__reset(m);
    if (mmu->active != &mmu->phys)
        mmu->active = NULL;
    bt__paging_changed(m);
}

static struct window *find_window(struct machine *m, uint32_t cr3, bool user)
{
    struct mmu *mmu = m->mmu;
    struct window *victim = NULL;

    for (int i = 0; i < MMU_WINDOWS; i++) {
        struct window *w = &mmu->win[i];
        if (w->used && w->cr3 == cr3 && w->user == user) {
            w->stamp = ++mmu->stamp;
            return w;
        }
        /* The victim: an unused window if there is one, else the least recently used. */
        if (!victim || (victim->used && (!w->used || w->stamp < victim->stamp)))
            victim = w;
    }
    if (victim->used || !victim->base) {
        uint32_t old = victim->cr3;
        bool was_used = victim->used, shared = false;
        if (reserve(mmu, victim) < 0)
            die("cannot reserve a guest address window: %s", strerror(errno));
        victim->used = false;
        for (int i = 0; i < MMU_WINDOWS; i++)
            shared |= mmu->win[i].used && mmu->win[i].cr3 == old;
        /* Nothing traces that address space's tables now: its lookup tables go too. */
        if (was_used && !shared)
            bt__forget_space(m, old);
        STAT_INC(mmu_windows_evicted);
    }
    if (cr3 / PAGE < mmu->ram_pages && bit(mmu->unsynced, cr3 / PAGE))
        unsync__page(m, cr3 / PAGE); /* page directories are always kept in sync */
    victim->used = true;
    victim->cr3 = cr3;
    victim->user = user;
    victim->stamp = ++mmu->stamp;
    STAT_INC(mmu_windows_created);
    return victim;
}

void mmu__sync(struct machine *m)
{
    struct mmu *mmu = m->mmu;
    struct vcpu *c = m->cpu;
    struct window *want;

    if (!(c->cr0 & CR0_PG)) {
        want = &mmu->phys;
    } else {
        uint32_t bits = (c->cr0 & CR0_WP) | (c->cr4 & (CR4_PSE | CR4_PGE));
        if (bits != mmu->paging_bits) {
            mmu__flush_all(m);
            mmu->paging_bits = bits;
        }
        want = mmu->active;
        if (!want || want == &mmu->phys || want->cr3 != (c->cr3 & 0xfffff000u) ||
            want->user != (vcpu_cpl(c) == 3))
            want = find_window(m, c->cr3 & 0xfffff000u, vcpu_cpl(c) == 3);
    }
    if (want != mmu->active) {
        mmu->active = want;
        set_gs(m);
        STAT_INC(mmu_window_switches);
    }
}

/* Unmap linear pages [lin, lin+len) of window w: only the runs that may be mapped, so the
 * common page-table write (an entry going from not present to present) costs no syscall. */
static void unmap_range(struct machine *m, struct window *w, uint32_t lin, uint64_t len,
                        bool code)
{
    uint32_t first = lin >> 12, n = (uint32_t)(len >> 12), lo = ~0u, hi = 0;

    /* One mmap from the first mapped page to the last: the pages between that are not
     * mapped are PROT_NONE reservation already, and stay so. */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pg = first + i;
        if (pg >= (1u << 20))
            break;
        if (w->present && !(pg & 1023) && n - i >= 1024 &&
            !(w->present4m[pg >> 13] & (1u << ((pg >> 10) & 7)))) {
            i += 1023; /* nothing was ever mapped in this 4 MiB region */
            continue;
        }
        if (!w->present || (w->present[pg >> 3] & (1u << (pg & 7)))) {
            if (w->present)
                w->present[pg >> 3] &= (uint8_t) ~(1u << (pg & 7));
            lo = lo == ~0u ? pg : lo;
            hi = pg;
        }
    }
    if (lo != ~0u)
        mmap(w->base + ((uint64_t)lo << 12), (uint64_t)(hi - lo + 1) << 12, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (first < WINDOW_GUARD / PAGE) /* the wrap-around copies behind the window too */
        mmap(w->base + WINDOW_SIZE, WINDOW_GUARD, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (code)
        bt__lin_unmapped(m, w->cr3, lin, (uint32_t)(len - 1));
}

void mmu_downgrade(struct machine *m, uint32_t pn)
{
    struct mmu *mmu = m->mmu;

    for (struct rmap_node **pp = &mmu->maps[pn], *n; (n = *pp);) {
        struct window *w = win_of(mmu, n->win);
        if (n->gen != w->gen) {
            *pp = n->next;
            free(n);
            continue;
        }
        /* Only a page still mapped: mprotect on an unmapped (PROT_NONE anonymous) page
         * would make it readable zeros, and the guest would read them instead of faulting.
         * A page remapped elsewhere since merely takes one more fault. */
        if (w == &mmu->phys)
            wprot__set(mmu, w->base + n->lin, PAGE, false);
        else if (w->present[n->lin >> 15] & (1u << ((n->lin >> 12) & 7))) {
            mprotect(w->base + n->lin, PAGE, PROT_READ); /* (paged windows: see wprot.c) */
            charge(mmu, w, 2);
        }
        pp = &n->next;
    }
}

bool protected_page(struct mmu *mmu, uint32_t pn)
{
    return pn < mmu->ram_pages && (bit(mmu->code_pages, pn) ||
                                   (bit(mmu->table_pages, pn) && !bit(mmu->unsynced, pn)));
}


/* Mark a page as a page directory or table of window w (write-protect it everywhere). */
static void trace_table(struct machine *m, uint32_t gpa)
{
    struct mmu *mmu = m->mmu;
    uint32_t pn = gpa / PAGE;

    if (pn >= mmu->ram_pages || bit(mmu->table_pages, pn))
        return;
    set_bit(mmu->table_pages, pn, true);
    if (!bit(mmu->code_pages, pn))
        mmu_downgrade(m, pn);
    if (m->cpu->cr0 & CR0_PG)
        wprot__set(mmu, mmu->phys.base + (uint64_t)pn * PAGE, PAGE, false);
}

/* A mapping or lookup is being made from the page-table entry at pte_gpa. */
static void uses_entry(struct machine *m, uint32_t pte_gpa)
{
    struct mmu *mmu = m->mmu;
    uint32_t pn = pte_gpa / PAGE;

    trace_table(m, pte_gpa & ~(PAGE - 1));
    if (pn < mmu->ram_pages && bit(mmu->unsynced, pn))
        unsync__entry(m, pn, (pte_gpa % PAGE) / 4); /* (folded into the snapshot) */
}

#define PREFETCH_PAGES 64u /* a hidden fault also maps the rest of this aligned group */

/* Map run_len pages at run_lin (memfd from run_gpa) in one mmap, then write-protect the
 * pages in ro[] that the guest may write but tracing may not (page tables, code): in the
 * middle of a run, one mprotect instead of splitting it into three mmaps (a page table
 * among the kernel's direct-mapped pages was two thirds of the mmaps of an exec). No guest
 * store can come in between: only the vCPU runs guest code, and it is here. */
static void map_run(struct machine *m, struct window *w, uint32_t run_lin, uint32_t run_gpa,
                    uint32_t run_len, int prot, const uint32_t *ro, int nro)
{
    struct mmu *mmu = m->mmu;

    if (map_fixed(w->base + run_lin, run_len * PAGE, prot, m->ram_fd, run_gpa) < 0)
        return;
    for (int k = 0; k < nro; k++) {
        uint64_t rest = (uint64_t)run_lin + (uint64_t)run_len * PAGE - ro[k];
        if (mprotect(w->base + ro[k], PAGE, PROT_READ) == 0) {
            charge(mmu, w, 2);
            continue;
        }
        /* Out of VMAs: the page and the rest of the run not mapped at all, never writable. */
        if (mmap(w->base + ro[k], rest, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
            die("cannot take back a shadow mapping: %s", strerror(errno));
        run_len = (ro[k] - run_lin) / PAGE;
        break;
    }
    for (uint32_t k = 0; k < run_len; k++) {
        add_node(mmu, &mmu->maps[run_gpa / PAGE + k], (unsigned)(w - mmu->win), w->gen,
                 run_lin + k * PAGE);
        mark_present(w, run_lin + k * PAGE);
    }
    charge(mmu, w, 2);
    STAT_ADD(mmu_pages_mapped, run_len);
}

/* Map the neighbours of a page just mapped, in as few mmap calls as possible: those not
 * mapped yet whose entries the guest has already marked accessed (so no A bit is owed) and
 * that plain RAM backs. Writable only when dirty, as for the faulting page. (Mapping a page
 * again as it is costs an mmap for nothing: half of all mmaps of a fork-heavy guest were
 * such.) */
static void prefetch(struct machine *m, struct window *w, uint32_t lpage, bool self)
{
    struct mmu *mmu = m->mmu;
    uint32_t first = lpage & ~(PREFETCH_PAGES * PAGE - 1);
    uint32_t run_lin = 0, run_gpa = 0, run_len = 0, ro[PREFETCH_PAGES];
    int run_prot = 0, nro = 0;

    for (uint32_t i = 0; i <= PREFETCH_PAGES; i++) {
        uint32_t lin = first + i * PAGE, gpa = 0;
        int prot = 0;
        bool protect = false;
        struct walk wk;

        if (i < PREFETCH_PAGES && (self || lin != lpage) && !is_present(w, lin) &&
            walk__lin(m, w->cr3, lin, w->user ? ACC_USER : 0, false, &wk, NULL) == 0) {
            uint32_t *e = (uint32_t *)machine__gpa(m, wk.large ? wk.pde_gpa : wk.pte_gpa, 4);
            gpa = wk.gpa & ~(PAGE - 1);
            if (e && (*e & PTE_A) && page_is_ram(m, gpa)) {
                prot = PROT_READ;
                if (wk.writable && wk.dirty && page_ram_writable(m, gpa)) {
                    prot |= PROT_WRITE;
                    protect = protected_page(mmu, gpa / PAGE);
                }
                if (!wk.large)
                    uses_entry(m, wk.pte_gpa);
            }
        }
        if (run_len && (!prot || prot != run_prot || gpa != run_gpa + run_len * PAGE)) {
            map_run(m, w, run_lin, run_gpa, run_len, run_prot, ro, nro);
            run_len = 0;
            nro = 0;
        }
        if (!prot)
            continue;
        if (!run_len) {
            run_lin = lin;
            run_gpa = gpa;
            run_prot = prot;
        }
        if (protect)
            ro[nro++] = lin;
        run_len++;
    }
}

/* The process's VMAs, counted in /proc/self/maps, or -1. */
static long count_vmas(void)
{
    static char buf[1 << 16];
    long n = 0;
    ssize_t got;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    while ((got = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < got; i++)
            n += buf[i] == '\n';
    close(fd);
    return got < 0 ? -1 : n;
}

/* The charges passed the budget. They are an upper bound (mappings that merge again are
 * never refunded): count what the host really has, and only when that is near the limit
 * too, drop everything. The mapping just made may go; the access simply faults again. */
static void over_budget(struct machine *m)
{
    struct mmu *mmu = m->mmu;
    long n = count_vmas();

    if (n >= 0 && n < (long)VMA_BUDGET / 2) {
        for (int i = 0; i < MMU_WINDOWS; i++)
            mmu->win[i].mapped = 0;
        mmu->total_mapped = (uint64_t)n;
        STAT_INC(mmu_vma_recounts);
        return;
    }
    mmu__flush_all(m);
}

/* A hidden fault in a paged window: walk, then map the page (and record why). */
static enum mmu_fault_result map_paged(struct machine *m, struct window *w, uint64_t off,
                                       bool write, struct mem_fault *f)
{
    struct mmu *mmu = m->mmu;
    uint32_t lin = (uint32_t)off, lpage = (uint32_t)(off & ~(uint64_t)(PAGE - 1));
    unsigned acc = (write ? ACC_WRITE : 0) | (w->user ? ACC_USER : 0);
    struct walk wk;
    uint32_t gpage, pn;
    int prot;
    int64_t ro;

    if (walk__lin(m, w->cr3, lin, acc, true, &wk, f) < 0) {
        STAT_INC(mmu_true_faults);
        return MMU_FAULT_GUEST;
    }
    gpage = wk.gpa & ~(PAGE - 1);
    pn = gpage / PAGE;
    LOG(MMU, 3, "hidden %s fault cr3 %08x %s lin %08x gpa %08x%s%s%s%s", write ? "write" : "read",
        w->cr3, w->user ? "user" : "kernel", lin, wk.gpa, is_present(w, lpage) ? " (mapped)" : "",
        pn < mmu->ram_pages && bit(mmu->table_pages, pn) ? " table" : "",
        pn < mmu->ram_pages && bit(mmu->code_pages, pn) ? " code" : "", wk.large ? " large" : "");
    trace_table(m, w->cr3);
    if (!wk.large) {
        uses_entry(m, wk.pte_gpa);
        if ((wk.pte_gpa / PAGE) < mmu->ram_pages)
            add_node(mmu, &mmu->deps[wk.pte_gpa / PAGE], (unsigned)(w - mmu->win), w->gen,
                     lin >> 22);
    }
    if (!page_is_ram(m, gpage)) {
        ro = rom_offset(m, gpage);
        if (ro < 0 || write)
            return MMU_FAULT_EMULATE;
        if (map_fixed(w->base + lpage, PAGE, PROT_READ, m->rom_fd, ro) < 0)
            return MMU_FAULT_EMULATE;
    } else {
        if (write && pn < mmu->ram_pages && bit(mmu->table_pages, pn) &&
            !bit(mmu->code_pages, pn) && !bit(mmu->unsynced, pn))
            unsync__try(m, pn);
        if (write && (protected_page(mmu, pn) || !page_ram_writable(m, gpage)))
            return MMU_FAULT_EMULATE;
        /* With its accessed neighbours: one run, one mmap, where it used to be the page's
         * own and one for the run on either side of it. (Not when it is mapped already,
         * read-only, and this is its first write.) */
        if (!is_present(w, lpage)) {
            prefetch(m, w, lpage, true);
            if (is_present(w, lpage))
                goto mapped;
        }
        prot = PROT_READ;
        if (wk.writable && wk.dirty && !protected_page(mmu, pn) && page_ram_writable(m, gpage))
            prot |= PROT_WRITE;
        if (map_fixed(w->base + lpage, PAGE, prot, m->ram_fd, gpage) < 0)
            return MMU_FAULT_EMULATE;
        add_node(mmu, &mmu->maps[pn], (unsigned)(w - mmu->win), w->gen, lpage);
    }
    mark_present(w, lpage);
    charge(mmu, w, 2);
    STAT_INC(mmu_pages_mapped);
    prefetch(m, w, lpage, false);
mapped:
    STAT_INC(mmu_hidden_faults);
    if (mmu->total_mapped > VMA_BUDGET)
        over_budget(m);
    return MMU_FAULT_RETRY;
}

void mmu__refault_hint(struct machine *m, uint32_t lin)
{
    struct mmu *mmu = m->mmu;

    mmu->hint_lin = lin;
    mmu->hint_cr3 = m->cpu->cr3 & 0xfffff000u;
    mmu->hint = true;
}

void mmu__refault(struct machine *m)
{
    struct mmu *mmu = m->mmu;
    struct window *w;
    struct walk wk;
    uint32_t lpage = mmu->hint_lin & ~(PAGE - 1);

    if (!mmu->hint)
        return;
    mmu->hint = false;
    if (!(m->cpu->cr0 & CR0_PG) || (m->cpu->cr3 & 0xfffff000u) != mmu->hint_cr3)
        return;
    mmu__sync(m);
    w = mmu->active;
    if (!w || w == &mmu->phys || is_present(w, lpage) ||
        walk__lin(m, w->cr3, lpage, w->user ? ACC_USER : 0, false, &wk, NULL) < 0)
        return;
    /* As a hidden fault would: the directory traced, the table's users known. */
    trace_table(m, w->cr3);
    if (!wk.large && wk.pte_gpa / PAGE < mmu->ram_pages)
        add_node(mmu, &mmu->deps[wk.pte_gpa / PAGE], (unsigned)(w - mmu->win), w->gen,
                 lpage >> 22);
    prefetch(m, w, lpage, true);
    if (is_present(w, lpage))
        STAT_INC(mmu_refaults_premapped);
    if (mmu->total_mapped > VMA_BUDGET)
        over_budget(m);
}

enum mmu_fault_result mmu__handle_fault(struct machine *m, uint64_t addr, bool write,
                                        uint32_t *linear, struct mem_fault *f)
{
    struct mmu *mmu = m->mmu;
    struct window *w = mmu->active;
    uint64_t off;

    if (!w)
        return MMU_FAULT_OUTSIDE;
    off = addr - (uint64_t)w->base;
    if (off >= mmu->reserved)
        return MMU_FAULT_OUTSIDE;
    *linear = (uint32_t)off;
    if (w != &mmu->phys) {
        if (off >= WINDOW_SIZE) {
            /* Straddled 0xffffffff: map the wrapped page behind the window as well. */
            struct walk wk;
            uint32_t lin = (uint32_t)(off - WINDOW_SIZE);
            unsigned acc = (write ? ACC_WRITE : 0) | (w->user ? ACC_USER : 0);
            if (walk__lin(m, w->cr3, lin, acc, true, &wk, f) < 0)
                return MMU_FAULT_GUEST;
            trace_table(m, w->cr3);
            if (!wk.large && wk.pte_gpa / PAGE < mmu->ram_pages) {
                uses_entry(m, wk.pte_gpa);
                add_node(mmu, &mmu->deps[wk.pte_gpa / PAGE], (unsigned)(w - mmu->win), w->gen,
                         lin >> 22);
            }
            if (!page_is_ram(m, wk.gpa & ~(PAGE - 1)) || protected_page(mmu, wk.gpa / PAGE) ||
                map_fixed(w->base + (off & ~(uint64_t)(PAGE - 1)), PAGE,
                          PROT_READ | (wk.writable && wk.dirty ? PROT_WRITE : 0), m->ram_fd,
                          wk.gpa & ~(PAGE - 1)) < 0)
                return MMU_FAULT_EMULATE;
            add_node(mmu, &mmu->maps[wk.gpa / PAGE], (unsigned)(w - mmu->win), w->gen,
                     (uint32_t)(off & ~(uint64_t)(PAGE - 1)));
            return MMU_FAULT_RETRY;
        }
        return map_paged(m, w, off, write, f);
    }
    if (off >= WINDOW_SIZE) {
        /* Paging off and an access straddled 0xffffffff: mirror the wrapped RAM page. */
        uint32_t page = (uint32_t)(off - WINDOW_SIZE) & ~(PAGE - 1);
        *linear = page + (uint32_t)(off & (PAGE - 1));
        if (!page_is_ram(m, page) || protected_page(mmu, page / PAGE) ||
            map_fixed(w->base + WINDOW_SIZE + page, PAGE, PROT_READ | PROT_WRITE, m->ram_fd,
                      page) < 0)
            return MMU_FAULT_EMULATE;
        wprot__mapped(mmu, w->base + WINDOW_SIZE + page, PAGE);
        add_node(mmu, &mmu->maps[page / PAGE], MMU_WINDOWS, w->gen, (uint32_t)WINDOW_SIZE + page);
        return MMU_FAULT_RETRY;
    }
    return MMU_FAULT_EMULATE;
}

int mmu__fetch_phys(struct machine *m, uint32_t lin, uint32_t *gpa, bool *global,
                    struct mem_fault *f)
{
    struct vcpu *c = m->cpu;
    struct window *w;
    struct walk wk;

    if (global)
        *global = false;
    if (!(c->cr0 & CR0_PG)) {
        *gpa = lin & c->a20_mask;
        return 0;
    }
    if (walk__lin(m, c->cr3, lin, ACC_FETCH | (vcpu_cpl(c) == 3 ? ACC_USER : 0), true, &wk, f) < 0)
        return -1;
    *gpa = wk.gpa;
    if (global)
        *global = wk.global;
    /* Lookup tables remember where linear EIPs lead: the tables that say so are traced
     * like those of data accesses, so that a changed entry reaches bt__lin_unmapped(). */
    w = m->mmu->active;
    if (w && w != &m->mmu->phys && w->cr3 == (c->cr3 & 0xfffff000u)) {
        trace_table(m, w->cr3);
        if (!wk.large && wk.pte_gpa / PAGE < m->mmu->ram_pages) {
            uses_entry(m, wk.pte_gpa);
            add_node(m->mmu, &m->mmu->deps[wk.pte_gpa / PAGE], (unsigned)(w - m->mmu->win),
                     w->gen, lin >> 22);
        }
    }
    return 0;
}

void mmu__protect_code(struct machine *m, uint32_t gpa)
{
    struct mmu *mmu = m->mmu;
    uint32_t pn = gpa / PAGE;

    if (pn >= mmu->ram_pages || bit(mmu->code_pages, pn) || bit(mmu->selfcheck, pn) ||
        !page_is_ram(m, pn * PAGE))
        return;
    if (bit(mmu->unsynced, pn))
        unsync__page(m, pn);
    set_bit(mmu->code_pages, pn, true);
    if (bit(mmu->table_pages, pn))
        return; /* already read-only everywhere */
    wprot__set(mmu, mmu->phys.base + (uint64_t)pn * PAGE, PAGE, false);
    mmu_downgrade(m, pn);
}

void mmu_table_written(struct machine *m, uint32_t pn, uint32_t first, uint32_t last,
                       bool frames)
{
    struct mmu *mmu = m->mmu;

    /* As a page directory: the 4 MiB ranges of windows whose CR3 is this page. */
    for (int i = 0; i < MMU_WINDOWS; i++) {
        struct window *w = &mmu->win[i];
        if (w->used && w->cr3 / PAGE == pn)
            unmap_range(m, w, first << 22, (uint64_t)(last - first + 1) << 22, true);
    }
    /* As a page table: the pages it maps in the windows that used it. */
    for (struct rmap_node **pp = &mmu->deps[pn], *n; (n = *pp);) {
        struct window *w = win_of(mmu, n->win);
        if (n->gen != w->gen || !w->used) {
            *pp = n->next;
            free(n);
            continue;
        }
        unmap_range(m, w, n->lin << 22 | first << 12, (uint64_t)(last - first + 1) << 12,
                    frames);
        pp = &n->next;
    }
    STAT_INC(mmu_trace_hits);
}

void mmu__note_write(struct machine *m, uint32_t gpa, uint32_t len)
{
    struct mmu *mmu = m->mmu;

    if (!mmu || !len)
        return;
    for (uint32_t pn = gpa / PAGE; pn <= (gpa + len - 1) / PAGE && pn < mmu->ram_pages; pn++) {
        if (bit(mmu->code_pages, pn) || (bit(mmu->table_pages, pn) && !bit(mmu->unsynced, pn)))
            m->monitor_accesses++;
        if (bit(mmu->code_pages, pn)) {
            bt__invalidate_page(m, pn * PAGE);
            set_bit(mmu->code_pages, pn, false);
            STAT_INC(mmu_smc_invalidations);
            /* Written again and again while executed: stop protecting it; its blocks
             * compare their guest bytes on entry instead (translate.c). */
            if (++mmu->smc_writes[pn] >= SELFCHECK_AFTER) {
                set_bit(mmu->selfcheck, pn, true);
                STAT_INC(mmu_selfcheck_pages);
            }
            if (!bit(mmu->table_pages, pn))
                wprot__set(mmu, mmu->phys.base + (uint64_t)pn * PAGE, PAGE, true);
        }
        if (bit(mmu->table_pages, pn) && !bit(mmu->unsynced, pn)) {
            /* (an unsynced page is compared with its snapshot when it is resynced) */
            uint32_t lo = pn * PAGE > gpa ? 0 : (gpa - pn * PAGE) / 4;
            uint32_t end = gpa + len - 1;
            uint32_t hi = end / PAGE > pn ? 1023 : (end - pn * PAGE) / 4;
            mmu_table_written(m, pn, lo, hi, true);
            /* Emulated stores to page tables come in bursts too: leave it writable. */
            if (!bit(mmu->code_pages, pn))
                unsync__try(m, pn);
        }
    }
}

bool mmu__traced(struct machine *m, uint32_t gpa, uint32_t len)
{
    struct mmu *mmu = m->mmu;
    uint32_t pn = gpa / PAGE;

    if (!mmu || !len || pn != (gpa + len - 1) / PAGE || pn >= mmu->ram_pages)
        return false;
    return bit(mmu->table_pages, pn) && !bit(mmu->unsynced, pn) && !bit(mmu->code_pages, pn);
}

bool mmu__selfcheck(struct machine *m, uint32_t gpa)
{
    struct mmu *mmu = m->mmu;

    return mmu && gpa / PAGE < mmu->ram_pages && bit(mmu->selfcheck, gpa / PAGE);
}

void mmu__invlpg(struct machine *m, uint32_t lin)
{
    struct mmu *mmu = m->mmu;
    uint32_t cr3 = m->cpu->cr3 & 0xfffff000u;
    bool large = false;

    if (!mmu)
        return;
    if (m->cpu->cr0 & CR0_PG) {
        /* A change the guest made to an unsynced table takes effect now. */
        uint32_t *pde = (uint32_t *)machine__gpa(m, cr3 + (lin >> 22) * 4, 4);
        uint32_t pn = pde ? (*pde & 0xfffff000u) / PAGE : ~0u;
        large = pde && (*pde & PTE_P) && (*pde & PTE_PS) && (m->cpu->cr4 & CR4_PSE);
        if (pde && (*pde & PTE_P) && !large && pn < mmu->ram_pages && bit(mmu->unsynced, pn))
            unsync__entry(m, pn, (lin >> 12) & 1023);
    }
    for (int i = 0; i < MMU_WINDOWS; i++)
        if (mmu->win[i].used && mmu->win[i].cr3 == cr3)
            unmap_range(m, &mmu->win[i], lin & ~(PAGE - 1), PAGE, true);
    /* A 4 MiB page is one TLB entry: INVLPG anywhere in it drops all of it. */
    bt__global_unmapped(m, large ? lin & 0xffc00000u : lin & ~(PAGE - 1),
                        large ? 0x400000u : PAGE);
}

void mmu__cr3_loaded(struct machine *m)
{
    if (m->mmu)
        unsync__all(m);
}

void mmu__trap_writes(struct machine *m, uint32_t gpa, uint32_t len)
{
    struct mmu *mmu = m->mmu;

    mmu->no_unsync = true; /* every write to these pages must be emulated */
    for (uint32_t pn = gpa / PAGE; pn <= (gpa + len - 1) / PAGE && pn < mmu->ram_pages; pn++) {
        set_bit(mmu->table_pages, pn, true);
        mmu_downgrade(m, pn);
        wprot__set(mmu, mmu->phys.base + (uint64_t)pn * PAGE, PAGE, false);
    }
}
