/*
 * PCI bus 0 of the i440BX/PIIX4 board: configuration mechanism #1 at 0xcf8/0xcfc, a registry
 * of functions with table-driven configuration space, BAR decoding, and INTx delivery through
 * the PIIX4's PIRQ router. See pci.c for the rules.
 */
#ifndef TACHYON_PCI_H
#define TACHYON_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct machine;
struct device_ops;

/* Standard header offsets (PCI Local Bus Specification 2.2, type 0 header). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_HEADER_TYPE_MULTI_FUNCTION 0x80
#define PCI_BASE_ADDRESS_SPACE_IO 0x01
#define PCI_BASE_ADDRESS_MEM_PREFETCH 0x08
#define PCI_ROM_ADDRESS_ENABLE 0x01

#define PCI_DEVICES 32
#define PCI_FUNCTIONS 8
#define PCI_NUM_BARS 7 /* BAR0..BAR5 and the expansion ROM */
#define PCI_ROM_SLOT 6
#define PCI_BAR_UNMAPPED 0xffffffffu
#define PCI_PIRQS 4 /* PIRQA#..PIRQD# */

/* One register of a function's configuration space: its reset value and who may change
 * which bits. Bytes no register covers are reserved: they read 0 and ignore writes. */
struct pci_reg {
    uint8_t off;      /* offset in configuration space */
    uint8_t size;     /* 1, 2 or 4 */
    uint32_t reset;   /* value after reset */
    uint32_t wmask;   /* bits a guest write sets to the written value */
    uint32_t w1c;     /* bits a guest write of 1 clears (status bits); disjoint from wmask */
    const char *name; /* the datasheet's name, for dumps */
};

struct pci_bar {
    uint32_t size; /* bytes, a power of two; 0: this BAR does not exist */
    bool io;       /* I/O space (size >= 4), else 32-bit memory (size >= 16) */
    bool prefetchable;
    const struct device_ops *ops; /* claimed on the bus while mapped; NULL: the hook does it */
    void *opaque;
    uint32_t mapped; /* pci.c: where it decodes now, or PCI_BAR_UNMAPPED */
};

struct pci_function {
    const char *name;
    const struct pci_reg *regs; /* the configuration registers, applied at every reset */
    int nregs;
    struct pci_bar bar[PCI_NUM_BARS];

    /* Optional hooks; opaque is the device's own state. */
    void *opaque;
    void (*reset)(struct pci_function *f); /* device state beyond config space */
    /* After a guest write has been applied to config space (masks, RW1C, BAR decode):
     * `old` holds the previous contents of the bytes written, so the device can react
     * (remap, reroute) or undo a change its datasheet forbids. */
    void (*config_written)(struct pci_function *f, unsigned off, unsigned size, uint32_t old);
    /* The value a guest read returns, given what config space holds (registers whose value
     * lives elsewhere). */
    uint32_t (*config_read)(struct pci_function *f, unsigned off, unsigned size, uint32_t v);
    /* After a BAR started or stopped decoding or moved (PCI_BAR_UNMAPPED for none). */
    void (*bar_changed)(struct pci_function *f, int bar, uint32_t old_addr, uint32_t new_addr);

    /* Set by pci.c. */
    uint8_t config[256];
    uint8_t wmask[256];
    uint8_t w1cmask[256];
    struct machine *m;
    int dev, fn;
    int intx_level; /* what the device drives on its INTx# pin (1 asserted) */
};

/* Machine table entry: before every device with a PCI function. */
int pci__create(struct machine *m, char *err, size_t errlen);
void pci__destroy(struct machine *m);

/* Put f at 00:dev.fn and reset it (config registers, then f->reset). Returns 0, or -EINVAL
 * (bad slot or BAR description), -EBUSY (slot taken), -ENODEV (no PCI bus in m). */
int pci__register(struct machine *m, int dev, int fn, struct pci_function *f);
/* Take f off the bus: its BARs stop decoding and its INTx# pin is released. */
void pci__unregister(struct pci_function *f);
struct pci_function *pci__function(struct machine *m, int dev, int fn);

/* Configuration cycles from the monitor (firmware setup, tests), with the guest's rules. */
uint32_t pci__config_read(struct machine *m, int dev, int fn, unsigned off, unsigned size);
void pci__config_write(struct machine *m, int dev, int fn, unsigned off, unsigned size,
                       uint32_t value);

/* Reset one function as a PCI reset does: config registers, BARs, then f->reset. */
void pci__reset_function(struct pci_function *f);

/* Drive f's INTx# pin (from its Interrupt Pin register): 1 asserted, 0 idle. The pin reaches
 * PIRQ[(dev + pin - 1) & 3] (pin 0-based: INTA# = 0), as the i440FX/PIIX boards QEMU models
 * are wired; the PIIX4 routes PIRQs to ISA IRQs. Lines are shared and level-triggered. */
void pci__set_irq(struct pci_function *f, int level);
/* The PIRQ input a function's INTx# pin reaches, or -1 if it has no interrupt pin. */
int pci__pirq_of(const struct pci_function *f);

/* The PIRQ router (the PIIX4's function 0): told whenever a PIRQ line's level changes, and
 * asked for the current levels after it changed its routing. */
void pci__set_pirq_router(struct machine *m, void (*changed)(void *opaque, int pirq, int level),
                          void *opaque);
int pci__pirq_level(struct machine *m, int pirq);

/* Port 0xcf9 (the PIIX4 reset control register) lies inside CONFIG_ADDRESS's 0xcf8-0xcfb:
 * the PCI host claims all four ports, takes dword accesses at 0xcf8 as CONFIG_ADDRESS, and
 * hands byte accesses to 0xcf9 to this handler. Other bytes read 0xff. */
void pci__set_cf9_handler(struct machine *m, uint8_t (*read)(void *opaque),
                          void (*write)(void *opaque, uint8_t value), void *opaque);

/* Config space of every function, its named registers and BARs. */
void pci__dump(struct machine *m, FILE *f);

#endif
