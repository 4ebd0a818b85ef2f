/*
 * aspaces: address spaces built, used and torn down the way an OS does it
 * (fork, exec and exit over and over), for an MMU that caches translations
 * per CR3 and follows the guest's page tables through write traces. Each
 * part checks one thing a shadow of the tables can get wrong; the rules come
 * from the SDM's chapter on TLBs and paging-structure caches: a CR3 load
 * drops every non-global translation, INVLPG drops one page's (global or
 * not), and clearing CR4.PGE drops everything, global translations included.
 *
 *  1. Stress: 10,000 address spaces. Each takes a page directory, one or two
 *     page tables, a data page and a code page from a pool of frames in this
 *     image, handed out round-robin. An iteration takes 4 or 5 frames (13
 *     every 3 iterations) and the pool has 37 frames, or in every other block
 *     of 1000 iterations only its first 11, so every frame is in turn a
 *     directory, a table, data and code; with 11 frames the same directory
 *     frame (the same CR3) comes back after about 5 spaces, while a VMM may
 *     still cache what it built for it. The directory maps the first 4 MiB
 *     (where this code, its stack and the pool live) through the shared
 *     identity page table, or on odd iterations (with PSE) through one 4 MiB
 *     page, global when PGE is there. The data and code addresses change
 *     every 16 iterations only, so one (CR3, linear address) pair meets other
 *     frames; the code's directory entry points at a second page table or at
 *     the data's (one table under two directory entries). The page table the
 *     previous iteration freed is mapped as a data page and patterns are
 *     written to it through that mapping (pages that stop being page
 *     tables). In the new space the test reads a word written beforehand
 *     through the identity map, writes a per-iteration value and reads it
 *     back, maps one more page by writing a PTE (not present to present: no
 *     flush needed) and reads through it, points that PTE at the code page
 *     and INVLPGs or reloads CR3, and calls the code: indirectly at its
 *     varying address and by a direct CALL (the same instruction bytes in
 *     every space) at a fixed one, each copy with an immediate of its own. A
 *     translation or a mapping left over from an earlier space shows up as a
 *     wrong value. Back in the base space it checks that the writes reached
 *     the right frames and clears everything it set, so that the pool is all
 *     zeros again (checked every 1000 iterations).
 *  2. Two directories sharing one page table, 200 rounds: both spaces use an
 *     entry, then it changes (through its identity address or through the
 *     table's own mapping of itself, then INVLPG in the current space; or
 *     from the base space, then a CR3 load); the new page must show in the
 *     current space and, after a CR3 load, in the other one, which had used
 *     the old entry. An entry made not present faults in both.
 *  3. Global pages (CPUID PGE): a G page in a page table both directories
 *     share keeps working across CR3 loads; after its PTE changes, INVLPG
 *     and a CR4.PGE clear-and-set each make the new page visible in both
 *     spaces; a non-global entry is dropped by a CR3 load even with PGE on;
 *     a global 4 MiB page (with PSE) moved to other frames and back. Stale
 *     values are never required (the TLB may or may not hold them): a read
 *     after a change without a flush may give the old or the new page.
 * The global 4 MiB page is pointed at physical 4 MiB, so the machine needs
 * at least 8 MiB of RAM (QEMU's and tachyon's default is 128 MiB).
 */
#include "kit.h"

#define PAGE 4096u
#define P 0x001u
#define RW 0x002u
#define PS 0x080u
#define G 0x100u
#define CR0_PG 0x80000000u
#define CR4_PSE 0x010u
#define CR4_PGE 0x080u
#define CPUID_PSE (1u << 3)
#define CPUID_PGE (1u << 13)

#define ITERATIONS 10000u
#define NPOOL 37u        /* frames in the pool: prime, so roles rotate */
#define SMALL_POOL 11u   /* the part of it used in every other block of iterations */
#define REGION_DIR 0x100 /* 0x40000000: data of the stress spaces, +0..2 */
#define CODE_DIR 0x200   /* 0x80000000: their code, +0..1 */
#define FIXED_OFF 0xfc0u /* a second copy of the code, at L_FIXED */
#define SH_DIR 0x140     /* 0x50000000: the shared page table of part 2 */
#define G_DIR 0x180      /* 0x60000000: the global page of part 3 */
#define GBIG_DIR 0x190   /* 0x64000000: the global 4 MiB page of part 3 */

#define L_FIXED 0x803fffc0u /* CODE_DIR, slot 1023, FIXED_OFF */
#define L_SH ((SH_DIR << 22) | 5u << 12)
#define L_SH_ALIAS ((SH_DIR << 22) | 1023u << 12) /* pt_sh mapped by itself */
#define L_G (G_DIR << 22)
#define L_GBIG (GBIG_DIR << 22)
#define MARK(k) (0x3a3a0000u + (k))
#define MARK_OFF 0x10

static volatile uint32_t pd_base[1024] __attribute__((aligned(4096)));
static volatile uint32_t pt_id[1024] __attribute__((aligned(4096)));
static volatile uint32_t pd_x[1024] __attribute__((aligned(4096)));
static volatile uint32_t pd_y[1024] __attribute__((aligned(4096)));
static volatile uint32_t pt_sh[1024] __attribute__((aligned(4096)));
static volatile uint32_t pd_g1[1024] __attribute__((aligned(4096)));
static volatile uint32_t pd_g2[1024] __attribute__((aligned(4096)));
static volatile uint32_t pt_g[1024] __attribute__((aligned(4096)));
static uint8_t pages[4][PAGE] __attribute__((aligned(4096))); /* marked data pages */
static uint8_t pool[NPOOL][PAGE] __attribute__((aligned(4096)));
extern char t_image_end[];

static int have_pse, have_pge;

/*
 * probe_read(addr): one load whose #PF resumes right after it (EAX is
 * 0xdeadbeef then). tmpl_fn is the function copied into the stress spaces'
 * code pages: its immediate (at +1) is patched per iteration.
 */
__asm__(".text\n"
        "probe_read:\n"
        "    movl 4(%esp), %edx\n"
        "    movl $0xdeadbeef, %eax\n"
        "    movl $1f, t_resume_eip\n"
        "probe_read_insn:\n"
        "    movl (%edx), %eax\n"
        "1:  movl $0, t_resume_eip\n"
        "    ret\n"
        "tmpl_fn:\n"
        "    movl $0, %eax\n"
        "    addl 4(%esp), %eax\n"
        "    ret\n"
        "tmpl_fn_end:\n"
        /* A direct call to the fixed code address of the stress spaces: the
         * same bytes (at the same physical address) call other code in each. */
        "call_fixed:\n"
        "    pushl 4(%esp)\n"
        "    call 0x803fffc0\n"
        "    addl $4, %esp\n"
        "    ret\n");
uint32_t probe_read(uint32_t addr);
uint32_t call_fixed(uint32_t arg);
extern char probe_read_insn[], tmpl_fn[], tmpl_fn_end[];

typedef uint32_t (*fn_t)(uint32_t);

static inline volatile uint32_t *word(uint32_t addr)
{
    return (volatile uint32_t *)addr;
}

static uint32_t pa(const void *p)
{
    return (uint32_t)p;
}

static uint32_t rd(uint32_t addr)
{
    return *word(addr);
}

static void cpuid_features(void)
{
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    have_pse = (d & CPUID_PSE) != 0;
    have_pge = (d & CPUID_PGE) != 0;
    t_printf("CPUID.1:EDX 0x%08x: PSE %s, PGE %s\n", d, have_pse ? "yes" : "no",
             have_pge ? "yes" : "no");
}

static void paging_on(void)
{
    for (uint32_t i = 0; i < 1024; i++)
        pt_id[i] = i * PAGE | P | RW;
    pd_base[0] = pa((const void *)pt_id) | P | RW;
    for (int k = 0; k < 4; k++)
        *word(pa(pages[k]) + MARK_OFF) = MARK(k);
    if (have_pse)
        t_write_cr4(t_read_cr4() | CR4_PSE);
    t_write_cr3(pa((const void *)pd_base));
    t_write_cr0(t_read_cr0() | CR0_PG);
}

/* ---- part 2: one page table, two directories ---- */

static void test_shared_table(void)
{
    const uint32_t x = pa((const void *)pd_x), y = pa((const void *)pd_y);
    unsigned bad = 0;

    pd_x[0] = pd_y[0] = pa((const void *)pt_id) | P | RW;
    pd_x[SH_DIR] = pd_y[SH_DIR] = pa((const void *)pt_sh) | P | RW;
    pt_sh[5] = pa(pages[0]) | P | RW;
    pt_sh[1023] = pa((const void *)pt_sh) | P | RW;

    for (uint32_t r = 0; r < 200; r++) {
        uint32_t cur = r & 1 ? y : x, other = r & 1 ? x : y;
        uint32_t k = r % 4, k2 = (r + 1) % 4;
        uint32_t seen_other, seen_cur, now_cur, now_other, val_other;

        /* Both spaces use the entry as it is. */
        t_write_cr3(other);
        seen_other = rd(L_SH + MARK_OFF);
        t_write_cr3(cur);
        seen_cur = rd(L_SH + MARK_OFF);
        /* Change it: through the identity map or through the table's own
         * mapping of itself, then INVLPG; or from the base space (which does
         * not map it), then load this space's CR3 again. */
        if (r % 3 == 0) {
            pt_sh[5] = pa(pages[k2]) | P | RW;
            t_invlpg((void *)L_SH);
        } else if (r % 3 == 1) {
            word(L_SH_ALIAS)[5] = pa(pages[k2]) | P | RW;
            t_invlpg((void *)L_SH);
        } else {
            t_write_cr3(pa((const void *)pd_base));
            pt_sh[5] = pa(pages[k2]) | P | RW;
            t_write_cr3(cur);
        }
        now_cur = rd(L_SH + MARK_OFF);
        *word(L_SH + 0x100) = 0x5eed0000 + r;
        t_write_cr3(other);
        now_other = rd(L_SH + MARK_OFF);
        val_other = rd(L_SH + 0x100);
        if (seen_other != MARK(k) || seen_cur != MARK(k) || now_cur != MARK(k2) ||
            now_other != MARK(k2) || val_other != 0x5eed0000 + r) {
            if (!bad)
                t_printf("shared table round %u: before %08x/%08x, after %08x here, %08x and "
                         "%08x in the other space (want %08x, %08x, %08x)\n",
                         r, seen_other, seen_cur, now_cur, now_other, val_other, MARK(k), MARK(k2),
                         0x5eed0000 + r);
            bad++;
        }
    }
    t_assert_eq("shared page table: 200 changes, seen in both spaces", bad, 0);
    t_assert_eq("shared page table: writes reached the new pages",
                *word(pa(pages[3]) + 0x100) + *word(pa(pages[0]) + 0x100),
                0x5eed0000u + 198 + 0x5eed0000u + 199);

    /* Not present: both spaces fault on it (both have used it just before). */
    uint32_t before = t_trap.count;
    t_write_cr3(x);
    t_assert_eq("shared page table: mapped in X", rd(L_SH + MARK_OFF), MARK(0));
    t_write_cr3(y);
    rd(L_SH);
    t_write_cr3(x);
    pt_sh[5] = 0;
    t_invlpg((void *)L_SH);
    t_assert_eq("shared page table: not present in X", probe_read(L_SH + 0x20), 0xdeadbeef);
    t_write_cr3(y);
    t_assert_eq("shared page table: not present in Y", probe_read(L_SH + 0x24), 0xdeadbeef);
    t_assert_eq("shared page table: two #PF", t_trap.count - before, 2);
    t_assert_eq("shared page table: CR2 of the last", t_trap.cr2, L_SH + 0x24);
    t_assert_eq("shared page table: EIP of the last", t_trap.eip, pa(probe_read_insn));
    word(L_SH_ALIAS)[5] = pa(pages[2]) | P | RW;
    t_invlpg((void *)L_SH);
    t_assert_eq("shared page table: mapped again in Y", rd(L_SH + MARK_OFF), MARK(2));
    t_write_cr3(x);
    t_assert_eq("shared page table: mapped again in X", rd(L_SH + MARK_OFF), MARK(2));
    t_write_cr3(pa((const void *)pd_base));
}

/* ---- part 3: global pages ---- */

static void pge_toggle(void)
{
    uint32_t cr4 = t_read_cr4();
    t_write_cr4(cr4 & ~CR4_PGE);
    t_write_cr4(cr4 | CR4_PGE);
}

static void test_global(void)
{
    const uint32_t g1 = pa((const void *)pd_g1), g2 = pa((const void *)pd_g2);
    unsigned bad = 0;
    uint32_t v;

    if (!have_pge) {
        t_printf("no PGE: global page checks skipped\n");
        return;
    }
    pd_g1[0] = pd_g2[0] = pa((const void *)pt_id) | P | RW;
    pd_g1[G_DIR] = pd_g2[G_DIR] = pa((const void *)pt_g) | P | RW;
    pt_g[0] = pa(pages[0]) | P | RW | G;
    t_write_cr4(t_read_cr4() | CR4_PGE);

    t_write_cr3(g1);
    t_assert_eq("global page: first read", rd(L_G + MARK_OFF), MARK(0));
    for (uint32_t n = 0; n < 24; n++) {
        t_write_cr3(n % 3 == 2 ? g1 : g2); /* includes loads of the CR3 already loaded */
        v = rd(L_G + MARK_OFF);
        *word(L_G + 0x200 + 4 * (n % 8)) = 0x610b0000 + n;
        if (v != MARK(0) || rd(L_G + 0x200 + 4 * (n % 8)) != 0x610b0000 + n ||
            *word(pa(pages[0]) + 0x200 + 4 * (n % 8)) != 0x610b0000 + n)
            bad++;
    }
    t_assert_eq("global page: works across 24 CR3 loads", bad, 0);

    /* INVLPG drops a global translation. */
    t_write_cr3(g1);
    pt_g[0] = pa(pages[1]) | P | RW | G;
    t_invlpg((void *)L_G);
    t_assert_eq("global page changed, INVLPG", rd(L_G + MARK_OFF), MARK(1));
    t_write_cr3(g2);
    t_assert_eq("global page changed, INVLPG: other space", rd(L_G + MARK_OFF), MARK(1));

    /* So does clearing CR4.PGE. */
    pt_g[0] = pa(pages[2]) | P | RW | G;
    pge_toggle();
    t_assert_eq("global page changed, PGE toggle", rd(L_G + MARK_OFF), MARK(2));
    t_write_cr3(g1);
    t_assert_eq("global page changed, PGE toggle: other space", rd(L_G + MARK_OFF), MARK(2));

    /* Changed with only CR3 loads after: old or new, both are right. */
    pt_g[0] = pa(pages[3]) | P | RW | G;
    t_write_cr3(g2);
    t_write_cr3(g1);
    v = rd(L_G + MARK_OFF);
    if (!t_assert_eq("global page changed, CR3 loads only: old or new page",
                     v == MARK(2) || v == MARK(3), 1))
        t_printf("  read 0x%08x\n", v);
    pge_toggle();
    t_assert_eq("global page changed, then PGE toggle", rd(L_G + MARK_OFF), MARK(3));

    /* A non-global entry is dropped by a CR3 load, PGE or not. */
    pt_g[0] = pa(pages[0]) | P | RW;
    t_invlpg((void *)L_G);
    t_assert_eq("G cleared, INVLPG", rd(L_G + MARK_OFF), MARK(0));
    pt_g[0] = pa(pages[1]) | P | RW;
    t_write_cr3(g2);
    t_assert_eq("non-global entry changed, CR3 load", rd(L_G + MARK_OFF), MARK(1));
    pt_g[0] = pa(pages[2]) | P | RW | G;
    t_write_cr3(g1);
    t_assert_eq("G set again, CR3 load", rd(L_G + MARK_OFF), MARK(2));

    if (!have_pse) {
        t_printf("no PSE: global 4 MiB page checks skipped\n");
    } else {
        const uint32_t off = pa(pages[1]) + MARK_OFF; /* physical 0 + off is pages[1]'s marker */
        bad = 0;
        pd_g1[GBIG_DIR] = pd_g2[GBIG_DIR] = 0 | PS | P | RW | G;
        t_write_cr3(g2);
        for (uint32_t n = 0; n < 8; n++) {
            t_write_cr3(n & 1 ? g1 : g2);
            if (rd(L_GBIG + off) != MARK(1))
                bad++;
        }
        t_assert_eq("global 4 MiB page: works across CR3 loads", bad, 0);
        /* Move it to physical 4 MiB (both directories) and INVLPG. */
        pd_g1[GBIG_DIR] = pd_g2[GBIG_DIR] = 0x400000 | PS | P | RW | G;
        t_invlpg((void *)(L_GBIG + 0x1000));
        *word(L_GBIG + off) = 0xb16b16;
        t_assert_eq("global 4 MiB page moved, INVLPG", rd(L_GBIG + off), 0xb16b16);
        t_assert_eq("global 4 MiB page moved: not the old frames", *word(off), MARK(1));
        /* Back to physical 0, PGE toggle. */
        pd_g1[GBIG_DIR] = pd_g2[GBIG_DIR] = 0 | PS | P | RW | G;
        pge_toggle();
        t_assert_eq("global 4 MiB page back, PGE toggle", rd(L_GBIG + off), MARK(1));
        t_write_cr3(g2);
        t_assert_eq("global 4 MiB page back: other space", rd(L_GBIG + off), MARK(1));
        /* Physical 4 MiB again, INVLPG in this space, read in both. */
        pd_g1[GBIG_DIR] = pd_g2[GBIG_DIR] = 0x400000 | PS | P | RW | G;
        t_invlpg((void *)L_GBIG);
        t_assert_eq("global 4 MiB page moved again", rd(L_GBIG + off), 0xb16b16);
        t_write_cr3(g1);
        t_assert_eq("global 4 MiB page moved again: other space", rd(L_GBIG + off), 0xb16b16);
        pd_g1[GBIG_DIR] = pd_g2[GBIG_DIR] = 0;
    }
    t_write_cr3(pa((const void *)pd_base));
    pge_toggle(); /* nothing global from here may linger into part 1 */
}

/* ---- part 1: many address spaces ---- */

static unsigned npool = NPOOL, next_frame, stress_bad;

static uint32_t alloc_frame(void)
{
    uint32_t f = pa(pool[next_frame % npool]);
    next_frame = (next_frame + 1) % npool;
    return f;
}

static void stress_check(uint32_t i, const char *what, uint32_t got, uint32_t want)
{
    if (got == want)
        return;
    if (stress_bad < 8)
        t_printf("address space %u: %s: got 0x%08x, want 0x%08x\n", i, what, got, want);
    stress_bad++;
}

/* Every frame of the pool is all zeros between iterations. */
static void check_pool_zero(uint32_t i)
{
    for (uint32_t f = 0; f < NPOOL; f++)
        for (uint32_t w = 0; w < 1024; w++) {
            uint32_t v = *word(pa(pool[f]) + 4 * w);
            if (v) {
                if (stress_bad < 8)
                    t_printf("after address space %u: pool frame %u word %u is 0x%08x\n", i, f, w,
                             v);
                stress_bad++;
            }
        }
}

/*
 * One address space, number i. The linear addresses of the data and code
 * pages change only every 16 iterations, so while the pool is small the same
 * directory frame (the same CR3) comes back within a few iterations, with
 * the same linear data and code addresses but other frames behind them. The
 * code's directory entry points at a second page table, or at the same page
 * table as the data's (one table under two directory entries).
 */
static uint32_t one_space(uint32_t i, uint32_t recycled)
{
    const uint32_t base = pa((const void *)pd_base);
    const uint32_t tlen = (uint32_t)(tmpl_fn_end - tmpl_fn);
    const uint32_t blk = i / 16;
    uint32_t pd = alloc_frame(), pt = alloc_frame(), pt2 = i % 3 == 0 ? alloc_frame() : 0;
    uint32_t data = alloc_frame(), code = alloc_frame();
    uint32_t rdir = REGION_DIR + blk % 3, cdir = CODE_DIR + blk % 2;
    uint32_t dslot = (blk * 7) % 1008, rslot = dslot + 1 + i % 5, cslot = 1016 + blk % 4;
    uint32_t coff = (blk % 63) * 64; /* below FIXED_OFF */
    uint32_t xslot = dslot + 6, lx = rdir << 22 | xslot << 12;
    uint32_t ldata = rdir << 22 | dslot << 12, lrec = rdir << 22 | rslot << 12;
    uint32_t lcode = cdir << 22 | cslot << 12;
    uint32_t doff = (i * 52) & 0x7fc, soff = doff + 0x800, roff = 4 * (1 + (i * 13) % 1022);
    uint32_t v = i * 0x9e3779b1u + 0x2468ace0u, imm = 0xc0de0000u + i * 3, imm2 = ~imm;
    int big = have_pse && (i & 1);

    if (recycled == pd || recycled == pt || recycled == pt2 || recycled == data || recycled == code)
        t_fail("the pool hands out a frame still in use");

    /* Build the tables and fill the pages through the identity map. */
    word(pd)[0] = big ? (0 | PS | P | RW | (have_pge ? G : 0)) : pa((const void *)pt_id) | P | RW;
    word(pd)[rdir] = pt | P | RW;
    word(pd)[cdir] = word(pd)[CODE_DIR] = (pt2 ? pt2 : pt) | P | RW;
    word(pt)[dslot] = data | P | RW;
    word(pt)[rslot] = recycled | P | RW;
    word(pt2 ? pt2 : pt)[cslot] = word(pt2 ? pt2 : pt)[1023] = code | P | RW;
    *word(data + soff) = ~v;
    memcpy((void *)(code + coff), tmpl_fn, tlen);
    *word(code + coff + 1) = imm;
    memcpy((void *)(code + FIXED_OFF), tmpl_fn, tlen);
    *word(code + FIXED_OFF + 1) = imm2;

    /* Use the space. */
    t_write_cr3(pd);
    stress_check(i, "word written before, through the new mapping", rd(ldata + soff), ~v);
    stress_check(i, "fresh data word", rd(ldata + doff), 0);
    *word(ldata + doff) = v;
    stress_check(i, "data read back", rd(ldata + doff), v);
    /* Map one more page while the space is current (not present to present
     * needs no flush), then point it elsewhere (that needs INVLPG or a CR3
     * load). */
    word(pt)[xslot] = data | P | RW;
    stress_check(i, "page mapped while current", rd(lx + soff), ~v);
    word(pt)[xslot] = code | P | RW;
    if (i & 4)
        t_invlpg((void *)lx);
    else
        t_write_cr3(pd); /* the same CR3 again */
    stress_check(i, "page remapped while current, INVLPG or CR3 reload", rd(lx + coff + 1), imm);
    stress_check(i, "freed page table as data: first word", rd(lrec), 0);
    *word(lrec) = v ^ 0xa5a5a5a5u;
    *word(lrec + roff) = v ^ 0x5a5a5a5au;
    *word(lrec + 0xffc) = ~v ^ 0x0f0f0f0fu;
    stress_check(i, "freed page table as data: read back", rd(lrec + roff), v ^ 0x5a5a5a5au);
    stress_check(i, "code", ((fn_t)(lcode + coff))(i), imm + i);
    stress_check(i, "code at the fixed address, direct call", call_fixed(i), imm2 + i);
    t_write_cr3(base);

    /* The writes reached the right frames; then clear everything. */
    stress_check(i, "data frame", *word(data + doff), v);
    stress_check(i, "freed page table: word 0", *word(recycled), v ^ 0xa5a5a5a5u);
    stress_check(i, "freed page table: word in the middle", *word(recycled + roff),
                 v ^ 0x5a5a5a5au);
    stress_check(i, "freed page table: last word", *word(recycled + 0xffc), ~v ^ 0x0f0f0f0fu);
    *word(data + doff) = 0;
    *word(data + soff) = 0;
    *word(recycled) = *word(recycled + roff) = *word(recycled + 0xffc) = 0;
    memset((void *)(code + coff), 0, tlen);
    memset((void *)(code + FIXED_OFF), 0, tlen);
    if (i & 2) /* the directory first, then the tables; or the other way round */
        word(pd)[0] = word(pd)[rdir] = word(pd)[cdir] = word(pd)[CODE_DIR] = 0;
    word(pt)[dslot] = word(pt)[rslot] = word(pt)[xslot] = 0;
    word(pt2 ? pt2 : pt)[cslot] = word(pt2 ? pt2 : pt)[1023] = 0;
    word(pd)[0] = word(pd)[rdir] = word(pd)[cdir] = word(pd)[CODE_DIR] = 0;
    return pt;
}

/*
 * Blocks of 1000 iterations alternate between the whole pool (37 frames: a
 * directory frame comes back as a directory only after many other spaces)
 * and its first 11 frames (it comes back after about 5, while the VMM may
 * still hold what it built for that CR3). Either way an iteration's frames
 * never include the previous one's, the recycled page table among them.
 */
static void test_stress(void)
{
    uint32_t recycled = pa(pool[NPOOL - 1]); /* iteration 0 does not allocate it */

    for (uint32_t i = 0; i < ITERATIONS; i++) {
        npool = (i / 1000) & 1 ? SMALL_POOL : NPOOL;
        recycled = one_space(i, recycled);
        if (i % 1000 == 999)
            check_pool_zero(i);
    }
    t_printf("%u address spaces built, used and torn down\n", ITERATIONS);
    t_assert_eq("10000 address spaces: mismatches", stress_bad, 0);
}

void test_main(void)
{
    if (!t_assert_eq("image below 4 MiB", (uint32_t)t_image_end < (4u << 20), 1))
        t_fail("the identity map covers 4 MiB only");
    t_catch(14);
    cpuid_features();
    paging_on();

    test_shared_table();
    test_global();
    if (have_pge) /* global 4 MiB identity pages in part 1 */
        t_write_cr4(t_read_cr4() | CR4_PGE);
    test_stress();

    t_write_cr4(t_read_cr4() & ~CR4_PGE);
    t_write_cr0(t_read_cr0() & ~CR0_PG);
}
