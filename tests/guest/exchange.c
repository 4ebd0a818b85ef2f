/*
 * exchange: xchg (register pairs, with memory, the one-byte eax forms, 8/16/32
 * bits), cmpxchg at each width in its equal and unequal cases (flags as CMP of
 * the accumulator with the destination), cmpxchg8b both ways, xadd with
 * registers and memory (flags as ADD), the LOCK-prefixed memory forms, bswap
 * on every register, and xlat (plain, with a segment override, and with the
 * 16-bit address size that indexes with BX). Expected values are worked out by
 * hand from the definitions.
 */
#include "kit.h"

static uint8_t table[256];
static uint8_t seg_table[256] __attribute__((aligned(16)));
#define SEG_SEL (T_GDT_SPARE << 3)
uint32_t bswap_out;

static void test_xchg(void)
{
    uint32_t a = 0x11111111, b = 0x22222222, m = 0x33333333;
    __asm__ volatile("xchgl %0, %1" : "+r"(a), "+r"(b));
    t_assert_eq("xchg r,r a", a, 0x22222222);
    t_assert_eq("xchg r,r b", b, 0x11111111);
    __asm__ volatile("xchgl %0, %1" : "+r"(a), "+m"(m));
    t_assert_eq("xchg r,m reg", a, 0x33333333);
    t_assert_eq("xchg r,m mem", m, 0x22222222);
    a = 0xaaaa1234;
    b = 0xbbbb5678;
    __asm__ volatile("xchgw %w0, %w1" : "+r"(a), "+r"(b));
    t_assert_eq("xchgw a", a, 0xaaaa5678);
    t_assert_eq("xchgw b", b, 0xbbbb1234);
    a = 0x000000aa;
    b = 0x0000bb00;
    __asm__ volatile("xchgb %b0, %h1" : "+q"(a), "+Q"(b)); /* al <-> bh style */
    t_assert_eq("xchgb low/high a", a, 0xbb);
    t_assert_eq("xchgb low/high b", b, 0xaa00);
    a = 1;
    b = 2;
    __asm__ volatile(".byte 0x93" : "+a"(a), "+b"(b)); /* xchg eax, ebx (90+r) */
    t_assert_eq("xchg eax,ebx short a", a, 2);
    t_assert_eq("xchg eax,ebx short b", b, 1);
    a = 5;
    __asm__ volatile(".byte 0x90" : "+a"(a)); /* xchg eax, eax is nop */
    t_assert_eq("nop", a, 5);
}

static void test_cmpxchg(void)
{
    uint32_t acc, dst, src, f;

    /* Equal: destination := source, ZF = 1. */
    acc = 100, dst = 100, src = 7;
    __asm__ volatile("cmpxchgl %3, %1; pushfl; popl %2"
                     : "+a"(acc), "+m"(dst), "=r"(f)
                     : "r"(src)
                     : "cc");
    t_assert_eq("cmpxchg equal dst", dst, 7);
    t_assert_eq("cmpxchg equal acc", acc, 100);
    t_assert_eq("cmpxchg equal flags", f & T_ARITH, T_ZF | T_PF);
    /* Unequal: accumulator := destination, flags of acc - dst (5 - 9). */
    acc = 5, dst = 9, src = 7;
    __asm__ volatile("cmpxchgl %3, %1; pushfl; popl %2"
                     : "+a"(acc), "+r"(dst), "=r"(f)
                     : "r"(src)
                     : "cc");
    t_assert_eq("cmpxchg unequal dst", dst, 9);
    t_assert_eq("cmpxchg unequal acc", acc, 9);
    t_assert_eq("cmpxchg unequal flags", f & T_ARITH, T_CF | T_PF | T_AF | T_SF);
    acc = 0xffff0001, dst = 0x12340001, src = 0xabcd;
    __asm__ volatile("lock cmpxchgw %w2, %1" : "+a"(acc), "+m"(dst) : "r"(src) : "cc");
    t_assert_eq("lock cmpxchgw equal dst", dst, 0x1234abcd);
    acc = 0x11111180;
    dst = 0x22222281;
    __asm__ volatile("cmpxchgb %b3, %b1; pushfl; popl %0"
                     : "=r"(f), "+q"(dst), "+a"(acc)
                     : "q"(src)
                     : "cc");
    t_assert_eq("cmpxchgb unequal acc", acc, 0x11111181);
    t_assert_eq("cmpxchgb unequal flags", f & T_ARITH, T_CF | T_AF | T_SF | T_PF);

    /* cmpxchg8b: EDX:EAX against m64; equal stores ECX:EBX. */
    volatile uint64_t m64 = 0x1122334455667788ull;
    uint32_t lo = 0x55667788, hi = 0x11223344;
    __asm__ volatile("lock cmpxchg8b %2; pushfl; popl %3"
                     : "+a"(lo), "+d"(hi), "+m"(m64), "=r"(f)
                     : "b"(0xcafef00d), "c"(0xdeadbeef)
                     : "cc");
    t_assert_eq64("cmpxchg8b equal stores", m64, 0xdeadbeefcafef00dull);
    t_assert_eq("cmpxchg8b equal ZF", f & T_ZF, T_ZF);
    lo = 0, hi = 0;
    __asm__ volatile("cmpxchg8b %2; pushfl; popl %3"
                     : "+a"(lo), "+d"(hi), "+m"(m64), "=r"(f)
                     : "b"(1), "c"(2)
                     : "cc");
    t_assert_eq64("cmpxchg8b unequal keeps memory", m64, 0xdeadbeefcafef00dull);
    t_assert_eq("cmpxchg8b unequal eax", lo, 0xcafef00d);
    t_assert_eq("cmpxchg8b unequal edx", hi, 0xdeadbeef);
    t_assert_eq("cmpxchg8b unequal ZF", f & T_ZF, 0);
}

static void test_xadd(void)
{
    uint32_t a = 0x7fffffff, b = 1, f, m = 40;
    __asm__ volatile("xaddl %1, %0; pushfl; popl %2" : "+r"(a), "+r"(b), "=r"(f) : : "cc");
    t_assert_eq("xadd sum", a, 0x80000000);
    t_assert_eq("xadd old", b, 0x7fffffff);
    t_assert_eq("xadd flags", f & T_ARITH, T_OF | T_SF | T_AF | T_PF);
    b = 2;
    __asm__ volatile("lock xaddl %1, %0" : "+m"(m), "+r"(b) : : "cc");
    t_assert_eq("lock xadd mem", m, 42);
    t_assert_eq("lock xadd old", b, 40);
    a = 0xaaaaffff;
    b = 0xbbbb0001;
    __asm__ volatile("xaddw %w1, %w0; pushfl; popl %2" : "+r"(a), "+r"(b), "=r"(f) : : "cc");
    t_assert_eq("xaddw sum", a, 0xaaaa0000);
    t_assert_eq("xaddw old", b, 0xbbbbffff);
    t_assert_eq("xaddw flags", f & T_ARITH, T_CF | T_ZF | T_AF | T_PF);
    a = 0x10;
    b = 0x20;
    __asm__ volatile("xaddb %b1, %b0" : "+q"(a), "+q"(b) : : "cc");
    t_assert_eq("xaddb sum", a, 0x30);
    t_assert_eq("xaddb old", b, 0x10);
}

#define BSWAP(reg)                                                                                 \
    do {                                                                                           \
        uint32_t v = 0x12345678;                                                                   \
        __asm__ volatile("xchgl %0, %%" reg "\n\tbswap %%" reg "\n\txchgl %0, %%" reg : "+r"(v));  \
        t_assert_eq("bswap " reg, v, 0x78563412);                                                  \
    } while (0)

static void test_bswap_xlat(void)
{
    uint32_t v = 0x12345678;
    __asm__ volatile("bswap %0" : "+r"(v));
    t_assert_eq("bswap", v, 0x78563412);
    BSWAP("eax");
    BSWAP("ebx");
    BSWAP("ecx");
    BSWAP("edx");
    BSWAP("esi");
    BSWAP("edi");
    /* EBP and ESP: swap and swap back in one asm, the value kept in memory. */
    __asm__ volatile("movl %%ebp, %%edx\n\t"
                     "movl $0x01020304, %%ebp\n\tbswap %%ebp\n\tmovl %%ebp, bswap_out\n\t"
                     "movl %%edx, %%ebp"
                     :
                     :
                     : "edx", "memory");
    t_assert_eq("bswap ebp", bswap_out, 0x04030201);
    uint32_t sp;
    __asm__ volatile("movl %%esp, %0\n\tbswap %%esp\n\tmovl %%esp, bswap_out\n\tbswap %%esp"
                     : "=r"(sp)
                     :
                     : "memory");
    t_assert_eq("bswap esp", bswap_out,
                sp << 24 | (sp & 0xff00) << 8 | (sp >> 8 & 0xff00) | sp >> 24);

    for (int i = 0; i < 256; i++) {
        table[i] = (uint8_t)(255 - i);
        seg_table[i] = (uint8_t)(i ^ 0x5a);
    }
    uint32_t a = 0x12345610;
    __asm__ volatile("xlatb" : "+a"(a) : "b"(table));
    t_assert_eq("xlat", a, 0x123456ef);
    a = 0xff;
    __asm__ volatile("xlatb" : "+a"(a) : "b"(table));
    t_assert_eq("xlat index ff (unsigned)", a, 0x00);
    t_gdt_set(SEG_SEL >> 3, (uint32_t)seg_table, 0xffff, T_ACC_DATA, T_FLG_16);
    a = 0x21;
    __asm__ volatile("movl %2, %%fs\n\tfs xlatb\n\tmovl %3, %%fs"
                     : "+a"(a)
                     : "b"(0), "r"(SEG_SEL), "r"(T_SEL_DATA32));
    t_assert_eq("fs: xlat", a, 0x21 ^ 0x5a);
    /* 16-bit address size: BX only (upper half of EBX ignored). */
    a = 0x03;
    __asm__ volatile("movl %2, %%fs\n\tfs addr16 xlatb\n\tmovl %3, %%fs"
                     : "+a"(a)
                     : "b"(0x77770010), "r"(SEG_SEL), "r"(T_SEL_DATA32));
    t_assert_eq("fs: addr16 xlat", a, 0x13 ^ 0x5a);
}

void test_main(void)
{
    test_xchg();
    test_cmpxchg();
    test_xadd();
    test_bswap_xlat();
}
