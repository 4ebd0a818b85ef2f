/*
 * monitor/sys: segment loads, exception and interrupt delivery, and the
 * system instructions (seg.c, exception.c, sysinsn*.c). Each test gets a
 * fresh flat 32-bit machine with a small GDT, IDT and 32-bit TSS built in
 * guest RAM (layout below), feeds instruction bytes decoded by Zydis to
 * sys__exec() or calls cpu__deliver() directly, and checks registers,
 * descriptor caches, error codes and the bytes of pushed frames against
 * values worked out by hand from the Intel SDM.
 */
#include <check.h>
#include <string.h>

#include <Zydis/Zydis.h>

#include "fixture.h"
#include "mmu-shadow/mem.h"
#include "monitor/exception.h"
#include "monitor/seg.h"
#include "monitor/stats.h"
#include "monitor/sysinsn.h"

#define GDT 0x10000u
#define IDT 0x11000u
#define TSS 0x12000u
#define LDT 0x13000u
#define CODE 0x1000u
#define KSTACK 0x8000u /* ESP0 in the TSS */
#define STACK 0x9000u  /* CPL-0 stack of the fixture */
#define USTACK 0x7000u /* CPL-3 stack */
#define C (fx->cpu)
#define R(r) ((uint32_t)C->gpr[r])

enum {
    S_CODE0 = 0x08, S_DATA0 = 0x10, S_CODE3 = 0x18, S_DATA3 = 0x20, S_TSS = 0x28,
    S_CODE16 = 0x30, S_NP = 0x38, S_GATE = 0x40, S_XO = 0x48, S_LDT = 0x50, S_RO = 0x58,
    GDT_LIMIT = 0x5f,
};

static struct interp_exc exc;

/* ---- guest structures ------------------------------------------------------------------------ */

static uint64_t mkdesc(uint32_t base, uint32_t limit, unsigned access, unsigned gdb)
{
    return (limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 | (uint64_t)access << 40 |
           (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)gdb << 52 |
           (uint64_t)(base >> 24) << 56;
}

static uint64_t mkgate(uint16_t sel, uint32_t off, unsigned access, unsigned params)
{
    return (off & 0xffff) | (uint64_t)sel << 16 | (uint64_t)params << 32 |
           (uint64_t)access << 40 | (uint64_t)(off >> 16) << 48;
}

static uint32_t rd(uint32_t a, unsigned size)
{
    return (uint32_t)mem__phys_read(fx, a, size);
}

static void wr(uint32_t a, unsigned size, uint64_t v)
{
    mem__phys_write(fx, a, size, v);
}

static void set_gdt(uint16_t sel, uint64_t d)
{
    wr(GDT + (sel & ~7u), 8, d);
}

static void set_idt(int vector, uint64_t g)
{
    wr(IDT + 8u * vector, 8, g);
}

static void set_seg(int s, uint16_t sel, uint32_t base, uint32_t limit, uint16_t flags)
{
    C->seg[s] = (struct segment){.base = base, .limit = limit, .sel = sel, .flags = flags};
    C->seg_base[s] = base;
}

static void setup(void)
{
    fixture_machine_setup();
    memset(&exc, 0, sizeof(exc));
    set_gdt(S_CODE0, mkdesc(0, 0xfffff, 0x9a, 0xc));
    set_gdt(S_DATA0, mkdesc(0, 0xfffff, 0x92, 0xc));
    set_gdt(S_CODE3, mkdesc(0, 0xfffff, 0xfa, 0xc));
    set_gdt(S_DATA3, mkdesc(0, 0xfffff, 0xf2, 0xc));
    set_gdt(S_TSS, mkdesc(TSS, 0x67, 0x89, 0));
    set_gdt(S_CODE16, mkdesc(0x20000, 0xffff, 0x9a, 0));
    set_gdt(S_NP, mkdesc(0, 0xfffff, 0x12, 0xc));
    set_gdt(S_GATE, mkgate(S_CODE0, 0x5000, 0xec, 2)); /* 32-bit call gate, DPL 3, 2 params */
    set_gdt(S_XO, mkdesc(0, 0xfffff, 0x98, 0xc));       /* execute-only code */
    set_gdt(S_LDT, mkdesc(LDT, 0x17, 0x82, 0));
    set_gdt(S_RO, mkdesc(0, 0xfffff, 0x90, 0xc));       /* read-only data */
    C->gdtr = (struct dtable){GDT, GDT_LIMIT};

    set_idt(0x80, mkgate(S_CODE0, 0x3000, 0xee, 0)); /* interrupt gate, DPL 3 */
    set_idt(0x81, mkgate(S_CODE0, 0x3100, 0x8e, 0)); /* interrupt gate, DPL 0 */
    set_idt(0x82, mkgate(S_TSS, 0, 0x85, 0));        /* task gate */
    set_idt(0x83, mkgate(S_CODE16, 0x0100, 0x86, 0)); /* 16-bit interrupt gate */
    set_idt(13, mkgate(S_CODE0, 0x4000, 0x8f, 0));   /* #GP: trap gate */
    set_idt(11, mkgate(S_CODE0, 0x4b00, 0x8e, 0));   /* #NP */
    set_idt(8, mkgate(S_CODE0, 0x4800, 0x8e, 0));    /* #DF */
    C->idtr = (struct dtable){IDT, 0x7ff};

    wr(TSS + 4, 4, KSTACK); /* ESP0 */
    wr(TSS + 8, 2, S_DATA0); /* SS0 */
    C->tr = (struct segment){.base = TSS, .limit = 0x67, .sel = S_TSS, .flags = 0x8b};

    C->gpr[R_ESP] = STACK;
    vcpu_set_eflags(C, 0x202);
}

/* Run at CPL 3 on flat DPL-3 segments. */
static void user(void)
{
    set_seg(SEG_CS, S_CODE3 | 3, 0, 0xffffffff, 0xcffb);
    set_seg(SEG_SS, S_DATA3 | 3, 0, 0xffffffff, 0xcff3);
    C->gpr[R_ESP] = USTACK;
}

/* Real mode at 0000:xxxx with the IVT at 0. */
static void real_mode(void)
{
    vcpu_reset(C);
    set_seg(SEG_CS, 0, 0, 0xffff, 0x9b);
    C->gpr[R_ESP] = STACK;
    vcpu_set_eflags(C, 0x202);
}

/* Place hex instruction bytes at CS:eip, decode them for the current CS and run sys__exec. */
static int exec_at(uint32_t eip, const char *hex)
{
    ZydisDecoder dec;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    uint8_t b[16];
    unsigned n = 0, v;
    bool code32 = (C->seg[SEG_CS].flags & SEGF_DB) != 0;
    int rc;

    while (*hex && sscanf(hex, "%2x", &v) == 1) {
        b[n++] = (uint8_t)v;
        hex += 2;
        while (*hex == ' ')
            hex++;
    }
    mem__phys_write_buf(fx, C->seg[SEG_CS].base + eip, b, n);
    C->eip = eip;
    ZydisDecoderInit(&dec, code32 ? ZYDIS_MACHINE_MODE_LEGACY_32 : ZYDIS_MACHINE_MODE_LEGACY_16,
                     code32 ? ZYDIS_STACK_WIDTH_32 : ZYDIS_STACK_WIDTH_16);
    ck_assert(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, b, n, &in, ops)));
    ck_assert_uint_eq(in.length, n);
    memset(&exc, 0, sizeof(exc));
    rc = sys__exec(fx, &in, ops, &exc);
    for (int i = 0; i < SEG_NR; i++) /* translated code reads seg_base: it must never lag */
        ck_assert_uint_eq(C->seg_base[i], C->seg[i].base);
    return rc;
}

static int exec(const char *hex)
{
    return exec_at(CODE, hex);
}

#define EXC_IS(vec, err)                                                                           \
    do {                                                                                           \
        ck_assert_int_eq(exc.vector, (vec));                                                       \
        ck_assert_uint_eq(exc.error_code, (err));                                                  \
    } while (0)

/* ---- segment loads --------------------------------------------------------------------------- */

START_TEST(seg_load_protected)
{
    C->gpr[R_EAX] = S_DATA3 | 3;
    ck_assert_int_eq(exec("8e d8"), INTERP_OK); /* mov ds, ax */
    ck_assert_uint_eq(C->seg[SEG_DS].sel, S_DATA3 | 3);
    ck_assert_uint_eq(C->seg[SEG_DS].limit, 0xffffffffu);
    ck_assert_uint_eq(C->seg[SEG_DS].flags, 0xcff3); /* accessed now */
    ck_assert_uint_eq(rd(GDT + S_DATA3 + 5, 1), 0xf3);
    ck_assert_uint_eq(C->eip, CODE + 2);

    /* base and limit from a byte-granular descriptor; seg_base follows */
    set_gdt(S_DATA3, mkdesc(0x12345678, 0xabcde, 0xf2, 0x4));
    ck_assert_int_eq(exec("8e d8"), INTERP_OK);
    ck_assert_uint_eq(C->seg[SEG_DS].base, 0x12345678);
    ck_assert_uint_eq(C->seg_base[SEG_DS], 0x12345678);
    ck_assert_uint_eq(C->seg[SEG_DS].limit, 0xabcde);

    /* null selectors load into data registers, with their RPL */
    C->gpr[R_EAX] = 3;
    ck_assert_int_eq(exec("8e e0"), INTERP_OK); /* mov fs, ax */
    ck_assert_uint_eq(C->seg[SEG_FS].sel, 3);
    ck_assert_uint_eq(C->seg[SEG_FS].flags & SEGF_P, 0);
}
END_TEST

START_TEST(seg_load_faults)
{
    struct segment ds = C->seg[SEG_DS];

    C->gpr[R_EAX] = 0;
    ck_assert_int_eq(exec("8e d0"), INTERP_EXCEPTION); /* mov ss, ax: null */
    EXC_IS(13, 0);
    ck_assert_uint_eq(C->eip, CODE);

    C->gpr[R_EAX] = 0x1000; /* beyond the GDT limit */
    ck_assert_int_eq(exec("8e d8"), INTERP_EXCEPTION);
    EXC_IS(13, 0x1000);
    ck_assert(exc.has_error);

    C->gpr[R_EAX] = S_NP;
    ck_assert_int_eq(exec("8e d8"), INTERP_EXCEPTION);
    EXC_IS(11, S_NP);
    ck_assert_int_eq(exec("8e d0"), INTERP_EXCEPTION); /* SS not present: #SS */
    EXC_IS(12, S_NP);

    C->gpr[R_EAX] = S_DATA0 | 1; /* SS: RPL != CPL */
    ck_assert_int_eq(exec("8e d0"), INTERP_EXCEPTION);
    EXC_IS(13, S_DATA0);
    C->gpr[R_EAX] = S_RO;
    ck_assert_int_eq(exec("8e d0"), INTERP_EXCEPTION);
    EXC_IS(13, S_RO);
    C->gpr[R_EAX] = S_XO;
    ck_assert_int_eq(exec("8e d8"), INTERP_EXCEPTION);
    EXC_IS(13, S_XO);
    C->gpr[R_EAX] = S_LDT; /* system descriptor */
    ck_assert_int_eq(exec("8e d8"), INTERP_EXCEPTION);
    EXC_IS(13, S_LDT);
    C->gpr[R_EAX] = 0x0c; /* LDT selector while LDTR is null */
    ck_assert_int_eq(exec("8e d8"), INTERP_EXCEPTION);
    EXC_IS(13, 0x0c);
    ck_assert_mem_eq(&C->seg[SEG_DS], &ds, sizeof(ds));

    user();
    C->gpr[R_EAX] = S_DATA0; /* DPL 0 from CPL 3 */
    ck_assert_int_eq(exec("8e d8"), INTERP_EXCEPTION);
    EXC_IS(13, S_DATA0);
    C->gpr[R_EAX] = S_DATA3 | 3;
    ck_assert_int_eq(exec("8e d8"), INTERP_OK);
}
END_TEST

START_TEST(seg_push_pop_mov)
{
    wr(STACK - 4, 4, 0xffffffff);
    ck_assert_int_eq(exec("1e"), INTERP_OK); /* push ds */
    ck_assert_uint_eq(R(R_ESP), STACK - 4);
    ck_assert_uint_eq(rd(STACK - 4, 4), S_DATA0); /* zero-extended */
    ck_assert_int_eq(exec("66 06"), INTERP_OK); /* push es, 16-bit */
    ck_assert_uint_eq(R(R_ESP), STACK - 6);
    ck_assert_uint_eq(rd(STACK - 6, 2), S_DATA0);

    C->gpr[R_ESP] = STACK - 4;
    ck_assert(!C->irq_shadow);
    ck_assert_int_eq(exec("17"), INTERP_OK); /* pop ss */
    ck_assert_uint_eq(R(R_ESP), STACK);
    ck_assert_uint_eq(C->seg[SEG_SS].sel, S_DATA0);
    ck_assert(C->irq_shadow);

    /* a failing pop leaves ESP alone */
    wr(STACK - 4, 4, S_NP);
    C->gpr[R_ESP] = STACK - 4;
    ck_assert_int_eq(exec("1f"), INTERP_EXCEPTION);
    EXC_IS(11, S_NP);
    ck_assert_uint_eq(R(R_ESP), STACK - 4);

    C->gpr[R_EAX] = 0xffffffff;
    ck_assert_int_eq(exec("8c d8"), INTERP_OK); /* mov eax, ds */
    ck_assert_uint_eq(R(R_EAX), S_DATA0);
    C->gpr[R_EAX] = 0xffffffff;
    ck_assert_int_eq(exec("66 8c d8"), INTERP_OK); /* mov ax, ds */
    ck_assert_uint_eq(R(R_EAX), 0xffff0000u | S_DATA0);
    C->gpr[R_EBX] = 0x6000;
    wr(0x6000, 4, 0xffffffff);
    ck_assert_int_eq(exec("8c 1b"), INTERP_OK); /* mov [ebx], ds: 16 bits */
    ck_assert_uint_eq(rd(0x6000, 4), 0xffff0000u | S_DATA0);
}
END_TEST

START_TEST(seg_lds_lss)
{
    C->gpr[R_EBX] = 0x6000;
    wr(0x6000, 4, 0x12345678);
    wr(0x6004, 2, S_DATA3 | 3);
    ck_assert_int_eq(exec("c5 03"), INTERP_OK); /* lds eax, [ebx] */
    ck_assert_uint_eq(R(R_EAX), 0x12345678);
    ck_assert_uint_eq(C->seg[SEG_DS].sel, S_DATA3 | 3);

    wr(0x6004, 2, S_NP);
    C->gpr[R_EAX] = 0;
    ck_assert_int_eq(exec("c4 03"), INTERP_EXCEPTION); /* les: not present */
    EXC_IS(11, S_NP);
    ck_assert_uint_eq(R(R_EAX), 0);

    wr(0x6004, 2, S_DATA0);
    ck_assert_int_eq(exec("0f b2 23"), INTERP_OK); /* lss esp, [ebx] */
    ck_assert_uint_eq(R(R_ESP), 0x12345678);
    ck_assert_uint_eq(C->seg[SEG_SS].sel, S_DATA0);
}
END_TEST

START_TEST(seg_ldt)
{
    wr(LDT + 8, 8, mkdesc(0x100000, 0xfff, 0x92, 0));
    C->gpr[R_EBX] = S_LDT;
    ck_assert_int_eq(exec("0f 00 d3"), INTERP_OK); /* lldt bx */
    ck_assert_uint_eq(C->ldtr.sel, S_LDT);
    ck_assert_uint_eq(C->ldtr.base, LDT);
    ck_assert_uint_eq(C->ldtr.limit, 0x17);
    C->gpr[R_EAX] = 0x0c;
    ck_assert_int_eq(exec("8e d8"), INTERP_OK);
    ck_assert_uint_eq(C->seg[SEG_DS].base, 0x100000);
    ck_assert_uint_eq(C->seg[SEG_DS].limit, 0xfff);
    C->gpr[R_EAX] = 0x1c; /* past the LDT limit */
    ck_assert_int_eq(exec("8e d8"), INTERP_EXCEPTION);
    EXC_IS(13, 0x1c);

    C->gpr[R_EBX] = S_DATA0;
    ck_assert_int_eq(exec("0f 00 d3"), INTERP_EXCEPTION); /* not an LDT descriptor */
    EXC_IS(13, S_DATA0);
    C->gpr[R_EAX] = 0xffffffff;
    ck_assert_int_eq(exec("0f 00 c0"), INTERP_OK); /* sldt eax */
    ck_assert_uint_eq(R(R_EAX), S_LDT);
}
END_TEST

START_TEST(seg_real_and_big_real)
{
    real_mode();
    set_seg(SEG_DS, 0, 0, 0xffffffff, 0x93); /* limit left by a trip to protected mode */
    C->gpr[R_EAX] = 0x1234;
    ck_assert_int_eq(exec("8e d8"), INTERP_OK);
    ck_assert_uint_eq(C->seg[SEG_DS].sel, 0x1234);
    ck_assert_uint_eq(C->seg[SEG_DS].base, 0x12340);
    ck_assert_uint_eq(C->seg_base[SEG_DS], 0x12340);
    ck_assert_uint_eq(C->seg[SEG_DS].limit, 0xffffffff);
    ck_assert_uint_eq(C->eip, CODE + 2);
    /* protected-mode-only instructions */
    ck_assert_int_eq(exec("0f 00 d3"), INTERP_EXCEPTION);
    EXC_IS(6, 0);
}
END_TEST

START_TEST(seg_stack_checks)
{
    uint64_t d;
    uint16_t ss;
    uint32_t esp;

    ck_assert_int_eq(seg__check_stack(fx, S_NP, 0, EXC_TS, 1, &d, &exc), -1);
    EXC_IS(12, S_NP | 1); /* not present: #SS, with EXT */
    ck_assert_int_eq(seg__check_stack(fx, S_DATA3 | 3, 0, EXC_TS, 0, &d, &exc), -1);
    EXC_IS(10, S_DATA3); /* RPL/DPL != target CPL: #TS */
    ck_assert_int_eq(seg__check_stack(fx, 0, 0, EXC_TS, 1, &d, &exc), -1);
    EXC_IS(10, 1);
    ck_assert_int_eq(seg__check_stack(fx, S_DATA0, 0, EXC_TS, 0, &d, &exc), 0);

    ck_assert_int_eq(seg__tss_stack(fx, 0, 0, &ss, &esp, &exc), 0);
    ck_assert_uint_eq(ss, S_DATA0);
    ck_assert_uint_eq(esp, KSTACK);
    C->tr.limit = 8; /* SS0 lies past it */
    ck_assert_int_eq(seg__tss_stack(fx, 0, 1, &ss, &esp, &exc), -1);
    EXC_IS(10, S_TSS | 1);

    /* expand-down limits */
    struct segment down = {.limit = 0x0fff, .flags = 0x0097}; /* data, expand-down, 16-bit */
    ck_assert(!seg__in_limit(&down, 0x0ffe, 2));
    ck_assert(seg__in_limit(&down, 0x1000, 2));
    ck_assert(seg__in_limit(&down, 0xfffe, 2));
    ck_assert(!seg__in_limit(&down, 0xffff, 2));
}
END_TEST

/* ---- delivery -------------------------------------------------------------------------------- */

START_TEST(int_same_privilege)
{
    ck_assert_int_eq(exec("cd 80"), INTERP_OK);
    ck_assert_uint_eq(C->eip, 0x3000);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, S_CODE0);
    ck_assert_uint_eq(R(R_ESP), STACK - 12);
    ck_assert_uint_eq(rd(STACK - 12, 4), CODE + 2);
    ck_assert_uint_eq(rd(STACK - 8, 4), S_CODE0);
    ck_assert_uint_eq(rd(STACK - 4, 4), 0x202);
    ck_assert_uint_eq(C->eflags_sys & EFL_IF, 0); /* interrupt gate */
}
END_TEST

START_TEST(int_stack_switch)
{
    user();
    vcpu_set_eflags(C, 0x202 | EFL_CF);
    ck_assert_int_eq(exec("cd 80"), INTERP_OK);
    ck_assert_uint_eq(vcpu_cpl(C), 0);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, S_CODE0);
    ck_assert_uint_eq(C->seg[SEG_SS].sel, S_DATA0);
    ck_assert_uint_eq(C->eip, 0x3000);
    ck_assert_uint_eq(R(R_ESP), KSTACK - 20);
    ck_assert_uint_eq(rd(KSTACK - 20, 4), CODE + 2);
    ck_assert_uint_eq(rd(KSTACK - 16, 4), S_CODE3 | 3);
    ck_assert_uint_eq(rd(KSTACK - 12, 4), 0x203);
    ck_assert_uint_eq(rd(KSTACK - 8, 4), USTACK);
    ck_assert_uint_eq(rd(KSTACK - 4, 4), S_DATA3 | 3);
}
END_TEST

START_TEST(exception_error_code_from_user)
{
    user();
    C->eip = 0x1234;
    ck_assert_int_eq(cpu__deliver(fx, 13, true, 0x38, DELIVER_EXCEPTION), 0);
    ck_assert_uint_eq(C->eip, 0x4000);
    ck_assert_uint_eq(R(R_ESP), KSTACK - 24);
    ck_assert_uint_eq(rd(KSTACK - 24, 4), 0x38);
    ck_assert_uint_eq(rd(KSTACK - 20, 4), 0x1234);
    ck_assert_uint_eq(rd(KSTACK - 16, 4), S_CODE3 | 3);
    ck_assert_uint_eq(C->eflags_sys & EFL_IF, EFL_IF); /* trap gate keeps IF */
    ck_assert_uint_ge(stats.exceptions_by_vector[13], 1);
}
END_TEST

START_TEST(int_gate_dpl_gives_gp)
{
    user();
    ck_assert_int_eq(exec("cd 81"), INTERP_OK); /* DPL-0 gate from CPL 3 */
    ck_assert_uint_eq(C->eip, 0x4000);          /* in the #GP handler */
    ck_assert_uint_eq(rd(KSTACK - 24, 4), 0x81 * 8 + 2); /* IDT bit, no EXT */
    ck_assert_uint_eq(rd(KSTACK - 20, 4), CODE);         /* the INT itself faulted */
}
END_TEST

START_TEST(int_16bit_gate)
{
    ck_assert_int_eq(exec("cd 83"), INTERP_OK);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, S_CODE16);
    ck_assert_uint_eq(C->eip, 0x100);
    ck_assert_uint_eq(R(R_ESP), STACK - 6);
    ck_assert_uint_eq(rd(STACK - 6, 2), CODE + 2);
    ck_assert_uint_eq(rd(STACK - 4, 2), S_CODE0);
    ck_assert_uint_eq(rd(STACK - 2, 2), 0x202);
}
END_TEST

START_TEST(int_on_16bit_stack_wraps)
{
    set_seg(SEG_SS, S_DATA0, 0x40000, 0xffff, 0x0093); /* B = 0 */
    C->gpr[R_ESP] = 0xabcd0004;
    ck_assert_int_eq(exec("cd 80"), INTERP_OK);
    ck_assert_uint_eq(R(R_ESP), 0xabcdfff8); /* only SP moved, and it wrapped */
    ck_assert_uint_eq(rd(0x40000 + 0xfff8, 4), CODE + 2);
    ck_assert_uint_eq(rd(0x40000 + 0xfffc, 4), S_CODE0);
    ck_assert_uint_eq(rd(0x40000, 4), 0x202);
}
END_TEST

START_TEST(double_fault_on_not_present_gp)
{
    set_idt(13, mkgate(S_CODE0, 0x4000, 0x0f, 0)); /* #GP gate not present */
    C->eip = 0x1111;
    ck_assert_int_eq(cpu__deliver(fx, 13, true, 0, DELIVER_EXCEPTION), 0);
    ck_assert_uint_eq(C->eip, 0x4800);
    ck_assert_uint_eq(R(R_ESP), STACK - 16);
    ck_assert_uint_eq(rd(STACK - 16, 4), 0); /* #DF error code */
    ck_assert_uint_eq(rd(STACK - 12, 4), 0x1111);

    /* a not-present gate for a software INT is an #NP, delivered serially */
    set_idt(0x80, mkgate(S_CODE0, 0x3000, 0x6e, 0));
    C->gpr[R_ESP] = STACK;
    ck_assert_int_eq(exec("cd 80"), INTERP_OK);
    ck_assert_uint_eq(C->eip, 0x4b00);
    ck_assert_uint_eq(rd(STACK - 16, 4), 0x80 * 8 + 2);
}
END_TEST

START_TEST(triple_fault)
{
    uint32_t esp;

    set_idt(8, mkgate(S_CODE0, 0x4800, 0x0e, 0)); /* #DF not present */
    set_idt(13, mkgate(S_CODE0, 0x4000, 0x0f, 0));
    C->eip = 0x1111;
    esp = R(R_ESP);
    ck_assert_int_eq(cpu__deliver(fx, 13, true, 0, DELIVER_EXCEPTION), DELIVER_TRIPLE_FAULT);
    ck_assert_uint_eq(C->eip, 0x1111);
    ck_assert_uint_eq(R(R_ESP), esp);

    C->idtr.limit = 0; /* nothing deliverable at all */
    ck_assert_int_eq(cpu__deliver(fx, 14, true, 2, DELIVER_EXCEPTION), DELIVER_TRIPLE_FAULT);

    /* INT n ending in a triple fault asks the machine to reset */
    ck_assert_int_eq(exec("cd 80"), INTERP_OK);
    ck_assert_int_eq(fx->request, REQ_RESET);
}
END_TEST

START_TEST(task_gate_and_vm86_stop)
{
    ck_assert_int_eq(exec("cd 82"), INTERP_UNSUPPORTED);
    ck_assert_uint_eq(C->eip, CODE);
    ck_assert_uint_eq(R(R_ESP), STACK);
    C->eflags_sys |= EFL_VM;
    ck_assert_int_eq(cpu__deliver(fx, 13, true, 0, DELIVER_EXCEPTION), DELIVER_STOP);
}
END_TEST

START_TEST(real_mode_int_iret)
{
    real_mode();
    wr(0x10 * 4, 4, 0x20000100); /* IVT[0x10] = 2000:0100 */
    vcpu_set_eflags(C, 0x202 | EFL_CF | EFL_TF);
    ck_assert_int_eq(exec("cd 10"), INTERP_OK);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, 0x2000);
    ck_assert_uint_eq(C->seg_base[SEG_CS], 0x20000);
    ck_assert_uint_eq(C->eip, 0x100);
    ck_assert_uint_eq(R(R_ESP), STACK - 6);
    ck_assert_uint_eq(rd(STACK - 6, 2), CODE + 2);
    ck_assert_uint_eq(rd(STACK - 4, 2), 0);
    ck_assert_uint_eq(rd(STACK - 2, 2), 0x303);
    ck_assert_uint_eq(C->eflags_sys & (EFL_IF | EFL_TF), 0);

    ck_assert_int_eq(exec_at(0x100, "cf"), INTERP_OK); /* iret */
    ck_assert_uint_eq(C->seg[SEG_CS].sel, 0);
    ck_assert_uint_eq(C->eip, CODE + 2);
    ck_assert_uint_eq(R(R_ESP), STACK);
    ck_assert_uint_eq(vcpu_eflags(C), 0x303);
}
END_TEST

START_TEST(real_mode_sp_wraps)
{
    real_mode();
    wr(0x10 * 4, 4, 0x20000100);
    C->gpr[R_ESP] = 0x12340000;
    ck_assert_int_eq(exec("cd 10"), INTERP_OK);
    ck_assert_uint_eq(R(R_ESP), 0x1234fffa);
    ck_assert_uint_eq(rd(0xfffa, 2), CODE + 2);
    ck_assert_uint_eq(rd(0xfffe, 2), 0x202);
}
END_TEST

START_TEST(iret_to_user_nulls_data_segments)
{
    set_seg(SEG_ES, S_DATA3 | 3, 0, 0xffffffff, 0xcff3);
    C->gpr[R_ESP] = KSTACK - 20;
    wr(KSTACK - 20, 4, 0x2000);
    wr(KSTACK - 16, 4, S_CODE3 | 3);
    wr(KSTACK - 12, 4, 0x3246); /* IOPL 3, IF, ZF, PF */
    wr(KSTACK - 8, 4, USTACK);
    wr(KSTACK - 4, 4, S_DATA3 | 3);
    ck_assert_int_eq(exec("cf"), INTERP_OK); /* iretd */
    ck_assert_uint_eq(vcpu_cpl(C), 3);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, S_CODE3 | 3);
    ck_assert_uint_eq(C->seg[SEG_SS].sel, S_DATA3 | 3);
    ck_assert_uint_eq(C->eip, 0x2000);
    ck_assert_uint_eq(R(R_ESP), USTACK);
    ck_assert_uint_eq(vcpu_eflags(C), 0x3246);
    ck_assert_uint_eq(C->seg[SEG_DS].sel, 0); /* DPL 0 data: nulled */
    ck_assert_uint_eq(C->seg[SEG_FS].sel, 0);
    ck_assert_uint_eq(C->seg_base[SEG_DS], 0);
    ck_assert_uint_eq(C->seg[SEG_ES].sel, S_DATA3 | 3); /* DPL 3: kept */
}
END_TEST

START_TEST(iret_flag_privilege)
{
    user();
    C->gpr[R_ESP] = USTACK - 12;
    wr(USTACK - 12, 4, 0x2100);
    wr(USTACK - 8, 4, S_CODE3 | 3);
    wr(USTACK - 4, 4, 0x3002 | EFL_CF); /* tries IOPL 3 and IF 0 */
    ck_assert_int_eq(exec("cf"), INTERP_OK);
    ck_assert_uint_eq(C->eip, 0x2100);
    ck_assert_uint_eq(R(R_ESP), USTACK);
    ck_assert_uint_eq(vcpu_eflags(C), 0x203); /* only CF changed */

    /* to a more privileged level: #GP(selector) */
    C->gpr[R_ESP] = USTACK - 12;
    wr(USTACK - 8, 4, S_CODE0);
    ck_assert_int_eq(exec("cf"), INTERP_EXCEPTION);
    EXC_IS(13, S_CODE0);
    ck_assert_uint_eq(R(R_ESP), USTACK - 12);

    /* to an outer level with an SS whose RPL differs from the new CPL */
    set_seg(SEG_CS, S_CODE0, 0, 0xffffffff, 0xcf9b);
    set_seg(SEG_SS, S_DATA0, 0, 0xffffffff, 0xcf93);
    C->gpr[R_ESP] = KSTACK - 20;
    wr(KSTACK - 20, 4, 0x2000);
    wr(KSTACK - 16, 4, S_CODE3 | 3);
    wr(KSTACK - 12, 4, 0x202);
    wr(KSTACK - 8, 4, USTACK);
    wr(KSTACK - 4, 4, S_DATA3 | 2);
    ck_assert_int_eq(exec("cf"), INTERP_EXCEPTION);
    EXC_IS(13, S_DATA3);
    ck_assert_uint_eq(vcpu_cpl(C), 0);
    ck_assert_uint_eq(R(R_ESP), KSTACK - 20);

    C->eflags_sys |= EFL_NT;
    ck_assert_int_eq(exec("cf"), INTERP_UNSUPPORTED);
}
END_TEST

/* ---- far transfers --------------------------------------------------------------------------- */

START_TEST(far_jmp_to_16bit_code)
{
    ck_assert_int_eq(exec("ea 10 00 00 00 30 00"), INTERP_OK); /* jmp 0x30:0x10 */
    ck_assert_uint_eq(C->seg[SEG_CS].sel, S_CODE16);
    ck_assert_uint_eq(C->seg_base[SEG_CS], 0x20000);
    ck_assert_uint_eq(C->seg[SEG_CS].flags & SEGF_DB, 0);
    ck_assert_uint_eq(C->eip, 0x10);
    ck_assert_uint_eq(rd(GDT + S_CODE16 + 5, 1), 0x9b);

    /* and back with an o32 jmp decoded as 16-bit code */
    ck_assert_int_eq(exec_at(0x10, "66 ea 00 20 00 00 08 00"), INTERP_OK);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, S_CODE0);
    ck_assert_uint_eq(C->eip, 0x2000);

    ck_assert_int_eq(exec("ea 00 00 00 00 10 00"), INTERP_EXCEPTION); /* to data */
    EXC_IS(13, S_DATA0);
    ck_assert_int_eq(exec("ea 00 00 00 00 00 00"), INTERP_EXCEPTION); /* null */
    EXC_IS(13, 0);
    ck_assert_int_eq(exec("ea 00 00 01 00 30 00"), INTERP_EXCEPTION); /* past the limit */
    EXC_IS(13, 0);
    ck_assert_uint_eq(C->eip, CODE);
}
END_TEST

START_TEST(far_call_and_retf)
{
    ck_assert_int_eq(exec("9a 00 30 00 00 08 00"), INTERP_OK); /* call 0x08:0x3000 */
    ck_assert_uint_eq(C->eip, 0x3000);
    ck_assert_uint_eq(R(R_ESP), STACK - 8);
    ck_assert_uint_eq(rd(STACK - 8, 4), CODE + 7);
    ck_assert_uint_eq(rd(STACK - 4, 4), S_CODE0);
    ck_assert_int_eq(exec_at(0x3000, "cb"), INTERP_OK); /* retf */
    ck_assert_uint_eq(C->eip, CODE + 7);
    ck_assert_uint_eq(R(R_ESP), STACK);

    /* indirect, m16:32 */
    C->gpr[R_EBX] = 0x6000;
    wr(0x6000, 4, 0x3300);
    wr(0x6004, 2, S_CODE0);
    ck_assert_int_eq(exec("ff 2b"), INTERP_OK); /* jmp far [ebx] */
    ck_assert_uint_eq(C->eip, 0x3300);
}
END_TEST

START_TEST(call_gate_to_ring0_and_back)
{
    user();
    C->gpr[R_ESP] = USTACK - 8;
    wr(USTACK - 8, 4, 0x11111111);
    wr(USTACK - 4, 4, 0x22222222);
    ck_assert_int_eq(exec("9a 00 00 00 00 43 00"), INTERP_OK); /* call 0x43:0 (gate) */
    ck_assert_uint_eq(vcpu_cpl(C), 0);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, S_CODE0);
    ck_assert_uint_eq(C->seg[SEG_SS].sel, S_DATA0);
    ck_assert_uint_eq(C->eip, 0x5000);
    ck_assert_uint_eq(R(R_ESP), KSTACK - 24);
    ck_assert_uint_eq(rd(KSTACK - 24, 4), CODE + 7);
    ck_assert_uint_eq(rd(KSTACK - 20, 4), S_CODE3 | 3);
    ck_assert_uint_eq(rd(KSTACK - 16, 4), 0x11111111);
    ck_assert_uint_eq(rd(KSTACK - 12, 4), 0x22222222);
    ck_assert_uint_eq(rd(KSTACK - 8, 4), USTACK - 8);
    ck_assert_uint_eq(rd(KSTACK - 4, 4), S_DATA3 | 3);

    ck_assert_int_eq(exec_at(0x5000, "ca 08 00"), INTERP_OK); /* retf 8 */
    ck_assert_uint_eq(vcpu_cpl(C), 3);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, S_CODE3 | 3);
    ck_assert_uint_eq(C->seg[SEG_SS].sel, S_DATA3 | 3);
    ck_assert_uint_eq(C->eip, CODE + 7);
    ck_assert_uint_eq(R(R_ESP), USTACK);
    ck_assert_uint_eq(C->seg[SEG_DS].sel, 0); /* DPL-0 DS nulled on the way out */

    /* a gate with DPL < CPL */
    set_gdt(S_GATE, mkgate(S_CODE0, 0x5000, 0x8c, 2));
    ck_assert_int_eq(exec("9a 00 00 00 00 43 00"), INTERP_EXCEPTION);
    EXC_IS(13, S_GATE);
}
END_TEST

START_TEST(real_mode_far_transfers)
{
    real_mode();
    ck_assert_int_eq(exec("9a 00 01 00 20"), INTERP_OK); /* call 2000:0100 */
    ck_assert_uint_eq(C->seg[SEG_CS].sel, 0x2000);
    ck_assert_uint_eq(C->eip, 0x100);
    ck_assert_uint_eq(rd(STACK - 4, 2), CODE + 5);
    ck_assert_uint_eq(rd(STACK - 2, 2), 0);
    ck_assert_int_eq(exec_at(0x100, "cb"), INTERP_OK);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, 0);
    ck_assert_uint_eq(C->eip, CODE + 5);
    ck_assert_uint_eq(R(R_ESP), STACK);
}
END_TEST

START_TEST(sysenter_sysexit)
{
    C->sysenter_cs = S_CODE0;
    C->sysenter_esp = KSTACK;
    C->sysenter_eip = 0x3000;
    user();
    ck_assert_int_eq(exec("0f 34"), INTERP_OK);
    ck_assert_uint_eq(vcpu_cpl(C), 0);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, S_CODE0);
    ck_assert_uint_eq(C->seg[SEG_SS].sel, S_DATA0);
    ck_assert_uint_eq(R(R_ESP), KSTACK);
    ck_assert_uint_eq(C->eip, 0x3000);
    ck_assert_uint_eq(C->eflags_sys & EFL_IF, 0);

    C->gpr[R_ECX] = USTACK;
    C->gpr[R_EDX] = 0x2000;
    ck_assert_int_eq(exec("0f 35"), INTERP_OK);
    ck_assert_uint_eq(vcpu_cpl(C), 3);
    ck_assert_uint_eq(C->seg[SEG_CS].sel, S_CODE3 | 3);
    ck_assert_uint_eq(C->seg[SEG_SS].sel, S_DATA3 | 3);
    ck_assert_uint_eq(C->seg[SEG_CS].flags, 0xcffb);
    ck_assert_uint_eq(C->eip, 0x2000);
    ck_assert_int_eq(exec("0f 35"), INTERP_EXCEPTION); /* SYSEXIT at CPL 3 */
    EXC_IS(13, 0);
}
END_TEST

/* ---- descriptor tables, CRx, DRx, MSRs, flags ------------------------------------------------ */

START_TEST(lgdt_sgdt_round_trip)
{
    C->gpr[R_EBX] = 0x6000;
    wr(0x6000, 2, 0x1234);
    wr(0x6002, 4, 0xabcdef01);
    ck_assert_int_eq(exec("0f 01 1b"), INTERP_OK); /* lidt [ebx] */
    ck_assert_uint_eq(C->idtr.limit, 0x1234);
    ck_assert_uint_eq(C->idtr.base, 0xabcdef01);
    wr(0x6010, 8, ~0ull);
    ck_assert_int_eq(exec("0f 01 4b 10"), INTERP_OK); /* sidt [ebx+0x10] */
    ck_assert_uint_eq(rd(0x6010, 2), 0x1234);
    ck_assert_uint_eq(rd(0x6012, 4), 0xabcdef01);
    ck_assert_uint_eq(rd(0x6016, 2), 0xffff); /* six bytes only */
    ck_assert_int_eq(exec("66 0f 01 4b 10"), INTERP_OK); /* o16 sidt: 24-bit base */
    ck_assert_uint_eq(rd(0x6012, 4), 0x00cdef01);
    ck_assert_int_eq(exec("66 0f 01 1b"), INTERP_OK); /* o16 lidt */
    ck_assert_uint_eq(C->idtr.base, 0x00cdef01);

    ck_assert_int_eq(exec("0f 01 13"), INTERP_OK); /* lgdt [ebx] */
    ck_assert_uint_eq(C->gdtr.base, 0xabcdef01);
    ck_assert_int_eq(exec("0f 01 43 10"), INTERP_OK); /* sgdt [ebx+0x10] */
    ck_assert_uint_eq(rd(0x6012, 4), 0xabcdef01);

    user();
    ck_assert_int_eq(exec("0f 01 13"), INTERP_EXCEPTION);
    EXC_IS(13, 0);
    ck_assert_int_eq(exec("0f 01 43 10"), INTERP_OK); /* SGDT is not privileged */
}
END_TEST

START_TEST(ltr_marks_busy)
{
    C->tr = (struct segment){0};
    C->gpr[R_EBX] = S_TSS;
    ck_assert_int_eq(exec("0f 00 db"), INTERP_OK); /* ltr bx */
    ck_assert_uint_eq(C->tr.sel, S_TSS);
    ck_assert_uint_eq(C->tr.base, TSS);
    ck_assert_uint_eq(C->tr.limit, 0x67);
    ck_assert_uint_eq(C->tr.flags & SEGF_TYPE, DESC_TSS32_BUSY);
    ck_assert_uint_eq(rd(GDT + S_TSS + 5, 1), 0x8b);
    ck_assert_int_eq(exec("0f 00 db"), INTERP_EXCEPTION); /* already busy */
    EXC_IS(13, S_TSS);
    ck_assert_int_eq(exec("0f 00 c8"), INTERP_OK); /* str eax */
    ck_assert_uint_eq(R(R_EAX), S_TSS);
}
END_TEST

START_TEST(lar_lsl_verr_verw)
{
    C->gpr[R_EBX] = S_DATA3 | 3;
    ck_assert_int_eq(exec("0f 02 c3"), INTERP_OK); /* lar eax, bx */
    ck_assert_uint_eq(vcpu_eflags(C) & EFL_ZF, EFL_ZF);
    ck_assert_uint_eq(R(R_EAX), 0x00c0f200);
    ck_assert_int_eq(exec("0f 03 c3"), INTERP_OK); /* lsl eax, bx */
    ck_assert_uint_eq(R(R_EAX), 0xffffffff);
    C->gpr[R_EBX] = S_TSS;
    ck_assert_int_eq(exec("0f 03 c3"), INTERP_OK);
    ck_assert_uint_eq(R(R_EAX), 0x67);
    C->gpr[R_EBX] = S_GATE; /* gates have no limit */
    C->gpr[R_EAX] = 0x55;
    ck_assert_int_eq(exec("0f 03 c3"), INTERP_OK);
    ck_assert_uint_eq(vcpu_eflags(C) & EFL_ZF, 0);
    ck_assert_uint_eq(R(R_EAX), 0x55);
    C->gpr[R_EBX] = 0;
    ck_assert_int_eq(exec("0f 02 c3"), INTERP_OK);
    ck_assert_uint_eq(vcpu_eflags(C) & EFL_ZF, 0);

    C->gpr[R_EBX] = S_XO;
    ck_assert_int_eq(exec("0f 00 e3"), INTERP_OK); /* verr bx: execute-only */
    ck_assert_uint_eq(vcpu_eflags(C) & EFL_ZF, 0);
    C->gpr[R_EBX] = S_DATA3;
    ck_assert_int_eq(exec("0f 00 eb"), INTERP_OK); /* verw bx */
    ck_assert_uint_eq(vcpu_eflags(C) & EFL_ZF, EFL_ZF);
    C->gpr[R_EBX] = S_RO;
    ck_assert_int_eq(exec("0f 00 eb"), INTERP_OK);
    ck_assert_uint_eq(vcpu_eflags(C) & EFL_ZF, 0);

    user();
    C->gpr[R_EBX] = S_DATA0; /* DPL 0 is invisible from CPL 3 */
    ck_assert_int_eq(exec("0f 02 c3"), INTERP_OK);
    ck_assert_uint_eq(vcpu_eflags(C) & EFL_ZF, 0);
}
END_TEST

START_TEST(cr_writes)
{
    C->gpr[R_EAX] = CR0_PG; /* PG without PE */
    ck_assert_int_eq(exec("0f 22 c0"), INTERP_EXCEPTION);
    EXC_IS(13, 0);
    ck_assert_uint_eq(C->cr0, CR0_PE | CR0_ET);
    C->gpr[R_EAX] = CR0_PE | CR0_NW; /* NW without CD */
    ck_assert_int_eq(exec("0f 22 c0"), INTERP_EXCEPTION);
    C->gpr[R_EAX] = CR0_PE | CR0_PG | CR0_WP | 0x100; /* a reserved bit: ignored */
    ck_assert_int_eq(exec("0f 22 c0"), INTERP_OK);
    ck_assert_uint_eq(C->cr0, CR0_PE | CR0_PG | CR0_WP | CR0_ET);
    ck_assert_int_eq(exec("0f 20 c3"), INTERP_OK); /* mov ebx, cr0 */
    ck_assert_uint_eq(R(R_EBX), CR0_PE | CR0_PG | CR0_WP | CR0_ET);

    C->gpr[R_EAX] = CR4_PAE; /* not offered by CPUID */
    ck_assert_int_eq(exec("0f 22 e0"), INTERP_EXCEPTION);
    EXC_IS(13, 0);
    C->gpr[R_EAX] = CR4_PSE | CR4_PGE;
    ck_assert_int_eq(exec("0f 22 e0"), INTERP_OK);
    ck_assert_uint_eq(C->cr4, CR4_PSE | CR4_PGE);
    C->gpr[R_EAX] = 0x12345fff;
    ck_assert_int_eq(exec("0f 22 d8"), INTERP_OK); /* mov cr3, eax */
    ck_assert_uint_eq(C->cr3, 0x12345018);

    C->gpr[R_EAX] = CR0_TS; /* LMSW cannot clear PE */
    ck_assert_int_eq(exec("0f 01 f0"), INTERP_OK);
    ck_assert_uint_eq(C->cr0 & (CR0_PE | CR0_TS), CR0_PE | CR0_TS);
    ck_assert_int_eq(exec("0f 06"), INTERP_OK); /* clts */
    ck_assert_uint_eq(C->cr0 & CR0_TS, 0);

    user();
    ck_assert_int_eq(exec("0f 20 c3"), INTERP_EXCEPTION);
    EXC_IS(13, 0);
    ck_assert_int_eq(exec("0f 01 e0"), INTERP_OK); /* smsw eax is not privileged */
    ck_assert_uint_eq(R(R_EAX), C->cr0);
}
END_TEST

START_TEST(dr_access)
{
    C->gpr[R_EAX] = 0x12345678;
    ck_assert_int_eq(exec("0f 23 c0"), INTERP_OK); /* mov dr0, eax */
    ck_assert_uint_eq(C->dr[0], 0x12345678);
    C->gpr[R_EAX] = 0;
    ck_assert_int_eq(exec("0f 23 f0"), INTERP_OK); /* mov dr6, eax */
    ck_assert_uint_eq(C->dr[6], 0xffff0ff0);
    C->gpr[R_EAX] = 0x2000; /* GD */
    ck_assert_int_eq(exec("0f 23 f8"), INTERP_OK); /* mov dr7, eax */
    ck_assert_uint_eq(C->dr[7], 0x2400);
    ck_assert_int_eq(exec("0f 21 c0"), INTERP_EXCEPTION); /* general detect */
    EXC_IS(1, 0);
    ck_assert_uint_eq(C->dr[6] & 0x2000, 0x2000);
    ck_assert_uint_eq(C->dr[7] & 0x2000, 0);
    ck_assert_int_eq(exec("0f 21 e0"), INTERP_OK); /* mov eax, dr4 = dr6 */
    ck_assert_uint_eq(R(R_EAX), C->dr[6]);
}
END_TEST

START_TEST(msr_access)
{
    C->gpr[R_ECX] = 0x174;
    C->gpr[R_EAX] = S_CODE0;
    C->gpr[R_EDX] = 0;
    ck_assert_int_eq(exec("0f 30"), INTERP_OK); /* wrmsr */
    ck_assert_uint_eq(C->sysenter_cs, S_CODE0);
    C->gpr[R_EAX] = 0xdead;
    ck_assert_int_eq(exec("0f 32"), INTERP_OK); /* rdmsr */
    ck_assert_uint_eq(R(R_EAX), S_CODE0);
    ck_assert_uint_eq(R(R_EDX), 0);

    C->gpr[R_ECX] = 0x1234; /* unknown */
    ck_assert_int_eq(exec("0f 32"), INTERP_EXCEPTION);
    EXC_IS(13, 0);
    ck_assert_uint_eq(R(R_EAX), S_CODE0);
    ck_assert_int_eq(exec("0f 30"), INTERP_EXCEPTION);
    C->gpr[R_ECX] = 0xfe; /* MTRRcap is read-only */
    ck_assert_int_eq(exec("0f 30"), INTERP_EXCEPTION);
    ck_assert_int_eq(exec("0f 32"), INTERP_OK);
    ck_assert_uint_eq(R(R_EAX), 0x508);

    C->gpr[R_ECX] = 0x277; /* PAT with an invalid type 2 */
    C->gpr[R_EAX] = 0x02;
    ck_assert_int_eq(exec("0f 30"), INTERP_EXCEPTION);
    C->gpr[R_ECX] = 0x201; /* variable MTRR mask */
    C->gpr[R_EAX] = 0xfc000800;
    C->gpr[R_EDX] = 0xf;
    ck_assert_int_eq(exec("0f 30"), INTERP_OK);
    ck_assert_uint_eq(C->mtrr_var[1], 0xffc000800ull);

    C->gpr[R_ECX] = 0x10; /* TSC */
    C->gpr[R_EAX] = 0;
    C->gpr[R_EDX] = 1;
    ck_assert_int_eq(exec("0f 30"), INTERP_OK);
    ck_assert_int_eq(exec("0f 32"), INTERP_OK);
    ck_assert_uint_eq(R(R_EDX), 1);

    user();
    ck_assert_int_eq(exec("0f 32"), INTERP_EXCEPTION);
    EXC_IS(13, 0);
}
END_TEST

START_TEST(cli_sti_hlt)
{
    user();
    ck_assert_int_eq(exec("fa"), INTERP_EXCEPTION); /* cli at CPL 3, IOPL 0 */
    EXC_IS(13, 0);
    ck_assert_int_eq(exec("f4"), INTERP_EXCEPTION); /* hlt */
    vcpu_set_eflags(C, 0x202 | EFL_IOPL);
    ck_assert_int_eq(exec("fa"), INTERP_OK);
    ck_assert_uint_eq(C->eflags_sys & EFL_IF, 0);
    ck_assert(!C->irq_shadow);
    ck_assert_int_eq(exec("fb"), INTERP_OK); /* sti */
    ck_assert_uint_eq(C->eflags_sys & EFL_IF, EFL_IF);
    ck_assert(C->irq_shadow);

    set_seg(SEG_CS, S_CODE0, 0, 0xffffffff, 0xcf9b); /* back to CPL 0 */
    set_seg(SEG_SS, S_DATA0, 0, 0xffffffff, 0xcf93);
    ck_assert_int_eq(exec("f4"), INTERP_HALT);
    ck_assert_uint_eq(C->eip, CODE + 1);
    ck_assert_int_eq(exec("0f 0b"), INTERP_EXCEPTION); /* ud2 */
    EXC_IS(6, 0);
    ck_assert(!exc.has_error);
}
END_TEST

START_TEST(not_mine)
{
    ck_assert_int_eq(exec("89 d8"), INTERP_UNSUPPORTED);          /* mov eax, ebx */
    ck_assert_int_eq(exec("e9 00 00 00 00"), INTERP_UNSUPPORTED); /* jmp near */
    ck_assert_int_eq(exec("ff e0"), INTERP_UNSUPPORTED);          /* jmp eax */
    ck_assert_int_eq(exec("c3"), INTERP_UNSUPPORTED);             /* ret near */
    ck_assert_int_eq(exec("50"), INTERP_UNSUPPORTED);             /* push eax */
    ck_assert_int_eq(exec("9c"), INTERP_UNSUPPORTED);             /* pushfd */
    ck_assert_uint_eq(C->eip, CODE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("monitor/sys");
    struct {
        const char *name;
        const TTest *tests[12];
    } groups[] = {
        {"seg", {seg_load_protected, seg_load_faults, seg_push_pop_mov, seg_lds_lss, seg_ldt,
                 seg_real_and_big_real, seg_stack_checks}},
        {"deliver", {int_same_privilege, int_stack_switch, exception_error_code_from_user,
                     int_gate_dpl_gives_gp, int_16bit_gate, int_on_16bit_stack_wraps,
                     double_fault_on_not_present_gp,
                     triple_fault, task_gate_and_vm86_stop, real_mode_int_iret,
                     real_mode_sp_wraps}},
        {"far", {iret_to_user_nulls_data_segments, iret_flag_privilege, far_jmp_to_16bit_code,
                 far_call_and_retf, call_gate_to_ring0_and_back, real_mode_far_transfers,
                 sysenter_sysexit}},
        {"regs", {lgdt_sgdt_round_trip, ltr_marks_busy, lar_lsl_verr_verw, cr_writes, dr_access,
                  msr_access, cli_sti_hlt, not_mine}},
    };

    for (unsigned g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        TCase *tc = tcase_create(groups[g].name);

        tcase_add_checked_fixture(tc, setup, fixture_machine_teardown);
        for (unsigned i = 0; i < 12 && groups[g].tests[i]; i++)
            tcase_add_test(tc, groups[g].tests[i]);
        suite_add_tcase(s, tc);
    }
    return fixture_run_suite(s);
}
