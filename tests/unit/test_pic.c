/*
 * devices/i8259: the 8259A pair as guests program it (Linux's and SeaBIOS's
 * initialization sequences), the vector the INTA cycle returns, masking,
 * priority and nesting, the EOI commands, rotation, auto-EOI, poll mode,
 * special mask mode, spurious IRQ7 (also for a slave request that vanished),
 * the PIIX4 ELCR's level mode, the kick when INT rises, and the I/O APIC
 * hook.
 */
#include "devices/bus.h"
#include "devices/i8259.h"
#include "fixture.h"

#define M_CMD 0x20
#define M_DATA 0x21
#define S_CMD 0xa0
#define S_DATA 0xa1
#define ELCR1 0x4d0
#define ELCR2 0x4d1

#define OCW3_READ_IRR 0x0a
#define OCW3_READ_ISR 0x0b
#define OCW3_POLL 0x0c
#define EOI 0x20

static uint8_t in(uint16_t port)
{
    return (uint8_t)bus__pio_read(fx, port, 1);
}

static void out(uint16_t port, uint8_t v)
{
    bus__pio_write(fx, port, 1, v);
}

/* Linux's init_8259A(): vectors 0x30 and 0x38, normal EOI, all masked but the cascade. */
static void linux_init(void)
{
    out(M_DATA, 0xff);
    out(S_DATA, 0xff);
    out(M_CMD, 0x11);  /* ICW1: edge, cascade, ICW4 */
    out(M_DATA, 0x30); /* ICW2 */
    out(M_DATA, 0x04); /* ICW3: slave on IR2 */
    out(M_DATA, 0x01); /* ICW4: 8086, normal EOI */
    out(S_CMD, 0x11);
    out(S_DATA, 0x38);
    out(S_DATA, 0x02); /* slave ID 2 */
    out(S_DATA, 0x01);
    out(M_DATA, 0xfb); /* everything masked but the cascade */
    out(S_DATA, 0xff);
}

static void irq(int line, int level)
{
    fx->irq(fx, line, level);
}

static uint8_t isr(uint16_t cmd)
{
    out(cmd, OCW3_READ_ISR);
    return in(cmd);
}

static uint8_t irr(uint16_t cmd)
{
    out(cmd, OCW3_READ_IRR);
    return in(cmd);
}

/* Start from a machine whose devices keep their lines low (the PIT's OUT0 toggles). */
static void quiet(void)
{
    out(0x43, 0x30); /* PIT channel 0: mode 0, no count yet, OUT low */
}

START_TEST(machine_interrupt_input_is_the_pic)
{
    ck_assert_ptr_nonnull(fx->pic);
    ck_assert_ptr_nonnull(fx->intr_pending);
    ck_assert_ptr_nonnull(fx->intr_ack);
    ck_assert(!fx->intr_pending(fx));
    ck_assert_uint_eq(in(M_DATA), 0xff); /* masked until the guest programs a vector base */
    ck_assert_uint_eq(in(S_DATA), 0xff);
    ck_assert_uint_eq(bus__pio_read(fx, M_CMD, 2) >> 8, 0xff); /* IRR, then IMR: bytewise */
    ck_assert_uint_eq(in(ELCR1), 0);
    ck_assert_uint_eq(in(ELCR2), 0);
}
END_TEST

START_TEST(linux_init_and_vector)
{
    quiet();
    linux_init();
    ck_assert_uint_eq(in(M_DATA), 0xfb);
    irq(4, 1);
    ck_assert(!fx->intr_pending(fx));           /* masked */
    ck_assert_uint_eq(irr(M_CMD) & 0x10, 0x10); /* but requested */
    fx->cpu->pending_irq = 0;
    fx->cpu->budget = 100;
    out(M_DATA, 0xeb); /* unmask IRQ4 */
    ck_assert(fx->intr_pending(fx));
    ck_assert_uint_eq(fx->cpu->pending_irq, 1); /* INT rose: the vCPU was kicked */
    ck_assert_int_lt(fx->cpu->budget, 0);
    ck_assert_int_eq(fx->intr_ack(fx), 0x34);
    ck_assert(!fx->intr_pending(fx));
    ck_assert_uint_eq(isr(M_CMD), 0x10);
    ck_assert_uint_eq(irr(M_CMD) & 0x10, 0); /* edge consumed */
    irq(4, 0);
    out(M_CMD, EOI);
    ck_assert_uint_eq(isr(M_CMD), 0);
    ck_assert(!fx->intr_pending(fx));
}
END_TEST

START_TEST(seabios_init_and_slave_vector)
{
    quiet();
    /* SeaBIOS: master at 0x08, slave at 0x70. */
    out(M_CMD, 0x11);
    out(M_DATA, 0x08);
    out(M_DATA, 0x04);
    out(M_DATA, 0x01);
    out(S_CMD, 0x11);
    out(S_DATA, 0x70);
    out(S_DATA, 0x02);
    out(S_DATA, 0x01);
    out(M_DATA, 0xfb);
    out(S_DATA, 0xfe); /* IRQ8 only */
    irq(8, 1);
    ck_assert(fx->intr_pending(fx));
    ck_assert_int_eq(fx->intr_ack(fx), 0x70);
    ck_assert_uint_eq(isr(M_CMD), 0x04); /* the cascade level is in service on the master */
    ck_assert_uint_eq(isr(S_CMD), 0x01);
    irq(8, 0);
    out(S_CMD, EOI);
    out(M_CMD, EOI);
    ck_assert_uint_eq(isr(M_CMD), 0);
    ck_assert_uint_eq(isr(S_CMD), 0);
    /* IRQ 14 on the slave */
    out(S_DATA, 0xbf);
    irq(14, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x76);
}
END_TEST

START_TEST(priority_and_nesting)
{
    quiet();
    linux_init();
    out(M_DATA, 0x00);
    out(S_DATA, 0x00);
    irq(5, 1);
    irq(3, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x33); /* lower IR, higher priority */
    ck_assert(!fx->intr_pending(fx));         /* 5 waits behind 3 in service */
    irq(1, 1);
    ck_assert(fx->intr_pending(fx)); /* 1 nests above 3 */
    ck_assert_int_eq(fx->intr_ack(fx), 0x31);
    ck_assert_uint_eq(isr(M_CMD), 0x0a);
    out(M_CMD, EOI); /* non-specific: ends 1, the highest */
    ck_assert_uint_eq(isr(M_CMD), 0x08);
    ck_assert(!fx->intr_pending(fx));
    out(M_CMD, 0x63); /* specific EOI for IR3 */
    ck_assert(fx->intr_pending(fx));
    ck_assert_int_eq(fx->intr_ack(fx), 0x35);
    /* a slave interrupt ranks as IR2 on the master: above 3, below 1 */
    out(M_CMD, EOI);
    irq(3, 0);
    irq(3, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x33);
    irq(12, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x3c);
}
END_TEST

START_TEST(rotation)
{
    quiet();
    linux_init();
    out(M_DATA, 0x00);
    out(M_CMD, 0xc4); /* set priority: IR4 lowest, so IR5 is the highest */
    irq(3, 1);
    irq(6, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x36);
    out(M_CMD, 0xa0); /* rotate on non-specific EOI: IR6 becomes the lowest */
    ck_assert_int_eq(fx->intr_ack(fx), 0x33);
    out(M_CMD, 0xe3); /* rotate on specific EOI 3 */
    irq(6, 0);
    irq(6, 1);
    irq(3, 0);
    irq(3, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x36); /* IR4 is highest now: 6 beats 3 */
}
END_TEST

START_TEST(auto_eoi)
{
    quiet();
    out(M_CMD, 0x11);
    out(M_DATA, 0x20);
    out(M_DATA, 0x04);
    out(M_DATA, 0x03); /* 8086, AEOI */
    out(M_DATA, 0x00);
    irq(1, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x21);
    ck_assert_uint_eq(isr(M_CMD), 0); /* no EOI needed */
    irq(1, 0);
    irq(1, 1);
    ck_assert(fx->intr_pending(fx));
}
END_TEST

START_TEST(poll_mode)
{
    quiet();
    linux_init();
    out(M_DATA, 0x00);
    out(M_CMD, OCW3_POLL);
    ck_assert_uint_eq(in(M_CMD), 0x00); /* nothing requested */
    irq(6, 1);
    out(M_CMD, OCW3_POLL);
    ck_assert_uint_eq(in(M_DATA), 0x86); /* either port reads the poll word */
    ck_assert_uint_eq(isr(M_CMD), 0x40); /* a poll is an INTA */
    ck_assert_uint_eq(in(M_DATA), 0x00); /* and only the next read: IMR again */
}
END_TEST

START_TEST(special_mask_mode)
{
    quiet();
    linux_init();
    out(M_DATA, 0x00);
    irq(3, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x33);
    irq(5, 1);
    ck_assert(!fx->intr_pending(fx));
    out(M_DATA, 0x08);               /* mask the level in service... */
    out(M_CMD, 0x68);                /* ...and enter special mask mode */
    ck_assert(fx->intr_pending(fx)); /* a lower level gets through */
    ck_assert_int_eq(fx->intr_ack(fx), 0x35);
    out(M_CMD, EOI); /* ends 5: the masked 3 is not the one ended */
    ck_assert_uint_eq(isr(M_CMD), 0x08);
    out(M_CMD, 0x48); /* leave special mask mode */
    out(M_CMD, 0x63);
    ck_assert_uint_eq(isr(M_CMD), 0);
}
END_TEST

START_TEST(spurious_vectors)
{
    quiet();
    linux_init();
    ck_assert_int_eq(i8259__ack(fx), 0x37); /* INTA with nothing: IR7, no ISR bit */
    ck_assert_uint_eq(isr(M_CMD), 0);
    /* the slave's request vanishes before INTA: the master's cascade input follows it */
    out(S_DATA, 0x00);
    irq(10, 1);
    ck_assert(fx->intr_pending(fx));
    out(S_DATA, 0x04);
    ck_assert(!fx->intr_pending(fx));
    ck_assert_int_eq(fx->intr_ack(fx), 0x37);
    ck_assert_uint_eq(isr(M_CMD), 0);
}
END_TEST

START_TEST(edge_latched_across_a_pulse)
{
    quiet();
    linux_init();
    out(M_DATA, 0x00);
    irq(3, 1);
    irq(3, 0); /* a pulse shorter than the CPU's look */
    ck_assert(fx->intr_pending(fx));
    ck_assert_int_eq(fx->intr_ack(fx), 0x33);
    out(M_CMD, EOI);
    ck_assert(!fx->intr_pending(fx));
}
END_TEST

START_TEST(icw1_resets_edge_sense)
{
    quiet();
    irq(5, 1); /* high before initialization */
    linux_init();
    out(M_DATA, 0x00);
    ck_assert(!fx->intr_pending(fx)); /* must fall and rise again */
    irq(5, 0);
    irq(5, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x35);
}
END_TEST

START_TEST(elcr_level_mode)
{
    quiet();
    linux_init();
    out(ELCR1, 0xff);
    out(ELCR2, 0xff);
    ck_assert_uint_eq(in(ELCR1), 0xf8); /* IRQ 0, 1, 2 are always edge */
    ck_assert_uint_eq(in(ELCR2), 0xde); /* and IRQ 8, 13 */
    ck_assert_uint_eq(bus__pio_read(fx, ELCR1, 2), 0xdef8);
    out(ELCR1, 0x00);
    out(ELCR2, 0x08); /* IRQ 11 level */
    out(M_DATA, 0x00);
    out(S_DATA, 0x00);
    irq(11, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x3b);
    out(S_CMD, EOI);
    out(M_CMD, EOI);
    ck_assert(fx->intr_pending(fx)); /* still high: requests again */
    ck_assert_int_eq(fx->intr_ack(fx), 0x3b);
    irq(11, 0);
    out(S_CMD, EOI);
    out(M_CMD, EOI);
    ck_assert(!fx->intr_pending(fx));
    /* level requests vanish with the line, even before INTA */
    irq(11, 1);
    ck_assert(fx->intr_pending(fx));
    irq(11, 0);
    ck_assert(!fx->intr_pending(fx));
    /* the same line edge-triggered: one interrupt per rising edge */
    out(ELCR2, 0x00);
    irq(11, 1);
    ck_assert_int_eq(fx->intr_ack(fx), 0x3b);
    out(S_CMD, EOI);
    out(M_CMD, EOI);
    ck_assert(!fx->intr_pending(fx));
}
END_TEST

START_TEST(reset_clears_registers)
{
    quiet();
    linux_init();
    out(ELCR2, 0x08);
    irq(1, 1);
    bus__reset_all(fx);
    ck_assert_uint_eq(in(M_DATA), 0xff);
    ck_assert_uint_eq(in(ELCR2), 0);
    ck_assert_uint_eq(isr(M_CMD), 0);
    ck_assert_uint_eq(irr(M_CMD) & 0x02, 0);
}
END_TEST

static int hook_level[24], hook_calls;

static void hook(struct machine *m, int line, int level)
{
    (void)m;
    hook_level[line] = level;
    hook_calls++;
}

START_TEST(ioapic_hook_sees_every_line)
{
    quiet();
    irq(7, 1);
    i8259__set_ioapic_hook(fx, hook);
    ck_assert_int_eq(hook_level[7], 1); /* replayed at installation */
    ck_assert_int_eq(i8259__line(fx, 7), 1);
    irq(20, 1); /* beyond the 8259s */
    ck_assert_int_eq(hook_level[20], 1);
    ck_assert_int_eq(i8259__line(fx, 20), 1);
    irq(2, 1);
    ck_assert_int_eq(hook_level[2], 1);
    irq(7, 0);
    ck_assert_int_eq(hook_level[7], 0);
    i8259__set_ioapic_hook(fx, NULL);
    hook_calls = 0;
    irq(9, 1);
    ck_assert_int_eq(hook_calls, 0);
    irq(30, 1); /* no such line: ignored */
}
END_TEST

static Suite *pic_suite(void)
{
    Suite *s = suite_create("devices/i8259");
    TCase *t = tcase_create("i8259");

    tcase_add_checked_fixture(t, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(t, machine_interrupt_input_is_the_pic);
    tcase_add_test(t, linux_init_and_vector);
    tcase_add_test(t, seabios_init_and_slave_vector);
    tcase_add_test(t, priority_and_nesting);
    tcase_add_test(t, rotation);
    tcase_add_test(t, auto_eoi);
    tcase_add_test(t, poll_mode);
    tcase_add_test(t, special_mask_mode);
    tcase_add_test(t, spurious_vectors);
    tcase_add_test(t, edge_latched_across_a_pulse);
    tcase_add_test(t, icw1_resets_edge_sense);
    tcase_add_test(t, elcr_level_mode);
    tcase_add_test(t, reset_clears_registers);
    tcase_add_test(t, ioapic_hook_sees_every_line);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fixture_run_suite(pic_suite());
}
