/*
 * devices/mc146818: the time registers against the host's UTC clock, BCD and
 * binary, 12- and 24-hour formats, setting the time under SET and the clock
 * running on from it (century rollover included), UIP, the periodic,
 * update-ended and alarm flags with register C's read-to-clear and IRQ 8
 * through the 8259, the NMI-mask bit of the index, and the CMOS layout the
 * BIOS reads (memory sizes, checksum).
 */
#include <stdlib.h>
#include <time.h>

#include "devices/bus.h"
#include "devices/mc146818.h"
#include "fixture.h"
#include "monitor/timer.h"
#include "monitor/vtime.h"

#define INDEX 0x70
#define DATA 0x71
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define SEC 1000000000ull

static uint64_t t0;

static uint8_t rd(uint8_t i)
{
    bus__pio_write(fx, INDEX, 1, i);
    return (uint8_t)bus__pio_read(fx, DATA, 1);
}

static void wr(uint8_t i, uint8_t v)
{
    bus__pio_write(fx, INDEX, 1, i);
    bus__pio_write(fx, DATA, 1, v);
}

static int bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0xf);
}

static void at(uint64_t ns)
{
    timers__test_set_clock(fx, t0 + ns);
}

/* 8259 with IRQ 8 unmasked, vectors 0x08/0x70 as a BIOS sets them. */
static void pic_irq8(void)
{
    static const uint8_t seq[][2] = {{0x20, 0x11}, {0x21, 0x08}, {0x21, 0x04}, {0x21, 0x01},
                                     {0xa0, 0x11}, {0xa1, 0x70}, {0xa1, 0x02}, {0xa1, 0x01},
                                     {0x21, 0xfb}, {0xa1, 0xfe}};

    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
        bus__pio_write(fx, seq[i][0], 1, seq[i][1]);
}

/* Set the clock to 2099-12-31 23:59:58 (a Thursday), running from t0 with its updates at
 * t0 + k seconds: the divider leaves reset at t0 - 0.5 s (its first update comes 500 ms
 * later, at t0), and SET clears at t0. No periodic rate, so register C only shows what a
 * test expects. */
static void set_time_2099(uint8_t format)
{
    timers__test_set_clock(fx, t0 - SEC / 2);
    wr(REG_A, 0x70);
    wr(REG_B, 0x80 | format);
    wr(0x00, 0x58);
    wr(0x02, 0x59);
    wr(0x04, 0x23);
    wr(0x06, 0x05);
    wr(0x07, 0x31);
    wr(0x08, 0x12);
    wr(0x09, 0x99);
    wr(0x32, 0x20);
    wr(REG_A, 0x20);
    at(0);
    wr(REG_B, format);
}

static void setup(void)
{
    fixture_machine_setup();
    t0 = vtime__ns() + SEC;
    at(0);
}

START_TEST(power_on_registers)
{
    ck_assert_uint_eq(rd(REG_A) & 0x7f, 0x26);
    ck_assert_uint_eq(rd(REG_B), 0x02);                   /* 24-hour, BCD, no interrupts */
    ck_assert_uint_eq(rd(REG_C) & 0x80, 0x00);            /* flags may be set (PF runs), IRQF not */
    ck_assert_uint_eq(rd(REG_D), 0x80);                   /* valid RAM and time */
    ck_assert_uint_eq(bus__pio_read(fx, INDEX, 1), 0xff); /* the index is write-only */
}
END_TEST

START_TEST(time_follows_host_utc)
{
    timers__test_set_clock(fx, UINT64_MAX); /* real time for this one */
    for (int tries = 0; tries < 3; tries++) {
        time_t before = time(NULL), after;
        struct tm tm;
        int s = bcd(rd(0x00)), mi = bcd(rd(0x02)), h = bcd(rd(0x04));
        int d = bcd(rd(0x07)), mo = bcd(rd(0x08)), y = bcd(rd(0x09)), c = bcd(rd(0x32));

        after = time(NULL);
        if (after != before)
            continue; /* a second boundary passed while reading: try again */
        gmtime_r(&before, &tm);
        ck_assert_int_le(
            abs((h * 3600 + mi * 60 + s) - (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec)), 1);
        ck_assert_int_eq(d, tm.tm_mday);
        ck_assert_int_eq(mo, tm.tm_mon + 1);
        ck_assert_int_eq(c * 100 + y, tm.tm_year + 1900);
        ck_assert_int_eq(bcd(rd(0x06)), tm.tm_wday + 1);
        return;
    }
    ck_abort_msg("the clock kept crossing second boundaries");
}
END_TEST

START_TEST(set_time_and_century_rollover)
{
    set_time_2099(0x02);
    ck_assert_uint_eq(rd(0x00), 0x58);
    at(SEC + SEC / 2);
    ck_assert_uint_eq(rd(0x00), 0x59);
    at(2 * SEC);
    ck_assert_uint_eq(rd(0x00), 0x00);
    ck_assert_uint_eq(rd(0x02), 0x00);
    ck_assert_uint_eq(rd(0x04), 0x00);
    ck_assert_uint_eq(rd(0x07), 0x01);
    ck_assert_uint_eq(rd(0x08), 0x01);
    ck_assert_uint_eq(rd(0x09), 0x00);
    ck_assert_uint_eq(rd(0x32), 0x21);
    ck_assert_uint_eq(rd(0x06), 0x06); /* Friday */
    /* SET freezes the clock */
    wr(REG_B, 0x82);
    at(10 * SEC);
    ck_assert_uint_eq(rd(0x00), 0x00);
    wr(REG_B, 0x02);
    at(11 * SEC);
    ck_assert_uint_eq(rd(0x00), 0x01);
}
END_TEST

START_TEST(binary_and_12_hour_formats)
{
    set_time_2099(0x04 | 0x02); /* binary, 24-hour: the writes above were BCD bytes... */
    wr(REG_B, 0x80 | 0x04 | 0x02);
    wr(0x00, 58);
    wr(0x02, 59);
    wr(0x04, 23);
    wr(0x09, 99);
    wr(0x32, 20);
    wr(0x07, 31);
    wr(0x08, 12);
    wr(REG_B, 0x04 | 0x02);
    ck_assert_uint_eq(rd(0x04), 23);
    ck_assert_uint_eq(rd(0x09), 99);
    wr(REG_B, 0x04); /* 12-hour, binary: 11 PM */
    ck_assert_uint_eq(rd(0x04), 0x80 | 11);
    wr(REG_B, 0x00); /* 12-hour, BCD */
    ck_assert_uint_eq(rd(0x04), 0x80 | 0x11);
    /* writing 12 AM in 12-hour mode is hour 0 */
    wr(REG_B, 0x80);
    wr(0x04, 0x12);
    wr(REG_B, 0x00);
    wr(REG_B, 0x02);
    ck_assert_uint_eq(rd(0x04), 0x00);
}
END_TEST

START_TEST(write_while_running_rebases)
{
    set_time_2099(0x02);
    at(SEC / 2);
    wr(0x02, 0x30); /* minutes to 30, clock keeps running */
    ck_assert_uint_eq(rd(0x02), 0x30);
    ck_assert_uint_eq(rd(0x00), 0x58);
    at(SEC + SEC / 2);
    ck_assert_uint_eq(rd(0x00), 0x59);
    ck_assert_uint_eq(rd(0x04), 0x23);
}
END_TEST

START_TEST(update_in_progress)
{
    set_time_2099(0x02);
    at(SEC - 100000); /* 100 us before the update */
    ck_assert_uint_eq(rd(REG_A) & 0x80, 0x80);
    at(SEC - 300000);
    ck_assert_uint_eq(rd(REG_A) & 0x80, 0);
    at(SEC + 1000);
    ck_assert_uint_eq(rd(REG_A) & 0x80, 0);
    wr(REG_B, 0x82);
    at(2 * SEC - 100000);
    ck_assert_uint_eq(rd(REG_A) & 0x80, 0); /* SET: no updates */
}
END_TEST

START_TEST(periodic_interrupt_on_irq8)
{
    pic_irq8();
    set_time_2099(0x02);
    rd(REG_C);
    wr(REG_A, 0x26); /* 1024 Hz */
    wr(REG_B, 0x02 | 0x40);
    ck_assert(!fx->intr_pending(fx));
    at(976562 + 10);
    timers__run(fx);
    ck_assert(fx->intr_pending(fx));
    ck_assert_int_eq(fx->intr_ack(fx), 0x70);
    bus__pio_write(fx, 0xa0, 1, 0x20);
    bus__pio_write(fx, 0x20, 1, 0x20);
    /* not acknowledged in C: the line stays high, no new interrupt */
    at(3 * 976562 + 10);
    timers__run(fx);
    ck_assert(!fx->intr_pending(fx));
    ck_assert_uint_eq(rd(REG_C), 0xc0); /* IRQF | PF */
    ck_assert_uint_eq(rd(REG_C), 0x00); /* read clears */
    at(4 * 976562 + 10);
    timers__run(fx);
    ck_assert(fx->intr_pending(fx));
    /* RS=15: 2 Hz */
    rd(REG_C);
    wr(REG_A, 0x2f);
    wr(REG_B, 0x02);
    at(SEC + 10);
    ck_assert_uint_eq(rd(REG_C) & 0x40, 0x40);
    at(SEC + SEC / 4);
    ck_assert_uint_eq(rd(REG_C) & 0x40, 0);
    at(SEC + SEC / 2 + 10);
    ck_assert_uint_eq(rd(REG_C) & 0x40, 0x40);
}
END_TEST

START_TEST(update_ended_and_alarm)
{
    pic_irq8();
    set_time_2099(0x02);
    rd(REG_C);
    at(SEC / 2);
    ck_assert_uint_eq(rd(REG_C) & 0x10, 0);
    at(SEC + 10);
    ck_assert_uint_eq(rd(REG_C), 0x10); /* UF without UIE: no IRQF */
    /* alarm at 00:00:01 (after the rollover at 2 s), hours "don't care" */
    wr(0x01, 0x01);
    wr(0x03, 0x00);
    wr(0x05, 0xc0);
    wr(REG_B, 0x02 | 0x20);
    at(2 * SEC + 10);
    timers__run(fx);
    ck_assert(!fx->intr_pending(fx));
    ck_assert_uint_eq(rd(REG_C) & 0x20, 0);
    at(3 * SEC + 10);
    timers__run(fx);
    ck_assert(fx->intr_pending(fx));
    ck_assert_uint_eq(rd(REG_C), 0x80 | 0x20 | 0x10);
    /* update-ended interrupts */
    wr(REG_B, 0x02 | 0x10);
    bus__pio_write(fx, 0xa0, 1, 0x20);
    bus__pio_write(fx, 0x20, 1, 0x20);
    fx->intr_ack(fx);
    bus__pio_write(fx, 0xa0, 1, 0x20);
    bus__pio_write(fx, 0x20, 1, 0x20);
    at(4 * SEC + 10);
    timers__run(fx);
    ck_assert(fx->intr_pending(fx));
    ck_assert_uint_eq(rd(REG_C) & 0x90, 0x90);
    /* setting SET clears UIE */
    wr(REG_B, 0x82 | 0x10);
    ck_assert_uint_eq(rd(REG_B), 0x82);
}
END_TEST

START_TEST(divider_reset_delays_the_first_update)
{
    set_time_2099(0x02);
    wr(REG_A, 0x76); /* divider in reset: time stands */
    at(5 * SEC);
    ck_assert_uint_eq(rd(0x00), 0x58);
    wr(REG_A, 0x26);
    at(5 * SEC + SEC / 2 - 1000);
    ck_assert_uint_eq(rd(0x00), 0x58);
    at(5 * SEC + SEC / 2 + 1000);
    ck_assert_uint_eq(rd(0x00), 0x59);
}
END_TEST

START_TEST(cmos_layout)
{
    unsigned sum = 0;

    ck_assert_uint_eq(rd(0x10), 0x00); /* no floppy */
    ck_assert_uint_eq(rd(0x14), 0x06); /* FPU, PS/2 mouse */
    ck_assert_uint_eq(rd(0x15) | rd(0x16) << 8, 640);
    ck_assert_uint_eq(rd(0x17) | rd(0x18) << 8, 31 * 1024); /* 32 MiB - 1 MiB */
    ck_assert_uint_eq(rd(0x30) | rd(0x31) << 8, 31 * 1024);
    ck_assert_uint_eq(rd(0x34) | rd(0x35) << 8, 256); /* 16 MiB in 64 KiB units */
    ck_assert_uint_eq(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, 0);
    ck_assert_uint_eq(rd(0x5f), 0); /* one CPU */
    ck_assert_uint_eq(rd(0x0f), 0);
    ck_assert_uint_eq(rd(0x32), 0x20);
    for (int i = 0x10; i <= 0x2d; i++)
        sum += rd((uint8_t)i);
    ck_assert_uint_eq(rd(0x2e) << 8 | rd(0x2f), sum & 0xffff);
    /* setup code changing a byte in the checksummed range keeps the sum right */
    mc146818__set_cmos(fx, 0x12, 0xf0);
    ck_assert_uint_eq(mc146818__get_cmos(fx, 0x12), 0xf0);
    ck_assert_uint_eq(rd(0x2e) << 8 | rd(0x2f), (sum + 0xf0 - 0) & 0xffff);
    /* RAM bytes are plain storage, and survive reset */
    wr(0x0f, 0x0a);
    wr(0x50, 0x5a);
    wr(REG_B, 0x02 | 0x40 | 0x20 | 0x10);
    bus__reset_all(fx);
    ck_assert_uint_eq(rd(0x0f), 0x0a);
    ck_assert_uint_eq(rd(0x50), 0x5a);
    ck_assert_uint_eq(rd(REG_B), 0x02); /* interrupt enables cleared */
}
END_TEST

START_TEST(cmos_big_memory)
{
    struct options opt = {0};
    struct machine *m;

    opt.ram_mb = 512;
    opt.machine = "pc";
    m = machine__create(&opt);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(mc146818__get_cmos(m, 0x17) | mc146818__get_cmos(m, 0x18) << 8, 0xffff);
    ck_assert_uint_eq(mc146818__get_cmos(m, 0x30) | mc146818__get_cmos(m, 0x31) << 8, 0xffff);
    ck_assert_uint_eq(mc146818__get_cmos(m, 0x34) | mc146818__get_cmos(m, 0x35) << 8,
                      (512 - 16) * 16);
    machine__destroy(m);
}
END_TEST

START_TEST(nmi_mask_bit_of_the_index)
{
    wr(0x40, 0x77);
    bus__pio_write(fx, INDEX, 1, 0x80 | 0x40); /* NMI masked, same register */
    ck_assert_uint_eq(bus__pio_read(fx, DATA, 1), 0x77);
    bus__pio_write(fx, INDEX, 1, 0x80 | REG_D);
    ck_assert_uint_eq(bus__pio_read(fx, DATA, 1), 0x80);
    wr(REG_D, 0x00); /* read-only: ignored */
    ck_assert_uint_eq(rd(REG_D), 0x80);
    bus__pio_write(fx, INDEX, 2, 0x41 | 0x33 << 8); /* index and data in one outw */
    ck_assert_uint_eq(rd(0x41), 0x33);
    bus__pio_write(fx, INDEX, 1, 0x41);
    ck_assert_uint_eq(bus__pio_read(fx, INDEX, 2), 0x33ff);
}
END_TEST

static Suite *rtc_suite(void)
{
    Suite *s = suite_create("devices/mc146818");
    TCase *t = tcase_create("mc146818");

    tcase_add_checked_fixture(t, setup, fixture_machine_teardown);
    tcase_add_test(t, power_on_registers);
    tcase_add_test(t, time_follows_host_utc);
    tcase_add_test(t, set_time_and_century_rollover);
    tcase_add_test(t, binary_and_12_hour_formats);
    tcase_add_test(t, write_while_running_rebases);
    tcase_add_test(t, update_in_progress);
    tcase_add_test(t, periodic_interrupt_on_irq8);
    tcase_add_test(t, update_ended_and_alarm);
    tcase_add_test(t, divider_reset_delays_the_first_update);
    tcase_add_test(t, cmos_layout);
    tcase_add_test(t, cmos_big_memory);
    tcase_add_test(t, nmi_mask_bit_of_the_index);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fixture_run_suite(rtc_suite());
}
