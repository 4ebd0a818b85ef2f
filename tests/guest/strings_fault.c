/*
 * strings_fault: string instructions interrupted by a page fault must be
 * restartable. The test turns on paging with an identity map of the first
 * 4 MiB (one page table) in which a chosen page is not present, runs a REP
 * string instruction into or out of that page, and in the #PF handler checks
 * that EIP points at the string instruction, that CR2 and the error code name
 * the first inaccessible byte, and that ECX/ESI/EDI say exactly how many
 * elements were done before it (all bytes up to the page boundary copied,
 * none after). The handler then maps the page and returns; the instruction
 * resumes and must finish the job. Cases: rep movsb writing into the page,
 * rep movsl reading from it, std rep stosl walking down into it, and a rep
 * movsw whose first word straddles the boundary (nothing may be written).
 * It also loads a task register through the kit's TSS helper, as an OS would.
 */
#include "kit.h"

#define PAGE 4096u
#define PTE_P 0x1u
#define PTE_RW 0x2u
#define PF_WRITE 0x2u /* error code: a write; bit 0 clear: page not present */
#define PF_READ 0x0u

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[1024] __attribute__((aligned(4096)));
static uint8_t area[8 * PAGE] __attribute__((aligned(4096)));
extern char t_image_end[];

/* What the #PF handler saw. */
static struct {
    uint32_t count, cr2, error, eip, ecx, esi, edi, byte_before;
    const volatile uint8_t *probe; /* a byte the handler reads at fault time */
} pf;
uint32_t pf_expect_eip;

static void unmap(const void *p)
{
    pt[(uint32_t)p / PAGE] &= ~PTE_P;
    t_invlpg(p);
}

static void pf_handler(struct t_frame *f)
{
    uint32_t cr2 = t_read_cr2();
    pf.count++;
    pf.cr2 = cr2;
    pf.error = f->error;
    pf.eip = f->eip;
    pf.ecx = f->ecx;
    pf.esi = f->esi;
    pf.edi = f->edi;
    pf.byte_before = pf.probe ? *pf.probe : 0;
    if (pf.count > 4 || cr2 >= 4u << 20) {
        t_printf("unexpected #PF at eip 0x%08x cr2 0x%08x error 0x%x\n", f->eip, cr2, f->error);
        t_fail("page fault loop");
    }
    pt[cr2 / PAGE] |= PTE_P; /* map it and let the instruction resume */
    t_invlpg((void *)cr2);
}

struct sr {
    uint32_t esi, edi, ecx, eax, flags;
};

#define STR(name, insn)                                                                            \
    static void name(struct sr *r)                                                                 \
    {                                                                                              \
        __asm__ volatile("movl $2f, pf_expect_eip\n\t"                                             \
                         "pushl %[f]\n\tpopfl\n"                                                   \
                         "2:\t" insn "\n\t"                                                        \
                         "pushfl\n\tpopl %[f]\n\tcld"                                              \
                         : "+S"(r->esi), "+D"(r->edi), "+c"(r->ecx),                               \
                           "+a"(r->eax), [f] "+r"(r->flags)                                        \
                         :                                                                         \
                         : "cc", "memory");                                                        \
    }
STR(rep_movsb, "rep movsb")
STR(rep_movsl, "rep movsl")
STR(rep_movsw, "rep movsw")
STR(rep_stosl, "rep stosl")

static void expect_fault(const char *name, uint32_t cr2, uint32_t error, uint32_t ecx, uint32_t esi,
                         uint32_t edi)
{
    t_printf("%s: fault with ecx %u esi 0x%08x edi 0x%08x cr2 0x%08x\n", name, pf.ecx, pf.esi,
             pf.edi, pf.cr2);
    t_assert_eq(name, pf.count, 1);
    t_assert_eq(name, pf.eip, pf_expect_eip);
    t_assert_eq(name, pf.cr2, cr2);
    t_assert_eq(name, pf.error, error);
    t_assert_eq(name, pf.ecx, ecx);
    t_assert_eq(name, pf.esi, esi);
    t_assert_eq(name, pf.edi, edi);
}

static void fill(uint8_t *p, uint32_t n, uint32_t seed)
{
    for (uint32_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 13 + (i >> 7));
}

static void paging_on(void)
{
    for (uint32_t i = 0; i < 1024; i++)
        pt[i] = i * PAGE | PTE_P | PTE_RW;
    pd[0] = (uint32_t)pt | PTE_P | PTE_RW;
    t_write_cr3((uint32_t)pd);
    t_write_cr0(t_read_cr0() | 0x80000000u);
}

void test_main(void)
{
    uint8_t *a = area;
    struct sr r;

    if (!t_assert_eq("image below 4 MiB", (uint32_t)t_image_end < (4u << 20), 1))
        t_fail("the identity map covers 4 MiB only");
    /* A task register, as an OS would have; the kit's TSS helper. */
    t_tss_load();
    uint16_t tr;
    __asm__ volatile("str %0" : "=r"(tr));
    t_assert_eq("ltr/str", tr, T_SEL_TSS);

    t_set_handler(14, pf_handler);
    paging_on();

    /* 1. rep movsb from page 0 into page 2 (present) running into page 3. */
    uint8_t *src = a, *dst = a + 2 * PAGE + PAGE - 100, *hole = a + 3 * PAGE;
    fill(src, 300, 1);
    memset(a + 2 * PAGE, 0, 2 * PAGE);
    unmap(hole);
    pf = (typeof(pf)){0};
    pf.probe = hole - 1;
    r = (struct sr){(uint32_t)src, (uint32_t)dst, 300, 0, 0};
    rep_movsb(&r);
    expect_fault("rep movsb into a missing page", (uint32_t)hole, PF_WRITE, 200,
                 (uint32_t)src + 100, (uint32_t)hole);
    t_assert_eq("rep movsb: last byte before the hole written", pf.byte_before, src[99]);
    t_assert_eq("rep movsb resumed: ecx", r.ecx, 0);
    t_assert_eq("rep movsb resumed: esi", r.esi, (uint32_t)src + 300);
    t_assert_eq("rep movsb resumed: edi", r.edi, (uint32_t)dst + 300);
    t_assert_mem("rep movsb resumed: data", dst, src, 300);

    /* 2. rep movsl reading from page 4 (present) into missing page 5. */
    src = a + 4 * PAGE + PAGE - 64;
    hole = a + 5 * PAGE;
    dst = a + 6 * PAGE;
    fill(src, 64, 7);
    fill(hole, 128, 9);
    memset(dst, 0, 256);
    unmap(hole);
    pf = (typeof(pf)){0};
    r = (struct sr){(uint32_t)src, (uint32_t)dst, 48, 0, 0};
    rep_movsl(&r);
    expect_fault("rep movsl from a missing page", (uint32_t)hole, PF_READ, 32, (uint32_t)hole,
                 (uint32_t)dst + 64);
    t_assert_eq("rep movsl resumed: ecx", r.ecx, 0);
    t_assert_mem("rep movsl resumed: data", dst, src, 192);

    /* 3. std rep stosl from page 1 down into missing page 0. */
    hole = a;
    dst = a + PAGE + 96;
    memset(a, 0, 2 * PAGE);
    unmap(hole);
    pf = (typeof(pf)){0};
    pf.probe = a + PAGE;
    r = (struct sr){0, (uint32_t)dst, 40, 0xfeedface, T_DF};
    rep_stosl(&r);
    expect_fault("std rep stosl into a missing page", (uint32_t)hole + PAGE - 4, PF_WRITE, 15, 0,
                 (uint32_t)hole + PAGE - 4);
    t_assert_eq("std rep stosl: lowest dword before the hole", pf.byte_before, 0xce);
    t_assert_eq("std rep stosl resumed: ecx", r.ecx, 0);
    t_assert_eq("std rep stosl resumed: edi", r.edi, (uint32_t)dst - 160);
    t_assert_eq("std rep stosl resumed: last dword", *(uint32_t *)(dst - 156), 0xfeedface);
    t_assert_eq("std rep stosl resumed: beyond", *(uint32_t *)(dst - 160), 0);

    /* 4. rep movsw whose first word straddles into missing page 7. */
    src = a + 2 * PAGE;
    hole = a + 7 * PAGE;
    dst = hole - 1;
    fill(src, 64, 3);
    memset(a + 6 * PAGE, 0x5a, 2 * PAGE);
    unmap(hole);
    pf = (typeof(pf)){0};
    pf.probe = hole - 1;
    r = (struct sr){(uint32_t)src, (uint32_t)dst, 10, 0, 0};
    rep_movsw(&r);
    expect_fault("rep movsw straddling into a missing page", (uint32_t)hole, PF_WRITE, 10,
                 (uint32_t)src, (uint32_t)dst);
    t_assert_eq("rep movsw: nothing written before the fault", pf.byte_before, 0x5a);
    t_assert_eq("rep movsw resumed: ecx", r.ecx, 0);
    t_assert_mem("rep movsw resumed: data", dst, src, 20);

    t_write_cr0(t_read_cr0() & ~0x80000000u);
}
