/*
 * QEMU's isa-debug-exit: a port range whose writes end the run with a status.
 */
#ifndef TACHYON_DEBUGEXIT_H
#define TACHYON_DEBUGEXIT_H

#include <stddef.h>

struct machine;

/* Claim m->opt.debug_exit_port.. when -device isa-debug-exit asked for it; otherwise do
 * nothing. Returns 0, or -1 with a message in err. */
int debugexit__create(struct machine *m, char *err, size_t errlen);

#endif
