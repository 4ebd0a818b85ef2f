/*
 * The guest test kit's first instructions and its interrupt stubs. The
 * Multiboot v1 header sits in its own section, which link.ld places first so
 * that loaders find it in the image's first 8 KiB; with bit 16 of the flags
 * clear the loader (QEMU's -kernel, or tachyon's) takes the load addresses
 * from the ELF program headers. The loader enters _start in flat 32-bit
 * protected mode with paging and interrupts off and EAX/EBX holding the
 * Multiboot magic and info pointer; _start moves to the kit's own stack and
 * calls t_start() in runtime.c, which never returns.
 *
 * Interrupt stubs: one per vector, each 16 bytes long so that runtime.c finds
 * stub v at t_isr_stubs + 16*v. A stub pushes a zero error code unless the CPU
 * pushes one for that vector, pushes the vector number and joins t_isr_common,
 * which saves the registers as struct t_frame (kit.h), switches DS/ES to the
 * flat data segment (a test may be running with other selectors loaded),
 * calls t_isr_dispatch() and restores everything the handler may have edited.
 */

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003 /* page-align modules, pass memory info */

    .section .multiboot, "a"
    .p2align 2
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

    .text
    .globl _start
_start:
    cli
    cld
    movl $t_stack_top, %esp
    xorl %ebp, %ebp
    subl $8, %esp               /* keep the i386 ABI's 16-byte stack alignment */
    pushl %ebx                  /* Multiboot info */
    pushl %eax                  /* Multiboot magic */
    call t_start
1:  cli
    hlt
    jmp 1b

/* The vectors for which the CPU pushes an error code. */
#define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || \
                      (v) == 29 || (v) == 30)

    .p2align 4
    .globl t_isr_stubs
t_isr_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    .if !HAS_ERROR(vec)
    pushl $0
    .endif
    pushl $vec
    jmp t_isr_common
    .set vec, vec + 1
    .endr

t_isr_common:
    pushal
    pushl %ds
    pushl %es
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    cld                         /* the C handler may run with the test's DF=1 */
    pushl %esp                  /* struct t_frame * */
    call t_isr_dispatch
    addl $4, %esp
    popl %es
    popl %ds
    popal
    addl $8, %esp               /* vector and error code */
    iret

    .bss
    .p2align 12
    .globl t_stack_top
t_stack:
    .skip 65536
t_stack_top:

    .section .note.GNU-stack, "", @progbits
