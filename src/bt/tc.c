/*
 * The translation cache and its maps.
 *
 * Policy: one RWX region below 2 GiB (host addresses fit in imm32, and the
 * same mapping is written and executed, which software-emulated hosts need),
 * filled by a bump pointer. When it is full everything is flushed: blocks,
 * chains, lookup tables. Blocks are found by (linear EIP, CS base, mode) in a
 * hash; by guest-physical page for invalidation; by host address (they are
 * appended in TC order) for faults. A dropped block stays in the TC until the
 * next flush, but nothing jumps to it any more: its incoming chains are
 * re-pointed at their exit stubs and its lookup-table entries are cleared.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bt/internal.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "mmu-shadow/window.h"
#include "monitor/cpu.h"
#include "monitor/stats.h"

static unsigned block_hash(uint32_t lin, uint32_t mode)
{
    uint32_t h = (lin ^ (mode * 0x9e3779b1u)) * 0x85ebca6bu;
    return h >> (32 - BLOCK_HASH_BITS);
}

static void table_init(struct bt *bt, struct lookup_table *t);
static void forget_entry(struct bt *bt, struct lookup_table *t, uint32_t eip);

/* The TC must lie below 2 GiB: stubs store host addresses as sign-extended imm32.
 * MAP_32BIT asks for that, but not every environment honours it (qemu-user, used
 * for the pre-VT check, ignores it), so fall back to explicit hints. */
static void *tc_map(void)
{
    const int prot = PROT_READ | PROT_WRITE | PROT_EXEC;
    void *p = mmap(NULL, TC_SIZE, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);

    for (uint64_t hint = 0x10000000;; hint += 0x8000000) {
        if (p != MAP_FAILED && (uint64_t)p + TC_SIZE <= 0x80000000ull)
            return p;
        if (p != MAP_FAILED)
            munmap(p, TC_SIZE);
        if (hint + TC_SIZE > 0x80000000ull)
            return NULL;
        p = mmap((void *)hint, TC_SIZE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
}

int bt__init(struct machine *m)
{
    struct bt *bt = calloc(1, sizeof(*bt));
    void *tc;

    if (!bt)
        return -ENOMEM;
    tc = tc_map();
    if (!tc) {
        free(bt);
        return -ENOMEM;
    }
    bt->m = m;
    bt->tc = tc;
    bt->tc_end = bt->tc + TC_SIZE;
    ZydisDecoderInit(&bt->dec32, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
    ZydisDecoderInit(&bt->dec16, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
    stubs__emit(bt);
    for (int i = 0; i < LOOKUP_TABLES; i++) {
        bt->tables[i].tab = malloc(sizeof(struct lookup_entry) << (LOOKUP_BITS + 1));
        bt->tables[i].pages = calloc(1u << 17, 1);
        if (!bt->tables[i].tab || !bt->tables[i].pages)
            return -ENOMEM;
        bt->tables[i].mode = ~0u;
        table_init(bt, &bt->tables[i]);
    }
    m->bt = bt;
    return 0;
}

static void free_blocks(struct bt *bt)
{
    for (size_t i = 0; i < bt->nblocks; i++) {
        while (bt->blocks[i]->callouts) {
            struct callout_insn *ci = bt->blocks[i]->callouts;
            bt->blocks[i]->callouts = ci->next;
            free(ci);
        }
        free(bt->blocks[i]);
    }
    bt->nblocks = 0;
    memset(bt->hash, 0, sizeof(bt->hash));
    for (size_t i = 0; i < sizeof(bt->pages) / sizeof(bt->pages[0]); i++) {
        while (bt->pages[i]) {
            struct page_list *p = bt->pages[i];
            bt->pages[i] = p->next;
            free(p);
        }
    }
}

void bt__destroy(struct machine *m)
{
    struct bt *bt = m->bt;

    if (!bt)
        return;
    free_blocks(bt);
    free(bt->blocks);
    for (int i = 0; i < LOOKUP_TABLES; i++) {
        tc__table_clear(bt, &bt->tables[i]);
        free(bt->tables[i].tab);
        free(bt->tables[i].pages);
    }
    munmap(bt->tc, TC_SIZE);
    free(bt);
    m->bt = NULL;
}

static struct target_page **target_slot(struct lookup_table *t, uint32_t pg)
{
    struct target_page **pp = &t->targets[(pg ^ (pg >> 8)) % TARGET_BUCKETS];

    while (*pp && (*pp)->pg != pg)
        pp = &(*pp)->next;
    return pp;
}

static struct target_page *target_get(struct lookup_table *t, uint32_t pg)
{
    struct target_page **pp = target_slot(t, pg);

    if (!*pp) {
        if (!(*pp = calloc(1, sizeof(**pp))))
            die("out of memory");
        (*pp)->pg = pg;
        t->pages[pg >> 3] |= (uint8_t)(1u << (pg & 7));
        t->pages4m[pg >> 13] |= (uint8_t)(1u << ((pg >> 10) & 7));
    }
    return *pp;
}

static void target_free(struct target_page *tp)
{
    free(tp->cross);
    free(tp);
}

/* Every entry of a table empty, on memory that was never a table. */
static void table_init(struct bt *bt, struct lookup_table *t)
{
    for (size_t i = 0; i < (2u << LOOKUP_BITS); i++) {
        t->tab[i].neg_eip = 1;  /* matches no eip whose slot is i... */
        t->tab[i].host = (uint64_t)bt->lookup_miss; /* ...and a false match only exits */
    }
    memset(t->pages, 0, 1u << 17);
    memset(t->pages4m, 0, sizeof(t->pages4m));
}

/* Clear the entries filled for targets in tp's page (those that still are) and for blocks
 * that start on the page before and run into it. */
static void forget_targets(struct bt *bt, struct lookup_table *t, const struct target_page *tp)
{
    uint32_t eip0 = (tp->pg << 12) - t->cs_base;

    for (uint32_t w = 0; w < 64; w++)
        for (uint64_t bits = tp->offs[w]; bits; bits &= bits - 1)
            forget_entry(bt, t, eip0 + w * 64 + (uint32_t)__builtin_ctzll(bits));
    for (uint32_t k = 0; k < tp->ncross; k++)
        forget_entry(bt, t, tp->cross[k]);
}

/* Empty a table: only the entries its target pages record (fill() records every one), not
 * a sweep of all 2 MiB, which every table replacement and TC flush paid (5 % of a boot). */
void tc__table_clear(struct bt *bt, struct lookup_table *t)
{
    for (int i = 0; i < TARGET_BUCKETS; i++)
        while (t->targets[i]) {
            struct target_page *tp = t->targets[i];
            forget_targets(bt, t, tp);
            t->pages[tp->pg >> 3] &= (uint8_t) ~(1u << (tp->pg & 7));
            t->targets[i] = tp->next;
            target_free(tp);
        }
    memset(t->pages4m, 0, sizeof(t->pages4m));
}

static struct lookup_table *recent(struct bt *bt, struct lookup_table *t)
{
    int i = 0;

    while (i < 3 && bt->recent[i] != t)
        i++;
    for (; i > 0; i--)
        bt->recent[i] = bt->recent[i - 1];
    bt->recent[0] = t;
    t->stamp = ++bt->stamp;
    return t;
}

struct lookup_table *tc__table(struct bt *bt, uint32_t mode, uint32_t cs_base, uint32_t cr3)
{
    struct lookup_table *victim = &bt->tables[0];

    /* A system call goes back and forth between user and kernel mode, each with its table
     * and its global pages' table: those four first, before a scan that touches a cache
     * line per table. */
    for (int i = 0; i < 4; i++) {
        struct lookup_table *t = bt->recent[i];
        if (t && t->mode == mode && t->cs_base == cs_base && t->cr3 == cr3)
            return recent(bt, t);
    }
    for (int i = 0; i < LOOKUP_TABLES; i++) {
        struct lookup_table *t = &bt->tables[i];
        if (t->mode == mode && t->cs_base == cs_base && t->cr3 == cr3)
            return recent(bt, t);
        if (t->stamp < victim->stamp)
            victim = t;
    }
    if (victim->mode != ~0u)
        tc__table_clear(bt, victim);
    LOG(BT, 3, "lookup table for mode %x cr3 %08x replaces mode %x cr3 %08x", mode, cr3,
        victim->mode, victim->cr3);
    victim->mode = mode;
    victim->cs_base = cs_base;
    victim->cr3 = cr3;
    return recent(bt, victim);
}

void bt__flush(struct machine *m)
{
    struct bt *bt = m->bt;

    if (!bt)
        return;
    free_blocks(bt);
    bt->tc_free = bt->tc + TC_STUB_SIZE;
    for (int i = 0; i < LOOKUP_TABLES; i++)
        if (bt->tables[i].mode != ~0u)
            tc__table_clear(bt, &bt->tables[i]);
    bt->generation++;
    STAT_INC(bt_tc_flushes);
}

uint64_t bt__generation(struct machine *m)
{
    return m->bt->generation;
}

static void fill(struct bt *bt, struct lookup_table *t, uint32_t eip, void *pc, bool spans);

/* The entry of table t that holds eip, or NULL. */
static struct lookup_entry *entry_of(const struct lookup_table *t, uint32_t eip)
{
    struct lookup_entry *le = &t->tab[2 * lookup_set(eip)];

    return le[0].neg_eip == -eip ? &le[0] : le[1].neg_eip == -eip ? &le[1] : NULL;
}

static void *entry_hit(struct bt *bt, const struct lookup_table *t, uint32_t eip)
{
    const struct lookup_entry *le = entry_of(t, eip);
    return le && le->host != (uint64_t)bt->lookup_miss ? (void *)le->host : NULL;
}

/* Point the vCPU at the lookup tables of its current mode and address space: the
 * address space's own, and (CR4.PGE) the one for targets in global pages, which like a
 * TLB's global entries outlive CR3 loads and serve every address space. */
static void choose_tables(struct machine *m, uint32_t mode, uint32_t cs_base, uint32_t cr3,
                          struct lookup_table **t, struct lookup_table **g)
{
    struct vcpu *c = m->cpu;
    struct bt *bt = m->bt;

    *t = tc__table(bt, mode, cs_base, cr3);
    *g = cr3 && (c->cr4 & CR4_PGE) ? tc__table(bt, mode, cs_base, LOOKUP_GLOBAL) : NULL;
    c->lookup = (*t)->tab;
    c->lookup_global = *g ? (*g)->tab : NULL;
}

void *bt__lookup(struct machine *m, uint32_t mode, struct mem_fault *f)
{
    struct vcpu *c = m->cpu;
    struct bt *bt = m->bt;
    uint32_t cs_base = c->seg[SEG_CS].base, lin = cs_base + c->eip;
    uint32_t cr3 = (c->cr0 & CR0_PG) ? c->cr3 & 0xfffff000u : 0, phys;
    struct lookup_table *t, *g;
    struct block *b;
    bool global;

    /* The indirect-branch tables are a cache of this very lookup, kept as current as the
     * shadow (entries go when a mapping or a block does): no walk, no hash. */
    choose_tables(m, mode, cs_base, cr3, &t, &g);
    if (!(c->eflags_sys & EFL_TF)) {
        void *pc = entry_hit(bt, t, c->eip);
        if (!pc && g)
            pc = entry_hit(bt, g, c->eip);
        if (pc) {
            STAT_INC(bt_block_hits);
            return pc;
        }
    }
    if (mmu__fetch_phys(m, lin, &phys, &global, f) < 0)
        return NULL;
    b = tc__find(bt, lin, cs_base, mode, phys);
    if (b && b->pages[1] != ~0u && cr3) {
        /* The block's last instruction runs onto the next page: that mapping must hold too. */
        uint32_t p2;
        if (mmu__fetch_phys(m, (lin & ~0xfffu) + 0x1000, &p2, NULL, f) < 0 ||
            (p2 & ~0xfffu) != b->pages[1])
            b = NULL;
    }
    LOG(BT, 3, "table miss %08x cpl %u cr3 %08x exit %d %s%s", lin, vcpu_cpl(c), cr3,
        c->exit_reason, b ? "block found" : "translating", global && g ? " global" : "");
    if (b) {
        STAT_INC(bt_block_hits);
    } else {
        STAT_INC(bt_block_misses);
        b = translate__block(m, bt, phys, f);
        choose_tables(m, mode, cs_base, cr3, &t, &g); /* (a flush may have cleared them) */
        if (!b)
            return NULL;
    }
    /* Remember it for the next time, in here and for indirect branches. */
    if (!(c->eflags_sys & EFL_TF))
        fill(bt, global && g ? g : t, c->eip, b->host, b->pages[1] != ~0u && cr3);
    return b->host;
}

struct block *tc__find(struct bt *bt, uint32_t lin, uint32_t cs_base, uint32_t mode, uint32_t phys)
{
    for (struct block *b = bt->hash[block_hash(lin, mode)]; b; b = b->hash_next)
        if (b->lin == lin && b->mode == mode && b->cs_base == cs_base && b->phys == phys)
            return b;
    return NULL;
}

static void forget_entry(struct bt *bt, struct lookup_table *t, uint32_t eip)
{
    struct lookup_entry *le = entry_of(t, eip);

    if (le) {
        le->neg_eip = 1;
        le->host = (uint64_t)bt->lookup_miss;
    }
}

/* Forget the entries of table t whose targets lie in linear pages [first, last]. */
static void table_forget_pages(struct bt *bt, struct lookup_table *t, uint32_t first,
                               uint32_t last)
{
    for (uint32_t pg = first;; pg++) {
        if (!(pg & 1023) && last - pg >= 1023 &&
            !(t->pages4m[pg >> 13] & (1u << ((pg >> 10) & 7)))) {
            pg += 1023; /* no target anywhere in this 4 MiB region */
            if (pg == last)
                break;
            continue;
        }
        if (t->pages[pg >> 3] & (1u << (pg & 7))) {
            struct target_page **pp = target_slot(t, pg), *tp = *pp;
            if (tp) {
                forget_targets(bt, t, tp);
                *pp = tp->next;
                target_free(tp);
            }
            t->pages[pg >> 3] &= (uint8_t) ~(1u << (pg & 7));
        }
        if (pg == last)
            break;
    }
}

void bt__lin_unmapped(struct machine *m, uint32_t cr3, uint32_t lin, uint32_t len_minus_1)
{
    struct bt *bt = m->bt;
    uint32_t first = lin >> 12, last = (uint32_t)(((uint64_t)lin + len_minus_1) >> 12);

    if (!bt)
        return;
    if (last > 0xfffff)
        last = 0xfffff;
    for (int i = 0; i < LOOKUP_TABLES; i++) {
        struct lookup_table *t = &bt->tables[i];
        if (t->mode != ~0u && t->cr3 == (cr3 & 0xfffff000u))
            table_forget_pages(bt, t, first, last);
    }
}

void bt__global_unmapped(struct machine *m, uint32_t lin, uint32_t len)
{
    struct bt *bt = m->bt;

    if (!bt)
        return;
    for (int i = 0; i < LOOKUP_TABLES; i++) {
        struct lookup_table *t = &bt->tables[i];
        if (t->mode != ~0u && t->cr3 == LOOKUP_GLOBAL)
            table_forget_pages(bt, t, lin >> 12, (lin + len - 1) >> 12);
    }
}

void bt__paging_changed(struct machine *m)
{
    struct bt *bt = m->bt;

    if (!bt)
        return;
    for (int i = 0; i < LOOKUP_TABLES; i++)
        if (bt->tables[i].mode != ~0u && bt->tables[i].cr3)
            tc__table_clear(bt, &bt->tables[i]);
}

void bt__forget_space(struct machine *m, uint32_t cr3)
{
    struct bt *bt = m->bt;

    if (!bt)
        return;
    for (int i = 0; i < LOOKUP_TABLES; i++) {
        struct lookup_table *t = &bt->tables[i];
        if (t->mode != ~0u && t->cr3 == (cr3 & 0xfffff000u)) {
            t->cr3 = 1;    /* matches no CR3; cleared when reused */
            t->stamp = 0;  /* and reused first */
        }
    }
}

static struct page_list **page_slot(struct bt *bt, uint32_t gpa)
{
    return &bt->pages[(gpa >> 12) % (sizeof(bt->pages) / sizeof(bt->pages[0]))];
}

static struct page_list *page_get(struct bt *bt, uint32_t gpa, bool create)
{
    struct page_list **slot = page_slot(bt, gpa), *p;

    for (p = *slot; p; p = p->next)
        if (p->gpa == gpa)
            return p;
    if (!create)
        return NULL;
    p = calloc(1, sizeof(*p));
    if (!p)
        die("out of memory");
    p->gpa = gpa;
    p->next = *slot;
    *slot = p;
    return p;
}

void tc__insert(struct bt *bt, struct block *b)
{
    unsigned h = block_hash(b->lin, b->mode);

    b->hash_next = bt->hash[h];
    bt->hash[h] = b;
    for (int i = 0; i < 2; i++) {
        if (b->pages[i] == ~0u)
            continue;
        mmu__protect_code(bt->m, b->pages[i]);
        struct page_list *p = page_get(bt, b->pages[i], true);
        b->page_next[i] = p->head;
        p->head = b;
    }
    if (bt->nblocks == bt->cap_blocks) {
        bt->cap_blocks = bt->cap_blocks ? 2 * bt->cap_blocks : 4096;
        bt->blocks = realloc(bt->blocks, bt->cap_blocks * sizeof(*bt->blocks));
        if (!bt->blocks)
            die("out of memory");
    }
    bt->blocks[bt->nblocks++] = b;
}

void bt__chain(struct machine *m, uint64_t site_addr, void *target)
{
    struct bt *bt = m->bt;
    uint8_t *site = (uint8_t *)site_addr;
    struct block *from = NULL, *to = NULL;
    struct exit_site *s = NULL;

    /* Find the blocks on both ends: the site's block and the target's block. */
    for (size_t lo = 0, hi = bt->nblocks; lo < hi;) {
        size_t mid = (lo + hi) / 2;
        struct block *b = bt->blocks[mid];
        if (site < b->host)
            hi = mid;
        else if (site >= b->host + b->host_len)
            lo = mid + 1;
        else {
            from = b;
            break;
        }
    }
    for (size_t lo = 0, hi = bt->nblocks; lo < hi;) {
        size_t mid = (lo + hi) / 2;
        struct block *b = bt->blocks[mid];
        if ((uint8_t *)target < b->host)
            hi = mid;
        else if ((uint8_t *)target > b->host)
            lo = mid + 1;
        else {
            to = b;
            break;
        }
    }
    if (!from || !to || from->dead || to->dead || (from->mode & MODE_TF))
        return;
    for (int i = 0; i < from->nexits; i++)
        if (from->exits[i].site == site)
            s = &from->exits[i];
    if (!s || s->to)
        return;
    s->to = to;
    s->next_in = to->incoming;
    to->incoming = s;
    patch_rel32(site, to->host);
    STAT_INC(bt_chain_links);
}

static void unlink_outgoing(struct block *b)
{
    for (int i = 0; i < b->nexits; i++) {
        struct exit_site *s = &b->exits[i];
        if (!s->to)
            continue;
        for (struct exit_site **pp = &s->to->incoming; *pp; pp = &(*pp)->next_in)
            if (*pp == s) {
                *pp = s->next_in;
                break;
            }
        s->to = NULL;
    }
}

static void drop_block(struct bt *bt, struct block *b)
{
    struct block **pp;

    if (b->dead)
        return;
    b->dead = true;
    for (struct exit_site *s = b->incoming; s; s = s->next_in) {
        patch_rel32(s->site, s->stub);
        s->to = NULL;
    }
    b->incoming = NULL;
    unlink_outgoing(b);
    for (pp = &bt->hash[block_hash(b->lin, b->mode)]; *pp; pp = &(*pp)->hash_next)
        if (*pp == b) {
            *pp = b->hash_next;
            break;
        }
    for (int i = 0; i < LOOKUP_TABLES; i++) {
        struct lookup_table *t = &bt->tables[i];
        struct lookup_entry *le = entry_of(t, b->eip);
        if (t->mode == b->mode && t->cs_base == b->cs_base && le && le->host == (uint64_t)b->host) {
            le->neg_eip = 1;
            le->host = (uint64_t)bt->lookup_miss;
        }
    }
    STAT_INC(bt_blocks_dropped);
}

void bt__invalidate_page(struct machine *m, uint32_t gpa)
{
    struct bt *bt = m->bt;
    struct page_list **slot = page_slot(bt, gpa & ~0xfffu), *p;

    for (p = *slot; p && p->gpa != (gpa & ~0xfffu); p = p->next)
        ;
    if (!p)
        return;
    for (struct block *b = p->head, *next; b; b = next) {
        next = b->pages[0] == p->gpa ? b->page_next[0] : b->page_next[1];
        drop_block(bt, b);
    }
    /* Blocks spanning two pages stay on the other page's list, marked dead. */
    p->head = NULL;
    STAT_INC(bt_invalidations);
}

/* Enter eip -> pc; a block that runs onto the next page is also recorded there, so that a
 * change of either page's mapping forgets it. */
static void fill(struct bt *bt, struct lookup_table *t, uint32_t eip, void *pc, bool spans)
{
    struct lookup_entry *le = entry_of(t, eip), *set = &t->tab[2 * lookup_set(eip)];
    uint32_t lin = t->cs_base + eip, pg = lin >> 12;
    struct target_page *tp = target_get(t, pg);

    /* A free way, else the newcomer takes the first and the first's entry the second. */
    if (!le && set[0].host == (uint64_t)bt->lookup_miss)
        le = &set[0];
    else if (!le && set[1].host == (uint64_t)bt->lookup_miss)
        le = &set[1];
    else if (!le) {
        set[1] = set[0];
        le = &set[0];
    }
    le->neg_eip = -eip;
    le->host = (uint64_t)pc;
    tp->offs[(lin & 0xfff) / 64] |= 1ull << (lin % 64);
    if (spans && pg < 0xfffff) {
        struct target_page *next = target_get(t, pg + 1);
        if (next->ncross == next->capcross) {
            uint32_t cap = next->capcross ? 2 * next->capcross : 8;
            uint32_t *c = realloc(next->cross, cap * sizeof(*c));
            if (!c)
                die("out of memory");
            next->cross = c;
            next->capcross = cap;
        }
        next->cross[next->ncross++] = eip;
    }
    STAT_INC(bt_lookup_fills);
}

static struct block *block_at(struct bt *bt, uint64_t pc)
{
    size_t lo = 0, hi = bt->nblocks;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        struct block *b = bt->blocks[mid];
        if (pc < (uint64_t)b->host)
            hi = mid;
        else if (pc >= (uint64_t)b->host + b->host_len)
            lo = mid + 1;
        else
            return b;
    }
    return NULL;
}

bool bt__pc_to_guest(struct machine *m, uint64_t pc, uint32_t *eip, int *fixup_reg)
{
    struct block *b = block_at(m->bt, pc);
    uint32_t off;
    int i;

    if (!b)
        return false;
    off = (uint32_t)(pc - (uint64_t)b->host);
    if (off < b->check_len) {
        /* Reading the guest bytes for the self-check: nothing has run yet; the guest's
         * flags are on the host stack. */
        *eip = b->map[0].eip;
        *fixup_reg = -3;
        return true;
    }
    for (i = b->ninsn - 1; i > 0 && b->map[i].host_off > off; i--)
        ;
    *eip = b->map[i].eip;
    *fixup_reg = b->map[i].fixup_reg;
    return true;
}

bool bt__pc_in_tc(struct machine *m, uint64_t pc)
{
    return pc - (uint64_t)m->bt->tc < TC_SIZE;
}

void *bt__exit_stub(struct machine *m)
{
    return m->bt->exit_common;
}

void bt__enter(struct machine *m, void *pc)
{
    m->bt->enter(m->cpu, pc);
}

/* Slot of gpa in the hot table (open addressing, linear probe; a full table drops its
 * oldest knowledge by overwriting the home slot). */
static unsigned hot_slot(struct bt *bt, uint32_t gpa, bool insert)
{
    unsigned h = (gpa * 0x9e3779b1u) >> (32 - 12);

    for (unsigned i = 0; i < 16; i++) {
        unsigned s = (h + i) & (HOT_SLOTS - 1);
        if (bt->hot_state[s] && bt->hot_key[s] == gpa)
            return s;
        if (!bt->hot_state[s])
            return insert ? s : HOT_SLOTS;
    }
    return insert ? h & (HOT_SLOTS - 1) : HOT_SLOTS;
}

bool tc__hot(struct bt *bt, uint32_t gpa)
{
    unsigned s = hot_slot(bt, gpa, false);
    return s < HOT_SLOTS && bt->hot_state[s] == 2;
}

void bt__emulated_at(struct machine *m, uint64_t pc)
{
    struct bt *bt = m->bt;
    struct block *b = block_at(bt, pc);
    uint32_t off, gpa;
    unsigned s;
    int i;

    if (!b || b->dead)
        return;
    off = (uint32_t)(pc - (uint64_t)b->host);
    for (i = b->ninsn - 1; i > 0 && b->map[i].host_off > off; i--)
        ;
    gpa = b->phys + (b->map[i].eip - b->eip);
    s = hot_slot(bt, gpa, true);
    if (bt->hot_state[s] == 2 && bt->hot_key[s] == gpa)
        return; /* hot already, and still inline: it is not one the interpreter can take */
    if (bt->hot_state[s] && bt->hot_key[s] == gpa && bt->hot_state[s] >= 1) {
        bt->hot_state[s] = 2;
        drop_block(bt, b); /* retranslated on next use, with the instruction as a callout */
        STAT_INC(bt_adaptive);
        return;
    }
    bt->hot_key[s] = gpa;
    bt->hot_state[s] = 1;
}

void bt__callout_done(struct machine *m, uint64_t arg, bool needed)
{
    struct bt *bt = m->bt;
    struct callout_insn *ci = (struct callout_insn *)arg;
    unsigned s;

    if (!ci->gpa)
        return;
    if (needed) {
        ci->quiet = 0;
        return;
    }
    if (++ci->quiet < ADAPTIVE_COOL)
        return;
    /* What it touches is plain memory now (a page table left writable, a page that no
     * longer holds code): back to translated code. One more emulation makes it hot again. */
    s = hot_slot(bt, ci->gpa, false);
    if (s < HOT_SLOTS)
        bt->hot_state[s] = 1;
    ci->gpa = 0;
    if (ci->block && !ci->block->dead) {
        drop_block(bt, ci->block);
        STAT_INC(bt_adaptive_cooled);
    }
}

void bt__callout_insn(uint64_t arg, const void **in, const void **ops)
{
    const struct callout_insn *ci = (const struct callout_insn *)arg;

    *in = &ci->in;
    *ops = ci->ops;
}
