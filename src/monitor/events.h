/*
 * The event-loop thread (DESIGN.md §6): epoll on stdin (serial input, with
 * QEMU's Ctrl-A escapes for -nographic), the control socket later, a timerfd
 * for the earliest timer deadline, and disk completions. It never touches
 * guest or device state: it queues input and kicks the vCPU
 * (machine__kick), re-kicking until the vCPU acknowledges so a kick raced
 * by the budget update is never lost. The vCPU thread drains the queues at
 * block boundaries with events__drain().
 */
#ifndef TACHYON_EVENTS_H
#define TACHYON_EVENTS_H

#include <stdint.h>

struct machine;

int events__start(struct machine *m);  /* start the thread (after devices exist) */
void events__stop(struct machine *m);

/* vCPU thread: deliver queued input to devices (UART receive), fire expired timers.
 * Cheap when nothing is queued. */
void events__drain(struct machine *m);

/* vCPU thread, in HLT: block until a kick, queued input, or virtual time deadline_ns
 * (UINT64_MAX: no deadline), whichever comes first. Uses no CPU while waiting. */
void events__wait(struct machine *m, uint64_t deadline_ns);

/* The timerfd must be re-armed when the earliest deadline moves earlier. */
void events__deadline_changed(struct machine *m);

#endif
