/*
 * devices/testdev: absent unless asked for; the scratch register through
 * both port windows at every width; the flush port; the IRQ-line ports
 * driving m->irq and, through the 8259, the CPU; the scratch MMIO page; and
 * reset.
 */
#include "devices/bus.h"
#include "devices/testdev.h"
#include "fixture.h"

static struct machine *m;

static void own_setup(void)
{
    struct options opt = {0};

    opt.ram_mb = 4;
    opt.machine = "pc";
    opt.device[opt.ndevices++] = "pc-testdev";
    m = machine__create(&opt);
    ck_assert_ptr_nonnull(m);
}

static void own_teardown(void)
{
    machine__destroy(m);
    m = NULL;
}

static int irq_level[24], irq_calls;

static void record_irq(struct machine *mm, int line, int level)
{
    (void)mm;
    irq_level[line] = level;
    irq_calls++;
}

START_TEST(absent_by_default)
{
    struct options opt = {0};
    struct machine *plain;
    uint32_t v;

    opt.ram_mb = 4;
    opt.machine = "pc";
    opt.device[opt.ndevices++] = "pc-testdevice"; /* not the name */
    plain = machine__create(&opt);
    ck_assert_ptr_nonnull(plain);
    ck_assert_uint_eq(bus__pio_read(plain, 0xe0, 4), 0xffffffff);
    ck_assert_int_eq(bus__mmio_read(plain, TESTDEV_IOMEM_BASE, 4, &v), -1);
    machine__destroy(plain);
}
END_TEST

START_TEST(scratch_register)
{
    bus__pio_write(m, 0xe0, 4, 0x12345678);
    ck_assert_uint_eq(bus__pio_read(m, 0xe0, 4), 0x12345678);
    ck_assert_uint_eq(bus__pio_read(m, 0xe0, 1), 0x78);
    ck_assert_uint_eq(bus__pio_read(m, 0xe2, 2), 0x1234);
    ck_assert_uint_eq(bus__pio_read(m, 0xe8, 4), 0x12345678); /* the same register */
    ck_assert_uint_eq(bus__pio_read(m, 0xeb, 1), 0x12);
    bus__pio_write(m, 0xe9, 1, 0xab);
    ck_assert_uint_eq(bus__pio_read(m, 0xe0, 4), 0x1234ab78);
    bus__pio_write(m, 0xe1, 2, 0xcdef);
    ck_assert_uint_eq(bus__pio_read(m, 0xe0, 4), 0x12cdef78);
    bus__pio_write(m, 0xe4, 4, 0x00123000); /* flush page: accepted */
    ck_assert_uint_eq(bus__pio_read(m, 0xe8, 4), 0x12cdef78);
}
END_TEST

START_TEST(irq_lines)
{
    m->irq = record_irq;
    bus__pio_write(m, 0x2004, 1, 1);
    ck_assert_int_eq(irq_level[4], 1);
    bus__pio_write(m, 0x2004, 1, 0x80); /* any non-zero value is "high": no new call */
    ck_assert_int_eq(irq_calls, 1);
    bus__pio_write(m, 0x2004, 1, 0);
    ck_assert_int_eq(irq_level[4], 0);
    bus__pio_write(m, 0x2017, 1, 1);
    ck_assert_int_eq(irq_level[23], 1);
    bus__pio_write(m, 0x200a, 2, 0x0101); /* two lines at once */
    ck_assert_int_eq(irq_level[10], 1);
    ck_assert_int_eq(irq_level[11], 1);
    ck_assert_uint_eq(bus__pio_read(m, 0x2004, 1), 0);
    bus__reset_all(m); /* drops what it raised */
    ck_assert_int_eq(irq_level[10], 0);
    ck_assert_int_eq(irq_level[23], 0);
}
END_TEST

START_TEST(irq_line_reaches_the_cpu)
{
    static const uint8_t init[][2] = {
        {0x20, 0x11}, {0x21, 0x20}, {0x21, 0x04}, {0x21, 0x01}, {0x21, 0xff & ~(1 << 5)}};

    bus__pio_write(m, 0x43, 1, 0x30); /* keep the PIT's IRQ0 quiet */
    for (size_t i = 0; i < sizeof(init) / sizeof(init[0]); i++)
        bus__pio_write(m, init[i][0], 1, init[i][1]);
    ck_assert(!m->intr_pending(m));
    bus__pio_write(m, 0x2005, 1, 1);
    ck_assert(m->intr_pending(m));
    ck_assert_int_eq(m->intr_ack(m), 0x25);
}
END_TEST

START_TEST(scratch_mmio)
{
    uint32_t v;

    ck_assert_int_eq(bus__mmio_write(m, TESTDEV_IOMEM_BASE + 0x10, 4, 0xdeadbeef), 0);
    ck_assert_int_eq(bus__mmio_read(m, TESTDEV_IOMEM_BASE + 0x10, 4, &v), 0);
    ck_assert_uint_eq(v, 0xdeadbeef);
    ck_assert_int_eq(bus__mmio_read(m, TESTDEV_IOMEM_BASE + 0x12, 2, &v), 0);
    ck_assert_uint_eq(v, 0xdead);
    ck_assert_int_eq(bus__mmio_write(m, TESTDEV_IOMEM_BASE + TESTDEV_IOMEM_LEN - 1, 1, 0x5a), 0);
    ck_assert_int_eq(bus__mmio_read(m, TESTDEV_IOMEM_BASE + TESTDEV_IOMEM_LEN - 1, 1, &v), 0);
    ck_assert_uint_eq(v, 0x5a);
    bus__pio_write(m, 0xe0, 4, 1);
    bus__reset_all(m);
    ck_assert_int_eq(bus__mmio_read(m, TESTDEV_IOMEM_BASE + 0x10, 4, &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_uint_eq(bus__pio_read(m, 0xe0, 4), 0);
}
END_TEST

static Suite *testdev_suite(void)
{
    Suite *s = suite_create("devices/testdev");
    TCase *t = tcase_create("pc-testdev");

    tcase_add_checked_fixture(t, own_setup, own_teardown);
    tcase_add_test(t, absent_by_default);
    tcase_add_test(t, scratch_register);
    tcase_add_test(t, irq_lines);
    tcase_add_test(t, irq_line_reaches_the_cpu);
    tcase_add_test(t, scratch_mmio);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fixture_run_suite(testdev_suite());
}
