/*
 * devices/i8042 and devices/port92: the controller's self-test and interface
 * tests, the command byte, the probe Linux's i8042 driver runs (loopback
 * through the auxiliary port, its IRQ 12), keyboard and mouse commands as
 * atkbd and psmouse send them, IRQ 1 per byte, the A20 gate from both the
 * output port and port 0x92, the reset lines, and the POST port 0x80.
 */
#include <string.h>

#include "devices/bus.h"
#include "fixture.h"

#define DATA 0x60
#define STATUS 0x64
#define CMD 0x64

#define STAT_OBF 0x01
#define STAT_SYS 0x04
#define STAT_A2 0x08
#define STAT_INH 0x10
#define STAT_AUXB 0x20

static uint8_t in(uint16_t port)
{
    return (uint8_t)bus__pio_read(fx, port, 1);
}

static void out(uint16_t port, uint8_t v)
{
    bus__pio_write(fx, port, 1, v);
}

/* A controller command that answers one byte. */
static uint8_t command(uint8_t c)
{
    out(CMD, c);
    ck_assert_uint_eq(in(STATUS)&STAT_OBF, STAT_OBF);
    return in(DATA);
}

static int irq_level[16], irq_edges[16];

static void record_irq(struct machine *m, int line, int level)
{
    (void)m;
    if (level && !irq_level[line])
        irq_edges[line]++;
    irq_level[line] = level;
}

static void record_irqs(void)
{
    memset(irq_level, 0, sizeof(irq_level));
    memset(irq_edges, 0, sizeof(irq_edges));
    fx->irq = record_irq;
}

START_TEST(self_test_and_interface_tests)
{
    ck_assert_uint_eq(in(STATUS) & (STAT_OBF | STAT_INH), STAT_INH); /* empty, not inhibited */
    ck_assert_uint_eq(command(0xaa), 0x55);
    ck_assert_uint_eq(in(STATUS)&STAT_SYS, STAT_SYS);
    ck_assert_uint_eq(in(STATUS)&STAT_A2, STAT_A2); /* the last write was a command */
    ck_assert_uint_eq(command(0xab), 0x00);
    ck_assert_uint_eq(command(0xa9), 0x00);
    ck_assert_uint_eq(command(0xa4), 0xf1);
    ck_assert_uint_eq(in(STATUS)&STAT_OBF, 0);
    ck_assert_uint_eq(in(DATA), 0xf1); /* an empty buffer reads its last byte */
}
END_TEST

START_TEST(command_byte)
{
    ck_assert_uint_eq(command(0x20), 0x03); /* INT, INT2 after reset */
    out(CMD, 0x60);
    out(DATA, 0x65); /* XLAT, kbd disabled, SYS, INT */
    ck_assert_uint_eq(in(STATUS)&STAT_A2, 0);
    ck_assert_uint_eq(command(0x20), 0x65);
    ck_assert_uint_eq(in(STATUS)&STAT_SYS, STAT_SYS);
    out(CMD, 0xa7); /* aux disable sets EN2 */
    ck_assert_uint_eq(command(0x20), 0x65 | 0x20);
    out(CMD, 0xa8);
    ck_assert_uint_eq(command(0x20), 0x65 & ~0x20);
    out(CMD, 0xae); /* keyboard enable clears EN */
    ck_assert_uint_eq(command(0x20), 0x45);
    out(CMD, 0xad);
    ck_assert_uint_eq(command(0x20), 0x55);
    /* the other RAM bytes */
    out(CMD, 0x65);
    out(DATA, 0x99);
    ck_assert_uint_eq(command(0x25), 0x99);
}
END_TEST

START_TEST(linux_probe_aux_loopback_and_irq12)
{
    record_irqs();
    /* i8042_controller_init: interrupts off while probing */
    out(CMD, 0x60);
    out(DATA, 0x74); /* XLAT, both ports disabled, no INT */
    out(CMD, 0xd3);  /* AUX_LOOP */
    out(DATA, 0x5a);
    ck_assert_uint_eq(in(STATUS) & (STAT_OBF | STAT_AUXB), STAT_OBF | STAT_AUXB);
    ck_assert_uint_eq(in(DATA), 0x5a);
    ck_assert_int_eq(irq_edges[12], 0);
    /* the IRQ test: aux port enabled with INT2 */
    out(CMD, 0x60);
    out(DATA, 0x46 | 0x02);
    out(CMD, 0xd3);
    out(DATA, 0xa5);
    ck_assert_int_eq(irq_level[12], 1);
    ck_assert_int_eq(irq_level[1], 0);
    ck_assert_uint_eq(in(DATA), 0xa5);
    ck_assert_int_eq(irq_level[12], 0);
    /* 0xd2 looks like keyboard data: IRQ 1 when INT is set */
    out(CMD, 0x60);
    out(DATA, 0x47);
    out(CMD, 0xd2);
    out(DATA, 0x1c);
    ck_assert_uint_eq(in(STATUS)&STAT_AUXB, 0);
    ck_assert_int_eq(irq_level[1], 1);
    ck_assert_uint_eq(in(DATA), 0x1c);
    ck_assert_int_eq(irq_level[1], 0);
}
END_TEST

START_TEST(keyboard_commands)
{
    record_irqs();
    out(DATA, 0xff); /* reset: ACK, then BAT passed, one IRQ 1 edge per byte */
    ck_assert_uint_eq(in(DATA), 0xfa);
    ck_assert_uint_eq(in(DATA), 0xaa);
    ck_assert_int_eq(irq_edges[1], 2);
    ck_assert_uint_eq(in(STATUS)&STAT_OBF, 0);
    out(DATA, 0xf2); /* identify, untranslated */
    ck_assert_uint_eq(in(DATA), 0xfa);
    ck_assert_uint_eq(in(DATA), 0xab);
    ck_assert_uint_eq(in(DATA), 0x83);
    out(CMD, 0x60);
    out(DATA, 0x43); /* XLAT on */
    out(DATA, 0xf2);
    ck_assert_uint_eq(in(DATA), 0xfa);
    ck_assert_uint_eq(in(DATA), 0xab);
    ck_assert_uint_eq(in(DATA), 0x41);
    out(DATA, 0xed); /* LEDs */
    ck_assert_uint_eq(in(DATA), 0xfa);
    out(DATA, 0x07);
    ck_assert_uint_eq(in(DATA), 0xfa);
    out(DATA, 0xf0); /* scancode set: get */
    ck_assert_uint_eq(in(DATA), 0xfa);
    out(DATA, 0x00);
    ck_assert_uint_eq(in(DATA), 0xfa);
    ck_assert_uint_eq(in(DATA), 0x41); /* set 2, as translated */
    out(DATA, 0xf0);
    in(DATA);
    out(DATA, 0x03);
    ck_assert_uint_eq(in(DATA), 0xfa);
    out(DATA, 0xf3); /* typematic */
    ck_assert_uint_eq(in(DATA), 0xfa);
    out(DATA, 0x00);
    ck_assert_uint_eq(in(DATA), 0xfa);
    out(DATA, 0xf4);
    ck_assert_uint_eq(in(DATA), 0xfa);
    out(DATA, 0xee); /* echo */
    ck_assert_uint_eq(in(DATA), 0xee);
    out(DATA, 0xfe); /* resend the last byte */
    ck_assert_uint_eq(in(DATA), 0xee);
    out(DATA, 0x42); /* not a command */
    ck_assert_uint_eq(in(DATA), 0xfe);
}
END_TEST

START_TEST(sending_to_a_device_reenables_its_port)
{
    out(CMD, 0x60);
    out(DATA, 0x13); /* keyboard clock off */
    out(CMD, 0xd2);  /* controller answers still get through */
    out(DATA, 0x77);
    ck_assert_uint_eq(in(DATA), 0x77);
    out(CMD, 0x60);
    out(DATA, 0x13);
    out(CMD, 0xd4); /* to the mouse: re-enables the aux port, answers with AUXB */
    out(DATA, 0xf2);
    ck_assert_uint_eq(in(STATUS)&STAT_AUXB, STAT_AUXB);
    ck_assert_uint_eq(in(DATA), 0xfa);
    ck_assert_uint_eq(in(DATA), 0x00);
    /* writing to the keyboard re-enables it as well */
    out(DATA, 0xf4);
    ck_assert_uint_eq(in(DATA), 0xfa);
    ck_assert_uint_eq(command(0x20) & 0x10, 0);
}
END_TEST

START_TEST(mouse_commands)
{
    static const uint8_t reset[] = {0xfa, 0xaa, 0x00};

    record_irqs();
    out(CMD, 0xd4);
    out(DATA, 0xff);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(in(STATUS) & (STAT_OBF | STAT_AUXB), STAT_OBF | STAT_AUXB);
        ck_assert_uint_eq(in(DATA), reset[i]);
    }
    ck_assert_int_eq(irq_edges[12], 3);
    out(CMD, 0xd4);
    out(DATA, 0xf3); /* sample rate 200 */
    ck_assert_uint_eq(in(DATA), 0xfa);
    out(CMD, 0xd4);
    out(DATA, 200);
    ck_assert_uint_eq(in(DATA), 0xfa);
    out(CMD, 0xd4);
    out(DATA, 0xf4);
    ck_assert_uint_eq(in(DATA), 0xfa);
    out(CMD, 0xd4);
    out(DATA, 0xe9); /* status: enabled, resolution 2, rate 200 */
    ck_assert_uint_eq(in(DATA), 0xfa);
    ck_assert_uint_eq(in(DATA), 0x20);
    ck_assert_uint_eq(in(DATA), 0x02);
    ck_assert_uint_eq(in(DATA), 200);
}
END_TEST

START_TEST(a20_gate)
{
    ck_assert_uint_eq(fx->cpu->a20_mask, 0xffffffff);
    ck_assert_uint_eq(command(0xd0) & 0x03, 0x03); /* reset line high, A20 on */
    out(CMD, 0xd1);
    out(DATA, 0xdd); /* A20 off */
    ck_assert_uint_eq(fx->cpu->a20_mask, 0xffefffff);
    ck_assert_uint_eq(command(0xd0) & 0x02, 0);
    ck_assert_int_eq(fx->request, REQ_NONE);
    out(0x92, 0x02); /* fast A20: either source opens the gate */
    ck_assert_uint_eq(fx->cpu->a20_mask, 0xffffffff);
    ck_assert_uint_eq(in(0x92), 0x02);
    out(0x92, 0x00);
    ck_assert_uint_eq(fx->cpu->a20_mask, 0xffefffff);
    out(CMD, 0xd1);
    out(DATA, 0xdf);
    ck_assert_uint_eq(fx->cpu->a20_mask, 0xffffffff);
    out(CMD, 0xdd); /* the HP-style commands */
    ck_assert_uint_eq(fx->cpu->a20_mask, 0xffefffff);
    out(CMD, 0xdf);
    ck_assert_uint_eq(fx->cpu->a20_mask, 0xffffffff);
    ck_assert_int_eq(fx->request, REQ_NONE);
}
END_TEST

START_TEST(reset_by_pulse)
{
    out(CMD, 0xff); /* pulses nothing */
    ck_assert_int_eq(fx->request, REQ_NONE);
    out(CMD, 0xfe);
    ck_assert_int_eq(fx->request, REQ_RESET);
    ck_assert_int_lt(fx->cpu->budget, 0);
}
END_TEST

START_TEST(reset_by_output_port)
{
    out(CMD, 0xd1);
    out(DATA, 0xde); /* bit 0 low */
    ck_assert_int_eq(fx->request, REQ_RESET);
}
END_TEST

START_TEST(reset_by_port92)
{
    out(0x92, 0x02);
    ck_assert_int_eq(fx->request, REQ_NONE);
    out(0x92, 0x03); /* 0 -> 1 on bit 0 */
    ck_assert_int_eq(fx->request, REQ_RESET);
    ck_assert_uint_eq(in(0x92), 0x03);
}
END_TEST

START_TEST(post_port)
{
    ck_assert_uint_eq(in(0x80), 0x00);
    out(0x80, 0x42);
    ck_assert_uint_eq(in(0x80), 0x42);
    bus__reset_all(fx);
    ck_assert_uint_eq(in(0x80), 0x00);
}
END_TEST

START_TEST(controller_reset)
{
    out(CMD, 0x60);
    out(DATA, 0x00);
    out(DATA, 0xf2); /* bytes waiting in the keyboard queue */
    out(CMD, 0xd1);
    out(DATA, 0xdd);
    bus__reset_all(fx);
    ck_assert_uint_eq(in(STATUS)&STAT_OBF, 0);
    ck_assert_uint_eq(command(0x20), 0x03);
    ck_assert_uint_eq(fx->cpu->a20_mask, 0xffffffff);
    ck_assert_int_eq(fx->request, REQ_NONE);
}
END_TEST

static Suite *i8042_suite(void)
{
    Suite *s = suite_create("devices/i8042");
    TCase *t = tcase_create("i8042");

    tcase_add_checked_fixture(t, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(t, self_test_and_interface_tests);
    tcase_add_test(t, command_byte);
    tcase_add_test(t, linux_probe_aux_loopback_and_irq12);
    tcase_add_test(t, keyboard_commands);
    tcase_add_test(t, sending_to_a_device_reenables_its_port);
    tcase_add_test(t, mouse_commands);
    tcase_add_test(t, a20_gate);
    tcase_add_test(t, reset_by_pulse);
    tcase_add_test(t, reset_by_output_port);
    tcase_add_test(t, reset_by_port92);
    tcase_add_test(t, post_port);
    tcase_add_test(t, controller_reset);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fixture_run_suite(i8042_suite());
}
