/*
 * debugregs: instruction breakpoints in DR0-DR3. A breakpoint on a function's
 * first instruction raises #DB before the instruction runs (a fault: the
 * frame's EIP is the breakpoint address) with DR6.Bn set; the handler sets
 * EFLAGS.RF in the frame so the instruction runs once after IRET. Disabling
 * the breakpoint in DR7 (or pointing DR0 elsewhere) stops the traps. Also
 * checks that the breakpoint follows the linear address it is set on.
 */
#include "kit.h"

static volatile uint32_t hits, last_eip, last_dr6;
static volatile uint32_t calls;

__attribute__((noinline)) static void target(void)
{
    calls++;
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void other(void)
{
    calls += 10;
    __asm__ volatile("" ::: "memory");
}

static void on_db(struct t_frame *f)
{
    uint32_t dr6;

    __asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
    hits++;
    last_eip = f->eip;
    last_dr6 = dr6;
    __asm__ volatile("mov %0, %%dr6" ::"r"(0u));
    f->eflags |= 0x10000; /* RF: let the instruction run */
}

static void set_dr(uint32_t dr0, uint32_t dr7)
{
    __asm__ volatile("mov %0, %%dr0\n\tmov %1, %%dr7" ::"r"(dr0), "r"(dr7));
}

void test_main(void)
{
    t_set_handler(1, on_db);

    set_dr((uint32_t)target, 0x1); /* L0, R/W0 = 00 (execute), LEN0 = 00 */
    target();
    t_assert_eq("breakpoint: one #DB", hits, 1);
    t_assert_eq("breakpoint: EIP at the instruction", last_eip, (uint32_t)target);
    t_assert_eq("breakpoint: DR6.B0", last_dr6 & 0xf, 1);
    t_assert_eq("breakpoint: the instruction ran after RF", calls, 1);
    target();
    t_assert_eq("breakpoint: again on the next call", hits, 2);
    other();
    t_assert_eq("other code: no #DB", hits, 2);
    t_assert_eq("other code ran", calls, 12);

    set_dr((uint32_t)other, 0x1); /* move the breakpoint */
    target();
    other();
    t_assert_eq("moved breakpoint: only on the new address", hits, 3);
    t_assert_eq("moved breakpoint: EIP", last_eip, (uint32_t)other);

    set_dr((uint32_t)other, 0x0); /* disabled */
    other();
    target();
    t_assert_eq("disabled: no #DB", hits, 3);
    t_assert_eq("all calls ran", calls, 1 + 1 + 10 + 1 + 10 + 10 + 1);
}
