/*
 * devices/pci and devices/i440bx through ports 0xcf8/0xcfc as the guest sees them:
 * configuration mechanism #1, absent functions, the host bridge's identity, masks, PAM and
 * SMRAM registers, BAR sizing and decoding with a test function, INTx delivery through the
 * PIIX4's PIRQ router into m->irq, and reset.
 */
#include <errno.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/i440bx.h"
#include "devices/pci.h"
#include "devices/piix4.h"
#include "fixture.h"

#define CONFIG_ADDRESS 0xcf8
#define CONFIG_DATA 0xcfc

static uint32_t cfg_addr(int dev, int fn, unsigned off)
{
    return 0x80000000u | (uint32_t)dev << 11 | (uint32_t)fn << 8 | (off & 0xfc);
}

static uint32_t cfg_read(int dev, int fn, unsigned off, unsigned size)
{
    bus__pio_write(fx, CONFIG_ADDRESS, 4, cfg_addr(dev, fn, off));
    return bus__pio_read(fx, (uint16_t)(CONFIG_DATA + (off & 3)), size);
}

static void cfg_write(int dev, int fn, unsigned off, unsigned size, uint32_t v)
{
    bus__pio_write(fx, CONFIG_ADDRESS, 4, cfg_addr(dev, fn, off));
    bus__pio_write(fx, (uint16_t)(CONFIG_DATA + (off & 3)), size, v);
}

/* ---- recording m->irq ---- */

static int irq_level[16], irq_calls;

static void record_irq(struct machine *m, int line, int level)
{
    (void)m;
    ck_assert_int_ge(line, 0);
    ck_assert_int_lt(line, 16);
    irq_level[line] = level;
    irq_calls++;
}

static void record_irqs(void)
{
    memset(irq_level, 0, sizeof(irq_level));
    irq_calls = 0;
    fx->irq = record_irq;
}

/* ---- a test function with every kind of BAR ---- */

static struct probe {
    uint32_t offset, value;
    unsigned reads, writes;
} probe;

static uint32_t probe_read(void *opaque, uint32_t offset, unsigned size)
{
    struct probe *p = opaque;

    (void)size;
    p->offset = offset;
    p->reads++;
    return 0x5a000000u | offset;
}

static void probe_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct probe *p = opaque;

    (void)size;
    p->offset = offset;
    p->value = value;
    p->writes++;
}

static const struct device_ops probe_ops = {
    .name = "probe", .read = probe_read, .write = probe_write};

static const struct pci_reg test_regs[] = {
    {PCI_VENDOR_ID, 2, 0x1000, 0, 0, "VID"},
    {PCI_DEVICE_ID, 2, 0x0012, 0, 0, "DID"},
    {PCI_COMMAND, 2, 0x0000, 0x0147, 0, "PCICMD"},
    {PCI_STATUS, 2, 0x0200, 0, 0xf900, "PCISTS"},
    {PCI_CLASS_DEVICE, 2, 0x0100, 0, 0, "CLASS"},
    {PCI_INTERRUPT_LINE, 1, 0x00, 0xff, 0, "INTLINE"},
    {PCI_INTERRUPT_PIN, 1, 0x01, 0, 0, "INTPIN"},
    {0x40, 4, 0x11223344, 0x0000ffff, 0xff000000, "MIXED"},
};

static struct bar_event {
    int calls, bar;
    uint32_t old_addr, new_addr;
} bar_event;

static void test_bar_changed(struct pci_function *f, int bar, uint32_t old_addr, uint32_t new_addr)
{
    (void)f;
    bar_event.calls++;
    bar_event.bar = bar;
    bar_event.old_addr = old_addr;
    bar_event.new_addr = new_addr;
}

static void init_test_function(struct pci_function *f)
{
    memset(f, 0, sizeof(*f));
    f->name = "test";
    f->regs = test_regs;
    f->nregs = (int)(sizeof(test_regs) / sizeof(test_regs[0]));
    f->bar[0] = (struct pci_bar){.size = 256, .io = true, .ops = &probe_ops, .opaque = &probe};
    f->bar[1] = (struct pci_bar){.size = 4096, .ops = &probe_ops, .opaque = &probe};
    f->bar[2] = (struct pci_bar){.size = 0x2000, .prefetchable = true};
    f->bar[PCI_ROM_SLOT] = (struct pci_bar){.size = 0x8000, .ops = &probe_ops, .opaque = &probe};
    f->bar_changed = test_bar_changed;
}

/* ---- configuration mechanism ---- */

START_TEST(config_address_register)
{
    bus__pio_write(fx, CONFIG_ADDRESS, 4, 0xffffffff);
    ck_assert_uint_eq(bus__pio_read(fx, CONFIG_ADDRESS, 4), 0x80fffffc); /* 30:24, 1:0 read 0 */
    bus__pio_write(fx, CONFIG_ADDRESS, 4, 0x80000000);
    ck_assert_uint_eq(bus__pio_read(fx, CONFIG_ADDRESS, 4), 0x80000000);
    /* Byte and word accesses beside 0xcf9 are not CONFIG_ADDRESS (Linux's type-1 probe). */
    bus__pio_write(fx, CONFIG_ADDRESS + 3, 1, 0x01);
    ck_assert_uint_eq(bus__pio_read(fx, CONFIG_ADDRESS, 4), 0x80000000);
    ck_assert_uint_eq(bus__pio_read(fx, CONFIG_ADDRESS, 1), 0xff);
    ck_assert_uint_eq(bus__pio_read(fx, CONFIG_ADDRESS + 2, 2), 0xffff);
}
END_TEST

START_TEST(absent_functions_read_all_ones)
{
    ck_assert_uint_eq(cfg_read(0x1f, 0, 0, 4), 0xffffffff);
    ck_assert_uint_eq(cfg_read(0, 1, 0, 4), 0xffffffff); /* host bridge is single-function */
    ck_assert_uint_eq(cfg_read(1, 2, 0, 2), 0xffff);     /* PIIX4 has no function 2 (USB) */
    ck_assert_uint_eq(cfg_read(5, 0, 0x3c, 1), 0xff);
    bus__pio_write(fx, CONFIG_ADDRESS, 4, 0x80010000); /* bus 1: no bridge leads there */
    ck_assert_uint_eq(bus__pio_read(fx, CONFIG_DATA, 4), 0xffffffff);
    bus__pio_write(fx, CONFIG_ADDRESS, 4, 0x00000000); /* enable clear: not a config cycle */
    ck_assert_uint_eq(bus__pio_read(fx, CONFIG_DATA, 4), 0xffffffff);
    bus__pio_write(fx, CONFIG_DATA, 4, 0x12345678); /* dropped */
    cfg_write(0x1f, 0, 0x10, 4, 0xffffffff);        /* to nobody: dropped */
}
END_TEST

START_TEST(host_bridge_identity)
{
    ck_assert_uint_eq(cfg_read(0, 0, PCI_VENDOR_ID, 4), (uint32_t)I440BX_DEVICE_ID << 16 | 0x8086);
    ck_assert_uint_eq(cfg_read(0, 0, PCI_REVISION_ID, 4), 0x06000003); /* class 060000, rev 3 */
    ck_assert_uint_eq(cfg_read(0, 0, PCI_HEADER_TYPE, 1), 0x00);
    ck_assert_uint_eq(cfg_read(0, 0, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
    ck_assert_uint_eq(cfg_read(0, 0, PCI_COMMAND, 4), 0x02000006);
    ck_assert_uint_eq(cfg_read(0, 0, PCI_CAPABILITY_LIST, 1), 0x00); /* no AGP capability */
    ck_assert_uint_eq(cfg_read(0, 0, 0x10, 4), 0);                   /* no aperture BAR */
    /* Sub-dword reads at every offset of CONFIG_DATA. */
    ck_assert_uint_eq(cfg_read(0, 0, 0x02, 2), I440BX_DEVICE_ID);
    ck_assert_uint_eq(cfg_read(0, 0, 0x03, 1), I440BX_DEVICE_ID >> 8);
    ck_assert_uint_eq(cfg_read(0, 0, 0x0b, 1), 0x06);
    /* Read-only registers ignore writes; MLT keeps only bits 7:3. */
    cfg_write(0, 0, PCI_VENDOR_ID, 4, 0);
    ck_assert_uint_eq(cfg_read(0, 0, PCI_VENDOR_ID, 2), 0x8086);
    cfg_write(0, 0, PCI_LATENCY_TIMER, 1, 0xff);
    ck_assert_uint_eq(cfg_read(0, 0, PCI_LATENCY_TIMER, 1), 0xf8);
    /* Reserved bytes read 0 and stay 0. */
    cfg_write(0, 0, 0xfc, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_read(0, 0, 0xfc, 4), 0);
}
END_TEST

START_TEST(host_bridge_drb_from_ram)
{
    /* 32 MiB: four 8 MiB units, all in row 0. */
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(cfg_read(0, 0, 0x60 + i, 1), 4);
}
END_TEST

static int pam_calls;

static void count_pam(struct machine *m)
{
    (void)m;
    pam_calls++;
}

START_TEST(host_bridge_pam)
{
    pam_calls = 0;
    i440bx__set_pam_hook(fx, count_pam);
    for (uint32_t a = 0xc0000; a < 0x100000; a += 0x4000)
        ck_assert_int_eq(i440bx__pam(fx, a), 0);
    ck_assert_int_eq(i440bx__pam(fx, 0xbffff), -1);
    ck_assert_int_eq(i440bx__pam(fx, 0x100000), -1);

    /* SeaBIOS's unlock: PAM1-6 = 0x33 and PAM0 = 0x30, as two dword writes from 0x58. */
    cfg_write(0, 0, 0x58, 4, 0x33333003);
    cfg_write(0, 0, 0x5c, 4, 0x33333333);
    ck_assert_uint_eq(cfg_read(0, 0, 0x58, 4), 0x33333003); /* DRAMT (0x58) keeps bits 1:0 */
    ck_assert_int_ge(pam_calls, 1);
    ck_assert_int_eq(i440bx__pam(fx, 0xf0000), I440BX_PAM_RE | I440BX_PAM_WE);
    ck_assert_int_eq(i440bx__pam(fx, 0xc4000), I440BX_PAM_RE | I440BX_PAM_WE);

    /* Write-protect: PAM0 = 0x10 (read DRAM only); PAM1 low half 01, high half 00. */
    pam_calls = 0;
    cfg_write(0, 0, 0x59, 2, 0x0110);
    ck_assert_int_eq(pam_calls, 1);
    ck_assert_int_eq(i440bx__pam(fx, 0xfffff), I440BX_PAM_RE);
    ck_assert_int_eq(i440bx__pam(fx, 0xc0000), I440BX_PAM_RE);
    ck_assert_int_eq(i440bx__pam(fx, 0xc4000), 0);
    ck_assert_int_eq(i440bx__pam(fx, 0xc8000), I440BX_PAM_RE | I440BX_PAM_WE);
    /* PAM0's low nibble and bits 7:6 everywhere are reserved. */
    cfg_write(0, 0, 0x59, 1, 0xff);
    ck_assert_uint_eq(cfg_read(0, 0, 0x59, 1), 0x30);
    /* Writing the same value again is no change. */
    pam_calls = 0;
    cfg_write(0, 0, 0x59, 1, 0x30);
    ck_assert_int_eq(pam_calls, 0);

    bus__reset_all(fx);
    ck_assert_int_eq(pam_calls, 1); /* reset tells the memory side too */
    ck_assert_int_eq(i440bx__pam(fx, 0xf0000), 0);
}
END_TEST

START_TEST(host_bridge_smram_lock)
{
    ck_assert_uint_eq(cfg_read(0, 0, 0x72, 1), 0x02);
    ck_assert_uint_eq(cfg_read(0, 0, 0x73, 1), 0x38);
    cfg_write(0, 0, 0x72, 1, 0xef);                   /* all but D_LCK (and a guest error) */
    ck_assert_uint_eq(cfg_read(0, 0, 0x72, 1), 0x6a); /* D_OPEN | D_CLS | G_SMRAME | C_BASE */
    cfg_write(0, 0, 0x72, 1, 0x4a);                   /* D_OPEN, G_SMRAME */
    cfg_write(0, 0, 0x73, 1, 0x87);                   /* H_SMRAM_EN, TSEG_SZ, T_EN */
    ck_assert_uint_eq(cfg_read(0, 0, 0x73, 1), 0xbf);
    cfg_write(0, 0, 0x72, 1, 0x5a);                    /* lock */
    ck_assert_uint_eq(i440bx__smram(fx), 0x1a);        /* D_OPEN dropped */
    cfg_write(0, 0, 0x72, 1, 0x62);                    /* try to open, unlock, disable */
    ck_assert_uint_eq(i440bx__smram(fx), 0x1a | 0x20); /* only D_CLS changed */
    cfg_write(0, 0, 0x73, 1, 0x00);
    ck_assert_uint_eq(i440bx__esmramc(fx), 0xbf);
    bus__reset_all(fx);
    ck_assert_uint_eq(i440bx__smram(fx), 0x02);
    cfg_write(0, 0, 0x72, 1, 0x40);
    ck_assert_uint_eq(i440bx__smram(fx), 0x42); /* writable again after reset */
}
END_TEST

START_TEST(piix4_functions_identity)
{
    ck_assert_uint_eq(cfg_read(1, 0, 0, 4), 0x71108086);
    ck_assert_uint_eq(cfg_read(1, 0, 0x08, 4) >> 8, 0x060100);
    ck_assert_uint_eq(cfg_read(1, 0, PCI_HEADER_TYPE, 1), 0x80);
    ck_assert_uint_eq(cfg_read(1, 0, PCI_COMMAND, 2), 0x0007);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(cfg_read(1, 0, 0x60 + i, 1), 0x80);
    ck_assert_uint_eq(cfg_read(1, 1, 0, 4), 0x71118086);
    ck_assert_uint_eq(cfg_read(1, 1, 0x08, 4) >> 8, 0x010180);
    ck_assert_uint_eq(cfg_read(1, 1, PCI_INTERRUPT_PIN, 1), 0);
    ck_assert_uint_eq(cfg_read(1, 3, 0, 4), 0x71138086);
    ck_assert_uint_eq(cfg_read(1, 3, 0x08, 4), 0x06800003);
    ck_assert_uint_eq(cfg_read(1, 3, PCI_INTERRUPT_PIN, 1), 1);
    ck_assert_uint_eq(cfg_read(1, 3, 0x40, 4), 0x00000001); /* PMBA: I/O indicator */
    ck_assert_uint_eq(cfg_read(1, 3, 0x90, 4), 0x00000001); /* SMBBA */
}
END_TEST

/* ---- BARs with a test function ---- */

START_TEST(register_errors)
{
    static struct pci_function f, g;

    init_test_function(&f);
    ck_assert_int_eq(pci__register(fx, 32, 0, &f), -EINVAL);
    ck_assert_int_eq(pci__register(fx, 0, 8, &f), -EINVAL);
    ck_assert_int_eq(pci__register(fx, 0, 0, &f), -EBUSY); /* the host bridge */
    init_test_function(&g);
    g.bar[3] = (struct pci_bar){.size = 24, .io = true}; /* not a power of two */
    ck_assert_int_eq(pci__register(fx, 5, 0, &g), -EINVAL);
    g.bar[3] = (struct pci_bar){.size = 8}; /* memory BARs are >= 16 bytes */
    ck_assert_int_eq(pci__register(fx, 5, 0, &g), -EINVAL);
    ck_assert_int_eq(pci__register(fx, 5, 0, &f), 0);
    ck_assert_ptr_eq(pci__function(fx, 5, 0), &f);
    pci__unregister(&f);
    ck_assert_ptr_null(pci__function(fx, 5, 0));
    ck_assert_uint_eq(cfg_read(5, 0, 0, 4), 0xffffffff);
}
END_TEST

START_TEST(bar_sizing)
{
    static struct pci_function f;

    init_test_function(&f);
    ck_assert_int_eq(pci__register(fx, 5, 0, &f), 0);
    ck_assert_uint_eq(cfg_read(5, 0, 0x10, 4), 0x00000001);
    ck_assert_uint_eq(cfg_read(5, 0, 0x14, 4), 0x00000000);
    ck_assert_uint_eq(cfg_read(5, 0, 0x18, 4), 0x00000008);
    for (unsigned off = 0x10; off <= 0x30; off += 4)
        cfg_write(5, 0, off, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_read(5, 0, 0x10, 4), 0xffffff01); /* 256 bytes of I/O */
    ck_assert_uint_eq(cfg_read(5, 0, 0x14, 4), 0xfffff000); /* 4 KiB of memory */
    ck_assert_uint_eq(cfg_read(5, 0, 0x18, 4), 0xffffe008); /* 8 KiB prefetchable */
    ck_assert_uint_eq(cfg_read(5, 0, 0x1c, 4), 0);          /* unimplemented */
    ck_assert_uint_eq(cfg_read(5, 0, 0x30, 4), 0xffff8001); /* 32 KiB ROM, enable bit */
    /* Masks: a read-only ID, a status register's write-1-to-clear byte, a mixed register. */
    cfg_write(5, 0, 0x40, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_read(5, 0, 0x40, 4), 0x0022ffff);
    cfg_write(5, 0, 0x40, 2, 0x0000);
    ck_assert_uint_eq(cfg_read(5, 0, 0x40, 4), 0x00220000);
    pci__unregister(&f);
}
END_TEST

START_TEST(bar_decoding_claims_the_bus)
{
    static struct pci_function f;

    memset(&probe, 0, sizeof(probe));
    memset(&bar_event, 0, sizeof(bar_event));
    init_test_function(&f);
    ck_assert_int_eq(pci__register(fx, 5, 0, &f), 0);
    cfg_write(5, 0, 0x10, 4, 0xc000);
    cfg_write(5, 0, 0x14, 4, 0xfe000000);
    ck_assert_int_eq(bar_event.calls, 0); /* COMMAND still off */
    ck_assert_uint_eq(bus__pio_read(fx, 0xc010, 1), 0xff);

    cfg_write(5, 0, PCI_COMMAND, 2, PCI_COMMAND_IO);
    ck_assert_int_eq(bar_event.calls, 1);
    ck_assert_int_eq(bar_event.bar, 0);
    ck_assert_uint_eq(bar_event.old_addr, PCI_BAR_UNMAPPED);
    ck_assert_uint_eq(bar_event.new_addr, 0xc000);
    ck_assert_uint_eq(bus__pio_read(fx, 0xc010, 4), 0x5a000010);
    bus__pio_write(fx, 0xc0ff, 1, 0x42);
    ck_assert_uint_eq(probe.offset, 0xff);
    ck_assert_uint_eq(probe.value, 0x42);
    ck_assert_int_eq(bus__mmio_claimed(fx, 0xfe000000), 0);

    cfg_write(5, 0, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    ck_assert_int_eq(bus__mmio_claimed(fx, 0xfe000fff), 1);
    ck_assert_int_eq(bus__mmio_claimed(fx, 0xfe001000), 0);
    ck_assert_uint_eq(f.bar[2].mapped, PCI_BAR_UNMAPPED); /* BAR2 is still at 0 */

    /* Moving a BAR moves the claim. */
    cfg_write(5, 0, 0x10, 4, 0xd001);
    ck_assert_uint_eq(bar_event.old_addr, 0xc000);
    ck_assert_uint_eq(bar_event.new_addr, 0xd000);
    ck_assert_uint_eq(bus__pio_read(fx, 0xc010, 1), 0xff);
    ck_assert_uint_eq(bus__pio_read(fx, 0xd010, 1), 0x10);

    /* Sizing with decode on: all ones is never an address. */
    cfg_write(5, 0, 0x14, 4, 0xffffffff);
    ck_assert_uint_eq(f.bar[1].mapped, PCI_BAR_UNMAPPED);
    ck_assert_int_eq(bus__mmio_claimed(fx, 0xfffff000), 0);
    cfg_write(5, 0, 0x14, 4, 0xfe000000);
    ck_assert_uint_eq(f.bar[1].mapped, 0xfe000000);

    /* The ROM decodes only with its enable bit. */
    cfg_write(5, 0, 0x30, 4, 0xfd000000);
    ck_assert_uint_eq(f.bar[PCI_ROM_SLOT].mapped, PCI_BAR_UNMAPPED);
    cfg_write(5, 0, 0x30, 4, 0xfd000001);
    ck_assert_uint_eq(f.bar[PCI_ROM_SLOT].mapped, 0xfd000000);

    /* An I/O BAR on top of COM1 is a guest mistake: not decoded, the UART keeps its ports. */
    cfg_write(5, 0, 0x10, 4, 0x3f8 & ~0xffu);
    ck_assert_uint_eq(f.bar[0].mapped, PCI_BAR_UNMAPPED);
    ck_assert_uint_eq(bus__pio_read(fx, 0x3fd, 1), 0x60); /* LSR */

    /* Reset: COMMAND is 0, nothing decodes, the BARs read their type bits again. */
    bus__reset_all(fx);
    ck_assert_int_eq(bus__mmio_claimed(fx, 0xfe000000), 0);
    ck_assert_int_eq(bus__mmio_claimed(fx, 0xfd000000), 0);
    ck_assert_uint_eq(cfg_read(5, 0, 0x10, 4), 1);
    pci__unregister(&f);
}
END_TEST

/* ---- INTx and PIRQ routing ---- */

START_TEST(intx_through_pirq_routing)
{
    static struct pci_function a, b;

    record_irqs();
    init_test_function(&a);
    init_test_function(&b);
    ck_assert_int_eq(pci__register(fx, 5, 0, &a), 0);
    ck_assert_int_eq(pci__register(fx, 9, 0, &b), 0);
    ck_assert_int_eq(pci__pirq_of(&a), 0); /* (5 + 0 - 1) & 3: PIRQA */
    ck_assert_int_eq(pci__pirq_of(&b), 0);

    pci__set_irq(&a, 1); /* PIRQRCA is 0x80: routing disabled */
    ck_assert_int_eq(irq_calls, 0);
    ck_assert_int_eq(pci__pirq_level(fx, 0), 1);
    cfg_write(1, 0, 0x60, 1, 11); /* route while asserted: the line rises now */
    ck_assert_int_eq(irq_level[11], 1);
    ck_assert_int_eq(irq_calls, 1);

    pci__set_irq(&b, 1); /* shared: already up */
    ck_assert_int_eq(irq_calls, 1);
    pci__set_irq(&a, 0);
    ck_assert_int_eq(irq_level[11], 1);
    pci__set_irq(&a, 0); /* no change, no call */
    ck_assert_int_eq(irq_calls, 1);

    cfg_write(1, 0, 0x60, 1, 10); /* move: 11 drops, 10 rises */
    ck_assert_int_eq(irq_level[11], 0);
    ck_assert_int_eq(irq_level[10], 1);
    cfg_write(1, 0, 0x60, 1, 2); /* reserved IRQ: unrouted */
    ck_assert_int_eq(irq_level[10], 0);
    ck_assert_int_eq(irq_level[2], 0);
    cfg_write(1, 0, 0x60, 1, 0x8a); /* IRQROUTEN set: still nothing */
    ck_assert_int_eq(irq_level[10], 0);
    cfg_write(1, 0, 0x60, 1, 0x0a);
    ck_assert_int_eq(irq_level[10], 1);
    pci__set_irq(&b, 0);
    ck_assert_int_eq(irq_level[10], 0);
    ck_assert_uint_eq(cfg_read(1, 0, 0x60, 1), 0x0a);
    cfg_write(1, 0, 0x60, 1, 0x7f); /* bits 6:4 are reserved */
    ck_assert_uint_eq(cfg_read(1, 0, 0x60, 1), 0x0f);
    pci__unregister(&a);
    pci__unregister(&b);
}
END_TEST

START_TEST(pirq_swizzle_and_sci_share_a_line)
{
    static struct pci_function f[4];
    static const int dev[4] = {3, 4, 6, 7};

    record_irqs();
    for (int i = 0; i < 4; i++) {
        init_test_function(&f[i]);
        ck_assert_int_eq(pci__register(fx, dev[i], 0, &f[i]), 0);
    }
    ck_assert_int_eq(pci__pirq_of(&f[0]), 2); /* 00:03.0 INTA#: PIRQC, as the LSI on QEMU */
    ck_assert_int_eq(pci__pirq_of(&f[1]), 3);
    ck_assert_int_eq(pci__pirq_of(&f[2]), 1);
    ck_assert_int_eq(pci__pirq_of(&f[3]), 2);

    /* The firmware defaults: PIRQA-D -> 10, 10, 11, 11 and Interrupt Line to match. */
    piix4__firmware_setup(fx);
    ck_assert_uint_eq(cfg_read(3, 0, PCI_INTERRUPT_LINE, 1), 11);
    ck_assert_uint_eq(cfg_read(6, 0, PCI_INTERRUPT_LINE, 1), 10);
    ck_assert_uint_eq(cfg_read(1, 3, PCI_INTERRUPT_LINE, 1), 9);
    pci__set_irq(&f[0], 1);
    ck_assert_int_eq(irq_level[11], 1);
    pci__set_irq(&f[0], 0);
    ck_assert_int_eq(irq_level[11], 0);

    /* PIRQB routed to 9, where the SCI also is: the line is the OR of both. */
    cfg_write(1, 0, 0x61, 1, 9);
    pci__set_irq(&f[2], 1);
    ck_assert_int_eq(irq_level[9], 1);
    piix4__set_sci(fx, 1);
    pci__set_irq(&f[2], 0);
    ck_assert_int_eq(irq_level[9], 1);
    piix4__set_sci(fx, 0);
    ck_assert_int_eq(irq_level[9], 0);

    /* A reset disables routing: asserted PIRQs let go of their lines. */
    cfg_write(1, 0, 0x63, 1, 5);
    pci__set_irq(&f[1], 1);
    ck_assert_int_eq(irq_level[5], 1);
    bus__reset_all(fx);
    ck_assert_int_eq(irq_level[5], 0);
    for (int i = 0; i < 4; i++)
        pci__unregister(&f[i]);
}
END_TEST

START_TEST(dump_does_not_crash)
{
    FILE *f = fopen("/dev/null", "w");

    ck_assert_ptr_nonnull(f);
    pci__dump(fx, f);
    fclose(f);
}
END_TEST

static Suite *pci_suite(void)
{
    Suite *s = suite_create("devices/pci");
    TCase *cfg = tcase_create("config");
    TCase *hb = tcase_create("i440bx");
    TCase *bar = tcase_create("bars");
    TCase *irq = tcase_create("intx");

    tcase_add_checked_fixture(cfg, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(cfg, config_address_register);
    tcase_add_test(cfg, absent_functions_read_all_ones);
    tcase_add_test(cfg, piix4_functions_identity);
    tcase_add_test(cfg, dump_does_not_crash);
    suite_add_tcase(s, cfg);

    tcase_add_checked_fixture(hb, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(hb, host_bridge_identity);
    tcase_add_test(hb, host_bridge_drb_from_ram);
    tcase_add_test(hb, host_bridge_pam);
    tcase_add_test(hb, host_bridge_smram_lock);
    suite_add_tcase(s, hb);

    tcase_add_checked_fixture(bar, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(bar, register_errors);
    tcase_add_test(bar, bar_sizing);
    tcase_add_test(bar, bar_decoding_claims_the_bus);
    suite_add_tcase(s, bar);

    tcase_add_checked_fixture(irq, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(irq, intx_through_pirq_routing);
    tcase_add_test(irq, pirq_swizzle_and_sci_share_a_line);
    suite_add_tcase(s, irq);
    return s;
}

int main(void)
{
    return fixture_run_suite(pci_suite());
}
