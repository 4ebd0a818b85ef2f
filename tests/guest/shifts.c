/*
 * shifts: shl/shr/sar/rol/ror/rcl/rcr and shld/shrd with every immediate
 * count 0..31 (one instruction per count, 32-bit), by CL at 8, 16 and 32 bits
 * (CL values above 31 must be masked to 5 bits; rcl/rcr then take the count
 * modulo 9 or 17 for bytes and words) and in memory-operand forms. Expected
 * values come from a bit-at-a-time model of each instruction written from
 * the architectural definitions, plus hand-worked constants. Only flags the
 * architecture defines are compared: after a count of 0 nothing changes; OF
 * only for a count of 1; AF never; rotates touch only CF and OF; CF of shl and
 * shr is undefined once the count reaches the operand size; 16-bit shld/shrd
 * are undefined past 16.
 *
 * The instructions live in small asm snippets (below), called with EAX =
 * destination, EBX = shld/shrd source, ECX = count, EDX = flags to load; they
 * return the result in EAX and the flags in EDX.
 */
#include "kit.h"

enum op { SHL, SHR, SAR, ROL, ROR, RCL, RCR, SHLD, SHRD, NOPS };
static const char *const op_names[NOPS] = {"shl", "shr", "sar",  "rol", "ror",
                                           "rcl", "rcr", "shld", "shrd"};

#define COUNTS                                                                                     \
    "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31"

/* clang-format off */
__asm__(".macro snippet_begin name\n"
        "    .text\n"
        "\\name:\n"
        "    pushl %edx\n"
        "    popfl\n"
        ".endm\n"
        ".macro snippet_end\n"
        "    pushfl\n"
        "    popl %edx\n"
        "    ret\n"
        ".endm\n"
        /* Immediate counts: op_imm_N for N in 0..31 and a table op_imm. */
        ".macro imm_snippets op, dbl=0\n"
        "    .irp n, " COUNTS "\n"
        "    snippet_begin \\op\\()_imm_\\n\n"
        "    .if \\dbl\n"
        "    \\op\\()l $\\n, %ebx, %eax\n"
        "    .else\n"
        "    \\op\\()l $\\n, %eax\n"
        "    .endif\n"
        "    snippet_end\n"
        "    .endr\n"
        "    .section .rodata\n"
        "\\op\\()_imm:\n"
        "    .irp n, " COUNTS "\n"
        "    .long \\op\\()_imm_\\n\n"
        "    .endr\n"
        ".endm\n"
        "imm_snippets shl\n"
        "imm_snippets shr\n"
        "imm_snippets sar\n"
        "imm_snippets rol\n"
        "imm_snippets ror\n"
        "imm_snippets rcl\n"
        "imm_snippets rcr\n"
        "imm_snippets shld, 1\n"
        "imm_snippets shrd, 1\n"
        /* Counts in CL: op_cl_l, op_cl_w, op_cl_b and a 32-bit memory form. */
        ".macro cl_snippets op\n"
        "    snippet_begin \\op\\()_cl_l\n"
        "    \\op\\()l %cl, %eax\n"
        "    snippet_end\n"
        "    snippet_begin \\op\\()_cl_w\n"
        "    \\op\\()w %cl, %ax\n"
        "    snippet_end\n"
        "    snippet_begin \\op\\()_cl_b\n"
        "    \\op\\()b %cl, %al\n"
        "    snippet_end\n"
        "    snippet_begin \\op\\()_cl_m\n"
        "    movl %eax, shift_scratch\n"
        "    \\op\\()l %cl, shift_scratch\n"
        "    movl shift_scratch, %eax\n"
        "    snippet_end\n"
        ".endm\n"
        "cl_snippets shl\n"
        "cl_snippets shr\n"
        "cl_snippets sar\n"
        "cl_snippets rol\n"
        "cl_snippets ror\n"
        "cl_snippets rcl\n"
        "cl_snippets rcr\n"
        ".macro dbl_snippets op\n"
        "    snippet_begin \\op\\()_cl_l\n"
        "    \\op\\()l %cl, %ebx, %eax\n"
        "    snippet_end\n"
        "    snippet_begin \\op\\()_cl_w\n"
        "    \\op\\()w %cl, %bx, %ax\n"
        "    snippet_end\n"
        "    snippet_begin \\op\\()_cl_m\n"
        "    movl %eax, shift_scratch\n"
        "    \\op\\()l %cl, %ebx, shift_scratch\n"
        "    movl shift_scratch, %eax\n"
        "    snippet_end\n"
        ".endm\n"
        "dbl_snippets shld\n"
        "dbl_snippets shrd\n"
        /* The C1 /4 ib encoding with a count of 1 (gas would pick D1 /4). */
        "snippet_begin shl_c1_1\n"
        "    .byte 0xc1, 0xe0, 0x01\n"
        "snippet_end\n"
        "    .text\n");
/* clang-format on */

typedef void snippet(void);
/* The snippets and tables defined in the asm above. */
#define IMM_TABLE(op) extern snippet *const op##_imm[32];
#define CL_SNIPPETS(op) extern snippet op##_cl_l, op##_cl_w, op##_cl_b, op##_cl_m;
IMM_TABLE(shl)
IMM_TABLE(shr)
IMM_TABLE(sar)
IMM_TABLE(rol)
IMM_TABLE(ror)
IMM_TABLE(rcl)
IMM_TABLE(rcr)
IMM_TABLE(shld)
IMM_TABLE(shrd)
CL_SNIPPETS(shl)
CL_SNIPPETS(shr)
CL_SNIPPETS(sar)
CL_SNIPPETS(rol)
CL_SNIPPETS(ror)
CL_SNIPPETS(rcl)
CL_SNIPPETS(rcr)
extern snippet shld_cl_l, shld_cl_w, shld_cl_m, shrd_cl_l, shrd_cl_w, shrd_cl_m, shl_c1_1;
uint32_t shift_scratch;

static snippet *const *const imm_tables[NOPS] = {shl_imm, shr_imm, sar_imm,  rol_imm, ror_imm,
                                                 rcl_imm, rcr_imm, shld_imm, shrd_imm};
/* By CL: [op][0] 32-bit, [1] 16-bit, [2] 8-bit, [3] 32-bit memory. */
static snippet *const cl_snippets[NOPS][4] = {
    {shl_cl_l, shl_cl_w, shl_cl_b, shl_cl_m}, {shr_cl_l, shr_cl_w, shr_cl_b, shr_cl_m},
    {sar_cl_l, sar_cl_w, sar_cl_b, sar_cl_m}, {rol_cl_l, rol_cl_w, rol_cl_b, rol_cl_m},
    {ror_cl_l, ror_cl_w, ror_cl_b, ror_cl_m}, {rcl_cl_l, rcl_cl_w, rcl_cl_b, rcl_cl_m},
    {rcr_cl_l, rcr_cl_w, rcr_cl_b, rcr_cl_m}, {shld_cl_l, shld_cl_w, 0, shld_cl_m},
    {shrd_cl_l, shrd_cl_w, 0, shrd_cl_m},
};

static uint32_t run(snippet *fn, uint32_t a, uint32_t b, uint32_t count, uint32_t *flags)
{
    __asm__ volatile("call *%[fn]"
                     : "+a"(a), "+d"(*flags)
                     : [fn] "S"(fn), "b"(b), "c"(count)
                     : "cc", "memory");
    return a;
}

static uint32_t parity_flag(uint32_t v)
{
    uint32_t p = 1;
    for (v &= 0xff; v; v >>= 1)
        p ^= v & 1;
    return p ? T_PF : 0;
}

/*
 * One instruction of width w on a (destination) and b (shld/shrd source)
 * with the raw count; returns the full 32-bit register value, the expected
 * arithmetic flags and the mask of those the architecture defines.
 */
static uint32_t model(enum op op, int w, uint32_t a0, uint32_t b, uint32_t raw, uint32_t fin,
                      uint32_t *fout, uint32_t *defined)
{
    uint32_t mask = w == 32 ? 0xffffffffu : (1u << w) - 1, msb = 1u << (w - 1);
    uint32_t a = a0 & mask, orig = a, cf = fin & T_CF ? 1 : 0, n = raw & 31, of = 0;

    *fout = fin & T_ARITH;
    *defined = T_ARITH;
    if (n == 0)
        return a0; /* a masked count of 0 changes nothing */
    /* rcl/rcr of bytes and words rotate through 9 or 17 bits; a count that
     * is a multiple of that rotates nothing but still leaves OF undefined. */
    if (op == RCL || op == RCR)
        n = w == 8 ? n % 9 : w == 16 ? n % 17 : n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t out;
        switch (op) {
        case SHL:
            cf = (a & msb) != 0;
            a = (a << 1) & mask;
            break;
        case SHR:
        case SAR:
            cf = a & 1;
            a = (a >> 1) | (op == SAR ? a & msb : 0);
            break;
        case ROL:
            out = (a & msb) != 0;
            a = ((a << 1) | out) & mask;
            cf = out;
            break;
        case ROR:
            out = a & 1;
            a = (a >> 1) | (out ? msb : 0);
            cf = out;
            break;
        case RCL:
            out = (a & msb) != 0;
            a = ((a << 1) | cf) & mask;
            cf = out;
            break;
        case RCR:
            out = a & 1;
            a = (a >> 1) | (cf ? msb : 0);
            cf = out;
            break;
        case SHLD:
            cf = (a & msb) != 0;
            a = ((a << 1) | ((b & msb) != 0)) & mask;
            b <<= 1;
            break;
        case SHRD:
            cf = a & 1;
            a = (a >> 1) | (b & 1 ? msb : 0);
            b >>= 1;
            break;
        default:
            break;
        }
    }
    switch (op) {
    case SHL:
    case ROL:
    case RCL:
    case SHLD:
        of = ((a & msb) != 0) ^ cf;
        break;
    case SHR:
    case SHRD:
        of = (orig & msb) != 0;
        if (op == SHRD)
            of ^= (a & msb) != 0;
        break;
    case SAR:
        of = 0;
        break;
    case ROR:
    case RCR:
        of = ((a & msb) != 0) ^ ((a & (msb >> 1)) != 0);
        break;
    default:
        break;
    }
    if (op == ROL || op == ROR || op == RCL || op == RCR) {
        *fout = (fin & (T_PF | T_AF | T_ZF | T_SF)) | (cf ? T_CF : 0) | (of ? T_OF : 0);
        /* rol/ror of bytes/words: the count is masked to 5 bits, then taken
         * modulo the width for the data; OF is defined only for count 1. */
        if ((raw & 31) != 1)
            *defined &= ~T_OF;
    } else {
        *fout = (cf ? T_CF : 0) | parity_flag(a) | (a == 0 ? T_ZF : 0) | (a & msb ? T_SF : 0) |
                (of ? T_OF : 0);
        *defined &= ~T_AF;
        if (n != 1)
            *defined &= ~T_OF;
        if ((op == SHL || op == SHR) && n >= (uint32_t)w)
            *defined &= ~T_CF;
    }
    return (a0 & ~mask) | a;
}

static int check(const char *form, enum op op, int w, snippet *fn, uint32_t a, uint32_t b,
                 uint32_t count, uint32_t fin)
{
    uint32_t want_f, defined, got_f = fin | 2;
    uint32_t want = model(op, w, a, b, count, fin, &want_f, &defined);
    uint32_t got = run(fn, a, b, count, &got_f);
    if (got == want && (got_f & defined) == (want_f & defined)) {
        t_assert_eq(op_names[op], 1, 1);
        return 1;
    }
    t_printf("FAIL %s%s (width %d) a=0x%08x b=0x%08x count=0x%x flags in 0x%03x\n", op_names[op],
             form, w, a, b, count, fin);
    t_assert_eq("  result", got, want);
    t_assert_eq("  defined flags", got_f & defined, want_f & defined);
    return 0;
}

static const uint32_t values[] = {0,          1,          0x80000000, 0x80000001, 0xffffffff,
                                  0x12345678, 0xfedcba98, 0x00008080, 0x7fff7f7f};

static void check_hand(const char *name, snippet *fn, uint32_t a, uint32_t b, uint32_t fin,
                       uint32_t res, uint32_t flags, uint32_t flagmask)
{
    uint32_t f = fin | 2;
    uint32_t r = run(fn, a, b, 0, &f);
    t_assert_eq(name, r, res);
    t_assert_eq(name, f & flagmask, flags);
}

void test_main(void)
{
    const uint32_t szpc = T_SF | T_ZF | T_PF | T_CF;

    /* Hand-worked: results and the flags each instruction defines. */
    check_hand("shl $4, 12345678", shl_imm[4], 0x12345678, 0, 0, 0x23456780, T_CF, szpc);
    check_hand("shr $1, 80000001", shr_imm[1], 0x80000001, 0, 0, 0x40000000, 0x805, szpc | T_OF);
    check_hand("sar $31, 80000000", sar_imm[31], 0x80000000, 0, 0, 0xffffffff, 0x84, szpc);
    check_hand("rol $8, 12345678", rol_imm[8], 0x12345678, 0, 0, 0x34567812, 0, T_CF);
    check_hand("ror $4, 12345678", ror_imm[4], 0x12345678, 0, 0, 0x81234567, T_CF, T_CF);
    check_hand("rcl $1, 80000000 CF=1", rcl_imm[1], 0x80000000, 0, T_CF, 1, T_CF | T_OF,
               T_CF | T_OF);
    check_hand("rcr $1, 1 CF=0", rcr_imm[1], 1, 0, 0, 0, T_CF, T_CF | T_OF);
    check_hand("rcr $4, 10 CF=1", rcr_imm[4], 0x10, 0, T_CF, 0x10000001, 0, T_CF);
    check_hand("shld $8", shld_imm[8], 0x11223344, 0xaabbccdd, 0, 0x223344aa, T_CF, T_CF);
    check_hand("shrd $8", shrd_imm[8], 0x11223344, 0xaabbccdd, 0, 0xdd112233, 0, T_CF);
    check_hand("shl $0 keeps flags", shl_imm[0], 0x12345678, 0, T_ARITH, 0x12345678, T_ARITH,
               T_ARITH);
    check_hand("shl (C1 form) $1", shl_c1_1, 0x40000000, 0, 0, 0x80000000, T_SF | T_PF | T_OF,
               szpc | T_OF);

    /* Every immediate count, 32-bit register form. */
    for (int op = 0; op < NOPS; op++) {
        int ok = 1;
        for (uint32_t n = 0; ok && n < 32; n++)
            for (unsigned v = 0; ok && v < T_ARRAY_SIZE(values); v++) {
                uint32_t fin = (v & 1) ? T_ARITH : (t_rand() & T_ARITH);
                uint32_t b = values[(v + 3) % T_ARRAY_SIZE(values)] ^ t_rand();
                ok = check(" $imm", op, 32, imm_tables[op][n], values[v], b, n, fin);
            }
    }

    /* By CL, counts 0..63 with junk in CL's upper bits and ECX's upper bytes. */
    static const int widths[4] = {32, 16, 8, 32};
    static const char *const forms[4] = {"l %cl", "w %cl", "b %cl", "l %cl,mem"};
    for (int op = 0; op < NOPS; op++) {
        for (int form = 0; form < 4; form++) {
            snippet *fn = cl_snippets[op][form];
            int w = widths[form], ok = 1;
            if (!fn)
                continue;
            for (uint32_t n = 0; ok && n < 64; n++) {
                if ((op == SHLD || op == SHRD) && w == 16 && (n & 31) > 16)
                    continue; /* undefined */
                for (unsigned v = 0; ok && v < T_ARRAY_SIZE(values) + 4; v++) {
                    uint32_t a = v < T_ARRAY_SIZE(values) ? values[v] : t_rand();
                    uint32_t count = n | (t_rand() & 0xffffff00) | ((t_rand() & 3) << 6);
                    uint32_t fin = t_rand() & T_ARITH;
                    ok = check(forms[form], op, w, fn, a, t_rand(), count, fin);
                }
            }
        }
    }
}
