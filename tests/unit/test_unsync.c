/*
 * mmu-shadow/unsync: page tables the guest writes are left writable until
 * its next TLB flush. Each test runs translated code under paging and checks
 * what the architecture promises: a change takes effect at INVLPG of its
 * address or at a CR3 load, a not-present entry made present is seen at
 * once, code remapped under a linear address runs the new bytes after the
 * flush, and a page that stopped being a page table is no longer traced.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "mmu-shadow/walk.h"
#include "mmu-shadow/window.h"
#include "monitor/stats.h"

#define PD 0x10000u
#define PT 0x11000u    /* maps 0-4 MiB 1:1, supervisor read/write */
#define PT2 0x12000u   /* maps 4-8 MiB in the untrace test */
#define CODE 0x100000u
#define STACK 0x300000u

struct prog {
    uint8_t b[512];
    size_t n;
};

static void put8(struct prog *p, uint8_t v) { p->b[p->n++] = v; }

static void put32(struct prog *p, uint32_t v)
{
    memcpy(p->b + p->n, &v, 4);
    p->n += 4;
}

static void load(struct prog *p, uint32_t addr)            /* mov eax, [addr] */
{
    put8(p, 0xa1);
    put32(p, addr);
}

static void store(struct prog *p, uint32_t addr, uint32_t v) /* mov dword [addr], v */
{
    put8(p, 0xc7);
    put8(p, 0x05);
    put32(p, addr);
    put32(p, v);
}

static void invlpg(struct prog *p, uint32_t addr)           /* invlpg [addr] */
{
    put8(p, 0x0f);
    put8(p, 0x01);
    put8(p, 0x3d);
    put32(p, addr);
}

static void reload_cr3(struct prog *p)                      /* mov eax, cr3; mov cr3, eax */
{
    static const uint8_t b[] = {0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8};
    memcpy(p->b + p->n, b, sizeof(b));
    p->n += sizeof(b);
}

static void load_cr3(struct prog *p, uint32_t pd)           /* mov eax, pd; mov cr3, eax */
{
    put8(p, 0xb8);
    put32(p, pd);
    put8(p, 0x0f);
    put8(p, 0x22);
    put8(p, 0xd8);
}

static void call_abs(struct prog *p, uint32_t addr)         /* mov eax, addr; call eax */
{
    put8(p, 0xb8);
    put32(p, addr);
    put8(p, 0xff);
    put8(p, 0xd0);
}

static void save_eax(struct prog *p, uint32_t addr)         /* mov [addr], eax */
{
    put8(p, 0xa3);
    put32(p, addr);
}

static int run_at(struct prog *p, uint32_t at)
{
    put8(p, 0xf4); /* hlt */
    memcpy(fx->ram + at, p->b, p->n); /* (a fresh page each time: nothing translated yet) */
    fx->cpu->eip = at;
    fx->cpu->halted = false;
    fx->cpu->gpr[R_ESP] = STACK;
    return machine__run(fx);
}

static int run(struct prog *p)
{
    return run_at(p, CODE);
}

static uint32_t *ram32(uint32_t gpa)
{
    return (uint32_t *)(fx->ram + gpa);
}

static void setup(void)
{
    fixture_machine_setup();
    for (uint32_t i = 0; i < 1024; i++)
        *ram32(PT + 4 * i) = i << 12 | PTE_P | PTE_RW;
    *ram32(PD) = PT | PTE_P | PTE_RW;
    fx->cpu->cr3 = PD;
    fx->cpu->cr0 |= CR0_PG | CR0_WP;
    fx->cpu->idtr.limit = 0; /* any #PF escalates to a triple fault: RUN_RESET */
}

START_TEST(invlpg_applies_a_cleared_entry)
{
    struct prog p = {0};
    uint64_t unsyncs = stats.mmu_unsyncs;

    load(&p, 0x200000);                       /* mapped through PT */
    store(&p, PT + 0x200 * 4, 0);             /* first write to PT: left writable */
    store(&p, PT + 0x201 * 4, 0);             /* runs natively */
    invlpg(&p, 0x200000);
    load(&p, 0x200000);                       /* #PF */
    ck_assert_int_eq(run(&p), RUN_RESET);
    ck_assert_uint_eq(fx->cpu->cr2, 0x200000);
    ck_assert_uint_gt(stats.mmu_unsyncs, unsyncs);
}
END_TEST

START_TEST(cr3_load_applies_every_change)
{
    struct prog p = {0};

    *ram32(0x205000) = 0x5555aaaa;
    *ram32(0x201000) = 0x11111111;
    load(&p, 0x201000);
    load(&p, 0x202000);
    store(&p, PT + 0x201 * 4, 0x205000 | PTE_P | PTE_RW);   /* another frame */
    store(&p, PT + 0x203 * 4, 0x203000 | PTE_P);            /* read-only now */
    reload_cr3(&p);
    load(&p, 0x201000);
    save_eax(&p, 0x204000);
    store(&p, 0x203000, 1);                                 /* #PF: write to read-only */
    ck_assert_int_eq(run(&p), RUN_RESET);
    ck_assert_uint_eq(*ram32(0x204000), 0x5555aaaa);
    ck_assert_uint_eq(fx->cpu->cr2, 0x203000);
}
END_TEST

START_TEST(made_present_is_seen_at_once)
{
    struct prog p = {0};

    *ram32(PT + 0x208 * 4) = 0;                             /* 0x208000 not present */
    *ram32(0x209000) = 0x01020304;
    store(&p, PT + 0x207 * 4, 0x207000 | PTE_P | PTE_RW);   /* unsync PT */
    store(&p, PT + 0x208 * 4, 0x209000 | PTE_P | PTE_RW);   /* no flush needed */
    load(&p, 0x208000);
    save_eax(&p, 0x204000);
    ck_assert_int_eq(run(&p), RUN_HALTED);
    ck_assert_uint_eq(*ram32(0x204000), 0x01020304);
}
END_TEST

/* A table written again after the flush stays writable (no second unsync, no fault), and
 * each CR3 load still applies what changed since the one before. */
START_TEST(rewritten_table_stays_writable_and_each_load_applies)
{
    struct prog p = {0};
    uint64_t unsyncs = stats.mmu_unsyncs, kept = stats.mmu_resyncs_kept;

    *ram32(0x205000) = 0xaaaa0001;
    *ram32(0x206000) = 0xbbbb0002;
    load(&p, 0x201000);
    store(&p, PT + 0x201 * 4, 0x205000 | PTE_P | PTE_RW);   /* unsync */
    reload_cr3(&p);                                         /* applied, left writable */
    load(&p, 0x201000);
    save_eax(&p, 0x204000);
    store(&p, PT + 0x201 * 4, 0x206000 | PTE_P | PTE_RW);   /* runs natively */
    reload_cr3(&p);
    load(&p, 0x201000);
    save_eax(&p, 0x204004);
    store(&p, PT + 0x201 * 4, 0);                           /* and once more: cleared */
    reload_cr3(&p);
    load(&p, 0x201000);                                     /* #PF */
    ck_assert_int_eq(run(&p), RUN_RESET);
    ck_assert_uint_eq(*ram32(0x204000), 0xaaaa0001);
    ck_assert_uint_eq(*ram32(0x204004), 0xbbbb0002);
    ck_assert_uint_eq(fx->cpu->cr2, 0x201000);
    ck_assert_uint_eq(stats.mmu_unsyncs, unsyncs + 1);
    ck_assert_uint_ge(stats.mmu_resyncs_kept, kept + 2);
}
END_TEST

/* An entry set, used and cleared back to what the snapshot holds: the mapping made in
 * between must still go at the flush. */
START_TEST(entry_back_to_its_snapshot_value)
{
    struct prog p = {0};

    *ram32(PT + 0x231 * 4) = 0;
    store(&p, PT + 0x230 * 4, 0x230000 | PTE_P | PTE_RW);   /* unsync: snapshot has 0x231 = 0 */
    store(&p, PT + 0x231 * 4, 0x232000 | PTE_P | PTE_RW);
    load(&p, 0x231000);                                     /* mapped from the new value */
    store(&p, PT + 0x231 * 4, 0);                           /* back to the snapshot's value */
    reload_cr3(&p);
    load(&p, 0x231000);                                     /* #PF */
    ck_assert_int_eq(run(&p), RUN_RESET);
    ck_assert_uint_eq(fx->cpu->cr2, 0x231000);
}
END_TEST

/* Code at linear 0x240000 is remapped to other bytes: after the flush the call runs them
 * (the indirect call's lookup-table entry must be forgotten). */
static void remapped_code(bool by_cr3, bool global)
{
    static const uint8_t one[] = {0xb8, 1, 0, 0, 0, 0xc3}, two[] = {0xb8, 2, 0, 0, 0, 0xc3};
    struct prog p = {0};

    memcpy(fx->ram + 0x240000, one, sizeof(one));
    memcpy(fx->ram + 0x260000, two, sizeof(two));
    if (global) {
        /* A global page: its lookups live in the table all address spaces share. */
        fx->cpu->cr4 |= CR4_PGE;
        *ram32(PT + 0x240 * 4) |= PTE_G;
    }
    call_abs(&p, 0x240000);
    save_eax(&p, 0x204000);
    call_abs(&p, 0x240000);                                 /* the lookup table has it now */
    store(&p, PT + 0x240 * 4, 0x260000 | PTE_P | PTE_RW | (global ? PTE_G : 0));
    if (by_cr3)
        reload_cr3(&p);
    else
        invlpg(&p, 0x240000);
    call_abs(&p, 0x240000);
    save_eax(&p, 0x204004);
    ck_assert_int_eq(run(&p), RUN_HALTED);
    ck_assert_uint_eq(*ram32(0x204000), 1);
    ck_assert_uint_eq(*ram32(0x204004), 2);
}

START_TEST(remapped_code_after_invlpg)
{
    remapped_code(false, false);
}
END_TEST

START_TEST(remapped_code_after_cr3_load)
{
    remapped_code(true, false);
}
END_TEST

START_TEST(remapped_global_code_after_invlpg)
{
    remapped_code(false, true);
}
END_TEST

START_TEST(freed_table_is_no_longer_traced)
{
    struct prog p = {0};
    uint64_t untraced = stats.mmu_untraced, unsyncs;

    for (uint32_t i = 0; i < 1024; i++)
        *ram32(PT2 + 4 * i) = (0x400000 + (i << 12)) | PTE_P | PTE_RW;
    *ram32(PD + 4) = PT2 | PTE_P | PTE_RW;
    load(&p, 0x400000);                       /* PT2 becomes a traced page table */
    store(&p, PD + 4, 0);                     /* the guest frees it */
    invlpg(&p, 0x400000);
    store(&p, PT2, 0x12345678);               /* and uses it as data */
    reload_cr3(&p);                           /* resync: no window reaches PT2 */
    ck_assert_int_eq(run(&p), RUN_HALTED);
    ck_assert_uint_gt(stats.mmu_untraced, untraced);

    /* Writes to it now run natively: no unsync, no emulation. */
    unsyncs = stats.mmu_unsyncs;
    p.n = 0;
    store(&p, PT2 + 8, 1);
    store(&p, PT2 + 12, 2);
    reload_cr3(&p);
    ck_assert_int_eq(run_at(&p, CODE + 0x1000), RUN_HALTED);
    ck_assert_uint_eq(stats.mmu_unsyncs, unsyncs);
    ck_assert_uint_eq(*ram32(PT2 + 12), 2);
}
END_TEST

START_TEST(page_directory_writes_stay_traced)
{
    struct prog p = {0};
    uint64_t hits = stats.mmu_trace_hits;

    for (uint32_t i = 0; i < 1024; i++)
        *ram32(PT2 + 4 * i) = (0x400000 + (i << 12)) | PTE_P | PTE_RW;
    *ram32(0x400000) = 0xfeedf00d;
    load(&p, 0x100000);
    store(&p, PD + 4, PT2 | PTE_P | PTE_RW);  /* emulated: PD is never left writable */
    store(&p, PD + 8, PT2 | PTE_P);           /* (a store of what is there is no change) */
    load(&p, 0x400000);
    save_eax(&p, 0x204000);
    ck_assert_int_eq(run(&p), RUN_HALTED);
    ck_assert_uint_ge(stats.mmu_trace_hits, hits + 2);
    ck_assert_uint_eq(*ram32(0x204000), 0xfeedf00d);
}
END_TEST

#define PD2 0x13000u /* a second address space: PT for 0-4 MiB, PT2 for 4-8 MiB */

static void second_space(void)
{
    for (uint32_t i = 0; i < 1024; i++)
        *ram32(PT2 + 4 * i) = (0x400000 + (i << 12)) | PTE_P | PTE_RW;
    *ram32(PD2) = PT | PTE_P | PTE_RW;
    *ram32(PD2 + 4) = PT2 | PTE_P | PTE_RW;
}

/* A directory that is not CR3's is written freely (no trace per store) and its window
 * keeps every mapping the writes gave back: zeroing a directory and copying its entries
 * back in, as Linux builds a new address space in a recycled page, costs the window
 * nothing. */
START_TEST(other_directory_rewritten_keeps_its_window)
{
    struct prog p = {0};
    uint64_t hidden, unsyncs = stats.mmu_unsyncs;

    second_space();
    load_cr3(&p, PD2);
    for (uint32_t a = 0x400000; a < 0x410000; a += 0x1000)
        load(&p, a);                          /* PD2's window maps these */
    load_cr3(&p, PD);
    store(&p, PD2 + 4, 0);                    /* the first store unsyncs PD2 */
    store(&p, PD2, 0);
    store(&p, PD2, PT | PTE_P | PTE_RW);
    store(&p, PD2 + 4, PT2 | PTE_P | PTE_RW);
    ck_assert_int_eq(run(&p), RUN_HALTED);
    ck_assert_uint_gt(stats.mmu_unsyncs, unsyncs);

    p.n = 0;
    load_cr3(&p, PD2);
    for (uint32_t a = 0x400000; a < 0x410000; a += 0x1000)
        load(&p, a);
    hidden = stats.mmu_hidden_faults;
    ck_assert_int_eq(run_at(&p, CODE + 0x1000), RUN_HALTED);
    ck_assert_uint_le(stats.mmu_hidden_faults, hidden + 1); /* (the new code page) */
}
END_TEST

/* ... and a change to it takes effect when CR3 is loaded with it. */
START_TEST(other_directory_change_applies_at_its_load)
{
    struct prog p = {0};

    second_space();
    *ram32(0x400000) = 0xfeedf00d;
    load_cr3(&p, PD2);
    load(&p, 0x400000);
    save_eax(&p, 0x204000);
    load_cr3(&p, PD);
    store(&p, PD2 + 4, 0);                    /* 4-8 MiB gone from the second space */
    load_cr3(&p, PD2);
    load(&p, 0x400000);                       /* #PF */
    ck_assert_int_eq(run(&p), RUN_RESET);
    ck_assert_uint_eq(*ram32(0x204000), 0xfeedf00d);
    ck_assert_uint_eq(fx->cpu->cr2, 0x400000);
}
END_TEST

/* A hidden fault maps the accessed neighbours of its page in the same aligned group of 64,
 * but not those the window maps already (and a page protected after it was mapped
 * writable is made read-only in the window, not unmapped). */
START_TEST(prefetch_maps_only_what_is_missing)
{
    struct prog p = {0};
    uint64_t mapped;

    for (uint32_t i = 0x220; i < 0x230; i++)
        *ram32(PT + 4 * i) |= PTE_A | PTE_D;
    load(&p, 0x220000);                       /* maps the whole group */
    invlpg(&p, 0x225000);
    ck_assert_int_eq(run(&p), RUN_HALTED);
    mapped = stats.mmu_pages_mapped;
    p.n = 0;
    load(&p, 0x225000);                       /* maps this page and nothing else */
    ck_assert_int_eq(run_at(&p, CODE + 0x1000), RUN_HALTED);
    ck_assert_uint_ge(stats.mmu_pages_mapped, mapped + 1);
    ck_assert_uint_le(stats.mmu_pages_mapped, mapped + 2); /* (and perhaps the code page) */
}
END_TEST

/* A #PF handler that makes the page present and returns with IRET: the page is mapped at
 * the IRET, and the retried access takes no host fault of its own. */
START_TEST(table_page_inside_a_prefetched_run_stays_traced)
{
    /* A hidden fault maps its accessed neighbours in one run and then write-protects the
     * page tables among them (PD and PT lie in the same 64-page group as 0x20000 here).
     * A store to the PT through that mapping must still be seen: the changed entry takes
     * effect at INVLPG. */
    struct prog p = {0};
    uint64_t unsyncs = stats.mmu_unsyncs, hits = stats.mmu_trace_hits;

    for (uint32_t i = 0; i < 0x40; i++)
        *ram32(PT + 4 * i) |= PTE_A | PTE_D;
    *ram32(0x200000) = 0x11111111;
    *ram32(0x204000) = 0x22222222;
    load(&p, 0x200000);                       /* mapped (and PT traced) */
    load(&p, 0x20000);                        /* maps the group of PD and PT */
    store(&p, PT + 0x200 * 4, 0x204000 | PTE_P | PTE_RW);
    invlpg(&p, 0x200000);
    load(&p, 0x200000);
    save_eax(&p, 0x208000);
    ck_assert_int_eq(run(&p), RUN_HALTED);
    ck_assert_uint_eq(*ram32(0x208000), 0x22222222);
    ck_assert_uint_gt(stats.mmu_unsyncs + stats.mmu_trace_hits, unsyncs + hits);
}
END_TEST

START_TEST(page_made_present_by_the_handler_is_mapped_at_iret)
{
    static const uint64_t gdt[3] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    static const uint8_t handler_code[] = {
        0x0f, 0x20, 0xd0,                     /* mov eax, cr2 */
        0x25, 0x00, 0xf0, 0xff, 0xff,         /* and eax, ~0xfff */
        0x89, 0xc2,                           /* mov edx, eax */
        0xc1, 0xea, 0x0a,                     /* shr edx, 10: the entry's offset in PT */
        0x83, 0xc8, 0x63,                     /* or eax, P | RW | A | D */
        0x89, 0x82, PT & 0xff, (PT >> 8) & 0xff, (PT >> 16) & 0xff, PT >> 24, /* mov [edx+PT] */
        0x83, 0xc4, 0x04,                     /* add esp, 4 (error code) */
        0xcf};                                /* iretd */
    const uint32_t gdt_at = 0x14000, idt_at = 0x15000, handler = CODE + 0x3000;
    uint64_t gate = (handler & 0xffff) | 0x08ull << 16 | 0x8eull << 40 |
                    (uint64_t)(handler >> 16) << 48;
    struct prog p = {0};
    uint64_t premapped, hidden;

    memcpy(fx->ram + gdt_at, gdt, sizeof(gdt));
    memcpy(fx->ram + idt_at + 14 * 8, &gate, 8);
    memcpy(fx->ram + handler, handler_code, sizeof(handler_code));
    fx->cpu->gdtr.base = gdt_at;
    fx->cpu->gdtr.limit = sizeof(gdt) - 1;
    fx->cpu->idtr.base = idt_at;
    fx->cpu->idtr.limit = 15 * 8 - 1;
    fx->cpu->seg[SEG_CS].sel = 0x08;
    fx->cpu->seg[SEG_DS].sel = fx->cpu->seg[SEG_ES].sel = fx->cpu->seg[SEG_SS].sel = 0x10;
    *ram32(PT + 0x2a0 * 4) = 0;                               /* not present */
    *ram32(PT + 0x290 * 4) = 0;
    *ram32(0x290000) = 0x600d600d;
    load(&p, 0x2a0000);                                       /* the handler runs once */
    ck_assert_int_eq(run(&p), RUN_HALTED);
    premapped = stats.mmu_refaults_premapped;
    hidden = stats.mmu_hidden_faults;
    p.n = 0;
    load(&p, 0x290000);                                       /* #PF, handled, retried */
    save_eax(&p, 0x204000);
    ck_assert_int_eq(run_at(&p, CODE + 0x1000), RUN_HALTED);
    ck_assert_uint_eq(*ram32(0x204000), 0x600d600d);
    ck_assert_uint_eq(stats.mmu_refaults_premapped, premapped + 1);
    ck_assert_uint_le(stats.mmu_hidden_faults, hidden + 1);  /* (the new code page only) */
}
END_TEST

/* The VMA budget counts charges that are an upper bound: past it, the host's real VMAs are
 * counted, and only if they are many are the windows emptied. Here they are few: what is
 * mapped stays mapped. */
START_TEST(vma_budget_recounts_before_dropping_windows)
{
    struct prog p = {0};
    uint64_t recounts = stats.mmu_vma_recounts, hidden;

    load(&p, 0x200000);
    ck_assert_int_eq(run(&p), RUN_HALTED);
    fx->mmu->total_mapped = 1000000;          /* far past any budget */
    p.n = 0;
    load(&p, 0x280000);                       /* a hidden fault: over budget */
    ck_assert_int_eq(run_at(&p, CODE + 0x1000), RUN_HALTED);
    ck_assert_uint_eq(stats.mmu_vma_recounts, recounts + 1);
    ck_assert_uint_lt(fx->mmu->total_mapped, 1000000);
    hidden = stats.mmu_hidden_faults;
    p.n = 0;
    load(&p, 0x200000);
    load(&p, 0x280000);
    ck_assert_int_eq(run_at(&p, CODE + 0x2000), RUN_HALTED);
    ck_assert_uint_le(stats.mmu_hidden_faults, hidden + 1); /* (the new code page) */
}
END_TEST

/* Inline segment loads (and VERW) read the GDT through the window with 32-bit addressing:
 * a GDT at the top of the linear space is read there, and an entry past 0xffffffff wraps
 * to 0, as on the hardware; nothing outside the window is touched. Each selector is loaded
 * twice: once by the callout (which fills the memo), once inline. */
START_TEST(segment_memo_at_the_top_of_memory)
{
    struct prog p = {0};
    static const uint8_t load_es[] = {0x8e, 0xc0}; /* mov es, eax */

    for (uint32_t i = 0; i < 1024; i++)
        *ram32(PT2 + 4 * i) = 0;
    *ram32(PT2 + 1023 * 4) = 0x250000 | PTE_P | PTE_RW;    /* 0xfffff000 -> 0x250000 */
    *ram32(PD + 1023 * 4) = PT2 | PTE_P | PTE_RW;
    *(uint64_t *)(fx->ram + 0x250ff8) = 0x00cf92001000ffffull; /* 0x10: base 0x1000 */
    *(uint64_t *)(fx->ram + 0x0) = 0x00cf92002000ffffull;      /* 0x18 (wrapped): 0x2000 */
    fx->cpu->gdtr.base = 0xffffffe8u;
    fx->cpu->gdtr.limit = 0x1f;
    put8(&p, 0xb8);
    put32(&p, 0x10);                                        /* mov eax, 0x10 */
    for (int k = 0; k < 2; k++) {
        memcpy(p.b + p.n, load_es, 2);
        p.n += 2;
        put8(&p, 0x8c);
        put8(&p, k ? 0xc1 : 0xc3);                           /* mov ebx / ecx, es */
    }
    put8(&p, 0xb8);
    put32(&p, 0x18);                                        /* mov eax, 0x18 */
    memcpy(p.b + p.n, load_es, 2);
    p.n += 2;
    memcpy(p.b + p.n, load_es, 2);
    p.n += 2;
    for (int k = 0; k < 2; k++) {             /* verw ax (0x18, wrapped): callout, inline */
        static const uint8_t verw_setz[] = {0x0f, 0x00, 0xe8, 0x0f, 0x94, 0xc2}; /* setz dl */
        memcpy(p.b + p.n, verw_setz, sizeof(verw_setz));
        p.n += sizeof(verw_setz);
        put8(&p, 0x00);
        put8(&p, 0xd6);                       /* add dh, dl */
    }
    fx->cpu->gpr[R_EDX] = 0;
    ck_assert_int_eq(run(&p), RUN_HALTED);
    ck_assert_uint_eq((fx->cpu->gpr[R_EDX] >> 8) & 0xff, 2);
    ck_assert_uint_eq(fx->cpu->gpr[R_EBX], 0x10);
    ck_assert_uint_eq(fx->cpu->gpr[R_ECX], 0x10);
    ck_assert_uint_eq(fx->cpu->seg[SEG_ES].sel, 0x18);
    ck_assert_uint_eq(fx->cpu->seg[SEG_ES].base, 0x2000);
    ck_assert_uint_eq(fx->cpu->seg_memo[(0x10 >> 3) & 7].base, 0x1000);
}
END_TEST

/* Write protection is by userfaultfd where the host has it (unless TACHYON_WP=mprotect,
 * which ctest also runs this suite with), else by mprotect; traces work either way. */
START_TEST(write_protect_backend)
{
    struct prog p = {0};
    uint64_t uffd_ops = stats.mmu_wp_uffd;
    const char *how = getenv("TACHYON_WP");

    load(&p, 0x200000);                       /* traces PD and PT: write-protects them */
    store(&p, PD + 4 * 5, 0);                 /* a traced (emulated) store */
    ck_assert_int_eq(run(&p), RUN_HALTED);
    if (how && !strcmp(how, "mprotect"))
        ck_assert_int_lt(fx->mmu->uffd, 0);
    if (fx->mmu->uffd >= 0)
        ck_assert_uint_gt(stats.mmu_wp_uffd, uffd_ops);
    else
        ck_assert_uint_eq(stats.mmu_wp_uffd, uffd_ops);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mmu/unsync");
    TCase *tc = tcase_create("tlb");

    tcase_add_checked_fixture(tc, setup, fixture_machine_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, invlpg_applies_a_cleared_entry);
    tcase_add_test(tc, cr3_load_applies_every_change);
    tcase_add_test(tc, made_present_is_seen_at_once);
    tcase_add_test(tc, entry_back_to_its_snapshot_value);
    tcase_add_test(tc, rewritten_table_stays_writable_and_each_load_applies);
    tcase_add_test(tc, remapped_code_after_invlpg);
    tcase_add_test(tc, remapped_code_after_cr3_load);
    tcase_add_test(tc, remapped_global_code_after_invlpg);
    tcase_add_test(tc, freed_table_is_no_longer_traced);
    tcase_add_test(tc, page_directory_writes_stay_traced);
    tcase_add_test(tc, other_directory_rewritten_keeps_its_window);
    tcase_add_test(tc, prefetch_maps_only_what_is_missing);
    tcase_add_test(tc, table_page_inside_a_prefetched_run_stays_traced);
    tcase_add_test(tc, vma_budget_recounts_before_dropping_windows);
    tcase_add_test(tc, page_made_present_by_the_handler_is_mapped_at_iret);
    tcase_add_test(tc, other_directory_change_applies_at_its_load);
    tcase_add_test(tc, write_protect_backend);
    tcase_add_test(tc, segment_memo_at_the_top_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(suite());
}
