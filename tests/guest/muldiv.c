/*
 * muldiv: mul and imul in all their forms (one operand at 8/16/32 bits into
 * AX, DX:AX, EDX:EAX; two operands; three operands with imm8 and imm16/32),
 * div and idiv at every width, and the divide error (#DE, vector 0) for a
 * zero divisor and for quotients that do not fit, caught through the IDT: the
 * fault must point at the divide and leave EAX/EDX unchanged. Expected values
 * come from hand-worked constants and from a shift-and-add multiplier and a
 * shift-and-subtract divider written in C (which use neither MUL nor DIV).
 * Only CF and OF are defined after a multiply and no flag after a divide.
 */
#include "kit.h"

struct md {
    uint32_t eax, edx, flags;
};

/* ---- the instructions ---- */

#define MULFORMS(name, insn, mod, cons)                                                            \
    static void name##_r(struct md *m, uint32_t s)                                                 \
    {                                                                                              \
        __asm__ volatile("pushl %[f]\n\tpopfl\n\t" insn " %" mod "[s]\n\tpushfl\n\tpopl %[f]"      \
                         : "+a"(m->eax), "+d"(m->edx), [f] "+r"(m->flags)                          \
                         : [s] cons(s)                                                             \
                         : "cc");                                                                  \
    }                                                                                              \
    static void name##_m(struct md *m, uint32_t s)                                                 \
    {                                                                                              \
        volatile uint32_t v = s;                                                                   \
        __asm__ volatile("pushl %[f]\n\tpopfl\n\t" insn " %[s]\n\tpushfl\n\tpopl %[f]"             \
                         : "+a"(m->eax), "+d"(m->edx), [f] "+r"(m->flags)                          \
                         : [s] "m"(v)                                                              \
                         : "cc");                                                                  \
    }

MULFORMS(mulb, "mulb", "b", "q")
MULFORMS(mulw, "mulw", "w", "r")
MULFORMS(mull, "mull", "", "r")
MULFORMS(imulb, "imulb", "b", "q")
MULFORMS(imulw, "imulw", "w", "r")
MULFORMS(imull, "imull", "", "r")

/* A divide that may fault: returns 1 when #DE was taken (and resumed after). */
#define DIVFORMS(name, insn, mod, cons)                                                            \
    static int name##_r(struct md *m, uint32_t s)                                                  \
    {                                                                                              \
        uint32_t before = t_trap.count;                                                            \
        __asm__ volatile("movl $1f, t_resume_eip\n\t" insn " %" mod "[s]\n\t"                      \
                         "movl $0, t_resume_eip\n"                                                 \
                         "1:"                                                                      \
                         : "+a"(m->eax), "+d"(m->edx)                                              \
                         : [s] cons(s)                                                             \
                         : "cc", "memory");                                                        \
        return t_trap.count != before;                                                             \
    }                                                                                              \
    static int name##_m(struct md *m, uint32_t s)                                                  \
    {                                                                                              \
        volatile uint32_t v = s;                                                                   \
        uint32_t before = t_trap.count;                                                            \
        __asm__ volatile("movl $1f, t_resume_eip\n\t" insn " %[s]\n\t"                             \
                         "movl $0, t_resume_eip\n"                                                 \
                         "1:"                                                                      \
                         : "+a"(m->eax), "+d"(m->edx)                                              \
                         : [s] "m"(v)                                                              \
                         : "cc", "memory");                                                        \
        return t_trap.count != before;                                                             \
    }

DIVFORMS(divb, "divb", "b", "q")
DIVFORMS(divw, "divw", "w", "r")
DIVFORMS(divl, "divl", "", "r")
DIVFORMS(idivb, "idivb", "b", "q")
DIVFORMS(idivw, "idivw", "w", "r")
DIVFORMS(idivl, "idivl", "", "r")

/* imul r, r/m and imul r, r/m, imm: dest in a, source s; flags out. */
#define IMUL2(name, body)                                                                          \
    static uint32_t name(uint32_t a, uint32_t s, uint32_t *f)                                      \
    {                                                                                              \
        volatile uint32_t v = s;                                                                   \
        (void)v;                                                                                   \
        __asm__ volatile("pushl %[f]\n\tpopfl\n\t" body "\n\tpushfl\n\tpopl %[f]"                  \
                         : [a] "+r"(a), [f] "+r"(*f)                                               \
                         : [s] "r"(s), [m] "m"(v)                                                  \
                         : "cc");                                                                  \
        return a;                                                                                  \
    }

IMUL2(imul2l_r, "imull %[s], %[a]")
IMUL2(imul2l_m, "imull %[m], %[a]")
IMUL2(imul2w_r, "imulw %w[s], %w[a]")
IMUL2(imul2w_m, "imulw %[m], %w[a]")
IMUL2(imul3l_i8, "imull $-3, %[s], %[a]")
IMUL2(imul3l_i32, "imull $0x12345, %[m], %[a]")
IMUL2(imul3w_i8, "imulw $100, %w[s], %w[a]")
IMUL2(imul3w_i16, "imulw $-0x1234, %[m], %w[a]")

/* ---- the model ---- */

static uint64_t umul(uint32_t x, uint32_t y)
{
    uint64_t acc = 0, addend = x;
    for (; y; y >>= 1, addend <<= 1)
        if (y & 1)
            acc += addend;
    return acc;
}

static int64_t smul(int32_t x, int32_t y)
{
    uint64_t p = umul((uint32_t)x, (uint32_t)y);
    if (x < 0)
        p -= (uint64_t)(uint32_t)y << 32;
    if (y < 0)
        p -= (uint64_t)(uint32_t)x << 32;
    return (int64_t)p;
}

/* Unsigned 64/64 long division, one bit at a time. */
static uint64_t udiv(uint64_t n, uint64_t d, uint64_t *rem)
{
    uint64_t q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= (uint64_t)1 << i;
        }
    }
    *rem = r;
    return q;
}

static int64_t sext(uint64_t v, int bits)
{
    uint64_t sign = (uint64_t)1 << (bits - 1);
    v &= (sign << 1) - 1;
    return (int64_t)((v ^ sign) - sign);
}

static uint32_t lo_mask(int w)
{
    return w == 32 ? 0xffffffffu : (1u << w) - 1;
}

/* Writes the w-bit low and high halves of a 2w-bit value to AX/DX style. */
static void put_pair(struct md *m, int w, uint64_t v)
{
    uint32_t mask = lo_mask(w);
    if (w == 8) {
        m->eax = (m->eax & ~0xffffu) | (uint32_t)(v & 0xffff);
        return;
    }
    m->eax = (m->eax & ~mask) | ((uint32_t)v & mask);
    m->edx = (m->edx & ~mask) | ((uint32_t)(v >> w) & mask);
}

static uint64_t get_dividend(const struct md *m, int w)
{
    if (w == 8)
        return m->eax & 0xffff;
    return ((uint64_t)(m->edx & lo_mask(w)) << w) | (m->eax & lo_mask(w));
}

/* Returns CF=OF as 0/1. */
static int model_mul(struct md *m, int w, int is_signed, uint32_t s)
{
    uint32_t mask = lo_mask(w);
    if (!is_signed) {
        uint64_t p = umul(m->eax & mask, s & mask);
        put_pair(m, w, p);
        return (p >> w) != 0;
    }
    int64_t p = smul((int32_t)sext(m->eax, w), (int32_t)sext(s, w));
    put_pair(m, w, (uint64_t)p);
    return sext((uint64_t)p, w) != p;
}

/* Returns 1 for #DE (state unchanged). */
static int model_div(struct md *m, int w, int is_signed, uint32_t s)
{
    uint32_t mask = lo_mask(w);
    uint64_t n = get_dividend(m, w), d = s & mask, q, r;
    if (d == 0)
        return 1;
    if (!is_signed) {
        q = udiv(n, d, &r);
        if (q > mask)
            return 1;
    } else {
        int64_t sn = sext(n, 2 * w), sd = sext(d, w);
        uint64_t un = sn < 0 ? -(uint64_t)sn : (uint64_t)sn, ud = sd < 0 ? -sd : sd;
        q = udiv(un, ud, &r);
        int64_t sq = (sn < 0) != (sd < 0) ? -(int64_t)q : (int64_t)q;
        int64_t sr = sn < 0 ? -(int64_t)r : (int64_t)r;
        if (sq != sext((uint64_t)sq, w))
            return 1;
        q = (uint64_t)sq;
        r = (uint64_t)sr;
    }
    if (w == 8) {
        m->eax = (m->eax & ~0xffffu) | (uint32_t)(q & 0xff) | (uint32_t)(r & 0xff) << 8;
    } else {
        m->eax = (m->eax & ~mask) | ((uint32_t)q & mask);
        m->edx = (m->edx & ~mask) | ((uint32_t)r & mask);
    }
    return 0;
}

/* ---- checks ---- */

typedef void (*mul_fn)(struct md *, uint32_t);
typedef int (*div_fn)(struct md *, uint32_t);

static const struct {
    const char *name;
    int w, is_signed;
    mul_fn fn;
} muls[] = {
    {"mulb r", 8, 0, mulb_r},    {"mulb m", 8, 0, mulb_m},    {"mulw r", 16, 0, mulw_r},
    {"mulw m", 16, 0, mulw_m},   {"mull r", 32, 0, mull_r},   {"mull m", 32, 0, mull_m},
    {"imulb r", 8, 1, imulb_r},  {"imulb m", 8, 1, imulb_m},  {"imulw r", 16, 1, imulw_r},
    {"imulw m", 16, 1, imulw_m}, {"imull r", 32, 1, imull_r}, {"imull m", 32, 1, imull_m},
};

static const struct {
    const char *name;
    int w, is_signed;
    div_fn fn;
} divs[] = {
    {"divb r", 8, 0, divb_r},    {"divb m", 8, 0, divb_m},    {"divw r", 16, 0, divw_r},
    {"divw m", 16, 0, divw_m},   {"divl r", 32, 0, divl_r},   {"divl m", 32, 0, divl_m},
    {"idivb r", 8, 1, idivb_r},  {"idivb m", 8, 1, idivb_m},  {"idivw r", 16, 1, idivw_r},
    {"idivw m", 16, 1, idivw_m}, {"idivl r", 32, 1, idivl_r}, {"idivl m", 32, 1, idivl_m},
};

static const struct {
    const char *name;
    int w;
    int32_t imm; /* 0: two-operand form */
    int uses_mem;
    uint32_t (*fn)(uint32_t, uint32_t, uint32_t *);
} imuls[] = {
    {"imull r,r", 32, 0, 0, imul2l_r},         {"imull m,r", 32, 0, 1, imul2l_m},
    {"imulw r,r", 16, 0, 0, imul2w_r},         {"imulw m,r", 16, 0, 1, imul2w_m},
    {"imull $-3,r,r", 32, -3, 0, imul3l_i8},   {"imull $0x12345,m,r", 32, 0x12345, 1, imul3l_i32},
    {"imulw $100,r,r", 16, 100, 0, imul3w_i8}, {"imulw $-0x1234,m,r", 16, -0x1234, 1, imul3w_i16},
};

/* Operands of every magnitude: a random value shifted right by 0..31. */
static uint32_t operand(void)
{
    uint32_t v = t_rand();
    return (t_rand() & 1) ? v >> (t_rand() & 31) : (uint32_t)((int32_t)v >> (t_rand() & 31));
}

static void check_mul(int i, uint32_t a, uint32_t d, uint32_t s)
{
    struct md got = {a, d, t_rand() & T_ARITH}, want = {a, d, 0};
    int cf = model_mul(&want, muls[i].w, muls[i].is_signed, s);
    muls[i].fn(&got, s);
    if (got.eax == want.eax && got.edx == want.edx &&
        (got.flags & (T_CF | T_OF)) == (cf ? T_CF | T_OF : 0)) {
        t_assert_eq(muls[i].name, 1, 1);
        return;
    }
    t_printf("FAIL %s: eax=0x%08x edx=0x%08x src=0x%08x\n", muls[i].name, a, d, s);
    t_assert_eq("  eax", got.eax, want.eax);
    t_assert_eq("  edx", got.edx, want.edx);
    t_assert_eq("  CF/OF", got.flags & (T_CF | T_OF), cf ? T_CF | T_OF : 0);
}

static void check_div(int i, uint32_t a, uint32_t d, uint32_t s)
{
    struct md got = {a, d, 0}, want = {a, d, 0};
    int want_de = model_div(&want, divs[i].w, divs[i].is_signed, s);
    int got_de = divs[i].fn(&got, s);
    if (got.eax == want.eax && got.edx == want.edx && got_de == want_de) {
        t_assert_eq(divs[i].name, 1, 1);
        return;
    }
    t_printf("FAIL %s: eax=0x%08x edx=0x%08x src=0x%08x\n", divs[i].name, a, d, s);
    t_assert_eq("  eax", got.eax, want.eax);
    t_assert_eq("  edx", got.edx, want.edx);
    t_assert_eq("  #DE taken", got_de, want_de);
}

static void check_imul(int i, uint32_t a, uint32_t s)
{
    int w = imuls[i].w;
    uint32_t mask = lo_mask(w), f = t_rand() & T_ARITH;
    int64_t full = smul((int32_t)sext(s, w), imuls[i].imm ? imuls[i].imm : (int32_t)sext(a, w));
    uint32_t want = (a & ~mask) | ((uint32_t)full & mask);
    uint32_t want_f = sext((uint64_t)full, w) != full ? T_CF | T_OF : 0;
    uint32_t got = imuls[i].fn(a, s, &f);
    if (got == want && (f & (T_CF | T_OF)) == want_f) {
        t_assert_eq(imuls[i].name, 1, 1);
        return;
    }
    t_printf("FAIL %s: dest=0x%08x src=0x%08x\n", imuls[i].name, a, s);
    t_assert_eq("  result", got, want);
    t_assert_eq("  CF/OF", f & (T_CF | T_OF), want_f);
}

/* A #DE from a hand-picked case: EIP must be the divide, registers intact. */
static void check_de(const char *name, uint32_t a, uint32_t d, uint32_t s, int which)
{
    uint32_t ga = a, gd = d, at;
    uint32_t before = t_trap.count;
    switch (which) {
    case 0:
        __asm__ volatile("movl $1f, t_resume_eip\n\tmovl $2f, %2\n2:\tdivl %3\n1:"
                         : "+a"(ga), "+d"(gd), "=&r"(at)
                         : "r"(s)
                         : "cc", "memory");
        break;
    case 1:
        __asm__ volatile("movl $1f, t_resume_eip\n\tmovl $2f, %2\n2:\tidivl %3\n1:"
                         : "+a"(ga), "+d"(gd), "=&r"(at)
                         : "r"(s)
                         : "cc", "memory");
        break;
    default:
        __asm__ volatile("movl $1f, t_resume_eip\n\tmovl $2f, %2\n2:\tidivw %w3\n1:"
                         : "+a"(ga), "+d"(gd), "=&r"(at)
                         : "r"(s)
                         : "cc", "memory");
        break;
    }
    t_assert_eq(name, t_trap.count - before, 1);
    t_assert_eq(name, t_trap.vector, 0);
    t_assert_eq(name, t_trap.eip, at);
    t_assert_eq(name, ga, a);
    t_assert_eq(name, gd, d);
}

void test_main(void)
{
    struct md m;
    uint32_t f;

    t_catch(0);

    /* Hand-worked products and quotients. */
    m = (struct md){0xffffffff, 0, 0};
    mull_r(&m, 0xffffffff);
    t_assert_eq("mul ffffffff^2 eax", m.eax, 1);
    t_assert_eq("mul ffffffff^2 edx", m.edx, 0xfffffffe);
    t_assert_eq("mul ffffffff^2 CF/OF", m.flags & (T_CF | T_OF), T_CF | T_OF);
    m = (struct md){0x12345680, 0x77, 0};
    mulb_r(&m, 2);
    t_assert_eq("mulb 80*2", m.eax, 0x12340100);
    t_assert_eq("mulb 80*2 edx", m.edx, 0x77);
    t_assert_eq("mulb 80*2 CF", m.flags & T_CF, T_CF);
    m = (struct md){0x0f, 0, T_ARITH};
    mulb_m(&m, 0x0f);
    t_assert_eq("mulb f*f", m.eax, 0xe1);
    t_assert_eq("mulb f*f CF/OF", m.flags & (T_CF | T_OF), 0);
    m = (struct md){0xffffffff, 0x1234, 0};
    imull_r(&m, 0xffffffff);
    t_assert_eq("imul -1*-1 eax", m.eax, 1);
    t_assert_eq("imul -1*-1 edx", m.edx, 0);
    t_assert_eq("imul -1*-1 CF", m.flags & T_CF, 0);
    m = (struct md){0x10000, 0, 0};
    imull_m(&m, 0x10000);
    t_assert_eq("imul 2^16*2^16 edx:eax", m.edx << 16 | m.eax, 0x10000);
    t_assert_eq("imul 2^16*2^16 CF", m.flags & T_CF, T_CF);
    m = (struct md){0x80, 0, 0};
    imulb_r(&m, 0xff);
    t_assert_eq("imulb -128*-1", m.eax, 0x0080);
    t_assert_eq("imulb -128*-1 CF/OF", m.flags & (T_CF | T_OF), T_CF | T_OF);
    f = 0;
    t_assert_eq("imul 7fffffff*2", imul2l_r(2, 0x7fffffff, &f), 0xfffffffe);
    t_assert_eq("imul 7fffffff*2 CF", f & T_CF, T_CF);
    f = T_ARITH;
    t_assert_eq("imul $-3*7", imul3l_i8(0, 7, &f), 0xffffffeb);
    t_assert_eq("imul $-3*7 CF", f & (T_CF | T_OF), 0);
    f = 0;
    t_assert_eq("imulw $100*0x1234", imul3w_i8(0xabcd0000, 0x1234, &f), 0xabcd1c50);
    t_assert_eq("imulw $100*0x1234 CF", f & (T_CF | T_OF), T_CF | T_OF);
    f = T_ARITH;
    t_assert_eq("imulw $100*0x123", imul3w_i8(0, 0x123, &f), 0x71ac);
    t_assert_eq("imulw $100*0x123 CF", f & (T_CF | T_OF), 0);
    m = (struct md){0, 1, 0};
    t_assert_eq("div 2^32/2 ok", divl_r(&m, 2), 0);
    t_assert_eq("div 2^32/2 q", m.eax, 0x80000000);
    t_assert_eq("div 2^32/2 r", m.edx, 0);
    m = (struct md){100, 0, 0};
    divl_m(&m, 7);
    t_assert_eq("div 100/7 q", m.eax, 14);
    t_assert_eq("div 100/7 r", m.edx, 2);
    m = (struct md){0x00ff, 0, 0};
    divb_r(&m, 0x10);
    t_assert_eq("divb ff/10", m.eax, 0x0f0f);
    m = (struct md){(uint32_t)-7, 0xffffffff, 0};
    idivl_r(&m, 2);
    t_assert_eq("idiv -7/2 q", m.eax, (uint32_t)-3);
    t_assert_eq("idiv -7/2 r", m.edx, (uint32_t)-1);
    m = (struct md){7, 0, 0};
    idivl_m(&m, (uint32_t)-2);
    t_assert_eq("idiv 7/-2 q", m.eax, (uint32_t)-3);
    t_assert_eq("idiv 7/-2 r", m.edx, 1);
    m = (struct md){0xff80, 0, 0};
    t_assert_eq("idivb -128/1 no #DE", idivb_r(&m, 1), 0);
    t_assert_eq("idivb -128/1", m.eax, 0x0080);

    /* Divide errors, with the faulting EIP and the registers checked. */
    check_de("#DE div by 0", 1234, 0, 0, 0);
    check_de("#DE div quotient >= 2^32", 0, 2, 2, 0);
    check_de("#DE idiv -2^31/-1", 0x80000000, 0xffffffff, 0xffffffff, 1);
    check_de("#DE idivw -32768/-1", 0x8000, 0xffff, 0xffff, 2);
    check_de("#DE idiv by 0", 5, 0, 0, 1);

    /* Model comparisons. */
    for (unsigned i = 0; i < T_ARRAY_SIZE(muls); i++)
        for (int n = 0; n < 400; n++)
            check_mul(i, n < 16 ? 0xffffffffu >> n : operand(), t_rand(), operand());
    for (unsigned i = 0; i < T_ARRAY_SIZE(imuls); i++)
        for (int n = 0; n < 400; n++)
            check_imul(i, operand(), operand());
    for (unsigned i = 0; i < T_ARRAY_SIZE(divs); i++)
        for (int n = 0; n < 400; n++) {
            uint32_t s = operand(), d = operand();
            /* Mostly dividends whose quotient fits; every 8th may not. */
            uint32_t a = t_rand();
            if (n & 7) {
                d = divs[i].is_signed ? (uint32_t)((int32_t)d >> 20) : d >> 24;
                if (divs[i].w == 8) /* AH small: 0 or the sign of AL */
                    a = (a & 0xffff00ff) | (divs[i].is_signed && (a & 0x80) ? 0xff00 : 0);
            }
            if ((n & 31) == 5)
                s = 0;
            check_div(i, a, d, s);
        }
}
