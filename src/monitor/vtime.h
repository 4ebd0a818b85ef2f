/*
 * Virtual time as the guest's TSC sees it: a clock at a fixed 1 GHz, so one
 * tick is one nanosecond whatever the host CPU runs at. Today it follows
 * CLOCK_MONOTONIC; the deterministic mode (DESIGN.md §5) will derive it from
 * the retired-instruction count behind the same calls.
 */
#ifndef TACHYON_VTIME_H
#define TACHYON_VTIME_H

#include <stdint.h>

struct machine;

#define VTIME_TSC_HZ 1000000000ull

/* Nanoseconds of virtual time since the monitor started. */
uint64_t vtime__ns(void);

/* The guest's TSC: virtual time plus the vCPU's tsc_offset (RDTSC, RDMSR 0x10). */
uint64_t vtime__tsc(struct machine *m);

/* Make the guest's TSC read `value` now (WRMSR 0x10): adjusts tsc_offset. */
void vtime__set_tsc(struct machine *m, uint64_t value);

#endif
