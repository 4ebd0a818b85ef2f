/*
 * x87: the FPU as a P6 translator must pass it through. After FNINIT the
 * control word must be 0x037f and the status word 0; the built-in constants
 * must have their documented 80-bit encodings; exact arithmetic (add, sub,
 * subr, mul, div, divr, sqrt, prem, scale, abs, chs, rndint) must give exact
 * results; loads and stores convert between single, double, extended, 16/32/64
 * bit integers and packed BCD (fbld/fbstp); fist honours all four rounding
 * modes; precision control rounds to 24 bits; fcom/fucom set C0/C2/C3,
 * fcomi/fucomi set ZF/PF/CF, fcmov moves on them; the stack TOP shows in the
 * status word; with every exception masked, division by zero, invalid
 * operations, overflow, underflow and inexact results give the default
 * results and set their status bits; fnstenv/fldenv and fnsave/frstor round
 * trip. All values are bit patterns worked out by hand (IEEE encodings), so
 * the C compiler's own floating point plays no part.
 */
#include "kit.h"

/* IEEE double bit patterns. */
#define D_0 0x0000000000000000ull
#define D_1 0x3ff0000000000000ull
#define D_1_5 0x3ff8000000000000ull
#define D_2 0x4000000000000000ull
#define D_2_25 0x4002000000000000ull
#define D_2_5 0x4004000000000000ull
#define D_3 0x4008000000000000ull
#define D_3_5 0x400c000000000000ull
#define D_3_75 0x400e000000000000ull
#define D_4 0x4010000000000000ull
#define D_7 0x401c000000000000ull
#define D_8 0x4020000000000000ull
#define D_15 0x402e000000000000ull
#define D_16 0x4030000000000000ull
#define D_M2_5 0xc004000000000000ull
#define D_M2_7 0xc00599999999999aull
#define D_M1 0xbff0000000000000ull
#define D_SQRT2 0x3ff6a09e667f3bcdull
#define D_THIRD 0x3fd5555555555555ull
#define D_THIRD_SINGLE 0x3fd5555560000000ull /* 1/3 rounded to 24 bits */
#define D_INF 0x7ff0000000000000ull
#define D_DEFAULT_NAN 0xfff8000000000000ull /* the x87 "real indefinite" */
#define D_QNAN 0x7ff8000000000000ull
#define D_HUGE 0x7fe0000000000000ull /* 2^1023 */
#define D_TINY 0x0010000000000000ull /* 2^-1022, smallest normal */

/* Status word bits. */
#define SW_IE 0x0001
#define SW_ZE 0x0004
#define SW_OE 0x0008
#define SW_UE 0x0010
#define SW_PE 0x0020
#define SW_C0 0x0100
#define SW_C2 0x0400
#define SW_C3 0x4000
#define SW_TOP(sw) (((sw) >> 11) & 7)

static uint16_t fnstsw(void)
{
    uint16_t sw;
    __asm__ volatile("fnstsw %0" : "=a"(sw));
    return sw;
}

static uint16_t fnstcw(void)
{
    uint16_t cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
}

static void fldcw(uint16_t cw)
{
    __asm__ volatile("fldcw %0" : : "m"(cw));
}

/* Binary operation on doubles: ST0 = a, then "op b". */
#define BINOP(name, insn)                                                                          \
    static uint64_t name(uint64_t a, uint64_t b)                                                   \
    {                                                                                              \
        uint64_t r;                                                                                \
        __asm__ volatile("fldl %1\n\t" insn " %2\n\tfstpl %0" : "=m"(r) : "m"(a), "m"(b));         \
        return r;                                                                                  \
    }
BINOP(fadd_d, "faddl")
BINOP(fsub_d, "fsubl")
BINOP(fsubr_d, "fsubrl")
BINOP(fmul_d, "fmull")
BINOP(fdiv_d, "fdivl")
BINOP(fdivr_d, "fdivrl")

#define UNOP(name, insn)                                                                           \
    static uint64_t name(uint64_t a)                                                               \
    {                                                                                              \
        uint64_t r;                                                                                \
        __asm__ volatile("fldl %1\n\t" insn "\n\tfstpl %0" : "=m"(r) : "m"(a));                    \
        return r;                                                                                  \
    }
UNOP(fsqrt_d, "fsqrt")
UNOP(fabs_d, "fabs")
UNOP(fchs_d, "fchs")
UNOP(frndint_d, "frndint")

/* Register-register forms: ST0 = a, ST1 = b, "op" then pop to ST0. */
static uint64_t fprem_d(uint64_t a, uint64_t b)
{
    uint64_t r;
    __asm__ volatile("fldl %2\n\tfldl %1\n\tfprem\n\tfstpl %0\n\tfstp %%st(0)"
                     : "=m"(r)
                     : "m"(a), "m"(b));
    return r;
}

static uint64_t fscale_d(uint64_t a, uint64_t b)
{
    uint64_t r;
    __asm__ volatile("fldl %2\n\tfldl %1\n\tfscale\n\tfstpl %0\n\tfstp %%st(0)"
                     : "=m"(r)
                     : "m"(a), "m"(b));
    return r;
}

static uint64_t faddp_regs(uint64_t a, uint64_t b)
{
    uint64_t r;
    __asm__ volatile("fldl %1\n\tfldl %2\n\tfxch\n\tfsub %%st(1), %%st\n\tfaddp %%st, %%st(1)\n\t"
                     "fstpl %0"
                     : "=m"(r)
                     : "m"(a), "m"(b));
    return r; /* (a - b) + b computed through st(i) forms */
}

static void test_init_and_constants(void)
{
    uint8_t t[10];

    __asm__ volatile("fninit");
    t_assert_eq("fninit control word", fnstcw(), 0x037f);
    t_assert_eq("fninit status word", fnstsw(), 0);

    static const struct {
        const char *name;
        uint16_t exp;
        uint64_t mant;
    } k[] = {
        {"fld1", 0x3fff, 0x8000000000000000ull},   {"fldz", 0x0000, 0},
        {"fldpi", 0x4000, 0xc90fdaa22168c235ull},  {"fldl2t", 0x4000, 0xd49a784bcd1b8afeull},
        {"fldl2e", 0x3fff, 0xb8aa3b295c17f0bcull}, {"fldlg2", 0x3ffd, 0x9a209a84fbcff799ull},
        {"fldln2", 0x3ffe, 0xb17217f7d1cf79acull},
    };
    for (unsigned i = 0; i < T_ARRAY_SIZE(k); i++) {
        switch (i) {
        case 0:
            __asm__ volatile("fld1\n\tfstpt %0" : "=m"(t));
            break;
        case 1:
            __asm__ volatile("fldz\n\tfstpt %0" : "=m"(t));
            break;
        case 2:
            __asm__ volatile("fldpi\n\tfstpt %0" : "=m"(t));
            break;
        case 3:
            __asm__ volatile("fldl2t\n\tfstpt %0" : "=m"(t));
            break;
        case 4:
            __asm__ volatile("fldl2e\n\tfstpt %0" : "=m"(t));
            break;
        case 5:
            __asm__ volatile("fldlg2\n\tfstpt %0" : "=m"(t));
            break;
        default:
            __asm__ volatile("fldln2\n\tfstpt %0" : "=m"(t));
            break;
        }
        uint64_t mant;
        uint16_t exp;
        memcpy(&mant, t, 8);
        memcpy(&exp, t + 8, 2);
        t_assert_eq64(k[i].name, mant, k[i].mant);
        t_assert_eq(k[i].name, exp, k[i].exp);
    }
    /* The stack top is visible in the status word. */
    __asm__ volatile("fld1\n\tfld1");
    t_assert_eq("TOP after two loads", SW_TOP(fnstsw()), 6);
    __asm__ volatile("fstp %st(0)\n\tfstp %st(0)");
    t_assert_eq("TOP after two pops", SW_TOP(fnstsw()), 0);
}

static void test_arith(void)
{
    t_assert_eq64("1.5 + 2.25", fadd_d(D_1_5, D_2_25), D_3_75);
    t_assert_eq64("3.75 - 2.25", fsub_d(D_3_75, D_2_25), D_1_5);
    t_assert_eq64("subr: 2.25 - 3.75", fsubr_d(D_3_75, D_2_25), 0xbff8000000000000ull);
    t_assert_eq64("3.75 * 4", fmul_d(D_3_75, D_4), D_15);
    t_assert_eq64("15 / 4", fdiv_d(D_15, D_4), D_3_75);
    t_assert_eq64("divr: 15 / 4", fdivr_d(D_4, D_15), D_3_75);
    t_assert_eq64("1 / 3", fdiv_d(D_1, D_3), D_THIRD);
    t_assert_eq64("sqrt 16", fsqrt_d(D_16), D_4);
    t_assert_eq64("sqrt 2", fsqrt_d(D_2), D_SQRT2);
    t_assert_eq64("fabs -2.5", fabs_d(D_M2_5), D_2_5);
    t_assert_eq64("fchs 2.5", fchs_d(D_2_5), D_M2_5);
    t_assert_eq64("frndint 2.5 (nearest even)", frndint_d(D_2_5), D_2);
    t_assert_eq64("frndint 3.5", frndint_d(D_3_5), D_4);
    t_assert_eq64("fprem 7 mod 3", fprem_d(D_7, D_3), D_1);
    t_assert_eq64("fscale 1.5 * 2^3", fscale_d(D_1_5, D_3), 0x4028000000000000ull);
    t_assert_eq64("st(i) forms", faddp_regs(D_7, D_1_5), D_7);

    /* Single and extended memory formats. */
    uint32_t single = 0x3fc00000, s_out; /* 1.5f */
    uint64_t d_out;
    uint8_t ext[10];
    __asm__ volatile("flds %2\n\tfstl %1\n\tfstps %0" : "=m"(s_out), "=m"(d_out) : "m"(single));
    t_assert_eq("flds/fstps 1.5", s_out, 0x3fc00000);
    t_assert_eq64("flds/fstl 1.5", d_out, D_1_5);
    __asm__ volatile("fldl %1\n\tfstpt %0" : "=m"(ext) : "m"((uint64_t){D_M2_5}));
    uint64_t m;
    memcpy(&m, ext, 8);
    t_assert_eq64("fstpt -2.5 mantissa", m, 0xa000000000000000ull);
    t_assert_eq("fstpt -2.5 sign+exponent", ext[8] | ext[9] << 8, 0xc000);
    __asm__ volatile("fldt %1\n\tfstpl %0" : "=m"(d_out) : "m"(ext));
    t_assert_eq64("fldt -2.5", d_out, D_M2_5);
}

static void test_integers(void)
{
    static const struct {
        const char *name;
        uint16_t rc;
        uint64_t v;
        int32_t want;
    } rounding[] = {
        {"nearest 2.5", 0x000, D_2_5, 2},    {"nearest 3.5", 0x000, D_3_5, 4},
        {"nearest -2.5", 0x000, D_M2_5, -2}, {"down 2.5", 0x400, D_2_5, 2},
        {"down -2.5", 0x400, D_M2_5, -3},    {"up 2.5", 0x800, D_2_5, 3},
        {"up -2.5", 0x800, D_M2_5, -2},      {"chop -2.7", 0xc00, D_M2_7, -2},
        {"chop 3.75", 0xc00, D_3_75, 3},
    };
    for (unsigned i = 0; i < T_ARRAY_SIZE(rounding); i++) {
        int32_t r;
        fldcw(0x037f | rounding[i].rc);
        __asm__ volatile("fldl %1\n\tfistpl %0" : "=m"(r) : "m"(rounding[i].v));
        t_assert_eq(rounding[i].name, (uint32_t)r, (uint32_t)rounding[i].want);
    }
    fldcw(0x037f);

    int16_t i16 = -1234, o16;
    int32_t i32 = 123456789, o32;
    int64_t i64 = 0x0123456789abcdefll, o64;
    __asm__ volatile("filds %1\n\tfistps %0" : "=m"(o16) : "m"(i16));
    t_assert_eq("filds/fistps", (uint16_t)o16, (uint16_t)-1234);
    __asm__ volatile("fildl %1\n\tfistl %0\n\tfstp %%st(0)" : "=m"(o32) : "m"(i32));
    t_assert_eq("fildl/fistl", (uint32_t)o32, 123456789);
    __asm__ volatile("fildll %1\n\tfistpll %0" : "=m"(o64) : "m"(i64));
    t_assert_eq64("fildll/fistpll", (uint64_t)o64, 0x0123456789abcdefull);
    uint64_t d;
    __asm__ volatile("fildl %1\n\tfstpl %0" : "=m"(d) : "m"((int32_t){-1}));
    t_assert_eq64("fildl -1", d, D_M1);

    /* Out of range for 16 bits: masked invalid gives the integer indefinite. */
    __asm__ volatile("fnclex");
    __asm__ volatile("fldl %1\n\tfistps %0" : "=m"(o16) : "m"((uint64_t){0x40e3880000000000ull}));
    t_assert_eq("fistps 40000: indefinite", (uint16_t)o16, 0x8000);
    t_assert_eq("fistps 40000: IE", fnstsw() & SW_IE, SW_IE);
    __asm__ volatile("fnclex");

    /* Packed BCD: 1234567 and -89, and back. */
    uint8_t bcd[10];
    __asm__ volatile("fildl %1\n\tfbstp %0" : "=m"(bcd) : "m"((int32_t){1234567}));
    static const uint8_t want1[10] = {0x67, 0x45, 0x23, 0x01, 0, 0, 0, 0, 0, 0};
    t_assert_mem("fbstp 1234567", bcd, want1, 10);
    __asm__ volatile("fildl %1\n\tfbstp %0" : "=m"(bcd) : "m"((int32_t){-89}));
    static const uint8_t want2[10] = {0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0x80};
    t_assert_mem("fbstp -89", bcd, want2, 10);
    static const uint8_t in[10] = {0x21, 0x43, 0x65, 0x87, 0x09, 0, 0, 0, 0, 0};
    __asm__ volatile("fbld %1\n\tfistpl %0" : "=m"(o32) : "m"(in));
    t_assert_eq("fbld 987654321", (uint32_t)o32, 987654321);
}

static void test_compare(void)
{
    uint16_t sw;
    uint32_t f;
    const uint16_t cc = SW_C0 | SW_C2 | SW_C3;

    __asm__ volatile("fldl %1\n\tfcompl %2\n\tfnstsw %0"
                     : "=a"(sw)
                     : "m"((uint64_t){D_1}), "m"((uint64_t){D_2}));
    t_assert_eq("fcom 1 < 2", sw & cc, SW_C0);
    __asm__ volatile("fldl %1\n\tfcompl %2\n\tfnstsw %0"
                     : "=a"(sw)
                     : "m"((uint64_t){D_2}), "m"((uint64_t){D_1}));
    t_assert_eq("fcom 2 > 1", sw & cc, 0);
    __asm__ volatile("fldl %1\n\tfcompl %2\n\tfnstsw %0"
                     : "=a"(sw)
                     : "m"((uint64_t){D_2}), "m"((uint64_t){D_2}));
    t_assert_eq("fcom 2 = 2", sw & cc, SW_C3);
    __asm__ volatile("fldl %2\n\tfldl %1\n\tfucompp\n\tfnstsw %0"
                     : "=a"(sw)
                     : "m"((uint64_t){D_QNAN}), "m"((uint64_t){D_1}));
    t_assert_eq("fucom NaN unordered", sw & cc, cc);
    t_assert_eq("fucom NaN no IE", sw & SW_IE, 0);
    __asm__ volatile("fninit");

    /* fcomi/fucomi: ZF, PF, CF. */
    __asm__ volatile("fldl %2\n\tfldl %1\n\tfcomip %%st(1), %%st\n\tpushfl\n\tpopl %0\n\t"
                     "fstp %%st(0)"
                     : "=r"(f)
                     : "m"((uint64_t){D_1}), "m"((uint64_t){D_2}));
    t_assert_eq("fcomi 1 < 2", f & (T_ZF | T_PF | T_CF), T_CF);
    __asm__ volatile("fldl %2\n\tfldl %1\n\tfucomip %%st(1), %%st\n\tpushfl\n\tpopl %0\n\t"
                     "fstp %%st(0)"
                     : "=r"(f)
                     : "m"((uint64_t){D_QNAN}), "m"((uint64_t){D_2}));
    t_assert_eq("fucomi NaN", f & (T_ZF | T_PF | T_CF), T_ZF | T_PF | T_CF);

    /* fcmov: ST0 = ST1 when the condition holds. */
    uint64_t r;
    __asm__ volatile("fldl %1\n\tfldl %2\n\tstc\n\tfcmovb %%st(1), %%st\n\tfstpl %0\n\t"
                     "fstp %%st(0)"
                     : "=m"(r)
                     : "m"((uint64_t){D_7}), "m"((uint64_t){D_1})
                     : "cc");
    t_assert_eq64("fcmovb taken", r, D_7);
    __asm__ volatile("fldl %1\n\tfldl %2\n\tclc\n\tfcmovb %%st(1), %%st\n\tfstpl %0\n\t"
                     "fstp %%st(0)"
                     : "=m"(r)
                     : "m"((uint64_t){D_7}), "m"((uint64_t){D_1})
                     : "cc");
    t_assert_eq64("fcmovb not taken", r, D_1);
}

static void test_exceptions(void)
{
    __asm__ volatile("fninit");
    t_assert_eq64("1/0 = +inf", fdiv_d(D_1, D_0), D_INF);
    t_assert_eq("1/0 sets ZE", fnstsw() & (SW_ZE | SW_IE), SW_ZE);
    __asm__ volatile("fnclex");
    t_assert_eq64("sqrt(-1) = indefinite", fsqrt_d(D_M1), D_DEFAULT_NAN);
    t_assert_eq("sqrt(-1) sets IE", fnstsw() & (SW_IE | SW_ZE), SW_IE);
    __asm__ volatile("fnclex");
    fdiv_d(D_1, D_3);
    t_assert_eq("1/3 sets PE", fnstsw() & SW_PE, SW_PE);
    __asm__ volatile("fnclex");
    fadd_d(D_1_5, D_2_25);
    t_assert_eq("exact add sets nothing", fnstsw() & 0x3f, 0);
    /* Overflow and underflow appear when the result is stored as a double. */
    t_assert_eq64("2^1023 * 4 = +inf", fmul_d(D_HUGE, D_4), D_INF);
    t_assert_eq("overflow sets OE and PE", fnstsw() & (SW_OE | SW_PE), SW_OE | SW_PE);
    __asm__ volatile("fnclex");
    fdiv_d(D_TINY, D_3);
    t_assert_eq("underflow sets UE and PE", fnstsw() & (SW_UE | SW_PE), SW_UE | SW_PE);
    __asm__ volatile("fnclex");
    t_assert_eq("fnclex clears", fnstsw() & 0xff, 0);

    /* Precision control: 24-bit significand. */
    fldcw(0x007f);
    t_assert_eq64("PC=single: 1/3", fdiv_d(D_1, D_3), D_THIRD_SINGLE);
    fldcw(0x037f);
}

static void test_environment(void)
{
    uint8_t env[28], save[108], save2[108];
    uint64_t r;

    __asm__ volatile("fninit");
    fldcw(0x0c7f); /* chop, single precision */
    __asm__ volatile("fnstenv %0" : "=m"(env));
    __asm__ volatile("fninit");
    __asm__ volatile("fldenv %0" : : "m"(env));
    t_assert_eq("fldenv restores the control word", fnstcw(), 0x0c7f);
    __asm__ volatile("fninit");

    __asm__ volatile("fldl %0\n\tfldl %1" : : "m"((uint64_t){D_7}), "m"((uint64_t){D_2_5}));
    __asm__ volatile("fnsave %0" : "=m"(save));
    t_assert_eq("fnsave reinitialises", fnstcw(), 0x037f);
    t_assert_eq("fnsave leaves an empty stack", SW_TOP(fnstsw()), 0);
    __asm__ volatile("frstor %0" : : "m"(save));
    __asm__ volatile("fnsave %0" : "=m"(save2));
    /* Control, status and tag words and the registers; the last-instruction
     * and operand pointers are left out, since which instruction they name
     * after frstor differs between implementations. */
    t_assert_mem("fnsave/frstor/fnsave control word", save2, save, 2);
    t_assert_mem("fnsave/frstor/fnsave status word", save2 + 4, save + 4, 2);
    t_assert_mem("fnsave/frstor/fnsave tag word", save2 + 8, save + 8, 2);
    t_assert_mem("fnsave/frstor/fnsave registers", save2 + 28, save + 28, 80);
    __asm__ volatile("frstor %0" : : "m"(save));
    __asm__ volatile("fstpl %0" : "=m"(r));
    t_assert_eq64("frstor ST0", r, D_2_5);
    __asm__ volatile("fstpl %0" : "=m"(r));
    t_assert_eq64("frstor ST1", r, D_7);
}

void test_main(void)
{
    test_init_and_constants();
    test_arith();
    test_integers();
    test_compare();
    test_exceptions();
    test_environment();
}
