/*
 * alu: the two-operand arithmetic/logic group (add adc sub sbb and or xor cmp
 * test) and the one-operand group (inc dec neg not) at 8, 16 and 32 bits, in
 * register/register, memory-destination and memory-source forms, with the
 * carry flag in both states. Results and the six arithmetic flags (read back
 * with PUSHF) are compared with hand-worked constants, and then, for a few
 * hundred operand pairs (boundary values and a fixed pseudo-random series),
 * with a flag model written from the architectural definitions. Bytes and
 * words operate inside a 32-bit register or dword whose other bits must not
 * change. AF is undefined after the logical ops and is not checked there.
 */
#include "kit.h"

enum op { ADD, ADC, SUB, SBB, AND, OR, XOR, CMP, TEST, INC, DEC, NEG, NOT };

typedef uint32_t (*alu_fn)(uint32_t a, uint32_t b, uint32_t *flags);

/* clang-format off */
/* Load flags, run one instruction, read flags back. The second argument is
 * a placeholder so that the callers can leave the list of inputs empty. */
#define RUN(body, unused, outs, ins)                                                               \
    __asm__ volatile("pushl %[f]\n\tpopfl\n\t" body "\n\tpushfl\n\tpopl %[f]"                     \
                     : [f] "+r"(*flags), outs                                                      \
                     : ins                                                                         \
                     : "cc", "memory")

#define DEF2(op, sfx, mod, cons)                                                                   \
    static uint32_t op##sfx##_rr(uint32_t a, uint32_t b, uint32_t *flags)                          \
    {                                                                                              \
        RUN(#op #sfx " %" mod "[b], %" mod "[a]", , [a] "+" cons(a), [b] cons(b));                 \
        return a;                                                                                  \
    }                                                                                              \
    static uint32_t op##sfx##_mr(uint32_t a, uint32_t b, uint32_t *flags)                          \
    {                                                                                              \
        volatile uint32_t m = a;                                                                   \
        RUN(#op #sfx " %" mod "[b], %[m]", , [m] "+m"(m), [b] cons(b));                            \
        return m;                                                                                  \
    }                                                                                              \
    static uint32_t op##sfx##_rm(uint32_t a, uint32_t b, uint32_t *flags)                          \
    {                                                                                              \
        volatile uint32_t m = b;                                                                   \
        RUN(#op #sfx " %[m], %" mod "[a]", , [a] "+" cons(a), [m] "m"(m));                         \
        return a;                                                                                  \
    }

#define DEF1(op, sfx, mod, cons)                                                                   \
    static uint32_t op##sfx##_r(uint32_t a, uint32_t b, uint32_t *flags)                           \
    {                                                                                              \
        (void)b;                                                                                   \
        RUN(#op #sfx " %" mod "[a]", , [a] "+" cons(a), );                                         \
        return a;                                                                                  \
    }                                                                                              \
    static uint32_t op##sfx##_m(uint32_t a, uint32_t b, uint32_t *flags)                           \
    {                                                                                              \
        volatile uint32_t m = a;                                                                   \
        (void)b;                                                                                   \
        RUN(#op #sfx " %[m]", , [m] "+m"(m), );                                                    \
        return m;                                                                                  \
    }

#define DEF2W(op) DEF2(op, l, "", "r") DEF2(op, w, "w", "r") DEF2(op, b, "b", "q")
#define DEF1W(op) DEF1(op, l, "", "r") DEF1(op, w, "w", "r") DEF1(op, b, "b", "q")

DEF2W(add)
DEF2W(adc)
DEF2W(sub)
DEF2W(sbb)
DEF2W(and)
DEF2W(or)
DEF2W(xor)
DEF2W(cmp)
DEF2W(test)
DEF1W(inc)
DEF1W(dec)
DEF1W(neg)
DEF1W(not)

struct variant {
    const char *name;
    enum op op;
    int width;
    alu_fn fn;
};

#define V2(op, OP)                                                                                 \
    {#op "l r,r", OP, 32, op##l_rr}, {#op "l r,m", OP, 32, op##l_mr},                              \
        {#op "l m,r", OP, 32, op##l_rm}, {#op "w r,r", OP, 16, op##w_rr},                          \
        {#op "w r,m", OP, 16, op##w_mr}, {#op "w m,r", OP, 16, op##w_rm},                          \
        {#op "b r,r", OP, 8, op##b_rr}, {#op "b r,m", OP, 8, op##b_mr},                            \
        {#op "b m,r", OP, 8, op##b_rm}
#define V1(op, OP)                                                                                 \
    {#op "l r", OP, 32, op##l_r}, {#op "l m", OP, 32, op##l_m}, {#op "w r", OP, 16, op##w_r},      \
        {#op "w m", OP, 16, op##w_m}, {#op "b r", OP, 8, op##b_r}, {#op "b m", OP, 8, op##b_m}

static const struct variant variants[] = {
    V2(add, ADD), V2(adc, ADC), V2(sub, SUB), V2(sbb, SBB), V2(and, AND), V2(or, OR),
    V2(xor, XOR), V2(cmp, CMP), V2(test, TEST), V1(inc, INC), V1(dec, DEC), V1(neg, NEG),
    V1(not, NOT),
};

/* clang-format on */

static uint32_t parity_flag(uint32_t v)
{
    uint32_t p = 1;
    for (v &= 0xff; v; v >>= 1)
        p ^= v & 1;
    return p ? T_PF : 0;
}

/*
 * The architectural definition: returns the expected register/memory value
 * (other bits of the dword kept) and stores the expected flags and the mask
 * of flags that are defined.
 */
static uint32_t model(enum op op, int w, uint32_t a0, uint32_t b0, uint32_t fin, uint32_t *fout,
                      uint32_t *defined)
{
    uint32_t mask = w == 32 ? 0xffffffffu : (1u << w) - 1, sign = 1u << (w - 1);
    uint32_t a = a0 & mask, b = b0 & mask, c = fin & T_CF, r = 0, cf = 0, of = 0, af = 0;
    int writes = 1;

    *defined = T_ARITH;
    switch (op) {
    case ADD:
    case ADC:
        if (op == ADD)
            c = 0;
        r = (a + b + c) & mask;
        cf = w == 32 ? (c ? r <= a : r < a) : ((a + b + c) >> w) & 1;
        of = (a ^ r) & (b ^ r) & sign;
        af = (a ^ b ^ r) & 0x10;
        break;
    case SUB:
    case SBB:
    case CMP:
        if (op != SBB)
            c = 0;
        r = (a - b - c) & mask;
        cf = c ? a <= b : a < b;
        of = (a ^ b) & (a ^ r) & sign;
        af = (a ^ b ^ r) & 0x10;
        writes = op != CMP;
        break;
    case AND:
    case TEST:
        r = a & b;
        writes = op == AND;
        *defined &= ~T_AF;
        break;
    case OR:
        r = a | b;
        *defined &= ~T_AF;
        break;
    case XOR:
        r = a ^ b;
        *defined &= ~T_AF;
        break;
    case INC:
    case DEC:
        r = (op == INC ? a + 1 : a - 1) & mask;
        cf = c;
        of = op == INC ? r == sign : a == sign;
        af = (a ^ 1 ^ r) & 0x10;
        break;
    case NEG:
        r = (0 - a) & mask;
        cf = a != 0;
        of = a == sign;
        af = (a ^ r) & 0x10;
        break;
    case NOT:
        *fout = fin & T_ARITH;
        return (a0 & ~mask) | (~a & mask);
    }
    *fout = (cf ? T_CF : 0) | parity_flag(r) | (af ? T_AF : 0) | (r == 0 ? T_ZF : 0) |
            (r & sign ? T_SF : 0) | (of ? T_OF : 0);
    /* The memory-source forms keep the operand in a; all forms keep the
     * bits of the 32-bit container outside the operand. */
    return writes ? (a0 & ~mask) | r : a0;
}

/* Worked by hand; flags are the full arithmetic set (AF masked for logic). */
static const struct {
    const char *name;
    enum op op;
    int width;
    uint32_t a, b, fin, res, flags;
} hand[] = {
    {"add ffffffff+1", ADD, 32, 0xffffffff, 1, 0, 0, 0x55},
    {"add 7fffffff+1", ADD, 32, 0x7fffffff, 1, 0, 0x80000000, 0x894},
    {"add 12345678+0fedcba9", ADD, 32, 0x12345678, 0x0fedcba9, 0, 0x22222221, 0x14},
    {"adc ffffffff+0+CF", ADC, 32, 0xffffffff, 0, T_CF, 0, 0x55},
    {"sub 0-1", SUB, 32, 0, 1, 0, 0xffffffff, 0x95},
    {"sub 80000000-1", SUB, 32, 0x80000000, 1, 0, 0x7fffffff, 0x814},
    {"sbb 5-3-CF", SBB, 32, 5, 3, T_CF, 1, 0},
    {"cmp 3,5", CMP, 32, 3, 5, 0, 3, 0x91},
    {"and f0f0f0f0&0ff00ff0", AND, 32, 0xf0f0f0f0, 0x0ff00ff0, 0, 0x00f000f0, 0x04},
    {"or 80000000|1", OR, 32, 0x80000000, 1, 0, 0x80000001, 0x80},
    {"xor x^x", XOR, 32, 0x5a5a5a5a, 0x5a5a5a5a, T_ARITH, 0, 0x44},
    {"neg 80000000", NEG, 32, 0x80000000, 0, 0, 0x80000000, 0x885},
    {"neg 0", NEG, 32, 0, 0, T_ARITH, 0, 0x44},
    {"inc 7fffffff keeps CF", INC, 32, 0x7fffffff, 0, T_CF, 0x80000000, 0x895},
    {"dec 0 keeps CF clear", DEC, 32, 0, 0, 0, 0xffffffff, 0x94},
    {"not keeps flags", NOT, 32, 0x0f0f0f0f, 0, T_ARITH, 0xf0f0f0f0, T_ARITH},
    {"addb 80+80", ADD, 8, 0x12345680, 0x80, 0, 0x12345600, 0x845},
    {"addw 7fff+1", ADD, 16, 0xabcd7fff, 1, 0, 0xabcd8000, 0x894},
    {"subb 10-1", SUB, 8, 0x10, 1, 0, 0x0f, 0x14},
    {"test 80000000", TEST, 32, 0x80000000, 0x80000000, 0, 0x80000000, 0x84},
    {"sbbw 0-ffff-CF", SBB, 16, 0, 0xffff, T_CF, 0, 0x55},
};

static const uint32_t boundary[] = {
    0,      1,      2,      0x0f,    0x10,       0x7f,       0x80,       0xff,       0x100,
    0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff,
};

static int check_one(const struct variant *v, uint32_t a, uint32_t b, uint32_t fin)
{
    uint32_t defined, want_f, got_f = fin | 2;
    uint32_t want = model(v->op, v->width, a, b, fin, &want_f, &defined);
    uint32_t got = v->fn(a, b, &got_f);
    if (t_assert_eq(v->name, got, want) && t_assert_eq(v->name, got_f & defined, want_f & defined))
        return 1;
    t_printf("  operands a=0x%08x b=0x%08x flags in 0x%03x, flags out 0x%03x want 0x%03x\n", a, b,
             fin, got_f & T_ARITH, want_f);
    return 0;
}

void test_main(void)
{
    /* The hand-worked cases, through every form of the instruction. */
    for (unsigned i = 0; i < T_ARRAY_SIZE(hand); i++) {
        for (unsigned j = 0; j < T_ARRAY_SIZE(variants); j++) {
            const struct variant *v = &variants[j];
            if (v->op != hand[i].op || v->width != hand[i].width)
                continue;
            uint32_t f = hand[i].fin | 2,
                     mask = v->op <= TEST && v->op >= AND ? ~(uint32_t)T_AF : ~0u;
            uint32_t r = v->fn(hand[i].a, hand[i].b, &f);
            t_assert_eq(hand[i].name, r, hand[i].res);
            t_assert_eq(hand[i].name, f & T_ARITH & mask, hand[i].flags & mask);
        }
    }
    /* Boundary pairs and a pseudo-random series against the model. */
    for (unsigned j = 0; j < T_ARRAY_SIZE(variants); j++) {
        const struct variant *v = &variants[j];
        int ok = 1;
        for (unsigned x = 0; ok && x < T_ARRAY_SIZE(boundary); x++)
            for (unsigned y = 0; ok && y < T_ARRAY_SIZE(boundary); y++)
                for (uint32_t fin = 0; ok && fin <= T_ARITH; fin += T_ARITH)
                    ok = check_one(v, boundary[x], boundary[y], fin);
        for (int n = 0; ok && n < 300; n++) {
            uint32_t a = t_rand(), b = t_rand(), fin = t_rand() & T_ARITH;
            if (n & 1)
                b = (a & 0xffff0000) | (b & 0xffff); /* near-equal operands */
            ok = check_one(v, a, b, fin);
        }
    }
    /* Immediate forms (encodings 80/81/83 /n and the accumulator short forms). */
    uint32_t r = 0x7fffffff, f;
    __asm__ volatile("addl $1, %0; pushfl; popl %1" : "+r"(r), "=r"(f) : : "cc");
    t_assert_eq("addl $1 result", r, 0x80000000);
    t_assert_eq("addl $1 flags", f & T_ARITH, 0x894);
    r = 5;
    __asm__ volatile("subl $-3, %0" : "+r"(r) : : "cc"); /* 83 /5 with imm8 sign-extended */
    t_assert_eq("subl $-3", r, 8);
    r = 0x12345678;
    __asm__ volatile("andl $0xffff00ff, %%eax; orw $0x8001, %%ax; xorb $0xff, %%al"
                     : "+a"(r)
                     :
                     : "cc");
    t_assert_eq("and/or/xor eax imm", r, 0x12348086);
    r = 0x100;
    __asm__ volatile("stc; adcb $0xff, %b0; pushfl; popl %1" : "+q"(r), "=r"(f) : : "cc");
    t_assert_eq("adcb ff+CF result", r, 0x100);
    t_assert_eq("adcb ff+CF flags", f & T_ARITH, 0x55);
    volatile uint32_t m = 0x80;
    __asm__ volatile("cmpl $0x80, %1; pushfl; popl %0" : "=r"(f) : "m"(m) : "cc");
    t_assert_eq("cmpl $0x80 m flags", f & T_ARITH, 0x44);
    __asm__ volatile("testb $0x80, %1; pushfl; popl %0" : "=r"(f) : "m"(m) : "cc");
    t_assert_eq("testb $0x80 m flags", f & T_ARITH & ~T_AF, T_SF);
}
