/*
 * PCI bus 0 as the i440BX host bridge presents it to software: configuration mechanism #1
 * (PCI Local Bus Specification 2.2, 3.2.2.3.2) and the functions on the bus.
 *
 * Ports 0xcf8-0xcff are one claim. A dword access to 0xcf8 is CONFIG_ADDRESS (bit 31
 * enable, bus 23:16, device 15:11, function 10:8, register 7:2; bits 30:24 and 1:0 read 0).
 * Byte and word accesses to 0xcf8-0xcfb are not configuration cycles: on the real board
 * they go out as ordinary I/O, where the only listener is the PIIX4's reset control
 * register at 0xcf9, so those bytes go to a handler the PIIX4 installs. 0xcfc-0xcff is
 * CONFIG_DATA, any size at any offset, addressing the register CONFIG_ADDRESS selects plus
 * the port's offset. Only bus 0 exists; a function nobody registered answers all ones (the
 * host bridge's master abort), as does CONFIG_DATA while the enable bit is clear.
 *
 * A function's configuration space is 256 bytes with two masks per byte: bits a write
 * replaces (wmask) and bits a write of 1 clears (w1cmask); the rest are read-only. Devices
 * describe their registers in a table of {offset, size, reset value, masks, datasheet
 * name}; a reset zeroes the space and applies the table, so every register is rewritten and
 * undescribed bytes stay reserved (read 0, writes dropped). BARs are described separately by
 * size and kind; pci.c owns their masks, so sizing works as the specification says (write
 * all ones, read back the size mask with the type bits).
 *
 * After each write the BARs are decoded again: an I/O BAR decodes while COMMAND.IO is set
 * and the range lies inside 64 KiB and not at 0; a memory BAR while COMMAND.MEMORY is set
 * and the range is not at 0 and does not end at 4 GiB (the all-ones sizing pattern, never a
 * real assignment; QEMU draws the same line); the expansion ROM also needs its enable bit.
 * When the decoded address changes, the old bus claim is given back, the new one made (when
 * the BAR names device_ops) and the device's bar_changed hook runs. I/O BARs keep all 32
 * bits writable although only 64 KiB of ports exist: SeaBIOS computes a BAR's size from all
 * 32 bits, and reads 0xffff of an I/O BAR as a 4 GiB-sized one.
 *
 * Interrupts: INTx# pins are level-triggered and shared. Device d's pin p (INTA# = 0) drives
 * PIRQ[(d + p - 1) & 3], the swizzle QEMU's i440FX board, SeaBIOS and our DSDT agree on;
 * each PIRQ is the wired-OR of the pins on it, and the PIIX4 (the router) hears only when a
 * PIRQ's level changes and sends it to the ISA IRQ its PIRQRC register names.
 */
#include "devices/pci.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#define PCI_HOST_PORT 0xcf8
#define PCI_HOST_PORTS 8
#define CONFIG_ADDRESS_ENABLE 0x80000000u
#define CONFIG_ADDRESS_MASK 0x80fffffcu /* bits 30:24 and 1:0 are reserved: read 0 */
#define RESET_CONTROL_OFFSET 1          /* port 0xcf9 inside the claim */

struct pci_bus {
    struct machine *m;
    uint32_t config_address; /* CONFIG_ADDRESS */
    struct pci_function *fn[PCI_DEVICES][PCI_FUNCTIONS];
    int pirq_count[PCI_PIRQS]; /* INTx# pins asserted on each PIRQ */
    void (*pirq_changed)(void *opaque, int pirq, int level);
    void *router;
    uint8_t (*cf9_read)(void *opaque);
    void (*cf9_write)(void *opaque, uint8_t value);
    void *cf9_opaque;
};

static struct pci_bus *bus_of(struct machine *m)
{
    return m ? m->pci : NULL;
}

static unsigned bar_offset(int bar)
{
    return bar == PCI_ROM_SLOT ? PCI_ROM_ADDRESS : PCI_BASE_ADDRESS_0 + 4 * (unsigned)bar;
}

static uint32_t get_bytes(const uint8_t *p, unsigned off, unsigned size)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)p[off + i] << (8 * i);
    return v;
}

static void put_bytes(uint8_t *p, unsigned off, unsigned size, uint32_t v)
{
    for (unsigned i = 0; i < size; i++)
        p[off + i] = (uint8_t)(v >> (8 * i));
}

static uint32_t size_mask(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

/* ---- BARs ---- */

/* Where BAR `i` decodes with the current command register, or PCI_BAR_UNMAPPED. */
static uint32_t bar_decode(const struct pci_function *f, int i)
{
    const struct pci_bar *b = &f->bar[i];
    uint32_t cmd = get_bytes(f->config, PCI_COMMAND, 2);
    uint32_t v = get_bytes(f->config, bar_offset(i), 4);
    uint32_t addr;

    if (!b->size)
        return PCI_BAR_UNMAPPED;
    if (b->io) {
        addr = v & ~3u;
        if (!(cmd & PCI_COMMAND_IO) || addr == 0 || addr > 0x10000u - b->size)
            return PCI_BAR_UNMAPPED;
        return addr;
    }
    if (!(cmd & PCI_COMMAND_MEMORY))
        return PCI_BAR_UNMAPPED;
    if (i == PCI_ROM_SLOT && !(v & PCI_ROM_ADDRESS_ENABLE))
        return PCI_BAR_UNMAPPED;
    addr = v & (i == PCI_ROM_SLOT ? 0xfffff800u : ~0xfu);
    if (addr == 0 || (uint64_t)addr + b->size >= 1ull << 32)
        return PCI_BAR_UNMAPPED;
    return addr;
}

static int bar_claim(struct pci_function *f, const struct pci_bar *b, uint32_t addr)
{
    if (b->io)
        return bus__claim_pio(f->m, (uint16_t)addr, b->size, b->ops, b->opaque);
    return bus__claim_mmio(f->m, addr, b->size, b->ops, b->opaque);
}

static void bar_unclaim(struct pci_function *f, const struct pci_bar *b, uint32_t addr)
{
    if (b->io)
        bus__unclaim_pio(f->m, (uint16_t)addr, b->size, b->ops, b->opaque);
    else
        bus__unclaim_mmio(f->m, addr, b->size, b->ops, b->opaque);
}

static void update_bars(struct pci_function *f)
{
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        struct pci_bar *b = &f->bar[i];
        uint32_t old = b->mapped, now = bar_decode(f, i);

        if (now == old)
            continue;
        if (b->ops && old != PCI_BAR_UNMAPPED)
            bar_unclaim(f, b, old);
        if (b->ops && now != PCI_BAR_UNMAPPED && bar_claim(f, b, now)) {
            /* Two devices decoding one address is a guest mistake; this one stays silent. */
            guest_error("pci %02x.%x %s: BAR%d at 0x%x (%u bytes) overlaps another device; "
                        "not decoded",
                        f->dev, f->fn, f->name, i, now, b->size);
            now = PCI_BAR_UNMAPPED;
        }
        b->mapped = now;
        LOG(DEV, 2, "pci %02x.%x %s: BAR%d 0x%x -> 0x%x", f->dev, f->fn, f->name, i, old, now);
        if (f->bar_changed && now != old)
            f->bar_changed(f, i, old, now);
    }
}

/* The BAR's read-only type bits and the masks that make sizing work. */
static void bar_reset(struct pci_function *f, int i)
{
    const struct pci_bar *b = &f->bar[i];
    unsigned off = bar_offset(i);
    uint32_t type, wmask;

    if (!b->size)
        return;
    if (i == PCI_ROM_SLOT) {
        type = 0;
        wmask = (~(b->size - 1) & 0xfffff800u) | PCI_ROM_ADDRESS_ENABLE;
    } else if (b->io) {
        type = PCI_BASE_ADDRESS_SPACE_IO;
        wmask = ~(b->size - 1) & ~3u;
    } else {
        type = b->prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0;
        wmask = ~(b->size - 1) & ~0xfu;
    }
    put_bytes(f->config, off, 4, type);
    put_bytes(f->wmask, off, 4, wmask);
    put_bytes(f->w1cmask, off, 4, 0);
}

static bool bar_valid(const struct pci_bar *b, int i)
{
    uint32_t min = i == PCI_ROM_SLOT ? 2048 : b->io ? 4 : 16;

    if (!b->size)
        return true;
    if (b->size & (b->size - 1) || b->size < min)
        return false;
    return !b->io || (i != PCI_ROM_SLOT && b->size <= 256);
}

/* ---- configuration space ---- */

void pci__reset_function(struct pci_function *f)
{
    memset(f->config, 0, sizeof(f->config));
    memset(f->wmask, 0, sizeof(f->wmask));
    memset(f->w1cmask, 0, sizeof(f->w1cmask));
    for (int i = 0; i < f->nregs; i++) {
        const struct pci_reg *r = &f->regs[i];

        assert((r->size == 1 || r->size == 2 || r->size == 4) && r->off + r->size <= 256);
        put_bytes(f->config, r->off, r->size, r->reset);
        put_bytes(f->wmask, r->off, r->size, r->wmask);
        put_bytes(f->w1cmask, r->off, r->size, r->w1c & ~r->wmask);
    }
    for (int i = 0; i < PCI_NUM_BARS; i++)
        bar_reset(f, i);
    update_bars(f); /* COMMAND is back to its reset value: BARs stop decoding */
    pci__set_irq(f, 0);
    if (f->reset)
        f->reset(f);
}

static uint32_t config_read(struct pci_function *f, unsigned off, unsigned size)
{
    uint32_t v = get_bytes(f->config, off, size);

    if (f->config_read)
        v = f->config_read(f, off, size, v) & size_mask(size);
    return v;
}

static bool overlaps(unsigned off, unsigned size, unsigned lo, unsigned hi)
{
    return off < hi && lo < off + size;
}

static void config_write(struct pci_function *f, unsigned off, unsigned size, uint32_t value)
{
    uint32_t old = get_bytes(f->config, off, size);

    for (unsigned i = 0; i < size; i++) {
        unsigned b = off + i;
        uint8_t v = (uint8_t)(value >> (8 * i));

        f->config[b] = (uint8_t)((f->config[b] & ~f->wmask[b]) | (v & f->wmask[b]));
        f->config[b] &= (uint8_t) ~(v & f->w1cmask[b]);
    }
    if (overlaps(off, size, PCI_COMMAND, PCI_COMMAND + 2) ||
        overlaps(off, size, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_0 + 24) ||
        overlaps(off, size, PCI_ROM_ADDRESS, PCI_ROM_ADDRESS + 4))
        update_bars(f);
    if (f->config_written)
        f->config_written(f, off, size, old);
}

struct pci_function *pci__function(struct machine *m, int dev, int fn)
{
    struct pci_bus *bus = bus_of(m);

    if (!bus || dev < 0 || dev >= PCI_DEVICES || fn < 0 || fn >= PCI_FUNCTIONS)
        return NULL;
    return bus->fn[dev][fn];
}

static bool access_ok(unsigned off, unsigned size)
{
    return (size == 1 || size == 2 || size == 4) && off + size <= 256;
}

uint32_t pci__config_read(struct machine *m, int dev, int fn, unsigned off, unsigned size)
{
    struct pci_function *f = pci__function(m, dev, fn);

    if (!access_ok(off, size))
        return 0xffffffffu;
    return f ? config_read(f, off, size) : size_mask(size);
}

void pci__config_write(struct machine *m, int dev, int fn, unsigned off, unsigned size,
                       uint32_t value)
{
    struct pci_function *f = pci__function(m, dev, fn);

    if (f && access_ok(off, size))
        config_write(f, off, size, value & size_mask(size));
}

int pci__register(struct machine *m, int dev, int fn, struct pci_function *f)
{
    struct pci_bus *bus = bus_of(m);

    if (!bus)
        return -ENODEV;
    if (!f || dev < 0 || dev >= PCI_DEVICES || fn < 0 || fn >= PCI_FUNCTIONS)
        return -EINVAL;
    for (int i = 0; i < PCI_NUM_BARS; i++)
        if (!bar_valid(&f->bar[i], i))
            return -EINVAL;
    if (bus->fn[dev][fn])
        return -EBUSY;
    f->m = m;
    f->dev = dev;
    f->fn = fn;
    f->intx_level = 0;
    for (int i = 0; i < PCI_NUM_BARS; i++)
        f->bar[i].mapped = PCI_BAR_UNMAPPED;
    bus->fn[dev][fn] = f;
    pci__reset_function(f);
    return 0;
}

void pci__unregister(struct pci_function *f)
{
    struct pci_bus *bus = bus_of(f->m);

    if (!bus || bus->fn[f->dev][f->fn] != f)
        return;
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        struct pci_bar *b = &f->bar[i];

        if (b->ops && b->mapped != PCI_BAR_UNMAPPED)
            bar_unclaim(f, b, b->mapped);
        b->mapped = PCI_BAR_UNMAPPED;
    }
    pci__set_irq(f, 0);
    bus->fn[f->dev][f->fn] = NULL;
}

/* ---- interrupts ---- */

int pci__pirq_of(const struct pci_function *f)
{
    int pin = f->config[PCI_INTERRUPT_PIN];

    if (pin < 1 || pin > 4)
        return -1;
    return (f->dev + (pin - 1) - 1) & 3;
}

void pci__set_irq(struct pci_function *f, int level)
{
    struct pci_bus *bus = bus_of(f->m);
    int pirq = pci__pirq_of(f), was;

    level = level != 0;
    if (level == f->intx_level)
        return;
    if (pirq < 0) {
        LOG(DEV, 1, "pci %02x.%x %s: INTx driven without an interrupt pin", f->dev, f->fn, f->name);
        return;
    }
    f->intx_level = level;
    was = bus->pirq_count[pirq] > 0;
    bus->pirq_count[pirq] += level ? 1 : -1;
    if ((bus->pirq_count[pirq] > 0) != was && bus->pirq_changed)
        bus->pirq_changed(bus->router, pirq, !was);
}

void pci__set_pirq_router(struct machine *m, void (*changed)(void *opaque, int pirq, int level),
                          void *opaque)
{
    struct pci_bus *bus = bus_of(m);

    if (!bus)
        return;
    bus->pirq_changed = changed;
    bus->router = opaque;
}

int pci__pirq_level(struct machine *m, int pirq)
{
    struct pci_bus *bus = bus_of(m);

    if (!bus || pirq < 0 || pirq >= PCI_PIRQS)
        return 0;
    return bus->pirq_count[pirq] > 0;
}

void pci__set_cf9_handler(struct machine *m, uint8_t (*read)(void *opaque),
                          void (*write)(void *opaque, uint8_t value), void *opaque)
{
    struct pci_bus *bus = bus_of(m);

    if (!bus)
        return;
    bus->cf9_read = read;
    bus->cf9_write = write;
    bus->cf9_opaque = opaque;
}

/* ---- the host's ports ---- */

static struct pci_function *selected(struct pci_bus *bus)
{
    uint32_t a = bus->config_address;

    if (!(a & CONFIG_ADDRESS_ENABLE) || (a >> 16 & 0xff) != 0)
        return NULL;
    return bus->fn[a >> 11 & 0x1f][a >> 8 & 7];
}

/* A byte of 0xcf8-0xcfb that is not part of a dword CONFIG_ADDRESS access. */
static uint8_t legacy_read(struct pci_bus *bus, unsigned off)
{
    if (off == RESET_CONTROL_OFFSET && bus->cf9_read)
        return bus->cf9_read(bus->cf9_opaque);
    guest_error("read from unclaimed port 0x%04x (byte access beside CONFIG_ADDRESS)",
                PCI_HOST_PORT + off);
    return 0xff;
}

static void legacy_write(struct pci_bus *bus, unsigned off, uint8_t v)
{
    if (off == RESET_CONTROL_OFFSET && bus->cf9_write) {
        bus->cf9_write(bus->cf9_opaque, v);
        return;
    }
    guest_error("write 0x%02x to unclaimed port 0x%04x (byte access beside CONFIG_ADDRESS) "
                "dropped",
                v, PCI_HOST_PORT + off);
}

static uint32_t pci_host_read(void *opaque, uint32_t offset, unsigned size)
{
    struct pci_bus *bus = opaque;
    struct pci_function *f;
    uint32_t v = 0;

    if (offset == 0 && size == 4)
        return bus->config_address;
    if (offset >= 4) {
        if (!(bus->config_address & CONFIG_ADDRESS_ENABLE)) {
            guest_error("pci: CONFIG_DATA read with CONFIG_ADDRESS disabled");
            return size_mask(size);
        }
        f = selected(bus);
        return f ? config_read(f, (bus->config_address & 0xfc) + offset - 4, size)
                 : size_mask(size);
    }
    for (unsigned i = 0; i < size; i++) {
        unsigned o = offset + i;

        v |= (uint32_t)(o < 4 ? legacy_read(bus, o) : pci_host_read(bus, o, 1)) << (8 * i);
    }
    return v;
}

static void pci_host_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct pci_bus *bus = opaque;
    struct pci_function *f;

    if (offset == 0 && size == 4) {
        bus->config_address = value & CONFIG_ADDRESS_MASK;
        return;
    }
    if (offset >= 4) {
        if (!(bus->config_address & CONFIG_ADDRESS_ENABLE)) {
            guest_error("pci: CONFIG_DATA write 0x%x with CONFIG_ADDRESS disabled dropped", value);
            return;
        }
        f = selected(bus);
        if (f)
            config_write(f, (bus->config_address & 0xfc) + offset - 4, size, value);
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        unsigned o = offset + i;
        uint8_t b = (uint8_t)(value >> (8 * i));

        if (o < 4)
            legacy_write(bus, o, b);
        else
            pci_host_write(bus, o, 1, b);
    }
}

static void pci_host_reset(void *opaque)
{
    struct pci_bus *bus = opaque;

    bus->config_address = 0;
    for (int d = 0; d < PCI_DEVICES; d++)
        for (int fn = 0; fn < PCI_FUNCTIONS; fn++)
            if (bus->fn[d][fn])
                pci__reset_function(bus->fn[d][fn]);
}

static void dump_function(struct pci_function *f, FILE *out)
{
    fprintf(out, "pci 00:%02x.%x %s: %04x:%04x class %06x cmd %04x sts %04x\n", f->dev, f->fn,
            f->name, get_bytes(f->config, PCI_VENDOR_ID, 2), get_bytes(f->config, PCI_DEVICE_ID, 2),
            get_bytes(f->config, PCI_CLASS_PROG, 3), get_bytes(f->config, PCI_COMMAND, 2),
            get_bytes(f->config, PCI_STATUS, 2));
    for (int i = 0; i < f->nregs; i++) {
        const struct pci_reg *r = &f->regs[i];

        if (r->off >= 0x40)
            fprintf(out, "  %02x %-10s %0*x\n", r->off, r->name, 2 * r->size,
                    get_bytes(f->config, r->off, r->size));
    }
    for (int i = 0; i < PCI_NUM_BARS; i++)
        if (f->bar[i].size)
            fprintf(out, "  %s%d %08x %s %u bytes, %s 0x%x\n", i == PCI_ROM_SLOT ? "ROM" : "BAR",
                    i == PCI_ROM_SLOT ? 0 : i, get_bytes(f->config, bar_offset(i), 4),
                    f->bar[i].io ? "io" : "mem", f->bar[i].size,
                    f->bar[i].mapped == PCI_BAR_UNMAPPED ? "unmapped" : "at", f->bar[i].mapped);
    if (f->config[PCI_INTERRUPT_PIN])
        fprintf(out, "  INT%c# -> PIRQ%c, level %d, line %u\n", '@' + f->config[PCI_INTERRUPT_PIN],
                'A' + pci__pirq_of(f), f->intx_level, f->config[PCI_INTERRUPT_LINE]);
}

void pci__dump(struct machine *m, FILE *out)
{
    struct pci_bus *bus = bus_of(m);

    if (!bus)
        return;
    fprintf(out, "pci: CONFIG_ADDRESS=%08x PIRQ levels %d%d%d%d\n", bus->config_address,
            bus->pirq_count[0] > 0, bus->pirq_count[1] > 0, bus->pirq_count[2] > 0,
            bus->pirq_count[3] > 0);
    for (int d = 0; d < PCI_DEVICES; d++)
        for (int fn = 0; fn < PCI_FUNCTIONS; fn++)
            if (bus->fn[d][fn])
                dump_function(bus->fn[d][fn], out);
}

static void pci_host_dump(void *opaque, FILE *out)
{
    pci__dump(((struct pci_bus *)opaque)->m, out);
}

static const struct device_ops pci_host_ops = {
    .name = "pci-host",
    .reset = pci_host_reset,
    .read = pci_host_read,
    .write = pci_host_write,
    .dump = pci_host_dump,
};

int pci__create(struct machine *m, char *err, size_t errlen)
{
    struct pci_bus *bus = calloc(1, sizeof(*bus));

    if (!bus) {
        snprintf(err, errlen, "out of memory creating the PCI bus");
        return -1;
    }
    bus->m = m;
    m->pci = bus;
    if (bus__claim_pio(m, PCI_HOST_PORT, PCI_HOST_PORTS, &pci_host_ops, bus)) {
        snprintf(err, errlen, "pci: ports 0x%x-0x%x (CONFIG_ADDRESS, CONFIG_DATA) are taken",
                 PCI_HOST_PORT, PCI_HOST_PORT + PCI_HOST_PORTS - 1);
        return -1;
    }
    return 0;
}

void pci__destroy(struct machine *m)
{
    free(m->pci);
    m->pci = NULL;
}
