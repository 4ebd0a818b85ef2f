/*
 * monitor/robust: the monitor never crashes because of a guest. Fresh machines run pages
 * of random bytes as 32-bit kernel code (CPL 0, so privileged instructions, port I/O to
 * every device and MMIO are all fair game) with no IDT, so most runs end in a triple
 * fault; a watchdog stops the ones that loop. Any outcome but a monitor crash, hang or
 * sanitizer report is fine: the test is that machine__run() returns.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"

#define CODE 0x100000u
#define RUNS 150

static void *watchdog(void *arg)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    machine__request(arg, REQ_STOP, 0);
    return NULL;
}

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

START_TEST(random_code_does_not_crash_the_monitor)
{
    uint32_t seed = 0x9e3779b9u * (uint32_t)(_i + 1);

    for (int run = 0; run < RUNS / 10; run++) {
        struct machine *m;
        struct options opt;
        pthread_t wd;
        int r;

        memset(&opt, 0, sizeof(opt));
        opt.ram_mb = 32;
        opt.machine = "pc";
        opt.serial[0] = "null";
        opt.nserial = 1;
        m = machine__create(&opt);
        ck_assert_ptr_nonnull(m);
        vcpu_load_flat32(m->cpu);
        for (uint32_t i = 0; i < 8192; i += 4) {
            uint32_t v = xorshift(&seed);
            memcpy(m->ram + CODE + i, &v, 4);
        }
        m->cpu->eip = CODE;
        m->cpu->gpr[R_ESP] = 0x80000;
        pthread_create(&wd, NULL, watchdog, m);
        r = machine__run(m);
        pthread_join(wd, NULL);
        ck_assert_int_ge(r, 0);
        ck_assert_int_le(r, RUN_ERROR);
        machine__destroy(m);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("monitor/robust");
    TCase *tc = tcase_create("random code");

    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, random_code_does_not_crash_the_monitor, 0, 10);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(suite());
}
