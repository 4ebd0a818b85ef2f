/*
 * realmode: leaving protected mode for real mode and coming back, as boot
 * loaders and DOS extenders do. A 16-bit blob is copied to linear 0x2000
 * (real mode cannot run the image at 1 MiB). From 32-bit code the test loads
 * an IDTR for the real-mode IVT (base 0, limit 0x3ff), far-jumps to the blob
 * through the kit's 16-bit code segment, loads DS/ES/SS/GS with the 16-bit
 * data segment (limit 0xffff) and FS with the flat 4 GiB one, clears CR0.PE
 * and far-jumps to 0x0200:offset. In real mode it records, into a results
 * area at 0x3800 that the protected-mode side checks afterwards:
 *
 *  - CS (0x0200) and the MSW (PE clear);
 *  - segment arithmetic: LODSL from 0x03c0:0x0010 (linear 0x3c10), a store
 *    through 0x03c1:0 read back through 0x03bf:0x20 (all three are 0x3c10),
 *    and a read at 0xffff:0x0010 = linear 0x100000 (the Multiboot header);
 *  - INT 0x61 through an IVT entry it installs: the ISR sees the pushed IP
 *    (after the INT), CS and FLAGS (CF set), IF/TF clear, SP 6 lower, and
 *    its IRET restores FLAGS (CF set again although the ISR cleared it);
 *  - PUSHF/POPF: real mode may change IOPL and NT, never bit 15;
 *  - a far call to the same code through CS 0x0100 (IP 0x1000 higher): the
 *    IP a near CALL pushes there is relative to the new CS;
 *  - big ("unreal") real mode: FS keeps the 4 GiB limit from protected mode
 *    when reloaded with 0 in real mode, so a 32-bit address (0x67 prefix)
 *    reads and writes a variable of this image above 1 MiB;
 *
 * then sets PE and far-jumps to the kit's 32-bit code segment, restores the
 * segments, stack and IDTR, and the C side checks everything. Expected
 * values follow from the 8086 segment rule (linear = segment * 16 + offset)
 * and the SDM's real-mode INT/IRET and POPF descriptions.
 */
#include "kit.h"

#define RM_BASE 0x2000u /* the blob; real-mode CS = 0x0200 */
#define RM_RES 0x3800u  /* results: dword slots, ES = 0x0380 */
#define RM_DATA 0x3c10u /* the segment-arithmetic dword */
#define IVT_61 (0x61 * 4)

enum {
    R_CS,
    R_MSW,
    R_LODS,
    R_LODS_SI,
    R_ALIAS,
    R_HMA,
    R_SP_BEFORE,
    R_FLAGS_BEFORE,
    R_AX_AFTER,
    R_FLAGS_AFTER,
    R_SP_AFTER,
    R_ISR_IP,
    R_ISR_CS,
    R_ISR_FLAGS,
    R_ISR_FLAGS_IN,
    R_ISR_SP,
    R_POPF,
    R_BIG,
    R_FAR_CS,
    R_FAR_IP,
    R_COUNT
};

uint32_t pm_saved_esp;
uint8_t pm_saved_idt[6];
volatile uint32_t big_target[2] = {0x8badf00d, 0};
struct __attribute__((packed)) {
    uint16_t limit;
    uint32_t base;
} rm_ivt_desc = {0x3ff, 0};

/* The blob (copied to RM_BASE) and the 32-bit code around it. */
__asm__(".text\n"
        ".code16\n"
        "rm_start:\n"
        /* 16-bit protected mode, CS = 0x18 (base 0): 16-bit data segments, FS flat. */
        "rm16_pm:\n"
        "    movw $0x20, %ax\n"
        "    movw %ax, %ds\n"
        "    movw %ax, %es\n"
        "    movw %ax, %ss\n"
        "    movw %ax, %gs\n"
        "    movw $0x10, %ax\n"
        "    movw %ax, %fs\n"
        "    movl %cr0, %eax\n"
        "    andb $0xfe, %al\n"
        "    movl %eax, %cr0\n"
        "    ljmp $0x0200, $(rm_real - rm_start)\n"
        /* Real mode. */
        "rm_real:\n"
        "    movw $0x0200, %ax\n"
        "    movw %ax, %ss\n"
        "    movw $0x1800, %sp\n"
        "    movw $0x0380, %ax\n"
        "    movw %ax, %es\n"
        "    movw %cs, %es:0x00\n"
        "    smsw %ax\n"
        "    movw %ax, %es:0x04\n"
        /* Segment arithmetic. */
        "    movw $0x03c0, %ax\n"
        "    movw %ax, %ds\n"
        "    movw $0x10, %si\n"
        "    cld\n"
        "    lodsl\n"
        "    movl %eax, %es:0x08\n"
        "    movw %si, %es:0x0c\n"
        "    movw $0x03c1, %ax\n"
        "    movw %ax, %ds\n"
        "    xorw %si, %si\n"
        "    movl $0x600df00d, (%si)\n"
        "    movw $0x03bf, %bx\n"
        "    movw %bx, %ds\n"
        "    movw $0x20, %si\n"
        "    movl (%si), %eax\n"
        "    movl %eax, %es:0x10\n"
        "    movw $0xffff, %ax\n"
        "    movw %ax, %ds\n"
        "    movl 0x10, %eax\n"
        "    movl %eax, %es:0x14\n"
        /* INT 0x61 through the IVT. */
        "    xorw %ax, %ax\n"
        "    movw %ax, %ds\n"
        "    movw $(rm_isr - rm_start), 0x184\n"
        "    movw %cs, 0x186\n"
        "    movw %sp, %es:0x18\n"
        "    movw $0x1234, %ax\n"
        "    stc\n"
        "    pushfw\n"
        "    popw %dx\n"
        "    movw %dx, %es:0x1c\n"
        "    int $0x61\n"
        "rm_after_int:\n"
        "    movw %ax, %es:0x20\n"
        "    pushfw\n"
        "    popw %dx\n"
        "    movw %dx, %es:0x24\n"
        "    movw %sp, %es:0x28\n"
        /* PUSHF/POPF: IOPL and NT may change in real mode, bit 15 never. */
        "    pushw $0xfcd5\n"
        "    popfw\n"
        "    pushfw\n"
        "    popw %dx\n"
        "    movw %dx, %es:0x40\n"
        "    pushw $0x0002\n"
        "    popfw\n"
        /* Big real mode: FS reloaded in real mode keeps its 4 GiB limit. */
        "    xorw %ax, %ax\n"
        "    movw %ax, %fs\n"
        "    movl $big_target, %ebx\n"
        "    addr32 movl %fs:(%ebx), %eax\n"
        "    movl %eax, %es:0x44\n"
        "    movl $0x0b16b16, %eax\n"
        "    addr32 movl %eax, %fs:4(%ebx)\n"
        /* A far call to the same code through CS 0x0100 (IP 0x1000 higher). */
        "    lcall $0x0100, $(rm_far - rm_start + 0x1000)\n"
        /* Back to protected mode. */
        "    movl %cr0, %eax\n"
        "    orb $1, %al\n"
        "    movl %eax, %cr0\n"
        "    ljmpl $0x08, $pm_back\n"
        /* The INT 0x61 handler: record its frame, change AX and CF. */
        "rm_isr:\n"
        "    movw %sp, %bp\n"
        "    movw (%bp), %dx\n"
        "    movw %dx, %es:0x2c\n"
        "    movw 2(%bp), %dx\n"
        "    movw %dx, %es:0x30\n"
        "    movw 4(%bp), %dx\n"
        "    movw %dx, %es:0x34\n"
        "    pushfw\n"
        "    popw %dx\n"
        "    movw %dx, %es:0x38\n"
        "    movw %sp, %es:0x3c\n"
        "    addw $0x1111, %ax\n"
        "    clc\n"
        "    iret\n"
        /* Reached as 0x0100:(offset + 0x1000): CS and the IP CALL pushes. */
        "rm_far:\n"
        "    movw %cs, %es:0x48\n"
        "    call rm_far_ip\n"
        "rm_far_ip:\n"
        "    popw %dx\n"
        "    movw %dx, %es:0x4c\n"
        "    lret\n"
        "rm_end:\n"
        ".code32\n"
        "rm_enter:\n"
        "    pushal\n"
        "    movl %esp, pm_saved_esp\n"
        "    sidt pm_saved_idt\n"
        "    lidt rm_ivt_desc\n"
        "    ljmp $0x18, $0x2000 + (rm16_pm - rm_start)\n"
        "pm_back:\n"
        "    movl $0x10, %eax\n"
        "    movl %eax, %ds\n"
        "    movl %eax, %es\n"
        "    movl %eax, %fs\n"
        "    movl %eax, %gs\n"
        "    movl %eax, %ss\n"
        "    movl pm_saved_esp, %esp\n"
        "    lidt pm_saved_idt\n"
        "    popal\n"
        "    ret\n");
void rm_enter(void);
extern char rm_start[], rm_end[], rm_after_int[], rm_isr[], rm_far_ip[];

static uint32_t peek(uint32_t addr)
{
    uint32_t v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

void test_main(void)
{
    volatile uint32_t *res = (volatile uint32_t *)RM_RES;
    uint32_t cr0 = t_read_cr0();

    t_assert_eq("blob fits below the stack", rm_end - rm_start < 0x1000, 1);
    memcpy((void *)RM_BASE, rm_start, rm_end - rm_start);
    for (int i = 0; i < R_COUNT; i++)
        res[i] = 0xdeadbeef;
    for (int i = 0; i < R_COUNT; i++)
        if (i != R_LODS && i != R_ALIAS && i != R_HMA && i != R_BIG)
            res[i] = 0; /* 16-bit results: clear the upper half */
    *(volatile uint32_t *)RM_DATA = 0xcafebabe;

    rm_enter();
    t_printf("back in protected mode; real-mode CS 0x%04x MSW 0x%04x\n", res[R_CS], res[R_MSW]);

    t_assert_eq("real mode: CS", res[R_CS], 0x0200);
    t_assert_eq("real mode: MSW (PE clear)", res[R_MSW], cr0 & 0xfffe);
    t_assert_eq("lodsl from 0x03c0:0x0010", res[R_LODS], 0xcafebabe);
    t_assert_eq("lodsl: SI", res[R_LODS_SI], 0x14);
    t_assert_eq("0x03c1:0 and 0x03bf:0x20 alias", res[R_ALIAS], 0x600df00d);
    t_assert_eq("store through 0x03c1:0 lands at 0x3c10", *(volatile uint32_t *)RM_DATA,
                0x600df00d);
    t_assert_eq("0xffff:0x0010 is linear 0x100000", res[R_HMA], 0x1badb002);

    t_assert_eq("int 0x61: AX from the handler", res[R_AX_AFTER], 0x2345);
    t_assert_eq("int 0x61: pushed IP", res[R_ISR_IP], (uint32_t)(rm_after_int - rm_start));
    t_assert_eq("int 0x61: pushed CS", res[R_ISR_CS], 0x0200);
    t_assert_eq("int 0x61: pushed FLAGS", res[R_ISR_FLAGS], res[R_FLAGS_BEFORE]);
    t_assert_eq("int 0x61: CF set before", res[R_FLAGS_BEFORE] & T_CF, T_CF);
    t_assert_eq("int 0x61: handler runs with IF and TF clear", res[R_ISR_FLAGS_IN] & 0x300, 0);
    t_assert_eq("int 0x61: handler's arithmetic flags", res[R_ISR_FLAGS_IN] & T_ARITH,
                res[R_FLAGS_BEFORE] & T_ARITH);
    t_assert_eq("int 0x61: SP in the handler", res[R_ISR_SP], res[R_SP_BEFORE] - 6);
    t_assert_eq("iret: FLAGS restored", res[R_FLAGS_AFTER], res[R_FLAGS_BEFORE]);
    t_assert_eq("iret: SP restored", res[R_SP_AFTER], res[R_SP_BEFORE]);
    t_assert_eq("IVT entry as installed", peek(IVT_61),
                0x02000000u | (uint32_t)(rm_isr - rm_start));

    t_assert_eq("far call through CS 0x0100: CS", res[R_FAR_CS], 0x0100);
    t_assert_eq("far call through CS 0x0100: IP pushed by a near call", res[R_FAR_IP],
                (uint32_t)(rm_far_ip - rm_start) + 0x1000);
    t_assert_eq("real-mode popf/pushf", res[R_POPF], 0x7cd7);
    t_assert_eq("big real mode: read above 1 MiB", res[R_BIG], 0x8badf00d);
    t_assert_eq("big real mode: write above 1 MiB", big_target[1], 0x0b16b16);

    uint16_t cs;
    __asm__ volatile("movw %%cs, %0" : "=r"(cs));
    t_assert_eq("protected mode again: CS", cs, T_SEL_CODE32);
    t_assert_eq("protected mode again: PE", t_read_cr0() & 1, 1);
}
