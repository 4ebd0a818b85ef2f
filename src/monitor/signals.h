/*
 * Host signals taken while translated code runs. The handlers are thin
 * (DESIGN.md §4): they map the host PC to the guest instruction, repair the
 * one register a sequence may have parked in R9, record the fault in the
 * vCPU and resume at the TC's common exit stub. The run loop does the rest.
 */
#ifndef TACHYON_SIGNALS_H
#define TACHYON_SIGNALS_H

struct machine;

/* Install handlers and an alternate signal stack for the calling (vCPU) thread. */
int signals__init(struct machine *m);
void signals__fini(struct machine *m);

#endif
