/*
 * PIIX4 function 3 (00:01.3), power management: 8086:7113 revision 03, class 068000,
 * interrupt pin A, registers named as in the 82371AB datasheet, sections 7 (configuration)
 * and 9 (PM I/O space). Revision 03 is the PIIX4M, whose PM timer reads are reliable; Linux
 * slows its acpi_pm clocksource down for older revisions.
 *
 * Configuration: PMBA (0x40) places the 64-byte PM I/O block, which decodes while PMIOSE
 * (PMREGMISC 0x80 bit 0) is set; at reset PMBA is 0x00000001 (the I/O indicator) and the
 * block is off until firmware programs it (0x600 on this machine: piix4__firmware_setup()
 * for boots without a BIOS). DEVACTA/B, DEVRESA-J, CNTA/B, GPICTL, the SMBus base (SMBBA
 * 0x90) and SMBus configuration are kept as state; no SMBus host is emulated.
 *
 * The PM I/O block, in the datasheet's names (ACPI's in brackets):
 *   00 PMSTS [PM1_STS]  TMROF_STS, BM_STS, GBL_STS, PWRBTN_STS, RTC_STS, PWRBTNOR_STS,
 *                       WAK_STS; write 1 to clear
 *   02 PMEN [PM1_EN]    TMROF_EN, GBL_EN, PWRBTN_EN, RTC_EN
 *   04 PMCNTRL [PM1_CNT] SCI_EN, BRLD_EN_BM, GBL_RLS (write-only), SUS_TYP [SLP_TYP] 12:10,
 *                       SUS_EN [SLP_EN] (write-only)
 *   08 PMTMR [PM_TMR]   24-bit counter at 3.579545 MHz, from the virtual clock
 *   0C GPSTS / 0E GPEN  [GPE0_STS / GPE0_EN]: state, no event source is wired
 *   10 PCNTRL, 14 PLVL2, 15 PLVL3, 18 GLBSTS, 1C DEVSTS, 20 GLBEN, 28 GLBCTL, 2C DEVCTL,
 *   30 GPIREG, 34 GPOREG: state (reading PLVL2/3 would enter C2/C3: it returns 0 at once)
 *
 * SCI_EN is set at reset, as if firmware had already switched to ACPI mode: the FADT has no
 * SMI_CMD port, so an OS never asks for the switch. Writing SUS_EN with SUS_TYP 000 (soft off,
 * the DSDT's \_S5) powers the machine off: the run loop leaves with exit status 0. Other
 * sleep types are not offered by the DSDT and are ignored as guest errors.
 *
 * The timer counts from the clock devices share (timers__now(), the virtual clock unless a
 * test froze it) and starts at 0 at reset. TMROF_STS is set each time bit 23 toggles (every
 * 2^23 ticks, ~2.34 s): it is brought up to date whenever the guest touches the block, and
 * while TMROF_EN is set a timer is armed for the next toggle, so the SCI arrives on time for
 * an OS that counts overflows by interrupt (ACPI HALs use the PM timer that way). The SCI is a
 * level on ISA IRQ 9: SCI_EN and any enabled status bit (the four PMEN events, GPSTS & GPEN).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/piix4.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/timer.h"

/* Configuration registers. */
#define PMBA 0x40
#define CNTA 0x44
#define CNTB 0x48
#define GPICTL 0x4c
#define DEVRESD 0x50
#define DEVACTA 0x54
#define DEVACTB 0x58
#define DEVRESA 0x5c
#define DEVRESB 0x60
#define DEVRESC 0x64
#define DEVRESE 0x68
#define DEVRESF 0x6c
#define DEVRESG 0x70
#define DEVRESH 0x74
#define DEVRESI 0x78
#define DEVRESJ 0x7c
#define PMREGMISC 0x80
#define SMBBA 0x90
#define SMBHSTCFG 0xd2
#define SMBSLVC 0xd3
#define SMBSHDW1 0xd4
#define SMBSHDW2 0xd5
#define SMBREV 0xd6

#define PMBA_MASK 0xffc0u
#define PMREGMISC_PMIOSE 0x01

/* PM I/O registers. */
#define PMSTS 0x00
#define PMEN 0x02
#define PMCNTRL 0x04
#define PMTMR 0x08
#define GPSTS 0x0c
#define GPEN 0x0e
#define PCNTRL 0x10
#define PLVL2 0x14
#define PLVL3 0x15
#define GLBSTS 0x18
#define DEVSTS 0x1c
#define GLBEN 0x20
#define GLBCTL 0x28
#define DEVCTL 0x2c
#define GPIREG 0x30
#define GPOREG 0x34

#define PMSTS_TMROF_STS 0x0001
#define PMSTS_BM_STS 0x0010
#define PMSTS_GBL_STS 0x0020
#define PMSTS_PWRBTN_STS 0x0100
#define PMSTS_RTC_STS 0x0400
#define PMSTS_PWRBTNOR_STS 0x0800
#define PMSTS_WAK_STS 0x8000
#define PMEN_TMROF_EN 0x0001
#define PMEN_GBL_EN 0x0020
#define PMEN_PWRBTN_EN 0x0100
#define PMEN_RTC_EN 0x0400
#define PMCNTRL_SCI_EN 0x0001
#define PMCNTRL_BRLD_EN_BM 0x0002
#define PMCNTRL_GBL_RLS 0x0004
#define PMCNTRL_SUS_TYP 0x1c00
#define PMCNTRL_SUS_TYP_SHIFT 10
#define PMCNTRL_SUS_EN 0x2000

#define PM_TMR_HZ 3579545ull
#define PM_TMR_MASK 0xffffffu
#define PM_TMR_OVERFLOW_SHIFT 23

static const struct pci_reg piix4_pm_regs[] = {
    {PCI_VENDOR_ID, 2, 0x8086, 0, 0, "VID"},
    {PCI_DEVICE_ID, 2, 0x7113, 0, 0, "DID"},
    {PCI_COMMAND, 2, 0x0000, 0x0001, 0, "PCICMD"}, /* IOSE: the SMBus I/O space */
    {PCI_STATUS, 2, 0x0280, 0, 0x3800, "PCISTS"},
    {PCI_REVISION_ID, 1, 0x03, 0, 0, "RID"},
    {PCI_CLASS_PROG, 1, 0x00, 0, 0, "PI"},
    {PCI_CLASS_DEVICE, 1, 0x80, 0, 0, "SCC"},
    {PCI_CLASS_DEVICE + 1, 1, 0x06, 0, 0, "BCC"},
    {PCI_HEADER_TYPE, 1, 0x00, 0, 0, "HEDT"},
    {PCI_INTERRUPT_LINE, 1, 0x00, 0xff, 0, "INTRLN"},
    {PCI_INTERRUPT_PIN, 1, 0x01, 0, 0, "INTRPN"},
    {PMBA, 4, 0x00000001, PMBA_MASK, 0, "PMBA"},
    {CNTA, 4, 0, 0xffffffff, 0, "CNTA"},
    {CNTB, 4, 0, 0xffffffff, 0, "CNTB"},
    {GPICTL, 4, 0, 0xffffffff, 0, "GPICTL"},
    {DEVRESD, 4, 0, 0xffffffff, 0, "DEVRESD"},
    {DEVACTA, 4, 0, 0xffffffff, 0, "DEVACTA"},
    {DEVACTB, 4, 0, 0xffffffff, 0, "DEVACTB"},
    {DEVRESA, 4, 0, 0xffffffff, 0, "DEVRESA"},
    {DEVRESB, 4, 0, 0xffffffff, 0, "DEVRESB"},
    {DEVRESC, 4, 0, 0xffffffff, 0, "DEVRESC"},
    {DEVRESE, 4, 0, 0xffffffff, 0, "DEVRESE"},
    {DEVRESF, 4, 0, 0xffffffff, 0, "DEVRESF"},
    {DEVRESG, 4, 0, 0xffffffff, 0, "DEVRESG"},
    {DEVRESH, 4, 0, 0xffffffff, 0, "DEVRESH"},
    {DEVRESI, 4, 0, 0xffffffff, 0, "DEVRESI"},
    {DEVRESJ, 4, 0, 0xffffffff, 0, "DEVRESJ"},
    {PMREGMISC, 1, 0x00, PMREGMISC_PMIOSE, 0, "PMREGMISC"},
    {SMBBA, 4, 0x00000001, 0x0000fff0, 0, "SMBBA"},
    {SMBHSTCFG, 1, 0x00, 0x0f, 0, "SMBHSTCFG"},
    {SMBSLVC, 1, 0x00, 0xff, 0, "SMBSLVC"},
    {SMBSHDW1, 1, 0x00, 0xfe, 0, "SMBSHDW1"},
    {SMBSHDW2, 1, 0x00, 0xfe, 0, "SMBSHDW2"},
    {SMBREV, 1, 0x00, 0, 0, "SMBREV"},
};

/* The PM I/O block in the same form: reset value and write rules per register. PMTMR,
 * PLVL2/3 and GPIREG are read-only and computed. */
static const struct pci_reg pm_io_regs[] = {
    {PMSTS, 2, 0x0000, 0, 0x8d31, "PMSTS"},
    {PMEN, 2, 0x0000, 0x0521, 0, "PMEN"},
    {PMCNTRL, 2, PMCNTRL_SCI_EN, PMCNTRL_SCI_EN | PMCNTRL_BRLD_EN_BM | PMCNTRL_SUS_TYP, 0,
     "PMCNTRL"},
    {GPSTS, 2, 0x0000, 0, 0xffff, "GPSTS"},
    {GPEN, 2, 0x0000, 0xffff, 0, "GPEN"},
    {PCNTRL, 4, 0x00000000, 0xffffffff, 0, "PCNTRL"},
    {GLBSTS, 2, 0x0000, 0, 0xffff, "GLBSTS"},
    {DEVSTS, 4, 0x00000000, 0, 0xffffffff, "DEVSTS"},
    {GLBEN, 2, 0x0000, 0xffff, 0, "GLBEN"},
    {GLBCTL, 4, 0x00000000, 0xffffffff, 0, "GLBCTL"},
    {DEVCTL, 4, 0x00000000, 0xffffffff, 0, "DEVCTL"},
    {GPOREG, 4, 0x7fffbfff, 0xffffffff, 0, "GPOREG"},
};

#define SCI_EVENTS (PMSTS_TMROF_STS | PMSTS_GBL_STS | PMSTS_PWRBTN_STS | PMSTS_RTC_STS)

struct piix4_pm {
    struct pci_function f;
    struct machine *m;
    uint8_t io[PIIX4_PM_LEN]; /* the block's register values */
    uint8_t io_wmask[PIIX4_PM_LEN], io_w1c[PIIX4_PM_LEN];
    uint32_t mapped;         /* where the block decodes, or PCI_BAR_UNMAPPED */
    uint64_t tmr_start_ns;   /* virtual time at which PMTMR read 0 */
    uint64_t tmr_overflows;  /* bit-23 toggles already reflected in TMROF_STS */
    struct timer *tmr_timer; /* the next toggle, while TMROF_EN is set (NULL: no timers) */
    int sci;                 /* the level we drive */
};

static uint32_t io_get(const struct piix4_pm *pm, unsigned off, unsigned size)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)pm->io[off + i] << (8 * i);
    return v;
}

static void io_set(struct piix4_pm *pm, unsigned off, unsigned size, uint32_t v)
{
    for (unsigned i = 0; i < size; i++)
        pm->io[off + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t tmr_ticks(const struct piix4_pm *pm)
{
    uint64_t ns = timers__now(pm->m) - pm->tmr_start_ns;

    return (uint64_t)((unsigned __int128)ns * PM_TMR_HZ / 1000000000u);
}

/* When the timer reaches `ticks`: the first nanosecond at which tmr_ticks() gives it. */
static uint64_t tmr_deadline(const struct piix4_pm *pm, uint64_t ticks)
{
    unsigned __int128 ns = ((unsigned __int128)ticks * 1000000000u + PM_TMR_HZ - 1) / PM_TMR_HZ;

    return pm->tmr_start_ns + (uint64_t)ns;
}

/* Bring TMROF_STS up to date with the timer; returns the timer's ticks. */
static uint64_t tmr_sync(struct piix4_pm *pm)
{
    uint64_t ticks = tmr_ticks(pm), n = ticks >> PM_TMR_OVERFLOW_SHIFT;

    if (n != pm->tmr_overflows) {
        pm->tmr_overflows = n;
        io_set(pm, PMSTS, 2, io_get(pm, PMSTS, 2) | PMSTS_TMROF_STS);
    }
    return ticks;
}

static void update_sci(struct piix4_pm *pm)
{
    uint32_t sts = io_get(pm, PMSTS, 2), en = io_get(pm, PMEN, 2);
    int level = (io_get(pm, PMCNTRL, 2) & PMCNTRL_SCI_EN) &&
                ((sts & en & SCI_EVENTS) || (io_get(pm, GPSTS, 2) & io_get(pm, GPEN, 2)));

    if (level != pm->sci) {
        pm->sci = level;
        piix4__set_sci(pm->m, level);
    }
}

/* Keep a timer on the next bit-23 toggle while the guest wants to hear of it. */
static void tmr_arm(struct piix4_pm *pm)
{
    if (!pm->tmr_timer)
        return;
    if (io_get(pm, PMEN, 2) & PMEN_TMROF_EN)
        timer__mod(pm->tmr_timer,
                   tmr_deadline(pm, (pm->tmr_overflows + 1) << PM_TMR_OVERFLOW_SHIFT));
    else
        timer__del(pm->tmr_timer);
}

static void tmr_expired(struct machine *m, void *opaque)
{
    struct piix4_pm *pm = opaque;

    (void)m;
    tmr_sync(pm);
    update_sci(pm);
    tmr_arm(pm);
}

static void suspend(struct piix4_pm *pm, uint32_t cntrl)
{
    unsigned typ = (cntrl & PMCNTRL_SUS_TYP) >> PMCNTRL_SUS_TYP_SHIFT;

    if (typ == PIIX4_SLP_TYP_S5) {
        LOG(DEV, 1, "piix4-pm: soft off (SUS_TYP %u, SUS_EN)", typ);
        machine__request(pm->m, REQ_EXIT, 0);
        return;
    }
    guest_error("piix4-pm: sleep type %u requested; only soft off (%u) is supported", typ,
                PIIX4_SLP_TYP_S5);
}

static uint32_t pm_io_read(void *opaque, uint32_t offset, unsigned size)
{
    struct piix4_pm *pm = opaque;
    uint32_t tmr = (uint32_t)tmr_sync(pm) & PM_TMR_MASK, v = 0;

    update_sci(pm);
    for (unsigned i = 0; i < size; i++) {
        unsigned b = offset + i;
        uint8_t x;

        if (b >= PMTMR && b < PMTMR + 4)
            x = (uint8_t)(tmr >> (8 * (b - PMTMR)));
        else if (b == PLVL2 || b == PLVL3)
            x = 0; /* the CPU would enter C2/C3 and leave it at the next interrupt */
        else
            x = pm->io[b];
        v |= (uint32_t)x << (8 * i);
    }
    return v;
}

static void pm_io_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct piix4_pm *pm = opaque;

    tmr_sync(pm);
    for (unsigned i = 0; i < size; i++) {
        unsigned b = offset + i;
        uint8_t v = (uint8_t)(value >> (8 * i));

        if (!pm->io_wmask[b] && !pm->io_w1c[b] && v)
            LOG(DEV, 2, "piix4-pm: write 0x%02x to read-only offset 0x%02x ignored", v, b);
        pm->io[b] = (uint8_t)((pm->io[b] & ~pm->io_wmask[b]) | (v & pm->io_wmask[b]));
        pm->io[b] &= (uint8_t) ~(v & pm->io_w1c[b]);
        if (b == PMCNTRL && (v & PMCNTRL_GBL_RLS))
            LOG(DEV, 1, "piix4-pm: GBL_RLS written; there is no SMI handler to hear it");
    }
    update_sci(pm);
    tmr_arm(pm);
    if (offset <= PMCNTRL + 1 && PMCNTRL + 1 < offset + size) {
        uint32_t hi = (value >> (8 * (PMCNTRL + 1 - offset))) & 0xff;

        if ((hi << 8) & PMCNTRL_SUS_EN)
            suspend(pm, hi << 8);
    }
}

static void pm_io_dump(void *opaque, FILE *f)
{
    struct piix4_pm *pm = opaque;

    fprintf(f, "piix4-pm: at 0x%x PMTMR=%06x SCI=%d", pm->mapped,
            (uint32_t)tmr_ticks(pm) & PM_TMR_MASK, pm->sci);
    for (size_t i = 0; i < sizeof(pm_io_regs) / sizeof(pm_io_regs[0]); i++)
        fprintf(f, " %s=%0*x", pm_io_regs[i].name, 2 * pm_io_regs[i].size,
                io_get(pm, pm_io_regs[i].off, pm_io_regs[i].size));
    fputc('\n', f);
}

/* No reset here: the PCI reset of function 3 resets the block (pm_reset). */
static const struct device_ops pm_io_ops = {
    .name = "piix4-pm",
    .read = pm_io_read,
    .write = pm_io_write,
    .dump = pm_io_dump,
};

/* PMBA or PMREGMISC changed: move the block (or stop decoding it). */
static void pm_remap(struct piix4_pm *pm)
{
    const uint8_t *c = pm->f.config;
    uint32_t base = (c[PMBA] | (uint32_t)c[PMBA + 1] << 8) & PMBA_MASK;
    uint32_t now = (c[PMREGMISC] & PMREGMISC_PMIOSE) ? base : PCI_BAR_UNMAPPED;

    if (now == pm->mapped)
        return;
    if (pm->mapped != PCI_BAR_UNMAPPED)
        bus__unclaim_pio(pm->m, (uint16_t)pm->mapped, PIIX4_PM_LEN, &pm_io_ops, pm);
    if (now != PCI_BAR_UNMAPPED &&
        bus__claim_pio(pm->m, (uint16_t)now, PIIX4_PM_LEN, &pm_io_ops, pm)) {
        guest_error("piix4-pm: PM I/O block at 0x%x overlaps another device; not decoded", now);
        now = PCI_BAR_UNMAPPED;
    }
    LOG(DEV, 1, "piix4-pm: PM I/O block 0x%x -> 0x%x", pm->mapped, now);
    pm->mapped = now;
}

static void pm_written(struct pci_function *f, unsigned off, unsigned size, uint32_t old)
{
    (void)old;
    if ((off < PMBA + 4 && PMBA < off + size) || (off <= PMREGMISC && PMREGMISC < off + size))
        pm_remap(f->opaque);
}

static void pm_reset(struct pci_function *f)
{
    struct piix4_pm *pm = f->opaque;

    memset(pm->io, 0, sizeof(pm->io));
    memset(pm->io_wmask, 0, sizeof(pm->io_wmask));
    memset(pm->io_w1c, 0, sizeof(pm->io_w1c));
    for (size_t i = 0; i < sizeof(pm_io_regs) / sizeof(pm_io_regs[0]); i++) {
        const struct pci_reg *r = &pm_io_regs[i];

        for (unsigned b = 0; b < r->size; b++) {
            pm->io[r->off + b] = (uint8_t)(r->reset >> (8 * b));
            pm->io_wmask[r->off + b] = (uint8_t)(r->wmask >> (8 * b));
            pm->io_w1c[r->off + b] = (uint8_t)(r->w1c >> (8 * b));
        }
    }
    pm->tmr_start_ns = timers__now(pm->m);
    pm->tmr_overflows = 0;
    pm_remap(pm);
    update_sci(pm);
    tmr_arm(pm); /* TMROF_EN is clear: no timer */
}

void piix4_pm__power_button(struct piix4_pm *pm)
{
    tmr_sync(pm);
    io_set(pm, PMSTS, 2, io_get(pm, PMSTS, 2) | PMSTS_PWRBTN_STS);
    update_sci(pm);
}

void piix4_pm__firmware_setup(struct piix4_pm *pm)
{
    pci__config_write(pm->m, PIIX4_DEV, PIIX4_FN_PM, PCI_INTERRUPT_LINE, 1, PIIX4_SCI_IRQ);
    pci__config_write(pm->m, PIIX4_DEV, PIIX4_FN_PM, PMBA, 4, PIIX4_PM_BASE | 1);
    pci__config_write(pm->m, PIIX4_DEV, PIIX4_FN_PM, PMREGMISC, 1, PMREGMISC_PMIOSE);
}

struct piix4_pm *piix4_pm__create(struct machine *m)
{
    struct piix4_pm *pm = calloc(1, sizeof(*pm));

    if (!pm)
        return NULL;
    pm->m = m;
    pm->mapped = PCI_BAR_UNMAPPED;
    pm->tmr_timer = timer__new(m, tmr_expired, pm);
    pm->f.name = "piix4-pm";
    pm->f.regs = piix4_pm_regs;
    pm->f.nregs = (int)(sizeof(piix4_pm_regs) / sizeof(piix4_pm_regs[0]));
    pm->f.opaque = pm;
    pm->f.reset = pm_reset;
    pm->f.config_written = pm_written;
    if (pci__register(m, PIIX4_DEV, PIIX4_FN_PM, &pm->f)) {
        timer__free(pm->tmr_timer);
        free(pm);
        return NULL;
    }
    return pm;
}

void piix4_pm__destroy(struct piix4_pm *pm)
{
    if (pm->mapped != PCI_BAR_UNMAPPED)
        bus__unclaim_pio(pm->m, (uint16_t)pm->mapped, PIIX4_PM_LEN, &pm_io_ops, pm);
    if (pm->sci)
        piix4__set_sci(pm->m, 0);
    pci__unregister(&pm->f);
    timer__free(pm->tmr_timer);
    free(pm);
}
