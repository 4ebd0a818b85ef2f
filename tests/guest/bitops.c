/*
 * bitops: bt/bts/btr/btc with register destinations (the offset taken modulo
 * the operand size), immediate offsets (modulo the size also for memory), and
 * memory bit strings addressed by a register offset, which is signed and may
 * reach far outside the addressed dword or word (here up to +-60000 bits
 * around the middle of a 16 KiB buffer); and bsf/bsr with register and memory
 * sources, 16 and 32 bits. Expected values come from hand-worked constants and
 * from a byte-array model; CF is checked, ZF must be unchanged by the bt
 * group, and after bsf/bsr only ZF is defined (and the destination only when
 * the source is non-zero).
 */
#include "kit.h"

enum op { BT, BTS, BTR, BTC };
static const char *const names[] = {"bt", "bts", "btr", "btc"};

static uint8_t field[16384] __attribute__((aligned(4)));
static uint8_t shadow[16384];
#define MIDDLE 8192

/* ---- register and immediate forms ---- */

#define BITREG(name, insn, mod)                                                                    \
    static uint32_t name(uint32_t v, uint32_t off, uint32_t *f)                                    \
    {                                                                                              \
        __asm__ volatile("pushl %[f]\n\tpopfl\n\t" insn " %" mod "[o], %" mod "[v]\n\t"            \
                         "pushfl\n\tpopl %[f]"                                                     \
                         : [v] "+r"(v), [f] "+r"(*f)                                               \
                         : [o] "r"(off)                                                            \
                         : "cc");                                                                  \
        return v;                                                                                  \
    }
BITREG(btl_rr, "btl", "")
BITREG(btsl_rr, "btsl", "")
BITREG(btrl_rr, "btrl", "")
BITREG(btcl_rr, "btcl", "")
BITREG(btw_rr, "btw", "w")
BITREG(btsw_rr, "btsw", "w")
BITREG(btrw_rr, "btrw", "w")
BITREG(btcw_rr, "btcw", "w")

typedef uint32_t (*reg_fn)(uint32_t, uint32_t, uint32_t *);
static const reg_fn reg32[4] = {btl_rr, btsl_rr, btrl_rr, btcl_rr};
static const reg_fn reg16[4] = {btw_rr, btsw_rr, btrw_rr, btcw_rr};

/* Memory bit string, register offset: operate on field[MIDDLE]. */
#define BITMEM(name, insn, mod)                                                                    \
    static uint32_t name(uint32_t off, uint32_t *f)                                                \
    {                                                                                              \
        __asm__ volatile("pushl %[f]\n\tpopfl\n\t" insn " %" mod "[o], %[m]\n\t"                   \
                         "pushfl\n\tpopl %[f]"                                                     \
                         : [f] "+r"(*f), [m] "+m"(*(uint32_t *)&field[MIDDLE])                     \
                         : [o] "r"(off)                                                            \
                         : "cc", "memory");                                                        \
        return 0;                                                                                  \
    }
BITMEM(btl_m, "btl", "")
BITMEM(btsl_m, "btsl", "")
BITMEM(btrl_m, "btrl", "")
BITMEM(btcl_m, "btcl", "")
BITMEM(btw_m, "btw", "w")
BITMEM(btsw_m, "btsw", "w")
BITMEM(btrw_m, "btrw", "w")
BITMEM(btcw_m, "btcw", "w")

typedef uint32_t (*mem_fn)(uint32_t, uint32_t *);
static const mem_fn mem32[4] = {btl_m, btsl_m, btrl_m, btcl_m};
static const mem_fn mem16[4] = {btw_m, btsw_m, btrw_m, btcw_m};

/* Applies op to bit `bit` of the model; returns the old bit. */
static int model_bit(uint8_t *base, int32_t bit, enum op op)
{
    uint8_t *p = base + (bit >> 3), m = (uint8_t)(1u << (bit & 7));
    int old = (*p & m) != 0;
    if (op == BTS)
        *p |= m;
    else if (op == BTR)
        *p &= (uint8_t)~m;
    else if (op == BTC)
        *p ^= m;
    return old;
}

static uint32_t model_reg(uint32_t v, uint32_t off, int w, enum op op, int *cf)
{
    uint32_t m = 1u << (off & (w - 1));
    *cf = (v & m) != 0;
    if (op == BTS)
        v |= m;
    else if (op == BTR)
        v &= ~m;
    else if (op == BTC)
        v ^= m;
    return v;
}

/* ---- bsf/bsr ---- */

#define BITSCAN(name, insn, mod, src)                                                              \
    static uint32_t name(uint32_t s, uint32_t d, uint32_t *f)                                      \
    {                                                                                              \
        volatile uint32_t m = s;                                                                   \
        (void)m;                                                                                   \
        __asm__ volatile("pushl %[f]\n\tpopfl\n\t" insn " " src ", %" mod "[d]\n\t"                \
                         "pushfl\n\tpopl %[f]"                                                     \
                         : [d] "+r"(d), [f] "+r"(*f)                                               \
                         : [s] "r"(s), [m] "m"(m)                                                  \
                         : "cc");                                                                  \
        return d;                                                                                  \
    }
BITSCAN(bsfl_r, "bsfl", "", "%[s]")
BITSCAN(bsrl_r, "bsrl", "", "%[s]")
BITSCAN(bsfl_m, "bsfl", "", "%[m]")
BITSCAN(bsrl_m, "bsrl", "", "%[m]")
BITSCAN(bsfw_r, "bsfw", "w", "%w[s]")
BITSCAN(bsrw_r, "bsrw", "w", "%w[s]")
BITSCAN(bsfw_m, "bsfw", "w", "%[m]")
BITSCAN(bsrw_m, "bsrw", "w", "%[m]")

static const struct {
    const char *name;
    int w, reverse;
    uint32_t (*fn)(uint32_t, uint32_t, uint32_t *);
} scans[] = {
    {"bsfl r", 32, 0, bsfl_r}, {"bsrl r", 32, 1, bsrl_r}, {"bsfl m", 32, 0, bsfl_m},
    {"bsrl m", 32, 1, bsrl_m}, {"bsfw r", 16, 0, bsfw_r}, {"bsrw r", 16, 1, bsrw_r},
    {"bsfw m", 16, 0, bsfw_m}, {"bsrw m", 16, 1, bsrw_m},
};

static void check_scan(int i, uint32_t s)
{
    int w = scans[i].w;
    uint32_t mask = w == 32 ? 0xffffffffu : 0xffff, src = s & mask;
    uint32_t d = 0x5a5a5a5a, f = t_rand() & T_ARITH;
    uint32_t got = scans[i].fn(s, d, &f);
    if (src == 0) {
        t_assert_eq(scans[i].name, f & T_ZF, T_ZF);
        return;
    }
    int idx = 0;
    if (scans[i].reverse) {
        for (idx = w - 1; !(src & (1u << idx)); idx--)
            ;
    } else {
        for (idx = 0; !(src & (1u << idx)); idx++)
            ;
    }
    if (!t_assert_eq(scans[i].name, got, (d & ~mask) | (uint32_t)idx) ||
        !t_assert_eq(scans[i].name, f & T_ZF, 0))
        t_printf("  source 0x%08x\n", s);
}

void test_main(void)
{
    uint32_t f, v;

    /* Hand-worked. */
    f = 0;
    btl_rr(8, 3, &f);
    t_assert_eq("bt $3 of 8: CF", f & T_CF, T_CF);
    f = T_CF;
    t_assert_eq("bts 35 of 0 (mod 32)", btsl_rr(0, 35, &f), 8);
    t_assert_eq("bts 35 of 0: CF", f & T_CF, 0);
    f = 0;
    t_assert_eq("btr 31", btrl_rr(0x80000001, 31, &f), 1);
    t_assert_eq("btr 31: CF", f & T_CF, T_CF);
    f = 0;
    t_assert_eq("btcw 17 (mod 16)", btcw_rr(0xffff0000, 17, &f), 0xffff0002);
    v = 0x10;
    __asm__ volatile("btsl $36, %0" : "+m"(v) : : "cc"); /* immediate: mod 32 even on memory */
    t_assert_eq("btsl $36, mem", v, 0x10);
    __asm__ volatile("btrw $20, %0" : "+m"(v) : : "cc");
    t_assert_eq("btrw $20, mem", v, 0);
    __asm__ volatile("btcl $31, %0" : "+r"(v) : : "cc");
    t_assert_eq("btcl $31, reg", v, 0x80000000);

    memset(field, 0, sizeof(field));
    f = 0;
    btcl_m((uint32_t)-1, &f);
    t_assert_eq("btc -1 flips bit 7 of the byte before", field[MIDDLE - 1], 0x80);
    btsl_m(40, &f);
    t_assert_eq("bts 40 sets bit 0 of byte +5", field[MIDDLE + 5], 0x01);
    btsw_m((uint32_t)-17, &f);
    t_assert_eq("btsw -17 sets bit 7 of byte -3", field[MIDDLE - 3], 0x80);
    f = 0;
    btl_m(40, &f);
    t_assert_eq("bt 40 reads it back", f & T_CF, T_CF);
    btsl_m(60000, &f);
    t_assert_eq("bts 60000 (byte +7500 bit 0)", field[MIDDLE + 7500], 0x01);
    btsl_m((uint32_t)-60001, &f);
    t_assert_eq("bts -60001 (byte -7501 bit 7)", field[MIDDLE - 7501], 0x80);

    f = 0;
    t_assert_eq("bsf 0x10000", bsfl_r(0x10000, 0, &f), 16);
    t_assert_eq("bsr 0x10001", bsrl_m(0x10001, 0, &f), 16);
    t_assert_eq("bsr 0x80000000", bsrl_r(0x80000000, 0, &f), 31);
    t_assert_eq("bsfw 0x8000", bsfw_r(0x8000, 0xaaaa5555, &f), 0xaaaa000f);
    bsfl_r(0, 7, &f);
    t_assert_eq("bsf 0: ZF", f & T_ZF, T_ZF);

    /* Register forms against the model, with ZF preserved. */
    for (int op = 0; op < 4; op++)
        for (int n = 0; n < 300; n++) {
            uint32_t val = t_rand(), off = t_rand(), fin = t_rand() & T_ARITH, fg = fin | 2;
            int w = n & 1 ? 16 : 32, cf;
            uint32_t want = model_reg(val, off, w, op, &cf);
            uint32_t got = (w == 32 ? reg32 : reg16)[op](val, off, &fg);
            if (w == 16)
                want = (val & 0xffff0000) | (want & 0xffff);
            if (!t_assert_eq(names[op], got, want) ||
                !t_assert_eq(names[op], fg & (T_CF | T_ZF), (cf ? T_CF : 0) | (fin & T_ZF)))
                t_printf("  width %d value 0x%08x offset 0x%08x\n", w, val, off);
        }

    /* Memory bit strings against the model. */
    for (unsigned i = 0; i < sizeof(field); i++)
        field[i] = shadow[i] = (uint8_t)t_rand();
    for (int n = 0; n < 2000; n++) {
        enum op op = n & 3;
        int w = n & 4 ? 16 : 32;
        int32_t off = (int32_t)(t_rand() % 120001) - 60000;
        if (n & 8)
            off = (int32_t)(t_rand() % 512) - 256; /* near the base */
        if (w == 16)
            off = (int16_t)(off % 32768); /* a 16-bit offset register is signed 16-bit */
        uint32_t fin = t_rand() & T_ARITH, fg = fin | 2;
        int old = model_bit(shadow + MIDDLE, off, op);
        (w == 32 ? mem32 : mem16)[op]((uint32_t)off, &fg);
        if (!t_assert_eq(names[op], fg & (T_CF | T_ZF), (old ? T_CF : 0) | (fin & T_ZF)))
            t_printf("  memory, width %d, offset %d\n", w, off);
    }
    t_assert_mem("bit string after 2000 operations", field, shadow, sizeof(field));

    /* Bit scans against the model. */
    for (unsigned i = 0; i < T_ARRAY_SIZE(scans); i++)
        for (int n = 0; n < 200; n++) {
            uint32_t s = t_rand();
            if (n % 5 == 0)
                s = 0;
            else if (n % 5 == 1)
                s = 1u << (t_rand() & 31);
            else if (n % 5 == 2)
                s >>= t_rand() & 31;
            else if (n % 5 == 3)
                s <<= t_rand() & 31;
            check_scan(i, s);
        }
}
