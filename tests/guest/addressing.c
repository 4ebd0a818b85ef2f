/*
 * addressing: effective addresses. LEA with every 32-bit ModRM/SIB shape
 * (disp32 alone, each base with no, 8-bit and 32-bit displacement, EBP and
 * ESP bases, base+index*scale for each scale, index without base, 32-bit
 * wrap-around, SIB without index) and every 16-bit form (0x67: bx+si, bx+di, bp+si, bp+di, si,
 * di, disp16, bx, with displacements, wrapping at 64 KiB and zero-extended),
 * also with a 16-bit destination. Then real loads and stores through segment
 * overrides (fs, gs, es, ss, cs, ds) with segments based away from 0,
 * checking the default segment of EBP/ESP-based and BP-based addresses (SS),
 * and BOUND in and out of range, its #BR (vector 5) caught through the IDT.
 * Expected addresses are computed from the register constants below.
 */
#include "kit.h"

#define RA 0x77771000u
#define RB 0x0002f000u
#define RC 0x00000300u
#define RD 0x04000000u
#define RS 0xabcd1050u
#define RI 0x00609000u /* EDI */
#define RP 0x12340007u /* EBP */
#define W(x) ((uint32_t)(uint16_t)(x))

#define STR_(x) #x
#define STR(x) STR_(x)

uint32_t lea_out[64];
uint32_t lea_esp;

/* Each entry: lea into EAX, store, reload EAX. */
#define L(k, expr)                                                                                 \
    "    lea " expr ", %eax\n"                                                                     \
    "    movl %eax, lea_out+4*" #k "\n"                                                            \
    "    movl $" STR(RA) ", %eax\n"
#define L16(k, expr)                                                                               \
    "    addr16 lea " expr ", %eax\n"                                                              \
    "    movl %eax, lea_out+4*" #k "\n"                                                            \
    "    movl $" STR(RA) ", %eax\n"

/* clang-format off */
__asm__(".text\n"
        "lea_probe:\n"
        "    pushal\n"
        "    movl $" STR(RA) ", %eax\n"
        "    movl $" STR(RB) ", %ebx\n"
        "    movl $" STR(RC) ", %ecx\n"
        "    movl $" STR(RD) ", %edx\n"
        "    movl $" STR(RS) ", %esi\n"
        "    movl $" STR(RI) ", %edi\n"
        "    movl $" STR(RP) ", %ebp\n"
        "    movl %esp, lea_esp\n"
        L(0, "0x12345678")
        L(1, "(%eax)")
        L(2, "(%ebx)")
        L(3, "(%ecx)")
        L(4, "(%edx)")
        L(5, "(%esi)")
        L(6, "(%edi)")
        L(7, "(%ebp)")
        L(8, "(%esp)")
        L(9, "0x12(%esp)")
        L(10, "0x7f(%ebx)")
        L(11, "-0x80(%ecx)")
        L(12, "0x12345(%edx)")
        L(13, "-1(%ebp)")
        L(14, "(%eax,%ebx)")
        L(15, "(%ecx,%edx,2)")
        L(16, "(%esi,%edi,4)")
        L(17, "(%edi,%eax,8)")
        L(18, "0x10(%ebp,%ecx,8)")
        L(19, "-0x10000(%eax,%esi,1)")
        L(20, "0x1000(,%ecx,8)")
        L(21, "(,%edx,4)")
        L(22, "4(%esp,%ecx,2)")
        L(23, "(%ebp,%ebp)")
        L(24, "0xf0000000(%ebx,%edx,4)")
        L(25, "(%eax,%ebp,1)")
        L(26, "0x1000(%esi)")
        L(27, "-0x7f(%edi,%ebx,2)")
        /* lea 8(%ecx, no index, scale 4), %eax: SIB index 100 means none */
        "    .byte 0x8d, 0x44, 0xa1, 0x08\n"
        "    movl %eax, lea_out+4*28\n"
        "    movl $" STR(RA) ", %eax\n"
        L(29, "(%ebx,%ebx,2)")
        L16(30, "(%bx,%si)")
        L16(31, "(%bx,%di)")
        L16(32, "(%bp,%si)")
        L16(33, "(%bp,%di)")
        L16(34, "(%si)")
        L16(35, "(%di)")
        L16(36, "0x1234")
        L16(37, "(%bx)")
        L16(38, "0x7f(%bx,%si)")
        L16(39, "-2(%si)")
        L16(40, "0x2000(%bx)")
        L16(41, "(%bp)")
        L16(42, "0xffff(%di)")
        L16(43, "0x8000(%bp,%di)")
        "    lea 0x12345(%ebx), %ax\n"
        "    movl %eax, lea_out+4*44\n"
        "    movl $" STR(RA) ", %eax\n"
        "    addr16 lea 0x10(%bx,%si), %ax\n"
        "    movl %eax, lea_out+4*45\n"
        "    popal\n"
        "    ret\n");
/* clang-format on */

void lea_probe(void);

static void test_lea(void)
{
    static const struct {
        int slot;
        const char *name;
        uint32_t want;
        int esp_relative;
    } cases[] = {
        {0, "disp32", 0x12345678, 0},
        {1, "(eax)", RA, 0},
        {2, "(ebx)", RB, 0},
        {3, "(ecx)", RC, 0},
        {4, "(edx)", RD, 0},
        {5, "(esi)", RS, 0},
        {6, "(edi)", RI, 0},
        {7, "(ebp)", RP, 0},
        {8, "(esp)", 0, 1},
        {9, "0x12(esp)", 0x12, 1},
        {10, "disp8(ebx)", RB + 0x7f, 0},
        {11, "-disp8(ecx)", RC - 0x80, 0},
        {12, "disp32(edx)", RD + 0x12345, 0},
        {13, "-1(ebp)", RP - 1, 0},
        {14, "(eax,ebx)", RA + RB, 0},
        {15, "(ecx,edx,2)", RC + RD * 2, 0},
        {16, "(esi,edi,4)", RS + RI * 4, 0},
        {17, "(edi,eax,8)", RI + RA * 8, 0},
        {18, "0x10(ebp,ecx,8)", RP + RC * 8 + 0x10, 0},
        {19, "-0x10000(eax,esi)", RA + RS - 0x10000, 0},
        {20, "0x1000(,ecx,8)", RC * 8 + 0x1000, 0},
        {21, "(,edx,4)", RD * 4, 0},
        {22, "4(esp,ecx,2)", RC * 2 + 4, 1},
        {23, "(ebp,ebp)", RP * 2, 0},
        {24, "wrap 0xf0000000(ebx,edx,4)", RB + RD * 4 + 0xf0000000u, 0},
        {25, "(eax,ebp,1)", RA + RP, 0},
        {26, "0x1000(esi)", RS + 0x1000, 0},
        {27, "-0x7f(edi,ebx,2)", RI + RB * 2 - 0x7f, 0},
        {28, "8(ecx,no index)", RC + 8, 0},
        {29, "(ebx,ebx,2)", RB * 3, 0},
        {30, "a16 (bx,si)", W(RB + RS), 0},
        {31, "a16 (bx,di)", W(RB + RI), 0},
        {32, "a16 (bp,si)", W(RP + RS), 0},
        {33, "a16 (bp,di)", W(RP + RI), 0},
        {34, "a16 (si)", W(RS), 0},
        {35, "a16 (di)", W(RI), 0},
        {36, "a16 disp16", 0x1234, 0},
        {37, "a16 (bx)", W(RB), 0},
        {38, "a16 0x7f(bx,si)", W(RB + RS + 0x7f), 0},
        {39, "a16 -2(si)", W(RS - 2), 0},
        {40, "a16 0x2000(bx)", W(RB + 0x2000), 0},
        {41, "a16 (bp)", W(RP), 0},
        {42, "a16 0xffff(di)", W(RI + 0xffff), 0},
        {43, "a16 0x8000(bp,di)", W(RP + RI + 0x8000), 0},
        {44, "lea to ax", (RA & 0xffff0000) | W(RB + 0x12345), 0},
        {45, "a16 lea to ax", (RA & 0xffff0000) | W(RB + RS + 0x10), 0},
    };
    lea_probe();
    for (unsigned i = 0; i < T_ARRAY_SIZE(cases); i++)
        t_assert_eq(cases[i].name, lea_out[cases[i].slot],
                    cases[i].want + (cases[i].esp_relative ? lea_esp : 0));
}

static uint8_t seg_buf[0x10000 + 64] __attribute__((aligned(16)));
#define SEG_SEL (T_GDT_SPARE << 3)
uint32_t ov_sel = SEG_SEL, ov_fw, ov_out[16];
static volatile uint32_t flat_word = 0x600df00d;

/*
 * With DS based at seg_buf: plain (ebx) follows DS, (ebp) and (esp) follow
 * SS, the overrides ss:, es:, cs: and ds: do what they say, and BP-based
 * 16-bit addresses default to SS too. Results are stored with ss: overrides
 * because DS no longer reaches them.
 */
/* clang-format off */
__asm__(".text\n"
        "override_probe:\n"
        "    pushal\n"
        "    pushl %ds\n"
        "    movl ov_sel, %eax\n"
        "    movl ov_fw, %edx\n"
        "    movl %eax, %ds\n"
        "    movl $0x100, %ebx\n"
        "    movl (%ebx), %ecx\n"
        "    movl %ecx, %ss:ov_out+0\n"
        "    movl %edx, %ebp\n"
        "    movl (%ebp), %ecx\n"
        "    movl %ecx, %ss:ov_out+4\n"
        "    movl %ebx, %ebp\n"
        "    movl %ds:(%ebp), %ecx\n"
        "    movl %ecx, %ss:ov_out+8\n"
        "    movl %ss:(%edx), %ecx\n"
        "    movl %ecx, %ss:ov_out+12\n"
        "    movl %es:(%edx), %ecx\n"
        "    movl %ecx, %ss:ov_out+16\n"
        "    movl %cs:override_probe, %ecx\n"
        "    movl %ecx, %ss:ov_out+20\n"
        "    pushl $0x13572468\n"
        "    movl (%esp), %ecx\n"
        "    addl $4, %esp\n"
        "    movl %ecx, %ss:ov_out+24\n"
        "    movl $0x12340f00, %ebx\n"
        "    movl $0x56780234, %esi\n"
        "    movl $0x9abc0400, %ebp\n"
        "    addr16 movl 0x10(%bx,%si), %ecx\n" /* ds: 0x1144 */
        "    movl %ecx, %ss:ov_out+28\n"
        "    addr16 movl (%bp,%si), %ecx\n" /* ss: 0x0634 */
        "    movl %ecx, %ss:ov_out+32\n"
        "    addr16 movl %ds:0xfff0(%bp), %ecx\n" /* ds: 0x03f0, wrapped */
        "    movl %ecx, %ss:ov_out+36\n"
        "    movl $0xfeedbeef, 0x200\n" /* a store through the moved DS */
        "    popl %ds\n"
        "    popal\n"
        "    ret\n");
/* clang-format on */

void override_probe(void);

/* A load from a fixed physical address, out of the compiler's sight. */
static uint32_t peek(uint32_t addr)
{
    uint32_t v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static void test_overrides(void)
{
    uint32_t b = (uint32_t)seg_buf, v;
    for (unsigned i = 0; i < sizeof(seg_buf); i++)
        seg_buf[i] = (uint8_t)(i * 7 + (i >> 8));
    t_gdt_set(SEG_SEL >> 3, b, 0xfffff, T_ACC_DATA, T_FLG_32);

    /* fs: and gs: loads and a gs: store. */
    __asm__ volatile("movl %1, %%fs\n\tmovl %%fs:0x20, %0" : "=r"(v) : "r"(SEG_SEL));
    t_assert_eq("fs:disp32", v, *(uint32_t *)(seg_buf + 0x20));
    __asm__ volatile("movl %%fs:(%1,%2,4), %0" : "=r"(v) : "r"(0x10), "r"(3));
    t_assert_eq("fs:(base,index,4)", v, *(uint32_t *)(seg_buf + 0x1c));
    __asm__ volatile("movl %0, %%gs\n\tmovl $0xc0ffee11, %%gs:(%1)"
                     :
                     : "r"(SEG_SEL), "r"(0x40)
                     : "memory");
    t_assert_eq("gs: store", *(uint32_t *)(seg_buf + 0x40), 0xc0ffee11);
    __asm__ volatile("movl %0, %%fs\n\tmovl %0, %%gs" : : "r"(T_SEL_DATA32));

    ov_fw = (uint32_t)&flat_word;
    override_probe();
    t_assert_eq("ds:(reg) uses the DS base", ov_out[0], *(uint32_t *)(seg_buf + 0x100));
    t_assert_eq("(ebp) defaults to SS", ov_out[1], 0x600df00d);
    t_assert_eq("ds:(ebp) override", ov_out[2], *(uint32_t *)(seg_buf + 0x100));
    t_assert_eq("ss: override", ov_out[3], 0x600df00d);
    t_assert_eq("es: override", ov_out[4], 0x600df00d);
    t_assert_eq("cs: override", ov_out[5], *(volatile uint32_t *)(uintptr_t)override_probe);
    t_assert_eq("(esp) defaults to SS", ov_out[6], 0x13572468);
    t_assert_eq("a16 ds:(bx,si)", ov_out[7], *(uint32_t *)(seg_buf + 0x1144));
    t_assert_eq("a16 (bp,si) defaults to SS", ov_out[8], peek(0x634));
    t_assert_eq("a16 ds:disp16(bp) wraps", ov_out[9], *(uint32_t *)(seg_buf + 0x03f0));
    t_assert_eq("store through moved DS", *(uint32_t *)(seg_buf + 0x200), 0xfeedbeef);
}

static void test_bound(void)
{
    static const int32_t bounds[2] = {-10, 20};
    static const int16_t bounds16[2] = {100, 200};
    static const struct {
        int32_t v;
        int faults;
    } cases[] = {{-10, 0}, {0, 0}, {20, 0}, {-11, 1}, {21, 1}, {(int32_t)0x80000000, 1}};

    t_catch(5);
    for (unsigned i = 0; i < T_ARRAY_SIZE(cases); i++) {
        uint32_t before = t_trap.count, at, v = (uint32_t)cases[i].v;
        __asm__ volatile("movl $1f, t_resume_eip\n\tmovl $2f, %0\n"
                         "2:\tboundl %1, %2\n\t"
                         "movl $0, t_resume_eip\n"
                         "1:"
                         : "=&r"(at)
                         : "r"(v), "m"(bounds)
                         : "memory");
        t_assert_eq("bound: #BR taken", t_trap.count - before, (uint32_t)cases[i].faults);
        if (cases[i].faults) {
            t_assert_eq("bound: vector", t_trap.vector, 5);
            t_assert_eq("bound: EIP at the bound", t_trap.eip, at);
        }
    }
    uint32_t before = t_trap.count;
    __asm__ volatile("movl $1f, t_resume_eip\n\tboundw %w0, %1\n\tmovl $0, t_resume_eip\n1:"
                     :
                     : "r"(150), "m"(bounds16)
                     : "memory");
    t_assert_eq("boundw in range", t_trap.count - before, 0);
    __asm__ volatile("movl $1f, t_resume_eip\n\tboundw %w0, %1\n\tmovl $0, t_resume_eip\n1:"
                     :
                     : "r"(0x123400c9), "m"(bounds16)
                     : "memory");
    t_assert_eq("boundw 201 out of range", t_trap.count - before, 1);
}

void test_main(void)
{
    test_lea();
    test_overrides();
    test_bound();
}
