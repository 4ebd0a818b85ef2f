/*
 * devices/ioapic through the bus, delivering into the local APIC: IOREGSEL/IOWIN and the
 * identification registers, redirection entry programming and its read-only bits, edge
 * triggering (one message per rising edge, lost while masked), level triggering with
 * Remote IRR and the local APIC's EOI, destinations, the ISA wiring (IRQ0 on pin 2) and
 * the ExtINT route for the 8259.
 */
#include <string.h>

#include "devices/bus.h"
#include "devices/ioapic.h"
#include "devices/lapic.h"
#include "fixture.h"

#define IO_BASE 0xfec00000u
#define IOREGSEL 0x00
#define IOWIN 0x10
#define LAPIC 0xfee00000u
#define SVR 0x0f0
#define EOI 0x0b0
#define ISR 0x100
#define TMR 0x180
#define IRR 0x200
#define LDR 0x0d0

#define MASKED 0x10000u
#define LEVEL 0x8000u
#define REMOTE_IRR 0x4000u
#define LOGICAL 0x800u

static char err[256];
static bool pic_out;

static bool fake_pic_pending(struct machine *m)
{
    (void)m;
    return pic_out;
}

static int fake_pic_ack(struct machine *m)
{
    (void)m;
    pic_out = false;
    return 0x08;
}

static void drop_claim(uint32_t base)
{
    for (int i = 0; i < fx->nmmio; i++)
        if (fx->mmio[i].base == base) {
            fx->mmio[i] = fx->mmio[--fx->nmmio];
            return;
        }
}

/* Both APICs of our own over a stand-in 8259, whether or not the machine table has them. */
static void setup(void)
{
    uint32_t v;

    fixture_machine_setup();
    pic_out = false;
    if (fx->ioapic) {
        ioapic__destroy(fx);
        drop_claim(IO_BASE);
    }
    if (fx->lapic) {
        lapic__destroy(fx);
        drop_claim(LAPIC);
    }
    fx->intr_pending = fake_pic_pending;
    fx->intr_ack = fake_pic_ack;
    ck_assert_int_eq(lapic__create(fx, err, sizeof(err)), 0);
    ck_assert_int_eq(ioapic__create(fx, err, sizeof(err)), 0);
    /* the machine's devices may hold lines high (the 8259 replays them): start all low */
    for (int pin = 0; pin < 24; pin++)
        ioapic__set_irq(fx, pin, 0);
    /* software-enable the local APIC */
    ck_assert_int_eq(bus__mmio_write(fx, LAPIC + SVR, 4, 0x1ff), 0);
    ck_assert_int_eq(bus__mmio_read(fx, LAPIC + SVR, 4, &v), 0);
    ck_assert_uint_eq(v, 0x1ff);
}

static void teardown(void)
{
    ioapic__destroy(fx);
    lapic__destroy(fx);
    fixture_machine_teardown();
}

static uint32_t io_rd(uint32_t reg)
{
    uint32_t v;

    ck_assert_int_eq(bus__mmio_write(fx, IO_BASE + IOREGSEL, 4, reg), 0);
    ck_assert_int_eq(bus__mmio_read(fx, IO_BASE + IOWIN, 4, &v), 0);
    return v;
}

static void io_wr(uint32_t reg, uint32_t v)
{
    ck_assert_int_eq(bus__mmio_write(fx, IO_BASE + IOREGSEL, 4, reg), 0);
    ck_assert_int_eq(bus__mmio_write(fx, IO_BASE + IOWIN, 4, v), 0);
}

static void route(int pin, uint32_t low, uint8_t dest)
{
    io_wr(0x11 + 2 * (uint32_t)pin, (uint32_t)dest << 24);
    io_wr(0x10 + 2 * (uint32_t)pin, low);
}

static uint32_t lapic_rd(uint32_t reg)
{
    uint32_t v;

    ck_assert_int_eq(bus__mmio_read(fx, LAPIC + reg, 4, &v), 0);
    return v;
}

static bool in_irr(int v)
{
    return lapic_rd(IRR + (uint32_t)(v / 32) * 0x10) >> (v % 32) & 1;
}

static bool in_tmr(int v)
{
    return lapic_rd(TMR + (uint32_t)(v / 32) * 0x10) >> (v % 32) & 1;
}

static void eoi(void)
{
    ck_assert_int_eq(bus__mmio_write(fx, LAPIC + EOI, 4, 0), 0);
}

START_TEST(identification_registers)
{
    uint32_t v;

    ck_assert_uint_eq(io_rd(0x01), 0x00170011);
    ck_assert_uint_eq(io_rd(0x00), 0);
    io_wr(0x00, 0xff123456);
    ck_assert_uint_eq(io_rd(0x00), 0x0f000000);
    ck_assert_uint_eq(io_rd(0x02), 0x0f000000); /* arbitration ID follows */
    io_wr(0x01, 0);
    ck_assert_uint_eq(io_rd(0x01), 0x00170011);
    /* IOREGSEL reads back */
    bus__mmio_write(fx, IO_BASE + IOREGSEL, 4, 0x23);
    ck_assert_int_eq(bus__mmio_read(fx, IO_BASE + IOREGSEL, 4, &v), 0);
    ck_assert_uint_eq(v, 0x23);
    /* past the table: reserved, reads 0 */
    ck_assert_uint_eq(io_rd(0x40), 0);
}
END_TEST

START_TEST(redirection_entries_reset_masked)
{
    for (uint32_t pin = 0; pin < 24; pin++) {
        ck_assert_uint_eq(io_rd(0x10 + 2 * pin), MASKED);
        ck_assert_uint_eq(io_rd(0x11 + 2 * pin), 0);
    }
}
END_TEST

START_TEST(redirection_read_only_bits)
{
    io_wr(0x10 + 2 * 5, 0xffffffff);
    /* delivery status (12) and remote IRR (14) are read-only; bits 17+ are reserved */
    ck_assert_uint_eq(io_rd(0x10 + 2 * 5), 0x1afff);
    io_wr(0x11 + 2 * 5, 0xffffffff);
    ck_assert_uint_eq(io_rd(0x11 + 2 * 5), 0xff000000);
}
END_TEST

START_TEST(edge_delivers_once_per_rising_edge)
{
    route(4, 0x34, 0);
    ioapic__set_irq(fx, 4, 1);
    ck_assert(in_irr(0x34));
    ck_assert(!in_tmr(0x34));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x34);
    eoi();
    /* still high: no new edge */
    ioapic__set_irq(fx, 4, 1);
    ck_assert(!in_irr(0x34));
    ioapic__set_irq(fx, 4, 0);
    ioapic__set_irq(fx, 4, 1);
    ck_assert(in_irr(0x34));
    ck_assert_uint_eq(io_rd(0x10 + 2 * 4) & (REMOTE_IRR | 0x1000), 0);
}
END_TEST

START_TEST(edge_on_masked_pin_is_lost)
{
    route(3, MASKED | 0x33, 0);
    ioapic__set_irq(fx, 3, 1);
    ck_assert(!in_irr(0x33));
    route(3, 0x33, 0);
    ck_assert(!in_irr(0x33));
    ioapic__set_irq(fx, 3, 0);
    ioapic__set_irq(fx, 3, 1);
    ck_assert(in_irr(0x33));
}
END_TEST

START_TEST(level_remote_irr_and_eoi)
{
    route(11, LEVEL | 0x3b, 0);
    ioapic__set_irq(fx, 11, 1);
    ck_assert(in_irr(0x3b));
    ck_assert(in_tmr(0x3b));
    ck_assert_uint_eq(io_rd(0x10 + 2 * 11) & REMOTE_IRR, REMOTE_IRR);
    ck_assert_int_eq(lapic__intr_ack(fx), 0x3b);
    /* while Remote IRR is set, the asserted line sends nothing more */
    ioapic__set_irq(fx, 11, 1);
    ck_assert(!in_irr(0x3b));
    /* EOI with the line still asserted: Remote IRR clears and the message comes again */
    eoi();
    ck_assert(in_irr(0x3b));
    ck_assert_uint_eq(io_rd(0x10 + 2 * 11) & REMOTE_IRR, REMOTE_IRR);
    ck_assert_int_eq(lapic__intr_ack(fx), 0x3b);
    /* the device drops its line; the EOI then leaves everything quiet */
    ioapic__set_irq(fx, 11, 0);
    eoi();
    ck_assert(!in_irr(0x3b));
    ck_assert_uint_eq(io_rd(0x10 + 2 * 11) & REMOTE_IRR, 0);
    ck_assert(!lapic__intr_pending(fx));
}
END_TEST

START_TEST(level_masked_then_unmasked)
{
    route(9, MASKED | LEVEL | 0x39, 0);
    ioapic__set_irq(fx, 9, 1);
    ck_assert(!in_irr(0x39));
    route(9, LEVEL | 0x39, 0); /* unmasking an asserted level pin sends at once */
    ck_assert(in_irr(0x39));
}
END_TEST

START_TEST(eoi_of_other_vector_keeps_remote_irr)
{
    route(10, LEVEL | 0x3a, 0);
    ioapic__set_irq(fx, 10, 1);
    lapic__set_irq(fx, 0x50, true); /* another level vector, higher */
    ck_assert_int_eq(lapic__intr_ack(fx), 0x50);
    eoi();
    ck_assert_uint_eq(io_rd(0x10 + 2 * 10) & REMOTE_IRR, REMOTE_IRR);
}
END_TEST

START_TEST(destinations)
{
    /* physical 1 names no CPU: dropped */
    route(5, 0x35, 1);
    ioapic__set_irq(fx, 5, 1);
    ck_assert(!in_irr(0x35));
    ioapic__set_irq(fx, 5, 0);
    /* physical broadcast */
    route(5, 0x35, 0xff);
    ioapic__set_irq(fx, 5, 1);
    ck_assert(in_irr(0x35));
    ioapic__set_irq(fx, 5, 0);
    /* logical flat: our LDR bit */
    ck_assert_int_eq(bus__mmio_write(fx, LAPIC + LDR, 4, 0x01000000), 0);
    route(6, LOGICAL | 0x36, 0x01);
    ioapic__set_irq(fx, 6, 1);
    ck_assert(in_irr(0x36));
    route(7, LOGICAL | 0x37, 0x02);
    ioapic__set_irq(fx, 7, 1);
    ck_assert(!in_irr(0x37));
    /* lowest priority to us */
    route(8, 0x100 | LOGICAL | 0x38, 0x01);
    ioapic__set_irq(fx, 8, 1);
    ck_assert(in_irr(0x38));
}
END_TEST

START_TEST(isa_irq0_on_pin2)
{
    route(2, 0x30, 0);
    route(0, 0x20, 0);
    ioapic__isa_irq(fx, 0, 1);
    ck_assert(in_irr(0x30));
    ck_assert(!in_irr(0x20));
    route(1, 0x31, 0);
    ioapic__isa_irq(fx, 1, 1);
    ck_assert(in_irr(0x31));
    route(14, 0x3e, 0);
    ioapic__isa_irq(fx, 14, 1);
    ck_assert(in_irr(0x3e));
}
END_TEST

START_TEST(extint_entry_passes_8259)
{
    pic_out = true;
    ck_assert(!lapic__intr_pending(fx)); /* LINT0 masked, no route */
    route(0, 0x700, 0);                  /* ExtINT, unmasked */
    ck_assert(lapic__intr_pending(fx));
    ck_assert_int_eq(lapic__intr_ack(fx), 0x08);
    pic_out = true;
    route(0, MASKED | 0x700, 0);
    ck_assert(!lapic__intr_pending(fx));
}
END_TEST

START_TEST(unsupported_modes_are_dropped)
{
    route(12, 0x400 | 0x3c, 0); /* NMI */
    ioapic__set_irq(fx, 12, 1);
    ck_assert(!in_irr(0x3c));
    ioapic__set_irq(fx, 30, 1); /* no such pin: ignored */
}
END_TEST

START_TEST(narrow_window_access_is_dropped)
{
    route(4, 0x34, 0);
    bus__mmio_write(fx, IO_BASE + IOREGSEL, 4, 0x18);
    bus__mmio_write(fx, IO_BASE + IOWIN, 1, 0xff);
    ck_assert_uint_eq(io_rd(0x18), 0x34);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("devices/ioapic");
    TCase *regs = tcase_create("registers");
    TCase *deliv = tcase_create("delivery");

    tcase_add_checked_fixture(regs, setup, teardown);
    tcase_add_test(regs, identification_registers);
    tcase_add_test(regs, redirection_entries_reset_masked);
    tcase_add_test(regs, redirection_read_only_bits);
    tcase_add_test(regs, narrow_window_access_is_dropped);
    suite_add_tcase(s, regs);

    tcase_add_checked_fixture(deliv, setup, teardown);
    tcase_add_test(deliv, edge_delivers_once_per_rising_edge);
    tcase_add_test(deliv, edge_on_masked_pin_is_lost);
    tcase_add_test(deliv, level_remote_irr_and_eoi);
    tcase_add_test(deliv, level_masked_then_unmasked);
    tcase_add_test(deliv, eoi_of_other_vector_keeps_remote_irr);
    tcase_add_test(deliv, destinations);
    tcase_add_test(deliv, isa_irq0_on_pin2);
    tcase_add_test(deliv, extint_entry_passes_8259);
    tcase_add_test(deliv, unsupported_modes_are_dropped);
    suite_add_tcase(s, deliv);

    return fixture_run_suite(s);
}
