/*
 * PIIX4 function 0 (00:01.0), the PCI-to-ISA bridge: 8086:7110, class 060100, header type
 * 0x80 (the device has more functions), registers named as in the 82371AB datasheet,
 * section 4.1. It creates the PIIX4's other functions (IDE, power management) and owns what
 * ties them to the ISA interrupt lines.
 *
 * PIRQ routing: PIRQRC[A:D] (0x60-0x63) each name the ISA IRQ a PCI interrupt line drives
 * (bits 3:0) unless IRQROUTEN (bit 7) disables it, as it does at reset (0x80). IRQ 0, 1, 2,
 * 8 and 13 are reserved in these registers; a guest that picks one gets a logged guest
 * error and an unrouted PIRQ. Several sources may share an ISA line (two PIRQs routed to one
 * IRQ, or a PIRQ and the SCI on IRQ 9); all are level-triggered, so the line follows the OR
 * of its sources and m->irq hears only changes of that OR. The ELCR that makes those lines
 * level-sensitive lives at 0x4d0/0x4d1 with the 8259s, not here.
 *
 * Reset control (RC, port 0xcf9, bytes only: 0xcf8 as a dword is CONFIG_ADDRESS, so pci.c
 * hands us the byte): SRST (bit 1) chooses a hard reset; a write with RCPU (bit 2) set resets
 * the system. A soft reset (INIT only) is not distinguished: it resets the machine too, as
 * QEMU does; both read back with RCPU clear, only SRST is kept.
 */
#include "devices/piix4.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#define IORT 0x4c
#define XBCS 0x4e
#define PIRQRC 0x60 /* PIRQRC[A] .. PIRQRC[D] at 0x60 .. 0x63 */
#define SERIRQC 0x64
#define TOM 0x69
#define MSTAT 0x6a
#define MBIRQ0 0x70
#define MBIRQ1 0x71
#define MBDMA0 0x76
#define MBDMA1 0x77
#define APICBASE 0x80
#define DLC 0x82
#define PDMACFG 0x90
#define DDMABP0 0x92
#define DDMABP1 0x94
#define GENCFG 0xb0
#define RTCCFG 0xcb

#define PIRQRC_IRQROUTEN 0x80 /* 1: routing disabled */
#define PIRQRC_IRQ 0x0f
#define PIRQ_VALID_IRQS 0xdef8u /* 3-7, 9-12, 14, 15 */

#define RC_SRST 0x02
#define RC_RCPU 0x04

#define ELCR1 0x4d0
#define ELCR2 0x4d1

#define SRC_SCI PCI_PIRQS /* sources of an ISA line: bits 0-3 PIRQA-D, bit 4 the SCI */
#define ISA_IRQS 16

static const struct pci_reg piix4_isa_regs[] = {
    {PCI_VENDOR_ID, 2, 0x8086, 0, 0, "VID"},
    {PCI_DEVICE_ID, 2, 0x7110, 0, 0, "DID"},
    {PCI_COMMAND, 2, 0x0007, 0x0108, 0, "PCICMD"}, /* IOSE MSE BME fixed on; SCE, SERRE */
    {PCI_STATUS, 2, 0x0280, 0, 0x7800, "PCISTS"},  /* DEVSEL medium, fast back-to-back */
    {PCI_REVISION_ID, 1, 0x00, 0, 0, "RID"},
    {PCI_CLASS_PROG, 1, 0x00, 0, 0, "PI"},
    {PCI_CLASS_DEVICE, 1, 0x01, 0, 0, "SCC"},
    {PCI_CLASS_DEVICE + 1, 1, 0x06, 0, 0, "BCC"},
    {PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_MULTI_FUNCTION, 0, 0, "HEDT"},
    {IORT, 1, 0x4d, 0x7f, 0, "IORT"},
    {XBCS, 2, 0x0003, 0x07ff, 0, "XBCS"},
    {PIRQRC + 0, 1, 0x80, 0x8f, 0, "PIRQRCA"},
    {PIRQRC + 1, 1, 0x80, 0x8f, 0, "PIRQRCB"},
    {PIRQRC + 2, 1, 0x80, 0x8f, 0, "PIRQRCC"},
    {PIRQRC + 3, 1, 0x80, 0x8f, 0, "PIRQRCD"},
    {SERIRQC, 1, 0x10, 0xff, 0, "SERIRQC"},
    {TOM, 1, 0x02, 0xfe, 0, "TOM"},
    {MSTAT, 2, 0x0000, 0xffff, 0, "MSTAT"},
    {MBIRQ0, 1, 0x80, 0xcf, 0, "MBIRQ0"},
    {MBIRQ1, 1, 0x80, 0xcf, 0, "MBIRQ1"},
    {MBDMA0, 1, 0x04, 0x87, 0, "MBDMA0"},
    {MBDMA1, 1, 0x04, 0x87, 0, "MBDMA1"},
    {APICBASE, 1, 0x00, 0x7f, 0, "APICBASE"},
    {DLC, 1, 0x00, 0x0f, 0, "DLC"},
    {PDMACFG, 2, 0x0000, 0xffff, 0, "PDMACFG"},
    {DDMABP0, 2, 0x0000, 0xfff0, 0, "DDMABP0"},
    {DDMABP1, 2, 0x0000, 0xfff0, 0, "DDMABP1"},
    {GENCFG, 4, 0x00000000, 0xffffffff, 0, "GENCFG"},
    {RTCCFG, 1, 0x25, 0x3d, 0, "RTCCFG"},
};

struct piix4 {
    struct pci_function f;
    struct machine *m;
    uint8_t rc;                /* RC at 0xcf9: SRST only */
    int pirq_level[PCI_PIRQS]; /* the PCI side of each PIRQ */
    int pirq_line[PCI_PIRQS];  /* the ISA IRQ each PIRQ drives now, or -1 */
    uint8_t sources[ISA_IRQS]; /* per ISA line: which sources assert it */
    struct piix4_ide *ide;
    struct piix4_pm *pm;
};

static struct piix4 *piix4_of(struct machine *m)
{
    struct pci_function *f = pci__function(m, PIIX4_DEV, PIIX4_FN_ISA);

    return f ? f->opaque : NULL;
}

/* One source of ISA line `line` changed; the line follows the OR of its sources. */
static void drive(struct piix4 *p, int src, int line, int level)
{
    uint8_t was = p->sources[line];

    if (level)
        p->sources[line] |= (uint8_t)(1u << src);
    else
        p->sources[line] &= (uint8_t) ~(1u << src);
    if (!was != !p->sources[line])
        p->m->irq(p->m, line, p->sources[line] != 0);
}

static int route_of(struct piix4 *p, int pirq)
{
    uint8_t v = p->f.config[PIRQRC + pirq];

    if (v & PIRQRC_IRQROUTEN)
        return -1;
    return v & PIRQRC_IRQ;
}

/* PIRQRC[pirq] may have changed: move an asserted PIRQ from its old line to its new one. */
static void reroute(struct piix4 *p, int pirq)
{
    int line = route_of(p, pirq);

    if (line >= 0 && !(PIRQ_VALID_IRQS >> line & 1)) {
        guest_error("piix4: PIRQRC%c routes to reserved IRQ %d; PIRQ%c left unrouted", 'A' + pirq,
                    line, 'A' + pirq);
        line = -1;
    }
    if (line == p->pirq_line[pirq])
        return;
    LOG(DEV, 2, "piix4: PIRQ%c -> IRQ %d", 'A' + pirq, line);
    if (p->pirq_line[pirq] >= 0 && p->pirq_level[pirq])
        drive(p, pirq, p->pirq_line[pirq], 0);
    p->pirq_line[pirq] = line;
    if (line >= 0 && p->pirq_level[pirq])
        drive(p, pirq, line, 1);
}

static void pirq_changed(void *opaque, int pirq, int level)
{
    struct piix4 *p = opaque;

    p->pirq_level[pirq] = level;
    if (p->pirq_line[pirq] >= 0)
        drive(p, pirq, p->pirq_line[pirq], level);
}

void piix4__set_sci(struct machine *m, int level)
{
    struct piix4 *p = piix4_of(m);

    if (p)
        drive(p, SRC_SCI, PIIX4_SCI_IRQ, level != 0);
}

static void isa_written(struct pci_function *f, unsigned off, unsigned size, uint32_t old)
{
    (void)old;
    for (int i = 0; i < PCI_PIRQS; i++)
        if (off <= PIRQRC + (unsigned)i && PIRQRC + (unsigned)i < off + size)
            reroute(f->opaque, i);
}

static void isa_reset(struct pci_function *f)
{
    struct piix4 *p = f->opaque;

    p->rc = 0;
    for (int i = 0; i < PCI_PIRQS; i++) {
        p->pirq_level[i] = pci__pirq_level(p->m, i);
        reroute(p, i); /* PIRQRC is 0x80 again: every PIRQ lets go of its line */
    }
}

static uint8_t rc_read(void *opaque)
{
    return ((struct piix4 *)opaque)->rc;
}

static void rc_write(void *opaque, uint8_t v)
{
    struct piix4 *p = opaque;

    p->rc = v & RC_SRST;
    if (v & RC_RCPU) {
        LOG(DEV, 1, "piix4: %s reset through 0xcf9", v & RC_SRST ? "hard" : "soft");
        machine__request(p->m, REQ_RESET, 0);
    }
}

void piix4__power_button(struct machine *m)
{
    struct piix4 *p = piix4_of(m);

    if (p && p->pm)
        piix4_pm__power_button(p->pm);
}

void piix4__firmware_setup(struct machine *m)
{
    static const uint8_t pirq_irq[PCI_PIRQS] = {10, 10, 11, 11};
    struct piix4 *p = piix4_of(m);
    uint16_t elcr = 0;

    if (!p)
        return;
    for (int i = 0; i < PCI_PIRQS; i++) {
        pci__config_write(m, PIIX4_DEV, PIIX4_FN_ISA, PIRQRC + i, 1, pirq_irq[i]);
        elcr |= (uint16_t)(1u << pirq_irq[i]);
    }
    bus__pio_write(m, ELCR1, 1, elcr & 0xff);
    bus__pio_write(m, ELCR2, 1, elcr >> 8);
    for (int d = 0; d < PCI_DEVICES; d++)
        for (int fn = 0; fn < PCI_FUNCTIONS; fn++) {
            struct pci_function *f = pci__function(m, d, fn);
            int pirq = f ? pci__pirq_of(f) : -1;

            if (pirq >= 0)
                pci__config_write(m, d, fn, PCI_INTERRUPT_LINE, 1, pirq_irq[pirq]);
        }
    if (p->ide)
        piix4_ide__firmware_setup(p->ide);
    if (p->pm)
        piix4_pm__firmware_setup(p->pm); /* the SCI's line is 9, whatever its pin says */
}

static void destroy(struct piix4 *p)
{
    if (p->pm)
        piix4_pm__destroy(p->pm);
    if (p->ide)
        piix4_ide__destroy(p->ide);
    pci__set_pirq_router(p->m, NULL, NULL);
    pci__set_cf9_handler(p->m, NULL, NULL, NULL);
    pci__unregister(&p->f);
    free(p);
}

int piix4__create(struct machine *m, char *err, size_t errlen)
{
    struct piix4 *p = calloc(1, sizeof(*p));
    int rc;

    if (!p) {
        snprintf(err, errlen, "out of memory creating the PIIX4");
        return -1;
    }
    p->m = m;
    for (int i = 0; i < PCI_PIRQS; i++)
        p->pirq_line[i] = -1;
    p->f.name = "piix4-isa";
    p->f.regs = piix4_isa_regs;
    p->f.nregs = (int)(sizeof(piix4_isa_regs) / sizeof(piix4_isa_regs[0]));
    p->f.opaque = p;
    p->f.reset = isa_reset;
    p->f.config_written = isa_written;
    rc = pci__register(m, PIIX4_DEV, PIIX4_FN_ISA, &p->f);
    if (rc) {
        free(p);
        snprintf(err, errlen, "piix4: cannot register the ISA bridge at 00:%02x.0 (%s)", PIIX4_DEV,
                 rc == -ENODEV ? "no PCI bus" : "slot taken");
        return -1;
    }
    pci__set_pirq_router(m, pirq_changed, p);
    pci__set_cf9_handler(m, rc_read, rc_write, p);
    p->ide = piix4_ide__create(m);
    p->pm = p->ide ? piix4_pm__create(m) : NULL;
    if (!p->pm) {
        destroy(p);
        snprintf(err, errlen,
                 "piix4: cannot create the IDE and power-management functions at "
                 "00:01.1 and 00:01.3");
        return -1;
    }
    return 0;
}

void piix4__destroy(struct machine *m)
{
    struct piix4 *p = piix4_of(m);

    if (p)
        destroy(p);
}
