/*
 * bcd: daa/das/aaa/aas over every AL with every AF/CF combination (and varied
 * AH), aam/aad with bases 10 (d4 0a / d5 0a) and others (the immediate is a
 * real operand), and the #DE of aam 0. Expected values are hand-worked sums
 * and differences, and the SDM pseudo-code transcribed into C. Flags checked
 * are the defined ones: daa/das all but OF; aaa/aas only AF and CF; aam/aad
 * SF, ZF and PF.
 */
#include "kit.h"

#define BCD(name, insn)                                                                            \
    static uint32_t name(uint32_t eax, uint32_t *f)                                                \
    {                                                                                              \
        __asm__ volatile("pushl %[f]\n\tpopfl\n\t" insn "\n\tpushfl\n\tpopl %[f]"                  \
                         : "+a"(eax), [f] "+r"(*f)                                                 \
                         :                                                                         \
                         : "cc");                                                                  \
        return eax;                                                                                \
    }
BCD(do_daa, "daa")
BCD(do_das, "das")
BCD(do_aaa, "aaa")
BCD(do_aas, "aas")
BCD(aam10, ".byte 0xd4, 10")
BCD(aam16, ".byte 0xd4, 16")
BCD(aam7, ".byte 0xd4, 7")
BCD(aam1, ".byte 0xd4, 1")
BCD(aam255, ".byte 0xd4, 255")
BCD(aad10, ".byte 0xd5, 10")
BCD(aad16, ".byte 0xd5, 16")
BCD(aad7, ".byte 0xd5, 7")
BCD(aad0, ".byte 0xd5, 0")
BCD(aad255, ".byte 0xd5, 255")

typedef uint32_t (*bcd_fn)(uint32_t, uint32_t *);

static uint32_t szp(uint8_t al)
{
    uint32_t p = 1;
    for (uint8_t v = al; v; v >>= 1)
        p ^= v & 1;
    return (al == 0 ? T_ZF : 0) | (al & 0x80 ? T_SF : 0) | (p ? T_PF : 0);
}

/* The SDM's pseudo-code; returns EAX and sets the flags it defines. */
static uint32_t model_daa(uint32_t eax, uint32_t fin, uint32_t *f, int sub)
{
    uint8_t al = eax & 0xff, old_al = al;
    int old_cf = (fin & T_CF) != 0, cf = 0, af = 0;
    if ((al & 0x0f) > 9 || (fin & T_AF)) {
        cf = old_cf || (sub ? al < 6 : al > 0xf9);
        al = (uint8_t)(sub ? al - 6 : al + 6);
        af = 1;
    }
    if (old_al > 0x99 || old_cf) {
        al = (uint8_t)(sub ? al - 0x60 : al + 0x60);
        cf = 1;
    } else if (!sub) {
        cf = 0;
    }
    *f = (cf ? T_CF : 0) | (af ? T_AF : 0) | szp(al);
    return (eax & ~0xffu) | al;
}

static uint32_t model_aaa(uint32_t eax, uint32_t fin, uint32_t *f, int sub)
{
    uint32_t ax = eax & 0xffff;
    if ((ax & 0x0f) > 9 || (fin & T_AF)) {
        /* AX +- 6 (the carry or borrow reaches AH), then AH +- 1. */
        ax = sub ? ax - 6 - 0x100 : ax + 0x106;
        *f = T_AF | T_CF;
    } else {
        *f = 0;
    }
    ax &= 0xff0f;
    return (eax & 0xffff0000) | ax;
}

static uint32_t model_aam(uint32_t eax, uint8_t base, uint32_t *f)
{
    uint8_t al = eax & 0xff, ah = 0;
    /* Repeated subtraction: no DIV in the model. */
    while (al >= base) {
        al -= base;
        ah++;
    }
    *f = szp(al);
    return (eax & 0xffff0000) | (uint32_t)ah << 8 | al;
}

static uint32_t model_aad(uint32_t eax, uint8_t base, uint32_t *f)
{
    uint8_t al = eax & 0xff, ah = (eax >> 8) & 0xff;
    for (int i = 0; i < ah; i++)
        al = (uint8_t)(al + base);
    *f = szp(al);
    return (eax & 0xffff0000) | al;
}

static void hand(const char *name, bcd_fn fn, uint32_t eax, uint32_t fin, uint32_t want,
                 uint32_t want_f, uint32_t mask)
{
    uint32_t f = fin | 2;
    t_assert_eq(name, fn(eax, &f), want);
    t_assert_eq(name, f & mask, want_f);
}

void test_main(void)
{
    const uint32_t daa_mask = T_CF | T_AF | T_SF | T_ZF | T_PF, aaa_mask = T_CF | T_AF,
                   aam_mask = T_SF | T_ZF | T_PF;

    /* 79 + 35 = 0xae -> 114; 35 - 47 = 0xee (borrow) -> 88 with CF. */
    hand("daa 79+35", do_daa, 0xae, 0, 0x14, T_CF | T_AF, T_CF | T_AF);
    hand("das 35-47", do_das, 0xee, T_CF | T_AF, 0x88, T_CF | T_AF | T_SF | T_PF, daa_mask);
    hand("daa 0x99 no adjust", do_daa, 0x99, 0, 0x99, T_SF | T_PF, daa_mask);
    /* 8 + 6 = 0x0e -> AX 0x0104; 0x23 - 5 as AH=2, AL=3-5=0xfe -> AX 0x0108. */
    hand("aaa 8+6", do_aaa, 0x0e, 0, 0x0104, T_CF | T_AF, aaa_mask);
    hand("aas 23-5", do_aas, 0x02fe, T_AF | T_CF, 0x0108, T_CF | T_AF, aaa_mask);
    hand("aaa no adjust clears AL high nibble", do_aaa, 0x1234, T_CF, 0x1204, 0, aaa_mask);
    hand("aam 63", aam10, 0x12340000 | 63, 0, 0x12340603, T_PF, aam_mask);
    hand("aam 16 of 0x3f", aam16, 0x3f, 0, 0x030f, T_PF, aam_mask);
    hand("aad 0603", aad10, 0x0603, 0, 0x3f, T_PF, aam_mask);
    hand("aad 16 of 0305", aad16, 0x0305, 0, 0x35, T_PF, aam_mask);
    hand("aad 10 of 0x0a00 wraps", aad10, 0x0a00, 0, 0x64, 0, aam_mask);

    /* aam 0 divides by zero: #DE at the aam, AX unchanged. */
    uint32_t eax = 0x1234, at;
    t_catch(0);
    __asm__ volatile("movl $1f, t_resume_eip\n\tmovl $2f, %1\n2:\t.byte 0xd4, 0\n1:"
                     : "+a"(eax), "=r"(at)
                     :
                     : "cc", "memory");
    t_assert_eq("aam 0: #DE taken", t_trap.count, 1);
    t_assert_eq("aam 0: vector", t_trap.vector, 0);
    t_assert_eq("aam 0: EIP at the aam", t_trap.eip, at);
    t_assert_eq("aam 0: AX unchanged", eax, 0x1234);

    /* Every AL, AF, CF; a different AH each time. */
    for (uint32_t al = 0; al < 256; al++)
        for (uint32_t fl = 0; fl < 4; fl++) {
            uint32_t fin =
                (fl & 1 ? T_CF : 0) | (fl & 2 ? T_AF : 0) | (t_rand() & T_ARITH & ~(T_CF | T_AF));
            uint32_t in = (t_rand() & 0xffff0000) | (t_rand() & 0xff00) | al;
            static const struct {
                const char *name;
                bcd_fn fn;
                int kind, sub;
            } ops[] = {{"daa", do_daa, 0, 0},
                       {"das", do_das, 0, 1},
                       {"aaa", do_aaa, 1, 0},
                       {"aas", do_aas, 1, 1}};
            for (unsigned i = 0; i < T_ARRAY_SIZE(ops); i++) {
                uint32_t want_f, got_f = fin | 2, mask = ops[i].kind ? aaa_mask : daa_mask;
                uint32_t want = ops[i].kind ? model_aaa(in, fin, &want_f, ops[i].sub)
                                            : model_daa(in, fin, &want_f, ops[i].sub);
                uint32_t got = ops[i].fn(in, &got_f);
                if (!t_assert_eq(ops[i].name, got, want) ||
                    !t_assert_eq(ops[i].name, got_f & mask, want_f & mask))
                    t_printf("  eax in 0x%08x flags in 0x%03x\n", in, fin);
            }
        }

    static const struct {
        const char *name;
        bcd_fn fn;
        uint8_t base;
        int aad;
    } adj[] = {
        {"aam 10", aam10, 10, 0},    {"aam 16", aam16, 16, 0},    {"aam 7", aam7, 7, 0},
        {"aam 1", aam1, 1, 0},       {"aam 255", aam255, 255, 0}, {"aad 10", aad10, 10, 1},
        {"aad 16", aad16, 16, 1},    {"aad 7", aad7, 7, 1},       {"aad 0", aad0, 0, 1},
        {"aad 255", aad255, 255, 1},
    };
    for (unsigned i = 0; i < T_ARRAY_SIZE(adj); i++)
        for (uint32_t ax = 0; ax < 0x10000; ax += 0x35) {
            uint32_t in = (t_rand() & 0xffff0000) | ax, want_f, got_f = (t_rand() & T_ARITH) | 2;
            uint32_t want = adj[i].aad ? model_aad(in, adj[i].base, &want_f)
                                       : model_aam(in, adj[i].base, &want_f);
            uint32_t got = adj[i].fn(in, &got_f);
            if (!t_assert_eq(adj[i].name, got, want) ||
                !t_assert_eq(adj[i].name, got_f & aam_mask, want_f))
                t_printf("  eax in 0x%08x\n", in);
        }
}
