/*
 * Virtual time: a clock in nanoseconds that the timers (PIT, RTC, local APIC)
 * count with. Today it follows CLOCK_MONOTONIC; the deterministic mode
 * (DESIGN.md §5) will derive it from the retired-instruction count behind the
 * same calls. The guest's TSC runs with the host's TSC where that is
 * invariant, with virtual time (1 GHz) otherwise.
 */
#ifndef TACHYON_VTIME_H
#define TACHYON_VTIME_H

#include <stdbool.h>
#include <stdint.h>

struct machine;

/* Nanoseconds of virtual time since the monitor started. */
uint64_t vtime__ns(void);

/* True when the guest's TSC counts with the host's (an invariant TSC the host kernel keeps
 * time with): guest TSC = host TSC + tsc_offset, and translated code may read it inline. */
bool vtime__tsc_is_host(void);

/* What the guest's TSC counts from: the host TSC, or virtual time (1 GHz). */
uint64_t vtime__tsc_reference(void);

/* The guest's TSC: the reference plus the vCPU's tsc_offset (RDTSC, RDMSR 0x10). */
uint64_t vtime__tsc(struct machine *m);

/* Make the guest's TSC read `value` now (WRMSR 0x10): adjusts tsc_offset. */
void vtime__set_tsc(struct machine *m, uint64_t value);

#endif
