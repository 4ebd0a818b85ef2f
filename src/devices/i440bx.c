/*
 * Intel 82443BX host bridge, function 0 (00:00.0): the configuration registers of the
 * datasheet's section 3.3 that software of the era reads or writes, named as there.
 *
 * Identity: 8086:7190 revision 03, class 060000, and subsystem 1af4:1100. The subsystem
 * words are the QEMU machine's: SeaBIOS takes its QEMU paths (fw_cfg, its PCI setup, the
 * LSI driver) only when it finds them on the host bridge; on a real board the BIOS writes
 * its own there. No AGP port is modelled: APBASE reads 0 and no capability list is offered
 * (STATUS bit 4 and CAPPTR are 0), so neither firmware nor Linux's agpgart sizes a 256 MiB
 * aperture that has nothing behind it.
 *
 * DRB0-DRB7 hold the DRAM row boundaries a BIOS would have programmed for the guest's RAM:
 * eight rows of up to 128 MiB, in 8 MiB units, as the 440BX's 1 GiB limit allows; RAM above
 * 1 GiB is there for the guest but not describable in these registers.
 *
 * PAM0-PAM6 (0x59-0x5F) are kept as the datasheet lays them out (PAM0 bits 5:4 for
 * 0xF0000-0xFFFFF; PAMn, n = 1..6, bits 1:0 and 5:4 for the two 16 KiB halves of
 * 0xC0000 + (n - 1) * 32 KiB; 01 read DRAM, 10 write DRAM, 11 both, 00 neither). Applying
 * them to the memory map is the memory side's job: it reads i440bx__pam() from the hook
 * installed with i440bx__set_pam_hook(), which runs after every PAM change and reset.
 *
 * SMRAM (0x72) and ESMRAMC (0x73) are state only (no SMM), but keep the datasheet's
 * locking: once D_LCK is set, D_OPEN reads 0 and D_LCK, G_SMRAME, H_SMRAM_EN, TSEG_SZ and
 * T_EN are read-only until reset. Other registers are kept as written, with their masks.
 */
#include "devices/i440bx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#define I440BX_DEV 0
#define I440BX_FN 0

/* Register offsets (82443BX datasheet, host bridge configuration space). */
#define NBXCFG 0x50
#define DRAMC 0x57
#define DRAMT 0x58
#define PAM0 0x59
#define PAM6 0x5f
#define DRB0 0x60
#define FDHC 0x68
#define MBSC 0x69
#define SMRAM 0x72
#define ESMRAMC 0x73
#define RPS 0x74
#define SDRAMC 0x76
#define PGPOL 0x78
#define PMCR 0x7a
#define SCRR 0x7b
#define EAP 0x80
#define ERRCMD 0x90
#define ERRSTS 0x91

#define SMRAM_D_OPEN 0x40
#define SMRAM_D_CLS 0x20
#define SMRAM_D_LCK 0x10
#define SMRAM_G_SMRAME 0x08
#define SMRAM_C_BASE_SEG 0x02 /* 010: the compatible SMRAM at 0xA0000 */
#define ESMRAMC_H_SMRAM_EN 0x80
#define ESMRAMC_E_SMERR 0x40
#define ESMRAMC_SM_CACHE 0x20
#define ESMRAMC_SM_L1 0x10
#define ESMRAMC_SM_L2 0x08
#define ESMRAMC_TSEG_SZ 0x06
#define ESMRAMC_T_EN 0x01

#define DRB_ROWS 8
#define DRB_UNIT (8ull << 20)
#define DRB_ROW_UNITS 16 /* 128 MiB per row */

#define PAM_REG(n, rst)                                                                            \
    {                                                                                              \
        PAM0 + (n), 1, (rst), (n) == 0 ? 0x30 : 0x33, 0, "PAM" #n                                  \
    }
#define DRB_REG(n)                                                                                 \
    {                                                                                              \
        DRB0 + (n), 1, 0x01, 0xff, 0, "DRB" #n                                                     \
    }

static const struct pci_reg i440bx_regs[] = {
    {PCI_VENDOR_ID, 2, 0x8086, 0, 0, "VID"},
    {PCI_DEVICE_ID, 2, I440BX_DEVICE_ID, 0, 0, "DID"},
    {PCI_COMMAND, 2, 0x0006, 0x0140, 0, "PCICMD"}, /* SERRE, PERRE; BME and MAE fixed on */
    {PCI_STATUS, 2, 0x0200, 0, 0xf100, "PCISTS"},  /* DEVSEL medium; error bits RWC */
    {PCI_REVISION_ID, 1, 0x03, 0, 0, "RID"},
    {PCI_CLASS_PROG, 1, 0x00, 0, 0, "PI"},
    {PCI_CLASS_DEVICE, 1, 0x00, 0, 0, "SUBC"},
    {PCI_CLASS_DEVICE + 1, 1, 0x06, 0, 0, "BCC"},
    {PCI_LATENCY_TIMER, 1, 0x00, 0xf8, 0, "MLT"},
    {PCI_HEADER_TYPE, 1, 0x00, 0, 0, "HDR"},
    {PCI_SUBSYSTEM_VENDOR_ID, 2, 0x1af4, 0, 0, "SVID"},
    {PCI_SUBSYSTEM_ID, 2, 0x1100, 0, 0, "SID"},
    {NBXCFG, 4, 0x00000000, 0xffffefff, 0, "NBXCFG"},
    {DRAMC, 1, 0x01, 0x3f, 0, "DRAMC"},
    {DRAMT, 1, 0x03, 0x03, 0, "DRAMT"},
    PAM_REG(0, 0),
    PAM_REG(1, 0),
    PAM_REG(2, 0),
    PAM_REG(3, 0),
    PAM_REG(4, 0),
    PAM_REG(5, 0),
    PAM_REG(6, 0),
    DRB_REG(0),
    DRB_REG(1),
    DRB_REG(2),
    DRB_REG(3),
    DRB_REG(4),
    DRB_REG(5),
    DRB_REG(6),
    DRB_REG(7),
    {FDHC, 1, 0x00, 0xc0, 0, "FDHC"},
    {MBSC, 4, 0x00000000, 0xffffffff, 0, "MBSC"},
    {MBSC + 4, 2, 0x0000, 0xffff, 0, "MBSC+4"},
    {SMRAM, 1, SMRAM_C_BASE_SEG, SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME, 0,
     "SMRAM"},
    {ESMRAMC, 1, ESMRAMC_SM_CACHE | ESMRAMC_SM_L1 | ESMRAMC_SM_L2,
     ESMRAMC_H_SMRAM_EN | ESMRAMC_TSEG_SZ | ESMRAMC_T_EN, ESMRAMC_E_SMERR, "ESMRAMC"},
    {RPS, 2, 0x0000, 0xffff, 0, "RPS"},
    {SDRAMC, 2, 0x0000, 0x03ff, 0, "SDRAMC"},
    {PGPOL, 2, 0x0000, 0xff07, 0, "PGPOL"},
    {PMCR, 1, 0x00, 0xff, 0, "PMCR"},
    {SCRR, 2, 0x0038, 0x7fff, 0, "SCRR"},
    {EAP, 4, 0x00000000, 0, 0x00000003, "EAP"},
    {ERRCMD, 1, 0x00, 0xff, 0, "ERRCMD"},
    {ERRSTS, 2, 0x0000, 0, 0x1fff, "ERRSTS"},
};

#define NREGS (int)(sizeof(i440bx_regs) / sizeof(i440bx_regs[0]))

struct i440bx {
    struct pci_function f;
    struct pci_reg regs[NREGS]; /* the table with DRB reset values for this machine's RAM */
    void (*pam_changed)(struct machine *m);
};

static struct i440bx *i440bx_of(struct machine *m)
{
    struct pci_function *f = pci__function(m, I440BX_DEV, I440BX_FN);

    return f ? f->opaque : NULL;
}

static void pam_notify(struct i440bx *hb)
{
    if (hb->pam_changed)
        hb->pam_changed(hb->f.m);
}

static void i440bx_reset(struct pci_function *f)
{
    pam_notify(f->opaque);
}

static void i440bx_written(struct pci_function *f, unsigned off, unsigned size, uint32_t old)
{
    struct i440bx *hb = f->opaque;
    uint8_t *c = f->config;

    if (off < PAM6 + 1 && PAM0 < off + size) {
        for (unsigned i = 0; i < size; i++) {
            if (off + i >= PAM0 && off + i <= PAM6 && c[off + i] != (uint8_t)(old >> (8 * i))) {
                LOG(DEV, 2, "i440bx: PAM%u=%02x", off + i - PAM0, c[off + i]);
                pam_notify(hb);
                break;
            }
        }
    }
    if (off <= SMRAM && SMRAM < off + size) {
        uint8_t was = (uint8_t)(old >> (8 * (SMRAM - off)));

        if ((c[SMRAM] & (SMRAM_D_OPEN | SMRAM_D_CLS)) == (SMRAM_D_OPEN | SMRAM_D_CLS))
            guest_error("i440bx: SMRAM D_OPEN and D_CLS set together (0x%02x)", c[SMRAM]);
        if (was & SMRAM_D_LCK)
            c[SMRAM] |= SMRAM_D_LCK; /* only a reset clears it */
        if (c[SMRAM] & SMRAM_D_LCK) {
            /* Locked: D_OPEN drops and the SMRAM layout freezes until reset. */
            c[SMRAM] &= (uint8_t)~SMRAM_D_OPEN;
            f->wmask[SMRAM] = SMRAM_D_CLS;
            f->wmask[ESMRAMC] = 0;
        }
    }
}

static uint32_t drb_units(uint64_t ram_size)
{
    uint64_t units = (ram_size + DRB_UNIT - 1) / DRB_UNIT;

    return units > DRB_ROWS * DRB_ROW_UNITS ? DRB_ROWS * DRB_ROW_UNITS : (uint32_t)units;
}

int i440bx__create(struct machine *m, char *err, size_t errlen)
{
    struct i440bx *hb = calloc(1, sizeof(*hb));
    uint32_t units = drb_units(m->ram_size);
    int rc;

    if (!hb) {
        snprintf(err, errlen, "out of memory creating the i440BX host bridge");
        return -1;
    }
    memcpy(hb->regs, i440bx_regs, sizeof(hb->regs));
    for (int i = 0; i < NREGS; i++) {
        unsigned row = hb->regs[i].off - DRB0;

        if (hb->regs[i].off >= DRB0 && row < DRB_ROWS)
            hb->regs[i].reset =
                units < (row + 1) * DRB_ROW_UNITS ? units : (row + 1) * DRB_ROW_UNITS;
    }
    hb->f.name = "i440bx";
    hb->f.regs = hb->regs;
    hb->f.nregs = NREGS;
    hb->f.opaque = hb;
    hb->f.reset = i440bx_reset;
    hb->f.config_written = i440bx_written;
    rc = pci__register(m, I440BX_DEV, I440BX_FN, &hb->f);
    if (rc) {
        free(hb);
        snprintf(err, errlen, "i440bx: cannot register the host bridge at 00:00.0 (%s)",
                 rc == -ENODEV ? "no PCI bus" : "slot taken");
        return -1;
    }
    return 0;
}

void i440bx__destroy(struct machine *m)
{
    struct i440bx *hb = i440bx_of(m);

    if (!hb)
        return;
    pci__unregister(&hb->f);
    free(hb);
}

int i440bx__pam(struct machine *m, uint32_t addr)
{
    struct i440bx *hb = i440bx_of(m);
    unsigned seg;
    uint8_t v;

    if (!hb || addr < 0xc0000 || addr > 0xfffff)
        return -1;
    if (addr >= 0xf0000)
        return hb->f.config[PAM0] >> 4 & 3;
    seg = (addr - 0xc0000) >> 14; /* 16 KiB segments, two per register */
    v = hb->f.config[PAM0 + 1 + seg / 2];
    return (seg & 1 ? v >> 4 : v) & 3;
}

void i440bx__set_pam_hook(struct machine *m, void (*pam_changed)(struct machine *m))
{
    struct i440bx *hb = i440bx_of(m);

    if (hb)
        hb->pam_changed = pam_changed;
}

uint8_t i440bx__smram(struct machine *m)
{
    struct i440bx *hb = i440bx_of(m);

    return hb ? hb->f.config[SMRAM] : 0;
}

uint8_t i440bx__esmramc(struct machine *m)
{
    struct i440bx *hb = i440bx_of(m);

    return hb ? hb->f.config[ESMRAMC] : 0;
}
