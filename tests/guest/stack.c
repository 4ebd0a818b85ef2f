/*
 * stack: the stack instructions whose corner cases a translator must keep:
 * push esp (pushes the old value), pop esp (ESP becomes the popped value),
 * pop into [esp+x] (address formed after the increment) and push [esp+x]
 * (before the decrement), pusha/popa (popa skips ESP) and their 16-bit forms,
 * enter with nesting levels 0, 1, 3 and 33 (taken modulo 32) and leave, push
 * of a sign-extended imm8 and of a 16-bit immediate, segment register pushes
 * (4 bytes, or 2 with 0x66), ret imm16, and pushf/popf/lahf/sahf of the
 * arithmetic flags and of DF/IOPL/NT/AC (reserved bits stay fixed).
 *
 * The body is one asm routine (stack_probe) that records what it saw in
 * probe[]; the C side then compares each slot with the value the SDM gives.
 */
#include "kit.h"

uint32_t probe[64];
uint32_t display[8]; /* the caller's frame display for enter with levels */
uint32_t mem_src = 0xfeedf00d, mem_dst;

#define R(n) "probe+" #n "*4"

/* clang-format off */
__asm__(".text\n"
        "stack_probe:\n"
        "    pushal\n"
        /* push esp */
        "    movl %esp, %ecx\n"
        "    pushl %esp\n"
        "    popl %eax\n"
        "    movl %ecx, " R(0) "\n"
        "    movl %eax, " R(1) "\n"
        /* pop esp */
        "    movl %esp, %edx\n"
        "    leal -64(%esp), %eax\n"
        "    pushl %eax\n"
        "    popl %esp\n"
        "    movl %esp, " R(2) "\n"
        "    movl %eax, " R(3) "\n"
        "    movl %edx, %esp\n"
        /* pop 4(%esp): the address is formed after ESP += 4 */
        "    pushl $0x11111111\n"
        "    pushl $0x22222222\n"
        "    pushl $0x33333333\n"
        "    popl 4(%esp)\n"
        "    popl " R(4) "\n"
        "    popl " R(5) "\n"
        /* pop (%esp) */
        "    pushl $0x44444444\n"
        "    pushl $0x55555555\n"
        "    popl (%esp)\n"
        "    popl " R(6) "\n"
        /* push 4(%esp): the address is formed before ESP -= 4 */
        "    pushl $0x66666666\n"
        "    pushl $0x77777777\n"
        "    pushl 4(%esp)\n"
        "    popl " R(7) "\n"
        "    addl $8, %esp\n"
        /* pusha */
        "    movl %esp, " R(8) "\n"
        "    movl $0xa0000001, %eax\n"
        "    movl $0xa0000002, %ecx\n"
        "    movl $0xa0000003, %edx\n"
        "    movl $0xa0000004, %ebx\n"
        "    movl $0xa0000006, %ebp\n"
        "    movl $0xa0000007, %esi\n"
        "    movl $0xa0000008, %edi\n"
        "    pushal\n"
        "    popl " R(9) "\n"  /* edi */
        "    popl " R(10) "\n" /* esi */
        "    popl " R(11) "\n" /* ebp */
        "    popl " R(12) "\n" /* esp before pusha */
        "    popl " R(13) "\n" /* ebx */
        "    popl " R(14) "\n" /* edx */
        "    popl " R(15) "\n" /* ecx */
        "    popl " R(16) "\n" /* eax */
        /* popa ignores the ESP slot */
        "    pushl $0xb0000001\n"
        "    pushl $0xb0000002\n"
        "    pushl $0xb0000003\n"
        "    pushl $0xb0000004\n"
        "    pushl $0xdeadbeef\n"
        "    pushl $0xb0000006\n"
        "    pushl $0xb0000007\n"
        "    pushl $0xb0000008\n"
        "    popal\n"
        "    movl %eax, " R(17) "\n"
        "    movl %ecx, " R(18) "\n"
        "    movl %edx, " R(19) "\n"
        "    movl %ebx, " R(20) "\n"
        "    movl %esp, " R(21) "\n"
        "    movl %ebp, " R(22) "\n"
        "    movl %esi, " R(23) "\n"
        "    movl %edi, " R(24) "\n"
        /* enter $8, $3 with EBP at the end of display[] */
        "    movl $display+32, %ebp\n"
        "    movl %esp, " R(25) "\n"
        "    enter $8, $3\n"
        "    movl %esp, " R(26) "\n"
        "    movl %ebp, " R(27) "\n"
        "    movl " R(25) ", %ebx\n"
        "    movl -4(%ebx), %eax\n"
        "    movl %eax, " R(28) "\n"
        "    movl -8(%ebx), %eax\n"
        "    movl %eax, " R(29) "\n"
        "    movl -12(%ebx), %eax\n"
        "    movl %eax, " R(30) "\n"
        "    movl -16(%ebx), %eax\n"
        "    movl %eax, " R(31) "\n"
        "    leave\n"
        "    movl %esp, " R(32) "\n"
        "    movl %ebp, " R(33) "\n"
        "    enter $16, $0\n"
        "    movl %esp, " R(34) "\n"
        "    movl %ebp, " R(35) "\n"
        "    leave\n"
        "    enter $4, $1\n"
        "    movl %esp, " R(36) "\n"
        "    movl -4(%ebp), %eax\n"
        "    movl %eax, " R(37) "\n"
        "    leave\n"
        "    enter $0, $33\n"
        "    movl %esp, " R(38) "\n"
        "    leave\n"
        /* pushf/popf */
        "    pushl $0x8d7\n"
        "    popfl\n"
        "    pushfl\n"
        "    popl " R(39) "\n"
        "    pushl $0x2\n"
        "    popfl\n"
        "    pushfl\n"
        "    popl " R(40) "\n"
        /* AC, NT, IOPL 3, OF, DF, SF, ZF, AF, PF, CF; not IF: under QEMU the firmware's
         * timer interrupt would come in, to no handler (1 run in 10 failed so) */
        "    pushl $0x47cd7\n"
        "    popfl\n"
        "    pushfl\n"
        "    popl " R(41) "\n"
        "    pushl $0x802a\n" /* only reserved bits: they cannot be set */
        "    popfl\n"
        "    pushfl\n"
        "    popl " R(42) "\n"
        "    pushl $0x8d7\n"
        "    popfl\n"
        "    pushw $0x0002\n" /* popfw changes only the low 16 bits */
        "    popfw\n"
        "    pushfl\n"
        "    popl " R(43) "\n"
        "    xorl %eax, %eax\n"
        "    pushl $0x8d7\n"
        "    popfl\n"
        "    lahf\n"
        "    movl %eax, " R(44) "\n"
        "    movl $0x4100, %eax\n" /* AH = ZF | CF */
        "    pushl $0x882\n"       /* OF | SF */
        "    popfl\n"
        "    sahf\n"
        "    pushfl\n"
        "    popl " R(45) "\n"
        "    pushl $2\n"
        "    popfl\n"
        /* push imm8 (sign-extended), push imm16 */
        "    pushl $-1\n"
        "    popl " R(46) "\n"
        "    movl %esp, %edx\n"
        "    pushw $0x1234\n"
        "    movl %esp, %ecx\n"
        "    subl %ecx, %edx\n"
        "    movl %edx, " R(47) "\n"
        "    popw %ax\n"
        "    movzwl %ax, %eax\n"
        "    movl %eax, " R(48) "\n"
        /* segment registers */
        "    movl %esp, %edx\n"
        "    pushl %ds\n"
        "    movl %esp, %ecx\n"
        "    popl %eax\n"
        "    subl %ecx, %edx\n"
        "    movl %edx, " R(49) "\n"
        "    movzwl %ax, %eax\n"
        "    movl %eax, " R(50) "\n"
        "    movl %esp, %edx\n"
        "    pushw %ds\n"
        "    movl %esp, %ecx\n"
        "    popw %ax\n"
        "    subl %ecx, %edx\n"
        "    movl %edx, " R(51) "\n"
        "    movl %esp, %edx\n"
        "    pushl %ss\n"
        "    popl %fs\n" /* and back through pop sreg */
        "    movl %fs, %eax\n"
        "    movl %eax, " R(55) "\n"
        "    movl %esp, %ecx\n"
        "    subl %ecx, %edx\n"
        "    movl %edx, " R(56) "\n"
        /* ret imm16 */
        "    movl %esp, %edx\n"
        "    pushl $0\n"
        "    pushl $0\n"
        "    call 3f\n"
        "    jmp 4f\n"
        "3:  ret $8\n"
        "4:  movl %esp, %ecx\n"
        "    subl %ecx, %edx\n"
        "    movl %edx, " R(52) "\n"
        /* pushaw/popaw */
        "    movl %esp, " R(57) "\n" /* popaw restores CX/DX: keep ESPs in memory */
        "    pushaw\n"
        "    movl %esp, " R(53) "\n"
        "    popaw\n"
        "    movl %esp, " R(58) "\n"
        /* push and pop memory operands */
        "    pushl mem_src\n"
        "    popl mem_dst\n"
        "    movl mem_dst, %eax\n"
        "    movl %eax, " R(54) "\n"
        "    popal\n"
        "    ret\n");
/* clang-format on */

void stack_probe(void);

void test_main(void)
{
    for (int i = 0; i < 8; i++)
        display[i] = 0xaaaa0000 + (8 - i); /* display[7] = [D-4] = 0xaaaa0001 */
    stack_probe();

    t_assert_eq("push esp pushes the old ESP", probe[1], probe[0]);
    t_assert_eq("pop esp loads the popped value", probe[2], probe[3]);
    t_assert_eq("pop 4(%esp): slot below untouched", probe[4], 0x22222222);
    t_assert_eq("pop 4(%esp): value popped", probe[5], 0x33333333);
    t_assert_eq("pop (%esp) writes after the increment", probe[6], 0x55555555);
    t_assert_eq("push 4(%esp) reads before the decrement", probe[7], 0x66666666);

    static const char *const regs[8] = {"edi", "esi", "ebp", "esp", "ebx", "edx", "ecx", "eax"};
    static const uint32_t pushed[8] = {0xa0000008, 0xa0000007, 0xa0000006, 0,
                                       0xa0000004, 0xa0000003, 0xa0000002, 0xa0000001};
    for (int i = 0; i < 8; i++)
        t_assert_eq(regs[i], probe[9 + i], i == 3 ? probe[8] : pushed[i]);
    static const uint32_t popped[8] = {0xb0000001, 0xb0000002, 0xb0000003, 0xb0000004,
                                       0,          0xb0000006, 0xb0000007, 0xb0000008};
    static const char *const popa_regs[8] = {"popa eax", "popa ecx", "popa edx", "popa ebx",
                                             "popa esp", "popa ebp", "popa esi", "popa edi"};
    for (int i = 0; i < 8; i++)
        t_assert_eq(popa_regs[i], probe[17 + i], i == 4 ? probe[8] : popped[i]);

    uint32_t s = probe[25], d = (uint32_t)&display[8];
    t_assert_eq("enter 8,3: esp", probe[26], s - 24);
    t_assert_eq("enter 8,3: ebp", probe[27], s - 4);
    t_assert_eq("enter 8,3: [S-4] old ebp", probe[28], d);
    t_assert_eq("enter 8,3: [S-8] display 1", probe[29], 0xaaaa0001);
    t_assert_eq("enter 8,3: [S-12] display 2", probe[30], 0xaaaa0002);
    t_assert_eq("enter 8,3: [S-16] frame", probe[31], s - 4);
    t_assert_eq("leave: esp", probe[32], s);
    t_assert_eq("leave: ebp", probe[33], d);
    t_assert_eq("enter 16,0: esp", probe[34], s - 20);
    t_assert_eq("enter 16,0: ebp", probe[35], s - 4);
    t_assert_eq("enter 4,1: esp", probe[36], s - 12);
    t_assert_eq("enter 4,1: [ebp-4] frame", probe[37], s - 4);
    t_assert_eq("enter 0,33 is level 1: esp", probe[38], s - 8);

    t_assert_eq("popf/pushf arithmetic flags", probe[39], 0x8d7);
    t_assert_eq("popf/pushf cleared", probe[40], 0x2);
    t_assert_eq("popf/pushf DF IOPL NT AC", probe[41], 0x47cd7);
    t_assert_eq("popf reserved bits", probe[42], 0x2);
    t_assert_eq("popfw keeps the high half", probe[43], 0x2);
    t_assert_eq("lahf", probe[44], 0xd700);
    t_assert_eq("sahf keeps OF", probe[45], 0x843);

    t_assert_eq("push imm8 sign-extends", probe[46], 0xffffffff);
    t_assert_eq("pushw imm16 moves esp by 2", probe[47], 2);
    t_assert_eq("pushw imm16 value", probe[48], 0x1234);
    t_assert_eq("push ds moves esp by 4", probe[49], 4);
    t_assert_eq("push ds value", probe[50], T_SEL_DATA32);
    t_assert_eq("pushw ds moves esp by 2", probe[51], 2);
    t_assert_eq("push ss/pop fs", probe[55] & 0xffff, T_SEL_DATA32);
    t_assert_eq("push ss/pop fs balance", probe[56], 0);
    t_assert_eq("ret $8 releases the arguments", probe[52], 0);
    t_assert_eq("pushaw moves esp by 16", probe[57] - probe[53], 16);
    t_assert_eq("popaw restores esp", probe[58], probe[57]);
    t_assert_eq("push/pop memory", probe[54], 0xfeedf00d);
}
