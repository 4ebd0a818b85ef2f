/*
 * Integer arithmetic for the interpreter, done by the host CPU: each
 * operation loads the guest's status flags into host RFLAGS (popfq), runs the
 * very same instruction on the operand values, and captures RFLAGS (pushfq).
 * The results and every flag, including the ones the manuals call undefined
 * (shift OF with counts above 1, AF after logic ops, BT's SF/ZF/PF...), are
 * therefore exactly what the host CPU computes; the same instructions run
 * natively in the translation cache, so the guest cannot tell interpreted
 * from translated code apart. Only status flags go in and out: DF, TF, AC and
 * the rest of the host image never change here.
 *
 * pushfq writes below RSP, where the compiler may keep a leaf function's
 * locals (the red zone); every sequence steps 128 bytes down first.
 */
#include "bt/interp-internal.h"

/* Operands: d (destination, in/out), s (source), f (RFLAGS image, in/out). */
#define HOST_ASM(insn, ...)                                                                        \
    __asm__("sub $128, %%rsp\n\t"                                                                  \
            "push %[f]\n\t"                                                                        \
            "popfq\n\t" insn "\n\t"                                                                \
            "pushfq\n\t"                                                                           \
            "pop %[f]\n\t"                                                                         \
            "add $128, %%rsp"                                                                      \
            : [d] "+r"(d), [f] "+r"(f)                                                             \
            : __VA_ARGS__                                                                          \
            : "cc")

#define HOST_RR(insn) HOST_ASM(insn, [s] "r"(s))
#define HOST_CL(insn) HOST_ASM(insn, [s] "c"(cnt))
#define HOST_R(insn) HOST_ASM(insn, [s] "i"(0))

/* Everything that exists at every operand size. */
#define COMMON_CASES                                                                               \
    case ALU_ADD:                                                                                  \
        HOST_RR("add %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_OR:                                                                                   \
        HOST_RR("or %[s], %[d]");                                                                  \
        break;                                                                                     \
    case ALU_ADC:                                                                                  \
        HOST_RR("adc %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_SBB:                                                                                  \
        HOST_RR("sbb %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_AND:                                                                                  \
        HOST_RR("and %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_SUB:                                                                                  \
        HOST_RR("sub %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_XOR:                                                                                  \
        HOST_RR("xor %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_CMP:                                                                                  \
        HOST_RR("cmp %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_TEST:                                                                                 \
        HOST_RR("test %[s], %[d]");                                                                \
        break;                                                                                     \
    case ALU_INC:                                                                                  \
        HOST_R("inc %[d]");                                                                        \
        break;                                                                                     \
    case ALU_DEC:                                                                                  \
        HOST_R("dec %[d]");                                                                        \
        break;                                                                                     \
    case ALU_NOT:                                                                                  \
        HOST_R("not %[d]");                                                                        \
        break;                                                                                     \
    case ALU_NEG:                                                                                  \
        HOST_R("neg %[d]");                                                                        \
        break;                                                                                     \
    case ALU_ROL:                                                                                  \
        HOST_CL("rol %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_ROR:                                                                                  \
        HOST_CL("ror %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_RCL:                                                                                  \
        HOST_CL("rcl %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_RCR:                                                                                  \
        HOST_CL("rcr %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_SHL:                                                                                  \
        HOST_CL("shl %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_SHR:                                                                                  \
        HOST_CL("shr %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_SAR:                                                                                  \
        HOST_CL("sar %[s], %[d]");                                                                 \
        break;

/* The bit tests and scans have no byte form. BSF/BSR with a zero source leave the destination
 * as it was on the host, so d carries the guest's old value in. */
#define BT_CASES                                                                                   \
    case ALU_BT:                                                                                   \
        HOST_RR("bt %[s], %[d]");                                                                  \
        break;                                                                                     \
    case ALU_BTS:                                                                                  \
        HOST_RR("bts %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_BTR:                                                                                  \
        HOST_RR("btr %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_BTC:                                                                                  \
        HOST_RR("btc %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_BSF:                                                                                  \
        HOST_RR("bsf %[s], %[d]");                                                                 \
        break;                                                                                     \
    case ALU_BSR:                                                                                  \
        HOST_RR("bsr %[s], %[d]");                                                                 \
        break;

static uint32_t alu8(enum alu_op op, uint8_t d, uint8_t s, uint64_t *pf)
{
    uint64_t f = *pf;
    uint8_t cnt = s;

    switch (op) {
    COMMON_CASES
    default:
        break;
    }
    *pf = f;
    return d;
}

static uint32_t alu16(enum alu_op op, uint16_t d, uint16_t s, uint64_t *pf)
{
    uint64_t f = *pf;
    uint8_t cnt = (uint8_t)s;

    switch (op) {
    COMMON_CASES
    BT_CASES
    default:
        break;
    }
    *pf = f;
    return d;
}

static uint32_t alu32(enum alu_op op, uint32_t d, uint32_t s, uint64_t *pf)
{
    uint64_t f = *pf;
    uint8_t cnt = (uint8_t)s;

    switch (op) {
    COMMON_CASES
    BT_CASES
    default:
        break;
    }
    *pf = f;
    return d;
}

uint32_t alu(enum alu_op op, unsigned size, uint32_t a, uint32_t b, uint64_t *rflags)
{
    /* Nothing but the guest's status flags reaches the host: no TF, no AC, no DF games. */
    uint64_t f = (*rflags & EFL_STATUS) | 0x202;
    uint32_t r;

    if (size == 1)
        r = alu8(op, (uint8_t)a, (uint8_t)b, &f);
    else if (size == 2)
        r = alu16(op, (uint16_t)a, (uint16_t)b, &f);
    else
        r = alu32(op, a, b, &f);
    *rflags = (*rflags & ~(uint64_t)EFL_STATUS) | (f & EFL_STATUS);
    return r;
}

uint32_t alu_szp(unsigned size, uint32_t v)
{
    uint32_t f = 0;

    v &= ix_mask(size);
    if (!v)
        f |= EFL_ZF;
    if (v >> (size * 8 - 1))
        f |= EFL_SF;
    if (!__builtin_parity(v & 0xff))
        f |= EFL_PF;
    return f;
}

bool alu_cond(unsigned cc, uint32_t f)
{
    bool cf = f & EFL_CF, zf = f & EFL_ZF, sf = f & EFL_SF, of = f & EFL_OF, pf = f & EFL_PF;
    bool r;

    switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = cf; break;
    case 2: r = zf; break;
    case 3: r = cf || zf; break;
    case 4: r = sf; break;
    case 5: r = pf; break;
    case 6: r = sf != of; break;
    default: r = zf || sf != of; break;
    }
    return (cc & 1) ? !r : r;
}

/* One-operand multiply and divide: (E)DX:(E)AX, or AX for bytes, against src. */
#define HOST_AD(insn, LT, ST)                                                                      \
    do {                                                                                           \
        LT lo = (LT)*ax, hi = (LT)*dx;                                                             \
        ST s = (ST)src;                                                                            \
        __asm__("sub $128, %%rsp\n\t"                                                              \
                "push %[f]\n\t"                                                                    \
                "popfq\n\t" insn " %[s]\n\t"                                                       \
                "pushfq\n\t"                                                                       \
                "pop %[f]\n\t"                                                                     \
                "add $128, %%rsp"                                                                  \
                : "+a"(lo), "+d"(hi), [f] "+r"(f)                                                  \
                : [s] "r"(s)                                                                       \
                : "cc");                                                                           \
        *ax = lo;                                                                                  \
        *dx = hi;                                                                                  \
    } while (0)

#define MULDIV_SIZE(LT, ST)                                                                        \
    switch (op) {                                                                                  \
    case ALU_MUL:                                                                                  \
        HOST_AD("mul", LT, ST);                                                                    \
        break;                                                                                     \
    case ALU_IMUL:                                                                                 \
        HOST_AD("imul", LT, ST);                                                                   \
        break;                                                                                     \
    case ALU_DIV:                                                                                  \
        HOST_AD("div", LT, ST);                                                                    \
        break;                                                                                     \
    default:                                                                                       \
        HOST_AD("idiv", LT, ST);                                                                   \
        break;                                                                                     \
    }

bool alu_div_ok(enum alu_op op, unsigned size, uint32_t ax, uint32_t dx, uint32_t src)
{
    unsigned bits = size * 8;
    uint64_t n = size == 1 ? (ax & 0xffff) : ((uint64_t)(dx & ix_mask(size)) << bits) |
                                                 (ax & ix_mask(size));

    src &= ix_mask(size);
    if (!src)
        return false;
    if (op == ALU_DIV)
        return n / src <= ix_mask(size);
    /* Signed: sign-extend the 2n-bit dividend and the divisor, then check the quotient's range. */
    int64_t sn = (int64_t)(n << (64 - 2 * bits)) >> (64 - 2 * bits);
    int64_t ss = (int64_t)((uint64_t)src << (64 - bits)) >> (64 - bits);
    if (ss == -1 && sn == INT64_MIN)
        return false; /* the one quotient C cannot compute either */
    int64_t q = sn / ss;
    return q >= -(1ll << (bits - 1)) && q < (1ll << (bits - 1));
}

void alu_muldiv(enum alu_op op, unsigned size, uint32_t *ax, uint32_t *dx, uint32_t src,
                uint64_t *rflags)
{
    uint64_t f = (*rflags & EFL_STATUS) | 0x202;

    if (size == 1) {
        MULDIV_SIZE(uint16_t, uint8_t);
    } else if (size == 2) {
        MULDIV_SIZE(uint16_t, uint16_t);
    } else {
        MULDIV_SIZE(uint32_t, uint32_t);
    }
    *rflags = (*rflags & ~(uint64_t)EFL_STATUS) | (f & EFL_STATUS);
}

uint32_t alu_imul2(unsigned size, uint32_t a, uint32_t b, uint64_t *rflags)
{
    uint64_t f = (*rflags & EFL_STATUS) | 0x202;

    if (size == 2) {
        uint16_t d = (uint16_t)a, s = (uint16_t)b;
        HOST_RR("imul %[s], %[d]");
        a = d;
    } else {
        uint32_t d = a, s = b;
        HOST_RR("imul %[s], %[d]");
        a = d;
    }
    *rflags = (*rflags & ~(uint64_t)EFL_STATUS) | (f & EFL_STATUS);
    return a;
}

/* SHLD/SHRD: d shifted by cnt with bits from s coming in. */
uint32_t alu_shd(bool left, unsigned size, uint32_t dst, uint32_t src, uint8_t cnt,
                 uint64_t *rflags)
{
    uint64_t f = (*rflags & EFL_STATUS) | 0x202;

    if (size == 2) {
        uint16_t d = (uint16_t)dst, s = (uint16_t)src;
        if (left)
            HOST_ASM("shld %[c], %[s], %[d]", [s] "r"(s), [c] "c"(cnt));
        else
            HOST_ASM("shrd %[c], %[s], %[d]", [s] "r"(s), [c] "c"(cnt));
        dst = d;
    } else {
        uint32_t d = dst, s = src;
        if (left)
            HOST_ASM("shld %[c], %[s], %[d]", [s] "r"(s), [c] "c"(cnt));
        else
            HOST_ASM("shrd %[c], %[s], %[d]", [s] "r"(s), [c] "c"(cnt));
        dst = d;
    }
    *rflags = (*rflags & ~(uint64_t)EFL_STATUS) | (f & EFL_STATUS);
    return dst;
}
