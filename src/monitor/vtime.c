/*
 * The virtual clock (vtime.h). The epoch is the first call in the process, so
 * a fresh guest's TSC starts near zero rather than at the host's uptime; the
 * TSC is then the clock plus the per-vCPU offset that WRMSR moves. All
 * arithmetic is modulo 2^64, as the hardware counter's is.
 */
#include "monitor/vtime.h"

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

uint64_t vtime__tsc(struct machine *m)
{
    /* 1 GHz: one tick per virtual nanosecond. */
    return vtime__ns() + m->cpu->tsc_offset;
}

void vtime__set_tsc(struct machine *m, uint64_t value)
{
    m->cpu->tsc_offset = value - vtime__ns();
}
