/*
 * Virtual-time timers for devices (PIT, RTC, APIC timer, UART timeouts,
 * disk completions). Owned by the vCPU thread: devices arm them from their
 * register callbacks, and the run loop fires the expired ones at block
 * boundaries (timers__run) and sleeps until the next deadline in HLT. The
 * event-loop thread only watches the earliest deadline and kicks the vCPU
 * (machine__kick) when it passes, so a busy guest is interrupted on time.
 *
 * Times are nanoseconds of the virtual clock (vtime__ns()).
 */
#ifndef TACHYON_TIMER_H
#define TACHYON_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct machine;
struct timer;

typedef void (*timer_cb)(struct machine *m, void *opaque);

int timers__init(struct machine *m);
void timers__destroy(struct machine *m);

struct timer *timer__new(struct machine *m, timer_cb cb, void *opaque);
void timer__free(struct timer *t);
/* Arm (or re-arm) t to fire once at virtual time deadline_ns. */
void timer__mod(struct timer *t, uint64_t deadline_ns);
void timer__del(struct timer *t);
bool timer__pending(const struct timer *t);

/* Fire every expired timer (vCPU thread). Returns the next deadline, or UINT64_MAX. */
uint64_t timers__run(struct machine *m);
/* The earliest armed deadline, or UINT64_MAX (any thread). */
uint64_t timers__next(struct machine *m);

/* The clock timers run on: vtime__ns(), unless a test froze it. Devices that derive
 * guest-visible counts from time (PIT, RTC) read it here, so tests can drive them. */
uint64_t timers__now(struct machine *m);
/* Tests: freeze the clock at now_ns (UINT64_MAX: follow vtime__ns() again). */
void timers__test_set_clock(struct machine *m, uint64_t now_ns);

#endif
