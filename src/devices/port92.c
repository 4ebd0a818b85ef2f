/*
 * Two one-byte PIIX4 system ports with no home of their own.
 *
 * Port 0x92, "port A" of the PS/2 systems: bit 1 (ALT_A20_GATE) opens the
 * A20 gate without the slow trip through the 8042, bit 0 (FAST_INIT)
 * resets the system on a 0-to-1 write. The CPU's A20 line is the OR of
 * this bit and the 8042's A20GATE output, so this file owns the combination:
 * the 8042 reports its output with port92__kbc_a20(), and the result goes to
 * the vCPU's a20_mask (0xffefffff clears address bit 20 while the gate is
 * closed).
 *
 * Port 0x80, the POST diagnostic port: BIOSes write progress codes and Linux
 * writes it as an I/O delay. Writes are kept (and logged at DEV level 2),
 * reads return the last value written, as on boards with a POST display.
 */
#include "devices/port92.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "devices/bus.h"
#include "monitor/log.h"
#include "mmu-shadow/window.h"
#include "monitor/machine.h"

#define PORT92_FAST_INIT 0x01
#define PORT92_ALT_A20 0x02
#define PORT92_WRITABLE (PORT92_FAST_INIT | PORT92_ALT_A20) /* bits 7-2 are reserved */

#define A20_OPEN 0xffffffffu
#define A20_CLOSED 0xffefffffu

struct port92 {
    struct machine *m;
    uint8_t port92;
    bool kbc_a20; /* the 8042's A20GATE output */
    uint8_t post; /* last POST code */
};

static void apply_a20(struct machine *m, bool open)
{
    uint32_t mask = open ? A20_OPEN : A20_CLOSED;

    if (m->cpu->a20_mask == mask)
        return;
    LOG(DEV, 1, "A20 gate %s", open ? "opened" : "closed");
    m->cpu->a20_mask = mask;
    mmu__a20_changed(m);
}

static void update_a20(struct port92 *p)
{
    apply_a20(p->m, p->kbc_a20 || (p->port92 & PORT92_ALT_A20));
}

static uint32_t port92_read(void *opaque, uint32_t offset, unsigned size)
{
    struct port92 *p = opaque;

    (void)offset, (void)size;
    return p->port92;
}

static void port92_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct port92 *p = opaque;
    uint8_t old = p->port92;

    (void)offset, (void)size;
    p->port92 = value & PORT92_WRITABLE;
    update_a20(p);
    if ((p->port92 & PORT92_FAST_INIT) && !(old & PORT92_FAST_INIT)) {
        LOG(DEV, 1, "port 0x92: fast reset");
        machine__request(p->m, REQ_RESET, 0);
    }
}

static uint32_t port80_read(void *opaque, uint32_t offset, unsigned size)
{
    struct port92 *p = opaque;

    (void)offset, (void)size;
    return p->post;
}

static void port80_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct port92 *p = opaque;

    (void)offset, (void)size;
    p->post = (uint8_t)value;
    LOG(DEV, 2, "POST code 0x%02x", p->post);
}

/* The 8042's A20GATE is the 8042's to reset; this port's bits clear. */
static void port92_reset(void *opaque)
{
    struct port92 *p = opaque;

    p->port92 = 0;
    p->post = 0;
    update_a20(p);
}

static void port92_dump(void *opaque, FILE *f)
{
    struct port92 *p = opaque;

    fprintf(f, "port 0x92: %02x, 8042 A20GATE %d, A20 %s; port 0x80: %02x\n", p->port92, p->kbc_a20,
            p->m->cpu->a20_mask == A20_OPEN ? "open" : "closed", p->post);
}

static const struct device_ops port92_ops = {
    .name = "port92",
    .reset = port92_reset,
    .read = port92_read,
    .write = port92_write,
    .dump = port92_dump,
};

static const struct device_ops port80_ops = {
    .name = "port80",
    .read = port80_read,
    .write = port80_write,
};

static struct port92 *port92_of(struct machine *m)
{
    for (int i = 0; i < m->npio; i++)
        if (m->pio[i].ops == &port92_ops)
            return m->pio[i].opaque;
    return NULL;
}

void port92__kbc_a20(struct machine *m, bool open)
{
    struct port92 *p = port92_of(m);

    if (!p) {
        apply_a20(m, open); /* no port 0x92 in this machine: the 8042 alone decides */
        return;
    }
    p->kbc_a20 = open;
    update_a20(p);
}

int port92__create(struct machine *m, char *err, size_t errlen)
{
    struct port92 *p = calloc(1, sizeof(*p));

    if (!p) {
        snprintf(err, errlen, "out of memory creating port 0x92");
        return -1;
    }
    p->m = m;
    p->kbc_a20 = true; /* the gate is open at power-on (vcpu_reset agrees) */
    if (bus__claim_pio(m, 0x92, 1, &port92_ops, p)) {
        snprintf(err, errlen, "port92: port 0x92 is already taken");
        free(p);
        return -1;
    }
    if (bus__claim_pio(m, 0x80, 1, &port80_ops, p)) {
        snprintf(err, errlen, "port92: port 0x80 is already taken");
        return -1; /* port92__destroy frees p */
    }
    port92_reset(p);
    return 0;
}

void port92__destroy(struct machine *m)
{
    free(port92_of(m));
}
