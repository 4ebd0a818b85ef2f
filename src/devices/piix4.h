/*
 * The Intel 82371AB PIIX4 south bridge at 00:01: function 0 the PCI-to-ISA bridge (PIRQ
 * routing, the reset control register at 0xcf9), function 1 the IDE controller (registers
 * only so far), function 3 power management (the ACPI PM I/O block, PM timer, SCI).
 * piix4-isa.c creates all three; see the three files.
 */
#ifndef TACHYON_PIIX4_H
#define TACHYON_PIIX4_H

#include <stddef.h>
#include <stdint.h>

struct machine;

#define PIIX4_DEV 1
#define PIIX4_FN_ISA 0
#define PIIX4_FN_IDE 1
#define PIIX4_FN_PM 3

#define PIIX4_PM_BASE 0x600 /* where firmware puts the PM I/O block (PMBA) */
#define PIIX4_PM_LEN 64
#define PIIX4_SCI_IRQ 9    /* the SCI is wired to ISA IRQ 9 */
#define PIIX4_SLP_TYP_S5 0 /* SUS_TYP 000: soft off, the DSDT's \_S5 */

/* Machine table entry: after pci and i440bx. */
int piix4__create(struct machine *m, char *err, size_t errlen);
void piix4__destroy(struct machine *m);

/*
 * Program the PIIX4 as firmware would before an OS starts, for boots that run no BIOS
 * (acpi__build() calls it): PM I/O block at PIIX4_PM_BASE and enabled, SCI line 9, IDE
 * decode enabled on both channels, PIRQA-D routed to IRQ 10, 10, 11, 11 with ELCR set to
 * level for them, and the Interrupt Line of every PCI function with a pin filled in.
 */
void piix4__firmware_setup(struct machine *m);

/* The power button was pressed (PWRBTN_STS; an SCI if the guest enabled it). */
void piix4__power_button(struct machine *m);

/* ---- between the PIIX4's own files ---- */

struct piix4_ide;
struct piix4_pm;

/* Create and register function 1 / function 3 of device PIIX4_DEV; NULL on failure. */
struct piix4_ide *piix4_ide__create(struct machine *m);
void piix4_ide__destroy(struct piix4_ide *ide);
void piix4_ide__firmware_setup(struct piix4_ide *ide);
struct piix4_pm *piix4_pm__create(struct machine *m);
void piix4_pm__destroy(struct piix4_pm *pm);
void piix4_pm__firmware_setup(struct piix4_pm *pm);
void piix4_pm__power_button(struct piix4_pm *pm);

/* The SCI output of function 3, steered to ISA IRQ 9 by function 0 (which ORs it with any
 * PIRQ routed there: both are level-triggered). */
void piix4__set_sci(struct machine *m, int level);

#endif
