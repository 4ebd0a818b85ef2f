/*
 * exceptions: each protected-mode exception a plain instruction can raise,
 * caught through the kit's interrupt gates and checked for vector, error code
 * and the EIP in the frame: the faulting instruction for faults, the next
 * instruction for traps (SDM vol. 3, "Exception and Interrupt Reference").
 *
 *  #DE  DIV by zero and IDIV overflow      #UD  UD2, FE /2, MOV to CS
 *  #BR  BOUND out of range (not in range)  #OF  INTO with OF = 1 (not with 0)
 *  #GP  selector beyond the GDT (error = selector), null SS (0), execute-only
 *       code into DS (selector), a far JMP to a null selector (0)
 *  #NP  not-present data segment (selector), INT to a not-present gate
 *       (vector*8+2, EIP at the INT)
 *  #SS  not-present stack segment (selector)
 *  #PF  paging on (one 4 MiB page): read and write of a missing page, CR2
 *  #DF  #GP while the #GP gate is not present, and #PF while the #PF gate is
 *       not present: both end in #DF with error 0, caught by an interrupt gate
 *       (its saved EIP is undefined, so only vector and error are checked);
 *       a benign #UD with a not-present gate gives #NP(6*8+2) instead
 *  INT3, INT 3 (CD 03), INT 0x40: EIP after the instruction
 *  TF   POPF sets TF; one #DB trap after each later instruction up to and
 *       including the POPF that clears it, with DR6.BS set and EIP at the
 *       next instruction (the jump's target after a JMP)
 */
#include "kit.h"

#define SEL_XONLY 0x38 /* slot 7: execute-only code */
#define SEL_NP 0x40    /* slot 8: writable data, not present */

#define CR0_PG 0x80000000u
#define CR4_PSE 0x10u

uint32_t bound_pair[2] = {10, 20};

/*
 * One probe: setup, then the instruction under test at <name>_insn with a
 * resume point right after it (<name>_after), then cleanup. pushal/popal
 * keep the C caller's registers whatever the handler did.
 */
#define PROBE(name, setup, insn, cleanup)                                                          \
    __asm__(".text\n" #name ":\n"                                                                  \
            "    pushal\n"                                                                         \
            "    " setup "\n"                                                                      \
            "    movl $1f, t_resume_eip\n" #name "_insn:\n"                                        \
            "    " insn "\n" #name "_after:\n"                                                     \
            "1:  movl $0, t_resume_eip\n"                                                          \
            "    " cleanup "\n"                                                                    \
            "    popal\n"                                                                          \
            "    ret\n");                                                                          \
    void name(void);                                                                               \
    extern char name##_insn[], name##_after[];

#define FLAT_DS "movl $0x10, %eax; movl %eax, %ds; movl %eax, %es"

PROBE(p_div0, "movl $7, %eax; xorl %edx, %edx; xorl %ecx, %ecx", "divl %ecx", "")
PROBE(p_idivo, "movl $0x80000000, %eax; cltd; movl $-1, %ecx", "idivl %ecx", "")
PROBE(p_ud2, "", "ud2", "")
PROBE(p_udfe, "", ".byte 0xfe, 0xd0", "")    /* FE /2: no such instruction */
PROBE(p_udmovcs, "", ".byte 0x8e, 0xc8", "") /* movl %eax, %cs */
PROBE(p_bound, "movl $25, %eax", "boundl %eax, bound_pair", "")
PROBE(p_bound_ok, "movl $20, %eax", "boundl %eax, bound_pair", "")
PROBE(p_into, "movl $0x7fffffff, %eax; addl $1, %eax", "into", "")
PROBE(p_into_no, "movl $0x7ffffffe, %eax; addl $1, %eax", "into", "")
PROBE(p_gp_sel, "movl $0x1000, %eax", "movl %eax, %ds", FLAT_DS)
PROBE(p_gp_ss0, "xorl %eax, %eax", "movl %eax, %ss", "movl $0x10, %eax; movl %eax, %ss")
PROBE(p_gp_xonly, "movl $0x38, %eax", "movl %eax, %ds", FLAT_DS)
PROBE(p_gp_ljmp0, "", "ljmp $0, $0", "")
PROBE(p_np_seg, "movl $0x40, %eax", "movl %eax, %es", FLAT_DS)
PROBE(p_np_gate, "", "int $0x41", "")
PROBE(p_ss_np, "movl $0x40, %eax", "movl %eax, %ss", "movl $0x10, %eax; movl %eax, %ss")
PROBE(p_pf_read, "movl $0x00400123, %edx", "movl (%edx), %eax", "")
PROBE(p_pf_write, "movl $0x00401234, %edx", "movl %eax, (%edx)", "")
PROBE(p_int3, "", "int3", "")
PROBE(p_int3_cd, "", ".byte 0xcd, 0x03", "") /* int $3, long form */
PROBE(p_intn, "", "int $0x40", "")

/* The single-step sequence; ss_N labels are the EIPs the traps report. */
__asm__(".text\n"
        "ss_run:\n"
        "    pushal\n"
        "    xorl %eax, %eax\n"
        "    movl %eax, %dr6\n"
        "    pushfl\n"
        "    orl $0x100, (%esp)\n"
        "    popfl\n"
        "ss_1: nop\n"
        "ss_2: movl $5, %ecx\n"
        "ss_3: addl %ecx, %eax\n"
        "ss_4: jmp ss_5\n"
        "    ud2\n"
        "ss_5: pushfl\n"
        "ss_6: andl $0xfffffeff, (%esp)\n"
        "ss_7: popfl\n"
        "ss_8: popal\n"
        "    ret\n");
void ss_run(void);
extern char ss_2[], ss_3[], ss_4[], ss_5[], ss_6[], ss_7[], ss_8[];

static struct {
    uint32_t count, eip[16], dr6[16], tf[16];
} ss;

static void db_handler(struct t_frame *f)
{
    uint32_t dr6;
    __asm__ volatile("movl %%dr6, %0" : "=r"(dr6));
    if (ss.count < 16) {
        ss.eip[ss.count] = f->eip;
        ss.dr6[ss.count] = dr6;
        ss.tf[ss.count] = f->eflags & T_TF;
    }
    ss.count++;
    __asm__ volatile("movl %0, %%dr6" : : "r"(0));
    if (ss.count > 50) {
        f->eflags &= ~T_TF;
        t_printf("single-step does not stop\n");
    }
}

static void expect(const char *name, void (*fn)(void), uint32_t vector, uint32_t error,
                   const char *eip)
{
    uint32_t before = t_trap.count;
    fn();
    if (!t_assert_eq(name, t_trap.count - before, 1))
        return;
    t_assert_eq(name, t_trap.vector, vector);
    t_assert_eq(name, t_trap.error, error);
    t_assert_eq(name, t_trap.eip, (uint32_t)eip);
}

static void expect_none(const char *name, void (*fn)(void))
{
    uint32_t before = t_trap.count;
    fn();
    t_assert_eq(name, t_trap.count - before, 0);
}

/* The kit's IDT through SIDT: set or clear a gate's present bit. */
static void gate_present(int vector, int present)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint32_t base;
    } idtr;
    __asm__ volatile("sidt %0" : "=m"(idtr));
    volatile uint8_t *access = (volatile uint8_t *)idtr.base + vector * 8 + 5;
    *access = present ? *access | 0x80 : *access & 0x7f;
}

static uint32_t pd[1024] __attribute__((aligned(4096)));

static void test_faults(void)
{
    static const int vectors[] = {0, 3, 4, 5, 6, 8, 11, 12, 13, 14, 0x40};
    for (unsigned i = 0; i < T_ARRAY_SIZE(vectors); i++)
        t_catch(vectors[i]);

    expect("#DE: div by zero", p_div0, 0, 0, p_div0_insn);
    expect("#DE: idiv overflow", p_idivo, 0, 0, p_idivo_insn);
    expect("#UD: ud2", p_ud2, 6, 0, p_ud2_insn);
    expect("#UD: FE /2", p_udfe, 6, 0, p_udfe_insn);
    expect("#UD: mov to cs", p_udmovcs, 6, 0, p_udmovcs_insn);
    expect("#BR: bound out of range", p_bound, 5, 0, p_bound_insn);
    expect_none("bound in range", p_bound_ok);
    expect("#OF: into with OF", p_into, 4, 0, p_into_after);
    expect_none("into without OF", p_into_no);
    expect("#GP: selector beyond the GDT", p_gp_sel, 13, 0x1000, p_gp_sel_insn);
    expect("#GP: null SS", p_gp_ss0, 13, 0, p_gp_ss0_insn);
    expect("#GP: execute-only code into DS", p_gp_xonly, 13, SEL_XONLY, p_gp_xonly_insn);
    expect("#GP: far jump to a null selector", p_gp_ljmp0, 13, 0, p_gp_ljmp0_insn);
    expect("#NP: not-present data segment", p_np_seg, 11, SEL_NP, p_np_seg_insn);
    gate_present(0x41, 0);
    expect("#NP: INT to a not-present gate", p_np_gate, 11, 0x41 * 8 + 2, p_np_gate_insn);
    gate_present(0x41, 1);
    expect("#SS: not-present stack segment", p_ss_np, 12, SEL_NP, p_ss_np_insn);
    expect("INT3", p_int3, 3, 0, p_int3_after);
    t_assert_eq("INT3 is one byte", p_int3_after - p_int3_insn, 1);
    expect("INT 3 (CD 03)", p_int3_cd, 3, 0, p_int3_cd_after);
    expect("INT 0x40", p_intn, 0x40, 0, p_intn_after);

    /* #PF: one 4 MiB identity page, nothing above it. */
    pd[0] = 0x87; /* present, writable, user, 4 MiB */
    t_write_cr4(t_read_cr4() | CR4_PSE);
    t_write_cr3((uint32_t)pd);
    t_write_cr0(t_read_cr0() | CR0_PG);
    expect("#PF: read", p_pf_read, 14, 0, p_pf_read_insn);
    t_assert_eq("#PF: read CR2", t_trap.cr2, 0x00400123);
    expect("#PF: write", p_pf_write, 14, 2, p_pf_write_insn);
    t_assert_eq("#PF: write CR2", t_trap.cr2, 0x00401234);

    /* #PF while the #PF gate is not present: #NP after #PF is a double fault. */
    uint32_t before = t_trap.count;
    gate_present(14, 0);
    p_pf_read();
    gate_present(14, 1);
    t_assert_eq("#DF from #PF: one event", t_trap.count - before, 1);
    t_assert_eq("#DF from #PF: vector", t_trap.vector, 8);
    t_assert_eq("#DF from #PF: error", t_trap.error, 0);
    t_write_cr0(t_read_cr0() & ~CR0_PG);

    /* #GP while the #GP gate is not present: contributory twice is a double fault. */
    before = t_trap.count;
    gate_present(13, 0);
    p_gp_sel();
    gate_present(13, 1);
    t_assert_eq("#DF from #GP: one event", t_trap.count - before, 1);
    t_assert_eq("#DF from #GP: vector", t_trap.vector, 8);
    t_assert_eq("#DF from #GP: error", t_trap.error, 0);

    /* #UD is benign: a not-present #UD gate gives #NP, delivered on its own. The
     * EXT bit (bit 0) is set on the hardware; QEMU leaves it clear, so it is
     * masked. */
    before = t_trap.count;
    gate_present(6, 0);
    p_ud2();
    gate_present(6, 1);
    t_assert_eq("#NP from a #UD gate: one event", t_trap.count - before, 1);
    t_assert_eq("#NP from a #UD gate: vector", t_trap.vector, 11);
    t_assert_eq("#NP from a #UD gate: error", t_trap.error & ~1u, 6 * 8 + 2);
    t_assert_eq("#NP from a #UD gate: EIP", t_trap.eip, (uint32_t)p_ud2_insn);

    for (unsigned i = 0; i < T_ARRAY_SIZE(vectors); i++)
        t_set_handler(vectors[i], NULL);
}

static void test_single_step(void)
{
    static const char *const want[] = {ss_2, ss_3, ss_4, ss_5, ss_6, ss_7, ss_8};
    t_set_handler(1, db_handler);
    ss_run();
    t_set_handler(1, NULL);
    t_assert_eq("single-step: traps", ss.count, T_ARRAY_SIZE(want));
    for (unsigned i = 0; i < T_ARRAY_SIZE(want) && i < ss.count; i++) {
        t_assert_eq("single-step: EIP", ss.eip[i], (uint32_t)want[i]);
        t_assert_eq("single-step: DR6.BS, no B0-B3", ss.dr6[i] & 0x400f, 0x4000);
        /* The last trap follows the POPF that cleared TF. */
        t_assert_eq("single-step: TF in the frame", ss.tf[i],
                    i + 1 < T_ARRAY_SIZE(want) ? T_TF : 0);
    }
    t_assert_eq("single-step: TF clear afterwards", t_read_eflags() & T_TF, 0);
}

void test_main(void)
{
    t_gdt_set(SEL_XONLY >> 3, 0, 0xfffff, 0x98, T_FLG_32); /* code, execute-only */
    t_gdt_set(SEL_NP >> 3, 0, 0xfffff, 0x12, T_FLG_32);    /* data, writable, P = 0 */
    test_faults();
    test_single_step();
}
