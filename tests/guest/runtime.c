/*
 * The guest test kit's runtime: machine setup, COM1 output, checks, verdicts
 * and exception dispatch for the small 32-bit test kernels in this folder.
 *
 * t_start() (called from entry.S) programs COM1, loads the kit's GDT (flat
 * code/data, a 16-bit code/data pair, a TSS slot, spare slots) and an IDT
 * whose 256 gates all lead to entry.S's stubs, makes the x87 usable (CR0.NE,
 * MP; no EM/TS), runs test_main() and gives the verdict. Every exception goes
 * through t_isr_dispatch(): a handler the test registered, or the default one
 * that reports vector, error code, EIP and CR2 and fails the test. The verdict
 * leaves through QEMU's isa-debug-exit device at port 0xf4: writing v exits
 * the emulator with status (v << 1) | 1, so pass is 0 (status 1) and fail is 1
 * (status 3). Interrupts stay disabled throughout; nothing here depends on the
 * PIC, timers or the BIOS.
 */
#include "kit.h"

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4

#ifndef T_NAME
#define T_NAME "guest-test"
#endif

extern char t_isr_stubs[];

static uint64_t gdt[T_GDT_ENTRIES] __attribute__((aligned(8)));
static uint64_t idt[256] __attribute__((aligned(8)));
static t_handler handlers[256];

static struct t_tss32 tss __attribute__((aligned(16)));
static uint8_t tss_stack[8192] __attribute__((aligned(16)));

static unsigned checks, failures;
static int in_fault; /* a fault while reporting one must not recurse forever */

volatile struct t_trap_record t_trap;
volatile uint32_t t_resume_eip;

/* ---- COM1 ---- */

static void serial_init(void)
{
    outb(COM1 + 1, 0x00); /* IER: no interrupts */
    outb(COM1 + 3, 0x80); /* LCR: DLAB on */
    outb(COM1 + 0, 0x01); /* DLL: 115200 baud */
    outb(COM1 + 1, 0x00); /* DLM */
    outb(COM1 + 3, 0x03); /* LCR: 8N1 */
    outb(COM1 + 2, 0xc7); /* FCR: FIFOs on and cleared */
    outb(COM1 + 4, 0x03); /* MCR: DTR, RTS */
}

static void serial_put(char c)
{
    /* Bounded, so a missing UART slows the test instead of hanging it. */
    for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
        ;
    outb(COM1, (uint8_t)c);
}

void t_putc(char c)
{
    if (c == '\n')
        serial_put('\r');
    serial_put(c);
}

static void put_str(const char *s, int width, char pad)
{
    int len = 0;
    while (s[len])
        len++;
    for (; width > len; width--)
        t_putc(pad);
    while (*s)
        t_putc(*s++);
}

static void put_num(uint64_t v, unsigned base, int neg, int width, char pad, int upper)
{
    char buf[24];
    int i = sizeof(buf) - 1;
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    buf[i] = 0;
    /* Only 32-bit values take the division path, so no libgcc 64-bit division
     * is needed; 64-bit values are printed in hex only. */
    if (base == 16) {
        do {
            buf[--i] = digits[v & 15];
            v >>= 4;
        } while (v);
    } else {
        uint32_t w = (uint32_t)v;
        do {
            buf[--i] = digits[w % 10];
            w /= 10;
        } while (w);
    }
    if (neg) {
        if (pad == '0') {
            t_putc('-');
            width--;
        } else {
            buf[--i] = '-';
        }
    }
    put_str(&buf[i], width, pad);
}

void t_vprintf(const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            t_putc(*fmt);
            continue;
        }
        char pad = ' ';
        int width = 0, size = 32;
        fmt++;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        if (*fmt == 'h') {
            size = 16;
            if (*++fmt == 'h') {
                size = 8;
                fmt++;
            }
        } else if (*fmt == 'l') {
            if (*++fmt == 'l') {
                size = 64;
                fmt++;
            }
        }
        uint64_t v = 0;
        if (*fmt == 'x' || *fmt == 'X' || *fmt == 'u' || *fmt == 'd')
            v = size == 64 ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t);
        if (size == 16)
            v = *fmt == 'd' ? (uint64_t)(int64_t)(int16_t)v : (uint16_t)v;
        else if (size == 8)
            v = *fmt == 'd' ? (uint64_t)(int64_t)(int8_t)v : (uint8_t)v;
        switch (*fmt) {
        case 'x':
        case 'X':
            put_num(v, 16, 0, width, pad, *fmt == 'X');
            break;
        case 'u':
            put_num(v, 10, 0, width, pad, 0);
            break;
        case 'd': {
            int32_t s = (int32_t)(uint32_t)v;
            put_num(s < 0 ? (uint32_t)-s : (uint32_t)s, 10, s < 0, width, pad, 0);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            put_str(s ? s : "(null)", width, ' ');
            break;
        }
        case 'c':
            t_putc((char)va_arg(ap, int));
            break;
        case '%':
            t_putc('%');
            break;
        case 0:
            return;
        default:
            t_putc('%');
            t_putc(*fmt);
        }
    }
}

void t_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    t_vprintf(fmt, ap);
    va_end(ap);
}

/* ---- checks and verdicts ---- */

int t_assert_eq(const char *name, uint32_t got, uint32_t want)
{
    checks++;
    if (got == want)
        return 1;
    failures++;
    t_printf("FAIL %s: got 0x%08x (%d), want 0x%08x (%d)\n", name, got, got, want, want);
    return 0;
}

int t_assert_eq64(const char *name, uint64_t got, uint64_t want)
{
    checks++;
    if (got == want)
        return 1;
    failures++;
    t_printf("FAIL %s: got 0x%016llx, want 0x%016llx\n", name, got, want);
    return 0;
}

int t_assert_mem(const char *name, const void *got, const void *want, size_t n)
{
    const uint8_t *g = got, *w = want;
    checks++;
    for (size_t i = 0; i < n; i++) {
        if (g[i] != w[i]) {
            failures++;
            t_printf("FAIL %s: byte %u of %u: got 0x%02x, want 0x%02x\n", name, (unsigned)i,
                     (unsigned)n, g[i], w[i]);
            return 0;
        }
    }
    return 1;
}

void t_exit(int code)
{
    outb(DEBUG_EXIT_PORT, (uint8_t)code);
    /* Only reached without an isa-debug-exit device: stop here. */
    for (;;)
        __asm__ volatile("cli; hlt");
}

void t_pass(void)
{
    if (failures) {
        t_printf("FAIL %s: %u of %u checks failed\n", T_NAME, failures, checks);
        t_exit(1);
    }
    t_printf("PASS %s: %u checks\n", T_NAME, checks);
    t_exit(0);
}

void t_fail(const char *why)
{
    t_printf("FAIL %s: %s (%u of %u checks failed before)\n", T_NAME, why, failures, checks);
    t_exit(1);
}

/* ---- descriptor tables ---- */

void t_gdt_set(int index, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    gdt[index] = (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
                 (uint64_t)access << 40 | (uint64_t)((limit >> 16) & 0xf) << 48 |
                 (uint64_t)(flags & 0xf) << 52 | (uint64_t)(base >> 24) << 56;
}

void t_idt_gate(int vector, int type, int dpl)
{
    uint32_t off = (uint32_t)(t_isr_stubs + 16 * vector);
    idt[vector] = (uint64_t)(off & 0xffff) | (uint64_t)T_SEL_CODE32 << 16 |
                  (uint64_t)(0x80 | (dpl & 3) << 5 | type) << 40 | (uint64_t)(off >> 16) << 48;
}

void t_set_handler(int vector, t_handler fn)
{
    handlers[vector & 255] = fn;
}

void t_tss_load(void)
{
    tss.ss0 = T_SEL_DATA32;
    tss.esp0 = (uint32_t)(tss_stack + sizeof(tss_stack));
    tss.iomap = sizeof(tss); /* no I/O bitmap */
    t_gdt_set(T_SEL_TSS >> 3, (uint32_t)&tss, sizeof(tss) - 1, 0x89, 0);
    __asm__ volatile("ltr %w0" : : "r"(T_SEL_TSS) : "memory");
}

static void tables_init(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint32_t base;
    } gdtr = {sizeof(gdt) - 1, (uint32_t)gdt}, idtr = {sizeof(idt) - 1, (uint32_t)idt};

    t_gdt_set(T_SEL_CODE32 >> 3, 0, 0xfffff, T_ACC_CODE, T_FLG_32);
    t_gdt_set(T_SEL_DATA32 >> 3, 0, 0xfffff, T_ACC_DATA, T_FLG_32);
    t_gdt_set(T_SEL_CODE16 >> 3, 0, 0xffff, T_ACC_CODE, T_FLG_16);
    t_gdt_set(T_SEL_DATA16 >> 3, 0, 0xffff, T_ACC_DATA, T_FLG_16);
    for (int v = 0; v < 256; v++)
        t_idt_gate(v, T_GATE_INT, 0);

    __asm__ volatile("lgdt %0\n\t"
                     "ljmp %1, $1f\n"
                     "1:\n\t"
                     "movl %2, %%eax\n\t"
                     "movl %%eax, %%ds\n\t"
                     "movl %%eax, %%es\n\t"
                     "movl %%eax, %%fs\n\t"
                     "movl %%eax, %%gs\n\t"
                     "movl %%eax, %%ss\n\t"
                     "lidt %3"
                     :
                     : "m"(gdtr), "i"(T_SEL_CODE32), "i"(T_SEL_DATA32), "m"(idtr)
                     : "eax", "memory");
}

/* ---- exceptions ---- */

void t_isr_dispatch(struct t_frame *f);

void t_isr_dispatch(struct t_frame *f)
{
    t_handler h = handlers[f->vector & 255];
    if (h && !in_fault) {
        h(f);
        return;
    }
    if (in_fault++)
        t_exit(1);
    t_printf("unexpected exception: vector %u error 0x%x eip 0x%08x cr2 0x%08x\n", f->vector,
             f->error, f->eip, t_read_cr2());
    t_printf("  eax %08x ebx %08x ecx %08x edx %08x esi %08x edi %08x ebp %08x\n", f->eax, f->ebx,
             f->ecx, f->edx, f->esi, f->edi, f->ebp);
    t_fail("unexpected exception");
}

static void trap_resume(struct t_frame *f)
{
    t_trap.count++;
    t_trap.vector = f->vector;
    t_trap.error = f->error;
    t_trap.eip = f->eip;
    t_trap.cr2 = t_read_cr2();
    if (!t_resume_eip) {
        t_printf("exception %u at eip 0x%08x with no resume point\n", f->vector, f->eip);
        t_fail("unexpected exception");
    }
    f->eip = t_resume_eip;
    t_resume_eip = 0;
}

void t_catch(int vector)
{
    t_set_handler(vector, trap_resume);
}

/* ---- small library ---- */

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memset(void *d, int c, size_t n)
{
    uint8_t *dp = d;
    while (n--)
        *dp++ = (uint8_t)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *ap = a, *bp = b;
    for (; n; n--, ap++, bp++)
        if (*ap != *bp)
            return *ap - *bp;
    return 0;
}

uint32_t t_rand(void)
{
    static uint32_t state = 0x2545f491;
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

/* ---- ring 3 ---- */

/*
 * t_user_run saves the callee-saved registers, EFLAGS and ESP, then IRETs to
 * CPL 3. t_user_exit's gate (user_exit below) "returns" to t_user_return at
 * CPL 0 by editing the frame; that IRET stays at CPL 0 and leaves the user
 * SS:ESP on the ring-0 stack, which t_user_return abandons by reloading the
 * saved ESP.
 */
_Static_assert(T_SEL_UCODE == 0x73 && T_SEL_UDATA == 0x7b && T_SEL_DATA32 == 0x10,
               "t_user_run's selectors");
__asm__(".text\n"
        ".globl t_user_run\n"
        "t_user_run:\n"
        "    pushl %ebp\n"
        "    pushl %ebx\n"
        "    pushl %esi\n"
        "    pushl %edi\n"
        "    pushfl\n"
        "    movl %esp, t_user_kernel_esp\n"
        "    movl 24(%esp), %eax\n" /* fn */
        "    movl 28(%esp), %ecx\n" /* stack_top */
        "    movl 32(%esp), %edx\n" /* eflags */
        "    pushl $0x7b\n"         /* SS = T_SEL_UDATA */
        "    pushl %ecx\n"
        "    pushl %edx\n"
        "    pushl $0x73\n" /* CS = T_SEL_UCODE */
        "    pushl %eax\n"
        "    movl $0x7b, %eax\n"
        "    movl %eax, %ds\n"
        "    movl %eax, %es\n"
        "    iret\n"
        ".globl t_user_return\n"
        "t_user_return:\n"
        "    movl $0x10, %ecx\n"
        "    movl %ecx, %ds\n"
        "    movl %ecx, %es\n"
        "    movl %ecx, %fs\n"
        "    movl %ecx, %gs\n"
        "    movl %ecx, %ss\n"
        "    movl t_user_kernel_esp, %esp\n"
        "    popfl\n"
        "    popl %edi\n"
        "    popl %esi\n"
        "    popl %ebx\n"
        "    popl %ebp\n"
        "    ret\n");

uint32_t t_user_kernel_esp;
extern char t_user_return[];

static void user_exit(struct t_frame *f)
{
    f->eip = (uint32_t)t_user_return;
    f->cs = T_SEL_CODE32;
    f->eflags = 0x2;
    f->ds = f->es = T_SEL_DATA32;
}

void t_user_setup(void)
{
    t_gdt_set(T_SEL_UCODE >> 3, 0, 0xfffff, T_ACC_CODE | 0x60, T_FLG_32);
    t_gdt_set(T_SEL_UDATA >> 3, 0, 0xfffff, T_ACC_DATA | 0x60, T_FLG_32);
    t_tss_load();
    t_idt_gate(T_VEC_USER_EXIT, T_GATE_INT, 3);
    t_set_handler(T_VEC_USER_EXIT, user_exit);
}

/* ---- start ---- */

void t_start(uint32_t magic, uint32_t info);

void t_start(uint32_t magic, uint32_t info)
{
    serial_init();
    tables_init();
    /* x87: native error reporting, WAIT honours TS, no emulation, no TS. */
    t_write_cr0((t_read_cr0() | 0x22) & ~0xcu);
    __asm__ volatile("fninit");
    t_printf("guest test %s (multiboot magic 0x%08x, info 0x%08x)\n", T_NAME, magic, info);
    if (magic != 0x2badb002)
        t_printf("warning: not started by a Multiboot loader\n");
    test_main();
    t_pass();
}
