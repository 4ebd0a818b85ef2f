/*
 * devices/piix4-*: the power-management function's I/O block (placement by PMBA and
 * PMREGMISC, PM1 status/enable/control, the PM timer's rate and overflow status, SCI on IRQ
 * 9, soft off), the reset control register at 0xcf9, the IDE function's bus-master block,
 * and what piix4__firmware_setup() programs.
 */
#include <string.h>
#include <time.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/piix4.h"
#include "fixture.h"
#include "monitor/timer.h"
#include "monitor/vtime.h"

#define PM 0x600
#define PMSTS (PM + 0x00)
#define PMEN (PM + 0x02)
#define PMCNTRL (PM + 0x04)
#define PMTMR (PM + 0x08)
#define GPSTS (PM + 0x0c)
#define GPEN (PM + 0x0e)
#define GPOREG (PM + 0x34)

static uint32_t cfg_read(int dev, int fn, unsigned off, unsigned size)
{
    return pci__config_read(fx, dev, fn, off, size);
}

static void cfg_write(int dev, int fn, unsigned off, unsigned size, uint32_t v)
{
    /* Through the ports, as the guest does it. */
    bus__pio_write(fx, 0xcf8, 4,
                   0x80000000u | (uint32_t)dev << 11 | (uint32_t)fn << 8 | (off & 0xfc));
    bus__pio_write(fx, (uint16_t)(0xcfc + (off & 3)), size, v);
}

static void pm_enable(uint16_t base)
{
    cfg_write(1, 3, 0x40, 4, base | 1u);
    cfg_write(1, 3, 0x80, 1, 1);
}

static int irq_level[16], irq_calls;

static void record_irq(struct machine *m, int line, int level)
{
    (void)m;
    irq_level[line] = level;
    irq_calls++;
}

static void record_irqs(void)
{
    memset(irq_level, 0, sizeof(irq_level));
    irq_calls = 0;
    fx->irq = record_irq;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};

    while (nanosleep(&ts, &ts))
        ;
}

/* ---- placement ---- */

START_TEST(pm_block_follows_pmba_and_pmiose)
{
    ck_assert_uint_eq(bus__pio_read(fx, PMCNTRL, 2), 0xffff); /* off at reset */
    cfg_write(1, 3, 0x40, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_read(1, 3, 0x40, 4), 0x0000ffc1); /* 64 bytes, I/O indicator */
    cfg_write(1, 3, 0x40, 4, PM | 1);
    ck_assert_uint_eq(bus__pio_read(fx, PMCNTRL, 2), 0xffff); /* PMIOSE still clear */
    cfg_write(1, 3, 0x80, 1, 0xff);
    ck_assert_uint_eq(cfg_read(1, 3, 0x80, 1), 0x01);
    ck_assert_uint_eq(bus__pio_read(fx, PMCNTRL, 2), 0x0001); /* SCI_EN: ACPI mode from reset */
    ck_assert_uint_eq(bus__pio_read(fx, GPOREG, 4), 0x7fffbfff);

    cfg_write(1, 3, 0x40, 2, 0x0701); /* move it */
    ck_assert_uint_eq(bus__pio_read(fx, PMCNTRL, 2), 0xffff);
    ck_assert_uint_eq(bus__pio_read(fx, 0x704, 2), 0x0001);
    cfg_write(1, 3, 0x80, 1, 0);
    ck_assert_uint_eq(bus__pio_read(fx, 0x704, 2), 0xffff);

    cfg_write(1, 3, 0x40, 4, 0x3c1); /* on top of COM1: not decoded, the UART keeps it */
    cfg_write(1, 3, 0x80, 1, 1);
    ck_assert_uint_eq(bus__pio_read(fx, 0x3fd, 1), 0x60);

    pm_enable(PM);
    bus__reset_all(fx);
    ck_assert_uint_eq(cfg_read(1, 3, 0x40, 4), 1);
    ck_assert_uint_eq(bus__pio_read(fx, PMCNTRL, 2), 0xffff);
}
END_TEST

START_TEST(firmware_setup_programs_the_piix4)
{
    piix4__firmware_setup(fx);
    ck_assert_uint_eq(cfg_read(1, 3, 0x40, 4), PM | 1);
    ck_assert_uint_eq(cfg_read(1, 3, 0x80, 1), 1);
    ck_assert_uint_eq(cfg_read(1, 3, PCI_INTERRUPT_LINE, 1), 9);
    ck_assert_uint_eq(cfg_read(1, 0, 0x60, 4), 0x0b0b0a0a);
    ck_assert_uint_eq(cfg_read(1, 1, 0x40, 4), 0x80008000); /* IDE decode on both channels */
    ck_assert_uint_eq(bus__pio_read(fx, PMCNTRL, 2), 0x0001);
    /* ELCR (the 8259 model's, at 0x4d0/0x4d1): IRQ 10 and 11 level-triggered. */
    ck_assert_uint_eq(bus__pio_read(fx, 0x4d0, 1), 0x00);
    ck_assert_uint_eq(bus__pio_read(fx, 0x4d1, 1), 0x0c);
}
END_TEST

/* ---- PM1 registers and the SCI ---- */

START_TEST(pm1_status_enable_and_sci)
{
    record_irqs();
    pm_enable(PM);
    ck_assert_uint_eq(bus__pio_read(fx, PMSTS, 2) & 0x0100, 0);
    piix4__power_button(fx);
    ck_assert_uint_eq(bus__pio_read(fx, PMSTS, 2) & 0x0100, 0x0100);
    ck_assert_int_eq(irq_level[9], 0); /* PWRBTN_EN clear */
    bus__pio_write(fx, PMEN, 2, 0xffff);
    ck_assert_uint_eq(bus__pio_read(fx, PMEN, 2), 0x0521); /* TMROF GBL PWRBTN RTC */
    ck_assert_int_eq(irq_level[9], 1);
    bus__pio_write(fx, PMCNTRL, 2, 0); /* SCI_EN off: no SCI */
    ck_assert_int_eq(irq_level[9], 0);
    bus__pio_write(fx, PMCNTRL, 2, 1);
    ck_assert_int_eq(irq_level[9], 1);
    bus__pio_write(fx, PMSTS, 2, 0x0000); /* writing 0 clears nothing */
    ck_assert_int_eq(irq_level[9], 1);
    bus__pio_write(fx, PMSTS + 1, 1, 0x01); /* byte write of PWRBTN_STS: cleared */
    ck_assert_uint_eq(bus__pio_read(fx, PMSTS, 2) & 0x0100, 0);
    ck_assert_int_eq(irq_level[9], 0);

    /* GPE0: status bits are write-1-to-clear, enables plain. */
    bus__pio_write(fx, GPEN, 2, 0x0001);
    ck_assert_uint_eq(bus__pio_read(fx, GPEN, 2), 0x0001);
    bus__pio_write(fx, GPSTS, 2, 0xffff);
    ck_assert_uint_eq(bus__pio_read(fx, GPSTS, 2), 0);

    /* A reset drops the SCI and the enables. */
    piix4__power_button(fx);
    ck_assert_int_eq(irq_level[9], 1);
    bus__reset_all(fx);
    ck_assert_int_eq(irq_level[9], 0);
}
END_TEST

START_TEST(pm_timer_rate)
{
    uint64_t ns0, ns1, ns2, ns3, lo, hi;
    uint32_t t0, t1, ticks;

    pm_enable(PM);
    ck_assert_uint_eq(bus__pio_read(fx, PMTMR, 4) >> 24, 0); /* 24 bits */
    ns0 = vtime__ns();
    t0 = bus__pio_read(fx, PMTMR, 4);
    ns1 = vtime__ns();
    sleep_ns(50000000);
    ns2 = vtime__ns();
    t1 = bus__pio_read(fx, PMTMR, 4);
    ns3 = vtime__ns();
    ticks = (t1 - t0) & 0xffffff;
    /* Between the shortest and the longest interval the two reads can have seen. */
    lo = (ns2 - ns1) * 3579545ull / 1000000000ull;
    hi = (ns3 - ns0) * 3579545ull / 1000000000ull + 1;
    ck_assert_uint_ge(ticks, lo);
    ck_assert_uint_le(ticks, hi);
    ck_assert_uint_ge(ticks, 178000); /* 50 ms at 3.579545 MHz is 178977 ticks */
    /* Narrow reads of the same register see the same counter. */
    ck_assert_uint_eq(bus__pio_read(fx, PMTMR + 3, 1), 0);
    bus__pio_write(fx, PMTMR, 4, 0); /* read-only */
    ck_assert_uint_ge((bus__pio_read(fx, PMTMR, 4) - t1) & 0xffffff, 1);
}
END_TEST

START_TEST(pm_timer_frozen_clock)
{
    uint64_t now = timers__now(fx);
    uint32_t t0;

    pm_enable(PM);
    timers__test_set_clock(fx, now);
    t0 = bus__pio_read(fx, PMTMR, 4);
    ck_assert_uint_eq(bus__pio_read(fx, PMTMR, 4), t0); /* the clock stands still */
    timers__test_set_clock(fx, now + 1000000000u);      /* one second later */
    ck_assert_uint_eq((bus__pio_read(fx, PMTMR, 4) - t0) & 0xffffff, 3579545);
    timers__test_set_clock(fx, UINT64_MAX);
}
END_TEST

START_TEST(pm_timer_overflow_status)
{
    uint64_t now = timers__now(fx), deadline;
    uint32_t t;

    record_irqs();
    pm_enable(PM);
    timers__test_set_clock(fx, now);
    t = bus__pio_read(fx, PMTMR, 4);
    ck_assert_uint_lt(t, 0x800000); /* fresh machine: bit 23 has not toggled yet */
    ck_assert_uint_eq(bus__pio_read(fx, PMSTS, 2) & 1, 0);
    /* Not enabled: the status appears when the guest looks, with no SCI. */
    timers__test_set_clock(fx, now + ((0x800000u - t) * 1000000000ull + 3579544u) / 3579545u);
    timers__run(fx);
    ck_assert_uint_eq(bus__pio_read(fx, PMSTS, 2) & 1, 1);
    ck_assert_uint_ge(bus__pio_read(fx, PMTMR, 4), 0x800000);
    ck_assert_int_eq(irq_level[9], 0);
    bus__pio_write(fx, PMSTS, 2, 1);

    /* TMROF_EN: a timer waits for bit 23's next toggle (2^24 ticks, where the counter wraps)
     * and raises the SCI without the guest touching the block. */
    bus__pio_write(fx, PMEN, 2, 0x0001);
    deadline = now + ((0x1000000u - t) * 1000000000ull + 3579544u) / 3579545u;
    timers__test_set_clock(fx, deadline - 1000000);
    timers__run(fx);
    ck_assert_int_eq(irq_level[9], 0);
    timers__test_set_clock(fx, deadline + 1000);
    timers__run(fx);
    ck_assert_int_eq(irq_level[9], 1);
    ck_assert_uint_lt(bus__pio_read(fx, PMTMR, 4), 0x100); /* wrapped past 0xffffff */
    bus__pio_write(fx, PMSTS, 2, 1);
    ck_assert_uint_eq(bus__pio_read(fx, PMSTS, 2) & 1, 0);
    ck_assert_int_eq(irq_level[9], 0);
    bus__pio_write(fx, PMEN, 2, 0);
    timers__test_set_clock(fx, UINT64_MAX);
}
END_TEST

/* ---- sleep and reset requests ---- */

START_TEST(soft_off_exits)
{
    pm_enable(PM);
    bus__pio_write(fx, PMCNTRL, 2, 0x0401 | 0x2000); /* SUS_TYP 1 (suspend to RAM): ignored */
    ck_assert_int_eq(fx->request, REQ_NONE);
    ck_assert_uint_eq(bus__pio_read(fx, PMCNTRL, 2), 0x0401); /* SUS_EN reads 0 */
    bus__pio_write(fx, PMCNTRL + 1, 1, 0x20); /* SUS_TYP 0 (the DSDT's \_S5) and SUS_EN */
    ck_assert_int_eq(fx->request, REQ_EXIT);
    ck_assert_int_eq(fx->exit_status, 0);
    ck_assert_int_lt(fx->cpu->budget, 0);
}
END_TEST

START_TEST(soft_off_by_word_write)
{
    pm_enable(PM);
    bus__pio_write(fx, PMCNTRL, 2, (PIIX4_SLP_TYP_S5 << 10) | 0x2000 | 1);
    ck_assert_int_eq(fx->request, REQ_EXIT);
    ck_assert_int_eq(fx->exit_status, 0);
}
END_TEST

START_TEST(reset_control_register)
{
    ck_assert_uint_eq(bus__pio_read(fx, 0xcf9, 1), 0x00);
    bus__pio_write(fx, 0xcf9, 1, 0x02); /* SRST: choose a hard reset */
    ck_assert_int_eq(fx->request, REQ_NONE);
    ck_assert_uint_eq(bus__pio_read(fx, 0xcf9, 1), 0x02);
    bus__pio_write(fx, 0xcf8, 4, 0x80000006); /* a CONFIG_ADDRESS dword is not RC */
    ck_assert_int_eq(fx->request, REQ_NONE);
    ck_assert_uint_eq(bus__pio_read(fx, 0xcf9, 1), 0x02);
    bus__pio_write(fx, 0xcf9, 1, 0x06); /* SRST | RCPU */
    ck_assert_int_eq(fx->request, REQ_RESET);
    ck_assert_int_lt(fx->cpu->budget, 0);
}
END_TEST

START_TEST(reset_control_soft_reset)
{
    bus__pio_write(fx, 0xcf9, 1, 0x04); /* RCPU alone: INIT, treated as a reset */
    ck_assert_int_eq(fx->request, REQ_RESET);
    bus__reset_all(fx);
    ck_assert_uint_eq(bus__pio_read(fx, 0xcf9, 1), 0x00);
}
END_TEST

/* ---- IDE ---- */

START_TEST(ide_bus_master_block)
{
    cfg_write(1, 1, 0x20, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_read(1, 1, 0x20, 4), 0xfffffff1); /* 16 bytes of I/O */
    cfg_write(1, 1, 0x20, 4, 0xc040);
    ck_assert_uint_eq(bus__pio_read(fx, 0xc040, 1), 0xff); /* IOSE clear */
    cfg_write(1, 1, PCI_COMMAND, 2, 0xffff);
    ck_assert_uint_eq(cfg_read(1, 1, PCI_COMMAND, 2), 0x0005); /* IOSE, BME */
    ck_assert_uint_eq(bus__pio_read(fx, 0xc040, 1), 0x00);
    bus__pio_write(fx, 0xc044, 4, 0x12345677);
    ck_assert_uint_eq(bus__pio_read(fx, 0xc044, 4), 0x12345674); /* dword aligned */
    bus__pio_write(fx, 0xc04c, 4, 0x00100000);
    ck_assert_uint_eq(bus__pio_read(fx, 0xc04c, 4), 0x00100000);
    bus__pio_write(fx, 0xc042, 1, 0xff); /* BMIDEA read-only, error/interrupt RWC, DMA cap RW */
    ck_assert_uint_eq(bus__pio_read(fx, 0xc042, 1), 0x60);
    bus__pio_write(fx, 0xc040, 1, 0xff);
    ck_assert_uint_eq(bus__pio_read(fx, 0xc040, 1), 0x09);
    ck_assert_uint_eq(bus__pio_read(fx, 0xc048, 1), 0x00); /* secondary untouched */
    bus__reset_all(fx);
    ck_assert_uint_eq(bus__pio_read(fx, 0xc040, 1), 0xff); /* BAR off again */
    cfg_write(1, 1, 0x20, 4, 0xc041);
    cfg_write(1, 1, PCI_COMMAND, 2, 1);
    ck_assert_uint_eq(bus__pio_read(fx, 0xc044, 4), 0); /* state reset */
    cfg_write(1, 1, 0x40, 2, 0xffff);
    ck_assert_uint_eq(cfg_read(1, 1, 0x40, 2), 0xf3ff);
}
END_TEST

static Suite *piix4_suite(void)
{
    Suite *s = suite_create("devices/piix4");
    TCase *pm = tcase_create("pm");
    TCase *tmr = tcase_create("pm_timer");
    TCase *rst = tcase_create("sleep_reset");
    TCase *ide = tcase_create("ide");

    tcase_add_checked_fixture(pm, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(pm, pm_block_follows_pmba_and_pmiose);
    tcase_add_test(pm, firmware_setup_programs_the_piix4);
    tcase_add_test(pm, pm1_status_enable_and_sci);
    suite_add_tcase(s, pm);

    tcase_add_checked_fixture(tmr, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(tmr, pm_timer_rate);
    tcase_add_test(tmr, pm_timer_frozen_clock);
    tcase_add_test(tmr, pm_timer_overflow_status);
    suite_add_tcase(s, tmr);

    tcase_add_checked_fixture(rst, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(rst, soft_off_exits);
    tcase_add_test(rst, soft_off_by_word_write);
    tcase_add_test(rst, reset_control_register);
    tcase_add_test(rst, reset_control_soft_reset);
    suite_add_tcase(s, rst);

    tcase_add_checked_fixture(ide, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(ide, ide_bus_master_block);
    suite_add_tcase(s, ide);
    return s;
}

int main(void)
{
    return fixture_run_suite(piix4_suite());
}
