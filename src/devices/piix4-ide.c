/*
 * PIIX4 function 1 (00:01.1), the IDE controller's PCI face: 8086:7111, class 010180 (IDE,
 * bus-master capable, both channels in legacy mode at 0x1f0/0x3f6 on IRQ 14 and 0x170/0x376
 * on IRQ 15), registers named as in the 82371AB datasheet, section 5.1.
 *
 * The drives and the legacy task-file ports belong to the IDE disk model, which comes later:
 * this file claims none of them. What is here is the configuration space (IDETIM's decode
 * enables, SIDETIM, the Ultra DMA registers) and the bus-master interface block that BMIBA
 * (BAR4, 16 bytes of I/O) maps while PCICMD.IOSE is set: BMICP/BMISP/BMIDTPP for the primary
 * channel at 0-7 and the same for the secondary at 8-15, kept as state with the datasheet's
 * write rules (IDEINTS and the DMA error bit are write-1-to-clear, BMIDEA is read-only,
 * descriptor table pointers are dword-aligned). Starting a transfer does nothing yet: with
 * no drive attached there is nothing to move, and BMIDEA stays clear.
 */
#include <stdlib.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/piix4.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#define BMIBA 0x20 /* BAR4 */
#define IDETIM_PRI 0x40
#define IDETIM_SEC 0x42
#define SIDETIM 0x44
#define UDMACTL 0x48
#define UDMATIM 0x4a

#define IDETIM_IDE 0x8000 /* IDE decode enable */

#define BM_BAR 4
#define BM_SIZE 16
#define BM_CHANNEL 8 /* bytes per channel */
#define BMIC 0       /* command: SSBM (bit 0), RWCON (bit 3) */
#define BMIS 2       /* status */
#define BMIDTP 4     /* descriptor table pointer, 4 bytes */

#define BMIC_SSBM 0x01
#define BMIC_RWCON 0x08
#define BMIS_BMIDEA 0x01
#define BMIS_IDEINTS 0x02
#define BMIS_IDEDMA_ERR 0x04
#define BMIS_DMA0CAP 0x20
#define BMIS_DMA1CAP 0x40

static const struct pci_reg piix4_ide_regs[] = {
    {PCI_VENDOR_ID, 2, 0x8086, 0, 0, "VID"},
    {PCI_DEVICE_ID, 2, 0x7111, 0, 0, "DID"},
    {PCI_COMMAND, 2, 0x0000, 0x0005, 0, "PCICMD"}, /* IOSE, BME */
    {PCI_STATUS, 2, 0x0280, 0, 0x3000, "PCISTS"},  /* RMA, RTA are RWC */
    {PCI_REVISION_ID, 1, 0x01, 0, 0, "RID"},
    {PCI_CLASS_PROG, 1, 0x80, 0, 0, "PI"}, /* bus master; both channels legacy, fixed */
    {PCI_CLASS_DEVICE, 1, 0x01, 0, 0, "SCC"},
    {PCI_CLASS_DEVICE + 1, 1, 0x01, 0, 0, "BCC"},
    {PCI_LATENCY_TIMER, 1, 0x00, 0xf0, 0, "MLT"},
    {PCI_HEADER_TYPE, 1, 0x00, 0, 0, "HEDT"},
    {IDETIM_PRI, 2, 0x0000, 0xf3ff, 0, "IDETIM_PRI"},
    {IDETIM_SEC, 2, 0x0000, 0xf3ff, 0, "IDETIM_SEC"},
    {SIDETIM, 1, 0x00, 0xff, 0, "SIDETIM"},
    {UDMACTL, 1, 0x00, 0x0f, 0, "UDMACTL"},
    {UDMATIM, 2, 0x0000, 0x3333, 0, "UDMATIM"},
};

struct piix4_ide {
    struct pci_function f;
    struct machine *m;
    struct {
        uint8_t bmic, bmis;
        uint32_t bmidtp;
    } ch[2];
};

static uint8_t bm_read_byte(struct piix4_ide *ide, unsigned off)
{
    unsigned c = off / BM_CHANNEL, r = off % BM_CHANNEL;

    switch (r) {
    case BMIC:
        return ide->ch[c].bmic;
    case BMIS:
        return ide->ch[c].bmis;
    case BMIDTP:
    case BMIDTP + 1:
    case BMIDTP + 2:
    case BMIDTP + 3:
        return (uint8_t)(ide->ch[c].bmidtp >> (8 * (r - BMIDTP)));
    }
    return 0; /* reserved bytes 1 and 3 */
}

static void bm_write_byte(struct piix4_ide *ide, unsigned off, uint8_t v)
{
    unsigned c = off / BM_CHANNEL, r = off % BM_CHANNEL;
    uint32_t shift;

    switch (r) {
    case BMIC:
        if ((v & BMIC_SSBM) && !(ide->ch[c].bmic & BMIC_SSBM))
            LOG(DEV, 1, "piix4-ide: %s channel bus master started with no drive attached",
                c ? "secondary" : "primary");
        ide->ch[c].bmic = v & (BMIC_SSBM | BMIC_RWCON);
        break;
    case BMIS:
        ide->ch[c].bmis = (uint8_t)((ide->ch[c].bmis & BMIS_BMIDEA) |
                                    (ide->ch[c].bmis & ~v & (BMIS_IDEINTS | BMIS_IDEDMA_ERR)) |
                                    (v & (BMIS_DMA0CAP | BMIS_DMA1CAP)));
        break;
    case BMIDTP:
    case BMIDTP + 1:
    case BMIDTP + 2:
    case BMIDTP + 3:
        shift = 8 * (r - BMIDTP);
        ide->ch[c].bmidtp = (ide->ch[c].bmidtp & ~(0xffu << shift)) | ((uint32_t)v << shift);
        ide->ch[c].bmidtp &= ~3u;
        break;
    default:
        guest_error("piix4-ide: write 0x%02x to reserved bus-master offset %u", v, off);
        break;
    }
}

static uint32_t bm_read(void *opaque, uint32_t offset, unsigned size)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)bm_read_byte(opaque, offset + i) << (8 * i);
    return v;
}

static void bm_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    for (unsigned i = 0; i < size; i++)
        bm_write_byte(opaque, offset + i, (uint8_t)(value >> (8 * i)));
}

static void bm_dump(void *opaque, FILE *f)
{
    struct piix4_ide *ide = opaque;

    for (int c = 0; c < 2; c++)
        fprintf(f, "piix4-ide: %s BMIC=%02x BMIS=%02x BMIDTP=%08x\n", c ? "sec" : "pri",
                ide->ch[c].bmic, ide->ch[c].bmis, ide->ch[c].bmidtp);
}

/* No reset here: the PCI reset of the function resets the block (ide_reset). */
static const struct device_ops bm_ops = {
    .name = "piix4-ide-bm",
    .read = bm_read,
    .write = bm_write,
    .dump = bm_dump,
};

static void ide_reset(struct pci_function *f)
{
    struct piix4_ide *ide = f->opaque;

    for (int c = 0; c < 2; c++) {
        ide->ch[c].bmic = 0;
        ide->ch[c].bmis = 0;
        ide->ch[c].bmidtp = 0;
    }
}

void piix4_ide__firmware_setup(struct piix4_ide *ide)
{
    pci__config_write(ide->m, PIIX4_DEV, PIIX4_FN_IDE, IDETIM_PRI, 2, IDETIM_IDE);
    pci__config_write(ide->m, PIIX4_DEV, PIIX4_FN_IDE, IDETIM_SEC, 2, IDETIM_IDE);
}

struct piix4_ide *piix4_ide__create(struct machine *m)
{
    struct piix4_ide *ide = calloc(1, sizeof(*ide));

    if (!ide)
        return NULL;
    ide->m = m;
    ide->f.name = "piix4-ide";
    ide->f.regs = piix4_ide_regs;
    ide->f.nregs = (int)(sizeof(piix4_ide_regs) / sizeof(piix4_ide_regs[0]));
    ide->f.opaque = ide;
    ide->f.reset = ide_reset;
    ide->f.bar[BM_BAR] =
        (struct pci_bar){.size = BM_SIZE, .io = true, .ops = &bm_ops, .opaque = ide};
    if (pci__register(m, PIIX4_DEV, PIIX4_FN_IDE, &ide->f)) {
        free(ide);
        return NULL;
    }
    return ide;
}

void piix4_ide__destroy(struct piix4_ide *ide)
{
    pci__unregister(&ide->f);
    free(ide);
}
