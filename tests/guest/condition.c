/*
 * condition: the sixteen condition codes through setcc, cmovcc (32-bit
 * register, 16-bit memory) and jcc (rel8 and rel32 encodings), for all 32
 * combinations of CF/PF/ZF/SF/OF with AF toggled along; setcc must write only
 * its byte, a false cmov must leave its destination alone. Then loop, loope,
 * loopne, jecxz and their 16-bit-address forms (0x67: CX is the counter and
 * the upper half of ECX is kept). The expected truth of each condition is the
 * SDM's table in C.
 */
#include "kit.h"

struct cc_out {
    uint32_t set, cmov, cmovw, jshort, jnear;
};

static const uint16_t cmov_src = 0x5555;

#define CC(cc, opcode)                                                                             \
    static void run_##cc(uint32_t flags, struct cc_out *o)                                         \
    {                                                                                              \
        uint32_t s = 0x12345600, c, t, w = 0xaaaa0000, j;                                          \
        __asm__ volatile("pushl %[f]\n\tpopfl\n\t"                                                 \
                         "set" #cc " %b[s]\n\t"                                                    \
                         "movl $1, %[c]\n\tmovl $2, %[t]\n\t"                                      \
                         "cmov" #cc "l %[t], %[c]\n\t"                                             \
                         "cmov" #cc "w %[m], %w[w]\n\t"                                            \
                         "j" #cc " 1f\n\tmovl $0, %[j]\n\tjmp 2f\n"                                \
                         "1:\tmovl $1, %[j]\n"                                                     \
                         "2:"                                                                      \
                         : [s] "+q"(s), [c] "=&r"(c), [t] "=&r"(t), [w] "+r"(w), [j] "=&r"(j)      \
                         : [f] "r"(flags), [m] "m"(cmov_src)                                       \
                         : "cc");                                                                  \
        o->set = s;                                                                                \
        o->cmov = c;                                                                               \
        o->cmovw = w;                                                                              \
        o->jshort = j;                                                                             \
        /* The 0f 8x rel32 encoding, spelled out so the assembler cannot shrink it. */             \
        __asm__ volatile("pushl %[f]\n\tpopfl\n\t"                                                 \
                         ".byte 0x0f, 0x80 + " #opcode "\n\t.long 1f - . - 4\n\t"                  \
                         "movl $0, %[j]\n\tjmp 2f\n"                                               \
                         "1:\tmovl $1, %[j]\n"                                                     \
                         "2:"                                                                      \
                         : [j] "=&r"(j)                                                            \
                         : [f] "r"(flags)                                                          \
                         : "cc");                                                                  \
        o->jnear = j;                                                                              \
    }

CC(o, 0)
CC(no, 1)
CC(b, 2)
CC(ae, 3)
CC(e, 4)
CC(ne, 5)
CC(be, 6)
CC(a, 7)
CC(s, 8)
CC(ns, 9)
CC(p, 10)
CC(np, 11)
CC(l, 12)
CC(ge, 13)
CC(le, 14)
CC(g, 15)

static void (*const runs[16])(uint32_t, struct cc_out *) = {
    run_o, run_no, run_b, run_ae, run_e, run_ne, run_be, run_a,
    run_s, run_ns, run_p, run_np, run_l, run_ge, run_le, run_g,
};
static const char *const names[16] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                                      "s", "ns", "p", "np", "l", "ge", "le", "g"};

static int truth(int cc, uint32_t f)
{
    int cf = !!(f & T_CF), pf = !!(f & T_PF), zf = !!(f & T_ZF), sf = !!(f & T_SF),
        of = !!(f & T_OF), r;
    switch (cc >> 1) {
    case 0:
        r = of;
        break;
    case 1:
        r = cf;
        break;
    case 2:
        r = zf;
        break;
    case 3:
        r = cf || zf;
        break;
    case 4:
        r = sf;
        break;
    case 5:
        r = pf;
        break;
    case 6:
        r = sf != of;
        break;
    default:
        r = zf || sf != of;
        break;
    }
    return (cc & 1) ? !r : r;
}

static void test_conditions(void)
{
    static const uint32_t bits[5] = {T_CF, T_PF, T_ZF, T_SF, T_OF};
    for (uint32_t combo = 0; combo < 64; combo++) {
        uint32_t f = 2 | (combo & 32 ? T_AF : 0);
        for (int i = 0; i < 5; i++)
            if (combo & (1u << i))
                f |= bits[i];
        for (int cc = 0; cc < 16; cc++) {
            struct cc_out o;
            int want = truth(cc, f);
            runs[cc](f, &o);
            if (!t_assert_eq(names[cc], o.set, 0x12345600 | want) ||
                !t_assert_eq(names[cc], o.cmov, want ? 2 : 1) ||
                !t_assert_eq(names[cc], o.cmovw, want ? 0xaaaa5555 : 0xaaaa0000) ||
                !t_assert_eq(names[cc], o.jshort, want) || !t_assert_eq(names[cc], o.jnear, want))
                t_printf("  condition %s, flags 0x%03x\n", names[cc], f);
        }
    }
}

static void test_loops(void)
{
    uint32_t ecx, n, flag;

    /* loop: runs the body ECX times. */
    ecx = 5;
    n = 0;
    __asm__ volatile("1:\tincl %1\n\tloop 1b" : "+c"(ecx), "+r"(n) : : "cc");
    t_assert_eq("loop count", n, 5);
    t_assert_eq("loop ecx", ecx, 0);
    /* loope stops when ZF clears: compare n with 3 each round. */
    ecx = 10;
    n = 0;
    __asm__ volatile("1:\tincl %1\n\tcmpl $3, %1\n\tsetb %%al\n\tcmpb $1, %%al\n\tloope 1b"
                     : "+c"(ecx), "+r"(n)
                     :
                     : "eax", "cc");
    t_assert_eq("loope count", n, 3);
    t_assert_eq("loope ecx", ecx, 7);
    /* loopne stops when ZF sets. */
    ecx = 10;
    n = 0;
    __asm__ volatile("1:\tincl %1\n\tcmpl $4, %1\n\tloopne 1b" : "+c"(ecx), "+r"(n) : : "cc");
    t_assert_eq("loopne count", n, 4);
    t_assert_eq("loopne ecx", ecx, 6);
    /* loop does not touch the flags. */
    ecx = 2;
    __asm__ volatile("stc\n1:\tloop 1b\n\tsetc %b1" : "+c"(ecx), "=q"(flag) : : "cc");
    t_assert_eq("loop keeps CF", flag & 0xff, 1);

    /* jecxz / jcxz. */
    ecx = 0;
    __asm__ volatile("movl $0, %1\n\tjecxz 1f\n\tmovl $1, %1\n1:" : "+c"(ecx), "=&r"(flag));
    t_assert_eq("jecxz taken", flag, 0);
    ecx = 0x10000;
    __asm__ volatile("movl $0, %1\n\tjecxz 1f\n\tmovl $1, %1\n1:" : "+c"(ecx), "=&r"(flag));
    t_assert_eq("jecxz not taken", flag, 1);
    ecx = 0x10000;
    __asm__ volatile("movl $0, %1\n\taddr16 jecxz 1f\n\tmovl $1, %1\n1:" : "+c"(ecx), "=&r"(flag));
    t_assert_eq("jcxz (0x67) sees CX = 0", flag, 0);
    /* 0x67 loop counts in CX only: 0x30002 runs twice and leaves 0x30000. */
    ecx = 0x30002;
    n = 0;
    __asm__ volatile("1:\tincl %1\n\taddr16 loop 1b" : "+c"(ecx), "+r"(n) : : "cc");
    t_assert_eq("addr16 loop count", n, 2);
    t_assert_eq("addr16 loop ecx", ecx, 0x30000);
}

void test_main(void)
{
    test_conditions();
    test_loops();
}
