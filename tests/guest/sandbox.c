/*
 * sandbox: guest behaviour that tries the walls of a translating VMM.
 *
 * The top of the 4 GiB linear space (paging off): loads at 0xfffffffc..
 * 0xffffffff must agree with the same bytes read one at a time, and loads that
 * straddle 0xffffffff (BIOS ROM at the top, RAM at 0) must wrap around to 0
 * exactly as the piecewise reads say, for integer, string, x87 and SSE loads.
 * A dword store at 0xfffffffe writes its two RAM bytes at 0 and leaves the ROM
 * half alone. Unassigned physical memory can be read without harm.
 *
 * Self-modifying code: a store that rewrites the very next instruction, an
 * immediate patched on every pass of a loop, a code buffer rewritten between
 * calls (by MOV and by REP MOVSB), and the same bytes executed from two
 * different offsets (overlapping instructions). Computed control transfers:
 * jmp/call through registers and memory tables, and push+ret. Expected
 * results are worked out by hand.
 */
#include "kit.h"

/* ---- code that rewrites itself (in a writable, executable section) ---- */

/* clang-format off */
__asm__(".section .smc, \"awx\", @progbits\n"
        /* smc_next(value): patch the imm8 of the next instruction, run it. */
        "smc_next:\n"
        "    movl 4(%esp), %ecx\n"
        "    movb %cl, 1f+1\n"
        "1:  movb $0x00, %al\n"
        "    movzbl %al, %eax\n"
        "    ret\n"
        /* smc_loop(): sum of an immediate patched on every iteration. */
        "smc_loop:\n"
        "    movl $10, %ecx\n"
        "    xorl %edx, %edx\n"
        "2:  movl $0, %eax\n"
        "    addl %eax, %edx\n"
        "    incl 2b+1\n"
        "    loop 2b\n"
        "    movl $0, 2b+1\n"
        "    movl %edx, %eax\n"
        "    ret\n"
        /* Overlapping instructions: from overlap, mov $0x01eb4040, %eax; ret.
         * From overlap+1: inc; inc; jmp over the ret; dec; ret. */
        "overlap:\n"
        "    .byte 0xb8, 0x40, 0x40, 0xeb, 0x01\n"
        "    .byte 0xc3\n"
        "    .byte 0x48, 0xc3\n"
        /* Eight stubs of 8 bytes: stub k returns k. */
        "    .p2align 3\n"
        "stubs:\n"
        "    .irp k, 0,1,2,3,4,5,6,7\n"
        "    .p2align 3\n"
        "    movl $\\k, %eax\n"
        "    ret\n"
        "    .endr\n"
        "    .p2align 4\n"
        "code_buf:\n"
        "    .skip 64, 0xcc\n"
        "    .text\n");
/* clang-format on */

uint32_t smc_next(uint32_t value);
uint32_t smc_loop(void);
extern uint8_t overlap[], stubs[], code_buf[];

static uint32_t call_at(const void *p, uint32_t eax)
{
    __asm__ volatile("call *%1" : "+a"(eax) : "r"(p) : "ecx", "edx", "memory", "cc");
    return eax;
}

static void test_smc(void)
{
    for (uint32_t v = 1; v < 300; v += 37)
        t_assert_eq("store over the next instruction", smc_next(v), v & 0xff);
    t_assert_eq("immediate patched in a loop", smc_loop(), 45);
    t_assert_eq("immediate patched in a loop (again)", smc_loop(), 45);

    for (int i = 0; i < 4; i++) {
        t_assert_eq("overlap from offset 0", call_at(overlap, 0), 0x01eb4040);
        t_assert_eq("overlap from offset 1", call_at(overlap + 1, 0), 1);
    }

    /* Rewrite a buffer between calls: mov $imm32, %eax; ret. */
    for (uint32_t k = 0; k < 5; k++) {
        uint32_t imm = 0x1000 * k + 7;
        code_buf[0] = 0xb8;
        memcpy(code_buf + 1, &imm, 4);
        code_buf[5] = 0xc3;
        t_assert_eq("rewritten buffer", call_at(code_buf, 0), imm);
    }
    /* ... with a different instruction mix: xor eax,eax; inc eax; inc eax; ret. */
    static const uint8_t incs[] = {0x31, 0xc0, 0x40, 0x40, 0xc3};
    memcpy(code_buf, incs, sizeof(incs));
    t_assert_eq("rewritten buffer (new instructions)", call_at(code_buf, 99), 2);
    /* ... and by a string instruction: not eax; ret. */
    static const uint8_t nots[] = {0xf7, 0xd0, 0xc3};
    const void *from = nots;
    void *to = code_buf;
    uint32_t n = sizeof(nots);
    __asm__ volatile("rep movsb" : "+S"(from), "+D"(to), "+c"(n) : : "memory");
    t_assert_eq("buffer rewritten by rep movsb", call_at(code_buf, 0x0f0f0f0f), 0xf0f0f0f0);
}

static void test_computed_jumps(void)
{
    static const void *table[8];
    for (int k = 0; k < 8; k++)
        table[k] = stubs + 8 * k;
    for (uint32_t k = 0; k < 8; k++) {
        uint32_t r;
        /* call through a register computed with lea */
        __asm__ volatile("leal stubs(,%1,8), %%edx\n\tcall *%%edx"
                         : "=a"(r)
                         : "c"(k)
                         : "edx", "memory");
        t_assert_eq("call *reg", r, k);
        /* call through a memory table */
        __asm__ volatile("call *%c2(,%1,4)" : "=a"(r) : "c"(k), "i"(table) : "edx", "memory");
        t_assert_eq("call *table(,idx,4)", r, k);
        /* push the return point and the target, then ret */
        __asm__ volatile("pushl $1f\n\t"
                         "leal stubs(,%1,8), %%edx\n\t"
                         "pushl %%edx\n\t"
                         "ret\n"
                         "1:"
                         : "=a"(r)
                         : "c"(k)
                         : "edx", "memory");
        t_assert_eq("push+ret", r, k);
        /* jmp through a register, coming back through a pushed return */
        __asm__ volatile("pushl $1f\n\t"
                         "movl %1, %%edx\n\t"
                         "shll $3, %%edx\n\t"
                         "addl $stubs, %%edx\n\t"
                         "jmp *%%edx\n"
                         "1:"
                         : "=a"(r)
                         : "c"(k)
                         : "edx", "memory");
        t_assert_eq("jmp *reg", r, k);
    }
}

/* ---- the top of the linear address space ---- */

static uint8_t peek8(uint32_t a)
{
    uint8_t v;
    __asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(a) : "memory");
    return v;
}

static uint16_t peek16(uint32_t a)
{
    uint16_t v;
    __asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(a) : "memory");
    return v;
}

static uint32_t peek32(uint32_t a)
{
    uint32_t v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(a) : "memory");
    return v;
}

/* The bytes at a, a+1, ... with the address wrapping at 4 GiB. */
static uint64_t piecewise(uint32_t a, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | peek8(a + (uint32_t)i);
    return v;
}

static void test_top_of_memory(void)
{
    t_printf("bytes at 0xfffffff0: %02x %02x %02x %02x %02x (the reset vector)\n",
             peek8(0xfffffff0), peek8(0xfffffff1), peek8(0xfffffff2), peek8(0xfffffff3),
             peek8(0xfffffff4));
    t_assert_eq("dword at fffffffc", peek32(0xfffffffc), (uint32_t)piecewise(0xfffffffc, 4));
    t_assert_eq("word at fffffffe", peek16(0xfffffffe), (uint32_t)piecewise(0xfffffffe, 2));
    t_assert_eq("byte at ffffffff", peek8(0xffffffff), (uint32_t)piecewise(0xffffffff, 1));

    /* Straddling 0xffffffff: the rest comes from linear 0. */
    t_assert_eq("dword at fffffffe wraps", peek32(0xfffffffe), (uint32_t)piecewise(0xfffffffe, 4));
    t_assert_eq("dword at ffffffff wraps", peek32(0xffffffff), (uint32_t)piecewise(0xffffffff, 4));
    t_assert_eq("dword at fffffffd wraps", peek32(0xfffffffd), (uint32_t)piecewise(0xfffffffd, 4));
    t_assert_eq("word at ffffffff wraps", peek16(0xffffffff), (uint32_t)piecewise(0xffffffff, 2));

    uint64_t q;
    __asm__ volatile("fildll (%1)\n\tfistpll %0" : "=m"(q) : "r"(0xfffffffc) : "memory");
    t_assert_eq64("fildll at fffffffc wraps", q, piecewise(0xfffffffc, 8));
    __asm__ volatile("movq (%1), %%mm0\n\tmovq %%mm0, %0\n\temms"
                     : "=m"(q)
                     : "r"(0xfffffffa)
                     : "memory");
    t_assert_eq64("movq mm at fffffffa wraps", q, piecewise(0xfffffffa, 8));

    uint8_t got[8];
    uint32_t from_top = 0xfffffffd, count = 8;
    void *to = got;
    __asm__ volatile("rep movsb" : "+S"(from_top), "+D"(to), "+c"(count) : : "memory");
    uint64_t want = piecewise(0xfffffffd, 8);
    t_assert_mem("rep movsb from fffffffd wraps", got, &want, 8);
    uint32_t esi = 0xfffffffe, v;
    __asm__ volatile("lodsl" : "=a"(v), "+S"(esi) : : "memory");
    t_assert_eq("lodsl at fffffffe", v, (uint32_t)piecewise(0xfffffffe, 4));
    t_assert_eq("lodsl: ESI wraps", esi, 2);

    /* Segment base + offset wrapping: base 0xfffff000, offset 0xffe. */
    t_gdt_set(T_GDT_SPARE, 0xfffff000, 0xfffff, T_ACC_DATA, T_FLG_32);
    __asm__ volatile("movl %2, %%fs\n\tmovl %%fs:(%1), %0\n\tmovl %3, %%fs"
                     : "=r"(v)
                     : "r"(0xffe), "r"(T_GDT_SPARE << 3), "r"(T_SEL_DATA32));
    t_assert_eq("fs: base+offset wraps", v, (uint32_t)piecewise(0xfffffffe, 4));

    /* A straddling store: RAM bytes 0 and 1 change, the ROM half does not. */
    uint16_t rom_before = peek16(0xfffffffe), ram_before = peek16(0);
    __asm__ volatile("movl %0, (%1)" : : "r"(0xa55aa55a), "r"(0xfffffffe) : "memory");
    t_assert_eq("store at fffffffe: RAM half written", peek16(0), 0xa55a);
    t_assert_eq("store at fffffffe: ROM half unchanged", peek16(0xfffffffe), rom_before);
    __asm__ volatile("movw %0, (%1)" : : "r"(ram_before), "r"(0) : "memory");

    /* Unassigned physical memory (far above RAM) reads without harm. */
    t_printf("read of unassigned 0xe0000000: 0x%08x\n", peek32(0xe0000000));
}

void test_main(void)
{
    test_smc();
    test_computed_jumps();
    test_top_of_memory();
}
