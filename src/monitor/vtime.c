/*
 * The virtual clock (vtime.h). The epoch is the first call in the process, so
 * a fresh guest's time starts near zero rather than at the host's uptime.
 *
 * The guest's TSC is a reference counter plus the per-vCPU offset that RESET
 * and WRMSR move. Where the host's TSC is invariant and the host kernel itself
 * keeps time with it, the reference is the host TSC: translated code then runs
 * RDTSC inline (bt/sequences.c) instead of leaving the translation cache, as
 * Linux does at every system call. Elsewhere it is virtual time, 1 GHz. All
 * arithmetic is modulo 2^64, as the hardware counter's is.
 */
#include "monitor/vtime.h"

#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "monitor/log.h"
#include "monitor/machine.h"

static uint64_t host_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts))
        die("clock_gettime(CLOCK_MONOTONIC) failed: the host kernel must provide it");
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t vtime__ns(void)
{
    static uint64_t epoch;
    uint64_t now = host_ns();

    /* Only the vCPU thread reads the clock today; a second reader would need an atomic here. */
    if (!epoch)
        epoch = now - 1;
    return now - epoch;
}

/* An invariant TSC (CPUID 8000_0007h EDX bit 8) that the host kernel trusts enough to make
 * CLOCK_MONOTONIC from: same rate on every CPU, in every power state, synchronized. */
static bool host_tsc_usable(void)
{
    unsigned a, b, c, d;
    char src[32] = "";
    FILE *f;

    if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
        return false;
    __cpuid(0x80000007, a, b, c, d);
    if (!(d & (1u << 8)))
        return false;
    f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (!f)
        return false;
    if (!fgets(src, sizeof(src), f))
        src[0] = 0;
    fclose(f);
    return strcmp(src, "tsc\n") == 0;
}

bool vtime__tsc_is_host(void)
{
    static int usable = -1;

    if (usable < 0)
        usable = host_tsc_usable();
    return usable;
}

uint64_t vtime__tsc_reference(void)
{
    if (vtime__tsc_is_host()) {
        uint32_t lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        return (uint64_t)hi << 32 | lo;
    }
    return vtime__ns();
}

uint64_t vtime__tsc(struct machine *m)
{
    return vtime__tsc_reference() + m->cpu->tsc_offset;
}

void vtime__set_tsc(struct machine *m, uint64_t value)
{
    m->cpu->tsc_offset = value - vtime__tsc_reference();
}
