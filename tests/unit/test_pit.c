/*
 * devices/i8254 and port 0x61, driven on a frozen clock (timers__test_set_clock):
 * the counting of modes 0-5 at exact CLK counts, latches and the read-back
 * command, access modes, BCD, a new count in mode 2 waiting for the period's
 * end, channel 0's IRQ 0 through the 8259 (including a late timer catching
 * up), and channel 2's gate and OUT on port 0x61 as Linux's calibration uses
 * them.
 */
#include "devices/bus.h"
#include "devices/i8254.h"
#include "fixture.h"
#include "monitor/timer.h"
#include "monitor/vtime.h"

#define CH0 0x40
#define CH2 0x42
#define CTRL 0x43
#define PORT61 0x61

static uint64_t t0;

static uint8_t in(uint16_t port)
{
    return (uint8_t)bus__pio_read(fx, port, 1);
}

static void out(uint16_t port, uint8_t v)
{
    bus__pio_write(fx, port, 1, v);
}

/* The first nanosecond of CLK k after a load at time 0. */
static uint64_t tick_ns(uint64_t k)
{
    return (k * 1000000000ull + PIT_HZ - 1) / PIT_HZ;
}

static void at_ns(uint64_t ns)
{
    timers__test_set_clock(fx, ns);
}

static void at(uint64_t k)
{
    at_ns(t0 + tick_ns(k));
}

static void load16(uint16_t port, uint16_t n)
{
    out(port, (uint8_t)n);
    out(port, (uint8_t)(n >> 8));
}

/* LSB then MSB (the order matters: the flip-flop decides which byte comes). */
static uint16_t read16(uint16_t port)
{
    uint16_t lsb = in(port);

    return (uint16_t)(lsb | in(port) << 8);
}

static uint16_t latch_read(int ch)
{
    out(CTRL, (uint8_t)(ch << 6)); /* counter latch command */
    return read16((uint16_t)(CH0 + ch));
}

static uint8_t status(int ch)
{
    out(CTRL, (uint8_t)(0xe0 | 2 << ch)); /* read-back: status only */
    return in((uint16_t)(CH0 + ch));
}

static void setup(void)
{
    fixture_machine_setup();
    t0 = vtime__ns() + 1000000; /* after everything the devices did at creation */
    at_ns(t0);
}

/* 8259 with vectors at 0x30, only IRQ0 unmasked. */
static void pic_irq0(void)
{
    static const uint8_t seq[][2] = {{0x20, 0x11}, {0x21, 0x30}, {0x21, 0x04}, {0x21, 0x01},
                                     {0xa0, 0x11}, {0xa1, 0x38}, {0xa1, 0x02}, {0xa1, 0x01},
                                     {0x21, 0xfe}, {0xa1, 0xff}};

    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
        out(seq[i][0], seq[i][1]);
}

START_TEST(mode2_counts_and_latches)
{
    out(CTRL, 0x34); /* channel 0, LSB then MSB, mode 2, binary */
    load16(CH0, 1000);
    ck_assert_uint_eq(latch_read(0), 1000);
    at(1);
    ck_assert_uint_eq(latch_read(0), 999);
    at(999);
    ck_assert_uint_eq(latch_read(0), 1);
    at(1000);
    ck_assert_uint_eq(latch_read(0), 1000); /* reloaded */
    at(1500);
    out(CTRL, 0x00);
    at(1600);
    ck_assert_uint_eq(read16(CH0), 500); /* the latch kept the old value */
    out(CTRL, 0x00);
    out(CTRL, 0x00); /* a second latch before reading is ignored */
    at(1700);
    ck_assert_uint_eq(read16(CH0), 400);
    ck_assert_uint_eq(read16(CH0), 300); /* unlatched: the live count */
}
END_TEST

START_TEST(irq0_periodic_through_the_pic)
{
    pic_irq0();
    out(CTRL, 0x34);
    load16(CH0, 1193); /* ~1 ms */
    at(1192);
    timers__run(fx); /* OUT falls: no interrupt */
    ck_assert(!fx->intr_pending(fx));
    at(1193);
    timers__run(fx); /* OUT rises */
    ck_assert(fx->intr_pending(fx));
    ck_assert_int_eq(fx->intr_ack(fx), 0x30);
    out(0x20, 0x20);
    ck_assert(!fx->intr_pending(fx));
    at(2386);
    timers__run(fx);
    ck_assert_int_eq(fx->intr_ack(fx), 0x30);
    out(0x20, 0x20);
    /* the vCPU was away for 100 periods: one interrupt, and the timer is back in phase */
    at(1193 * 102 + 5);
    timers__run(fx);
    ck_assert_int_eq(fx->intr_ack(fx), 0x30);
    out(0x20, 0x20);
    ck_assert(!fx->intr_pending(fx));
    ck_assert_uint_le(timers__next(fx), t0 + tick_ns(1193 * 103));
    ck_assert_uint_gt(timers__next(fx), t0 + tick_ns(1193 * 102 + 5));
    at(1193 * 103);
    timers__run(fx);
    ck_assert(fx->intr_pending(fx));
}
END_TEST

START_TEST(mode0_one_shot)
{
    pic_irq0();
    out(CTRL, 0x30);                           /* channel 0, mode 0 */
    ck_assert_uint_eq(status(0), 0x40 | 0x30); /* OUT low, null count, RW=3, mode 0 */
    load16(CH0, 100);
    ck_assert_uint_eq(status(0), 0x30); /* loaded */
    at(99);
    timers__run(fx);
    ck_assert(!fx->intr_pending(fx));
    ck_assert_uint_eq(status(0) & 0x80, 0);
    ck_assert_uint_eq(latch_read(0), 1);
    at(100);
    timers__run(fx);
    ck_assert(fx->intr_pending(fx));
    ck_assert_uint_eq(status(0) & 0x80, 0x80);
    at(101);
    ck_assert_uint_eq(latch_read(0), 0xffff); /* the CE wraps and counts on, OUT stays high */
    ck_assert_uint_eq(status(0) & 0x80, 0x80);
    ck_assert_uint_eq(timers__next(fx) == UINT64_MAX || timers__next(fx) > t0 + tick_ns(101), 1);
}
END_TEST

START_TEST(mode0_first_byte_stops_counting)
{
    out(CTRL, 0x30);
    load16(CH0, 100);
    at(100);
    ck_assert_uint_eq(status(0) & 0x80, 0x80);
    out(CH0, 50); /* LSB only so far: counting stops, OUT low */
    ck_assert_uint_eq(status(0) & 0x80, 0);
    at(300);
    out(CH0, 0); /* MSB: count 50 starts now */
    at_ns(t0 + tick_ns(300) + tick_ns(30));
    ck_assert_uint_eq(latch_read(0), 20);
}
END_TEST

START_TEST(mode3_square_wave_on_port61)
{
    out(PORT61, 0x01); /* gate 2 up, speaker off */
    ck_assert_uint_eq(in(PORT61)&0x03, 0x01);
    out(CTRL, 0xb6); /* channel 2, LSB then MSB, mode 3 */
    load16(CH2, 100);
    ck_assert_uint_eq(in(PORT61)&0x20, 0x20);
    at(49);
    ck_assert_uint_eq(in(PORT61)&0x20, 0x20);
    ck_assert_uint_eq(latch_read(2), 2);
    at(50);
    ck_assert_uint_eq(in(PORT61)&0x20, 0);
    ck_assert_uint_eq(latch_read(2), 100); /* second half: the CE reloads */
    at(99);
    ck_assert_uint_eq(in(PORT61)&0x20, 0);
    at(100);
    ck_assert_uint_eq(in(PORT61)&0x20, 0x20);
    at(110);
    ck_assert_uint_eq(latch_read(2), 80); /* counts down by two */
    out(PORT61, 0x00);                    /* gate low: OUT high, counting stops */
    ck_assert_uint_eq(in(PORT61)&0x21, 0x20);
}
END_TEST

START_TEST(linux_calibration_on_channel2)
{
    uint64_t g;

    out(PORT61, 0x00);
    out(CTRL, 0xb0); /* channel 2, mode 0 */
    load16(CH2, 0xffff);
    at(100);
    ck_assert_uint_eq(latch_read(2), 0xffff); /* gate low: waits */
    g = t0 + tick_ns(100);
    out(PORT61, 0x01); /* gate up: counts from here */
    at_ns(g + tick_ns(50));
    ck_assert_uint_eq(latch_read(2), 0xffff - 50);
    out(PORT61, 0x00); /* paused */
    at_ns(g + tick_ns(500));
    ck_assert_uint_eq(latch_read(2), 0xffff - 50);
    g += tick_ns(500);
    out(PORT61, 0x01);
    at_ns(g + tick_ns(10));
    ck_assert_uint_ge(latch_read(2), 0xffff - 61);
    ck_assert_uint_le(latch_read(2), 0xffff - 59);
    ck_assert_uint_eq(in(PORT61)&0x20, 0); /* OUT2 low until terminal count */
    at_ns(g + tick_ns(0xffff));
    ck_assert_uint_eq(in(PORT61)&0x20, 0x20);
}
END_TEST

START_TEST(readback_latches_several_channels)
{
    out(CTRL, 0x34);
    load16(CH0, 1000);
    out(CTRL, 0x74); /* channel 1, mode 2 */
    load16(0x41, 2000);
    at(10);
    out(CTRL, 0xc6); /* read-back: count and status of channels 0 and 1 */
    at(20);
    ck_assert_uint_eq(in(CH0), 0x80 | 0x34); /* status first: OUT high, RW=3, mode 2 */
    ck_assert_uint_eq(read16(CH0), 990);     /* then the count latched at 10 */
    ck_assert_uint_eq(in(0x41), 0x80 | 0x34);
    ck_assert_uint_eq(read16(0x41), 1990);
    ck_assert_uint_eq(read16(CH0), 980); /* live again */
    out(CTRL, 0x34); /* a control word sets null count until the count arrives */
    ck_assert_uint_eq(status(0) & 0x40, 0x40);
}
END_TEST

START_TEST(access_modes_and_bcd)
{
    out(CTRL, 0x14); /* LSB only, mode 2 */
    out(CH0, 50);
    at(10);
    ck_assert_uint_eq(in(CH0), 40);
    ck_assert_uint_eq(in(CH0), 40);
    at_ns(t0);
    out(CTRL, 0x24); /* MSB only: count 0x200 */
    out(CH0, 0x02);
    at(12);
    ck_assert_uint_eq(in(CH0), 0x01); /* 500 = 0x1f4 */
    at_ns(t0);
    out(CTRL, 0x35); /* LSB/MSB, mode 2, BCD */
    load16(CH0, 0x0100);
    at(1);
    ck_assert_uint_eq(latch_read(0), 0x0099);
    at(100);
    ck_assert_uint_eq(latch_read(0), 0x0100);
    at_ns(t0);
    out(CTRL, 0x31); /* mode 0, BCD, count 0 = 10000 */
    load16(CH0, 0x0000);
    at(1);
    ck_assert_uint_eq(latch_read(0), 0x9999);
}
END_TEST

START_TEST(mode2_new_count_waits_for_the_period)
{
    out(CTRL, 0x34);
    load16(CH0, 1000);
    at(300);
    load16(CH0, 500);
    ck_assert_uint_eq(status(0) & 0x40, 0x40); /* not in the CE yet */
    ck_assert_uint_eq(latch_read(0), 700);
    at(999);
    ck_assert_uint_eq(latch_read(0), 1);
    at(1000);
    ck_assert_uint_eq(latch_read(0), 500);
    ck_assert_uint_eq(status(0) & 0x40, 0);
    at(1100);
    ck_assert_uint_eq(latch_read(0), 400);
    at(1500);
    ck_assert_uint_eq(latch_read(0), 500);
}
END_TEST

START_TEST(mode4_strobe_interrupts_once)
{
    pic_irq0();
    out(CTRL, 0x38); /* mode 4 */
    load16(CH0, 10);
    ck_assert_uint_eq(status(0) & 0x80, 0x80);
    at(10);
    timers__run(fx);
    ck_assert_uint_eq(status(0) & 0x80, 0);
    ck_assert(!fx->intr_pending(fx));
    at(11);
    timers__run(fx);
    ck_assert_uint_eq(status(0) & 0x80, 0x80);
    ck_assert_int_eq(fx->intr_ack(fx), 0x30);
}
END_TEST

START_TEST(mode1_and_mode5_gate_triggers)
{
    uint64_t g;

    out(PORT61, 0x00);
    out(CTRL, 0xb2); /* channel 2, mode 1 */
    load16(CH2, 20);
    ck_assert_uint_eq(in(PORT61)&0x20, 0x20); /* waits for a trigger, OUT high */
    at(5);
    g = t0 + tick_ns(5);
    out(PORT61, 0x01); /* trigger */
    ck_assert_uint_eq(in(PORT61)&0x20, 0);
    at_ns(g + tick_ns(19));
    ck_assert_uint_eq(in(PORT61)&0x20, 0);
    at_ns(g + tick_ns(20));
    ck_assert_uint_eq(in(PORT61)&0x20, 0x20);
    /* retrigger: low again for a full count */
    out(PORT61, 0x00);
    g += tick_ns(30);
    at_ns(g);
    out(PORT61, 0x01);
    ck_assert_uint_eq(in(PORT61)&0x20, 0);

    out(CTRL, 0xba); /* mode 5 */
    load16(CH2, 10);
    out(PORT61, 0x00);
    g += tick_ns(100);
    at_ns(g);
    out(PORT61, 0x01);
    at_ns(g + tick_ns(10));
    ck_assert_uint_eq(in(PORT61)&0x20, 0);
    at_ns(g + tick_ns(11));
    ck_assert_uint_eq(in(PORT61)&0x20, 0x20);
}
END_TEST

START_TEST(refresh_toggle_and_port61_bits)
{
    uint8_t a, b;

    out(PORT61, 0xff);
    ck_assert_uint_eq(in(PORT61)&0x0f, 0x0f); /* only bits 3-0 are writable */
    ck_assert_uint_eq(in(PORT61)&0xc0, 0);    /* no NMI sources */
    at_ns(30170 * 1000);
    a = in(PORT61)&0x10;
    at_ns(30170 * 1000 + 15085);
    b = in(PORT61)&0x10;
    ck_assert_uint_ne(a, b);
}
END_TEST

START_TEST(reset_state)
{
    /* After reset every channel is in mode 3 with count 65536; channel 0 ticks at 18.2 Hz. */
    ck_assert_uint_eq(status(0) & 0x3f, 0x36);
    ck_assert_uint_eq(status(2) & 0x3f, 0x36);
    ck_assert_uint_ne(timers__next(fx), UINT64_MAX);
    ck_assert_uint_eq(in(PORT61), in(PORT61)&0x30); /* gate 2 and the enables are off */
    ck_assert_uint_eq(in(CTRL), 0xff);              /* the control word is write-only */
}
END_TEST

static Suite *pit_suite(void)
{
    Suite *s = suite_create("devices/i8254");
    TCase *t = tcase_create("i8254");

    tcase_add_checked_fixture(t, setup, fixture_machine_teardown);
    tcase_add_test(t, mode2_counts_and_latches);
    tcase_add_test(t, irq0_periodic_through_the_pic);
    tcase_add_test(t, mode0_one_shot);
    tcase_add_test(t, mode0_first_byte_stops_counting);
    tcase_add_test(t, mode3_square_wave_on_port61);
    tcase_add_test(t, linux_calibration_on_channel2);
    tcase_add_test(t, readback_latches_several_channels);
    tcase_add_test(t, access_modes_and_bcd);
    tcase_add_test(t, mode2_new_count_waits_for_the_period);
    tcase_add_test(t, mode4_strobe_interrupts_once);
    tcase_add_test(t, mode1_and_mode5_gate_triggers);
    tcase_add_test(t, refresh_toggle_and_port61_bits);
    tcase_add_test(t, reset_state);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fixture_run_suite(pit_suite());
}
