/*
 * mmx_sse: MMX, SSE and SSE2 with memory operands. The test first enables
 * CR4.OSFXSR and CR4.OSXMMEXCPT (without them SSE raises #UD). MMX: the
 * packed add/subtract families with wrap-around and both saturations,
 * multiplies, compares, packs, unpacks, shifts by immediate and by register,
 * logic, movd/movq, and emms emptying the x87 tag word. SSE: packed single
 * add/mul/div/sqrt/min/max/compare, conversions, shuffles, unaligned moves,
 * MXCSR (default value, rounding control, masked divide-by-zero flag). SSE2:
 * packed double, 64-bit integer adds, pmuludq, psadbw, pshufd, byte shifts of
 * the whole register, conversions. Finally an fxsave/fxrstor round trip of
 * x87, MXCSR and all eight XMM registers. Every expected value is a bit
 * pattern worked out by hand.
 */
#include "kit.h"

typedef struct {
    uint32_t v[4];
} __attribute__((aligned(16))) x128;

x128 xa, xb, xr; /* named in asm, so not static */
uint64_t ma, mb, mr;

/* MMX: mr = ma OP mb, the source operand in memory. */
#define MMX(name, insn)                                                                            \
    static uint64_t name(uint64_t a, uint64_t b)                                                   \
    {                                                                                              \
        ma = a;                                                                                    \
        mb = b;                                                                                    \
        __asm__ volatile("movq ma, %%mm0\n\t" insn " mb, %%mm0\n\tmovq %%mm0, mr" : : : "memory"); \
        return mr;                                                                                 \
    }
MMX(paddb, "paddb")
MMX(paddsb, "paddsb")
MMX(paddusb, "paddusb")
MMX(paddw, "paddw")
MMX(paddd, "paddd")
MMX(psubb, "psubb")
MMX(pmullw, "pmullw")
MMX(pmulhw, "pmulhw")
MMX(pmaddwd, "pmaddwd")
MMX(pcmpeqb, "pcmpeqb")
MMX(pcmpgtw, "pcmpgtw")
MMX(packsswb, "packsswb")
MMX(packuswb, "packuswb")
MMX(punpcklbw, "punpcklbw")
MMX(punpckhdq, "punpckhdq")
MMX(psrlq, "psrlq")
MMX(pand, "pand")
MMX(pandn, "pandn")
MMX(por, "por")
MMX(pxor, "pxor")

static uint64_t mmx_imm_shifts(uint64_t a, int which)
{
    ma = a;
    if (which == 0)
        __asm__ volatile("movq ma, %%mm1\n\tpsllw $4, %%mm1\n\tmovq %%mm1, mr" : : : "memory");
    else
        __asm__ volatile("movq ma, %%mm7\n\tpsraw $4, %%mm7\n\tmovq %%mm7, mr" : : : "memory");
    return mr;
}

/* SSE/SSE2: xr = xa OP xb, the source operand in (aligned) memory. */
#define XMM(name, insn)                                                                            \
    static void name(void)                                                                         \
    {                                                                                              \
        __asm__ volatile("movdqa xa, %%xmm1\n\t" insn " xb, %%xmm1\n\tmovdqa %%xmm1, xr"           \
                         :                                                                         \
                         :                                                                         \
                         : "memory");                                                              \
    }
XMM(addps, "addps")
XMM(mulps, "mulps")
XMM(divps, "divps")
XMM(sqrtps, "sqrtps")
XMM(minps, "minps")
XMM(maxps, "maxps")
XMM(cmpltps, "cmpltps")
XMM(shufps, "shufps $0x1b,")
XMM(unpcklps, "unpcklps")
XMM(addpd, "addpd")
XMM(mulpd, "mulpd")
XMM(sqrtpd, "sqrtpd")
XMM(paddq, "paddq")
XMM(pmuludq, "pmuludq")
XMM(psadbw, "psadbw")
XMM(pshufd, "pshufd $0x1b,")
XMM(cvtdq2pd, "cvtdq2pd")
XMM(pcmpeqd, "pcmpeqd")
XMM(punpcklqdq, "punpcklqdq")

static void set4(x128 *x, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    x->v[0] = a;
    x->v[1] = b;
    x->v[2] = c;
    x->v[3] = d;
}

static void check4(const char *name, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    x128 w;
    set4(&w, a, b, c, d);
    t_assert_mem(name, &xr, &w, 16);
}

static void test_mmx(void)
{
    const uint64_t a = 0x807f01ff10203040ull, b = 0x80010101f0e0d0c0ull;
    const uint64_t c = 0x0002fffe01007fffull, d = 0x0003000201000002ull;

    t_assert_eq64("paddb wraps", paddb(a, b), 0x0080020000000000ull);
    t_assert_eq64("paddsb saturates", paddsb(a, b), 0x807f020000000000ull);
    t_assert_eq64("paddusb saturates", paddusb(a, b), 0xff8002ffffffffffull);
    t_assert_eq64("paddw", paddw(a, b), 0x0080030001000100ull);
    t_assert_eq64("paddd", paddd(a, b), 0x0080030001010100ull);
    t_assert_eq64("psubb", psubb(a, b), 0x007e00fe20406080ull);
    t_assert_eq64("pmullw", pmullw(c, d), 0x0006fffc0000fffeull);
    t_assert_eq64("pmulhw", pmulhw(c, d), 0x0000ffff00010000ull);
    t_assert_eq64("pmaddwd", pmaddwd(c, d), 0x000000020001fffeull);
    t_assert_eq64("pcmpeqb", pcmpeqb(a, b), 0xff00ff0000000000ull);
    t_assert_eq64("pcmpgtw", pcmpgtw(c, d), 0x000000000000ffffull);
    t_assert_eq64("packsswb", packsswb(c, d), 0x03027f0202fe7f7full);
    t_assert_eq64("packuswb", packuswb(c, d), 0x0302ff020200ffffull);
    t_assert_eq64("punpcklbw", punpcklbw(a, b), 0xf010e020d030c040ull);
    t_assert_eq64("punpckhdq", punpckhdq(a, b), 0x80010101807f01ffull);
    t_assert_eq64("psrlq by 8 (memory count)", psrlq(a, 8), 0x00807f01ff102030ull);
    t_assert_eq64("psrlq by 64 clears", psrlq(a, 64), 0);
    t_assert_eq64("psllw $4", mmx_imm_shifts(a, 0), 0x07f01ff002000400ull);
    t_assert_eq64("psraw $4", mmx_imm_shifts(a, 1), 0xf807001f01020304ull);
    t_assert_eq64("pand", pand(a, b), 0x8001010110201040ull);
    t_assert_eq64("pandn", pandn(a, b), 0x00000000e0c0c080ull);
    t_assert_eq64("por", por(a, b), 0x807f01fff0e0f0c0ull);
    t_assert_eq64("pxor", pxor(a, b), 0x007e00fee0c0e080ull);

    uint32_t lo, hi = 0x12345678;
    __asm__ volatile("movd %1, %%mm2\n\tpsllq $32, %%mm2\n\tmovd %2, %%mm3\n\tpor %%mm3, %%mm2\n\t"
                     "movq %%mm2, mr\n\tpsrlq $32, %%mm2\n\tmovd %%mm2, %0"
                     : "=r"(lo)
                     : "r"(hi), "r"(0x9abcdef0)
                     : "memory");
    t_assert_eq64("movd in", mr, 0x123456789abcdef0ull);
    t_assert_eq("movd out", lo, 0x12345678);

    /* MMX marks every x87 register valid; emms empties them again. */
    uint8_t env[28];
    __asm__ volatile("fnstenv %0" : "=m"(env));
    /* FNSTENV classifies each tag from the register's contents (valid, zero
     * or special), but none may be empty (11). */
    uint32_t tw = env[8] | env[9] << 8, empty = 0;
    for (int i = 0; i < 8; i++)
        empty += ((tw >> (2 * i)) & 3) == 3;
    t_assert_eq("x87 registers empty after MMX", empty, 0);
    __asm__ volatile("emms\n\tfnstenv %0" : "=m"(env));
    t_assert_eq("x87 tag word after emms", env[8] | env[9] << 8, 0xffff);
}

static void test_sse(void)
{
    uint32_t mxcsr, r;

    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    t_assert_eq("MXCSR default", mxcsr, 0x1f80);

    set4(&xa, 0x3f800000, 0x40000000, 0x40400000, 0x40800000); /* 1 2 3 4 */
    set4(&xb, 0x3f000000, 0x3e800000, 0x3e000000, 0xc0800000); /* .5 .25 .125 -4 */
    addps();
    check4("addps", 0x3fc00000, 0x40100000, 0x40480000, 0x00000000);
    mulps();
    check4("mulps", 0x3f000000, 0x3f000000, 0x3ec00000, 0xc1800000);
    divps();
    check4("divps", 0x40000000, 0x41000000, 0x41c00000, 0xbf800000);
    minps();
    check4("minps", 0x3f000000, 0x3e800000, 0x3e000000, 0xc0800000);
    maxps();
    check4("maxps", 0x3f800000, 0x40000000, 0x40400000, 0x40800000);
    shufps();
    check4("shufps $0x1b", 0x40800000, 0x40400000, 0x3e800000, 0x3f000000);
    unpcklps();
    check4("unpcklps", 0x3f800000, 0x3f000000, 0x40000000, 0x3e800000);
    set4(&xb, 0x40000000, 0x40000000, 0x40000000, 0x40000000);
    cmpltps();
    check4("cmpltps", 0xffffffff, 0, 0, 0);
    set4(&xb, 0x40800000, 0x41800000, 0x3e800000, 0x40000000); /* 4 16 .25 2 */
    sqrtps();
    check4("sqrtps", 0x40000000, 0x40800000, 0x3f000000, 0x3fb504f3);

    /* Conversions and rounding control. */
    __asm__ volatile("cvtsi2ss %1, %%xmm2\n\tmovss %%xmm2, %0" : "=m"(r) : "r"(7));
    t_assert_eq("cvtsi2ss 7", r, 0x40e00000);
    __asm__ volatile("cvttss2si %1, %0" : "=r"(r) : "m"((uint32_t){0xc02ccccd})); /* -2.7 */
    t_assert_eq("cvttss2si -2.7", r, (uint32_t)-2);
    __asm__ volatile("cvtss2si %1, %0" : "=r"(r) : "m"((uint32_t){0x40200000})); /* 2.5 */
    t_assert_eq("cvtss2si 2.5 (nearest even)", r, 2);
    __asm__ volatile("ldmxcsr %2\n\tcvtss2si %1, %0\n\tldmxcsr %3"
                     : "=r"(r)
                     : "m"((uint32_t){0x402ccccd}), "m"((uint32_t){0x7f80}),
                       "m"((uint32_t){0x1f80})); /* 2.7 with RC = chop */
    t_assert_eq("cvtss2si 2.7 chop", r, 2);

    /* Masked divide by zero: infinity and MXCSR.ZE. */
    set4(&xa, 0x3f800000, 0, 0, 0);
    set4(&xb, 0, 0x3f800000, 0x3f800000, 0x3f800000);
    divps();
    check4("divps by 0", 0x7f800000, 0, 0, 0);
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    t_assert_eq("MXCSR.ZE", mxcsr & 0x3f, 0x04);
    __asm__ volatile("ldmxcsr %0" : : "m"((uint32_t){0x1f80}));

    /* Unaligned loads and stores. */
    static uint8_t buf[64] __attribute__((aligned(16)));
    for (int i = 0; i < 64; i++)
        buf[i] = (uint8_t)i;
    __asm__ volatile("movups 3(%0), %%xmm3\n\tmovdqu %%xmm3, 33(%0)" : : "r"(buf) : "memory");
    t_assert_mem("movups/movdqu unaligned", buf + 33,
                 (uint8_t[16]){3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, 16);
}

static void test_sse2(void)
{
    /* Doubles: 1.5 2.25 + 2.25 -1.5 = 3.75 0.75. */
    set4(&xa, 0, 0x3ff80000, 0, 0x40020000);
    set4(&xb, 0, 0x40020000, 0, 0xbff80000);
    addpd();
    check4("addpd", 0, 0x400e0000, 0, 0x3fe80000);
    mulpd();
    check4("mulpd", 0, 0x400b0000, 0, 0xc00b0000); /* 3.375 and -3.375 */
    set4(&xb, 0, 0x40000000, 0, 0x40300000);       /* 2 16 */
    sqrtpd();
    check4("sqrtpd", 0x667f3bcd, 0x3ff6a09e, 0, 0x40100000);

    set4(&xa, 0xffffffff, 0xffffffff, 0xffffffff, 0x7fffffff);
    set4(&xb, 1, 0, 1, 0);
    paddq();
    check4("paddq carries across dwords", 0, 0, 0, 0x80000000);
    set4(&xa, 0xffffffff, 0x11111111, 3, 0x22222222);
    set4(&xb, 0xffffffff, 0x33333333, 0x80000000, 0x44444444);
    pmuludq();
    check4("pmuludq", 0x00000001, 0xfffffffe, 0x80000000, 0x00000001);
    set4(&xa, 0x04030201, 0x08070605, 0x000000ff, 0);
    set4(&xb, 0x01020304, 0x05060708, 0x0000ff00, 0);
    psadbw();
    check4("psadbw", 16, 0, 0x1fe, 0); /* 3+1+1+3+3+1+1+3; 255+255 */
    set4(&xb, 1, 2, 3, 4);
    pshufd();
    check4("pshufd $0x1b", 4, 3, 2, 1);
    set4(&xb, 1, (uint32_t)-2, 99, 99);
    cvtdq2pd();
    check4("cvtdq2pd", 0, 0x3ff00000, 0, 0xc0000000);
    set4(&xa, 5, 6, 7, 8);
    set4(&xb, 5, 0, 7, 0);
    pcmpeqd();
    check4("pcmpeqd", 0xffffffff, 0, 0xffffffff, 0);
    set4(&xb, 9, 10, 11, 12);
    punpcklqdq();
    check4("punpcklqdq", 5, 6, 9, 10);

    /* Whole-register byte shifts. */
    set4(&xa, 0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c);
    __asm__ volatile("movdqa xa, %%xmm4\n\tpsrldq $3, %%xmm4\n\tmovdqa %%xmm4, xr" : : : "memory");
    check4("psrldq $3", 0x06050403, 0x0a090807, 0x0e0d0c0b, 0x0000000f);
    __asm__ volatile("movdqa xa, %%xmm4\n\tpslldq $5, %%xmm4\n\tmovdqa %%xmm4, xr" : : : "memory");
    check4("pslldq $5", 0, 0x02010000, 0x06050403, 0x0a090807);
    uint32_t r;
    __asm__ volatile("movdqa xa, %%xmm5\n\tpextrw $5, %%xmm5, %0" : "=r"(r) : : "memory");
    t_assert_eq("pextrw $5", r, 0x0b0a);
}

uint8_t fx[512] __attribute__((aligned(16)));
uint8_t fx2[512] __attribute__((aligned(16)));
x128 regs_in[8], regs_out[8];

static void test_fxsave(void)
{
    for (int i = 0; i < 8; i++)
        set4(&regs_in[i], 0x11111111u * (uint32_t)(i + 1), 0xa0000000u + (uint32_t)i,
             0xdeadbeef ^ (uint32_t)i, 0x01020304u << i);
    __asm__ volatile("fninit\n\tfld1\n\tfldpi\n\tfldcw %0" : : "m"((uint16_t){0x0e7f}));
    __asm__ volatile("ldmxcsr %0" : : "m"((uint32_t){0x3f80})); /* RC = down */
#define LOADX(n) "movdqa regs_in+16*" #n ", %%xmm" #n "\n\t"
#define SAVEX(n) "movdqa %%xmm" #n ", regs_out+16*" #n "\n\t"
    __asm__ volatile(LOADX(0) LOADX(1) LOADX(2) LOADX(3) LOADX(4) LOADX(5) LOADX(6)
                         LOADX(7) "fxsave fx"
                     :
                     :
                     : "memory");
    t_assert_eq("fxsave FCW", fx[0] | fx[1] << 8, 0x0e7f);
    t_assert_eq("fxsave FSW TOP", (fx[2] | fx[3] << 8) >> 11 & 7, 6);
    t_assert_eq("fxsave abridged FTW", fx[4], 0xc0);
    t_assert_eq("fxsave MXCSR", fx[24] | fx[25] << 8 | fx[26] << 16 | (uint32_t)fx[27] << 24,
                0x3f80);
    t_assert_mem("fxsave XMM0", fx + 160, &regs_in[0], 16);
    t_assert_mem("fxsave XMM7", fx + 160 + 7 * 16, &regs_in[7], 16);
    static const uint8_t pi80[10] = {0x35, 0xc2, 0x68, 0x21, 0xa2, 0xda, 0x0f, 0xc9, 0x00, 0x40};
    t_assert_mem("fxsave ST0 = pi", fx + 32, pi80, 10);

    /* Clobber everything, restore, and compare registers and a second image. */
    __asm__ volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
                     "pxor %%xmm3, %%xmm3\n\tpxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
                     "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\tfninit\n\tldmxcsr %0"
                     :
                     : "m"((uint32_t){0x1f80}));
    __asm__ volatile("fxrstor fx\n\t" SAVEX(0) SAVEX(1) SAVEX(2) SAVEX(3) SAVEX(4) SAVEX(5) SAVEX(6)
                         SAVEX(7) "fxsave fx2"
                     :
                     :
                     : "memory");
    t_assert_mem("fxrstor XMM registers", regs_out, regs_in, sizeof(regs_in));
    t_assert_mem("fxsave again: FCW FSW FTW", fx2, fx, 5);
    t_assert_mem("fxsave again: MXCSR", fx2 + 24, fx + 24, 4);
    for (int i = 0; i < 8; i++)
        t_assert_mem("fxsave again: ST(i)", fx2 + 32 + 16 * i, fx + 32 + 16 * i, 10);
    t_assert_mem("fxsave again: XMM", fx2 + 160, fx + 160, 128);
    uint32_t mxcsr;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    t_assert_eq("fxrstor MXCSR", mxcsr, 0x3f80);
    __asm__ volatile("fninit\n\tldmxcsr %0" : : "m"((uint32_t){0x1f80}));
}

void test_main(void)
{
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1));
    if (!t_assert_eq("CPUID: MMX FXSR SSE SSE2", d & 0x07800000, 0x07800000))
        t_fail("the CPU lacks the features this test checks");

    t_write_cr4(t_read_cr4() | 0x600); /* OSFXSR | OSXMMEXCPT */
    test_mmx();
    test_sse();
    test_sse2();
    test_fxsave();
}
