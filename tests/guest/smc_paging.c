/*
 * smc_paging: self-modifying code when one physical page has several linear
 * addresses. Paging is on (identity map of the first 4 MiB, 4 KiB pages); the
 * code page `code` (physical = its identity address) is also mapped at
 * WR = 0x40000000 (the alias the test writes through) and at X1 = 0x40001000
 * and X2 = 0x40002000 (aliases it executes from). Position-independent
 * templates are copied into the page through WR, then:
 *
 *  1. "mov $imm, %eax; ret" is rewritten through WR (and sometimes through
 *     the identity address) 100 times and called through X1, X2 and the
 *     identity address after each write: every call must return the new
 *     immediate (a translation invalidated by linear address only, or only
 *     for the alias written through, runs stale code);
 *  2. a function is patched 1000 times through WR — its immediate each time
 *     and its opcode (ADD/SUB) every other time — and called twice through X1
 *     after each patch;
 *  3. a loop running at X1 stores, on each of 1000 iterations, into the
 *     immediate of the very next instruction through its own linear address
 *     (architecturally the store must be seen by the next fetch), and a
 *     second loop does the same through WR with CPUID (serializing, as the
 *     SDM asks for writes through another linear address) before the patched
 *     instruction: the sums show every new immediate was executed;
 *  4. a loop at X1 increments a counter that lives in its own page 1000
 *     times, through X1 and then through WR: writes to a code page that do
 *     not touch code must not change what runs (nor stop it).
 * Expected values are arithmetic on the immediates written.
 */
#include "kit.h"

#define PAGE 4096u
#define P 0x001u
#define RW 0x002u
#define WR 0x40000000u
#define X1 0x40001000u
#define X2 0x40002000u

/* Template offsets inside the code page. */
#define OFF_IMM 0x000 /* movl $imm, %eax; ret */
#define OFF_PATCH 0x100
#define OFF_NEXT 0x200
#define OFF_NEXT_ALIAS 0x300
#define OFF_COUNT 0x400

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt_id[1024] __attribute__((aligned(4096)));
static uint32_t pt_alias[1024] __attribute__((aligned(4096)));
static uint8_t code[PAGE] __attribute__((aligned(4096)));
extern char t_image_end[];

__asm__(".text\n"
        /* 1: the immediate is at +1. */
        "tmpl_imm:\n"
        "    movl $0, %eax\n"
        "    ret\n"
        "tmpl_imm_end:\n"
        /* 2: immediate at +1, ADD (0x03) or SUB (0x2b) opcode at +5. */
        "tmpl_patch:\n"
        "    movl $0, %eax\n"
        "    addl 4(%esp), %eax\n"
        "    ret\n"
        "tmpl_patch_end:\n"
        /* 3a: EBX = where this runs, ECX = count; returns the sum of ECX..1. */
        "tmpl_next:\n"
        "    xorl %esi, %esi\n"
        "1:  movl %ecx, (tmpl_next_mov + 1 - tmpl_next)(%ebx)\n"
        "tmpl_next_mov:\n"
        "    movl $0, %edx\n"
        "    addl %edx, %esi\n"
        "    loop 1b\n"
        "    movl %esi, %eax\n"
        "    ret\n"
        "tmpl_next_end:\n"
        /* 3b: the same, writing through EDI (another alias), CPUID before the target. */
        "tmpl_next_alias:\n"
        "    xorl %esi, %esi\n"
        "1:  movl %ecx, (tmpl_next_alias_mov + 1 - tmpl_next_alias)(%edi)\n"
        "    pushl %ecx\n"
        "    xorl %eax, %eax\n"
        "    cpuid\n"
        "    popl %ecx\n"
        "tmpl_next_alias_mov:\n"
        "    movl $0, %edx\n"
        "    addl %edx, %esi\n"
        "    loop 1b\n"
        "    movl %esi, %eax\n"
        "    ret\n"
        "tmpl_next_alias_end:\n"
        /* 4: EDI = the page's start through some alias, ECX = count. */
        "tmpl_count:\n"
        "1:  incl (0x800)(%edi)\n"
        "    loop 1b\n"
        "    movl 0x800(%edi), %eax\n"
        "    ret\n"
        "tmpl_count_end:\n"
        /* uint32_t run_tmpl(entry, ebx, ecx, edi): call with those registers. */
        "run_tmpl:\n"
        "    pushl %ebx\n"
        "    pushl %esi\n"
        "    pushl %edi\n"
        "    pushl %ebp\n"
        "    movl 20(%esp), %eax\n"
        "    movl 24(%esp), %ebx\n"
        "    movl 28(%esp), %ecx\n"
        "    movl 32(%esp), %edi\n"
        "    call *%eax\n"
        "    popl %ebp\n"
        "    popl %edi\n"
        "    popl %esi\n"
        "    popl %ebx\n"
        "    ret\n");
extern char tmpl_imm[], tmpl_imm_end[], tmpl_patch[], tmpl_patch_end[];
extern char tmpl_next[], tmpl_next_end[], tmpl_next_alias[], tmpl_next_alias_end[];
extern char tmpl_count[], tmpl_count_end[];
uint32_t run_tmpl(uint32_t entry, uint32_t ebx, uint32_t ecx, uint32_t edi);

typedef uint32_t (*fn0_t)(void);
typedef uint32_t (*fn1_t)(uint32_t);

static void put(uint32_t base, uint32_t off, const char *from, const char *to)
{
    memcpy((void *)(base + off), from, to - from);
}

static void put32(uint32_t base, uint32_t off, uint32_t v)
{
    *(volatile uint32_t *)(base + off) = v;
}

static void paging_on(void)
{
    for (uint32_t i = 0; i < 1024; i++)
        pt_id[i] = i * PAGE | P | RW;
    pt_alias[0] = (uint32_t)code | P | RW;
    pt_alias[1] = (uint32_t)code | P | RW;
    pt_alias[2] = (uint32_t)code | P | RW;
    pd[0] = (uint32_t)pt_id | P | RW;
    pd[WR >> 22] = (uint32_t)pt_alias | P | RW;
    t_write_cr3((uint32_t)pd);
    t_write_cr0(t_read_cr0() | 0x80000000u);
}

static void test_aliases(void)
{
    unsigned bad = 0;
    put(WR, OFF_IMM, tmpl_imm, tmpl_imm_end);
    for (uint32_t i = 0; i < 100; i++) {
        uint32_t v = 0x1000 + i * 7, r1, r2, r3;
        /* Mostly through the write alias; every fourth time through the identity map. */
        put32(i % 4 == 3 ? (uint32_t)code : WR, OFF_IMM + 1, v);
        r1 = ((fn0_t)(X1 + OFF_IMM))();
        r2 = ((fn0_t)(X2 + OFF_IMM))();
        r3 = ((fn0_t)(code + OFF_IMM))();
        if (r1 != v || r2 != v || r3 != v) {
            if (!bad)
                t_printf("alias write %u: wrote 0x%x, ran 0x%x (X1) 0x%x (X2) 0x%x (identity)\n", i,
                         v, r1, r2, r3);
            bad++;
        }
    }
    t_assert_eq("write through one alias, run through three", bad, 0);
}

static void test_patch_loop(void)
{
    unsigned bad = 0;
    fn1_t f = (fn1_t)(X1 + OFF_PATCH);
    put(WR, OFF_PATCH, tmpl_patch, tmpl_patch_end);
    for (uint32_t i = 0; i < 1000; i++) {
        int sub = i & 1;
        put32(WR, OFF_PATCH + 1, 3 * i);
        *(volatile uint8_t *)(WR + OFF_PATCH + 5) = sub ? 0x2b : 0x03;
        uint32_t want = sub ? 2 * i : 4 * i;
        uint32_t r1 = f(i), r2 = f(i);
        if (r1 != want || r2 != want) {
            if (!bad)
                t_printf("patch %u: want 0x%x, ran 0x%x then 0x%x\n", i, want, r1, r2);
            bad++;
        }
    }
    t_assert_eq("1000 patches through the write alias", bad, 0);
}

static void test_next_instruction(void)
{
    put(WR, OFF_NEXT, tmpl_next, tmpl_next_end);
    put(WR, OFF_NEXT_ALIAS, tmpl_next_alias, tmpl_next_alias_end);
    t_assert_eq("store into the next instruction (same linear), 1000 times",
                run_tmpl(X1 + OFF_NEXT, X1 + OFF_NEXT, 1000, 0), 500500);
    t_assert_eq("again, through the other execute alias",
                run_tmpl(X2 + OFF_NEXT, X2 + OFF_NEXT, 300, 0), 45150);
    t_assert_eq("store into the next instruction through another alias, then CPUID",
                run_tmpl(X1 + OFF_NEXT_ALIAS, 0, 200, WR + OFF_NEXT_ALIAS), 20100);
}

static void test_data_in_code_page(void)
{
    put(WR, OFF_COUNT, tmpl_count, tmpl_count_end);
    put32(WR, 0x800, 0);
    t_assert_eq("counter in the code page, through the executing alias",
                run_tmpl(X1 + OFF_COUNT, 0, 1000, X1), 1000);
    t_assert_eq("counter in the code page, through the write alias",
                run_tmpl(X1 + OFF_COUNT, 0, 1000, WR), 2000);
    t_assert_eq("counter seen through the identity map", *(volatile uint32_t *)&code[0x800], 2000);
    /* The code around the counter is unchanged and still runs. */
    put32(WR, OFF_IMM + 1, 0x7e57);
    t_assert_eq("code beside the counter", ((fn0_t)(X2 + OFF_IMM))(), 0x7e57);
}

void test_main(void)
{
    if (!t_assert_eq("image below 4 MiB", (uint32_t)t_image_end < (4u << 20), 1))
        t_fail("the identity map covers 4 MiB only");
    paging_on();
    test_aliases();
    test_patch_loop();
    test_next_instruction();
    test_data_in_code_page();
    t_write_cr0(t_read_cr0() & ~0x80000000u);
}
