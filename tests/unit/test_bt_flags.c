/*
 * bt/flags: the inline forms of STI, POPFD and PUSH sreg at CPL 0 against the
 * architecture: POPFD loads the status flags, DF and IF (and takes the slow
 * path when IF rises with an interrupt waiting: the interrupt comes before
 * the next instruction), STI's shadow lets exactly one instruction run first,
 * and PUSH sreg stores the selector zero-extended.
 */
#include <check.h>
#include <string.h>

#include "fixture.h"
#include "monitor/cpu.h"
#include "monitor/stats.h"
#include "monitor/vtime.h"

#include <Zydis/Zydis.h>

#define CODE 0x100000u
#define DATA 0x200000u
#define STACK 0x300000u
#define COUNTER (DATA + 0xc00)

static uint32_t code_at = CODE; /* a second run in a test goes to a fresh page */

static bool always_pending(struct machine *m)
{
    (void)m;
    return *(uint32_t *)(m->ram + DATA + 0xc04) == 0; /* until acknowledged */
}

static int ack(struct machine *m)
{
    *(uint32_t *)(m->ram + DATA + 0xc04) = 1;
    return 0x20;
}

/* A GDT (flat code 0x08, flat data 0x10) and an IDT whose vector 0x20 counts at COUNTER. */
static void setup(void)
{
    static const uint64_t gdt[3] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    static const uint8_t isr[] = {0xff, 0x05, COUNTER & 0xff, (COUNTER >> 8) & 0xff,
                                  (COUNTER >> 16) & 0xff, COUNTER >> 24, /* inc dword [COUNTER] */
                                  0xcf};                                 /* iretd */
    uint32_t handler = CODE + 0x800, idt = DATA + 0x800;
    uint64_t gate = (handler & 0xffff) | 0x08ull << 16 | 0x8eull << 40 |
                    (uint64_t)(handler >> 16) << 48;
    struct vcpu *c;

    fixture_machine_setup();
    code_at = CODE;
    c = fx->cpu;
    memcpy(fx->ram + DATA, gdt, sizeof(gdt));
    memcpy(fx->ram + idt + 0x20 * 8, &gate, 8);
    memcpy(fx->ram + handler, isr, sizeof(isr));
    c->gdtr.base = DATA;
    c->gdtr.limit = sizeof(gdt) - 1;
    c->idtr.base = idt;
    c->idtr.limit = 0x21 * 8 - 1;
    c->seg[SEG_CS].sel = 0x08;
    c->seg[SEG_DS].sel = c->seg[SEG_ES].sel = c->seg[SEG_SS].sel = 0x10;
}

static int run(const uint8_t *code, size_t len)
{
    memcpy(fx->ram + code_at, code, len);
    fx->cpu->eip = code_at;
    fx->cpu->halted = false;
    code_at += 0x1000;
    fx->cpu->gpr[R_ESP] = STACK;
    return machine__run(fx);
}

#define RUN(...)                                                                                   \
    do {                                                                                           \
        static const uint8_t code_[] = {__VA_ARGS__};                                              \
        ck_assert_int_eq(run(code_, sizeof(code_)), RUN_HALTED);                                   \
    } while (0)

static uint32_t reg(int r)
{
    return (uint32_t)fx->cpu->gpr[r];
}

START_TEST(popfd_loads_status_flags_and_df)
{
    vcpu_set_eflags(fx->cpu, 0x2);
    RUN(0x68, 0xd5, 0x08, 0, 0,     /* push 0x8d5: CF PF AF ZF SF OF */
        0x9d,                       /* popfd */
        0x9c,                       /* pushfd */
        0x58,                       /* pop eax */
        0x68, 0x00, 0x04, 0, 0,     /* push 0x400: DF */
        0x9d, 0x9c, 0x5b,           /* popfd; pushfd; pop ebx */
        0xfc,                       /* cld */
        0xf4);
    ck_assert_uint_eq(reg(R_EAX), 0x8d7);
    ck_assert_uint_eq(reg(R_EBX), 0x402);
}
END_TEST

START_TEST(popfd_sets_if_when_nothing_waits)
{
    vcpu_set_eflags(fx->cpu, 0x2);
    RUN(0x68, 0x02, 0x02, 0, 0,     /* push 0x202 */
        0x9d, 0x9c, 0x58,           /* popfd; pushfd; pop eax */
        0xfa, 0xf4);                /* cli; hlt */
    ck_assert_uint_eq(reg(R_EAX), 0x202);
}
END_TEST

START_TEST(popfd_raising_if_lets_a_waiting_interrupt_in)
{
    vcpu_set_eflags(fx->cpu, 0x2);
    fx->intr_pending = always_pending;
    fx->intr_ack = ack;
    RUN(0x68, 0x02, 0x02, 0, 0,     /* push 0x202 */
        0x9d,                       /* popfd: no shadow, the interrupt comes now */
        0x8b, 0x1d, COUNTER & 0xff, (COUNTER >> 8) & 0xff, (COUNTER >> 16) & 0xff,
        COUNTER >> 24,              /* mov ebx, [COUNTER] */
        0xfa, 0xf4);
    ck_assert_uint_eq(reg(R_EBX), 1);
}
END_TEST

START_TEST(sti_shadow_lets_one_instruction_run)
{
    vcpu_set_eflags(fx->cpu, 0x2);
    fx->intr_pending = always_pending;
    fx->intr_ack = ack;
    RUN(0xfb,                       /* sti */
        0x8b, 0x1d, COUNTER & 0xff, (COUNTER >> 8) & 0xff, (COUNTER >> 16) & 0xff,
        COUNTER >> 24,              /* mov ebx, [COUNTER]: in the shadow */
        0x8b, 0x0d, COUNTER & 0xff, (COUNTER >> 8) & 0xff, (COUNTER >> 16) & 0xff,
        COUNTER >> 24,              /* mov ecx, [COUNTER]: after the interrupt */
        0xfa, 0xf4);
    ck_assert_uint_eq(reg(R_EBX), 0);
    ck_assert_uint_eq(reg(R_ECX), 1);
}
END_TEST

START_TEST(sti_then_hlt_wakes_on_a_waiting_interrupt)
{
    vcpu_set_eflags(fx->cpu, 0x2);
    fx->intr_pending = always_pending;
    fx->intr_ack = ack;
    RUN(0xfb, 0xf4,                 /* sti; hlt: the interrupt ends the HLT */
        0x8b, 0x1d, COUNTER & 0xff, (COUNTER >> 8) & 0xff, (COUNTER >> 16) & 0xff,
        COUNTER >> 24,              /* mov ebx, [COUNTER] */
        0xfa, 0xf4);
    ck_assert_uint_eq(reg(R_EBX), 1);
    ck_assert_uint_eq(fx->cpu->eip, CODE + 10);
}
END_TEST

static int polls;
static bool pending_from_third_poll(struct machine *m)
{
    return ++polls >= 3 && always_pending(m); /* after the entries at the JMP and the STI */
}

/* The inline STI (nothing waits when the block is entered) at the end of a page: the
 * block exits right after it, the interrupt is there by then, and the shadow must still
 * let the next instruction run first. */
START_TEST(inline_sti_shadow_across_an_exit)
{
    static const uint8_t tail[] = {
        0x8b, 0x1d, COUNTER & 0xff, (COUNTER >> 8) & 0xff, (COUNTER >> 16) & 0xff,
        COUNTER >> 24,              /* mov ebx, [COUNTER]: in the shadow */
        0x8b, 0x0d, COUNTER & 0xff, (COUNTER >> 8) & 0xff, (COUNTER >> 16) & 0xff,
        COUNTER >> 24,              /* mov ecx, [COUNTER]: after the interrupt */
        0xfa, 0xf4};

    vcpu_set_eflags(fx->cpu, 0x2);
    polls = 0;
    fx->intr_pending = pending_from_third_poll;
    fx->intr_ack = ack;
    fx->ram[CODE + 0xfff] = 0xfb;   /* sti, the last byte of the page */
    memcpy(fx->ram + CODE + 0x1000, tail, sizeof(tail));
    RUN(0xe9, 0xfa, 0x0f, 0, 0);    /* jmp CODE+0xfff */
    ck_assert_uint_eq(reg(R_EBX), 0);
    ck_assert_uint_eq(reg(R_ECX), 1);
}
END_TEST

START_TEST(push_sreg_stores_the_selector_zero_extended)
{
    *(uint32_t *)(fx->ram + STACK - 4) = 0xffffffffu;
    *(uint32_t *)(fx->ram + STACK - 8) = 0xffffffffu;
    RUN(0x1e,                       /* push ds */
        0x06,                       /* push es */
        0x58, 0x5b,                 /* pop eax; pop ebx */
        0x66, 0x1e,                 /* push ds (16-bit) */
        0x66, 0x59,                 /* pop cx */
        0xf4);
    ck_assert_uint_eq(reg(R_EAX), 0x10);
    ck_assert_uint_eq(reg(R_EBX), 0x10);
    ck_assert_uint_eq(reg(R_ECX) & 0xffff, 0x10);
    ck_assert_uint_eq(reg(R_ESP), STACK);
}
END_TEST

START_TEST(segment_load_resumes_the_block)
{
    RUN(0x8c, 0xd8,                 /* mov eax, ds */
        0x8e, 0xc0,                 /* mov es, eax */
        0x41,                       /* inc ecx */
        0x1e, 0x07,                 /* push ds; pop es */
        0x41,                       /* inc ecx */
        0xf4);
    ck_assert_uint_eq(reg(R_ECX), 2);
    ck_assert_uint_eq(fx->cpu->seg[SEG_ES].sel, 0x10);
}
END_TEST

/* After the first (memo-filling) load, loads of the same selector run inline: a loop of
 * 100 MOV ES / PUSH DS; POP ES takes no callout after its first round. */
START_TEST(segment_loads_run_inline)
{
    uint64_t mov0, pop0;

    RUN(0xb8, 0x10, 0, 0, 0, 0x8e, 0xc0, 0x1e, 0x07, 0xf4); /* fill the memo */
    mov0 = stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_MOV];
    pop0 = stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_POP];
    RUN(0xb9, 100, 0, 0, 0,         /* mov ecx, 100 */
        0xb8, 0x10, 0, 0, 0,        /* mov eax, 0x10 */
        0x8e, 0xc0,                 /* l: mov es, eax */
        0x1e, 0x07,                 /* push ds; pop es */
        0x8e, 0xe0,                 /* mov fs, eax */
        0x6a, 0x00, 0x0f, 0xa1,     /* push 0; pop fs: null, inline too */
        0x49, 0x75, 0xf3,           /* dec ecx; jnz l */
        0xf4);
    ck_assert_uint_eq(reg(R_ECX), 0);
    ck_assert_uint_eq(fx->cpu->seg[SEG_ES].sel, 0x10);
    ck_assert_uint_eq(fx->cpu->seg[SEG_FS].sel, 0);
    ck_assert_uint_eq(stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_MOV], mov0);
    ck_assert_uint_eq(stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_POP], pop0);
}
END_TEST

/* A changed descriptor is seen: the memo's bytes no longer match, the load takes the slow
 * path and its checks (here: a not-present segment, #NP). */
START_TEST(segment_load_sees_a_changed_descriptor)
{
    RUN(0xb8, 0x10, 0, 0, 0, 0x8e, 0xc0, 0xf4);             /* fill the memo */
    /* base 0x1000 now: the load must pick it up (and the block must follow the new mode) */
    *(uint64_t *)(fx->ram + DATA + 0x10) = 0x00cf92001000ffffull;
    RUN(0xb8, 0x10, 0, 0, 0, 0x8e, 0xc0,                    /* mov es, eax */
        0x26, 0x8b, 0x1d, 0x00, 0x00, 0x30, 0x00,           /* mov ebx, es:[0x300000] */
        0xf4);
    ck_assert_uint_eq(fx->cpu->seg[SEG_ES].base, 0x1000);
    ck_assert_uint_eq(reg(R_EBX), *(uint32_t *)(fx->ram + 0x301000));
}
END_TEST

START_TEST(segment_load_from_memory)
{
    uint64_t mov0;

    *(uint32_t *)(fx->ram + DATA + 0xc10) = 0x10;
    RUN(0x8e, 0x05, 0x10, 0x0c, 0x20, 0x00, 0xf4);      /* mov es, [DATA+0xc10]: fills the memo */
    mov0 = stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_MOV];
    RUN(0xb8, 0, 0, 0, 0, 0x8e, 0xc0,                    /* mov es, 0 (null) */
        0x8e, 0x05, 0x10, 0x0c, 0x20, 0x00, 0xf4);       /* mov es, [DATA+0xc10] */
    ck_assert_uint_eq(fx->cpu->seg[SEG_ES].sel, 0x10);
    ck_assert_uint_eq(fx->cpu->seg[SEG_ES].limit, 0xffffffffu);
    ck_assert_uint_eq(stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_MOV], mov0);
}
END_TEST

/* VERW at CPL 0 runs inline once the callout has seen the selector: ZF from the memo,
 * every other flag kept. A descriptor changed in the GDT (now read-only data) is seen. */
START_TEST(verw_runs_inline_and_sees_a_changed_descriptor)
{
    uint64_t verw0;

    *(uint32_t *)(fx->ram + DATA + 0xc20) = 0x10;
    RUN(0x0f, 0x00, 0x2d, 0x20, 0x0c, 0x20, 0x00, 0xf4);   /* verw [DATA+0xc20]: the memo */
    verw0 = stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_VERW];
    fx->cpu->gpr[R_EBX] = 0;
    RUN(0xb9, 50, 0, 0, 0,                                  /* mov ecx, 50 */
        0x31, 0xd2,                                         /* l: xor edx, edx */
        0xf9,                                               /* stc */
        0x0f, 0x00, 0x2d, 0x20, 0x0c, 0x20, 0x00,           /* verw [DATA+0xc20] */
        0x0f, 0x94, 0xc2,                                   /* setz dl */
        0x0f, 0x92, 0xc6,                                   /* setc dh */
        0x01, 0xd3,                                         /* add ebx, edx */
        0x49, 0x75, 0xeb,                                   /* dec ecx; jnz l */
        0xf4);
    ck_assert_uint_eq(reg(R_EBX), 50 * 0x101);
    ck_assert_uint_eq(stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_VERW], verw0);

    *(uint64_t *)(fx->ram + DATA + 0x10) = 0x00cf90000000ffffull; /* read-only data */
    fx->cpu->gpr[R_EBX] = 0;
    RUN(0xb8, 0x10, 0, 0, 0,                                /* mov eax, 0x10 */
        0x0f, 0x00, 0xe8,                                   /* verw ax */
        0x0f, 0x94, 0xc3,                                   /* setz bl */
        0xf4);
    ck_assert_uint_eq(reg(R_EBX), 0);
    ck_assert_uint_gt(stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_VERW], verw0);
}
END_TEST

/* MOV r32, CRn at CPL 0 reads the vCPU inline: the values, no callout, flags kept. */
START_TEST(control_register_reads_run_inline)
{
    uint64_t mov0 = stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_MOV];

    fx->cpu->cr2 = 0x12345678;
    fx->cpu->cr3 = 0x0000a000;
    fx->cpu->cr4 = 0x00000010;
    RUN(0xf9,                       /* stc */
        0x0f, 0x20, 0xc0,           /* mov eax, cr0 */
        0x0f, 0x20, 0xd3,           /* mov ebx, cr2 */
        0x0f, 0x20, 0xd9,           /* mov ecx, cr3 */
        0x0f, 0x20, 0xe6,           /* mov esi, cr4 */
        0x0f, 0x92, 0xc2,           /* setc dl */
        0xf4);
    ck_assert_uint_eq(reg(R_EAX), fx->cpu->cr0);
    ck_assert_uint_eq(reg(R_EBX), 0x12345678);
    ck_assert_uint_eq(reg(R_ECX), 0x0000a000);
    ck_assert_uint_eq(reg(R_ESI), 0x00000010);
    ck_assert_uint_eq(reg(R_EDX) & 0xff, 1);
    ck_assert_uint_eq(stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_MOV], mov0);
}
END_TEST

/* Where the guest's TSC is the host's plus an offset, RDTSC runs inline: EDX:EAX is the
 * offset TSC (it moves forward, it follows WRMSR's offset), flags are kept, no exit. */
START_TEST(rdtsc_runs_inline_with_the_offset)
{
    uint64_t rdtsc0 = stats.cpu_rdtsc, a, b;

    vtime__set_tsc(fx, 1ull << 40);
    RUN(0xf9,                       /* stc */
        0x0f, 0x31,                 /* rdtsc */
        0x89, 0xc6,                 /* mov esi, eax */
        0x89, 0xd7,                 /* mov edi, edx */
        0x0f, 0x31,                 /* rdtsc */
        0x0f, 0x92, 0xc3,           /* setc bl */
        0xf4);
    a = (uint64_t)reg(R_EDI) << 32 | reg(R_ESI);
    b = (uint64_t)reg(R_EDX) << 32 | reg(R_EAX);
    ck_assert_uint_ge(a, 1ull << 40);
    ck_assert_uint_lt(a, (1ull << 40) + 100000000000ull); /* under a minute at 1.6 GHz */
    ck_assert_uint_gt(b, a);
    ck_assert_uint_le(b, vtime__tsc(fx));
    ck_assert_uint_eq(reg(R_EBX) & 0xff, 1);
    if (vtime__tsc_is_host())
        ck_assert_uint_eq(stats.cpu_rdtsc, rdtsc0); /* (the callout counts each) */
    else
        ck_assert_uint_eq(stats.cpu_rdtsc, rdtsc0 + 2);
}
END_TEST

/* Above CPL 0 with CR4.TSD set, the inline RDTSC leaves for the callout, which raises #GP:
 * with no handler (vector 13's gate is empty) that ends in a triple fault, at the RDTSC
 * and with EAX untouched. Without TSD it runs, and the fault is the HLT's. */
START_TEST(rdtsc_at_cpl3_honours_tsd)
{
    static const uint8_t code[] = {0xb8, 0x34, 0x12, 0, 0, /* mov eax, 0x1234 */
                                   0x0f, 0x31,             /* rdtsc */
                                   0xf4};                  /* hlt: #GP at CPL 3 */
    struct vcpu *c = fx->cpu;

    for (int tsd = 1; tsd >= 0; tsd--) {
        c->cr4 = tsd ? CR4_TSD : 0;
        c->seg[SEG_CS] = (struct segment){.base = 0, .limit = 0xffffffff, .sel = 0x1b,
                                          .flags = 0xcffb};
        c->seg[SEG_SS] = (struct segment){.base = 0, .limit = 0xffffffff, .sel = 0x23,
                                          .flags = 0xcff3};
        ck_assert_int_eq(run(code, sizeof(code)), RUN_RESET);
        if (tsd) {
            ck_assert_uint_eq(reg(R_EAX), 0x1234);
            ck_assert_uint_eq(c->eip, code_at - 0x1000 + 5);
        } else {
            ck_assert_uint_ne(reg(R_EAX), 0x1234);
            ck_assert_uint_eq(c->eip, code_at - 0x1000 + 7);
        }
    }
}
END_TEST

/* FS and GS are never keyed as flat: a block switching FS between a based segment and
 * null goes on, and every fs: access uses the base loaded just before it. */
START_TEST(fs_bases_change_inside_a_block)
{
    uint64_t lookups;

    *(uint64_t *)(fx->ram + DATA + 0x18) = 0x00cf92001000ffffull; /* 0x18: base 0x1000 */
    fx->cpu->gdtr.limit = 0x1f;
    *(uint32_t *)(fx->ram + 0x301000) = 0xabcd0001;
    *(uint32_t *)(fx->ram + 0x300000) = 0x12340000;
    RUN(0xb8, 0x18, 0, 0, 0, 0x8e, 0xe0, 0xf4);             /* fill the memo */
    lookups = stats.bt_lookups;
    RUN(0xb8, 0x18, 0, 0, 0,                                /* mov eax, 0x18 */
        0x31, 0xd2,                                         /* xor edx, edx */
        0x8e, 0xe2,                                         /* mov fs, edx (null) */
        0x8e, 0xe0,                                         /* mov fs, eax */
        0x64, 0x8b, 0x1d, 0x00, 0x00, 0x30, 0x00,           /* mov ebx, fs:[0x300000] */
        0x8e, 0xe2,                                         /* mov fs, edx (null) */
        0x8e, 0xd8,                                         /* mov ds, eax */
        0x8b, 0x0d, 0x00, 0x00, 0x30, 0x00,                 /* mov ecx, [0x300000]: DS based */
        0xf4);
    ck_assert_uint_eq(reg(R_EBX), 0xabcd0001);
    ck_assert_uint_eq(reg(R_ECX), 0xabcd0001);
    ck_assert_uint_eq(fx->cpu->seg[SEG_FS].sel, 0);
    /* Only the DS load (DS is keyed by flatness) leaves the block for a lookup. */
    ck_assert_uint_le(stats.bt_lookups - lookups, 2);
}
END_TEST

START_TEST(segment_register_reads)
{
    uint64_t mov0 = stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_MOV];

    RUN(0xb8, 0xff, 0xff, 0xff, 0xff, /* mov eax, -1 */
        0xbb, 0xff, 0xff, 0xff, 0xff, /* mov ebx, -1 */
        0x8c, 0xd8,                   /* mov eax, ds: zero-extended */
        0x66, 0x8c, 0xc3,             /* mov bx, es: the low word only */
        0x8c, 0xcc,                   /* mov esp, cs */
        0x8c, 0xd4,                   /* mov esp, ss */
        0xbc, 0x00, 0x00, 0x30, 0x00, /* mov esp, STACK */
        0xf4);
    ck_assert_uint_eq(reg(R_EAX), 0x10);
    ck_assert_uint_eq(reg(R_EBX), 0xffff0010u);
    ck_assert_uint_eq(stats.callouts_by_mnemonic[ZYDIS_MNEMONIC_MOV], mov0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bt/flags");
    TCase *tc = tcase_create("inline");

    tcase_add_checked_fixture(tc, setup, fixture_machine_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, popfd_loads_status_flags_and_df);
    tcase_add_test(tc, popfd_sets_if_when_nothing_waits);
    tcase_add_test(tc, popfd_raising_if_lets_a_waiting_interrupt_in);
    tcase_add_test(tc, sti_shadow_lets_one_instruction_run);
    tcase_add_test(tc, sti_then_hlt_wakes_on_a_waiting_interrupt);
    tcase_add_test(tc, inline_sti_shadow_across_an_exit);
    tcase_add_test(tc, push_sreg_stores_the_selector_zero_extended);
    tcase_add_test(tc, segment_load_resumes_the_block);
    tcase_add_test(tc, segment_loads_run_inline);
    tcase_add_test(tc, segment_register_reads);
    tcase_add_test(tc, fs_bases_change_inside_a_block);
    tcase_add_test(tc, segment_load_from_memory);
    tcase_add_test(tc, segment_load_sees_a_changed_descriptor);
    tcase_add_test(tc, verw_runs_inline_and_sees_a_changed_descriptor);
    tcase_add_test(tc, control_register_reads_run_inline);
    tcase_add_test(tc, rdtsc_runs_inline_with_the_offset);
    tcase_add_test(tc, rdtsc_at_cpl3_honours_tsd);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(suite());
}
