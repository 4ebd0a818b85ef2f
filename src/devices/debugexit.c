/*
 * isa-debug-exit, as QEMU has it: test kernels written for QEMU report their
 * result by writing a value v to this port range, and the emulator exits
 * with status (v << 1) | 1 (so a status of 0 can never come from the guest).
 * The device has no state: the machine is its opaque pointer, the range comes
 * from -device isa-debug-exit,iobase=,iosize=, and a write asks the run loop
 * to stop with REQ_EXIT. Reads return 0, as in QEMU.
 */
#include "devices/debugexit.h"

#include <stdio.h>

#include "devices/bus.h"
#include "monitor/log.h"
#include "monitor/machine.h"

static uint32_t debugexit_read(void *opaque, uint32_t offset, unsigned size)
{
    (void)opaque, (void)offset, (void)size;
    return 0;
}

static void debugexit_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct machine *m = opaque;

    (void)offset, (void)size; /* the bus already cut value to the access size */
    LOG(DEV, 1, "isa-debug-exit: guest wrote 0x%x, exit status %u", value, (value << 1 | 1) & 0xff);
    machine__request(m, REQ_EXIT, (int)(value << 1 | 1));
}

static const struct device_ops debugexit_ops = {
    .name = "isa-debug-exit",
    .read = debugexit_read,
    .write = debugexit_write,
};

int debugexit__create(struct machine *m, char *err, size_t errlen)
{
    const struct options *o = &m->opt;

    if (!o->debug_exit)
        return 0;
    if (bus__claim_pio(m, o->debug_exit_port, o->debug_exit_size, &debugexit_ops, m)) {
        snprintf(err, errlen, "isa-debug-exit: ports 0x%x-0x%x overlap another device",
                 o->debug_exit_port, o->debug_exit_port + o->debug_exit_size - 1);
        return -1;
    }
    return 0;
}
