/*
 * The I/O APIC: an Intel 82093AA at 0xFEC00000 with 24 inputs, each with a 64-bit
 * redirection entry that turns the pin into an interrupt message for the local APIC.
 * Register names and bits follow the 82093AA datasheet: IOREGSEL at offset 0x00 selects a
 * register, IOWIN at 0x10 reads and writes it; IOAPICID (0x00), IOAPICVER (0x01),
 * IOAPICARB (0x02) and IOREDTBL[0..23] (0x10 + 2n low dword, 0x11 + 2n high).
 *
 * Inputs: the 8259 hands every line change to ioapic__isa_irq() (its I/O APIC hook), with
 * the PC wiring of QEMU's i440FX and the ACPI MADT that describes it: IRQ0 on pin 2 by an
 * interrupt source override, ISA IRQ n and PCI lines 16..23 on pin n otherwise; pin 0 is
 * where the 8259's INTR output would be, and an entry in ExtINT mode passes the 8259
 * through to the CPU (lapic__set_extint_route).
 * Levels are logical (1 = asserted); the polarity bit is stored, not applied, as in QEMU,
 * because the platform already hands over asserted/idle.
 *
 * Edge-triggered entries send one message per rising edge while unmasked; an edge on a
 * masked pin is lost, as the datasheet says. Level-triggered entries send while the pin is
 * asserted, unmasked and Remote IRR is clear; sending sets Remote IRR, and the local
 * APIC's EOI for that vector (a broadcast EOI hook) clears it, after which a still-asserted
 * pin sends again. Messages are accepted at once, so Delivery Status always reads idle.
 * Fixed and lowest-priority modes deliver to the one local APIC when the destination names
 * it; NMI, SMI and INIT messages are not emulated and are logged as guest errors.
 */
#include "devices/ioapic.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "devices/bus.h"
#include "devices/i8259.h"
#include "devices/lapic.h"
#include "monitor/log.h"
#include "monitor/machine.h"

/* Memory-mapped registers. */
#define IOREGSEL 0x00
#define IOWIN 0x10

/* Indirect registers. */
#define IOAPICID 0x00
#define IOAPICVER 0x01
#define IOAPICARB 0x02
#define IOREDTBL 0x10

#define IOAPICID_MASK 0x0f000000u

/* Redirection entry bits. */
#define RTE_VECTOR 0x00000000000000ffull
#define RTE_DELMOD 0x0000000000000700ull
#define RTE_DESTMOD 0x0000000000000800ull /* 1 = logical */
#define RTE_DELIVS 0x0000000000001000ull  /* delivery status, read-only */
#define RTE_INTPOL 0x0000000000002000ull  /* 1 = active low */
#define RTE_REMOTE_IRR 0x0000000000004000ull
#define RTE_TRIGGER 0x0000000000008000ull /* 1 = level */
#define RTE_MASK 0x0000000000010000ull
#define RTE_DEST_SHIFT 56
#define RTE_WRITABLE                                                                               \
    (RTE_VECTOR | RTE_DELMOD | RTE_DESTMOD | RTE_INTPOL | RTE_TRIGGER | RTE_MASK |                 \
     0xff00000000000000ull)

#define DELMOD_FIXED 0
#define DELMOD_LOWEST 1
#define DELMOD_SMI 2
#define DELMOD_NMI 4
#define DELMOD_INIT 5
#define DELMOD_EXTINT 7

static const char *const delmod_name[8] = {"Fixed", "Lowest", "SMI",         "reserved(3)",
                                           "NMI",   "INIT",   "reserved(6)", "ExtINT"};

struct ioapic {
    struct machine *m;
    uint32_t ioregsel;
    uint32_t id; /* IOAPICID: bits 27:24 */
    uint64_t redtbl[IOAPIC_PINS];
    uint32_t pin_level; /* input levels, bit n = pin n (not a register: kept on reset) */
};

static struct ioapic *ioapic_of(struct machine *m)
{
    return m->ioapic;
}

static unsigned delmod(uint64_t e)
{
    return (unsigned)((e & RTE_DELMOD) >> 8);
}

/* Send the message of pin n (whose input is asserted). */
static void send(struct ioapic *io, int n)
{
    uint64_t e = io->redtbl[n];
    bool level = e & RTE_TRIGGER;
    uint8_t dest = (uint8_t)(e >> RTE_DEST_SHIFT);

    switch (delmod(e)) {
    case DELMOD_FIXED:
    case DELMOD_LOWEST: /* one CPU: the lowest priority is always ours */
        if (!lapic__match_dest(io->m, dest, e & RTE_DESTMOD)) {
            LOG(DEV, 1, "ioapic: pin %d: destination 0x%02x (%s) names no CPU; dropped", n, dest,
                e & RTE_DESTMOD ? "logical" : "physical");
            return;
        }
        if (level)
            io->redtbl[n] |= RTE_REMOTE_IRR;
        lapic__set_irq(io->m, (int)(e & RTE_VECTOR), level);
        return;
    case DELMOD_EXTINT:
        return; /* the 8259 itself reaches the CPU: see update_extint() */
    default:
        guest_error("ioapic: pin %d: %s delivery is not emulated; interrupt dropped", n,
                    delmod_name[delmod(e)]);
        return;
    }
}

/* Send pin n's message if its state calls for one now (level semantics). */
static void service_level(struct ioapic *io, int n)
{
    uint64_t e = io->redtbl[n];

    if ((e & RTE_TRIGGER) && !(e & RTE_MASK) && !(e & RTE_REMOTE_IRR) && (io->pin_level >> n & 1))
        send(io, n);
}

static void update_extint(struct ioapic *io)
{
    bool on = false;

    for (int n = 0; n < IOAPIC_PINS; n++)
        if (!(io->redtbl[n] & RTE_MASK) && delmod(io->redtbl[n]) == DELMOD_EXTINT)
            on = true;
    lapic__set_extint_route(io->m, on);
}

void ioapic__set_irq(struct machine *m, int gsi, int level)
{
    struct ioapic *io = ioapic_of(m);
    uint32_t bit;
    bool was;

    if (!io)
        return;
    if (gsi < 0 || gsi >= IOAPIC_PINS) {
        LOG(DEV, 1, "ioapic: no input pin %d", gsi);
        return;
    }
    bit = 1u << gsi;
    was = io->pin_level & bit;
    if (level)
        io->pin_level |= bit;
    else
        io->pin_level &= ~bit;
    if (io->redtbl[gsi] & RTE_TRIGGER)
        service_level(io, gsi);
    else if (level && !was && !(io->redtbl[gsi] & RTE_MASK))
        send(io, gsi); /* a rising edge; on a masked pin it is lost */
}

void ioapic__isa_irq(struct machine *m, int irq, int level)
{
    if (irq == 0)
        ioapic__set_irq(m, IOAPIC_ISA_TIMER_GSI, level);
    else if (irq != 2 && irq > 0 && irq < IOAPIC_PINS)
        ioapic__set_irq(m, irq, level);
}

/* The local APIC's EOI for a level-triggered vector. */
static void ioapic_eoi(struct machine *m, int vector)
{
    struct ioapic *io = ioapic_of(m);

    if (!io)
        return;
    for (int n = 0; n < IOAPIC_PINS; n++) {
        uint64_t e = io->redtbl[n];

        if ((e & RTE_REMOTE_IRR) && (int)(e & RTE_VECTOR) == vector) {
            io->redtbl[n] &= ~RTE_REMOTE_IRR;
            service_level(io, n);
        }
    }
}

static void write_redtbl(struct ioapic *io, int n, bool high, uint32_t v)
{
    uint64_t old = io->redtbl[n], e;

    if (high)
        e = (old & 0xffffffffull) | (uint64_t)v << 32;
    else
        e = (old & 0xffffffff00000000ull) | v;
    e = (e & RTE_WRITABLE) | (old & ~RTE_WRITABLE); /* Delivery Status, Remote IRR: read-only */
    if (!(e & RTE_TRIGGER))
        e &= ~RTE_REMOTE_IRR; /* Remote IRR is undefined for edge mode: keep it clear */
    io->redtbl[n] = e;
    if (!high && delmod(e) != DELMOD_FIXED && delmod(e) != DELMOD_LOWEST &&
        delmod(e) != DELMOD_EXTINT && !(e & RTE_MASK))
        guest_error("ioapic: pin %d programmed for %s delivery, which is not emulated", n,
                    delmod_name[delmod(e)]);
    if ((old ^ e) & (RTE_MASK | RTE_DELMOD))
        update_extint(io);
    service_level(io, n); /* unmasking an asserted level-triggered pin sends at once */
}

static uint32_t read_window(struct ioapic *io)
{
    uint32_t r = io->ioregsel;

    switch (r) {
    case IOAPICID:
        return io->id;
    case IOAPICVER:
        return IOAPIC_VERSION;
    case IOAPICARB:
        return io->id; /* the arbitration ID is loaded from the APIC ID */
    default:
        if (r >= IOREDTBL && r < IOREDTBL + 2 * IOAPIC_PINS) {
            uint64_t e = io->redtbl[(r - IOREDTBL) / 2];

            return (r & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
        }
        guest_error("ioapic: read of reserved register 0x%02x", r);
        return 0;
    }
}

static void write_window(struct ioapic *io, uint32_t v)
{
    uint32_t r = io->ioregsel;

    switch (r) {
    case IOAPICID:
        io->id = v & IOAPICID_MASK;
        break;
    case IOAPICVER:
    case IOAPICARB:
        guest_error("ioapic: write 0x%08x to read-only register 0x%02x ignored", v, r);
        break;
    default:
        if (r >= IOREDTBL && r < IOREDTBL + 2 * IOAPIC_PINS) {
            write_redtbl(io, (int)(r - IOREDTBL) / 2, r & 1, v);
            break;
        }
        guest_error("ioapic: write 0x%08x to reserved register 0x%02x ignored", v, r);
        break;
    }
}

static uint32_t ioapic_read(void *opaque, uint32_t offset, unsigned size)
{
    struct ioapic *io = opaque;

    if (offset < IOREGSEL + 4)
        return io->ioregsel >> (8 * (offset - IOREGSEL));
    if (offset == IOWIN && size == 4)
        return read_window(io);
    guest_error("ioapic: %u-byte read at offset 0x%02x (only IOREGSEL and 32-bit IOWIN exist)",
                size, offset);
    return 0;
}

static void ioapic_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct ioapic *io = opaque;

    if (offset == IOREGSEL) {
        io->ioregsel = value & 0xff; /* an 8-bit register: any width writes its low byte */
        return;
    }
    if (offset == IOWIN && size == 4) {
        write_window(io, value);
        return;
    }
    guest_error("ioapic: %u-byte write 0x%x at offset 0x%02x dropped", size, value, offset);
}

static void ioapic_reset(void *opaque)
{
    struct ioapic *io = opaque;

    io->ioregsel = 0;
    io->id = 0;
    for (int n = 0; n < IOAPIC_PINS; n++)
        io->redtbl[n] = RTE_MASK;
    update_extint(io);
}

static void ioapic_dump(void *opaque, FILE *f)
{
    struct ioapic *io = opaque;

    fprintf(f, "ioapic: IOREGSEL=%02x ID=%08x pins=%06x\n", io->ioregsel, io->id, io->pin_level);
    for (int n = 0; n < IOAPIC_PINS; n++) {
        uint64_t e = io->redtbl[n];

        if (e == RTE_MASK)
            continue;
        fprintf(f, "ioapic: pin %2d %016llx vec=%02x %s %s %s%s%s dest=%02x\n", n,
                (unsigned long long)e, (unsigned)(e & RTE_VECTOR), delmod_name[delmod(e)],
                e & RTE_TRIGGER ? "level" : "edge", e & RTE_MASK ? "masked " : "",
                e & RTE_REMOTE_IRR ? "remote-irr " : "", e & RTE_DESTMOD ? "logical" : "physical",
                (unsigned)(e >> RTE_DEST_SHIFT));
    }
}

static const struct device_ops ioapic_ops = {
    .name = "ioapic",
    .reset = ioapic_reset,
    .read = ioapic_read,
    .write = ioapic_write,
    .dump = ioapic_dump,
};

int ioapic__create(struct machine *m, char *err, size_t errlen)
{
    struct ioapic *io;

    if (!m->lapic) {
        snprintf(err, errlen, "I/O APIC: the local APIC must come first in the machine table");
        return -1;
    }
    io = calloc(1, sizeof(*io));
    if (!io) {
        snprintf(err, errlen, "out of memory creating the I/O APIC");
        return -1;
    }
    io->m = m;
    m->ioapic = io;
    if (bus__claim_mmio(m, IOAPIC_DEFAULT_BASE, 0x1000, &ioapic_ops, io)) {
        snprintf(err, errlen, "I/O APIC: 0x%08x-0x%08x is already taken", IOAPIC_DEFAULT_BASE,
                 IOAPIC_DEFAULT_BASE + 0xfff);
        return -1;
    }
    lapic__set_eoi_hook(m, ioapic_eoi);
    ioapic_reset(io);
    if (m->pic) /* the 8259 hands us every line change, and replays the lines high now */
        i8259__set_ioapic_hook(m, ioapic__isa_irq);
    return 0;
}

void ioapic__destroy(struct machine *m)
{
    if (m->pic && m->ioapic)
        i8259__set_ioapic_hook(m, NULL);
    if (m->lapic)
        lapic__set_eoi_hook(m, NULL);
    free(m->ioapic);
    m->ioapic = NULL;
}
