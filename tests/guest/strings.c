/*
 * strings: movs/stos/lods/cmps/scas at byte, word and dword size, plain and
 * with rep/repe/repne, forwards and with DF=1, with ECX=0 (no iteration, no
 * flag change), with a source segment override, with ES and DS based away
 * from 0, and with the 16-bit address size (0x67: SI/DI/CX are used, the
 * upper halves of ESI/EDI/ECX are kept, and SI/DI wrap at 64 KiB). Memory
 * results are compared with simple C loops over the same buffers, final
 * registers with values worked out from the counts, and the flags of
 * cmps/scas with a subtraction model.
 */
#include "kit.h"

struct sr {
    uint32_t esi, edi, ecx, eax, flags;
};

/* Runs one string instruction with DF taken from r->flags. */
#define STR(name, insn)                                                                            \
    static void name(struct sr *r)                                                                 \
    {                                                                                              \
        __asm__ volatile("pushl %[f]\n\tpopfl\n\t" insn "\n\tpushfl\n\tpopl %[f]\n\tcld"           \
                         : "+S"(r->esi), "+D"(r->edi), "+c"(r->ecx),                               \
                           "+a"(r->eax), [f] "+r"(r->flags)                                        \
                         :                                                                         \
                         : "cc", "memory");                                                        \
    }

STR(rep_movsb, "rep movsb")
STR(rep_movsw, "rep movsw")
STR(rep_movsl, "rep movsl")
STR(movsb1, "movsb")
STR(rep_stosb, "rep stosb")
STR(rep_stosw, "rep stosw")
STR(rep_stosl, "rep stosl")
STR(lodsw1, "lodsw")
STR(rep_lodsb, "rep lodsb")
STR(repe_cmpsb, "repe cmpsb")
STR(repe_cmpsw, "repe cmpsw")
STR(repe_cmpsl, "repe cmpsl")
STR(repne_cmpsb, "repne cmpsb")
STR(cmpsl1, "cmpsl")
STR(repne_scasb, "repne scasb")
STR(repne_scasw, "repne scasw")
STR(repe_scasl, "repe scasl")
STR(scasb1, "scasb")
STR(rep_movsb_fs, "rep movsb %%fs:(%%esi), %%es:(%%edi)")
STR(lodsl_gs, "lodsl %%gs:(%%esi)")

/* The same with DS and ES loaded with sel (a register operand: an
 * ESP-relative memory operand would move with the pushes). */
#define STRSEG(name, insn)                                                                         \
    static void name(struct sr *r, uint32_t sel)                                                   \
    {                                                                                              \
        __asm__ volatile("pushl %%ds\n\tpushl %%es\n\tmovl %[s], %%ds\n\tmovl %[s], %%es\n\t"      \
                         "pushl %[f]\n\tpopfl\n\t" insn "\n\tpushfl\n\tpopl %[f]\n\tcld\n\t"       \
                         "popl %%es\n\tpopl %%ds"                                                  \
                         : "+S"(r->esi), "+D"(r->edi), "+c"(r->ecx),                               \
                           "+a"(r->eax), [f] "+r"(r->flags)                                        \
                         : [s] "r"(sel)                                                            \
                         : "cc", "memory");                                                        \
    }
STRSEG(a16_rep_movsb, "addr16 rep movsb")
STRSEG(a16_rep_stosw, "addr16 rep stosw")
STRSEG(a16_repne_scasb, "addr16 repne scasb")
STRSEG(a16_repe_cmpsl, "addr16 repe cmpsl")
STRSEG(a16_lodsb, "addr16 lodsb")

/* Only ES moved: stos must honour ES's base, never DS's. */
static void rep_stosb_es(struct sr *r, uint32_t sel)
{
    __asm__ volatile("pushl %%es\n\tmovl %[s], %%es\n\t"
                     "pushl %[f]\n\tpopfl\n\trep stosb\n\tpushfl\n\tpopl %[f]\n\tcld\n\t"
                     "popl %%es"
                     : "+S"(r->esi), "+D"(r->edi), "+c"(r->ecx), "+a"(r->eax), [f] "+r"(r->flags)
                     : [s] "r"(sel)
                     : "cc", "memory");
}

static uint8_t src[4096] __attribute__((aligned(4)));
static uint8_t dst[4096] __attribute__((aligned(4)));
static uint8_t ref[4096] __attribute__((aligned(4)));
static uint8_t seg_buf[65536 + 16] __attribute__((aligned(16)));
#define SEG_SEL ((T_GDT_SPARE + 0) << 3)

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)t_rand();
}

static uint32_t sub_flags(uint32_t a, uint32_t b, int w)
{
    uint32_t mask = w == 32 ? 0xffffffffu : (1u << w) - 1, sign = 1u << (w - 1);
    uint32_t r = (a - b) & mask, p = 1;
    a &= mask;
    b &= mask;
    for (uint32_t v = r & 0xff; v; v >>= 1)
        p ^= v & 1;
    return (a < b ? T_CF : 0) | (p ? T_PF : 0) | ((a ^ b ^ r) & 0x10 ? T_AF : 0) |
           (r == 0 ? T_ZF : 0) | (r & sign ? T_SF : 0) | ((a ^ b) & (a ^ r) & sign ? T_OF : 0);
}

static void check_regs(const char *name, const struct sr *r, uint32_t esi, uint32_t edi,
                       uint32_t ecx)
{
    t_assert_eq(name, r->esi, esi);
    t_assert_eq(name, r->edi, edi);
    t_assert_eq(name, r->ecx, ecx);
}

static void test_movs_stos_lods(void)
{
    struct sr r;
    uint32_t s = (uint32_t)src, d = (uint32_t)dst;

    /* Forward copies at each size; odd starting offsets on purpose. */
    fill(src, sizeof(src));
    memset(dst, 0xcc, sizeof(dst));
    r = (struct sr){s + 1, d + 3, 1000, 0, 0};
    rep_movsb(&r);
    check_regs("rep movsb regs", &r, s + 1001, d + 1003, 0);
    t_assert_mem("rep movsb data", dst + 3, src + 1, 1000);
    t_assert_eq("rep movsb stops", dst[1003], 0xcc);
    r = (struct sr){s + 2, d + 1024, 333, 0, 0};
    rep_movsw(&r);
    check_regs("rep movsw regs", &r, s + 668, d + 1690, 0);
    t_assert_mem("rep movsw data", dst + 1024, src + 2, 666);
    r = (struct sr){s + 4, d + 2048, 500, 0, 0};
    rep_movsl(&r);
    check_regs("rep movsl regs", &r, s + 2004, d + 4048, 0);
    t_assert_mem("rep movsl data", dst + 2048, src + 4, 2000);

    /* DF=1: an overlapping move upwards, done backwards as memmove would. */
    memcpy(ref, src, sizeof(ref));
    for (int i = 99; i >= 0; i--)
        ref[i + 3] = ref[i];
    r = (struct sr){s + 99, s + 102, 100, 0, T_DF};
    rep_movsb(&r);
    check_regs("std rep movsb regs", &r, s - 1, s + 2, 0);
    t_assert_mem("std rep movsb overlap", src, ref, 200);
    fill(src, sizeof(src));
    memset(dst, 0, sizeof(dst));
    r = (struct sr){s + 396, d + 396, 100, 0, T_DF};
    rep_movsl(&r);
    check_regs("std rep movsl regs", &r, s - 4, d - 4, 0);
    t_assert_mem("std rep movsl data", dst, src, 400);
    r = (struct sr){s + 7, d + 9, 0, 0, T_DF};
    movsb1(&r);
    check_regs("std movsb regs", &r, s + 6, d + 8, 0);
    t_assert_eq("std movsb data", dst[9], src[7]);

    /* ECX = 0: nothing moves. */
    memset(dst, 0x5a, 512);
    r = (struct sr){s, d, 0, 0, 0};
    rep_movsl(&r);
    check_regs("rep movsl ecx=0 regs", &r, s, d, 0);
    t_assert_eq("rep movsl ecx=0 data", dst[0], 0x5a);

    /* stos at each size, both directions. */
    r = (struct sr){0, d + 1, 37, 0x1234abcd, 0};
    rep_stosb(&r);
    check_regs("rep stosb regs", &r, 0, d + 38, 0);
    memset(ref, 0xcd, 37);
    t_assert_mem("rep stosb data", dst + 1, ref, 37);
    r = (struct sr){0, d + 100, 5, 0x1234abcd, T_DF};
    rep_stosw(&r);
    check_regs("std rep stosw regs", &r, 0, d + 90, 0);
    t_assert_eq("std rep stosw data (lowest)", *(uint16_t *)(dst + 92), 0xabcd);
    t_assert_eq("std rep stosw data (first)", *(uint16_t *)(dst + 100), 0xabcd);
    t_assert_eq("std rep stosw data (beyond)", dst[91], 0x5a);
    r = (struct sr){0, d + 200, 64, 0xdeadbeef, 0};
    rep_stosl(&r);
    check_regs("rep stosl regs", &r, 0, d + 456, 0);
    for (int i = 0; i < 64; i++)
        if (!t_assert_eq("rep stosl data", ((uint32_t *)(dst + 200))[i], 0xdeadbeef))
            break;

    /* lods: one word; rep lods keeps the last byte. */
    src[10] = 0x34;
    src[11] = 0x12;
    r = (struct sr){s + 10, 0, 0, 0xffffffff, 0};
    lodsw1(&r);
    t_assert_eq("lodsw eax", r.eax, 0xffff1234);
    t_assert_eq("lodsw esi", r.esi, s + 12);
    src[20] = 0x77;
    r = (struct sr){s + 20, 0, 5, 0, T_DF};
    rep_lodsb(&r);
    t_assert_eq("std rep lodsb al", r.eax, src[16]);
    check_regs("std rep lodsb regs", &r, s + 15, 0, 0);
}

static void test_cmps_scas(void)
{
    struct sr r;
    uint32_t s = (uint32_t)src, d = (uint32_t)dst;

    fill(src, 512);
    memcpy(dst, src, 512);
    dst[77] = (uint8_t)(src[77] + 0x41);
    /* repe cmpsb stops after the first difference. */
    r = (struct sr){s, d, 200, 0, 0};
    repe_cmpsb(&r);
    check_regs("repe cmpsb regs", &r, s + 78, d + 78, 122);
    t_assert_eq("repe cmpsb flags", r.flags & T_ARITH, sub_flags(src[77], dst[77], 8));
    /* ... and runs out when all are equal. */
    r = (struct sr){s, d, 77, 0, 0};
    repe_cmpsb(&r);
    check_regs("repe cmpsb all equal", &r, s + 77, d + 77, 0);
    t_assert_eq("repe cmpsb all equal ZF", r.flags & T_ZF, T_ZF);
    r = (struct sr){s + 2, d + 2, 100, 0, 0};
    repe_cmpsw(&r);
    check_regs("repe cmpsw regs", &r, s + 78, d + 78, 62);
    t_assert_eq("repe cmpsw flags", r.flags & T_ARITH,
                sub_flags(*(uint16_t *)(src + 76), *(uint16_t *)(dst + 76), 16));
    r = (struct sr){s + 68, d + 68, 10, 0, 0};
    repe_cmpsl(&r);
    check_regs("repe cmpsl regs", &r, s + 80, d + 80, 7);
    t_assert_eq("repe cmpsl flags", r.flags & T_ARITH,
                sub_flags(*(uint32_t *)(src + 76), *(uint32_t *)(dst + 76), 32));
    /* repne cmpsb stops at the first equal pair. */
    for (int i = 0; i < 64; i++)
        dst[300 + i] = (uint8_t)(src[300 + i] ^ 0x80);
    dst[340] = src[340];
    r = (struct sr){s + 300, d + 300, 64, 0, 0};
    repne_cmpsb(&r);
    check_regs("repne cmpsb regs", &r, s + 341, d + 341, 23);
    t_assert_eq("repne cmpsb ZF", r.flags & T_ZF, T_ZF);
    /* DF=1 single cmpsl. */
    r = (struct sr){s + 400, d + 400, 0, 0, T_DF};
    cmpsl1(&r);
    check_regs("std cmpsl regs", &r, s + 396, d + 396, 0);
    /* rep cmps with ECX = 0 leaves the flags alone. */
    r = (struct sr){s, d + 1, 0, 0, T_ARITH};
    repe_cmpsb(&r);
    t_assert_eq("repe cmpsb ecx=0 flags", r.flags & T_ARITH, T_ARITH);

    /* scas: find a byte, a word; skip equal dwords. */
    memset(dst, 0, 512);
    dst[123] = 0x99;
    r = (struct sr){0, d, 300, 0x99, 0};
    repne_scasb(&r);
    check_regs("repne scasb found", &r, 0, d + 124, 176);
    t_assert_eq("repne scasb found ZF", r.flags & T_ZF, T_ZF);
    r = (struct sr){0, d, 100, 0x99, 0};
    repne_scasb(&r);
    check_regs("repne scasb not found", &r, 0, d + 100, 0);
    t_assert_eq("repne scasb not found ZF", r.flags & T_ZF, 0);
    *(uint16_t *)(dst + 200) = 0xbeef;
    r = (struct sr){0, d + 250, 40, 0xbeef, T_DF};
    repne_scasw(&r);
    check_regs("std repne scasw", &r, 0, d + 198, 14);
    memset(dst, 0xab, 64);
    dst[44] = 0;
    r = (struct sr){0, d, 16, 0xabababab, 0};
    repe_scasl(&r);
    check_regs("repe scasl", &r, 0, d + 48, 4);
    t_assert_eq("repe scasl flags", r.flags & T_ARITH,
                sub_flags(0xabababab, *(uint32_t *)(dst + 44), 32));
    r = (struct sr){0, d + 44, 0, 0x01, 0};
    scasb1(&r);
    t_assert_eq("scasb 1-0 flags", r.flags & T_ARITH, 0);
}

static void test_segments(void)
{
    struct sr r;
    uint32_t b = (uint32_t)seg_buf;

    t_gdt_set(SEG_SEL >> 3, b, 0xffff, T_ACC_DATA, T_FLG_16);

    /* Source override: fs:[esi] with FS based at seg_buf. */
    fill(seg_buf, 256);
    memset(dst, 0, 256);
    __asm__ volatile("movl %0, %%fs\n\tmovl %0, %%gs" : : "r"(SEG_SEL));
    r = (struct sr){16, (uint32_t)dst, 32, 0, 0};
    rep_movsb_fs(&r);
    check_regs("rep movsb fs: regs", &r, 48, (uint32_t)dst + 32, 0);
    t_assert_mem("rep movsb fs: data", dst, seg_buf + 16, 32);
    r = (struct sr){100, 0, 0, 0, 0};
    lodsl_gs(&r);
    t_assert_eq("lodsl gs:", r.eax, *(uint32_t *)(seg_buf + 100));
    t_assert_eq("lodsl gs: esi", r.esi, 104);
    __asm__ volatile("movl %0, %%fs\n\tmovl %0, %%gs" : : "r"(T_SEL_DATA32));

    /* ES based elsewhere than DS. */
    memset(seg_buf, 0, 64);
    r = (struct sr){0, 8, 4, 0x5c, 0};
    rep_stosb_es(&r, SEG_SEL);
    t_assert_eq("stos uses ES base", *(uint32_t *)(seg_buf + 8), 0x5c5c5c5c);
    t_assert_eq("stos uses ES base: edi", r.edi, 12);

    /* 16-bit addressing: upper halves kept. */
    fill(seg_buf, 65536);
    memcpy(ref, seg_buf + 0x10, 8);
    r = (struct sr){0xabcd0010, 0x12340100, 0x55550008, 0, 0};
    a16_rep_movsb(&r, SEG_SEL);
    check_regs("a16 rep movsb regs", &r, 0xabcd0018, 0x12340108, 0x55550000);
    t_assert_mem("a16 rep movsb data", seg_buf + 0x100, ref, 8);
    /* SI wraps from 0xfffc to 0x0004. */
    memcpy(ref, seg_buf + 0xfffc, 4);
    memcpy(ref + 4, seg_buf, 4);
    r = (struct sr){0x0000fffc, 0x200, 8, 0, 0};
    a16_rep_movsb(&r, SEG_SEL);
    check_regs("a16 rep movsb wrap regs", &r, 0x0004, 0x208, 0);
    t_assert_mem("a16 rep movsb wrap data", seg_buf + 0x200, ref, 8);
    /* DF=1 stosw across DI = 0: 0x0002, 0x0000, 0xfffe. */
    r = (struct sr){0, 0xffff0002, 3, 0x7788, T_DF};
    a16_rep_stosw(&r, SEG_SEL);
    check_regs("a16 std rep stosw regs", &r, 0, 0xfffffffc, 0);
    t_assert_eq("a16 std rep stosw at 0", *(uint16_t *)seg_buf, 0x7788);
    t_assert_eq("a16 std rep stosw at fffe", *(uint16_t *)(seg_buf + 0xfffe), 0x7788);
    seg_buf[0x3000] = 0xee;
    for (int i = 0x2f00; i < 0x3000; i++)
        if (seg_buf[i] == 0xee)
            seg_buf[i] = 0;
    r = (struct sr){0, 0x77772f00, 0x88880200, 0xee, 0};
    a16_repne_scasb(&r, SEG_SEL);
    check_regs("a16 repne scasb", &r, 0, 0x77773001, 0x888800ff);
    memcpy(seg_buf + 0x8000, seg_buf + 0x9000, 64);
    seg_buf[0x8000 + 37] ^= 1;
    r = (struct sr){0x11118000, 0x22229000, 0x33330010, 0, 0};
    a16_repe_cmpsl(&r, SEG_SEL);
    check_regs("a16 repe cmpsl", &r, 0x11118028, 0x22229028, 0x33330006);
    r = (struct sr){0xffffffff, 0, 0, 0x11223344, 0};
    a16_lodsb(&r, SEG_SEL);
    t_assert_eq("a16 lodsb from ffff", r.eax, 0x11223300 | seg_buf[0xffff]);
    t_assert_eq("a16 lodsb si wraps", r.esi, 0xffff0000);
}

void test_main(void)
{
    test_movs_stos_lods();
    test_cmps_scas();
    test_segments();
}
