/*
 * devices/lapic through the bus, as the guest sees it: the register file at 0xFEE00000 and
 * its reset values, IA32_APIC_BASE enable, interrupt acceptance by priority (IRR, ISR, TPR,
 * PPR) and EOI, self-IPIs and INIT/SIPI on a one-CPU machine, the error register, the
 * 8259 fallback and ExtINT virtual wire, and the timer's counts against virtual time,
 * one-shot and periodic.
 */
#include <string.h>

#include "devices/bus.h"
#include "devices/lapic.h"
#include "fixture.h"
#include "monitor/timer.h"

#define BASE 0xfee00000u
#define ID 0x020
#define VER 0x030
#define TPR 0x080
#define APR 0x090
#define PPR 0x0a0
#define EOI 0x0b0
#define LDR 0x0d0
#define DFR 0x0e0
#define SVR 0x0f0
#define ISR 0x100
#define TMR 0x180
#define IRR 0x200
#define ESR 0x280
#define ICR_LO 0x300
#define ICR_HI 0x310
#define LVT_TIMER 0x320
#define LVT_LINT0 0x350
#define LVT_LINT1 0x360
#define LVT_ERROR 0x370
#define TMICT 0x380
#define TMCCT 0x390
#define TDCR 0x3e0

#define MASKED 0x10000u
#define PERIODIC 0x20000u

#define T0 1000000000ull /* the frozen test clock starts at 1 s */

static char err[256];
static bool own_timers;

/* A stand-in 8259: its output and the vector its INTA returns. */
static bool pic_out;
static int pic_acks;

static bool fake_pic_pending(struct machine *m)
{
    (void)m;
    return pic_out;
}

static int fake_pic_ack(struct machine *m)
{
    (void)m;
    pic_acks++;
    pic_out = false;
    return 0x08;
}

/* Forget the machine's own claim of [base, ...): the test builds its own device there. */
static void drop_claim(uint32_t base)
{
    for (int i = 0; i < fx->nmmio; i++)
        if (fx->mmio[i].base == base) {
            fx->mmio[i] = fx->mmio[--fx->nmmio];
            return;
        }
}

/* A local APIC over the stand-in 8259, whether or not the machine table made one. */
static void setup(void)
{
    fixture_machine_setup();
    own_timers = !fx->timers;
    if (own_timers)
        ck_assert_int_eq(timers__init(fx), 0);
    timers__test_set_clock(fx, T0);
    pic_out = false;
    pic_acks = 0;
    if (fx->lapic) {
        lapic__destroy(fx); /* gives the machine's 8259 back its input */
        drop_claim(BASE);
    }
    fx->intr_pending = fake_pic_pending;
    fx->intr_ack = fake_pic_ack;
    ck_assert_int_eq(lapic__create(fx, err, sizeof(err)), 0);
}

static void teardown(void)
{
    lapic__destroy(fx);
    if (own_timers)
        timers__destroy(fx);
    fixture_machine_teardown();
}

static uint32_t rd(uint32_t reg)
{
    uint32_t v;

    ck_assert_int_eq(bus__mmio_read(fx, BASE + reg, 4, &v), 0);
    return v;
}

static void wr(uint32_t reg, uint32_t v)
{
    ck_assert_int_eq(bus__mmio_write(fx, BASE + reg, 4, v), 0);
}

static bool vec_bit(uint32_t reg, int v)
{
    return rd(reg + (uint32_t)(v / 32) * 0x10) >> (v % 32) & 1;
}

static void enable(void)
{
    wr(SVR, 0x1ff);
}

static void at(uint64_t ns) /* virtual time T0 + ns */
{
    timers__test_set_clock(fx, T0 + ns);
}

START_TEST(reset_values)
{
    ck_assert_uint_eq(rd(ID), 0);
    ck_assert_uint_eq(rd(VER), 0x00050014);
    ck_assert_uint_eq(rd(TPR), 0);
    ck_assert_uint_eq(rd(PPR), 0);
    ck_assert_uint_eq(rd(LDR), 0);
    ck_assert_uint_eq(rd(DFR), 0xffffffff);
    ck_assert_uint_eq(rd(SVR), 0xff);
    for (uint32_t r = LVT_TIMER; r <= LVT_ERROR; r += 0x10)
        ck_assert_uint_eq(rd(r), MASKED);
    for (int i = 0; i < 8; i++) {
        ck_assert_uint_eq(rd(ISR + i * 0x10), 0);
        ck_assert_uint_eq(rd(TMR + i * 0x10), 0);
        ck_assert_uint_eq(rd(IRR + i * 0x10), 0);
    }
    ck_assert_uint_eq(rd(TMICT), 0);
    ck_assert_uint_eq(rd(TMCCT), 0);
    ck_assert_uint_eq(rd(TDCR), 0);
    ck_assert(fx->intr_pending == lapic__intr_pending);
}
END_TEST

START_TEST(register_write_masks)
{
    wr(ID, 0x05123456);
    ck_assert_uint_eq(rd(ID), 0x05000000);
    wr(TPR, 0x1234);
    ck_assert_uint_eq(rd(TPR), 0x34);
    wr(LDR, 0x01ffffff);
    ck_assert_uint_eq(rd(LDR), 0x01000000);
    wr(DFR, 0x0);
    ck_assert_uint_eq(rd(DFR), 0x0fffffff);
    wr(VER, 0);
    ck_assert_uint_eq(rd(VER), 0x00050014);
    /* LVT masks cannot be cleared while software-disabled */
    wr(LVT_LINT0, 0x700);
    ck_assert_uint_eq(rd(LVT_LINT0), 0x10700);
    enable();
    ck_assert_uint_eq(rd(SVR), 0x1ff);
    wr(LVT_LINT0, 0x700);
    ck_assert_uint_eq(rd(LVT_LINT0), 0x700);
    wr(LVT_LINT1, 0xffffffff);
    ck_assert_uint_eq(rd(LVT_LINT1), 0x1a7ff);
    wr(LVT_TIMER, 0xffffffff);
    ck_assert_uint_eq(rd(LVT_TIMER), 0x300ff);
    wr(TDCR, 0xffffffff);
    ck_assert_uint_eq(rd(TDCR), 0xb);
    /* software disable masks every LVT again */
    wr(SVR, 0xff);
    ck_assert_uint_eq(rd(LVT_LINT0), 0x10700);
}
END_TEST

START_TEST(priority_and_eoi)
{
    enable();
    lapic__set_irq(fx, 0x31, false);
    lapic__set_irq(fx, 0x52, false);
    ck_assert(vec_bit(IRR, 0x31) && vec_bit(IRR, 0x52));
    ck_assert(lapic__intr_pending(fx));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x52);
    ck_assert(vec_bit(ISR, 0x52) && !vec_bit(IRR, 0x52));
    ck_assert_uint_eq(rd(PPR), 0x50);
    /* 0x31 is below the in-service class */
    ck_assert(!lapic__intr_pending(fx));
    /* so is 0x5f: same class as the one in service */
    lapic__set_irq(fx, 0x5f, false);
    ck_assert(!lapic__intr_pending(fx));
    /* a higher class nests */
    lapic__set_irq(fx, 0x61, false);
    ck_assert(lapic__intr_pending(fx));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x61);
    wr(EOI, 0);
    ck_assert(!vec_bit(ISR, 0x61) && vec_bit(ISR, 0x52));
    wr(EOI, 0);
    ck_assert(!vec_bit(ISR, 0x52));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x5f);
    wr(EOI, 0);
    /* TPR holds back lower classes */
    wr(TPR, 0x40);
    ck_assert_uint_eq(rd(PPR), 0x40);
    ck_assert(!lapic__intr_pending(fx));
    wr(TPR, 0x20);
    ck_assert(lapic__intr_pending(fx));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x31);
    ck_assert_uint_eq(rd(PPR), 0x30);
    wr(EOI, 0);
    ck_assert_uint_eq(rd(PPR), 0x20);
    /* nothing left: INTA gets the spurious vector and nothing goes in service */
    ck_assert_int_eq(lapic__intr_ack(fx), 0xff);
    ck_assert_int_eq(rd(ISR + 0x70), 0);
}
END_TEST

START_TEST(apr_reflects_irr_and_tpr)
{
    enable();
    wr(TPR, 0x45);
    ck_assert_uint_eq(rd(APR), 0x45);
    lapic__set_irq(fx, 0x71, false);
    ck_assert_uint_eq(rd(APR), 0x70);
}
END_TEST

START_TEST(level_trigger_sets_tmr)
{
    enable();
    lapic__set_irq(fx, 0x40, true);
    ck_assert(vec_bit(TMR, 0x40));
    lapic__set_irq(fx, 0x41, false);
    ck_assert(!vec_bit(TMR, 0x41));
}
END_TEST

static int eoi_seen;

static void eoi_hook(struct machine *m, int vector)
{
    (void)m;
    eoi_seen = vector;
}

START_TEST(eoi_broadcast_only_for_level)
{
    eoi_seen = -1;
    lapic__set_eoi_hook(fx, eoi_hook);
    enable();
    lapic__set_irq(fx, 0x40, false);
    ck_assert_int_eq(lapic__intr_ack(fx), 0x40);
    wr(EOI, 0);
    ck_assert_int_eq(eoi_seen, -1);
    lapic__set_irq(fx, 0x42, true);
    ck_assert_int_eq(lapic__intr_ack(fx), 0x42);
    wr(EOI, 0);
    ck_assert_int_eq(eoi_seen, 0x42);
    lapic__set_eoi_hook(fx, NULL);
}
END_TEST

START_TEST(self_ipi)
{
    enable();
    wr(ICR_HI, 0);
    wr(ICR_LO, 1u << 18 | 0x45); /* shorthand self, fixed */
    ck_assert(vec_bit(IRR, 0x45));
    ck_assert_uint_eq(rd(ICR_LO) & 0x1000, 0); /* delivery status idle */
    /* physical destination 0 is us */
    wr(ICR_LO, 0x46);
    ck_assert(vec_bit(IRR, 0x46));
    /* physical destination 3 is no one */
    wr(ICR_HI, 3u << 24);
    wr(ICR_LO, 0x47);
    ck_assert(!vec_bit(IRR, 0x47));
    /* logical flat destination through LDR */
    wr(LDR, 0x01000000);
    wr(ICR_HI, 0x01000000);
    wr(ICR_LO, 0x800 | 0x48);
    ck_assert(vec_bit(IRR, 0x48));
    /* all-including-self */
    wr(ICR_LO, 2u << 18 | 0x49);
    ck_assert(vec_bit(IRR, 0x49));
    ck_assert(lapic__match_dest(fx, 0xff, false));
}
END_TEST

START_TEST(init_sipi_all_but_self_ignored)
{
    enable();
    wr(ESR, 0);
    wr(ICR_LO, 3u << 18 | 0x4500);        /* INIT, all but self */
    wr(ICR_LO, 3u << 18 | 0x4600 | 0x10); /* SIPI to 0x10000 */
    wr(ICR_LO, 3u << 18 | 0x50);          /* fixed, all but self: no one */
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(rd(IRR + i * 0x10), 0);
    wr(ESR, 0);
    ck_assert_uint_eq(rd(ESR), 0);
    ck_assert(!lapic__intr_pending(fx));
}
END_TEST

START_TEST(illegal_vectors_set_esr)
{
    enable();
    wr(LVT_ERROR, 0xfe);
    wr(ICR_LO, 1u << 18 | 0x05);     /* send illegal vector */
    lapic__set_irq(fx, 0x03, false); /* receive illegal vector */
    ck_assert_uint_eq(rd(ESR), 0);   /* not latched until written */
    wr(ESR, 0);
    ck_assert_uint_eq(rd(ESR), 0x60);
    ck_assert(vec_bit(IRR, 0xfe)); /* the error LVT fired */
    wr(ESR, 0);
    ck_assert_uint_eq(rd(ESR), 0);
}
END_TEST

START_TEST(pic_passes_through_while_disabled)
{
    pic_out = true;
    /* software-disabled: the 8259 is the CPU's input */
    ck_assert(lapic__intr_pending(fx));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x08);
    ck_assert_int_eq(pic_acks, 1);
    /* enabled with LINT0 masked: the 8259 is cut off */
    enable();
    pic_out = true;
    ck_assert(!lapic__intr_pending(fx));
    /* LINT0 as ExtINT: virtual wire */
    wr(LVT_LINT0, 0x700);
    ck_assert(lapic__intr_pending(fx));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x08);
    ck_assert(!lapic__intr_pending(fx));
    /* the I/O APIC's ExtINT route works the same way */
    wr(LVT_LINT0, MASKED | 0x700);
    pic_out = true;
    ck_assert(!lapic__intr_pending(fx));
    lapic__set_extint_route(fx, true);
    ck_assert(lapic__intr_pending(fx));
    lapic__set_extint_route(fx, false);
    ck_assert(!lapic__intr_pending(fx));
}
END_TEST

START_TEST(msr_disable_hides_and_resets)
{
    enable();
    wr(TPR, 0x20);
    lapic__set_irq(fx, 0x40, false);
    fx->cpu->apic_base &= ~0x800ull;
    uint32_t v = 0;
    bus__mmio_read(fx, BASE + VER, 4, &v);
    ck_assert_uint_eq(v, 0xffffffff);
    bus__mmio_write(fx, BASE + TPR, 4, 0x80);
    pic_out = true;
    ck_assert(lapic__intr_pending(fx)); /* the 8259 straight to the CPU */
    fx->cpu->apic_base |= 0x800;
    ck_assert_uint_eq(rd(TPR), 0); /* disabling reset it */
    ck_assert_uint_eq(rd(SVR), 0xff);
    ck_assert(!vec_bit(IRR, 0x40));
}
END_TEST

START_TEST(timer_current_count_follows_virtual_time)
{
    enable();
    wr(TDCR, 0xb); /* divide by 1: one tick per ns */
    wr(LVT_TIMER, MASKED | 0x40);
    wr(TMICT, 1000000);
    ck_assert_uint_eq(rd(TMCCT), 1000000);
    at(1000);
    ck_assert_uint_eq(rd(TMCCT), 999000);
    /* a new divider takes effect from now on: the count does not jump */
    wr(TDCR, 0xa); /* divide by 128 */
    ck_assert_uint_eq(rd(TMCCT), 999000);
    at(1000 + 128 * 10);
    ck_assert_uint_eq(rd(TMCCT), 998990);
    ck_assert_uint_eq(rd(TMICT), 1000000);
    /* a one-shot stops at zero */
    at(1000000000);
    ck_assert_uint_eq(rd(TMCCT), 0);
    /* the encodings of the divider: 000 -> 2 ... 110 -> 128, 111 -> 1 */
    static const struct {
        uint32_t tdcr, div;
    } d[] = {{0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16}, {0x8, 32}, {0x9, 64}, {0xa, 128}, {0xb, 1}};
    for (unsigned i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        at(0);
        wr(TDCR, d[i].tdcr);
        wr(TMICT, 100000);
        at(d[i].div * 10);
        ck_assert_uint_eq(rd(TMCCT), 100000 - 10);
    }
    /* writing 0 stops the timer */
    wr(TMICT, 0);
    ck_assert_uint_eq(rd(TMCCT), 0);
}
END_TEST

START_TEST(timer_one_shot_fires_once)
{
    enable();
    wr(TDCR, 0xb);
    wr(LVT_TIMER, 0x40);
    wr(TMICT, 50000); /* 50 us */
    at(49999);
    timers__run(fx);
    ck_assert(!vec_bit(IRR, 0x40));
    ck_assert_uint_eq(rd(TMCCT), 1);
    at(50000);
    timers__run(fx);
    ck_assert(vec_bit(IRR, 0x40));
    ck_assert_uint_eq(rd(TMCCT), 0);
    ck_assert(lapic__intr_pending(fx));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x40);
    wr(EOI, 0);
    at(10000000);
    timers__run(fx);
    ck_assert(!vec_bit(IRR, 0x40));
    /* rewriting TMICT starts a new count */
    wr(TMICT, 1000);
    at(10001000);
    timers__run(fx);
    ck_assert(vec_bit(IRR, 0x40));
}
END_TEST

START_TEST(timer_one_shot_masked_counts_silently)
{
    enable();
    wr(TDCR, 0xb);
    wr(LVT_TIMER, MASKED | 0x40);
    wr(TMICT, 1000);
    at(500);
    ck_assert_uint_eq(rd(TMCCT), 500);
    at(2000);
    timers__run(fx);
    ck_assert(!vec_bit(IRR, 0x40));
    ck_assert_uint_eq(rd(TMCCT), 0);
}
END_TEST

START_TEST(timer_periodic_reloads)
{
    enable();
    wr(TDCR, 0x0); /* divide by 2 */
    wr(LVT_TIMER, PERIODIC | 0x41);
    wr(TMICT, 100000); /* 200 us a period */
    at(50000);
    ck_assert_uint_eq(rd(TMCCT), 75000);
    for (uint64_t k = 1; k <= 3; k++) {
        at(k * 200000 - 1);
        timers__run(fx);
        ck_assert(!vec_bit(IRR, 0x41));
        at(k * 200000);
        timers__run(fx);
        ck_assert(vec_bit(IRR, 0x41));
        ck_assert_uint_eq(rd(TMCCT), 100000); /* reloaded */
        ck_assert_int_eq(lapic__intr_ack(fx), 0x41);
        wr(EOI, 0);
    }
    at(3 * 200000 + 2 * 30000);
    ck_assert_uint_eq(rd(TMCCT), 70000);
    /* a guest that fell behind gets one interrupt, and the period stays on its grid */
    at(10 * 200000 + 10);
    timers__run(fx);
    ck_assert(vec_bit(IRR, 0x41));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x41);
    wr(EOI, 0);
    at(11 * 200000 - 1);
    timers__run(fx);
    ck_assert(!vec_bit(IRR, 0x41));
    at(11 * 200000);
    timers__run(fx);
    ck_assert(vec_bit(IRR, 0x41));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x41);
    wr(EOI, 0);
    /* masked: counts on, delivers nothing */
    wr(LVT_TIMER, MASKED | PERIODIC | 0x41);
    at(12 * 200000);
    timers__run(fx);
    ck_assert(!vec_bit(IRR, 0x41));
    ck_assert_uint_eq(rd(TMCCT), 100000);
}
END_TEST

START_TEST(timer_mode_switch_keeps_count)
{
    enable();
    wr(TDCR, 0xb);
    wr(LVT_TIMER, MASKED | 0x42);
    wr(TMICT, 1000);
    at(300);
    wr(LVT_TIMER, PERIODIC | 0x42);
    ck_assert_uint_eq(rd(TMCCT), 700);
    at(1000);
    timers__run(fx);
    ck_assert(vec_bit(IRR, 0x42));
}
END_TEST

START_TEST(narrow_and_reserved_accesses)
{
    uint32_t v;

    enable();
    /* a byte read inside a register gets its bytes */
    ck_assert_int_eq(bus__mmio_read(fx, BASE + VER + 2, 1, &v), 0);
    ck_assert_uint_eq(v, 0x05);
    /* a narrow write is dropped */
    bus__mmio_write(fx, BASE + TPR, 1, 0x40);
    ck_assert_uint_eq(rd(TPR), 0);
    /* a reserved register reads 0 and flags an illegal register address */
    ck_assert_uint_eq(rd(0x040), 0);
    wr(ESR, 0);
    ck_assert_uint_eq(rd(ESR), 0x80);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("devices/lapic");
    TCase *regs = tcase_create("registers");
    TCase *intr = tcase_create("interrupts");
    TCase *timer = tcase_create("timer");

    tcase_add_checked_fixture(regs, setup, teardown);
    tcase_add_test(regs, reset_values);
    tcase_add_test(regs, register_write_masks);
    tcase_add_test(regs, narrow_and_reserved_accesses);
    tcase_add_test(regs, msr_disable_hides_and_resets);
    suite_add_tcase(s, regs);

    tcase_add_checked_fixture(intr, setup, teardown);
    tcase_add_test(intr, priority_and_eoi);
    tcase_add_test(intr, apr_reflects_irr_and_tpr);
    tcase_add_test(intr, level_trigger_sets_tmr);
    tcase_add_test(intr, eoi_broadcast_only_for_level);
    tcase_add_test(intr, self_ipi);
    tcase_add_test(intr, init_sipi_all_but_self_ignored);
    tcase_add_test(intr, illegal_vectors_set_esr);
    tcase_add_test(intr, pic_passes_through_while_disabled);
    suite_add_tcase(s, intr);

    tcase_add_checked_fixture(timer, setup, teardown);
    tcase_add_test(timer, timer_current_count_follows_virtual_time);
    tcase_add_test(timer, timer_one_shot_fires_once);
    tcase_add_test(timer, timer_one_shot_masked_counts_silently);
    tcase_add_test(timer, timer_periodic_reloads);
    tcase_add_test(timer, timer_mode_switch_keeps_count);
    suite_add_tcase(s, timer);

    return fixture_run_suite(s);
}
