/*
 * bt/run: translated code runs in a fresh machine and leaves the guest state
 * the hardware would. Each test writes a snippet at 1 MiB, points a flat
 * 32-bit vCPU at it and runs until the snippet's HLT (IF=0 => RUN_HALTED).
 */
#include <check.h>
#include <string.h>

#include "bt/bt.h"
#include "bt/internal.h"
#include "fixture.h"
#include "monitor/stats.h"

#define CODE 0x100000u
#define DATA 0x200000u
#define STACK 0x300000u

static int run_code(const void *code, size_t len)
{
    struct vcpu *c = fx->cpu;

    memcpy(fx->ram + CODE, code, len);
    c->eip = CODE;
    c->gpr[R_ESP] = STACK;
    return machine__run(fx);
}

#define RUN(...)                                                                                   \
    do {                                                                                           \
        static const uint8_t code_[] = {__VA_ARGS__};                                              \
        ck_assert_int_eq(run_code(code_, sizeof(code_)), RUN_HALTED);                              \
    } while (0)

static uint32_t reg(int r)
{
    return (uint32_t)fx->cpu->gpr[r];
}

START_TEST(straight_line)
{
    RUN(0xb8, 1, 0, 0, 0,       /* mov eax, 1 */
        0x83, 0xc0, 0x02,       /* add eax, 2 */
        0x89, 0xc3,             /* mov ebx, eax */
        0xf4);                  /* hlt */
    ck_assert_uint_eq(reg(R_EAX), 3);
    ck_assert_uint_eq(reg(R_EBX), 3);
    ck_assert_uint_eq(fx->cpu->eip, CODE + 11);
}
END_TEST

START_TEST(endbr_is_a_nop)
{
    /* Binaries built with -fcf-protection start functions with ENDBR32 (F3 0F 1E FB), a
     * reserved-NOP on a CPU without CET: it must run, not raise #UD. */
    RUN(0xf3, 0x0f, 0x1e, 0xfb,   /* endbr32 */
        0xb8, 9, 0, 0, 0,         /* mov eax, 9 */
        0xf4);
    ck_assert_uint_eq(reg(R_EAX), 9);
}
END_TEST

START_TEST(loop_with_chaining)
{
    RUN(0x31, 0xc0,             /* xor eax, eax */
        0xb9, 100, 0, 0, 0,     /* mov ecx, 100 */
        0x01, 0xc8,             /* l: add eax, ecx */
        0x49,                   /* dec ecx (0x49: re-encoded in 64-bit mode) */
        0x75, 0xfb,             /* jnz l */
        0xf4);
    ck_assert_uint_eq(reg(R_EAX), 5050);
    ck_assert_uint_eq(reg(R_ECX), 0);
    ck_assert_uint_gt(stats.bt_chain_links, 0);
}
END_TEST

START_TEST(budget_exits_keep_state)
{
    uint64_t before = stats.bt_budget_exits;

    RUN(0xb9, 0x00, 0x00, 0x80, 0x00, /* mov ecx, 0x800000 */
        0x31, 0xd2,                   /* xor edx, edx */
        0x42,                         /* l: inc edx */
        0xe2, 0xfd,                   /* loop l */
        0xf4);
    ck_assert_uint_eq(reg(R_EDX), 0x800000);
    ck_assert_uint_eq(reg(R_ECX), 0);
    ck_assert_uint_gt(stats.bt_budget_exits, before);
}
END_TEST

START_TEST(budget_check_keeps_a_live_carry)
{
    /* In a loop of INC and DEC only CF is live at the budget check (both leave CF alone),
     * which keeps it with SETC/ADD rather than PUSHF/POPF: CF set before the loop must
     * come out set, and clear must come out clear, across the budget exits. */
    for (int carry = 1; carry >= 0; carry--) {
        uint64_t before = stats.bt_budget_exits;
        uint8_t code[] = {(uint8_t)(carry ? 0xf9 : 0xf8), /* stc / clc */
                          0xb9, 0x00, 0x00, 0x80, 0x00,   /* mov ecx, 0x800000 */
                          0x31, 0xd2,                     /* xor edx, edx: CF = 0 */
                          (uint8_t)(carry ? 0xf9 : 0xf8), /* stc / clc again */
                          0x42,                           /* l: inc edx */
                          0x49,                           /* dec ecx */
                          0x75, 0xfc,                     /* jnz l */
                          0x0f, 0x92, 0xc3,               /* setc bl */
                          0xf4};
        const uint32_t at = CODE + 0x1000 * (uint32_t)carry; /* (fresh code, no stale blocks) */
        memcpy(fx->ram + at, code, sizeof(code));
        fx->cpu->eip = at;
        fx->cpu->gpr[R_ESP] = STACK;
        fx->cpu->gpr[R_EBX] = 0x55;
        fx->cpu->gpr[R_EDX] = 0;
        fx->cpu->halted = false;
        ck_assert_int_eq(machine__run(fx), RUN_HALTED);
        ck_assert_uint_eq(reg(R_EDX), 0x800000);
        ck_assert_uint_eq(reg(R_EBX) & 0xff, (unsigned)carry);
        ck_assert_uint_gt(stats.bt_budget_exits, before);
    }
}
END_TEST

START_TEST(call_ret_push_pop)
{
    RUN(0x6a, 0x05,             /* push 5 */
        0xe8, 0x03, 0, 0, 0,    /* call f */
        0x58,                   /* pop eax  (the 5) */
        0xf4,                   /* hlt */
        0x90,
        /* f: */
        0x8b, 0x5c, 0x24, 0x04, /* mov ebx, [esp+4] */
        0x53,                   /* push ebx */
        0x5a,                   /* pop edx */
        0xc3);                  /* ret */
    ck_assert_uint_eq(reg(R_EAX), 5);
    ck_assert_uint_eq(reg(R_EBX), 5);
    ck_assert_uint_eq(reg(R_EDX), 5);
    ck_assert_uint_eq(reg(R_ESP), STACK);
}
END_TEST

START_TEST(indirect_branches_keep_flags)
{
    /* cmp sets ZF; an indirect jmp through memory must not disturb it. */
    uint32_t table = CODE + 0x40;

    static const uint8_t target[] = {0x0f, 0x94, 0xc1, /* setz cl */
                                     0xf4};
    memcpy(fx->ram + DATA, &table, 4);
    memcpy(fx->ram + table, target, sizeof(target));
    RUN(0xb8, 7, 0, 0, 0,                     /* mov eax, 7 */
        0x31, 0xc9,                           /* xor ecx, ecx */
        0x83, 0xf8, 0x07,                     /* cmp eax, 7 */
        0xff, 0x25, 0x00, 0x00, 0x20, 0x00,   /* jmp [DATA] */
        0xf4);
    ck_assert_uint_eq(reg(R_ECX), 1);
    ck_assert_uint_eq(fx->cpu->eip, table + 4);
}
END_TEST

/* Put "inc eax; ret" at each of the n targets and run `rounds` times a loop that calls
 * them all through EBX; EAX counts the calls. */
static void call_targets(const uint32_t *t, int n, uint32_t rounds)
{
    static const uint8_t ret1[] = {0x40, 0xc3}; /* inc eax; ret */
    uint8_t code[64];
    size_t len = 0, loop;

    for (int i = 0; i < n; i++)
        memcpy(fx->ram + t[i], ret1, sizeof(ret1));
    code[len++] = 0x31, code[len++] = 0xc0;                /* xor eax, eax */
    code[len++] = 0xb9;                                    /* mov ecx, rounds */
    memcpy(code + len, &rounds, 4), len += 4;
    loop = len;
    for (int i = 0; i < n; i++) {
        code[len++] = 0xbb;                                /* mov ebx, t[i] */
        memcpy(code + len, &t[i], 4), len += 4;
        code[len++] = 0xff, code[len++] = 0xd3;            /* call ebx */
    }
    code[len++] = 0x49;                                    /* dec ecx */
    code[len++] = 0x75;                                    /* jnz loop */
    code[len] = (uint8_t)(loop - (len + 1)), len++;
    code[len++] = 0xf4;
    ck_assert_int_eq(run_code(code, len), RUN_HALTED);
    ck_assert_uint_eq(reg(R_EAX), (uint32_t)n * rounds);
}

/* Indirect calls to targets whose low 16 bits are equal (64 KiB and 8 MiB apart, as hot
 * kernel functions often are) or that share a set (t0 and t1: lookup_set() is 0xc4 for
 * both) and their returns all find the inline lookup table: after the first round, no
 * exits. (A table indexed by the low bits alone, or with one way, exited on every call.) */
START_TEST(lookup_targets_64k_apart_both_stay)
{
    const uint32_t t[3] = {0x140010, 0x150007, 0x940010};
    uint64_t lookups = stats.bt_lookups;

    call_targets(t, 3, 100);
    /* 3 calls and 3 returns: each target misses once (600 lookups in all) */
    ck_assert_uint_le(stats.bt_lookups, lookups + 30);
}
END_TEST

START_TEST(a_cleared_lookup_table_keeps_no_entry)
{
    /* Clearing a table walks the targets it recorded instead of sweeping all 2 MiB: every
     * entry fill() made must be among them, or a jump would land in a flushed TC. (t2's
     * block runs onto the next page.) */
    const uint32_t t[3] = {0x140010, 0x1230010, 0x1240fff};
    struct bt *bt;
    size_t live = 0;

    call_targets(t, 3, 10);
    bt = fx->bt;
    for (int i = 0; i < LOOKUP_TABLES; i++)
        for (size_t k = 0; bt->tables[i].mode != ~0u && k < (2u << LOOKUP_BITS); k++)
            live += bt->tables[i].tab[k].host != (uint64_t)bt->lookup_miss;
    ck_assert_uint_ge(live, 4); /* the three targets and the returns */
    bt__flush(fx);
    for (int i = 0; i < LOOKUP_TABLES; i++)
        for (size_t k = 0; bt->tables[i].mode != ~0u && k < (2u << LOOKUP_BITS); k++) {
            ck_assert_uint_eq(bt->tables[i].tab[k].host, (uint64_t)bt->lookup_miss);
            ck_assert_uint_eq(bt->tables[i].tab[k].neg_eip, 1);
        }
}
END_TEST

START_TEST(lookup_finds_targets_above_16_mib)
{
    /* The set index takes bits 16-31 of the target (BSWAP in the inline lookup, the same
     * sum in lookup_set()): targets whose top byte is not zero must hit there too, not
     * leave the TC at every call and return. */
    const uint32_t t[2] = {0x1230010, 0x1ff0020};
    uint64_t lookups = stats.bt_lookups;

    call_targets(t, 2, 100);
    ck_assert_uint_le(stats.bt_lookups, lookups + 20); /* of 400 */
}
END_TEST

START_TEST(stack_esp_forms)
{
    RUN(0x68, 0x11, 0x11, 0x11, 0x11,  /* push 0x11111111 */
        0x68, 0x22, 0x22, 0x22, 0x22,  /* push 0x22222222 */
        0x8f, 0x04, 0x24,              /* pop dword [esp]  -> [esp] = 0x22222222 after ESP+4 */
        0x8b, 0x04, 0x24,              /* mov eax, [esp] */
        0x54,                          /* push esp */
        0x5b,                          /* pop ebx (old esp) */
        0xf4);
    ck_assert_uint_eq(reg(R_EAX), 0x22222222);
    ck_assert_uint_eq(reg(R_EBX), STACK - 4);
    ck_assert_uint_eq(reg(R_ESP), STACK - 4);
}
END_TEST

START_TEST(self_modifying_code)
{
    /* Run a block, patch its immediate, run it again: the new value must show. */
    RUN(0x31, 0xdb,                         /* xor ebx, ebx */
        0xe8, 0x0f, 0, 0, 0,                /* l: call f */
        0x01, 0xc3,                         /* add ebx, eax */
        0xc6, 0x05, 0x17, 0x00, 0x10, 0x00, 0x09, /* mov byte [f+1], 9 */
        0x83, 0xfb, 0x05,                   /* cmp ebx, 5 */
        0x72, 0xed,                         /* jb l */
        0xf4,
        /* f = CODE + 0x16 */
        0xb8, 0x04, 0, 0, 0,                /* mov eax, 4 */
        0xc3);
    /* First pass adds 4, second adds 9. */
    ck_assert_uint_eq(reg(R_EBX), 13);
}
END_TEST

START_TEST(straddling_the_top_of_memory)
{
    uint32_t v;

    fx->ram[0] = 0x34;
    fx->ram[1] = 0x12;
    RUN(0xa1, 0xfe, 0xff, 0xff, 0xff, /* mov eax, [0xfffffffe] */
        0xf4);
    v = (uint32_t)fx->rom[fx->rom_size - 2] | (uint32_t)fx->rom[fx->rom_size - 1] << 8 |
        0x12340000u;
    ck_assert_uint_eq(reg(R_EAX), v);
}
END_TEST

START_TEST(unassigned_memory_reads_ones)
{
    RUN(0xa1, 0x00, 0x00, 0x00, 0xd0, /* mov eax, [0xd0000000] */
        0xf4);
    ck_assert_uint_eq(reg(R_EAX), 0xffffffffu);
}
END_TEST

START_TEST(addr16_and_high_byte)
{
    fx->ram[0x1234 + 0x10] = 0x5a;
    RUN(0xbb, 0x34, 0x12, 0, 0,       /* mov ebx, 0x1234 */
        0xbe, 0x10, 0, 0, 0,          /* mov esi, 0x10 */
        0x67, 0x8a, 0x20,             /* mov ah, [bx+si] */
        0xf4);
    ck_assert_uint_eq((reg(R_EAX) >> 8) & 0xff, 0x5a);
    ck_assert_uint_eq(reg(R_ESI), 0x10);
}
END_TEST

START_TEST(inline_string_ops)
{
    for (int i = 0; i < 64; i++)
        fx->ram[DATA + i] = (uint8_t)i;
    RUN(0xbe, 0x00, 0x00, 0x20, 0x00,       /* mov esi, DATA */
        0xbf, 0x00, 0x10, 0x20, 0x00,       /* mov edi, DATA+0x1000 */
        0xb9, 0x10, 0, 0, 0,                /* mov ecx, 16 */
        0xf3, 0xa5,                         /* rep movsd */
        0xb0, 0x77,                         /* mov al, 0x77 */
        0xb9, 0x03, 0, 0, 0,                /* mov ecx, 3 */
        0xf3, 0xaa,                         /* rep stosb */
        0xbe, 0x00, 0x00, 0x20, 0x00,       /* mov esi, DATA */
        0xbf, 0x00, 0x10, 0x20, 0x00,       /* mov edi, DATA+0x1000 */
        0xb9, 0x40, 0, 0, 0,                /* mov ecx, 64 */
        0xf3, 0xa6,                         /* repe cmpsb: stops past the first difference */
        0xf4);
    ck_assert_mem_eq(fx->ram + DATA + 0x1000, fx->ram + DATA, 64);
    ck_assert_uint_eq(fx->ram[DATA + 0x1040], 0x77);
    ck_assert_uint_eq(fx->ram[DATA + 0x1042], 0x77);
    ck_assert_uint_eq(reg(R_ECX), 0);            /* all 64 compared equal */
    ck_assert_uint_eq(reg(R_EDI), DATA + 0x1040);
}
END_TEST

START_TEST(string_ops_cannot_leave_the_window)
{
    /* Break-out attempt: REP STOSD from just below 4 GiB with a count that, done by the host
     * in one go, would run 96 KiB past the window's end (its guard is 64 KiB). The guest
     * wraps to 0 instead; the inline path must hand this to the interpreter. */
    RUN(0xbf, 0x00, 0x80, 0xff, 0xff,       /* mov edi, 0xffff8000 */
        0xb9, 0x00, 0x80, 0x00, 0x00,       /* mov ecx, 0x8000 dwords */
        0xb8, 0x44, 0x33, 0x22, 0x11,       /* mov eax, 0x11223344 */
        0xf3, 0xab,                         /* rep stosd */
        0xf4);
    ck_assert_uint_eq(reg(R_ECX), 0);
    ck_assert_uint_eq(reg(R_EDI), 0x18000);
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + 0), 0x11223344);
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + 0x17ffc), 0x11223344);
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + 0x18000), 0);
}
END_TEST

START_TEST(string_source_cannot_leave_the_window)
{
    /* Break-out attempt through the source, which the host addresses as the window base
     * plus ESI: REP MOVSD from just below 4 GiB for 96 KiB. The guest's source wraps to 0;
     * the inline path must hand this to the interpreter rather than read past the guard. */
    *(uint32_t *)(fx->ram + 0xfffc) = 0xcafef00d;
    RUN(0xbe, 0x00, 0x80, 0xff, 0xff,       /* mov esi, 0xffff8000 */
        0xbf, 0x00, 0x00, 0x40, 0x00,       /* mov edi, 0x400000 */
        0xb9, 0x00, 0x60, 0x00, 0x00,       /* mov ecx, 0x6000 dwords */
        0xf3, 0xa5,                         /* rep movsd */
        0xf4);
    ck_assert_uint_eq(reg(R_ECX), 0);
    ck_assert_uint_eq(reg(R_ESI), 0x10000);
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + 0x400000 + 0x8000 + 0xfffc), 0xcafef00d);
}
END_TEST

START_TEST(string_source_fault_midway_resumes_in_c)
{
    /* REP MOVSD whose source runs off the end of RAM into unassigned space: the host copies
     * the first dwords, faults on the third, and the interpreter finishes from there, so
     * the handler must have taken the window base back off RSI as well as RDI. */
    const uint32_t end = (uint32_t)fx->ram_size;

    *(uint32_t *)(fx->ram + end - 8) = 0x11111111;
    *(uint32_t *)(fx->ram + end - 4) = 0x22222222;
    memcpy(fx->ram + CODE + 0x100, &end, 4);
    RUN(0x8b, 0x35, 0x00, 0x01, 0x10, 0x00, /* mov esi, [CODE+0x100] */
        0x83, 0xee, 0x08,                   /* sub esi, 8 */
        0xbf, 0x00, 0x00, 0x20, 0x00,       /* mov edi, DATA */
        0xb9, 0x04, 0, 0, 0,                /* mov ecx, 4 */
        0xf3, 0xa5,                         /* rep movsd */
        0xf4);
    ck_assert_uint_eq(reg(R_ECX), 0);
    ck_assert_uint_eq(reg(R_ESI), end + 8);
    ck_assert_uint_eq(reg(R_EDI), DATA + 16);
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + DATA), 0x11111111);
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + DATA + 4), 0x22222222);
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + DATA + 8), 0xffffffffu);
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + DATA + 12), 0xffffffffu);
}
END_TEST

START_TEST(string_ops_downward_keep_the_flags)
{
    /* The inline bounds check reads DF and touches no flag: a downward REP MOVSD runs
     * inline (no callout), copies from the top down, and leaves CF, ZF and PF as they were. */
    uint64_t callouts = stats.exits_by_cause[EXIT_CALLOUT];

    for (int i = 0; i < 16; i++)
        fx->ram[DATA + i] = (uint8_t)(0xa0 + i);
    RUN(0x31, 0xc0,                         /* xor eax, eax: ZF, PF */
        0xf9,                               /* stc */
        0xfd,                               /* std */
        0xbe, 0x0c, 0x00, 0x20, 0x00,       /* mov esi, DATA+12 */
        0xbf, 0x0c, 0x10, 0x20, 0x00,       /* mov edi, DATA+0x100c */
        0xb9, 0x04, 0, 0, 0,                /* mov ecx, 4 */
        0xf3, 0xa5,                         /* rep movsd */
        0xfc,                               /* cld */
        0x9c,                               /* pushfd */
        0x5a,                               /* pop edx */
        0xf4);
    ck_assert_mem_eq(fx->ram + DATA + 0x1000, fx->ram + DATA, 16);
    ck_assert_uint_eq(reg(R_ESI), DATA - 4);
    ck_assert_uint_eq(reg(R_EDI), DATA + 0x1000 - 4);
    ck_assert_uint_eq(reg(R_EDX) & 0x45, 0x45); /* CF, PF, ZF */
    ck_assert_uint_eq(stats.exits_by_cause[EXIT_CALLOUT], callouts + 1); /* the HLT only */
}
END_TEST

START_TEST(string_ops_downward_across_zero)
{
    /* The inline check must see the wrap below 0 and hand it to the interpreter before
     * the host touches anything: no host fault (one below the window would be a breach
     * that only the guard region stops). */
    uint64_t faults = stats.cpu_host_faults;

    RUN(0xbf, 0x10, 0, 0, 0,                /* mov edi, 0x10 */
        0xb9, 0x08, 0, 0, 0,                /* mov ecx, 8 */
        0xb8, 0x78, 0x56, 0x34, 0x12,       /* mov eax, 0x12345678 */
        0xfd,                               /* std */
        0xf3, 0xab,                         /* rep stosd: 0x10, 0xc, ..., 0, then wraps */
        0xfc,                               /* cld */
        0xf4);
    ck_assert_uint_eq(reg(R_EDI), 0xfffffff0u);
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + 0), 0x12345678);
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + 0x10), 0x12345678);
    ck_assert_uint_eq(stats.cpu_host_faults, faults);
}
END_TEST

/* One interrupt, raised at the third look for one: after two exits from translated code. */
static int intr_polls;
static bool intr_acked;
static bool fake_pending(struct machine *m)
{
    (void)m;
    return ++intr_polls >= 3 && !intr_acked;
}
static int fake_ack(struct machine *m)
{
    (void)m;
    intr_acked = true;
    return 0x20;
}

START_TEST(interrupt_between_miss_and_link)
{
    /* Regression: an interrupt taken between a direct branch's translation miss and its
     * linking once linked the branch to the handler's entry instead of its target. */
    static const uint64_t gdt[3] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    uint32_t handler = CODE + 0x100, idt = DATA + 0x800;
    uint64_t gate = (handler & 0xffff) | 0x08ull << 16 | 0x8eull << 40 |
                    (uint64_t)(handler >> 16) << 48;
    static const uint8_t isr[] = {0xff, 0x05, 0x00, 0x0c, 0x20, 0x00, /* inc dword [DATA+0xc00] */
                                  0xcf};                              /* iretd */
    struct vcpu *c = fx->cpu;

    memcpy(fx->ram + DATA, gdt, sizeof(gdt));
    memcpy(fx->ram + idt + 0x20 * 8, &gate, 8);
    memcpy(fx->ram + handler, isr, sizeof(isr));
    c->gdtr.base = DATA;
    c->gdtr.limit = sizeof(gdt) - 1;
    c->idtr.base = idt;
    c->idtr.limit = 0x21 * 8 - 1;
    vcpu_set_eflags(c, 0x202);
    intr_polls = 0;
    intr_acked = false;
    fx->intr_pending = fake_pending;
    fx->intr_ack = fake_ack;
    RUN(0xb9, 10, 0, 0, 0,  /* mov ecx, 10 */
        0xeb, 0x00,         /* jmp l     (first exit) */
        0xeb, 0x00,         /* l: jmp t  (second exit: the interrupt comes before it is linked) */
        0x49,               /* t: dec ecx */
        0x75, 0xfb,         /* jnz l */
        0xfa,               /* cli */
        0xf4);              /* hlt */
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + DATA + 0xc00), 1);
    ck_assert_uint_eq(reg(R_ECX), 0);
}
END_TEST

START_TEST(page_written_while_executed_self_checks)
{
    /* A loop that patches a function in its own page on every iteration: after enough
     * invalidations the page stays writable and its blocks check their bytes on entry.
     * Every call must still return the value just written. */
    uint64_t pages = stats.mmu_selfcheck_pages, stale = stats.bt_selfcheck_stale;

    RUN(0xb9, 100, 0, 0, 0,                 /* mov ecx, 100 */
        0x31, 0xdb,                         /* xor ebx, ebx */
        0x89, 0x0d, 0x19, 0x00, 0x10, 0x00, /* l: mov [fn+1], ecx */
        0xe8, 0x06, 0, 0, 0,                /* call fn */
        0x01, 0xc3,                         /* add ebx, eax */
        0x49,                               /* dec ecx */
        0x75, 0xf0,                         /* jnz l */
        0xf4,                               /* hlt */
        0xb8, 0, 0, 0, 0,                   /* fn: mov eax, imm */
        0xc3);                              /* ret */
    ck_assert_uint_eq(reg(R_EBX), 5050);
    ck_assert_uint_gt(stats.mmu_selfcheck_pages, pages);
    ck_assert_uint_gt(stats.bt_selfcheck_stale, stale);
}
END_TEST

START_TEST(stale_reverse_map_does_not_expose_zeros)
{
    /* Regression: a page unmapped from the shadow (its PTE cleared) kept its reverse-map
     * entry; when the physical page later became protected (here: code is run from it
     * through another alias), the stale entry's mprotect turned the unmapped linear page
     * into readable zeros, and the guest read 0 instead of taking #PF. */
    const uint32_t pd = 0x10000, pt = 0x11000, lin = 0x300000, alias = 0x380000;
    struct vcpu *c = fx->cpu;

    for (uint32_t i = 0; i < 1024; i++)
        *(uint32_t *)(fx->ram + pt + 4 * i) = i << 12 | 3;
    *(uint32_t *)(fx->ram + pt + 4 * (alias >> 12)) = lin | 3;
    *(uint32_t *)(fx->ram + pd) = pt | 3;
    fx->ram[lin] = 0xc3;                     /* ret, run through the alias */
    c->cr3 = pd;
    c->cr0 |= CR0_PG;
    c->idtr.limit = 0;                       /* a #PF escalates to a triple fault */
    static const uint8_t code[] = {
        0xa1, 0x00, 0x00, 0x30, 0x00,                         /* mov eax, [lin]: mapped */
        0xc7, 0x05, 0x00, 0x1c, 0x01, 0x00, 0, 0, 0, 0,       /* mov [pt + 0xc00], 0 */
        0x0f, 0x01, 0x3d, 0x00, 0x00, 0x30, 0x00,             /* invlpg [lin] */
        0xe8, 0xe5, 0xff, 0x27, 0x00,                         /* call alias (rel to 0x10001b) */
        0xa1, 0x00, 0x00, 0x30, 0x00,                         /* mov eax, [lin]: #PF */
        0xf4};
    ck_assert_int_eq(run_code(code, sizeof(code)), RUN_RESET);
    ck_assert_uint_eq(c->cr2, lin);
}
END_TEST

START_TEST(a20_gate_wraps_the_hma)
{
    /* With A20 closed (the 8042's output port and port 0x92 bit 1 both low), 1 MiB + x
     * reads and writes x, for translated code as for the hardware. */
    static const uint8_t code[] = {
        0xb0, 0xd1, 0xe6, 0x64,             /* 8042: write output port */
        0xb0, 0xdd, 0xe6, 0x60,             /* ... with its A20 line low */
        0xb0, 0x00, 0xe6, 0x92,             /* mov al, 0; out 0x92, al: close A20 */
        0x8b, 0x1d, 0x00, 0x05, 0x10, 0x00, /* mov ebx, [0x100500] */
        0xc7, 0x05, 0x04, 0x05, 0x10, 0x00, 0x78, 0x56, 0x34, 0x12, /* mov [0x100504], .. */
        0xb0, 0x02, 0xe6, 0x92,             /* mov al, 2; out 0x92, al: open A20 */
        0x8b, 0x0d, 0x00, 0x05, 0x10, 0x00, /* mov ecx, [0x100500] */
        0xf4};
    const uint32_t at = 0x280000;

    *(uint32_t *)(fx->ram + 0x500) = 0xaa55aa55;
    *(uint32_t *)(fx->ram + 0x100500) = 0x11111111;
    memcpy(fx->ram + at, code, sizeof(code));
    fx->cpu->eip = at;
    fx->cpu->gpr[R_ESP] = STACK;
    ck_assert_int_eq(machine__run(fx), RUN_HALTED);
    ck_assert_uint_eq(reg(R_EBX), 0xaa55aa55);            /* wrapped */
    ck_assert_uint_eq(*(uint32_t *)(fx->ram + 0x504), 0x12345678); /* the write wrapped too */
    ck_assert_uint_eq(reg(R_ECX), 0x11111111);            /* A20 open again: the real 1 MiB */
}
END_TEST

START_TEST(fpu_state_survives_exits)
{
    /* Only XMM0-7 and MXCSR are saved at an exit; the x87 registers stay in the host FPU
     * while the monitor runs (bt/stubs.c). Set all of it, leave the TC several ways (CPUID
     * and OUT are callouts, the loop runs out of budget), and FXSAVE what the guest sees. */
    static const uint8_t code[] = {
        0xdb, 0xe3,                                     /* fninit */
        0xd9, 0xe8,                                     /* fld1 */
        0xd9, 0xeb,                                     /* fldpi */
        0xd9, 0x2d, 0x00, 0x00, 0x20, 0x00,             /* fldcw [DATA] */
        0x0f, 0x10, 0x05, 0x00, 0x01, 0x20, 0x00,       /* movups xmm0, [DATA+0x100] */
        0x0f, 0x10, 0x0d, 0x10, 0x01, 0x20, 0x00,       /* movups xmm1, [DATA+0x110] */
        0x0f, 0x10, 0x15, 0x20, 0x01, 0x20, 0x00,       /* ... */
        0x0f, 0x10, 0x1d, 0x30, 0x01, 0x20, 0x00,
        0x0f, 0x10, 0x25, 0x40, 0x01, 0x20, 0x00,
        0x0f, 0x10, 0x2d, 0x50, 0x01, 0x20, 0x00,
        0x0f, 0x10, 0x35, 0x60, 0x01, 0x20, 0x00,
        0x0f, 0x10, 0x3d, 0x70, 0x01, 0x20, 0x00,       /* movups xmm7, [DATA+0x170] */
        0x0f, 0xae, 0x15, 0x04, 0x00, 0x20, 0x00,       /* ldmxcsr [DATA+4] */
        0x0f, 0xa2,                                     /* cpuid */
        0xe6, 0x80,                                     /* out 0x80, al */
        0xb9, 0x00, 0x00, 0x40, 0x00,                   /* mov ecx, 0x400000 */
        0xe2, 0xfe,                                     /* loop $ (budget exits) */
        0x0f, 0xa2,                                     /* cpuid */
        0x0f, 0xae, 0x05, 0x00, 0x04, 0x20, 0x00,       /* fxsave [DATA+0x400] */
        0xf4};
    static const uint8_t pi80[10] = {0x35, 0xc2, 0x68, 0x21, 0xa2, 0xda, 0x0f, 0xc9, 0x00, 0x40};
    static const uint8_t one80[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
    const uint8_t *saved = fx->ram + DATA + 0x400;
    uint8_t image[512];
    uint32_t host_mxcsr;

    *(uint32_t *)(fx->ram + DATA) = 0x027f;     /* FCW: 53-bit precision */
    *(uint32_t *)(fx->ram + DATA + 4) = 0x2f80; /* MXCSR: round down, precision unmasked */
    for (int i = 0; i < 128; i++)
        fx->ram[DATA + 0x100 + i] = (uint8_t)(i * 7 + 3);
    memcpy(fx->ram + CODE, code, sizeof(code));
    fx->cpu->eip = CODE;
    fx->cpu->gpr[R_ESP] = STACK;
    fx->cpu->cr4 |= CR4_OSFXSR;
    ck_assert_int_eq(machine__run(fx), RUN_HALTED);
    ck_assert_uint_gt(stats.bt_budget_exits, 0);

    ck_assert_uint_eq(saved[0] | saved[1] << 8, 0x027f);                /* FCW */
    ck_assert_uint_eq((saved[2] | saved[3] << 8) >> 11 & 7, 6);         /* TOP: two pushed */
    ck_assert_uint_eq(saved[4], 0xc0);                                  /* ST0, ST1 in use */
    ck_assert_mem_eq(saved + 32, pi80, 10);
    ck_assert_mem_eq(saved + 48, one80, 10);
    ck_assert_uint_eq(*(const uint32_t *)(saved + 24), 0x2f80);
    ck_assert_mem_eq(saved + 160, fx->ram + DATA + 0x100, 128);

    /* The monitor itself runs with the default MXCSR, and sees the same state as the guest. */
    __asm__ volatile("stmxcsr %0" : "=m"(host_mxcsr));
    ck_assert_uint_eq(host_mxcsr, 0x1f80);
    vcpu_fpu_image(fx->cpu, image);
    ck_assert_mem_eq(image, saved, 24);
    ck_assert_mem_eq(image + 24, saved + 24, 4);
    for (int i = 0; i < 8; i++) /* (bytes 10-15 of each register's slot are reserved) */
        ck_assert_mem_eq(image + 32 + 16 * i, saved + 32 + 16 * i, 10);
    ck_assert_mem_eq(image + 160, saved + 160, 128);
}
END_TEST

START_TEST(debug_register_write_flushes_mid_block)
{
    /* MOV DR7 is a callout that flushes the TC (translations carry the breakpoint checks),
     * freeing the record of the very instruction being run: the run loop must not touch it
     * after it (the sanitizer build would see a read of freed memory). */
    uint64_t flushes = stats.bt_tc_flushes;

    RUN(0xb8, 0x00, 0x04, 0, 0,   /* mov eax, 0x400 */
        0x0f, 0x23, 0xf8,         /* mov dr7, eax */
        0xbb, 5, 0, 0, 0,         /* mov ebx, 5 */
        0x0f, 0x23, 0xf8,         /* mov dr7, eax */
        0xf4);
    ck_assert_uint_eq(reg(R_EBX), 5);
    ck_assert_uint_ge(stats.bt_tc_flushes, flushes + 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bt/run");
    TCase *tc = tcase_create("snippets");

    tcase_add_checked_fixture(tc, fixture_machine_setup, fixture_machine_teardown);
    tcase_set_timeout(tc, 120); /* the pre-VT check runs this under a CPU emulator */
    tcase_add_test(tc, straight_line);
    tcase_add_test(tc, loop_with_chaining);
    tcase_add_test(tc, endbr_is_a_nop);
    tcase_add_test(tc, a20_gate_wraps_the_hma);
    tcase_add_test(tc, fpu_state_survives_exits);
    tcase_add_test(tc, debug_register_write_flushes_mid_block);
    tcase_add_test(tc, budget_exits_keep_state);
    tcase_add_test(tc, budget_check_keeps_a_live_carry);
    tcase_add_test(tc, call_ret_push_pop);
    tcase_add_test(tc, indirect_branches_keep_flags);
    tcase_add_test(tc, lookup_targets_64k_apart_both_stay);
    tcase_add_test(tc, lookup_finds_targets_above_16_mib);
    tcase_add_test(tc, a_cleared_lookup_table_keeps_no_entry);
    tcase_add_test(tc, stack_esp_forms);
    tcase_add_test(tc, self_modifying_code);
    tcase_add_test(tc, straddling_the_top_of_memory);
    tcase_add_test(tc, unassigned_memory_reads_ones);
    tcase_add_test(tc, addr16_and_high_byte);
    tcase_add_test(tc, inline_string_ops);
    tcase_add_test(tc, interrupt_between_miss_and_link);
    tcase_add_test(tc, stale_reverse_map_does_not_expose_zeros);
    tcase_add_test(tc, page_written_while_executed_self_checks);
    tcase_add_test(tc, string_ops_cannot_leave_the_window);
    tcase_add_test(tc, string_source_cannot_leave_the_window);
    tcase_add_test(tc, string_source_fault_midway_resumes_in_c);
    tcase_add_test(tc, string_ops_downward_across_zero);
    tcase_add_test(tc, string_ops_downward_keep_the_flags);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(suite());
}
