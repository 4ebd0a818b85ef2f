/*
 * segments: protected-mode segmentation beyond the flat model. Descriptors
 * live in GDT spare slots and in an LDT of the test's own (loaded with LLDT).
 *
 *  - DS, ES, FS and GS with four different non-zero bases (one that wraps
 *    past 4 GiB) used by loads, stores, an indexed load, REP MOVS (DS to ES)
 *    and FS-overridden LODS; each access must land at base + offset;
 *  - expand-down data segments, 32-bit (offsets 0xfffff000..0xffffffff) and
 *    16-bit (0x1000..0xffff), accessed within their limits;
 *  - a 16-bit code segment entered by a far CALL and by a far JMP (with the
 *    return address pushed by hand), running 16-bit code that uses 16-bit
 *    addressing ([bx+si] wrapping at 64 KiB, LODSW and LOOP on SI/CX, a near
 *    CALL/RET with a 2-byte return address) and leaving with a 32-bit far
 *    return;
 *  - a 16-bit stack segment: pushes and CALL move SP only, wrap from 0 to
 *    0xfffc and keep ESP's upper half;
 *  - MOV/POP to a segment register: #GP(selector) for a selector beyond the
 *    GDT or LDT, an RPL above the DPL, a TSS, execute-only code, a read-only
 *    SS; #NP(selector) or #SS(selector) when not present; a faulting POP
 *    leaves ESP alone;
 *  - LAR, LSL, VERR and VERW on code, data, system descriptors and gates,
 *    with the privilege rules (ZF clear and the destination kept when not
 *    valid);
 *  - a conforming DPL-0 code segment called from ring 3 (CPL stays 3, CS gets
 *    RPL 3), and #GP(selector) for a far call to non-conforming DPL-0 code.
 * Expected values are those the SDM gives for each instruction.
 */
#include "kit.h"

/* GDT slots 6..12 (13 holds the LDT; t_user_setup takes 14 and 15). */
#define SEL_DS 0x30
#define SEL_ES 0x38
#define SEL_FS 0x40
#define SEL_GS 0x48
#define SEL_CODE16 0x50
#define SEL_DATA16 0x58
#define SEL_STACK16 0x60
#define SEL_LDT 0x68

/* LDT entries; selectors have TI (bit 2) set. */
#define LSEL(i) ((i) << 3 | 4)
enum {
    L_CODE = 1,  /* readable code, flat */
    L_XONLY,     /* execute-only code, limit 0x12345 */
    L_RODATA,    /* read-only data, limit 0xabc */
    L_DATA3,     /* writable data, DPL 3, flat */
    L_CONFORM,   /* conforming readable code, DPL 0, flat */
    L_NPDATA,    /* writable data, not present */
    L_TSS,       /* available 32-bit TSS (type 9) */
    L_CALLGATE,  /* call gate (type 0xc) */
    L_INTGATE,   /* interrupt gate (type 0xe): not valid for LAR */
    L_DATA0,     /* writable data, DPL 0, limit 0xfff */
    L_EXPDOWN32, /* expand-down, 32-bit, limit 0xffffefff */
    L_EXPDOWN16, /* expand-down, 16-bit, limit 0xfff */
    L_COUNT
};

static uint64_t ldt[L_COUNT] __attribute__((aligned(8)));

uint8_t buf[256];
static uint8_t expbuf[512];
uint8_t data16[256];
static uint8_t stk16[0x10000] __attribute__((aligned(16)));
static uint8_t ustack[4096] __attribute__((aligned(16)));
uint32_t res[8];
uint32_t saved_esp;

static uint64_t desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 | (uint64_t)access << 40 |
           (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)(flags & 0xf) << 52 |
           (uint64_t)(base >> 24) << 56;
}

static uint64_t gate(uint16_t sel, uint32_t offset, uint8_t access)
{
    return (uint64_t)(offset & 0xffff) | (uint64_t)sel << 16 | (uint64_t)access << 40 |
           (uint64_t)(offset >> 16) << 48;
}

/* ---- non-zero bases ---- */

__asm__(".text\n"
        "seg_based:\n"
        "    pushal\n"
        "    movw $0x30, %ax\n"
        "    movw %ax, %ds\n"
        "    movw $0x38, %ax\n"
        "    movw %ax, %es\n"
        "    movw $0x40, %ax\n"
        "    movw %ax, %fs\n"
        "    movw $0x48, %ax\n"
        "    movw %ax, %gs\n"
        "    movl $0xa1a2a3a4, %eax\n"
        "    movl %eax, 0x1004\n" /* DS: buf[0x04] */
        "    movl $0xb1b2b3b4, %eax\n"
        "    movl %eax, %es:8\n"   /* ES: buf[0x48] */
        "    movl %fs:0xc, %ebx\n" /* FS: buf[0x8c] */
        "    movl $4, %ecx\n"
        "    movl %gs:0x10000010(%ecx), %edx\n" /* GS: buf[0xd4] */
        "    movl $0xc1c2c3c4, %eax\n"
        "    movl %eax, %gs:0x10000018\n" /* GS: buf[0xd8] */
        "    cld\n"
        "    movl $0x1010, %esi\n"
        "    movl $0x20, %edi\n"
        "    movl $4, %ecx\n"
        "    rep movsl\n" /* buf[0x10..0x1f] -> buf[0x60..0x6f] */
        "    movl $0x30, %esi\n"
        "    movl $0x30, %edi\n"
        "    lodsl %fs:(%esi), %eax\n" /* buf[0xb0] */
        "    stosl\n"                  /* -> buf[0x70] */
        "    movl %eax, %ebp\n"
        "    movl $0x10, %eax\n"
        "    movl %eax, %ds\n"
        "    movl %eax, %es\n"
        "    movl %eax, %fs\n"
        "    movl %eax, %gs\n"
        "    movl %ebx, res\n"
        "    movl %edx, res+4\n"
        "    movl %ebp, res+8\n"
        "    movl %esi, res+12\n"
        "    movl %edi, res+16\n"
        "    popal\n"
        "    ret\n");
void seg_based(void);

static uint32_t rd32(const uint8_t *p)
{
    return *(const volatile uint32_t *)p;
}

static uint32_t pattern(uint32_t i)
{
    return (i + 3) * 0x01010101u ^ 0x5a00a500u;
}

static void test_bases(void)
{
    for (uint32_t i = 0; i < sizeof(buf); i += 4)
        *(uint32_t *)&buf[i] = pattern(i);
    t_gdt_set(SEL_DS >> 3, (uint32_t)buf - 0x1000, 0xfffff, 0x93, T_FLG_32);
    t_gdt_set(SEL_ES >> 3, (uint32_t)buf + 0x40, 0xfffff, 0x93, T_FLG_32);
    t_gdt_set(SEL_FS >> 3, (uint32_t)buf + 0x80, 0xfffff, 0x93, T_FLG_32);
    t_gdt_set(SEL_GS >> 3, (uint32_t)buf + 0xc0 + 0xf0000000u, 0xfffff, 0x93, T_FLG_32);
    seg_based();
    t_assert_eq("DS base: store", rd32(&buf[0x04]), 0xa1a2a3a4);
    t_assert_eq("ES base: store", rd32(&buf[0x48]), 0xb1b2b3b4);
    t_assert_eq("FS base: load", res[0], pattern(0x8c));
    t_assert_eq("GS base (wrapping): indexed load", res[1], pattern(0xd4));
    t_assert_eq("GS base (wrapping): store", rd32(&buf[0xd8]), 0xc1c2c3c4);
    for (uint32_t i = 0; i < 16; i += 4)
        t_assert_eq("rep movsl DS -> ES", rd32(&buf[0x60 + i]), pattern(0x10 + i));
    t_assert_eq("lods fs:", res[2], pattern(0xb0));
    t_assert_eq("stos es:", rd32(&buf[0x70]), pattern(0xb0));
    t_assert_eq("lods/stos: esi", res[3], 0x34);
    t_assert_eq("lods/stos: edi", res[4], 0x34);
}

/* ---- expand-down ---- */

__asm__(".text\n"
        "seg_expdown:\n"
        "    pushal\n"
        "    movw $0x5c, %ax\n" /* LSEL(L_EXPDOWN32) */
        "    movw %ax, %fs\n"
        "    movw $0x64, %ax\n" /* LSEL(L_EXPDOWN16) */
        "    movw %ax, %gs\n"
        "    movl %fs:0xfffff010, %eax\n"
        "    movl %eax, res\n"
        "    movl $0x0d0e0a0d, %eax\n"
        "    movl %eax, %fs:0xfffff1f8\n"
        "    movl %gs:0x1020, %eax\n"
        "    movl %eax, res+4\n"
        "    movl $0xfeedbead, %eax\n"
        "    movl %eax, %gs:0x10fc\n"
        "    movl $0x10, %eax\n"
        "    movl %eax, %fs\n"
        "    movl %eax, %gs\n"
        "    popal\n"
        "    ret\n");
void seg_expdown(void);

static void test_expand_down(void)
{
    for (uint32_t i = 0; i < sizeof(expbuf); i += 4)
        *(uint32_t *)&expbuf[i] = pattern(i + 0x1000);
    seg_expdown();
    t_assert_eq("expand-down 32-bit: load", res[0], pattern(0x1010));
    t_assert_eq("expand-down 32-bit: store", rd32(&expbuf[0x1f8]), 0x0d0e0a0d);
    t_assert_eq("expand-down 16-bit: load", res[1], pattern(0x1020));
    t_assert_eq("expand-down 16-bit: store", rd32(&expbuf[0xfc]), 0xfeedbead);
}

/* ---- 16-bit code ---- */

/*
 * Entered at 0x50:(c16_entry - code16_start) with DS = 0x58 (data16). Words:
 * [0x14] + [0x20] (the second through bx+si = 0xfff0 + 0x30, wrapping) goes
 * to [0x48]; the sum of the 8 words at 0x50 plus one from a near call to
 * [0x4a]; a 32-bit store through the operand-size prefix to [0x4c].
 */
__asm__(".text\n"
        ".code16\n"
        "code16_start:\n"
        "c16_entry:\n"
        "    movw $0x58, %ax\n"
        "    movw %ax, %ds\n"
        "    movw $0x10, %bx\n"
        "    movw $0x4, %si\n"
        "    movw (%bx,%si), %ax\n"
        "    movw $0xfff0, %bx\n"
        "    movw $0x30, %si\n"
        "    addw (%bx,%si), %ax\n"
        "    movw $0x8, %di\n"
        "    movw %ax, 0x40(%di)\n"
        "    movw $0x50, %si\n"
        "    movw $8, %cx\n"
        "    xorw %dx, %dx\n"
        "    cld\n"
        "1:  lodsw\n"
        "    addw %ax, %dx\n"
        "    loop 1b\n"
        "    movl %esp, %ebp\n"
        "    call c16_sub\n"
        "c16_after_call:\n"
        "    subl %esp, %ebp\n" /* 0: the near RET popped what CALL pushed */
        "    movw %dx, 0x4a\n"
        "    movl $0x12345678, %eax\n"
        "    movl %eax, 0x4c\n"
        "    movw %bp, 0x44\n"
        "    movw $0x10, %ax\n"
        "    movw %ax, %ds\n"
        "    lretl\n"
        "c16_sub:\n"
        "    movw (%esp), %bx\n" /* the 2-byte return address */
        "    movw %bx, 0x40\n"
        "    movl %ebp, %ecx\n"
        "    subl %esp, %ecx\n" /* 2: CALL pushed a word */
        "    movw %cx, 0x42\n"
        "    incw %dx\n"
        "    ret\n"
        ".code32\n"
        "seg_call16:\n"
        "    pushal\n"
        "    lcall $0x50, $(c16_entry - code16_start)\n"
        "    popal\n"
        "    ret\n"
        "seg_jmp16:\n"
        "    pushal\n"
        "    pushl %cs\n"
        "    pushl $1f\n"
        "    ljmp $0x50, $(c16_entry - code16_start)\n"
        "1:  popal\n"
        "    ret\n");
void seg_call16(void), seg_jmp16(void);
extern char code16_start[], c16_after_call[];

static void test_code16(void)
{
    for (int pass = 0; pass < 2; pass++) {
        const char *name = pass ? "far jmp" : "far call";
        uint32_t sum = 0;
        memset(data16, 0, sizeof(data16));
        *(uint16_t *)&data16[0x14] = 0x1234;
        *(uint16_t *)&data16[0x20] = 0x4321;
        for (int i = 0; i < 8; i++) {
            *(uint16_t *)&data16[0x50 + 2 * i] = (uint16_t)(0x1111 * i + 7);
            sum += (uint16_t)(0x1111 * i + 7);
        }
        t_gdt_set(SEL_CODE16 >> 3, (uint32_t)code16_start, 0xffff, 0x9b, T_FLG_16);
        t_gdt_set(SEL_DATA16 >> 3, (uint32_t)data16, 0xffff, 0x93, T_FLG_16);
        if (pass)
            seg_jmp16();
        else
            seg_call16();
        t_printf("16-bit code by %s: [0x48] %04x [0x4a] %04x\n", name, *(uint16_t *)&data16[0x48],
                 *(uint16_t *)&data16[0x4a]);
        t_assert_eq("16-bit code: [bx+si] wraps at 64 KiB", *(uint16_t *)&data16[0x48], 0x5555);
        t_assert_eq("16-bit code: lodsw/loop sum + near call", *(uint16_t *)&data16[0x4a],
                    (sum + 1) & 0xffff);
        t_assert_eq("16-bit code: 32-bit operand", rd32(&data16[0x4c]), 0x12345678);
        t_assert_eq("16-bit code: near call pushes IP", *(uint16_t *)&data16[0x40],
                    (uint32_t)(c16_after_call - code16_start));
        t_assert_eq("16-bit code: near call pushes 2 bytes", *(uint16_t *)&data16[0x42], 2);
        t_assert_eq("16-bit code: near call/ret balance", *(uint16_t *)&data16[0x44], 0);
    }
}

/* ---- 16-bit stack ---- */

__asm__(".text\n"
        "seg_stack16:\n"
        "    pushal\n"
        "    movl %esp, saved_esp\n"
        "    movw $0x60, %ax\n"
        "    movw %ax, %ss\n"
        "    movl $0x12340004, %esp\n"
        "    pushl $0xaabbccdd\n" /* SP 4 -> 0 */
        "    pushl $0x11223344\n" /* SP 0 -> 0xfffc: wraps */
        "    movl %esp, %ebx\n"
        "    pushw $0x5566\n"        /* SP -> 0xfffa */
        "    call seg_stack16_ret\n" /* SP -> 0xfff6 */
        "seg_stack16_ret:\n"
        "    popl %ecx\n"
        "    popw %dx\n"
        "    popl %esi\n"
        "    popl %edi\n" /* SP 0 -> 4 */
        "    movl %esp, %ebp\n"
        "    movw $0x10, %ax\n"
        "    movw %ax, %ss\n"
        "    movl saved_esp, %esp\n"
        "    movl %ebx, res\n"
        "    movl %ecx, res+4\n"
        "    movl %edx, res+8\n"
        "    movl %esi, res+12\n"
        "    movl %edi, res+16\n"
        "    movl %ebp, res+20\n"
        "    popal\n"
        "    ret\n");
void seg_stack16(void);
extern char seg_stack16_ret[];

static void test_stack16(void)
{
    memset(stk16, 0, sizeof(stk16));
    t_gdt_set(SEL_STACK16 >> 3, (uint32_t)stk16, 0xffff, 0x93, T_FLG_16);
    seg_stack16();
    t_assert_eq("16-bit stack: ESP after the wrap", res[0], 0x1234fffc);
    t_assert_eq("16-bit stack: push at SP 4", rd32(&stk16[0]), 0xaabbccdd);
    t_assert_eq("16-bit stack: push wrapped to 0xfffc", rd32(&stk16[0xfffc]), 0x11223344);
    t_assert_eq("16-bit stack: pushw at 0xfffa", *(uint16_t *)&stk16[0xfffa], 0x5566);
    t_assert_eq("16-bit stack: call pushed at 0xfff6", rd32(&stk16[0xfff6]),
                (uint32_t)seg_stack16_ret);
    t_assert_eq("16-bit stack: popped return address", res[1], (uint32_t)seg_stack16_ret);
    t_assert_eq("16-bit stack: popw", res[2] & 0xffff, 0x5566);
    t_assert_eq("16-bit stack: pop across the wrap", res[3], 0x11223344);
    t_assert_eq("16-bit stack: last pop", res[4], 0xaabbccdd);
    t_assert_eq("16-bit stack: ESP at the end", res[5], 0x12340004);
}

/* ---- segment register loads that fault ---- */

#define LOADPROBE(name, sreg, sel, cleanup)                                                        \
    __asm__(".text\n" #name ":\n"                                                                  \
            "    pushal\n"                                                                         \
            "    movl $" #sel ", %eax\n"                                                           \
            "    movl $1f, t_resume_eip\n" #name "_insn:\n"                                        \
            "    movw %ax, %" #sreg "\n"                                                           \
            "1:  movl $0, t_resume_eip\n"                                                          \
            "    movl $0x10, %eax\n"                                                               \
            "    " cleanup "\n"                                                                    \
            "    popal\n"                                                                          \
            "    ret\n");                                                                          \
    void name(void);                                                                               \
    extern char name##_insn[];

#define FIX "movw %ax, %ds; movw %ax, %es; movw %ax, %fs; movw %ax, %gs"
LOADPROBE(ld_beyond_gdt, ds, 0x1000, FIX)
LOADPROBE(ld_beyond_ldt, es, 0x1f4, FIX) /* LDT index 62 */
LOADPROBE(ld_rpl3, fs, 0x13, FIX)        /* flat data, DPL 0, RPL 3 */
LOADPROBE(ld_tss, gs, 0x28, FIX)
LOADPROBE(ld_xonly, ds, 0x14, FIX)             /* LSEL(L_XONLY) */
LOADPROBE(ld_np, fs, 0x34, FIX)                /* LSEL(L_NPDATA) */
LOADPROBE(ld_ss_ro, ss, 0x1c, "movw %ax, %ss") /* LSEL(L_RODATA) */
LOADPROBE(ld_ss_np, ss, 0x34, "movw %ax, %ss")
LOADPROBE(ld_ss_dpl3, ss, 0x27, "movw %ax, %ss") /* LSEL(L_DATA3)|3: RPL != CPL */

/* POP DS of a bad selector: ESP must still point at the selector. */
__asm__(".text\n"
        "ld_pop:\n"
        "    pushal\n"
        "    movl %esp, %ebp\n"
        "    pushl $0x1000\n"
        "    movl $1f, t_resume_eip\n"
        "ld_pop_insn:\n"
        "    popl %ds\n"
        "1:  movl $0, t_resume_eip\n"
        "    movl %ebp, %ecx\n"
        "    subl %esp, %ecx\n"
        "    movl %ebp, %esp\n"
        "    movl $0x10, %eax\n"
        "    movw %ax, %ds\n"
        "    movl %ecx, res\n"
        "    popal\n"
        "    ret\n");
void ld_pop(void);
extern char ld_pop_insn[];

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

static void test_load_faults(void)
{
    t_catch(11);
    t_catch(12);
    t_catch(13);
    expect("mov ds, beyond the GDT", ld_beyond_gdt, 13, 0x1000, ld_beyond_gdt_insn);
    expect("mov es, beyond the LDT", ld_beyond_ldt, 13, 0x1f4, ld_beyond_ldt_insn);
    expect("mov fs, RPL 3 > DPL 0", ld_rpl3, 13, 0x10, ld_rpl3_insn);
    expect("mov gs, TSS", ld_tss, 13, 0x28, ld_tss_insn);
    expect("mov ds, execute-only code", ld_xonly, 13, LSEL(L_XONLY), ld_xonly_insn);
    expect("mov fs, not present", ld_np, 11, LSEL(L_NPDATA), ld_np_insn);
    expect("mov ss, read-only data", ld_ss_ro, 13, LSEL(L_RODATA), ld_ss_ro_insn);
    expect("mov ss, not present", ld_ss_np, 12, LSEL(L_NPDATA), ld_ss_np_insn);
    expect("mov ss, DPL 3 at CPL 0", ld_ss_dpl3, 13, LSEL(L_DATA3), ld_ss_dpl3_insn);
    expect("pop ds, beyond the GDT", ld_pop, 13, 0x1000, ld_pop_insn);
    t_assert_eq("pop ds fault: ESP unchanged", res[0], 4);
    t_set_handler(11, NULL);
    t_set_handler(12, NULL);
    t_set_handler(13, NULL);
}

/* ---- LAR, LSL, VERR, VERW ---- */

static int lar(uint32_t sel, uint32_t *v)
{
    uint8_t z;
    *v = 0xdeadbeef;
    __asm__ volatile("larl %2, %0; setz %1" : "+r"(*v), "=q"(z) : "r"(sel) : "cc");
    return z;
}

static int lsl(uint32_t sel, uint32_t *v)
{
    uint8_t z;
    *v = 0xdeadbeef;
    __asm__ volatile("lsll %2, %0; setz %1" : "+r"(*v), "=q"(z) : "r"(sel) : "cc");
    return z;
}

static int verr(uint32_t sel)
{
    uint8_t z;
    __asm__ volatile("verr %w1; setz %0" : "=q"(z) : "r"(sel) : "cc");
    return z;
}

static int verw(uint32_t sel)
{
    uint8_t z;
    __asm__ volatile("verw %w1; setz %0" : "=q"(z) : "r"(sel) : "cc");
    return z;
}

static void check_probe(const char *name, uint32_t sel, int lar_ok, uint32_t ar, int lsl_ok,
                        uint32_t limit, int r, int w)
{
    uint32_t v;
    int ok = t_assert_eq("lar: ZF", lar(sel, &v), lar_ok);
    /* Bits 16-19 of the LAR result are undefined in the SDM: masked. */
    ok &= t_assert_eq("lar: value", lar_ok ? v & 0x00f0ff00 : v, lar_ok ? ar : 0xdeadbeef);
    ok &= t_assert_eq("lsl: ZF", lsl(sel, &v), lsl_ok);
    ok &= t_assert_eq("lsl: value", v, lsl_ok ? limit : 0xdeadbeef);
    ok &= t_assert_eq("verr", verr(sel), r);
    ok &= t_assert_eq("verw", verw(sel), w);
    if (!ok)
        t_printf("  (the failures above: %s, selector 0x%x)\n", name, sel);
}

static void test_probes(void)
{
    check_probe("readable code", LSEL(L_CODE), 1, 0x00c09b00, 1, 0xffffffff, 1, 0);
    check_probe("execute-only code", LSEL(L_XONLY), 1, 0x00409900, 1, 0x12345, 0, 0);
    check_probe("read-only data", LSEL(L_RODATA), 1, 0x00409100, 1, 0xabc, 1, 0);
    check_probe("DPL-3 data, RPL 3", LSEL(L_DATA3) | 3, 1, 0x00c0f300, 1, 0xffffffff, 1, 1);
    check_probe("DPL-0 data", LSEL(L_DATA0), 1, 0x00409300, 1, 0xfff, 1, 1);
    check_probe("DPL-0 data, RPL 3", LSEL(L_DATA0) | 3, 0, 0, 0, 0, 0, 0);
    check_probe("conforming code, RPL 3", LSEL(L_CONFORM) | 3, 1, 0x00c09f00, 1, 0xffffffff, 1, 0);
    check_probe("32-bit TSS", LSEL(L_TSS), 1, 0x00008900, 1, 0x67, 0, 0);
    check_probe("call gate", LSEL(L_CALLGATE), 1, 0x0000ec00, 0, 0, 0, 0);
    check_probe("interrupt gate", LSEL(L_INTGATE), 0, 0, 0, 0, 0, 0);
    check_probe("expand-down 32-bit", LSEL(L_EXPDOWN32), 1, 0x00c09700, 1, 0xffffefff, 1, 1);
    check_probe("expand-down 16-bit", LSEL(L_EXPDOWN16), 1, 0x00009700, 1, 0xfff, 1, 1);
    check_probe("null selector", 0, 0, 0, 0, 0, 0, 0);
    check_probe("beyond the LDT", 0x1f4, 0, 0, 0, 0, 0, 0);
    /* LAR and LSL do not look at P. */
    uint32_t v;
    t_assert_eq("lar, not present: ZF", lar(LSEL(L_NPDATA), &v), 1);
    t_assert_eq("lar, not present: value", v & 0x00f0ff00, 0x00c01300);
    t_assert_eq("lsl, not present: ZF", lsl(LSEL(L_NPDATA), &v), 1);
    t_assert_eq("kit flat code: lar", (lar(T_SEL_CODE32, &v), v & 0x00f0fe00), 0x00c09a00);
    t_assert_eq("kit 16-bit data: lsl", (lsl(T_SEL_DATA16, &v), v), 0xffff);
}

/* ---- conforming code from ring 3 ---- */

uint32_t u_conf_cs, u_conf_ret, u_conf_esp_in, u_conf_esp_out;
__asm__(".text\n"
        "u_conform:\n"
        "    movl %esp, u_conf_esp_in\n"
        "    lcall $0x2f, $conf_fn\n" /* LSEL(L_CONFORM) | 3 */
        "    movl %eax, u_conf_ret\n"
        "    movl %esp, u_conf_esp_out\n"
        "    movl $1f, t_resume_eip\n"
        "u_call_ring0_insn:\n"
        "    lcall $0x08, $conf_fn\n" /* non-conforming DPL 0: #GP(0x08) */
        "1:  int $0xf0\n"
        "conf_fn:\n"
        "    movw %cs, u_conf_cs\n"
        "    movl $0x5a5a, %eax\n"
        "    lret\n");
void u_conform(void);
extern char u_call_ring0_insn[];

static void test_conforming(void)
{
    uint32_t before = t_trap.count;
    t_catch(13);
    t_user_run(u_conform, ustack + sizeof(ustack), 0x2);
    t_set_handler(13, NULL);
    t_assert_eq("conforming code from ring 3: CS keeps RPL 3", u_conf_cs & 0xffff,
                LSEL(L_CONFORM) | 3);
    t_assert_eq("conforming code from ring 3: returned", u_conf_ret, 0x5a5a);
    t_assert_eq("conforming code from ring 3: no stack switch", u_conf_esp_out, u_conf_esp_in);
    t_assert_eq("far call to DPL-0 code from ring 3: one fault", t_trap.count - before, 1);
    t_assert_eq("far call to DPL-0 code from ring 3: #GP", t_trap.vector, 13);
    t_assert_eq("far call to DPL-0 code from ring 3: error", t_trap.error, T_SEL_CODE32);
    t_assert_eq("far call to DPL-0 code from ring 3: EIP", t_trap.eip, (uint32_t)u_call_ring0_insn);
}

void test_main(void)
{
    static uint8_t fake_tss[0x68];
    t_user_setup();
    ldt[L_CODE] = desc(0, 0xfffff, 0x9b, T_FLG_32);
    ldt[L_XONLY] = desc(0, 0x12345, 0x99, 0x4);
    ldt[L_RODATA] = desc(0, 0xabc, 0x91, 0x4);
    ldt[L_DATA3] = desc(0, 0xfffff, 0xf3, T_FLG_32);
    ldt[L_CONFORM] = desc(0, 0xfffff, 0x9f, T_FLG_32);
    ldt[L_NPDATA] = desc(0, 0xfffff, 0x13, T_FLG_32);
    ldt[L_TSS] = desc((uint32_t)fake_tss, 0x67, 0x89, 0);
    ldt[L_CALLGATE] = gate(T_SEL_CODE32, 0, 0xec);
    ldt[L_INTGATE] = gate(T_SEL_CODE32, 0, 0x8e);
    ldt[L_DATA0] = desc(0, 0xfff, 0x93, 0x4);
    ldt[L_EXPDOWN32] = desc((uint32_t)expbuf - 0xfffff000u, 0xffffe, 0x97, T_FLG_32);
    ldt[L_EXPDOWN16] = desc((uint32_t)expbuf - 0x1000, 0xfff, 0x97, T_FLG_16);
    t_gdt_set(SEL_LDT >> 3, (uint32_t)ldt, sizeof(ldt) - 1, 0x82, 0);
    __asm__ volatile("lldt %w0" : : "r"(SEL_LDT) : "memory");

    test_bases();
    test_expand_down();
    test_code16();
    test_stack16();
    test_load_faults();
    test_probes();
    test_conforming();
}
