/*
 * The Intel 82443BX host bridge at 00:00.0: identity, DRAM row boundaries, the PAM registers
 * that steer the BIOS areas 0xC0000-0xFFFFF between ROM and shadow RAM, and SMRAM control.
 * See i440bx.c.
 */
#ifndef TACHYON_I440BX_H
#define TACHYON_I440BX_H

#include <stddef.h>
#include <stdint.h>

struct machine;

/*
 * 0x7190 is the 82443BX with its AGP port enabled. SeaBIOS unlocks shadow RAM (PAM) only on
 * a host bridge with device ID 0x1237 (the i440FX) or Q35's, so with 0x7190 it logs "Unable
 * to unlock ram - bridge not found", skips copying its code into shadow RAM, and does not
 * boot. See docs/internals-pci-acpi.md ("The device ID and SeaBIOS") before changing this.
 */
#define I440BX_DEVICE_ID 0x7190

/* What a PAM field allows for its segment: reads and/or writes go to DRAM; the rest go to
 * the PCI bus (the firmware ROM below 1 MiB). */
#define I440BX_PAM_RE 0x1
#define I440BX_PAM_WE 0x2

/* Machine table entry: after pci. */
int i440bx__create(struct machine *m, char *err, size_t errlen);
void i440bx__destroy(struct machine *m);

/* The PAM attributes (I440BX_PAM_RE | I440BX_PAM_WE) of the segment holding physical
 * address addr, or -1 if addr is outside 0xC0000-0xFFFFF or there is no host bridge. */
int i440bx__pam(struct machine *m, uint32_t addr);

/* Called after any change of a PAM register, and after reset, so the memory side can map
 * the BIOS areas again; NULL: nobody listens. One listener. */
void i440bx__set_pam_hook(struct machine *m, void (*pam_changed)(struct machine *m));

/* The SMRAM register (0x72) and ESMRAMC (0x73): state only, SMM is not emulated. */
uint8_t i440bx__smram(struct machine *m);
uint8_t i440bx__esmramc(struct machine *m);

#endif
