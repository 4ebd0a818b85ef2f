/*
 * usermode: privilege level 3 and the ways in and out of it. The test builds
 * its own 32-bit TSS (SS0:ESP0 on a stack of its own, SS0 a second flat data
 * selector so that the handler can tell it was used), turns on paging with an
 * identity map of the first 4 MiB in which every page is a user page except
 * one "secret" supervisor page, masks the PIC, and enters ring 3 by IRET
 * through the kit's t_user_run(). Ring-3 code then:
 *
 *  - makes INT 0x80 system calls through a DPL-3 trap gate (and INT 0x82
 *    through a DPL-3 interrupt gate); the handler checks the ring-0 frame:
 *    user SS:ESP, EFLAGS, CS, EIP at ESP0 - 20 on the TSS stack, SS = SS0,
 *    IF kept by the trap gate and cleared by the interrupt gate; the IRET
 *    back delivers the result in EAX;
 *  - runs CLI, STI, HLT, IN, OUT, MOV from CR0 and CR3 at IOPL 0: #GP(0) at
 *    the instruction; INT 0x81 and INT3 through DPL-0 gates: #GP(vector*8+2);
 *    a read and a write of the supervisor page: #PF with error 5 and 7 (P, U,
 *    W) and CR2;
 *  - at IOPL 3 runs CLI and STI without faults;
 *  - POPF at CPL 3: IOPL never changes, IF only when IOPL = 3, arithmetic
 *    flags always;
 *  - SYSENTER to a ring-0 entry (MSRs 0x174-0x176) and SYSEXIT back: the
 *    selectors derived from SYSENTER_CS, the ESP/EIP from the MSRs and from
 *    ECX/EDX, IF cleared by SYSENTER and not restored by SYSEXIT;
 *  - reads its data segment registers: a DPL-0 selector left in FS or GS by
 *    the kernel is null after the IRET to ring 3; a DPL-3 one stays.
 * Expected values follow from the SDM's descriptions of INT n, IRET, POPF,
 * SYSENTER/SYSEXIT and the page-fault error code.
 */
#include "kit.h"

#define PAGE 4096u
#define PTE_P 0x1u
#define PTE_RW 0x2u
#define PTE_US 0x4u

/* SYSENTER_CS = 0x40: ring-0 CS 0x40, SS 0x48; SYSEXIT CS 0x50|3, SS 0x58|3. */
#define SEL_SYS_CODE 0x40
#define SEL_SYS_DATA 0x48
#define SEL_SYS_UCODE 0x53
#define SEL_SYS_UDATA 0x5b
#define SEL_MY_TSS 0x60
#define SS0 SEL_SYS_DATA

#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[1024] __attribute__((aligned(4096)));
uint8_t secret[PAGE] __attribute__((aligned(4096)));
extern char t_image_end[];

static uint8_t ustack[8192] __attribute__((aligned(16)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
uint8_t sysenter_stack[4096] __attribute__((aligned(16)));

static struct t_tss32 tss __attribute__((aligned(16)));

/* Filled by ring-3 code (all of the image is user-accessible). */
uint32_t u_cs, u_ss, u_ds, u_es, u_fs, u_gs, u_esp, u_flags, u_result, u_result2;
uint32_t u_esp_before, u_flags_before, u_flags2;
/* Filled by the ring-0 side of the system calls and of SYSENTER. */
static struct {
    uint32_t count, eip, cs, eflags, esp, ss, frame, handler_ss, handler_cs, handler_if;
} sc;
uint32_t k_sys_cs, k_sys_ss, k_sys_esp, k_sys_flags;

static void syscall_handler(struct t_frame *f)
{
    uint32_t *above = (uint32_t *)(f + 1); /* the CPU pushed the user SS:ESP above EFLAGS */
    uint32_t ss, cs;
    __asm__ volatile("movl %%ss, %0; movl %%cs, %1" : "=r"(ss), "=r"(cs));
    sc.count++;
    sc.eip = f->eip;
    sc.cs = f->cs;
    sc.eflags = f->eflags;
    sc.esp = above[0];
    sc.ss = above[1];
    sc.frame = (uint32_t)&f->eip;
    sc.handler_ss = ss;
    sc.handler_cs = cs;
    sc.handler_if = t_read_eflags() & T_IF;
    f->eax = f->ebx + f->ecx; /* the "system call": add */
}

/*
 * Ring-3 programs. Globals named here are not static; each program ends with
 * INT T_VEC_USER_EXIT (0xf0).
 */
__asm__(".text\n"
        /* Record the segment registers, then make one system call. */
        "u_basic:\n"
        "    movw %cs, u_cs\n"
        "    movw %ss, u_ss\n"
        "    movw %ds, u_ds\n"
        "    movw %es, u_es\n"
        "    movw %fs, u_fs\n"
        "    movw %gs, u_gs\n"
        "    movl $40, %ebx\n"
        "    movl $2, %ecx\n"
        "    movl %esp, u_esp_before\n"
        "    cmpl %ecx, %ebx\n" /* some arithmetic flags in the pushed image */
        "    pushfl\n"
        "    popl u_flags_before\n"
        "    int $0x80\n"
        ".globl u_basic_after\n"
        "u_basic_after:\n"
        "    movl %eax, u_result\n"
        "    movl %esp, u_esp\n"
        "    movl $0x600d, %eax\n"
        "    int $0xf0\n"
        /* The same through the DPL-3 interrupt gate 0x82. */
        "u_intgate:\n"
        "    movl $7, %ebx\n"
        "    movl $8, %ecx\n"
        "    pushfl\n"
        "    popl u_flags_before\n"
        "    int $0x82\n"
        "    movl %eax, u_result\n"
        "    pushfl\n"
        "    popl u_flags\n"
        "    int $0xf0\n"
        /* Segment registers only. */
        "u_segs:\n"
        "    movw %ds, u_ds\n"
        "    movw %es, u_es\n"
        "    movw %fs, u_fs\n"
        "    movw %gs, u_gs\n"
        "    int $0xf0\n"
        /* IOPL 3: CLI and STI work and change IF. */
        "u_iopl3:\n"
        "    sti\n"
        "    pushfl\n"
        "    popl u_flags\n"
        "    cli\n"
        "    pushfl\n"
        "    popl u_flags2\n"
        "    int $0xf0\n"
        /* POPF of IOPL 3, IF and arithmetic flags: result in u_flags. */
        "u_popf:\n"
        "    pushl u_flags_before\n"
        "    popfl\n"
        "    pushfl\n"
        "    popl u_flags\n"
        "    pushl $2\n"
        "    popfl\n"
        "    int $0xf0\n"
        /* SYSENTER with ECX = ESP and EDX = the return EIP. */
        "u_sysenter:\n"
        "    movl %esp, u_esp_before\n"
        "    movl %esp, %ecx\n"
        "    movl $1f, %edx\n"
        "    movl $0x1234, %eax\n"
        "    sysenter\n"
        "1:  movl %eax, u_result\n"
        "    movw %cs, u_cs\n"
        "    movw %ss, u_ss\n"
        "    movl %esp, u_esp\n"
        "    pushfl\n"
        "    popl u_flags\n"
        "    int $0xf0\n"
        /* The ring-0 side: CS/SS from SYSENTER_CS, ESP from the MSR. */
        "sysenter_entry:\n"
        "    movl %esp, k_sys_esp\n"
        "    movw %cs, k_sys_cs\n"
        "    movw %ss, k_sys_ss\n"
        "    pushfl\n"
        "    popl k_sys_flags\n"
        "    addl $0x1000, %eax\n"
        "    sysexit\n");

void u_basic(void), u_intgate(void), u_segs(void), u_iopl3(void), u_popf(void);
void u_sysenter(void), sysenter_entry(void);
extern char u_basic_after[];

/* One faulting instruction at CPL 3: resume after it and leave. */
#define UPROBE(name, insn)                                                                         \
    __asm__(".text\n" #name ":\n"                                                                  \
            "    movl $1f, t_resume_eip\n" #name "_insn:\n"                                        \
            "    " insn "\n"                                                                       \
            "1:  movl $0, t_resume_eip\n"                                                          \
            "    int $0xf0\n");                                                                    \
    void name(void);                                                                               \
    extern char name##_insn[];
UPROBE(up_cli, "cli")
UPROBE(up_sti, "sti")
UPROBE(up_hlt, "hlt")
UPROBE(up_in, "inb $0x80, %al")
UPROBE(up_out, "movw $0x80, %dx; outb %al, (%dx)")
UPROBE(up_rdcr0, "movl %cr0, %eax")
UPROBE(up_rdcr3, "movl %cr3, %eax")
UPROBE(up_int81, "int $0x81")
UPROBE(up_int3, "int3")
UPROBE(up_read_secret, "movl secret+0x123, %eax")
UPROBE(up_write_secret, "movl %eax, secret+0x456")

static void *ustack_top(void)
{
    return ustack + sizeof(ustack);
}

static void expect_fault(const char *name, void (*fn)(void), const char *insn, uint32_t vector,
                         uint32_t error)
{
    uint32_t before = t_trap.count;
    t_user_run(fn, ustack_top(), 0x2);
    if (!t_assert_eq(name, t_trap.count - before, 1))
        return;
    t_assert_eq(name, t_trap.vector, vector);
    t_assert_eq(name, t_trap.error, error);
    t_assert_eq(name, t_trap.eip, (uint32_t)insn);
}

static void wrmsr(uint32_t msr, uint32_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"(v), "d"(0));
}

static void tss_setup(void)
{
    memset(&tss, 0, sizeof(tss));
    tss.ss0 = SS0;
    tss.esp0 = (uint32_t)(kstack + sizeof(kstack));
    tss.iomap = sizeof(tss); /* beyond the limit: no I/O bitmap */
    t_gdt_set(SEL_MY_TSS >> 3, (uint32_t)&tss, sizeof(tss) - 1, 0x89, 0);
    __asm__ volatile("ltr %w0" : : "r"(SEL_MY_TSS) : "memory");
}

static void paging_on(void)
{
    for (uint32_t i = 0; i < 1024; i++)
        pt[i] = i * PAGE | PTE_P | PTE_RW | PTE_US;
    pt[(uint32_t)secret / PAGE] &= ~PTE_US;
    pd[0] = (uint32_t)pt | PTE_P | PTE_RW | PTE_US;
    t_write_cr3((uint32_t)pd);
    t_write_cr0(t_read_cr0() | 0x80000000u);
}

static void test_syscalls(void)
{
    uint32_t r;

    /* INT 0x80 through a DPL-3 trap gate, from ring 3 with IF = 1. */
    sc.count = 0;
    r = t_user_run(u_basic, ustack_top(), 0x202);
    t_assert_eq("exit value", r, 0x600d);
    t_assert_eq("ring 3: CS", u_cs & 0xffff, T_SEL_UCODE);
    t_assert_eq("ring 3: SS", u_ss & 0xffff, T_SEL_UDATA);
    t_assert_eq("ring 3: DS", u_ds & 0xffff, T_SEL_UDATA);
    t_assert_eq("ring 3: ES", u_es & 0xffff, T_SEL_UDATA);
    t_assert_eq("int 0x80: one call", sc.count, 1);
    t_assert_eq("int 0x80: frame EIP after the INT", sc.eip, (uint32_t)u_basic_after);
    t_assert_eq("int 0x80: frame CS", sc.cs, T_SEL_UCODE);
    t_assert_eq("int 0x80: frame EFLAGS", sc.eflags, u_flags_before);
    t_assert_eq("int 0x80: frame EFLAGS has IF", sc.eflags & T_IF, T_IF);
    t_assert_eq("int 0x80: frame user ESP", sc.esp, u_esp_before);
    t_assert_eq("int 0x80: frame user SS", sc.ss, T_SEL_UDATA);
    t_assert_eq("int 0x80: frame at ESP0 - 20", sc.frame, tss.esp0 - 20);
    t_assert_eq("int 0x80: handler SS = SS0", sc.handler_ss & 0xffff, SS0);
    t_assert_eq("int 0x80: handler CS", sc.handler_cs & 0xffff, T_SEL_CODE32);
    t_assert_eq("int 0x80: trap gate keeps IF", sc.handler_if, T_IF);
    t_assert_eq("int 0x80: result in EAX", u_result, 42);
    t_assert_eq("int 0x80: user ESP after IRET", u_esp, u_esp_before);

    /* INT 0x82 through a DPL-3 interrupt gate: IF cleared in the handler only. */
    sc.count = 0;
    t_user_run(u_intgate, ustack_top(), 0x202);
    t_assert_eq("int 0x82: one call", sc.count, 1);
    t_assert_eq("int 0x82: interrupt gate clears IF", sc.handler_if, 0);
    t_assert_eq("int 0x82: frame EFLAGS", sc.eflags, u_flags_before);
    t_assert_eq("int 0x82: result", u_result, 15);
    t_assert_eq("int 0x82: IRET restores IF", u_flags & T_IF, T_IF);
}

static void test_faults(void)
{
    t_catch(13);
    t_catch(14);
    expect_fault("cli at IOPL 0", up_cli, up_cli_insn, 13, 0);
    expect_fault("sti at IOPL 0", up_sti, up_sti_insn, 13, 0);
    expect_fault("hlt at CPL 3", up_hlt, up_hlt_insn, 13, 0);
    expect_fault("in at IOPL 0", up_in, up_in_insn, 13, 0);
    /* up_out's first instruction (movw) does not fault: the OUT is 4 bytes on. */
    expect_fault("out at IOPL 0", up_out, up_out_insn + 4, 13, 0);
    expect_fault("mov from cr0 at CPL 3", up_rdcr0, up_rdcr0_insn, 13, 0);
    expect_fault("mov from cr3 at CPL 3", up_rdcr3, up_rdcr3_insn, 13, 0);
    expect_fault("int 0x81 through a DPL-0 gate", up_int81, up_int81_insn, 13, 0x81 * 8 + 2);
    expect_fault("int3 through a DPL-0 gate", up_int3, up_int3_insn, 13, 3 * 8 + 2);
    expect_fault("read of a supervisor page", up_read_secret, up_read_secret_insn, 14, 0x5);
    t_assert_eq("read of a supervisor page: CR2", t_trap.cr2, (uint32_t)secret + 0x123);
    expect_fault("write of a supervisor page", up_write_secret, up_write_secret_insn, 14, 0x7);
    t_assert_eq("write of a supervisor page: CR2", t_trap.cr2, (uint32_t)secret + 0x456);
    t_set_handler(13, NULL);
    t_set_handler(14, NULL);
}

static void test_flags(void)
{
    uint32_t before = t_trap.count;

    /* IOPL 3: CLI and STI are allowed. */
    t_catch(13);
    t_user_run(u_iopl3, ustack_top(), 0x3002);
    t_assert_eq("iopl 3: no fault", t_trap.count, before);
    t_assert_eq("iopl 3: sti sets IF", u_flags & (T_IF | 0x3000), T_IF | 0x3000);
    t_assert_eq("iopl 3: cli clears IF", u_flags2 & (T_IF | 0x3000), 0x3000);

    /* IOPL 0: POPF changes the arithmetic flags, DF and OF but neither IF nor IOPL. */
    u_flags_before = 0x3ed7; /* IOPL 3, OF DF IF, SF ZF AF PF CF */
    t_user_run(u_popf, ustack_top(), 0x2);
    t_assert_eq("popf at CPL 3, IOPL 0", u_flags, 0x0cd7);
    /* IOPL 3: IF may change, IOPL still may not. */
    u_flags_before = 0x0ed7; /* IOPL 0, OF DF IF, arithmetic */
    t_user_run(u_popf, ustack_top(), 0x3002);
    t_assert_eq("popf at CPL 3, IOPL 3", u_flags, 0x3ed7);
    t_assert_eq("popf: no fault", t_trap.count, before);
    t_set_handler(13, NULL);
}

static void test_sysenter(void)
{
    wrmsr(MSR_SYSENTER_CS, SEL_SYS_CODE);
    wrmsr(MSR_SYSENTER_ESP, (uint32_t)(sysenter_stack + sizeof(sysenter_stack)));
    wrmsr(MSR_SYSENTER_EIP, (uint32_t)sysenter_entry);
    t_user_run(u_sysenter, ustack_top(), 0x202);
    t_assert_eq("sysenter: CS", k_sys_cs & 0xffff, SEL_SYS_CODE);
    t_assert_eq("sysenter: SS", k_sys_ss & 0xffff, SEL_SYS_DATA);
    t_assert_eq("sysenter: ESP from the MSR", k_sys_esp,
                (uint32_t)(sysenter_stack + sizeof(sysenter_stack)));
    t_assert_eq("sysenter: IF cleared", k_sys_flags & T_IF, 0);
    t_assert_eq("sysexit: result", u_result, 0x2234);
    t_assert_eq("sysexit: CS", u_cs & 0xffff, SEL_SYS_UCODE);
    t_assert_eq("sysexit: SS", u_ss & 0xffff, SEL_SYS_UDATA);
    t_assert_eq("sysexit: ESP from ECX", u_esp, u_esp_before);
    t_assert_eq("sysexit: IF stays clear", u_flags & T_IF, 0);
}

static void test_nulling(void)
{
    /* DPL-0 selectors in FS and GS become null at the IRET to ring 3. */
    __asm__ volatile("movl %0, %%fs; movl %1, %%gs" : : "r"(T_SEL_DATA32), "r"(T_SEL_DATA16));
    t_user_run(u_segs, ustack_top(), 0x2);
    t_assert_eq("iret to ring 3: DPL-0 FS nulled", u_fs & 0xffff, 0);
    t_assert_eq("iret to ring 3: DPL-0 GS nulled", u_gs & 0xffff, 0);
    t_assert_eq("iret to ring 3: DS kept", u_ds & 0xffff, T_SEL_UDATA);
    /* A DPL-3 selector stays. */
    __asm__ volatile("movl %0, %%fs; movl %1, %%gs" : : "r"(T_SEL_UDATA), "r"(T_SEL_DATA32));
    t_user_run(u_segs, ustack_top(), 0x2);
    t_assert_eq("iret to ring 3: DPL-3 FS kept", u_fs & 0xffff, T_SEL_UDATA);
    t_assert_eq("iret to ring 3: DPL-0 GS nulled again", u_gs & 0xffff, 0);
}

void test_main(void)
{
    if (!t_assert_eq("image below 4 MiB", (uint32_t)t_image_end < (4u << 20), 1))
        t_fail("the identity map covers 4 MiB only");
    /* No interrupt may arrive while IF = 1 in ring 3: mask both PICs. */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);

    t_user_setup();
    t_gdt_set(SEL_SYS_CODE >> 3, 0, 0xfffff, T_ACC_CODE, T_FLG_32);
    t_gdt_set(SEL_SYS_DATA >> 3, 0, 0xfffff, T_ACC_DATA, T_FLG_32);
    t_gdt_set(SEL_SYS_UCODE >> 3, 0, 0xfffff, T_ACC_CODE | 0x60, T_FLG_32);
    t_gdt_set(SEL_SYS_UDATA >> 3, 0, 0xfffff, T_ACC_DATA | 0x60, T_FLG_32);
    tss_setup();
    t_idt_gate(0x80, T_GATE_TRAP, 3);
    t_set_handler(0x80, syscall_handler);
    t_idt_gate(0x82, T_GATE_INT, 3);
    t_set_handler(0x82, syscall_handler);
    paging_on();

    test_syscalls();
    test_faults();
    test_flags();
    test_sysenter();
    test_nulling();

    t_write_cr0(t_read_cr0() & ~0x80000000u);
}
