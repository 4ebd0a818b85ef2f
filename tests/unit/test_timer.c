/*
 * monitor/timer and monitor/events: the timer heap (order, re-arming,
 * deletion, callbacks that re-arm, the published next deadline, the test
 * clock), events__wait without the thread, and the event thread itself:
 * timerfd kicks, serial input from a pipe on stdin drained into COM1, and
 * the Ctrl-A escapes.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/bus.h"
#include "fixture.h"
#include "monitor/events.h"
#include "monitor/timer.h"
#include "monitor/vtime.h"

#define COM1 0x3f8
#define T0 1000000000000ull /* a frozen clock far from zero */

static int order[32], nfired;

static void record(struct machine *m, void *opaque)
{
    (void)m;
    order[nfired++] = (int)(intptr_t)opaque;
}

START_TEST(fires_in_deadline_order)
{
    static const uint64_t when[6] = {50, 10, 40, 20, 60, 30};
    struct timer *t[6];

    timers__test_set_clock(fx, T0);
    nfired = 0;
    ck_assert_uint_eq(timers__now(fx), T0);
    for (int i = 0; i < 6; i++) {
        t[i] = timer__new(fx, record, (void *)(intptr_t)i);
        ck_assert_ptr_nonnull(t[i]);
        ck_assert(!timer__pending(t[i]));
    }
    /* The machine's own devices may have armed timers: take our times well after them. */
    for (int i = 0; i < 6; i++)
        timer__mod(t[i], T0 + 1000000000 + when[i]);
    ck_assert_uint_le(timers__next(fx), T0 + 1000000010);
    timers__test_set_clock(fx, T0 + 1000000035);
    timers__run(fx);
    ck_assert_int_eq(nfired, 3);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 3);
    ck_assert_int_eq(order[2], 5);
    ck_assert(!timer__pending(t[1]));
    ck_assert(timer__pending(t[2]));
    timer__del(t[2]);                  /* 40 never fires */
    timer__mod(t[0], T0 + 1000000070); /* 50 moves after 60 */
    timers__test_set_clock(fx, T0 + 1000000100);
    timers__run(fx);
    ck_assert_int_eq(nfired, 5);
    ck_assert_int_eq(order[3], 4);
    ck_assert_int_eq(order[4], 0);
    for (int i = 0; i < 6; i++)
        timer__free(t[i]);
}
END_TEST

static struct timer *self;
static int self_count;

static void rearm_self(struct machine *m, void *opaque)
{
    (void)opaque;
    /* A periodic device that fell behind: each firing re-arms 10 ns later, in the past. */
    if (++self_count < 5)
        timer__mod(self, timers__now(m) - 1000 + 10 * (uint64_t)self_count);
}

START_TEST(callback_rearms_in_the_past)
{
    timers__test_set_clock(fx, T0);
    self_count = 0;
    self = timer__new(fx, rearm_self, NULL);
    timer__mod(self, T0 - 5000);
    timers__run(fx);
    ck_assert_int_eq(self_count, 5); /* caught up in one run */
    ck_assert(!timer__pending(self));
    timer__free(self);
}
END_TEST

static void forever(struct machine *m, void *opaque)
{
    (void)opaque;
    timer__mod(self, timers__now(m));
    self_count++;
}

START_TEST(runaway_callback_is_bounded)
{
    timers__test_set_clock(fx, T0);
    self_count = 0;
    self = timer__new(fx, forever, NULL);
    timer__mod(self, T0);
    timers__run(fx); /* must return */
    ck_assert_int_gt(self_count, 100);
    timer__free(self);
}
END_TEST

START_TEST(next_deadline_is_published)
{
    struct timer *a, *b;
    uint64_t base;

    timers__test_set_clock(fx, T0);
    timers__run(fx); /* whatever the devices armed before the freeze */
    base = timers__next(fx);
    a = timer__new(fx, record, NULL);
    b = timer__new(fx, record, NULL);
    timer__mod(a, T0 + 500);
    ck_assert_uint_eq(timers__next(fx), base < T0 + 500 ? base : T0 + 500);
    timer__mod(b, T0 + 100);
    ck_assert_uint_eq(timers__next(fx), base < T0 + 100 ? base : T0 + 100);
    timer__free(b); /* freeing an armed timer disarms it */
    ck_assert_uint_eq(timers__next(fx), base < T0 + 500 ? base : T0 + 500);
    timer__del(a);
    timer__del(a); /* twice is fine */
    ck_assert_uint_eq(timers__next(fx), base);
    timer__free(a);
}
END_TEST

START_TEST(test_clock_release)
{
    uint64_t real;

    timers__test_set_clock(fx, 42);
    ck_assert_uint_eq(timers__now(fx), 42);
    timers__test_set_clock(fx, UINT64_MAX);
    real = vtime__ns();
    ck_assert_uint_ge(timers__now(fx), real);
}
END_TEST

START_TEST(wait_without_thread_sleeps_until_deadline)
{
    uint64_t t0 = vtime__ns();

    events__wait(fx, t0 + 3000000); /* 3 ms */
    ck_assert_uint_ge(vtime__ns() - t0, 2900000);
    t0 = vtime__ns();
    fx->cpu->pending_irq = 1; /* an unacknowledged kick returns at once */
    events__wait(fx, t0 + 500000000);
    ck_assert_uint_lt(vtime__ns() - t0, 100000000);
    events__drain(fx);
    ck_assert_uint_eq(fx->cpu->pending_irq, 0);
}
END_TEST

/* ---- the event thread ---- */

/* The PIT's 18.2 Hz channel 0 would kick too: a control word without a count stops it. */
static void quiet_pit(struct machine *m)
{
    bus__pio_write(m, 0x43, 1, 0x30);
}

static bool wait_kick(struct machine *m, int ms)
{
    for (int i = 0; i < ms; i++) {
        struct timespec ts = {0, 1000000};

        if (__atomic_load_n(&m->cpu->pending_irq, __ATOMIC_ACQUIRE))
            return true;
        nanosleep(&ts, NULL);
    }
    return false;
}

START_TEST(timerfd_kicks_the_vcpu)
{
    struct timer *t = timer__new(fx, record, (void *)(intptr_t)7);
    uint64_t t0;

    quiet_pit(fx);
    ck_assert_int_eq(events__start(fx), 0);
    events__drain(fx); /* acknowledge anything from startup */
    fx->cpu->budget = 1000;
    nfired = 0;
    t0 = vtime__ns();
    timer__mod(t, t0 + 20000000); /* 20 ms */
    ck_assert(wait_kick(fx, 2000));
    ck_assert_uint_ge(vtime__ns() - t0, 19000000);
    ck_assert_int_lt(fx->cpu->budget, 0);
    events__drain(fx); /* fires it */
    ck_assert_int_ge(nfired, 1);
    ck_assert_int_eq(order[nfired - 1], 7);
    timer__free(t);
    events__stop(fx);
    ck_assert_ptr_null(fx->events);
}
END_TEST

START_TEST(wait_wakes_on_timer)
{
    uint64_t t0;
    struct timer *t = timer__new(fx, record, NULL);

    quiet_pit(fx);
    ck_assert_int_eq(events__start(fx), 0);
    events__drain(fx);
    t0 = vtime__ns();
    timer__mod(t, t0 + 10000000);
    events__wait(fx, timers__next(fx));
    ck_assert_uint_ge(vtime__ns() - t0, 9000000);
    ck_assert_uint_lt(vtime__ns() - t0, 900000000);
    timer__free(t);
    events__stop(fx);
}
END_TEST

static int stdin_pipe(void)
{
    int p[2];

    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
    close(p[0]);
    return p[1];
}

static uint8_t in(uint16_t port)
{
    return (uint8_t)bus__pio_read(fx, port, 1);
}

START_TEST(serial_input_reaches_com1)
{
    int w = stdin_pipe();
    uint64_t t0 = vtime__ns();

    ck_assert_int_eq(events__start(fx), 0);
    bus__pio_write(fx, COM1 + 2, 1, 0x01); /* FIFO on: room for 16 */
    events__drain(fx);
    ck_assert_int_eq(write(w, "hi", 2), 2);
    ck_assert(wait_kick(fx, 2000));
    events__drain(fx);
    ck_assert_uint_eq(in(COM1 + 5) & 1, 1);
    ck_assert_uint_eq(in(COM1), 'h');
    ck_assert_uint_eq(in(COM1), 'i');
    ck_assert_uint_eq(in(COM1 + 5) & 1, 0);

    /* Without FIFO the UART takes one byte per drain; the rest waits in the queue, and
     * events__wait sees it as soon as the receiver has room. */
    bus__pio_write(fx, COM1 + 2, 1, 0x00);
    ck_assert_int_eq(write(w, "xyz", 3), 3);
    ck_assert(wait_kick(fx, 2000));
    for (const char *p = "xyz"; *p; p++) {
        for (int i = 0; i < 2000 && !(in(COM1 + 5) & 1); i++) {
            events__wait(fx, vtime__ns() + 1000000);
            events__drain(fx);
        }
        ck_assert_uint_eq(in(COM1), (uint8_t)*p);
    }
    ck_assert_uint_lt(vtime__ns() - t0, 5000000000ull);
    close(w);
    events__stop(fx);
}
END_TEST

START_TEST(serial_input_from_a_regular_file)
{
    char path[] = "/tmp/tachyon-stdin-XXXXXX";
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "file!", 5), 5);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    unlink(path);
    ck_assert_int_eq(events__start(fx), 0);
    bus__pio_write(fx, COM1 + 2, 1, 0x01);
    ck_assert(wait_kick(fx, 2000));
    usleep(20000);
    events__drain(fx);
    for (const char *p = "file!"; *p; p++)
        ck_assert_uint_eq(in(COM1), (uint8_t)*p);
    ck_assert_uint_eq(in(COM1 + 5) & 1, 0);
    events__stop(fx);
}
END_TEST

START_TEST(escapes)
{
    struct options opt = {0};
    struct machine *m;
    int w = stdin_pipe();

    opt.ram_mb = 2;
    opt.machine = "pc";
    opt.nographic = true;
    m = machine__create(&opt);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(events__start(m), 0);
    bus__pio_write(m, COM1 + 2, 1, 0x01);
    ck_assert_int_eq(write(w, "a\001\001b\001q", 6), 6); /* C-a C-a sends C-a; C-a q is dropped */
    ck_assert(wait_kick(m, 2000));
    for (int i = 0; i < 200 && (bus__pio_read(m, COM1 + 5, 1) & 1) == 0; i++) {
        events__wait(m, vtime__ns() + 1000000);
        events__drain(m);
    }
    usleep(20000);
    events__drain(m);
    ck_assert_uint_eq(bus__pio_read(m, COM1, 1), 'a');
    ck_assert_uint_eq(bus__pio_read(m, COM1, 1), 0x01);
    ck_assert_uint_eq(bus__pio_read(m, COM1, 1), 'b');
    ck_assert_uint_eq(bus__pio_read(m, COM1 + 5, 1) & 1, 0);
    ck_assert_int_eq(m->request, REQ_NONE);
    ck_assert_int_eq(write(w, "\001x", 2), 2); /* quit, status 0 */
    for (int i = 0; i < 2000 && m->request == REQ_NONE; i++)
        usleep(1000);
    ck_assert_int_eq(m->request, REQ_EXIT);
    ck_assert_int_eq(m->exit_status, 0);
    events__wait(m, UINT64_MAX); /* a pending request: returns at once */
    close(w);
    events__stop(m);
    machine__destroy(m);
}
END_TEST

START_TEST(no_escapes_without_nographic)
{
    int w = stdin_pipe();

    ck_assert_int_eq(events__start(fx), 0);
    bus__pio_write(fx, COM1 + 2, 1, 0x01);
    ck_assert_int_eq(write(w, "\001x", 2), 2);
    ck_assert(wait_kick(fx, 2000));
    usleep(20000);
    events__drain(fx);
    ck_assert_uint_eq(in(COM1), 0x01);
    ck_assert_uint_eq(in(COM1), 'x');
    ck_assert_int_eq(fx->request, REQ_NONE);
    close(w);
    events__stop(fx);
}
END_TEST

static Suite *timer_suite(void)
{
    Suite *s = suite_create("monitor/timer");
    TCase *t = tcase_create("timers");
    TCase *e = tcase_create("events");

    tcase_add_checked_fixture(t, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(t, fires_in_deadline_order);
    tcase_add_test(t, callback_rearms_in_the_past);
    tcase_add_test(t, runaway_callback_is_bounded);
    tcase_add_test(t, next_deadline_is_published);
    tcase_add_test(t, test_clock_release);
    tcase_add_test(t, wait_without_thread_sleeps_until_deadline);
    suite_add_tcase(s, t);

    tcase_add_checked_fixture(e, fixture_machine_setup, fixture_machine_teardown);
    tcase_set_timeout(e, 30);
    tcase_add_test(e, timerfd_kicks_the_vcpu);
    tcase_add_test(e, wait_wakes_on_timer);
    tcase_add_test(e, serial_input_reaches_com1);
    tcase_add_test(e, serial_input_from_a_regular_file);
    tcase_add_test(e, escapes);
    tcase_add_test(e, no_escapes_without_nographic);
    suite_add_tcase(s, e);
    return s;
}

int main(void)
{
    return fixture_run_suite(timer_suite());
}
