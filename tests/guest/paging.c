/*
 * paging: 2-level 32-bit paging as an OS uses it. Two page directories: A maps
 * the first 4 MiB with a 4 KiB page table, B with one 4 MiB page (CR4.PSE);
 * both map a test region at 0x40000000 through their own page tables onto
 * pages of this image (phys[]), so the same linear page can hold different
 * data or code in A and B. A also has a 4 MiB page at 0x40400000 onto
 * physical 0, a missing directory entry at 0x40800000, a supervisor-only
 * directory entry over a user PTE at 0x40c00000, and a recursive entry (its
 * last PDE points at itself) that shows its page tables at 0xffc00000.
 *
 * Checked, with the expected values from the SDM's paging chapter:
 *  - reads and writes through 4 KiB and 4 MiB mappings reach the right bytes;
 *  - #PF error code, CR2 and EIP (at the instruction) for not-present reads
 *    and writes (PTE and PDE), user reads/writes of a supervisor page (also
 *    when only the PDE is supervisor), a user write to a read-only page, and
 *    a supervisor write to a read-only page: allowed with CR0.WP = 0, #PF 3
 *    with WP = 1;
 *  - the accessed and dirty bits the CPU sets in PTEs (and A in the PDE, A
 *    and D in a 4 MiB PDE), set again after the guest clears them and INVLPG;
 *  - INVLPG (and a CR3 reload) after pointing a PTE elsewhere;
 *  - code: different functions at the same linear address in A and B, called
 *    indirectly and with a direct CALL after each CR3 switch (a translation
 *    keyed by linear address alone runs the wrong one), and a code PTE
 *    remapped to other code (then INVLPG);
 *  - instruction fetch from a not-present page (#PF, CR2 = EIP = the
 *    target) and an instruction that straddles into one (EIP at its start,
 *    CR2 at the page boundary);
 *  - a page table mapped as writable data (through a PTE of its own and
 *    through the recursive entry) and modified through that mapping.
 */
#include "kit.h"

#define PAGE 4096u
#define P 0x001u
#define RW 0x002u
#define US 0x004u
#define ACC 0x020u
#define DIRTY 0x040u
#define PS 0x080u
#define CR0_WP 0x00010000u
#define CR0_PG 0x80000000u
#define CR4_PSE 0x10u

#define REGION 0x40000000u
#define L(i) (REGION + (i)*PAGE)
#define L_DATA L(0)          /* A: phys[0], B: phys[1] */
#define L_NP L(1)            /* not present */
#define L_AD L(2)            /* phys[1], for the A/D bits */
#define L_REMAP L(3)         /* phys[0], then elsewhere */
#define L_RO L(4)            /* phys[6], user, read-only */
#define L_SUP L(5)           /* phys[2], supervisor, writable */
#define L_CODE L(8)          /* A: code A (phys[3]), B: code B (phys[4]) */
#define L_PTALIAS L(9)       /* A's region page table itself */
#define L_EDGE L(10)         /* phys[8]: code ending in an instruction cut by the page end */
#define L_EDGE_NP L(11)      /* not present */
#define L_BIG 0x40400000u    /* A: a 4 MiB page onto physical 0 */
#define L_NOPDE 0x40800000u  /* no page table */
#define L_SUPPDE 0x40c00000u /* supervisor PDE, user PTE onto phys[7] */
#define RECURSIVE 0xffc00000u
#define MARK(k) (0x11110000u + (k))
#define MARK_OFF 0x10 /* where each phys page keeps its marker */

static volatile uint32_t pd_a[1024] __attribute__((aligned(4096)));
static volatile uint32_t pd_b[1024] __attribute__((aligned(4096)));
static volatile uint32_t pt_id[1024] __attribute__((aligned(4096)));
static volatile uint32_t pt_a[1024] __attribute__((aligned(4096)));
static volatile uint32_t pt_b[1024] __attribute__((aligned(4096)));
static volatile uint32_t pt_sup[1024] __attribute__((aligned(4096)));
static uint8_t phys[9][PAGE] __attribute__((aligned(4096)));
static uint8_t ustack[4096] __attribute__((aligned(16)));
extern char t_image_end[];

/*
 * Probes: one load or store whose fault resumes right after it (EAX is
 * 0xdeadbeef after a faulting load). The u_ forms run at CPL 3 on u_addr and
 * u_val and leave through t_user_exit with the loaded value.
 */
uint32_t u_addr, u_val;
__asm__(".text\n"
        "k_read:\n"
        "    movl 4(%esp), %edx\n"
        "    movl $0xdeadbeef, %eax\n"
        "    movl $1f, t_resume_eip\n"
        "k_read_insn:\n"
        "    movl (%edx), %eax\n"
        "1:  movl $0, t_resume_eip\n"
        "    ret\n"
        "k_write:\n"
        "    movl 4(%esp), %edx\n"
        "    movl 8(%esp), %eax\n"
        "    movl $1f, t_resume_eip\n"
        "k_write_insn:\n"
        "    movl %eax, (%edx)\n"
        "1:  movl $0, t_resume_eip\n"
        "    ret\n"
        "u_read:\n"
        "    movl u_addr, %edx\n"
        "    movl $0xdeadbeef, %eax\n"
        "    movl $1f, t_resume_eip\n"
        "u_read_insn:\n"
        "    movl (%edx), %eax\n"
        "1:  movl $0, t_resume_eip\n"
        "    int $0xf0\n"
        "u_write:\n"
        "    movl u_addr, %edx\n"
        "    movl u_val, %eax\n"
        "    movl $1f, t_resume_eip\n"
        "u_write_insn:\n"
        "    movl %eax, (%edx)\n"
        "1:  movl $0, t_resume_eip\n"
        "    int $0xf0\n"
        /* Position-independent functions copied into the code pages. */
        "code_a:\n"
        "    movl $0xaaaa0000, %eax\n"
        "    addl 4(%esp), %eax\n"
        "    ret\n"
        "code_b:\n"
        "    movl $0xbbbb0000, %eax\n"
        "    subl 4(%esp), %eax\n"
        "    ret\n"
        "code_c:\n"
        "    movl 4(%esp), %eax\n"
        "    shll $4, %eax\n"
        "    orl $0xcccc0000, %eax\n"
        "    ret\n"
        "code_end:\n"
        /* Call L_CODE expecting a fault on the fetch: resume with the
         * argument and the return address still on the stack. */
        "call_code_fault:\n"
        "    pushl $7\n"
        "    movl $1f, t_resume_eip\n"
        "    call 0x40008000\n"
        "    popl %eax\n"
        "    ret\n"
        "1:  addl $8, %esp\n"
        "    ret\n"
        /* The same for the instruction that straddles L_EDGE_NP. */
        "call_edge_fault:\n"
        "    movl $1f, t_resume_eip\n"
        "    call 0x4000affe\n"
        "    ret\n"
        "1:  addl $4, %esp\n"
        "    ret\n"
        /* A direct call to L_CODE (rel32, the same bytes in A and B). */
        "call_code_direct:\n"
        "    pushl 4(%esp)\n"
        "    call 0x40008000\n"
        "    addl $4, %esp\n"
        "    ret\n");

uint32_t k_read(uint32_t addr);
void k_write(uint32_t addr, uint32_t v);
void u_read(void), u_write(void);
uint32_t call_code_direct(uint32_t arg);
void call_code_fault(void), call_edge_fault(void);
extern char k_read_insn[], k_write_insn[], u_read_insn[], u_write_insn[];
extern char code_a[], code_b[], code_c[], code_end[];

static uint32_t pa(int k)
{
    return (uint32_t)phys[k];
}

/* Expect exactly one #PF since `before`, with this error code, CR2 and EIP. */
static void expect_pf(const char *name, uint32_t before, uint32_t error, uint32_t cr2,
                      const char *eip)
{
    if (!t_assert_eq(name, t_trap.count - before, 1))
        return;
    t_assert_eq(name, t_trap.vector, 14);
    t_assert_eq(name, t_trap.error, error);
    t_assert_eq(name, t_trap.cr2, cr2);
    t_assert_eq(name, t_trap.eip, (uint32_t)eip);
}

static uint32_t user_read(uint32_t addr)
{
    u_addr = addr;
    return t_user_run(u_read, ustack + sizeof(ustack), 0x2);
}

static void user_write(uint32_t addr, uint32_t v)
{
    u_addr = addr;
    u_val = v;
    t_user_run(u_write, ustack + sizeof(ustack), 0x2);
}

static void build_tables(void)
{
    for (int k = 0; k < 8; k++)
        *(volatile uint32_t *)&phys[k][MARK_OFF] = MARK(k);
    for (uint32_t i = 0; i < 1024; i++) {
        pt_id[i] = i * PAGE | P | RW | US;
        pt_a[i] = pt_b[i] = pt_sup[i] = 0;
        pd_a[i] = pd_b[i] = 0;
    }
    pt_a[0] = pa(0) | P | RW | US;
    pt_a[2] = pa(1) | P | RW | US;
    pt_a[3] = pa(0) | P | RW | US;
    pt_a[4] = pa(6) | P | US;
    pt_a[5] = pa(2) | P | RW;
    pt_a[8] = pa(3) | P | RW | US;
    pt_a[9] = (uint32_t)pt_a | P | RW | US;
    pt_a[10] = pa(8) | P | RW | US;
    pt_sup[0] = pa(7) | P | RW | US;
    pd_a[0] = (uint32_t)pt_id | P | RW | US;
    pd_a[256] = (uint32_t)pt_a | P | RW | US;
    pd_a[257] = 0 | PS | P | RW | US;
    pd_a[259] = (uint32_t)pt_sup | P | RW;
    pd_a[1023] = (uint32_t)pd_a | P | RW;

    pt_b[0] = pa(1) | P | RW | US;
    pt_b[8] = pa(4) | P | RW | US;
    pd_b[0] = 0 | PS | P | RW | US;
    pd_b[256] = (uint32_t)pt_b | P | RW | US;

    memcpy(phys[3], code_a, code_b - code_a);
    memcpy(phys[4], code_b, code_c - code_b);
    memcpy(phys[5], code_c, code_end - code_c);
    phys[8][PAGE - 2] = 0xb8; /* movl $imm32, %eax: 1 opcode byte and 1 of 4 immediate bytes */
    phys[8][PAGE - 1] = 0x11;
}

static void test_maps(void)
{
    t_assert_eq("4 KiB page: read", k_read(L_DATA + MARK_OFF), MARK(0));
    k_write(L_DATA + 0x100, 0x600dcafe);
    t_assert_eq("4 KiB page: write reaches the page", *(volatile uint32_t *)&phys[0][0x100],
                0x600dcafe);
    t_assert_eq("4 MiB page: read", k_read(L_BIG + pa(5) + MARK_OFF), MARK(5));
    k_write(L_BIG + pa(2) + 0x200, 0x4ed00bad);
    t_assert_eq("4 MiB page: write reaches the page", *(volatile uint32_t *)&phys[2][0x200],
                0x4ed00bad);
    t_assert_eq("4 MiB page: A and D in the PDE", pd_a[257] & (ACC | DIRTY), ACC | DIRTY);
    t_assert_eq("supervisor reads a supervisor page", k_read(L_SUP + MARK_OFF), MARK(2));
    t_assert_eq("user-PTE under a supervisor PDE: supervisor read", k_read(L_SUPPDE + MARK_OFF),
                MARK(7));

    /* Directory B: the identity map is one 4 MiB page (we are running on it). */
    t_write_cr3((uint32_t)pd_b);
    t_assert_eq("directory B: 4 MiB identity, data page", k_read(L_DATA + MARK_OFF), MARK(1));
    uint32_t before = t_trap.count;
    k_read(L_BIG + 0x10);
    expect_pf("directory B: nothing at 0x40400000", before, 0x0, L_BIG + 0x10, k_read_insn);
    t_write_cr3((uint32_t)pd_a);
    t_assert_eq("directory A again: data page", k_read(L_DATA + MARK_OFF), MARK(0));
}

static void test_faults(void)
{
    uint32_t before;

    before = t_trap.count;
    t_assert_eq("not-present read: value", k_read(L_NP + 0x10), 0xdeadbeef);
    expect_pf("not-present read", before, 0x0, L_NP + 0x10, k_read_insn);
    before = t_trap.count;
    k_write(L_NP + 0x24, 1);
    expect_pf("not-present write", before, 0x2, L_NP + 0x24, k_write_insn);
    before = t_trap.count;
    k_read(L_NOPDE + 0x1234);
    expect_pf("read without a page table", before, 0x0, L_NOPDE + 0x1234, k_read_insn);
    before = t_trap.count;
    k_write(L_NOPDE + 0x5678, 1);
    expect_pf("write without a page table", before, 0x2, L_NOPDE + 0x5678, k_write_insn);

    before = t_trap.count;
    t_assert_eq("user read of a user page", user_read(L_DATA + MARK_OFF), MARK(0));
    t_assert_eq("user read of a read-only user page", user_read(L_RO + MARK_OFF), MARK(6));
    t_assert_eq("no fault for user pages", t_trap.count, before);
    user_read(L_SUP + 0x40);
    expect_pf("user read of a supervisor page", before, 0x5, L_SUP + 0x40, u_read_insn);
    before = t_trap.count;
    user_write(L_SUP + 0x44, 1);
    expect_pf("user write of a supervisor page", before, 0x7, L_SUP + 0x44, u_write_insn);
    before = t_trap.count;
    user_read(L_SUPPDE + 0x48);
    expect_pf("user read under a supervisor PDE", before, 0x5, L_SUPPDE + 0x48, u_read_insn);
    before = t_trap.count;
    user_write(L_RO + 0x4c, 0x1234);
    expect_pf("user write of a read-only page", before, 0x7, L_RO + 0x4c, u_write_insn);
    t_assert_eq("user write of a read-only page: nothing written",
                *(volatile uint32_t *)&phys[6][0x4c], 0);
    before = t_trap.count;
    user_read(L_NP + 0x50);
    expect_pf("user read of a missing page", before, 0x4, L_NP + 0x50, u_read_insn);
    before = t_trap.count;
    user_write(L_NP + 0x54, 1);
    expect_pf("user write of a missing page", before, 0x6, L_NP + 0x54, u_write_insn);

    /* Supervisor writes to a read-only page: allowed with WP = 0, #PF with WP = 1. */
    before = t_trap.count;
    k_write(L_RO + 0x60, 0x5a5a5a5a);
    t_assert_eq("supervisor write, WP = 0: no fault", t_trap.count, before);
    t_assert_eq("supervisor write, WP = 0: written", *(volatile uint32_t *)&phys[6][0x60],
                0x5a5a5a5a);
    t_write_cr0(t_read_cr0() | CR0_WP);
    t_invlpg((void *)L_RO);
    k_write(L_RO + 0x64, 0xa5a5a5a5);
    expect_pf("supervisor write, WP = 1", before, 0x3, L_RO + 0x64, k_write_insn);
    t_assert_eq("supervisor write, WP = 1: nothing written", *(volatile uint32_t *)&phys[6][0x64],
                0);
    before = t_trap.count;
    k_write(L_SUP + 0x68, 0x77);
    t_assert_eq("supervisor write, WP = 1, writable page: no fault", t_trap.count, before);
    t_write_cr0(t_read_cr0() & ~CR0_WP);
    t_invlpg((void *)L_RO);
}

static void test_accessed_dirty(void)
{
    pt_a[2] &= ~(ACC | DIRTY);
    pd_a[256] &= ~ACC;
    t_invlpg((void *)L_AD);
    t_assert_eq("A/D: read", k_read(L_AD + MARK_OFF), MARK(1));
    t_assert_eq("A/D: read sets A only", pt_a[2] & (ACC | DIRTY), ACC);
    t_assert_eq("A/D: read sets A in the PDE", pd_a[256] & ACC, ACC);
    k_write(L_AD + 0x80, 1);
    t_assert_eq("A/D: write sets D", pt_a[2] & (ACC | DIRTY), ACC | DIRTY);

    pt_a[2] &= ~(ACC | DIRTY);
    t_invlpg((void *)L_AD);
    t_assert_eq("A/D: cleared by the guest", pt_a[2] & (ACC | DIRTY), 0);
    k_read(L_AD + 0x80);
    t_assert_eq("A/D: read after INVLPG sets A again", pt_a[2] & (ACC | DIRTY), ACC);
    k_read(L_AD + 0x84);
    t_assert_eq("A/D: second read, still no D", pt_a[2] & (ACC | DIRTY), ACC);
    k_write(L_AD + 0x84, 2);
    t_assert_eq("A/D: write after INVLPG sets D again", pt_a[2] & (ACC | DIRTY), ACC | DIRTY);

    pt_a[2] &= ~(ACC | DIRTY);
    t_invlpg((void *)L_AD);
    k_write(L_AD + 0x88, 3);
    t_assert_eq("A/D: a first write sets A and D", pt_a[2] & (ACC | DIRTY), ACC | DIRTY);

    /* The same through a user access. */
    pt_a[2] &= ~(ACC | DIRTY);
    t_invlpg((void *)L_AD);
    user_read(L_AD);
    t_assert_eq("A/D: user read sets A", pt_a[2] & (ACC | DIRTY), ACC);
    user_write(L_AD + 0x8c, 4);
    t_assert_eq("A/D: user write sets D", pt_a[2] & (ACC | DIRTY), ACC | DIRTY);
    t_assert_eq("A/D: the writes landed",
                *(volatile uint32_t *)&phys[1][0x88] + *(volatile uint32_t *)&phys[1][0x8c], 7);

    /* A 4 MiB page: clear A and D in its PDE. */
    pd_a[257] &= ~(ACC | DIRTY);
    t_invlpg((void *)L_BIG);
    k_read(L_BIG + 0x1000);
    t_assert_eq("4 MiB page: read sets A", pd_a[257] & (ACC | DIRTY), ACC);
    k_write(L_BIG + pa(2) + 0x300, 5);
    t_assert_eq("4 MiB page: write sets D", pd_a[257] & (ACC | DIRTY), ACC | DIRTY);
}

static void test_invlpg(void)
{
    t_assert_eq("remap: before", k_read(L_REMAP + MARK_OFF), MARK(0));
    pt_a[3] = pa(1) | P | RW | US;
    t_invlpg((void *)L_REMAP);
    t_assert_eq("remap: INVLPG, new page", k_read(L_REMAP + MARK_OFF), MARK(1));
    k_write(L_REMAP + 0x400, 0xabcd);
    t_assert_eq("remap: write reaches the new page", *(volatile uint32_t *)&phys[1][0x400], 0xabcd);
    t_assert_eq("remap: not the old page", *(volatile uint32_t *)&phys[0][0x400], 0);
    pt_a[3] = pa(2) | P | RW | US;
    t_write_cr3((uint32_t)pd_a);
    t_assert_eq("remap: CR3 reload, new page", k_read(L_REMAP + MARK_OFF), MARK(2));
    pt_a[3] = pa(0) | P | RW | US;
    t_invlpg((void *)L_REMAP);
    t_assert_eq("remap: back", k_read(L_REMAP + MARK_OFF), MARK(0));
}

typedef uint32_t (*fn_t)(uint32_t);

static void test_code(void)
{
    fn_t f = (fn_t)L_CODE;
    unsigned bad = 0;

    for (uint32_t i = 0; i < 50; i++) {
        uint32_t ra, rb, da, db;
        t_write_cr3((uint32_t)pd_a);
        ra = f(i);
        da = call_code_direct(i + 1);
        t_write_cr3((uint32_t)pd_b);
        rb = f(i);
        db = call_code_direct(i + 1);
        if (ra != 0xaaaa0000 + i || rb != 0xbbbb0000 - i || da != 0xaaaa0001 + i ||
            db != 0xbbbaffff - i) {
            if (!bad)
                t_printf("CR3 switch %u: A %08x %08x, B %08x %08x\n", i, ra, da, rb, db);
            bad++;
        }
    }
    t_assert_eq("same linear code in two address spaces", bad, 0);
    t_write_cr3((uint32_t)pd_a);

    t_assert_eq("code page: before", f(3), 0xaaaa0003);
    pt_a[8] = pa(5) | P | RW | US;
    t_invlpg((void *)L_CODE);
    t_assert_eq("code page remapped: indirect call", f(3), 0xcccc0030);
    t_assert_eq("code page remapped: direct call", call_code_direct(4), 0xcccc0040);
    pt_a[8] = pa(3) | P | RW | US;
    t_invlpg((void *)L_CODE);
    t_assert_eq("code page back: indirect call", f(5), 0xaaaa0005);
    t_assert_eq("code page back: direct call", call_code_direct(6), 0xaaaa0006);

    /* Instruction fetch from a page made not present: #PF at the target. */
    uint32_t before = t_trap.count;
    pt_a[8] &= ~P;
    t_invlpg((void *)L_CODE);
    call_code_fault();
    expect_pf("fetch from a missing page", before, 0x0, L_CODE, (const char *)L_CODE);
    pt_a[8] |= P;
    t_invlpg((void *)L_CODE);
    t_assert_eq("fetch after mapping it again", f(9), 0xaaaa0009);
    /* An instruction whose last bytes lie in a missing page: EIP at its start,
     * CR2 at the page boundary. */
    before = t_trap.count;
    call_edge_fault();
    expect_pf("instruction straddling into a missing page", before, 0x0, L_EDGE_NP,
              (const char *)(L_EDGE + PAGE - 2));
}

static void test_pt_as_data(void)
{
    volatile uint32_t *alias = (volatile uint32_t *)L_PTALIAS;
    volatile uint32_t *rec_pt = (volatile uint32_t *)(RECURSIVE + 256 * PAGE);
    volatile uint32_t *rec_pd = (volatile uint32_t *)(RECURSIVE + 1023 * PAGE);

    /* Through a PTE of the page table that maps the page table itself. */
    t_assert_eq("page table as data: reads its PTEs", alias[8], pt_a[8]);
    alias[3] = pa(2) | P | RW | US;
    t_assert_eq("page table as data: write seen through the identity map", pt_a[3],
                pa(2) | P | RW | US);
    t_invlpg((void *)L_REMAP);
    t_assert_eq("page table as data: remapped through the alias", k_read(L_REMAP + MARK_OFF),
                MARK(2));
    t_assert_eq("page table as data: A set, seen through the alias", alias[3] & ACC, ACC);

    /* Through the recursive directory entry. */
    t_assert_eq("recursive: directory entry", rec_pd[256], pd_a[256]);
    t_assert_eq("recursive: page table entry", rec_pt[8], pt_a[8]);
    rec_pt[3] = pa(1) | P | RW | US;
    t_invlpg((void *)L_REMAP);
    t_assert_eq("recursive: remapped", k_read(L_REMAP + MARK_OFF), MARK(1));
    rec_pt[3] &= ~P;
    t_invlpg((void *)L_REMAP);
    uint32_t before = t_trap.count;
    k_read(L_REMAP + 0x20);
    expect_pf("recursive: unmapped", before, 0x0, L_REMAP + 0x20, k_read_insn);
    rec_pt[3] = pa(0) | P | RW | US;
    t_invlpg((void *)L_REMAP);
    t_assert_eq("recursive: mapped again", k_read(L_REMAP + MARK_OFF), MARK(0));
}

void test_main(void)
{
    if (!t_assert_eq("image below 4 MiB", (uint32_t)t_image_end < (4u << 20), 1))
        t_fail("the identity map covers 4 MiB only");
    t_user_setup();
    t_catch(14);
    build_tables();
    t_write_cr4(t_read_cr4() | CR4_PSE);
    t_write_cr3((uint32_t)pd_a);
    t_write_cr0(t_read_cr0() | CR0_PG);

    test_maps();
    test_faults();
    test_accessed_dirty();
    test_invlpg();
    test_code();
    test_pt_as_data();

    t_write_cr0(t_read_cr0() & ~CR0_PG);
}
