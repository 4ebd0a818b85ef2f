/*
 * The guest test kit's interface: everything a guest test may call. A test is
 * one C file defining test_main(); the kit (entry.S, runtime.c, link.ld) boots
 * it as a Multiboot v1 ELF at 1 MiB in 32-bit protected mode with flat
 * segments, its own stack, GDT and IDT, and interrupts off. Results go to
 * COM1; the verdict leaves through QEMU's isa-debug-exit port, so the same
 * ELF runs unchanged under qemu-system-i386 (which proves the test right) and
 * under tachyon. Checks do not stop the test: every failed t_assert_eq is
 * printed and counted, and the verdict is given when test_main returns.
 */
#ifndef GUEST_KIT_H
#define GUEST_KIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* GDT selectors the kit sets up; slots from T_GDT_SPARE on are for tests. */
#define T_SEL_CODE32 0x08 /* flat 32-bit code, DPL 0 */
#define T_SEL_DATA32 0x10 /* flat 32-bit data, DPL 0 */
#define T_SEL_CODE16 0x18 /* 16-bit code, base 0, limit 0xffff */
#define T_SEL_DATA16 0x20 /* 16-bit data, base 0, limit 0xffff */
#define T_SEL_TSS 0x28    /* filled by t_tss_load() */
#define T_GDT_SPARE 6     /* first free slot index (selector 0x30) */
#define T_GDT_ENTRIES 16

/* Descriptor access bytes and flag nibbles for t_gdt_set(). */
#define T_ACC_CODE 0x9a /* present, DPL 0, code, readable */
#define T_ACC_DATA 0x92 /* present, DPL 0, data, writable */
#define T_FLG_32 0xc    /* 4 KiB granularity, 32-bit */
#define T_FLG_16 0x0    /* byte granularity, 16-bit */

/* IDT gate types for t_idt_gate(). */
#define T_GATE_INT 0xe  /* clears IF on entry */
#define T_GATE_TRAP 0xf /* leaves IF alone */

/* EFLAGS bits. */
#define T_CF 0x001
#define T_PF 0x004
#define T_AF 0x010
#define T_ZF 0x040
#define T_SF 0x080
#define T_TF 0x100
#define T_IF 0x200
#define T_DF 0x400
#define T_OF 0x800
#define T_ARITH (T_CF | T_PF | T_AF | T_ZF | T_SF | T_OF)

/* A 32-bit TSS (SDM vol. 3, figure 8-2), for the kit's own and for tests that need another. */
struct t_tss32 {
    uint16_t link, r0;
    uint32_t esp0;
    uint16_t ss0, r1;
    uint32_t esp1;
    uint16_t ss1, r2;
    uint32_t esp2;
    uint16_t ss2, r3;
    uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint16_t es, r4, cs, r5, ss, r6, ds, r7, fs, r8, gs, r9, ldt, r10;
    uint16_t trap, iomap;
};

/*
 * What the interrupt stubs push, lowest address first: the data segment
 * registers, PUSHAD's registers, the vector, the error code (0 when the CPU
 * pushes none) and the CPU's frame. A handler may change any field; the stub
 * restores them all and IRETs, so setting eip resumes somewhere else.
 */
struct t_frame {
    uint32_t es, ds;
    uint32_t edi, esi, ebp, esp_pushad, ebx, edx, ecx, eax;
    uint32_t vector, error;
    uint32_t eip, cs, eflags;
};

typedef void (*t_handler)(struct t_frame *f);

/* Output on COM1 (polled 16550). %x %X %d %u %s %c %%, with a 0 flag and a
 * field width, and hh/h/l/ll length modifiers (ll only with x). */
void t_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void t_vprintf(const char *fmt, va_list ap);
void t_putc(char c);

/* Checks: each counts; a failing one prints what it got and wanted. Return
 * non-zero when the check passed, so a test can print context after. */
int t_assert_eq(const char *name, uint32_t got, uint32_t want);
int t_assert_eq64(const char *name, uint64_t got, uint64_t want);
int t_assert_mem(const char *name, const void *got, const void *want, size_t n);

/* Verdicts: t_pass() ends the test as passed unless a check failed;
 * t_fail() ends it as failed at once. Returning from test_main = t_pass(). */
void t_pass(void) __attribute__((noreturn));
void t_fail(const char *why) __attribute__((noreturn));
void t_exit(int code) __attribute__((noreturn)); /* raw isa-debug-exit value */

/* Descriptor tables. */
void t_gdt_set(int index, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags);
void t_idt_gate(int vector, int type, int dpl); /* (re)point a gate at its kit stub */
void t_set_handler(int vector, t_handler fn);   /* NULL restores the default */
void t_tss_load(void);                          /* fill the TSS descriptor and LTR */

/*
 * Catching an expected exception: t_catch(v) installs a handler for vector v
 * that records the event in t_trap and resumes at t_resume_eip (set it just
 * before the faulting instruction, e.g. "movl $1f, t_resume_eip"), or fails
 * the test when t_resume_eip is 0. Each caught event clears t_resume_eip.
 */
struct t_trap_record {
    uint32_t count, vector, error, eip, cr2;
};
extern volatile struct t_trap_record t_trap;
extern volatile uint32_t t_resume_eip;
void t_catch(int vector);

/* The test's body; T_NAME is its name (set by the build). */
void test_main(void);

/* Small freestanding helpers (GCC may emit calls to the first three). */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
uint32_t t_rand(void); /* deterministic xorshift32 */

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t t_read_eflags(void)
{
    uint32_t f;
    __asm__ volatile("pushfl; popl %0" : "=r"(f));
    return f;
}

#define T_READ_CR(n)                                                                               \
    static inline uint32_t t_read_cr##n(void)                                                      \
    {                                                                                              \
        uint32_t v;                                                                                \
        __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));                                          \
        return v;                                                                                  \
    }                                                                                              \
    static inline void t_write_cr##n(uint32_t v)                                                   \
    {                                                                                              \
        __asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory");                                 \
    }
T_READ_CR(0)
T_READ_CR(2)
T_READ_CR(3)
T_READ_CR(4)
#undef T_READ_CR

static inline void t_invlpg(const volatile void *p)
{
    __asm__ volatile("invlpg (%0)" : : "r"(p) : "memory");
}

#define T_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Ring 3 (for the usermode, paging and segments tests). t_user_setup() puts
 * flat DPL-3 code and data descriptors in the last two GDT slots (so a test
 * that uses it has spare slots 6..13 only), loads the kit's TSS (its ESP0 is
 * the ring-0 stack for events from ring 3) and makes T_VEC_USER_EXIT a DPL-3
 * gate that ends user mode. t_user_run() enters fn at CPL 3 by IRET, on
 * stack_top with the given EFLAGS image, DS = ES = T_SEL_UDATA and FS/GS as
 * the caller left them (a DPL-0 selector there becomes null at the IRET); it
 * returns the value the user code passes to t_user_exit(), back at CPL 0 with
 * flat segments and the caller's EFLAGS. With paging on, fn, its stack and
 * whatever it touches must be user pages. Faults at CPL 3 go through the
 * kit's handlers as usual (t_catch resumes in ring 3).
 */
#define T_SEL_UCODE ((14 << 3) | 3)
#define T_SEL_UDATA ((15 << 3) | 3)
#define T_VEC_USER_EXIT 0xf0
void t_user_setup(void);
uint32_t t_user_run(void (*fn)(void), void *stack_top, uint32_t eflags);

static inline __attribute__((noreturn)) void t_user_exit(uint32_t v)
{
    __asm__ volatile("int %1" : : "a"(v), "i"(T_VEC_USER_EXIT) : "memory");
    __builtin_unreachable();
}

#endif
