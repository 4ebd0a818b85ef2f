/*
 * QEMU's pc-testdev, the ISA device KVM's unit tests use to poke at the
 * emulator, present only when the command line has -device pc-testdev:
 *
 *   0xe0-0xe3     a 32-bit scratch register, any width, byte-addressed
 *   0xe4-0xe7     "flush page": QEMU re-protects the host page behind the
 *                 written guest address to test KVM's TLB handling;
 *                 accepted and ignored here (a BT monitor has no such page)
 *   0xe8-0xeb     the same scratch register, reached byte by byte
 *   0x2000-0x2017 IRQ lines 0-23: writing v drives line (port - 0x2000) to
 *                 v != 0 through m->irq, so tests can raise and lower ISA
 *                 interrupts (lines 16-23 exist only at an I/O APIC)
 *   0xff000000    64 KiB of scratch memory behind MMIO, for tests of
 *                 instruction emulation on device memory
 *
 * Reset clears the scratch register and memory and drops the lines it
 * raised.
 */
#include "devices/testdev.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#define TESTDEV_IOPORT 0xe0
#define TESTDEV_FLUSH 0xe4
#define TESTDEV_IOPORT_BYTE 0xe8
#define TESTDEV_IRQ 0x2000
#define TESTDEV_IRQ_LINES 24

struct testdev {
    struct machine *m;
    uint32_t ioport_data;
    uint32_t lines; /* lines this device drives high */
    uint8_t iomem[TESTDEV_IOMEM_LEN];
};

static uint32_t width_mask(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

/* 0xe0 and 0xe8: one register seen through two windows. */
static uint32_t scratch_read(void *opaque, uint32_t offset, unsigned size)
{
    struct testdev *t = opaque;

    return (t->ioport_data >> (8 * (offset & 3))) & width_mask(size);
}

static void scratch_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct testdev *t = opaque;
    unsigned shift = 8 * (offset & 3);
    uint32_t mask = width_mask(size) << shift;

    t->ioport_data = (t->ioport_data & ~mask) | ((value << shift) & mask);
}

static uint32_t flush_read(void *opaque, uint32_t offset, unsigned size)
{
    (void)opaque, (void)offset, (void)size;
    return 0;
}

static void flush_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    (void)opaque, (void)offset, (void)size;
    LOG(DEV, 2, "pc-testdev: flush page 0x%08x (nothing to do)", value & ~0xfffu);
}

static void drive(struct testdev *t, int line, bool level)
{
    uint32_t bit = 1u << line;

    if (!!(t->lines & bit) == level)
        return;
    t->lines = level ? t->lines | bit : t->lines & ~bit;
    t->m->irq(t->m, line, level);
}

static uint32_t irq_read(void *opaque, uint32_t offset, unsigned size)
{
    (void)opaque, (void)offset, (void)size;
    return 0; /* write-only */
}

static void irq_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct testdev *t = opaque;

    /* One line per byte: a wider write sets consecutive lines. */
    for (unsigned i = 0; i < size && offset + i < TESTDEV_IRQ_LINES; i++)
        drive(t, (int)(offset + i), (value >> (8 * i)) & 0xff);
}

static uint32_t iomem_read(void *opaque, uint32_t offset, unsigned size)
{
    struct testdev *t = opaque;
    uint32_t v = 0;

    memcpy(&v, &t->iomem[offset], size);
    return v;
}

static void iomem_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct testdev *t = opaque;

    memcpy(&t->iomem[offset], &value, size);
}

static void testdev_reset(void *opaque)
{
    struct testdev *t = opaque;

    t->ioport_data = 0;
    memset(t->iomem, 0, sizeof(t->iomem));
    for (int line = 0; line < TESTDEV_IRQ_LINES; line++)
        drive(t, line, false);
}

static void testdev_dump(void *opaque, FILE *f)
{
    struct testdev *t = opaque;

    fprintf(f, "pc-testdev: scratch=%08x lines=%06x\n", t->ioport_data, t->lines);
}

static const struct device_ops scratch_ops = {
    .name = "pc-testdev",
    .reset = testdev_reset,
    .read = scratch_read,
    .write = scratch_write,
    .dump = testdev_dump,
};

static const struct device_ops flush_ops = {
    .name = "pc-testdev-flush",
    .read = flush_read,
    .write = flush_write,
};

static const struct device_ops irq_ops = {
    .name = "pc-testdev-irq",
    .read = irq_read,
    .write = irq_write,
};

static const struct device_ops iomem_ops = {
    .name = "pc-testdev-iomem",
    .read = iomem_read,
    .write = iomem_write,
};

static bool wanted(const struct options *o)
{
    for (int i = 0; i < o->ndevices; i++) {
        const char *d = o->device[i];
        size_t n = strlen("pc-testdev");

        if (!strncmp(d, "pc-testdev", n) && (d[n] == '\0' || d[n] == ','))
            return true;
    }
    return false;
}

static struct testdev *testdev_of(struct machine *m)
{
    for (int i = 0; i < m->npio; i++)
        if (m->pio[i].ops == &scratch_ops)
            return m->pio[i].opaque;
    return NULL;
}

int testdev__create(struct machine *m, char *err, size_t errlen)
{
    struct testdev *t;

    if (!wanted(&m->opt))
        return 0;
    t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory creating pc-testdev");
        return -1;
    }
    t->m = m;
    if (bus__claim_pio(m, TESTDEV_IOPORT, 4, &scratch_ops, t)) {
        snprintf(err, errlen, "pc-testdev: ports 0x%x-0x%x are already taken", TESTDEV_IOPORT,
                 TESTDEV_IOPORT + 3);
        free(t);
        return -1;
    }
    /* From here on testdev__destroy finds t through the first claim. */
    if (bus__claim_pio(m, TESTDEV_FLUSH, 4, &flush_ops, t) ||
        bus__claim_pio(m, TESTDEV_IOPORT_BYTE, 4, &scratch_ops, t) ||
        bus__claim_pio(m, TESTDEV_IRQ, TESTDEV_IRQ_LINES, &irq_ops, t)) {
        snprintf(err, errlen, "pc-testdev: ports 0xe4-0xeb or 0x2000-0x2017 are already taken");
        return -1;
    }
    if (bus__claim_mmio(m, TESTDEV_IOMEM_BASE, TESTDEV_IOMEM_LEN, &iomem_ops, t)) {
        snprintf(err, errlen, "pc-testdev: memory 0x%08x-0x%08x is already taken",
                 TESTDEV_IOMEM_BASE, TESTDEV_IOMEM_BASE + TESTDEV_IOMEM_LEN - 1);
        return -1;
    }
    testdev_reset(t);
    return 0;
}

void testdev__destroy(struct machine *m)
{
    free(testdev_of(m));
}
