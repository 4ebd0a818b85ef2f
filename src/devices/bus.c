/*
 * Bus dispatch over the range tables in struct machine: m->pio[] for the
 * 64 KiB port space and m->mmio[] for physical addresses. Claims may not
 * overlap, so an address belongs to at most one device.
 *
 * An access that lies wholly inside one claimed range goes to that device
 * with its size: the device decides what a 2- or 4-byte access means (an
 * 8-bit ISA device splits it, a 32-bit PCI register does not). An access
 * that crosses a range boundary, or touches unclaimed space, is split into
 * byte accesses, each dispatched on its own, as an ISA bus cycle splitter
 * would; bytes nobody claims read 0xff and writes to them are dropped.
 * Unclaimed ports are logged at guest-error level: harmless on a PC (every
 * OS probes), but the first thing to look at when a driver misbehaves.
 *
 * The tables are scanned linearly (tens of entries); the last hit is
 * remembered, since port I/O comes in bursts to the same device.
 */
#include "devices/bus.h"

#include <errno.h>
#include <string.h>

#include "monitor/log.h"
#include "monitor/machine.h"

static inline bool range_has(uint32_t base, uint32_t len, uint32_t addr)
{
    return addr - base < len;
}

static inline bool range_covers(uint32_t base, uint32_t len, uint32_t addr, unsigned size)
{
    return addr - base < len && size <= len - (addr - base);
}

int bus__claim_pio(struct machine *m, uint16_t base, uint32_t len, const struct device_ops *ops,
                   void *opaque)
{
    if (len == 0 || base + len > 0x10000 || !ops || !ops->read || !ops->write)
        return -EINVAL;
    for (int i = 0; i < m->npio; i++) {
        const struct pio_range *r = &m->pio[i];
        if (base < r->base + r->len && r->base < base + len)
            return -EBUSY;
    }
    if (m->npio == MAX_PIO_RANGES)
        return -ENOSPC;
    m->pio[m->npio++] = (struct pio_range){.base = base, .len = len, .ops = ops, .opaque = opaque};
    return 0;
}

int bus__claim_mmio(struct machine *m, uint32_t base, uint32_t len, const struct device_ops *ops,
                    void *opaque)
{
    if (len == 0 || (uint64_t)base + len > 0x100000000ull || !ops || !ops->read || !ops->write)
        return -EINVAL;
    for (int i = 0; i < m->nmmio; i++) {
        const struct mmio_range *r = &m->mmio[i];
        if ((uint64_t)base < (uint64_t)r->base + r->len && (uint64_t)r->base < (uint64_t)base + len)
            return -EBUSY;
    }
    if (m->nmmio == MAX_MMIO_RANGES)
        return -ENOSPC;
    m->mmio[m->nmmio++] =
        (struct mmio_range){.base = base, .len = len, .ops = ops, .opaque = opaque};
    return 0;
}

int bus__unclaim_pio(struct machine *m, uint16_t base, uint32_t len, const struct device_ops *ops,
                     void *opaque)
{
    for (int i = 0; i < m->npio; i++) {
        const struct pio_range *r = &m->pio[i];

        if (r->base == base && r->len == len && r->ops == ops && r->opaque == opaque) {
            memmove(&m->pio[i], &m->pio[i + 1], (size_t)(m->npio - i - 1) * sizeof(m->pio[0]));
            m->npio--;
            return 0;
        }
    }
    return -ENOENT;
}

int bus__unclaim_mmio(struct machine *m, uint32_t base, uint32_t len, const struct device_ops *ops,
                      void *opaque)
{
    for (int i = 0; i < m->nmmio; i++) {
        const struct mmio_range *r = &m->mmio[i];

        if (r->base == base && r->len == len && r->ops == ops && r->opaque == opaque) {
            memmove(&m->mmio[i], &m->mmio[i + 1], (size_t)(m->nmmio - i - 1) * sizeof(m->mmio[0]));
            m->nmmio--;
            return 0;
        }
    }
    return -ENOENT;
}

/* Last range hit, per table. Indexes, so a table that grows or a fresh machine at the same
 * address never leaves a dangling pointer; checked against the address before use. */
static __thread int pio_last, mmio_last;

static struct pio_range *pio_find(struct machine *m, uint32_t port)
{
    if (pio_last < m->npio && range_has(m->pio[pio_last].base, m->pio[pio_last].len, port))
        return &m->pio[pio_last];
    for (int i = 0; i < m->npio; i++)
        if (range_has(m->pio[i].base, m->pio[i].len, port)) {
            pio_last = i;
            return &m->pio[i];
        }
    return NULL;
}

static struct mmio_range *mmio_find(struct machine *m, uint32_t addr)
{
    if (mmio_last < m->nmmio && range_has(m->mmio[mmio_last].base, m->mmio[mmio_last].len, addr))
        return &m->mmio[mmio_last];
    for (int i = 0; i < m->nmmio; i++)
        if (range_has(m->mmio[i].base, m->mmio[i].len, addr)) {
            mmio_last = i;
            return &m->mmio[i];
        }
    return NULL;
}

static uint32_t size_mask(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

uint32_t bus__pio_read(struct machine *m, uint16_t port, unsigned size)
{
    struct pio_range *r = pio_find(m, port);
    uint32_t v = 0;

    if (r && range_covers(r->base, r->len, port, size))
        return r->ops->read(r->opaque, port - r->base, size) & size_mask(size);
    if (!r && size == 1) {
        guest_error("read from unclaimed port 0x%04x", port);
        return 0xff;
    }
    for (unsigned i = 0; i < size; i++)
        v |= (port + i > 0xffff ? 0xffu : bus__pio_read(m, (uint16_t)(port + i), 1)) << (8 * i);
    return v;
}

void bus__pio_write(struct machine *m, uint16_t port, unsigned size, uint32_t value)
{
    struct pio_range *r = pio_find(m, port);

    value &= size_mask(size);
    if (r && range_covers(r->base, r->len, port, size)) {
        r->ops->write(r->opaque, port - r->base, size, value);
        return;
    }
    if (!r && size == 1) {
        guest_error("write 0x%02x to unclaimed port 0x%04x dropped", value, port);
        return;
    }
    for (unsigned i = 0; i < size && port + i <= 0xffff; i++)
        bus__pio_write(m, (uint16_t)(port + i), 1, (value >> (8 * i)) & 0xff);
}

int bus__mmio_read(struct machine *m, uint32_t addr, unsigned size, uint32_t *value)
{
    struct mmio_range *r = mmio_find(m, addr);
    int claimed = 0;

    if (r && range_covers(r->base, r->len, addr, size)) {
        *value = r->ops->read(r->opaque, addr - r->base, size) & size_mask(size);
        return 0;
    }
    *value = 0;
    for (unsigned i = 0; i < size; i++) {
        uint32_t a = addr + i, b = 0xff;

        r = a >= addr ? mmio_find(m, a) : NULL; /* no wrap past 4 GiB */
        if (r) {
            b = r->ops->read(r->opaque, a - r->base, 1) & 0xff;
            claimed = 1;
        }
        *value |= b << (8 * i);
    }
    return claimed ? 0 : -1;
}

int bus__mmio_write(struct machine *m, uint32_t addr, unsigned size, uint32_t value)
{
    struct mmio_range *r = mmio_find(m, addr);
    int claimed = 0;

    value &= size_mask(size);
    if (r && range_covers(r->base, r->len, addr, size)) {
        r->ops->write(r->opaque, addr - r->base, size, value);
        return 0;
    }
    for (unsigned i = 0; i < size; i++) {
        uint32_t a = addr + i;

        r = a >= addr ? mmio_find(m, a) : NULL;
        if (r) {
            r->ops->write(r->opaque, a - r->base, 1, (value >> (8 * i)) & 0xff);
            claimed = 1;
        }
    }
    return claimed ? 0 : -1;
}

/* 1 when some device claims addr, 0 when it is unassigned. */
int bus__mmio_claimed(struct machine *m, uint32_t addr)
{
    return mmio_find(m, addr) != NULL;
}

/* Each device once, in claim order, however many ranges it holds. */
void bus__reset_all(struct machine *m)
{
    for (int i = 0; i < m->npio; i++) {
        const struct pio_range *r = &m->pio[i];
        int seen = 0;

        for (int j = 0; j < i && !seen; j++)
            seen = m->pio[j].ops == r->ops && m->pio[j].opaque == r->opaque;
        if (!seen && r->ops->reset)
            r->ops->reset(r->opaque);
    }
    for (int i = 0; i < m->nmmio; i++) {
        const struct mmio_range *r = &m->mmio[i];
        int seen = 0;

        for (int j = 0; j < m->npio && !seen; j++)
            seen = m->pio[j].ops == r->ops && m->pio[j].opaque == r->opaque;
        for (int j = 0; j < i && !seen; j++)
            seen = m->mmio[j].ops == r->ops && m->mmio[j].opaque == r->opaque;
        if (!seen && r->ops->reset)
            r->ops->reset(r->opaque);
    }
}
