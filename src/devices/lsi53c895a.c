/*
 * The LSI53C895A as a PCI function (1000:0012, class 010000): BAR0 is the register file in
 * I/O space (256 ports), BAR1 the same registers in memory space (1 KiB, the 256 bytes
 * repeat), BAR2 the 8 KiB SCRIPTS RAM. Registers are bytes; wider accesses are split into
 * bytes in address order, as the chip's byte lanes do, so a dword read of DSTAT..SSTAT2
 * clears DSTAT exactly as four byte reads would.
 *
 * This file owns the register file (the datasheet's chapter 5: every register a field,
 * read and write side effects, reset values), the interrupt logic (DSTAT/SIST0/SIST1 under
 * DIEN/SIEN0/SIEN1, ISTAT.INTF, DCNTL.IRQD) driving INTA# through pci__set_irq and the
 * PIIX4's PIRQ router, the general purpose timer, and building the device from the
 * command line. The SCRIPTS processor is lsi53c895a-scripts.c, the SCSI bus and its
 * targets lsi53c895a-bus.c.
 *
 * Some registers hold live bus state in the real chip (SBCL, SSTAT1's phase, SBDL). Here
 * they are computed from what the emulated target asserts. Registers the chip implements
 * but that have no effect without a physical bus (SCNTL3 clock dividers, SXFER periods,
 * STEST2/3 test modes, GPREG pins) store what is written and read it back. The clock
 * quadrupler locks at once (STEST4.LCKFRQ as soon as STEST1.DBLEN is set), and the bus
 * reports LVD mode.
 */
#include "devices/lsi53c895a.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/blockdev.h"
#include "devices/bus.h"
#include "devices/lsi53c895a-internal.h"
#include "devices/scsi-disk.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/timer.h"

/* Register offsets. */
#define SCNTL0 0x00
#define SCNTL1 0x01
#define SCNTL2 0x02
#define SCNTL3 0x03
#define SCID 0x04
#define SXFER 0x05
#define SDID 0x06
#define GPREG 0x07
#define SFBR 0x08
#define SOCL 0x09
#define SSID 0x0a
#define SBCL 0x0b
#define DSTAT 0x0c
#define SSTAT0 0x0d
#define SSTAT1 0x0e
#define SSTAT2 0x0f
#define DSA 0x10
#define ISTAT 0x14
#define CTEST0 0x18
#define CTEST1 0x19
#define CTEST2 0x1a
#define CTEST3 0x1b
#define TEMP 0x1c
#define DFIFO 0x20
#define CTEST4 0x21
#define CTEST5 0x22
#define CTEST6 0x23
#define DBC 0x24
#define DCMD 0x27
#define DNAD 0x28
#define DSP 0x2c
#define DSPS 0x30
#define SCRATCHA 0x34
#define DMODE 0x38
#define DIEN 0x39
#define SBR 0x3a
#define DCNTL 0x3b
#define ADDER 0x3c
#define SIEN0 0x40
#define SIEN1 0x41
#define SIST0 0x42
#define SIST1 0x43
#define SLPAR 0x44
#define SWIDE 0x45
#define MACNTL 0x46
#define GPCNTL 0x47
#define STIME0 0x48
#define STIME1 0x49
#define RESPID0 0x4a
#define RESPID1 0x4b
#define STEST0 0x4c
#define STEST1 0x4d
#define STEST2 0x4e
#define STEST3 0x4f
#define SIDL 0x50
#define STEST4 0x52
#define SODL 0x54
#define CCNTL0 0x56
#define CCNTL1 0x57
#define SBDL 0x58
#define SCRATCHB 0x5c
#define SCRATCHC 0x60 /* ..SCRATCHJ at 0x7c */
#define MMRS 0xa0
#define MMWS 0xa4
#define SFS 0xa8
#define DRS 0xac
#define SBMS 0xb0
#define DBMS 0xb4
#define DNAD64 0xb8
#define PMJAD1 0xc0
#define PMJAD2 0xc4
#define RBC 0xc8
#define UA 0xcc
#define ESA 0xd0
#define IA 0xd4
#define SBC 0xd8
#define CSBC 0xdc

#define STIME1_GEN 0x0f
/* The general purpose timer's unit: 108.5 µs, the 40 MHz SCSI clock through the prescaler
 * drivers select for it; sym53c8xx measures the clock with this timer and expects it. */
#define GEN_UNIT_NS 108500ull

static const struct pci_reg lsi_regs[] = {
    {PCI_VENDOR_ID, 2, 0x1000, 0, 0, "VID"},
    {PCI_DEVICE_ID, 2, 0x0012, 0, 0, "DID"},
    {PCI_COMMAND, 2, 0x0000, 0x0157, 0, "COMMAND"}, /* IO MEM MASTER MWI PERR SERR */
    {PCI_STATUS, 2, 0x0200, 0, 0xf900, "STATUS"},   /* DEVSEL medium; error bits RW1C */
    {PCI_REVISION_ID, 1, 0x00, 0, 0, "RID"},
    {PCI_CLASS_PROG, 1, 0x00, 0, 0, "PI"},
    {PCI_CLASS_DEVICE, 1, 0x00, 0, 0, "SCC"}, /* SCSI bus controller */
    {PCI_CLASS_DEVICE + 1, 1, 0x01, 0, 0, "BCC"},
    {0x0c, 1, 0x00, 0xff, 0, "CLS"},
    {PCI_LATENCY_TIMER, 1, 0x00, 0xff, 0, "MLT"},
    {PCI_HEADER_TYPE, 1, 0x00, 0, 0, "HT"},
    {PCI_SUBSYSTEM_VENDOR_ID, 2, 0x1000, 0, 0, "SVID"},
    {PCI_SUBSYSTEM_ID, 2, 0x1000, 0, 0, "SID"},
    {PCI_INTERRUPT_LINE, 1, 0x00, 0xff, 0, "IL"},
    {PCI_INTERRUPT_PIN, 1, 0x01, 0, 0, "IP"}, /* INTA# */
    {0x3e, 1, 0x11, 0, 0, "MG"},
    {0x3f, 1, 0x40, 0, 0, "ML"},
};

/* ---- interrupts ---- */

void lsi__update_irq(struct lsi *s)
{
    int level = 0;

    if (s->dstat & s->dien & 0x7f)
        level = 1;
    if ((s->sist0 & s->sien0) || (s->sist1 & s->sien1))
        level = 1;
    if (s->istat & LSI_ISTAT_INTF)
        level = 1;
    if (s->dcntl & LSI_DCNTL_IRQD)
        level = 0;
    if (level != s->irq_level) {
        s->irq_level = level;
        pci__set_irq(&s->f, level);
    }
}

void lsi__scsi_interrupt(struct lsi *s, uint8_t sist0, uint8_t sist1)
{
    /* CMP, SEL, RSL, GEN and HTH halt SCRIPTS only when enabled; the others always. */
    uint8_t halt0 = s->sien0 | (uint8_t) ~(LSI_SIST0_CMP | LSI_SIST0_SEL | LSI_SIST0_RSL);
    uint8_t halt1 = s->sien1 | (uint8_t) ~(LSI_SIST1_GEN | LSI_SIST1_HTH);

    s->sist0 |= sist0;
    s->sist1 |= sist1;
    if ((sist0 & halt0) || (sist1 & halt1)) {
        s->wait = LSI_IDLE;
        s->in_move = false;
    }
    lsi__update_irq(s);
}

void lsi__dma_interrupt(struct lsi *s, uint8_t dstat)
{
    s->dstat |= dstat;
    s->wait = LSI_IDLE;
    s->in_move = false;
    lsi__update_irq(s);
}

static void gen_expired(struct machine *m, void *opaque)
{
    (void)m;
    lsi__scsi_interrupt(opaque, 0, LSI_SIST1_GEN);
}

/* ---- registers ---- */

static uint8_t byte_of(uint32_t v, unsigned i)
{
    return (uint8_t)(v >> (8 * i));
}

static void set_byte(uint32_t *v, unsigned i, uint8_t b)
{
    *v = (*v & ~(0xffu << (8 * i))) | (uint32_t)b << (8 * i);
}

/* The 32-bit registers, by offset: NULL for the others. */
static uint32_t *reg32(struct lsi *s, unsigned base)
{
    switch (base) {
    case DSA: return &s->dsa;
    case TEMP: return &s->temp;
    case DNAD: return &s->dnad;
    case DSP: return &s->dsp;
    case DSPS: return &s->dsps;
    case SCRATCHA: return &s->scratch[0];
    case ADDER: return &s->adder;
    case SCRATCHB: return &s->scratch[1];
    case MMRS: return &s->mmrs;
    case MMWS: return &s->mmws;
    case SFS: return &s->sfs;
    case DRS: return &s->drs;
    case SBMS: return &s->sbms;
    case DBMS: return &s->dbms;
    case DNAD64: return &s->dnad64;
    case PMJAD1: return &s->pmjad1;
    case PMJAD2: return &s->pmjad2;
    case RBC: return &s->rbc;
    case UA: return &s->ua;
    case ESA: return &s->esa;
    case IA: return &s->ia;
    case SBC: return &s->sbc;
    case CSBC: return &s->csbc;
    default:
        if (base >= SCRATCHC && base < SCRATCHC + 32)
            return &s->scratch[2 + (base - SCRATCHC) / 4];
        return NULL;
    }
}

uint8_t lsi__reg_read(struct lsi *s, unsigned reg)
{
    uint32_t *r32 = reg32(s, reg & ~3u);
    uint8_t v;

    reg &= 0xff;
    if (r32 && reg != DBC + 3)
        return byte_of(*r32, reg & 3);
    switch (reg) {
    case SCNTL0: return s->scntl0;
    case SCNTL1: return (uint8_t)(s->scntl1 | (s->target >= 0 ? LSI_SCNTL1_CON : 0));
    case SCNTL2: return s->scntl2;
    case SCNTL3: return s->scntl3;
    case SCID: return s->scid;
    case SXFER: return s->sxfer;
    case SDID: return s->sdid;
    case GPREG: return s->gpreg;
    case SFBR: return s->sfbr;
    case SOCL: return s->socl;
    case SSID: return s->ssid;
    case SBCL: /* live bus lines */
        v = s->sbcl & (LSI_SBCL_ACK | LSI_SBCL_ATN);
        if (s->target >= 0)
            v |= LSI_SBCL_BSY;
        if (s->phase >= 0)
            v |= LSI_SBCL_REQ | (uint8_t)s->phase;
        return v;
    case DSTAT: /* reading clears the interrupt bits; DFE: the DMA FIFO is always empty */
        v = s->dstat | LSI_DSTAT_DFE;
        s->dstat = 0;
        lsi__update_irq(s);
        return v;
    case SSTAT0: return s->sstat0;
    case SSTAT1: return (uint8_t)((s->sstat1 & ~7u) | (s->phase >= 0 ? s->phase : s->sstat1 & 7));
    case SSTAT2: return (uint8_t)(s->sstat2 | (s->target < 0 ? 0x02 : 0)); /* LDSC */
    case ISTAT:
        v = s->istat & (LSI_ISTAT_SIGP | LSI_ISTAT_SEM | LSI_ISTAT_INTF);
        if (s->dstat)
            v |= LSI_ISTAT_DIP;
        if (s->sist0 || s->sist1)
            v |= LSI_ISTAT_SIP;
        if (s->target >= 0)
            v |= LSI_ISTAT_CON;
        return v;
    case CTEST0: return s->ctest0;
    case CTEST1: return 0xf0; /* FMT: all DMA FIFO byte lanes empty */
    case CTEST2: /* reading clears SIGP (SCRIPTS do this on purpose) */
        v = s->ctest2 | LSI_CTEST2_DACK | LSI_CTEST2_CM;
        if (s->istat & LSI_ISTAT_SIGP)
            v |= LSI_CTEST2_SIGP;
        s->istat &= (uint8_t)~LSI_ISTAT_SIGP;
        return v;
    case CTEST3: return s->ctest3;
    case DFIFO: return s->dfifo;
    case CTEST4: return s->ctest4;
    case CTEST5: return s->ctest5;
    case CTEST6: return 0;
    case DBC:
    case DBC + 1:
    case DBC + 2: return byte_of(s->dbc, reg - DBC);
    case DCMD: return s->dcmd;
    case DMODE: return s->dmode;
    case DIEN: return s->dien;
    case SBR: return s->sbr;
    case DCNTL: return s->dcntl;
    case SIEN0: return s->sien0;
    case SIEN1: return s->sien1;
    case SIST0: /* reading clears */
        v = s->sist0;
        s->sist0 = 0;
        lsi__update_irq(s);
        return v;
    case SIST1:
        v = s->sist1;
        s->sist1 = 0;
        lsi__update_irq(s);
        return v;
    case SLPAR: return s->slpar;
    case SWIDE: return s->swide;
    case MACNTL: return (uint8_t)(0x50 | (s->macntl & 0x0f)); /* TYP: 895A */
    case GPCNTL: return s->gpcntl;
    case STIME0: return s->stime0;
    case STIME1: return s->stime1;
    case RESPID0: return s->respid0;
    case RESPID1: return s->respid1;
    case STEST0: return s->stest0;
    case STEST1: return s->stest1;
    case STEST2: return s->stest2;
    case STEST3: return s->stest3;
    case SIDL: return (uint8_t)s->sidl;
    case SIDL + 1: return (uint8_t)(s->sidl >> 8);
    case STEST4:
        return (uint8_t)(LSI_STEST4_SMODE_LVD |
                         (s->stest1 & LSI_STEST1_DBLEN ? LSI_STEST4_LCKFRQ : 0));
    case SODL: return (uint8_t)s->sodl;
    case SODL + 1: return (uint8_t)(s->sodl >> 8);
    case CCNTL0: return s->ccntl0;
    case CCNTL1: return s->ccntl1;
    case SBDL: /* the data lines: the message byte the target offers */
        return s->phase == SCSI_PHASE_MSG_IN && s->msgin_len ? s->msgin[0] : (uint8_t)s->sbdl;
    case SBDL + 1: return 0;
    default:
        guest_error("lsi53c895a: read of reserved register 0x%02x", reg);
        return 0;
    }
}

static void chip_reset(struct lsi *s);

static void write_istat(struct lsi *s, uint8_t v)
{
    s->istat = (uint8_t)((s->istat & ~(LSI_ISTAT_SIGP | LSI_ISTAT_SEM)) |
                         (v & (LSI_ISTAT_SIGP | LSI_ISTAT_SEM)));
    if (v & LSI_ISTAT_INTF) { /* write 1 to clear */
        s->istat &= (uint8_t)~LSI_ISTAT_INTF;
        lsi__update_irq(s);
    }
    if (v & LSI_ISTAT_SRST) {
        chip_reset(s);
        return;
    }
    if ((v & LSI_ISTAT_ABRT) && s->wait != LSI_IDLE)
        lsi__dma_interrupt(s, LSI_DSTAT_ABRT);
    if ((v & LSI_ISTAT_SIGP) && s->wait == LSI_WAIT_RESEL) {
        /* WAIT RESELECT leaves for its alternate address when the host signals. */
        s->dsp = s->waddr;
        s->wait = LSI_RUNNING;
        lsi__scripts_run(s);
    }
}

void lsi__reg_write(struct lsi *s, unsigned reg, uint8_t v)
{
    uint32_t *r32;

    reg &= 0xff;
    r32 = reg32(s, reg & ~3u);
    if (r32 && reg != DBC + 3) {
        set_byte(r32, reg & 3, v);
        if (reg == DSP + 3 && !(s->dmode & LSI_DMODE_MAN))
            lsi__scripts_start(s); /* writing DSP's top byte starts SCRIPTS */
        return;
    }
    switch (reg) {
    case SCNTL0: s->scntl0 = v; break;
    case SCNTL1:
        /* CON follows the bus; IARB and the other bits are stored. */
        s->scntl1 = v & (uint8_t)~LSI_SCNTL1_CON;
        if (v & LSI_SCNTL1_RST) {
            if (!(s->sstat0 & LSI_SSTAT0_RST)) {
                s->sstat0 |= LSI_SSTAT0_RST;
                lsi__bus_reset(s);
                lsi__scsi_interrupt(s, LSI_SIST0_RST, 0);
            }
        } else {
            s->sstat0 &= (uint8_t)~LSI_SSTAT0_RST;
        }
        break;
    case SCNTL2: /* WSR and WSS are write-1-to-clear status (nothing wide happens here) */
        s->scntl2 = (uint8_t)(v & ~(LSI_SCNTL2_WSR | LSI_SCNTL2_WSS));
        break;
    case SCNTL3: s->scntl3 = v; break;
    case SCID: s->scid = v; break;
    case SXFER: s->sxfer = v; break;
    case SDID: s->sdid = v & 0x0f; break;
    case GPREG: s->gpreg = v; break;
    case SFBR: s->sfbr = v; break; /* the host may not, SCRIPTS may: the chip does not know */
    case SOCL:
        s->socl = v;
        if (v & LSI_SOCL_ATN)
            lsi__bus_set_atn(s);
        break;
    case SSID: case SBCL: case DSTAT: case SSTAT0: case SSTAT1: case SSTAT2:
        /* read-only; Linux writes these while probing */
        break;
    case ISTAT: write_istat(s, v); break;
    case CTEST0: s->ctest0 = v; break;
    case CTEST1: break;
    case CTEST2: break; /* the writable bits select PCI configuration modes: none here */
    case CTEST3: /* CLF and FLF act and clear themselves (the FIFO is always empty) */
        s->ctest3 = v & (uint8_t)~(LSI_CTEST3_CLF | LSI_CTEST3_FLF);
        break;
    case DFIFO: s->dfifo = v; break;
    case CTEST4: s->ctest4 = v; break;
    case CTEST5: s->ctest5 = v; break;
    case CTEST6: break; /* writes the DMA FIFO: it drains at once */
    case DBC:
    case DBC + 1:
    case DBC + 2: set_byte(&s->dbc, reg - DBC, v); break;
    case DCMD: s->dcmd = v; break;
    case DMODE: s->dmode = v; break;
    case DIEN: s->dien = v & 0x7f; lsi__update_irq(s); break;
    case SBR: s->sbr = v; break;
    case DCNTL:
        s->dcntl = (uint8_t)(v & ~(LSI_DCNTL_PFF | LSI_DCNTL_STD));
        lsi__update_irq(s);
        if (v & LSI_DCNTL_STD)
            lsi__scripts_start(s);
        break;
    case SIEN0: s->sien0 = v; lsi__update_irq(s); break;
    case SIEN1: s->sien1 = v; lsi__update_irq(s); break;
    case SIST0: case SIST1: break;
    case SLPAR: s->slpar = v; break;
    case SWIDE: break;
    case MACNTL: s->macntl = v & 0x0f; break;
    case GPCNTL: s->gpcntl = v; break;
    case STIME0: s->stime0 = v; break;
    case STIME1:
        s->stime1 = v;
        if (v & STIME1_GEN)
            timer__mod(s->gen_timer,
                       timers__now(s->m) + (GEN_UNIT_NS << (v & STIME1_GEN)));
        else
            timer__del(s->gen_timer);
        break;
    case RESPID0: s->respid0 = v; break;
    case RESPID1: s->respid1 = v; break;
    case STEST0: break;
    case STEST1: s->stest1 = v; break;
    case STEST2: s->stest2 = v; break;
    case STEST3: s->stest3 = v & (uint8_t)~LSI_STEST3_CSF; break;
    case SIDL: case SIDL + 1: case STEST4: break;
    case SODL: s->sodl = (uint16_t)((s->sodl & 0xff00) | v); break;
    case SODL + 1: s->sodl = (uint16_t)((s->sodl & 0x00ff) | v << 8); break;
    case CCNTL0: s->ccntl0 = v; break;
    case CCNTL1: s->ccntl1 = v; break;
    case SBDL: case SBDL + 1: break;
    default:
        guest_error("lsi53c895a: write 0x%02x to reserved register 0x%02x dropped", v, reg);
        break;
    }
}

/* ---- the BARs ---- */

static uint32_t regs_read(void *opaque, uint32_t offset, unsigned size)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)lsi__reg_read(opaque, (offset + i) & 0xff) << (8 * i);
    return v;
}

static void regs_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    for (unsigned i = 0; i < size; i++)
        lsi__reg_write(opaque, (offset + i) & 0xff, (uint8_t)(value >> (8 * i)));
}

static uint32_t ram_read(void *opaque, uint32_t offset, unsigned size)
{
    struct lsi *s = opaque;
    uint32_t v = 0;

    for (unsigned i = 0; i < size && offset + i < LSI_RAM_SIZE; i++)
        v |= (uint32_t)s->ram[offset + i] << (8 * i);
    return v;
}

static void ram_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct lsi *s = opaque;

    for (unsigned i = 0; i < size && offset + i < LSI_RAM_SIZE; i++)
        s->ram[offset + i] = (uint8_t)(value >> (8 * i));
}

static void lsi_dump(void *opaque, FILE *f)
{
    struct lsi *s = opaque;

    fprintf(f, "lsi53c895a: DSP %08x DSPS %08x DSA %08x DBC %06x DCMD %02x wait %d\n", s->dsp,
            s->dsps, s->dsa, s->dbc, s->dcmd, s->wait);
    fprintf(f, "  ISTAT %02x DSTAT %02x SIST %02x%02x DIEN %02x SIEN %02x%02x target %d phase %d\n",
            lsi__reg_read(s, ISTAT), s->dstat, s->sist1, s->sist0, s->dien, s->sien1, s->sien0,
            s->target, s->phase);
}

static const struct device_ops lsi_io_ops = {
    .name = "lsi53c895a-io", .read = regs_read, .write = regs_write, .dump = lsi_dump,
};
static const struct device_ops lsi_mmio_ops = {
    .name = "lsi53c895a-mmio", .read = regs_read, .write = regs_write, .dump = lsi_dump,
};
static const struct device_ops lsi_ram_ops = {
    .name = "lsi53c895a-ram", .read = ram_read, .write = ram_write,
};

/* ---- reset ---- */

/* Software reset (ISTAT.SRST) and PCI reset: every register to its datasheet value. */
static void chip_reset(struct lsi *s)
{
    lsi__bus_reset(s);
    timer__del(s->run_timer);
    timer__del(s->gen_timer);
    s->scntl0 = 0xc0, s->scntl1 = 0, s->scntl2 = 0, s->scntl3 = 0;
    s->scid = 0, s->sxfer = 0, s->sdid = 0, s->gpreg = 0, s->sfbr = 0, s->socl = 0;
    s->ssid = 0, s->sbcl = 0, s->dstat = 0, s->sstat0 = 0, s->sstat1 = 0, s->sstat2 = 0;
    s->dsa = 0, s->istat = 0;
    s->ctest0 = 0, s->ctest2 = 0, s->ctest3 = 0, s->ctest4 = 0, s->ctest5 = 0, s->ctest6 = 0;
    s->temp = 0, s->dfifo = 0, s->dbc = 0, s->dcmd = 0, s->dnad = 0, s->dsp = 0, s->dsps = 0;
    memset(s->scratch, 0, sizeof(s->scratch));
    s->dmode = 0, s->dien = 0, s->sbr = 0, s->dcntl = 0, s->adder = 0;
    s->sien0 = 0, s->sien1 = 0, s->sist0 = 0, s->sist1 = 0, s->slpar = 0, s->swide = 0;
    s->macntl = 0, s->gpcntl = 0x0f, s->stime0 = 0, s->stime1 = 0;
    s->respid0 = 0, s->respid1 = 0;
    s->stest0 = 0x07, s->stest1 = 0, s->stest2 = 0, s->stest3 = 0;
    s->sidl = 0, s->sodl = 0, s->sbdl = 0, s->ccntl0 = 0, s->ccntl1 = 0;
    s->mmrs = s->mmws = s->sfs = s->drs = s->sbms = s->dbms = s->dnad64 = 0;
    s->pmjad1 = s->pmjad2 = s->rbc = s->ua = s->esa = s->ia = s->sbc = s->csbc = 0;
    s->wait = LSI_IDLE;
    s->carry = false;
    s->in_move = false;
    s->waddr = 0;
    lsi__update_irq(s);
}

static void lsi_pci_reset(struct pci_function *f)
{
    struct lsi *s = f->opaque;

    s->irq_level = 0; /* pci.c released the pin */
    chip_reset(s);
}

/* ---- the command line ---- */

/* The value of key in a "k=v,k=v" list, copied to out; false when absent. */
static bool prop(const char *props, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);

    for (const char *p = props; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len > klen && !strncmp(p, key, klen) && p[klen] == '=') {
            snprintf(out, outlen, "%.*s", (int)(len - klen - 1), p + klen + 1);
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

int lsi53c895a__check_device(const char *name, const char *props, char *err, size_t errlen)
{
    static const char *const lsi_keys[] = {"id", NULL};
    static const char *const hd_keys[] = {"id", "drive", "bus", "scsi-id", "lun", "serial",
                                          NULL};
    bool hd = !strcmp(name, "scsi-hd");
    const char *const *keys = hd ? hd_keys : lsi_keys;
    char v[64];

    for (const char *p = props; p && *p;) {
        const char *end = strchr(p, ','), *eq = strchr(p, '=');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool known = false;

        if (!eq || eq > p + len) {
            snprintf(err, errlen, "expected property=value, not '%.*s'", (int)len, p);
            return -1;
        }
        for (int i = 0; keys[i]; i++)
            known |= strlen(keys[i]) == (size_t)(eq - p) && !strncmp(p, keys[i], eq - p);
        if (!known) {
            snprintf(err, errlen, "unknown property '%.*s' (%s takes %s)", (int)(eq - p), p, name,
                     hd ? "drive, bus, scsi-id, lun, serial, id" : "id");
            return -1;
        }
        p = end ? end + 1 : NULL;
    }
    if (!hd)
        return 0;
    if (!prop(props, "drive", v, sizeof(v))) {
        snprintf(err, errlen, "scsi-hd needs drive=ID (a -drive if=none,id=ID)");
        return -1;
    }
    if (prop(props, "scsi-id", v, sizeof(v)) &&
        (strlen(v) != 1 || v[0] < '0' || v[0] >= '0' + SCSI_MAX_TARGETS)) {
        snprintf(err, errlen, "scsi-id=%s: targets are 0 to %d (7 is the adapter)", v,
                 SCSI_MAX_TARGETS - 1);
        return -1;
    }
    if (prop(props, "lun", v, sizeof(v)) && strcmp(v, "0")) {
        snprintf(err, errlen, "lun=%s: only LUN 0 is supported", v);
        return -1;
    }
    return 0;
}

/* The -device with this driver name (at index *i and after), or NULL; props after the ','. */
static const char *next_device(const struct options *o, const char *name, int *i,
                               const char **props)
{
    size_t n = strlen(name);

    for (; *i < o->ndevices; (*i)++) {
        const char *d = o->device[*i];

        if (!strncmp(d, name, n) && (d[n] == 0 || d[n] == ',')) {
            *props = d[n] ? d + n + 1 : "";
            return o->device[(*i)++];
        }
    }
    return NULL;
}

static const char *find_lsi(const struct options *o, const char **props)
{
    int i = 0;
    const char *d = next_device(o, "lsi53c895a", &i, props);

    i = 0;
    return d ? d : next_device(o, "lsi", &i, props);
}

static int attach_disk(struct lsi *s, const char *props, const char *bus_id, char *err,
                       size_t errlen)
{
    const struct options *o = &s->m->opt;
    char drive[64], bus[80], idv[8], want[80];
    struct drive_spec spec;
    struct blockdev *b;
    int id = -1, di;

    prop(props, "drive", drive, sizeof(drive));
    snprintf(want, sizeof(want), "%s.0", bus_id);
    if (prop(props, "bus", bus, sizeof(bus)) && strcmp(bus, want) && strcmp(bus, bus_id)) {
        snprintf(err, errlen, "-device scsi-hd,%s: bus=%s: the SCSI bus is '%s'", props, bus,
                 want);
        return -1;
    }
    if (prop(props, "scsi-id", idv, sizeof(idv)))
        id = idv[0] - '0'; /* checked by lsi53c895a__check_device */
    if (id < 0) { /* no scsi-id: the lowest free one, as QEMU assigns */
        for (id = 0; id < SCSI_MAX_TARGETS && s->disk[id]; id++)
            ;
        if (id == SCSI_MAX_TARGETS) {
            snprintf(err, errlen, "-device scsi-hd,%s: all %d SCSI IDs are taken", props,
                     SCSI_MAX_TARGETS);
            return -1;
        }
    }
    if (s->disk[id]) {
        snprintf(err, errlen, "-device scsi-hd,%s: scsi-id %d is already taken", props, id);
        return -1;
    }
    for (di = 0; di < o->ndrives; di++) {
        if (blockdev__parse_spec(o->drive[di], &spec, err, errlen)) {
            char why[256];
            snprintf(why, sizeof(why), "%s", err);
            snprintf(err, errlen, "-drive %s: %s", o->drive[di], why);
            return -1;
        }
        if (spec.id[0] && !strcmp(spec.id, drive))
            break;
    }
    if (di == o->ndrives) {
        snprintf(err, errlen, "-device scsi-hd,%s: no -drive with id=%s", props, drive);
        return -1;
    }
    if (!spec.if_none) {
        snprintf(err, errlen, "-drive %s: a drive for scsi-hd needs if=none", o->drive[di]);
        return -1;
    }
    b = blockdev__open(s->m, &spec, err, errlen);
    if (!b)
        return -1;
    s->disk[id] = scsi_disk__new(s->m, b, drive);
    if (!s->disk[id]) {
        blockdev__close(b);
        snprintf(err, errlen, "out of memory creating the SCSI disk %s", drive);
        return -1;
    }
    scsi_disk__set_wake(s->disk[id], lsi__bus_wake, s);
    return 0;
}

static struct lsi *lsi_of(struct machine *m)
{
    struct pci_function *f = pci__function(m, LSI_PCI_DEV, 0);

    return f && f->reset == lsi_pci_reset ? f->opaque : NULL;
}

int lsi53c895a__create(struct machine *m, char *err, size_t errlen)
{
    const struct options *o = &m->opt;
    const char *props, *hd;
    char bus_id[64] = "scsi0";
    struct lsi *s;
    int i = 0;

    if (!find_lsi(o, &props)) {
        if (next_device(o, "scsi-hd", &i, &props)) {
            snprintf(err, errlen, "-device scsi-hd needs a SCSI adapter: add -device "
                     "lsi53c895a,id=scsi0");
            return -1;
        }
        return 0;
    }
    prop(props, "id", bus_id, sizeof(bus_id));
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory creating lsi53c895a");
        return -1;
    }
    s->m = m;
    s->target = -1;
    s->phase = -1;
    s->run_timer = timer__new(m, lsi__scripts_timer, s);
    s->gen_timer = timer__new(m, gen_expired, s);
    s->f.name = "lsi53c895a";
    s->f.regs = lsi_regs;
    s->f.nregs = (int)(sizeof(lsi_regs) / sizeof(lsi_regs[0]));
    s->f.opaque = s;
    s->f.reset = lsi_pci_reset;
    s->f.bar[0] = (struct pci_bar){.size = LSI_IO_SIZE, .io = true, .ops = &lsi_io_ops,
                                   .opaque = s};
    s->f.bar[1] = (struct pci_bar){.size = LSI_MMIO_SIZE, .ops = &lsi_mmio_ops, .opaque = s};
    s->f.bar[2] = (struct pci_bar){.size = LSI_RAM_SIZE, .ops = &lsi_ram_ops, .opaque = s};
    if (!s->run_timer || !s->gen_timer) {
        snprintf(err, errlen, "out of memory creating lsi53c895a");
        goto fail;
    }
    i = 0;
    while ((hd = next_device(o, "scsi-hd", &i, &props)))
        if (attach_disk(s, props, bus_id, err, errlen))
            goto fail;
    if (pci__register(m, LSI_PCI_DEV, 0, &s->f)) {
        snprintf(err, errlen, "lsi53c895a: PCI slot 00:%02x.0 is taken", LSI_PCI_DEV);
        goto fail;
    }
    return 0;
fail:
    for (int t = 0; t < SCSI_MAX_TARGETS; t++)
        scsi_disk__free(s->disk[t]);
    if (s->run_timer)
        timer__free(s->run_timer);
    if (s->gen_timer)
        timer__free(s->gen_timer);
    free(s);
    return -1;
}

void lsi53c895a__destroy(struct machine *m)
{
    struct lsi *s = lsi_of(m);

    if (!s)
        return;
    pci__unregister(&s->f);
    for (int t = 0; t < SCSI_MAX_TARGETS; t++)
        scsi_disk__free(s->disk[t]);
    timer__free(s->run_timer);
    timer__free(s->gen_timer);
    free(s);
}
